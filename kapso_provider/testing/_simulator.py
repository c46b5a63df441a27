"""A local, stateful stand-in for Kapso's APIs, served over real HTTP on loopback.

This module is the facade: the constructor, the lifecycle, and the Python API tests drive. Requests go
through ``_server`` (HTTP), ``_pipeline`` (latency, faults, rate limit, key, route) to the endpoint groups
of each API generation (``_v1``), which keep their records in one ``_store``.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from kapso_provider.testing._assembly import API_PREFIX, META_PREFIX, PLATFORM_PREFIX, assemble
from kapso_provider.testing._clock import Clock
from kapso_provider.testing._control import CONTROL_PREFIX, ControlSurface
from kapso_provider.testing._faults import Fault, FaultBook, FaultKind
from kapso_provider.testing._http import Outcome, error
from kapso_provider.testing._inbound_replies import ReplyScheduler
from kapso_provider.testing._loopback import is_loopback
from kapso_provider.testing._pipeline import Pipeline, RateLimiter
from kapso_provider.testing._recording import Headers, RecordedRequest
from kapso_provider.testing._server import DEFAULT_MAX_BODY_BYTES, Server
from kapso_provider.testing._simulator_records import RecordsApi
from kapso_provider.testing._simulator_settings import SettingsApi
from kapso_provider.testing._store import Store

if TYPE_CHECKING:
    from types import TracebackType


__all__ = ["API_PREFIX", "CONTROL_PREFIX", "META_PREFIX", "PLATFORM_PREFIX", "KapsoSimulator", "RecordedRequest"]


class KapsoSimulator(RecordsApi, SettingsApi):
    """A real HTTP server on loopback that behaves like Kapso's WhatsApp API v1.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`; :attr:`base_url` and
    :attr:`api_key` are what a ``kapso`` connection needs. ``docs/testing.md`` shows it in use, with code
    that runs in the test suite.

    Message lists (``GET .../whatsapp_messages``) are answered newest first; the files leave the order
    open, so a client must not depend on it. Conversation lists are ordered by ``last_active_at``,
    newest first.

    :param api_key: the key every API request must send in ``X-API-Key``.
    :param host: loopback address to bind; anything else is refused.
    :param port: TCP port, ``0`` for a free one.
    :param latency: seconds slept before every API answer.
    :param rate_limit: requests allowed per API key in each fixed window; ``None`` for no limit.
    :param rate_limit_window: length of the rate-limit window in seconds (Kapso's is one minute).
    :param seed: seed of the random source deciding probabilistic faults, for repeatable tests.
    :param delivery_delay: seconds after a send at which each new outbound message turns ``delivered`` by
        itself (``None``, the default: it stays ``sent``, as when WhatsApp never confirms).
    :param read_delay: with ``delivery_delay``, seconds after delivery at which it turns ``read``
        (``None``: never read, as with read receipts off).
    :param delivery_error_code: with ``delivery_delay``, new outbound messages turn ``failed`` instead, with
        this WhatsApp error code (e.g. 131047) in ``metadata.error_code``; also the code a ``failed`` step of
        ``status_sequence`` carries.
    :param delivery_error_message: the error text kept in ``metadata.error_message`` with such a failure.
    :param status_sequence: statuses each new outbound message shows on successive listings of its
        conversation's messages (``GET .../whatsapp_messages``), keeping the last one; e.g.
        ``["sent", "delivered", "read"]``. Unlike the delays, it does not depend on how fast a client polls,
        so tests can assert on it.
    :param max_body_bytes: the largest request body read (chunked or not); a larger one is answered 413.
    :param clock_offset: seconds Kapso's clock is ahead of the machine's (negative: behind), for every
        timestamp written and every ``Date`` header; settable later as ``clock_offset``.
    :param strict: answer with the fields Kapso's OpenAPI files document for the endpoint and status only
        (settable later as ``strict``); by default answers carry a few more, see ``docs/testing.md``.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        rate_limit: int | None = None,
        rate_limit_window: float = 60.0,
        seed: int | None = None,
        delivery_delay: float | None = None,
        read_delay: float | None = None,
        delivery_error_code: int | None = None,
        delivery_error_message: str | None = None,
        status_sequence: list[str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        clock_offset: float = 0.0,
        strict: bool = False,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        if not is_loopback(host):
            raise ValueError(f"the simulator only binds loopback addresses, not {host!r}")
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) or max_body_bytes < 1:
            raise ValueError("max_body_bytes must be a positive number of bytes")
        self._api_key = api_key
        self._host = host
        self._port = port
        self._max_body_bytes = max_body_bytes
        self._clock = Clock(clock_offset)
        self._store = Store(clock=self._clock)
        self._requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._faults = FaultBook(seed)
        self._limiter = RateLimiter(rate_limit, rate_limit_window)
        self._stopping = threading.Event()
        self._pipeline = Pipeline(api_key=api_key, faults=self._faults, limiter=self._limiter, wait=self.wait)
        self.latency = latency
        self.delivery_delay = delivery_delay
        self.read_delay = read_delay
        self.delivery_error_code = delivery_error_code
        self.delivery_error_message = delivery_error_message
        self.status_sequence = status_sequence
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        # Replies armed by tests (reply_to_question), fired from the request handlers that send and list.
        self._reply_scheduler = ReplyScheduler(self.deliver_inbound, self._store.list_messages)
        # Every endpoint group of every API generation, on the one store.
        parts = assemble(self._store, self._reply_scheduler, lambda: self.url)
        self._parts = parts
        self.assignments = parts.assignments
        self.platform = parts.platform
        self.template_admin = parts.template_admin
        self.contacts = parts.contacts
        self.agents = parts.agents
        self.broadcasts = parts.broadcasts
        self.webhooks = parts.webhooks
        self.agent_runs = parts.agent_runs
        self.media = parts.media
        self._policy = parts.policy
        self._health = parts.health
        self._apis = parts.apis
        self.strict = strict
        self._control = ControlSurface(self)

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> KapsoSimulator:
        """Bind the port and serve in a background thread; returns the simulator itself.

        :raises RuntimeError: if already running.
        """
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        server = Server((self._host, self._port), self)
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"kapso-simulator-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection. Safe to call more than once."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        # Wake handlers sleeping on latency or a slow fault, so none outlives the simulator.
        self._stopping.set()
        self._reply_scheduler.cancel_all()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> KapsoSimulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._server is not None

    @property
    def host(self) -> str:
        """The loopback address served."""
        return self._host

    @property
    def port(self) -> int:
        """The TCP port served (the real one once started with ``port=0``)."""
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` without the API prefix.

        :raises RuntimeError: before :meth:`start` when the port is chosen by the system.
        """
        if self._port == 0:
            raise RuntimeError("start() the simulator first: the port is not chosen yet")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def base_url(self) -> str:
        """The API base URL clients use, ``http://127.0.0.1:<port>/api/v1``."""
        return self.url + API_PREFIX

    @property
    def meta_url(self) -> str:
        """Base URL of the WhatsApp Cloud API proxy, ``http://127.0.0.1:<port>/meta/whatsapp/v24.0``."""
        return self.url + META_PREFIX

    @property
    def platform_url(self) -> str:
        """Base URL of the Platform API, ``http://127.0.0.1:<port>/platform/v1``."""
        return self.url + PLATFORM_PREFIX

    @property
    def control_url(self) -> str:
        """Base URL of the HTTP control endpoints (``.../__kapso_simulator__``)."""
        return self.url + CONTROL_PREFIX

    @property
    def api_key(self) -> str:
        """The API key the simulator accepts."""
        return self._api_key

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        """Every endpoint served, as ``(method, path template)`` with the API prefix, in matching order."""
        return [(route.method, api.prefix + route.template) for api in self._apis for route in api.routes]

    def add_fault(
        self,
        kind: FaultKind | str,
        *,
        method: str | None = None,
        path: str | None = None,
        count: int | None = 1,
        probability: float | None = None,
        status: int | None = None,
        delay: float | None = None,
        retry_after: int | None = None,
        location: str | None = None,
        api: str | None = None,
    ) -> None:
        """Make matching API requests misbehave; see :class:`FaultKind` for what each kind does.

        The first rule (in the order added) that matches and fires decides a request's fate. Faults are
        decided after ``latency`` and before rate limiting and authentication: the kinds that do not
        process the request (``rate_limit``, ``*_before_store``, ``html_error``, ``redirect``) answer whatever the key;
        the others process it normally (401, 422 and all) and then replace or delay the answer.

        :param kind: a :class:`FaultKind` or its string value.
        :param method: only this HTTP method.
        :param path: regular expression or substring searched in the path below the API's prefix.
        :param count: the next ``count`` matching requests are hit (``None``: all of them).
        :param probability: instead of ``count``, hit this fraction of matching requests.
        :param status: status of the faulty answer.
        :param delay: seconds to wait before the faulty answer (``slow_after_store``: default 10).
        :param retry_after: ``Retry-After`` of a ``rate_limit`` fault (default 1).
        :param location: ``Location`` of a ``redirect`` fault: an ``http(s)`` URL of a loopback host (another
            test server on 127.0.0.1) or a path on the simulator.
        :param api: only requests to this API: ``v1``, ``meta`` (the WhatsApp Cloud API proxy) or ``platform``.
        """
        fault = Fault(
            FaultKind(kind),
            method=method,
            path=path,
            count=count,
            probability=probability,
            status=status,
            delay=delay,
            retry_after=retry_after,
            location=location,
            api=api,
        )
        self._faults.add(fault)

    @property
    def faults(self) -> list[Fault]:
        """The fault rules still active (copies)."""
        return self._faults.rules()

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._faults.clear()

    def reset(self) -> None:
        """Forget conversations, messages, templates, requests, faults and rate-limit counters.

        The API key and the default WhatsApp config stay.
        """
        with self._store.lock:
            self._store.reset()
            self._parts.reset()
        with self._requests_lock:
            self._requests.clear()
        self._faults.clear()
        self._limiter.clear()
        self._reply_scheduler.cancel_all()

    # -- request handling (called from server threads) -------------------------------------------------

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, unless the simulator stops first (handlers call this).

        :param seconds: how long.
        """
        if seconds > 0:
            self._stopping.wait(seconds)

    def answer(self, method: str, target: str, headers: Headers, body: bytes) -> Outcome:
        """Answer one HTTP request (the server's threads call this).

        :param method: HTTP method.
        :param target: the request target (path and query).
        :param headers: request headers.
        :param body: the raw body.
        """
        split = urlsplit(target)
        path = split.path
        query = {name: values[-1] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            return Outcome(self._control.answer(method, path[len(CONTROL_PREFIX) :], query, headers, body))
        api = next((candidate for candidate in self._apis if candidate.serves(path)), None)
        request = RecordedRequest(
            method=method,
            path=(path[len(api.prefix) :] or "/") if api is not None else path,
            query=query,
            headers=headers,
            json=self._decoded(body),
            body=body,
            full_path=path,
            api=api.name if api is not None else "",
        )
        with self._requests_lock:
            self._requests.append(request)
        if api is None:
            return Outcome(error(404, f"No route matches {method} {path}"))
        return self._pipeline.handle(request, api)

    @staticmethod
    def _decoded(body: bytes) -> Any:
        try:
            return json.loads(body) if body.strip() else None
        except ValueError:
            return None
