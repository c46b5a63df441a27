"""One request and one answer, and how an answer (or its absence) becomes JSON or a precise error.

Both hooks send a :class:`Request` and hand back an :class:`Answer` (or a :class:`KapsoServerError` built by
:func:`transport_failure` when none arrived); :func:`decode_answer` is the only place that reads statuses,
so the sync and async hooks cannot disagree on what an answer means.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kapso_provider.exceptions import (
    KapsoAPIError,
    KapsoRateLimitError,
    KapsoRedirectError,
    KapsoServerError,
    error_class_for_status,
)


@dataclass(frozen=True)
class Request:
    """One HTTP request to Kapso, below the connection's base URL.

    :param method: the HTTP method.
    :param path: the path below the base URL, starting with ``/``; every id in it is already quoted.
    :param params: query parameters; ``None`` values are left out when sent.
    :param json: the JSON body, if any.
    :param retry_ambiguous: whether a failure after which Kapso may have acted (5xx, read timeout, dropped
        connection) may be repeated. ``None`` means: for ``GET`` only, since repeating a write could repeat
        its effect.
    """

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    retry_ambiguous: bool | None = None

    @property
    def query(self) -> dict[str, Any]:
        """The query parameters that are sent: the ``None`` values left out."""
        return {key: value for key, value in self.params.items() if value is not None}

    @property
    def may_repeat(self) -> bool:
        """Whether an ambiguous failure of this request may be retried."""
        return self.method == "GET" if self.retry_ambiguous is None else self.retry_ambiguous


@dataclass(frozen=True)
class Answer:
    """Kapso's answer to a :class:`Request`, whatever library received it.

    :param status: the HTTP status code.
    :param headers: the answer's headers, looked up without regard to case.
    :param body: the raw body.
    :param reason: the status phrase, for errors without a body.
    :param sent_at: when the request left, on the driver's wall clock (seconds since the epoch).
    :param received_at: when the answer arrived, on the same clock.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    reason: str = ""
    sent_at: float = 0.0
    received_at: float = 0.0

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; :class:`ValueError` when it is not JSON."""
        return json.loads(self.body)


def error_text(answer: Answer) -> str:
    """Kapso's own words for a failure; for a body without them, its size and shape, never its content.

    A body Kapso did not shape as an error (a proxy's page, a truncated record) may hold phone numbers and
    message texts, and the error text reaches logs and task failures.
    """
    try:
        body = answer.json()
    except ValueError:
        body = _NOT_JSON
    if isinstance(body, Mapping):
        parts = [str(body[key]) for key in ("error", "message", "errors", "details") if body.get(key)]
        if parts:
            return " - ".join(dict.fromkeys(parts))
    if not answer.body.strip():
        return answer.reason or "no error text"
    status_line = f"{answer.status} {answer.reason}".strip()
    return f"{status_line}; {body_shape(body, answer)}"


_NOT_JSON = object()
_MAX_KEYS_NAMED = 10


def body_shape(body: Any, answer: Answer) -> str:
    """What a body is without what it says: its size, content type and JSON shape (the keys of an object)."""
    size = f"{len(answer.body)} bytes"
    if body is _NOT_JSON:
        return f"the answer is not JSON ({size}, content type {answer.headers.get('Content-Type') or 'not given'})"
    if isinstance(body, Mapping):
        keys = [str(key)[:40] for key in list(body)[:_MAX_KEYS_NAMED]]
        more = ", ..." if len(body) > _MAX_KEYS_NAMED else ""
        return f"the answer is a JSON object with keys {', '.join(keys) or 'none'}{more} ({size})"
    if isinstance(body, list):
        return f"the answer is a JSON list of {len(body)} items ({size})"
    return f"the answer is a JSON {type(body).__name__} ({size})"


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["Retry-After"])
    except (KeyError, ValueError, TypeError):
        return None


def _redirect_error(answer: Answer, request: Request) -> KapsoRedirectError:
    location = answer.headers.get("Location") or ""
    try:
        target = urlsplit(location)
        # The host and port only: a Location may carry a query or credentials, which no error repeats.
        where = f"{target.scheme}://{target.hostname}" + (f":{target.port}" if target.port else "")
    except ValueError:
        where = "an unparsable Location"
    if not location:
        where = "no Location"
    return KapsoRedirectError(
        status=answer.status,
        method=request.method,
        path=request.path,
        error_text=f"Kapso's API answers no redirect, yet this host redirected to {where}; not followed (the "
        "API key and the message never went there). Check the connection's host.",
    )


def decode_answer(answer: Answer, request: Request, *, not_found_hint: str = "") -> Any:
    """The answer's JSON (``None`` for 204), or the :class:`KapsoAPIError` its status calls for.

    :param not_found_hint: a sentence added to a 404's text, e.g. that the base URL lacks ``/api/v1``.

    :raises KapsoRedirectError: for any 3xx, which is never followed.
    :raises KapsoAPIError: a subclass matching any other error status, with Kapso's error text.
    :raises KapsoServerError: a success whose body is not JSON.
    """
    method, path = request.method, request.path
    if 300 <= answer.status < 400:
        raise _redirect_error(answer, request)
    if answer.status >= 400:
        error_class = error_class_for_status(answer.status)
        text = error_text(answer)
        if answer.status == 404 and not_found_hint:
            text = f"{text}. {not_found_hint}"
        if error_class is KapsoRateLimitError:
            raise KapsoRateLimitError(
                status=answer.status,
                method=method,
                path=path,
                error_text=text,
                retry_after=_retry_after_seconds(answer.headers),
            )
        raise error_class(status=answer.status, method=method, path=path, error_text=text)
    if answer.status == 204:
        return None  # No Content: Kapso's answer to deletes, which has no body by definition
    try:
        return answer.json()
    except ValueError:
        # Its size and shape only: a malformed answer may hold phone numbers and texts.
        raise KapsoServerError(
            status=answer.status, method=method, path=path, error_text=body_shape(_NOT_JSON, answer)
        ) from None


class Failure(enum.Enum):
    """Why no answer arrived, as each HTTP library tells it; decides whether Kapso may have acted."""

    #: Refused or host unknown: nothing left this machine.
    CONNECT = "connect"
    #: No connection within the timeout: nothing left this machine.
    CONNECT_TIMEOUT = "connect timeout"
    #: No pooled connection was free in time: nothing left this machine.
    POOL_TIMEOUT = "pool timeout"
    #: The TLS handshake failed (certificate, protocol): Kapso never saw the request.
    TLS = "tls"
    #: The proxy refused or could not be reached: the request never left for Kapso.
    PROXY = "proxy"
    #: The request left and no answer came in time: Kapso may have acted.
    READ_TIMEOUT = "read timeout"
    #: The connection broke after the request left: Kapso may have acted.
    LOST = "lost"

    @property
    def reached_kapso(self) -> bool:
        return self in (Failure.READ_TIMEOUT, Failure.LOST)


def transport_failure(
    failure: Failure, request: Request, *, timeout: float, detail: str, https_assumed: bool = False
) -> KapsoServerError:
    """The :class:`KapsoServerError` for a request that got no answer.

    :param failure: what happened, as the driver classified its library's exception.
    :param request: the request.
    :param timeout: the connection's timeout, named in timeout texts.
    :param detail: the library's exception class name; never its text, which may quote a proxy password.
    :param https_assumed: the connection's host had no scheme, so ``https://`` was assumed; a TLS or connect
        failure then says so, since a local simulator speaks plain ``http://``.
    """
    possible_send = "; a send may still have been delivered" if request.method != "GET" else ""
    if failure is Failure.TLS:
        text = (
            f"request failed: {detail} (the TLS handshake failed: the server's certificate is not trusted, or it "
            "does not speak https; the request never reached Kapso)"
        )
    elif failure is Failure.PROXY:
        text = (
            f"request failed: {detail} (the proxy of the connection's 'proxy' extra failed or is unreachable; "
            "the request never reached Kapso)"
        )
    elif failure is Failure.CONNECT_TIMEOUT:
        text = f"could not connect within {timeout:g} s"
    elif failure is Failure.POOL_TIMEOUT:
        text = f"no free connection within {timeout:g} s"
    elif failure is Failure.READ_TIMEOUT:
        text = f"no answer within {timeout:g} s ({detail}){possible_send}"
    elif failure is Failure.CONNECT:
        text = f"request failed: {detail} (could not connect)"
    else:
        text = f"request failed: {detail} (connection lost{possible_send})"
    if https_assumed and failure in (Failure.TLS, Failure.CONNECT):
        text += (
            "; the connection's host has no scheme, so https:// was assumed: give http://127.0.0.1:PORT/api/v1 "
            "for a local simulator"
        )
    return KapsoServerError(
        status=None,
        method=request.method,
        path=request.path,
        error_text=text,
        may_have_been_processed=failure.reached_kapso,
    )


def is_api_error(value: object) -> bool:
    """Whether a driver handed back a failure instead of an :class:`Answer`."""
    return isinstance(value, KapsoAPIError)
