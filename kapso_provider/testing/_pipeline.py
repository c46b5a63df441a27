"""What happens to one API request, in order: latency, a fault, the rate limit, the key, the route.

Every API the simulator serves goes through the same pipeline, so faults, rate limits and errors behave
alike on each generation.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, RuleError, ValidationError
from kapso_provider.testing._faults import DEFAULT_SLOW_DELAY, FaultBook, FaultKind
from kapso_provider.testing._http import ApiError, Outcome, Response
from kapso_provider.testing._recording import API_KEY_HEADER
from kapso_provider.testing._strict import documented_only

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.testing._faults import Fault
    from kapso_provider.testing._recording import RecordedRequest
    from kapso_provider.testing._routing import Router
    from kapso_provider.testing._styles import ErrorStyle

__all__ = ["Pipeline", "RateLimiter"]

_HTML_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class RateLimiter:
    """Requests per API key in fixed windows, as Kapso counts them.

    :param limit: requests allowed per key in each window; ``None`` for no limit.
    :param window: length of a window in seconds.
    """

    def __init__(self, limit: int | None, window: float) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}
        self.limit = limit
        self.window = window

    @property
    def limit(self) -> int | None:
        """Requests allowed per key in each window; ``None`` for no limit."""
        return self._limit

    @limit.setter
    def limit(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError("rate_limit must be >= 1 or None")
        self._limit = value

    @property
    def window(self) -> float:
        """Length of a window in seconds."""
        return self._window

    @window.setter
    def window(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise ValueError("rate_limit_window must be > 0")
        self._window = float(value)

    def count(self, key: str) -> tuple[dict[str, str], int | None]:
        """Count one request of ``key``; returns the headers and, when over the limit, ``Retry-After``.

        :param key: the API key sent (or ``""``).
        """
        limit = self._limit
        if limit is None:
            return {}, None
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= self._window:
                start, used = now, 0
            used += 1
            self._windows[key] = (start, used)
        headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - used))}
        if used <= limit:
            return headers, None
        return headers, max(1, math.ceil(start + self._window - now))

    def clear(self) -> None:
        """Forget every window."""
        with self._lock:
            self._windows.clear()


class Pipeline:
    """The request pipeline shared by every API.

    :param api_key: the key every API request must send in ``X-API-Key``.
    :param faults: the fault rules.
    :param limiter: the rate limiter.
    :param wait: sleeps, unless the simulator stops first.
    """

    def __init__(self, *, api_key: str, faults: FaultBook, limiter: RateLimiter, wait: Callable[[float], None]) -> None:
        self._api_key = api_key
        self._faults = faults
        self._limiter = limiter
        self._wait = wait
        self.latency = 0.0
        #: Whether answers keep only the fields Kapso's files document (see ``_strict.py``).
        self.strict = False

    def handle(self, request: RecordedRequest, router: Router) -> Outcome:
        """Answer one API request, faults included (server threads call this).

        :param request: the request, its ``path`` below the API prefix.
        :param router: the API's routes.
        """
        self._wait(self.latency)
        fault = self._faults.take(request.method, request.path, router.name)
        if fault is not None and not fault.kind.processes_request:
            return self._fault_outcome(fault, None, router.style)
        response = self._process(request, router)
        if fault is not None:
            return self._fault_outcome(fault, response, router.style)
        return Outcome(response)

    def _process(self, request: RecordedRequest, router: Router) -> Response:
        key = request.headers.get(API_KEY_HEADER) or ""
        rate_headers, retry_after = self._limiter.count(key)
        if retry_after is not None:
            return router.style.rate_limited(retry_after, rate_headers)
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            response = router.style.unauthorized()
        else:
            response = self._route(request, router)
        response.headers.update(rate_headers)
        return response

    def _route(self, request: RecordedRequest, router: Router) -> Response:
        path = request.path
        if len(path) > 1:
            path = path.rstrip("/")
        style = router.style
        found = router.find(request.method, path)
        if found is None:
            # Kapso (Rails) answers an unknown method on a known path with 404 too.
            return style.error(404, f"No route matches {request.method} {request.full_path}", code=803)
        endpoint, parameters = found
        body: Any = request
        if not endpoint.raw_body:
            body = None
            if request.body.strip():
                try:
                    body = json.loads(request.body)
                except ValueError:
                    return style.error(400, "body: is not valid JSON", code=100)
        try:
            response = endpoint.handler(parameters, request.query, body)
        except ValidationError as exc:
            return style.validation(exc)
        except NotFoundError as exc:
            return style.error(404, f"{exc.resource} not found", code=100)
        except RuleError as exc:
            return style.error(exc.status, exc.text, title=exc.title, code=exc.code)
        except ApiError as exc:
            return exc.response
        except Exception as exc:
            # A simulator bug must show up as a readable 500, not as a dropped connection that a
            # client under test would take for a network fault.
            return style.error(500, f"Kapso simulator internal error: {type(exc).__name__}: {exc}", code=1)
        if self.strict:
            return documented_only(
                router.prefix, endpoint.method, endpoint.template, response, documented_as=endpoint.documented_as
            )
        return response

    def _fault_outcome(self, fault: Fault, processed: Response | None, style: ErrorStyle) -> Outcome:
        kind = fault.kind
        delay = fault.delay or 0.0
        kept = {name: value for name, value in (processed.headers if processed else {}).items() if "RateLimit" in name}
        if kind is FaultKind.RATE_LIMIT:
            headers = {"X-RateLimit-Remaining": "0"}
            if self._limiter.limit is not None:
                headers["X-RateLimit-Limit"] = str(self._limiter.limit)
            response = style.rate_limited(fault.retry_after if fault.retry_after is not None else 1, headers)
            response.status = fault.status or 429
            return Outcome(response, delay)
        if kind in (FaultKind.SERVER_ERROR_BEFORE_STORE, FaultKind.SERVER_ERROR_AFTER_STORE):
            response = style.error(fault.status or 500, "Failed to send message: WhatsApp service error", code=2)
            response.headers.update(kept)
            return Outcome(response, delay)
        if kind in (FaultKind.DROP_BEFORE_STORE, FaultKind.DROP_AFTER_STORE):
            return Outcome(None, delay)
        if kind is FaultKind.SLOW_AFTER_STORE:
            return Outcome(processed, fault.delay if fault.delay is not None else DEFAULT_SLOW_DELAY)
        if kind is FaultKind.MALFORMED_JSON:
            assert processed is not None
            # A strict prefix of a JSON object lacks its closing brace, so it never parses.
            truncated = processed.body[: max(1, len(processed.body) // 2)]
            return Outcome(Response(fault.status or processed.status, truncated, headers=processed.headers), delay)
        if kind is FaultKind.IN_FLIGHT:
            response = style.in_flight()
            response.status = fault.status or 409
            return Outcome(response, delay)
        if kind is FaultKind.REDIRECT:
            status = fault.status or 307
            page = f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1></body></html>\r\n".encode()
            assert fault.location is not None
            return Outcome(Response(status, page, "text/html; charset=utf-8", {"Location": fault.location}), delay)
        response = Response(fault.status or 502, _HTML_BAD_GATEWAY, "text/html; charset=utf-8")
        return Outcome(response, delay)
