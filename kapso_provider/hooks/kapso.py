"""The hooks that own the ``kapso`` connection: :class:`KapsoHook` (sync) and :class:`KapsoAsyncHook`.

Both are thin *drivers* of the same transport (:mod:`kapso_provider.transport`): every endpoint, retry,
pacing and reconciliation decision is written once there and in :mod:`kapso_provider.api`; a driver only
sends bytes (``requests`` or ``httpx``) and waits (``time.sleep`` or ``await``). Both expose the same
endpoint methods, listed once in :class:`~kapso_provider.hooks._table.KapsoEndpoints`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypedDict

from airflow.providers.common.compat.sdk import BaseHook

from kapso_provider.api.generations import Generation, generation_of
from kapso_provider.get_provider_info import CONN_FIELDS, CONNECTION_TYPE, UI_FIELD_BEHAVIOUR
from kapso_provider.hooks._endpoints import AsyncDriver, SyncDriver
from kapso_provider.hooks._shared import DEFAULT_COALESCE_SECONDS, SharedConnection, WaitBudget
from kapso_provider.hooks._shared import acquire as acquire_shared
from kapso_provider.hooks._shared import release as release_shared
from kapso_provider.hooks._table import KapsoEndpoints
from kapso_provider.pacing import RequestPacer
from kapso_provider.transport.clock import KapsoClock
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Exchange,
    FlowContext,
    Item,
    Operation,
    Pace,
    Pager,
    SendLedger,
    Sleep,
    numbered_pages,
)
from kapso_provider.transport.policy import RetryPolicy
from kapso_provider.transport.settings import (
    KapsoConnectionSettings,
    parse_connection,
    redact_url,
    refuse_credentials,
)
from kapso_provider.transport.wire import Answer, Failure, Request, transport_failure

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping
    from typing import Unpack

    import httpx
    import requests

    from kapso_provider.transport.flows import Effect

__all__ = [
    "BaseHookArguments",
    "KapsoAsyncHook",
    "KapsoConnectionSettings",
    "KapsoHook",
    "RetryPolicy",
    "parse_connection",
]


def _request_headers(api_key: str) -> dict[str, str]:
    from kapso_provider import __version__

    # Only X-API-Key carries a credential; nothing from the connection's extras becomes a header.
    return {
        "X-API-Key": api_key,
        "Accept": "application/json",
        "User-Agent": f"airflow-provider-kapso/{__version__}",
    }


def _not_found_hint(settings: KapsoConnectionSettings) -> str:
    if settings.generation != "v1" or settings.base_url.endswith("/api/v1"):
        return ""
    return f"The connection's base URL {settings.base_url} does not end in /api/v1, where Kapso's API v1 answers"


def _multipart(request: Request) -> dict[str, Any]:
    """``data`` and ``files`` of a multipart body, as both ``requests`` and ``httpx`` take them."""
    if request.multipart is None:
        return {}
    files = {part.name: (part.filename, part.content, part.content_type) for part in request.multipart.files}
    return {"data": dict(request.multipart.fields), "files": files}


def _settings_of(conn_id: str, conn: Any, extra: Mapping[str, Any]) -> KapsoConnectionSettings:
    return parse_connection(conn_id, host=conn.host, password=conn.password, extra=extra, port=conn.port)


class BaseHookArguments(TypedDict, total=False):
    """The arguments of Airflow's ``BaseHook`` (the same on 2.11, 3.1 and 3.3), which the hooks pass on.

    Typed keyword arguments rather than an explicit parameter: a hook still sees an API key given as an
    argument, and refuses it pointing at the connection's password instead of a bare ``TypeError``.
    """

    logger_name: str | None


class _KapsoHookBase(KapsoEndpoints, BaseHook):
    """What both hooks share: the connection form, the settings and the operation context."""

    conn_name_attr = "kapso_conn_id"
    default_conn_name = "kapso_default"
    conn_type = CONNECTION_TYPE

    def __init__(
        self,
        kapso_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        pacer: RequestPacer | None = None,
        ledger: SendLedger | None = None,
        **kwargs: Unpack[BaseHookArguments],
    ) -> None:
        refuse_credentials(type(self).__name__, kapso_conn_id, kwargs)
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self.pacer = pacer or RequestPacer(window=self.retry_policy.rate_limit_window)
        self.ledger = ledger or SendLedger()
        self.clock = KapsoClock()

    # -- connection form (Airflow < 3.2 reads these; >= 3.2 reads the provider info they come from) --

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabelled, hidden and placeholder fields of the connection form."""
        return {
            "hidden_fields": list(UI_FIELD_BEHAVIOUR["hidden-fields"]),
            "relabeling": dict(UI_FIELD_BEHAVIOUR["relabeling"]),
            "placeholders": dict(UI_FIELD_BEHAVIOUR["placeholders"]),
        }

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Extra fields of the connection form, built from the provider info's ``conn-fields``."""
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import StringField
        from wtforms.validators import Optional

        return {
            name: StringField(
                lazy_gettext(spec["label"]),
                widget=BS3TextFieldWidget(),
                description=spec["description"],
                validators=[Optional()],
            )
            for name, spec in CONN_FIELDS.items()
        }

    def _context(self, settings: KapsoConnectionSettings) -> FlowContext:
        return FlowContext(
            policy=self.retry_policy,
            log=self.log,
            clock=self.clock,
            ledger=self.ledger,
            not_found_hint=_not_found_hint(settings),
            phone_number_id=settings.phone_number_id,
            business_account_id=settings.business_account_id,
            definition=self._generation(settings).definition,
        )

    @staticmethod
    def _generation(settings: KapsoConnectionSettings) -> Generation:
        return generation_of(settings)

    def _build(
        self, settings: KapsoConnectionSettings, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return self._generation(settings).definition(name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kapso_conn_id={self.kapso_conn_id!r})"


# -- the sync driver: requests, one session per thread ---------------------------------------------------


def _requests_failure(exc: Exception) -> Failure:
    """What a ``requests`` exception says about whether the request reached Kapso."""
    import requests
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    if isinstance(exc, requests.exceptions.SSLError):
        return Failure.TLS
    if isinstance(exc, requests.exceptions.ProxyError):
        return Failure.PROXY
    if isinstance(exc, requests.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, requests.Timeout):
        return Failure.READ_TIMEOUT
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # NewConnectionError covers refused connections and, as NameResolutionError, unknown hosts.
    return Failure.CONNECT if isinstance(reason, NewConnectionError | ConnectTimeoutError) else Failure.LOST


class KapsoHook(SyncDriver, _KapsoHookBase):
    """Talks to Kapso with the API key of a ``kapso`` connection; blocking, safe to share between threads.

    The connection's password holds the API key, its host the API base URL (empty for
    ``https://app.kapso.ai/api/v1``), its extras ``timeout`` and ``proxy``. Creating the hook does no
    I/O; the connection is read on first use, and each thread gets one pooled HTTP session.

    Every method returns plain JSON-compatible values and raises a subclass of
    :class:`~kapso_provider.exceptions.KapsoAPIError` carrying the HTTP status and Kapso's error text.
    Requests that hit the rate limit wait for ``Retry-After`` and go again; requests that never reached
    Kapso go again after a backoff; reads that failed ambiguously go again. A send that failed ambiguously
    is never repeated blindly (:meth:`send_message`). Redirects are never followed.

    :param kapso_conn_id: the Airflow connection id.
    :param retry_policy: attempts, backoff and reconciliation budgets; defaults suit Kapso's limits.
    :param pacer: decides when each request may leave; share one between hooks that run concurrently on
        the same API key (see :class:`~kapso_provider.pacing.RequestPacer`). By default each hook paces
        itself to the end of Kapso's rate-limit windows.
    :param ledger: the message ids already accounted for by this task; share one between hooks of one task.
    :param kwargs: Airflow's ``BaseHook`` arguments (``logger_name``), typed in :class:`BaseHookArguments`.
    """

    hook_name = "Kapso"
    # Airflow 2.x's providers manager takes the form only from methods in the hook class's own __dict__.
    get_connection_form_widgets = _KapsoHookBase.__dict__["get_connection_form_widgets"]
    get_ui_field_behaviour = _KapsoHookBase.__dict__["get_ui_field_behaviour"]

    def __init__(
        self,
        kapso_conn_id: str = _KapsoHookBase.default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        pacer: RequestPacer | None = None,
        ledger: SendLedger | None = None,
        **kwargs: Unpack[BaseHookArguments],
    ) -> None:
        super().__init__(kapso_conn_id, retry_policy=retry_policy, pacer=pacer, ledger=ledger, **kwargs)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @cached_property
    def settings(self) -> KapsoConnectionSettings:
        """The parsed connection, read once per hook."""
        from airflow.providers.common.compat.sdk import AirflowNotFoundException

        from kapso_provider.hooks._lookup import missing_connection_text

        try:
            conn = self.get_connection(self.kapso_conn_id)
        except AirflowNotFoundException as exc:
            raise AirflowNotFoundException(missing_connection_text(self.kapso_conn_id, exc)) from None
        return _settings_of(self.kapso_conn_id, conn, conn.extra_dejson)

    @cached_property
    def _flow_context(self) -> FlowContext:
        return self._context(self.settings)

    @property
    def session(self) -> requests.Session:
        """This thread's pooled session, so consecutive calls reuse the TCP and TLS connection."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            import requests

            settings = self.settings
            session = requests.Session()
            session.headers.update(_request_headers(settings.api_key))
            # Proxies come from the connection alone, not from HTTPS_PROXY and friends, so a task behaves
            # the same on every worker.
            session.trust_env = False
            if settings.proxy:
                session.proxies = {"https": settings.proxy, "http": settings.proxy}
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every pooled session this hook opened."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    # -- the driver --

    def run(self, operation: Operation[Any]) -> Any:
        """Run an operation of :mod:`kapso_provider.transport.flows` to its result."""
        steps = operation.steps(self._flow_context)
        answer: Any = None
        while True:
            try:
                effect = steps.send(answer)
            except StopIteration as stop:
                return stop.value
            answer = self._perform(effect)

    def iterate(self, pager: Pager[Any]) -> Iterator[Any]:
        """The records of a listing, fetching pages as the caller iterates."""
        steps = pager.steps(self._flow_context)
        answer: Any = None
        try:
            while True:
                try:
                    step = steps.send(answer)
                except StopIteration:
                    return
                if isinstance(step, Item):
                    answer = None
                    yield step.value
                else:
                    answer = self._perform(step)
        finally:
            steps.close()

    def _run_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.run(self._build(self.settings, name, args, kwargs))

    def _iterate_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        return self.iterate(self._build(self.settings, name, args, kwargs))

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Exchange):
            return self._exchange(effect.request)
        if isinstance(effect, Pace):
            self._pace()
        elif isinstance(effect, Sleep):
            self._sleep(effect.seconds)
        return None

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _pace(self) -> None:
        wait = self.pacer.reserve()
        if wait > 0:
            self.log.debug("Pacing to Kapso's rate limit: waiting %.2f s", wait)
            self._sleep(wait)

    def _exchange(self, request: Request) -> Answer | Exception:
        import requests

        settings = self.settings
        sent_at = time.time()
        try:
            response = self.session.request(
                request.method,
                settings.base_url + request.path,
                params=request.query or None,
                json=request.json,
                timeout=settings.timeout,
                allow_redirects=False,
                **_multipart(request),
            )
        except requests.RequestException as exc:
            # The exception's own text may quote a proxy URL with its credentials: name the kind only.
            return transport_failure(
                _requests_failure(exc),
                request,
                timeout=settings.timeout,
                detail=type(exc).__name__,
                https_assumed=settings.https_assumed,
            )
        self.pacer.observe(response.headers)
        return Answer(
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            reason=response.reason or "",
            sent_at=sent_at,
            received_at=time.time(),
        )

    # -- raw access, for endpoints the provider does not define --

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_ambiguous: bool | None = None,
    ) -> Any:
        """Send a request to Kapso, riding out rate limits and transient failures, and decode its JSON.

        :param method: the HTTP method.
        :param path: the path below the API base URL, starting with ``/``.
        :param params: query parameters; ``None`` values are left out.
        :param json: the JSON body.
        :param retry_ambiguous: whether a failure after which Kapso may have acted (5xx, read timeout,
            dropped connection) is retried. Defaults to ``True`` for ``GET`` only: repeating a write could
            repeat its effect.
        :raises KapsoAPIError: a subclass matching the HTTP status once retries are spent or not allowed.
        """
        return self.run(Call(Request(method, path, dict(params or {}), json, retry_ambiguous), _raw))

    def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, per_page: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a ``page``/``per_page`` list endpoint, one page per request as the caller iterates.

        :param path: the list endpoint's path.
        :param params: filters passed on every page.
        :param per_page: records per request, 1 to 100.
        """
        return self.iterate(numbered_pages(path, params, per_page=per_page))

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with one read-only request; never sends."""
        from kapso_provider.exceptions import KapsoAPIError, KapsoConfigurationError

        try:
            self.check_connection()
        except (KapsoAPIError, KapsoConfigurationError) as exc:
            return False, str(exc)
        finally:
            self.close()
        return True, f"Connected to Kapso at {self.settings.base_url}."


def _raw(body: Any, request: Request) -> Any:
    return body


# -- the async driver: httpx, awaits --------------------------------------------------------------------


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _httpx_failure(exc: Exception, *, through_proxy: bool) -> Failure:
    """What an ``httpx`` exception says about whether the request reached Kapso."""
    import ssl

    import httpx

    if isinstance(exc, httpx.ProxyError):
        return Failure.PROXY
    if isinstance(exc, httpx.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, httpx.PoolTimeout):
        # No connection was free for the request, so not a byte of it left this machine.
        return Failure.POOL_TIMEOUT
    if isinstance(exc, httpx.TimeoutException):
        return Failure.READ_TIMEOUT
    if isinstance(exc, httpx.ConnectError):
        # httpx reports a failed TLS handshake as a ConnectError caused (through httpcore) by the ssl module's
        # error; with a proxy, the only host it connects to is the proxy.
        if _caused_by(exc, ssl.SSLError):
            return Failure.TLS
        return Failure.PROXY if through_proxy else Failure.CONNECT
    return Failure.LOST


class KapsoAsyncHook(AsyncDriver, _KapsoHookBase):
    """The asynchronous twin of :class:`KapsoHook`, for triggers and async callbacks (``httpx``).

    It reads the same ``kapso`` connection, exposes the same endpoint methods (as coroutines, and async
    iterators for listings), applies the same retry, pacing and exactly-once rules and raises the same
    errors; only waiting differs. Creating the hook does no I/O. On first use it joins the event loop's
    shared state for its connection id (:mod:`kapso_provider.hooks._shared`): one connection lookup, one
    ``httpx.AsyncClient``, one pacer and one clock for every async hook of the loop, so a triggerer holding a
    thousand waits keeps one of each. :meth:`aclose` leaves it; the last hook to leave closes the client.

    :param kapso_conn_id: the Airflow connection id.
    :param retry_policy: attempts, backoff and reconciliation budgets; defaults suit Kapso's limits.
    :param pacer: decides when each request may leave; by default the loop's pacer for the connection.
    :param ledger: the message ids already accounted for by this task; share one between hooks of one task.
    :param waiting: this hook serves a wait (a trigger, a deferred sensor): its reads share the connection's
        wait budget (the extra ``wait_share`` of the key's rate limit, 0.25 by default) and identical reads
        of all waiting hooks within ``coalesce_seconds`` are answered by one request.
    :param coalesce_seconds: how old an identical read's answer a waiting hook may take instead of asking.
    :param kwargs: Airflow's ``BaseHook`` arguments (``logger_name``), typed in :class:`BaseHookArguments`.
    """

    hook_name = "Kapso (async)"

    def __init__(
        self,
        kapso_conn_id: str = _KapsoHookBase.default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        pacer: RequestPacer | None = None,
        ledger: SendLedger | None = None,
        waiting: bool = False,
        coalesce_seconds: float = DEFAULT_COALESCE_SECONDS,
        **kwargs: Unpack[BaseHookArguments],
    ) -> None:
        super().__init__(kapso_conn_id, retry_policy=retry_policy, pacer=pacer, ledger=ledger, **kwargs)
        self.waiting = waiting
        self.coalesce_seconds = coalesce_seconds
        self._own_pacer = pacer is not None
        self._shared: SharedConnection | None = None
        self._flow_context: FlowContext | None = None

    def __repr__(self) -> str:
        proxy = redact_url(self._shared.settings.proxy) if self._shared else None
        return f"KapsoAsyncHook(kapso_conn_id={self.kapso_conn_id!r}, proxy={proxy!r})"

    async def _connection(self) -> SharedConnection:
        if self._shared is None:
            self._shared = await acquire_shared(self.kapso_conn_id, self._new_shared_connection)
            if not self._own_pacer:
                self.pacer = self._shared.pacer
            self.clock = self._shared.clock
        return self._shared

    async def _new_shared_connection(self) -> SharedConnection:
        import httpx

        from kapso_provider.hooks._lookup import aget_connection

        conn = await aget_connection(self, self.kapso_conn_id)
        aextra_dejson = getattr(conn, "aextra_dejson", None)
        # Airflow 3.3 masks extras when decoding them; its sync decoder must not run inside a loop.
        extra = await aextra_dejson() if aextra_dejson is not None else conn.extra_dejson
        settings = _settings_of(self.kapso_conn_id, conn, extra)
        # Proxies come from the connection alone, not from HTTPS_PROXY and friends (trust_env=False);
        # redirects are never followed (httpx's default, stated for the reader).
        client = httpx.AsyncClient(
            headers=_request_headers(settings.api_key),
            timeout=httpx.Timeout(settings.timeout),
            proxy=settings.proxy,
            trust_env=False,
            follow_redirects=False,
        )
        window = self.retry_policy.rate_limit_window
        return SharedConnection(
            settings=settings,
            client=client,
            pacer=RequestPacer(window=window),
            budget=WaitBudget(share=settings.wait_share, window=window),
        )

    async def get_settings(self) -> KapsoConnectionSettings:
        """The parsed connection, looked up once per event loop and connection id."""
        return (await self._connection()).settings

    async def get_client(self) -> httpx.AsyncClient:
        """The pooled client this hook's loop shares for the connection."""
        return (await self._connection()).client

    async def aclose(self) -> None:
        """Leave the loop's shared state; the last hook to leave closes the client."""
        shared, self._shared = self._shared, None
        self._flow_context = None
        if shared is not None:
            await release_shared(self.kapso_conn_id, shared)

    # -- the driver --

    async def _context_now(self) -> FlowContext:
        if self._flow_context is None:
            self._flow_context = self._context(await self.get_settings())
        return self._flow_context

    async def run(self, operation: Operation[Any]) -> Any:
        """Run an operation of :mod:`kapso_provider.transport.flows` to its result."""
        steps = operation.steps(await self._context_now())
        answer: Any = None
        while True:
            try:
                effect = steps.send(answer)
            except StopIteration as stop:
                return stop.value
            answer = await self._perform(effect)

    async def iterate(self, pager: Pager[Any]) -> AsyncIterator[Any]:
        """The records of a listing, fetching pages as the caller iterates."""
        steps = pager.steps(await self._context_now())
        answer: Any = None
        try:
            while True:
                try:
                    step = steps.send(answer)
                except StopIteration:
                    return
                if isinstance(step, Item):
                    answer = None
                    yield step.value
                else:
                    answer = await self._perform(step)
        finally:
            steps.close()

    async def _run_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return await self.run(self._build(await self.get_settings(), name, args, kwargs))

    async def _iterate_endpoint(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        async for record in self.iterate(self._build(await self.get_settings(), name, args, kwargs)):
            yield record

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Exchange):
            return await self._exchange(effect.request)
        if isinstance(effect, Pace) and not self.waiting:
            # A waiting hook paces when it really sends (see _exchange): a read answered from the shared
            # cache claims no slot.
            await self._pace()
        elif isinstance(effect, Sleep):
            await asyncio.sleep(effect.seconds)
        return None

    async def _pace(self) -> None:
        if self.pacer.steady:
            # A steady pacer holds every request but the first until Kapso's first answer, blocking the
            # calling thread: keep that off the event loop.
            wait = await asyncio.to_thread(self.pacer.reserve)
        else:
            wait = self.pacer.reserve()
        if wait > 0:
            self.log.debug("Pacing to Kapso's rate limit: waiting %.2f s", wait)
            await asyncio.sleep(wait)

    async def _exchange(self, request: Request) -> Answer | Exception:
        shared = await self._connection()
        if not (self.waiting and request.method == "GET"):
            return await self._send(request, shared)

        async def paced_send() -> Answer | Exception:
            await self._pace()
            return await self._send(request, shared)

        return await shared.coalesced(
            request, lambda: shared.within_budget(lambda: self.pacer.limit, paced_send), max_age=self.coalesce_seconds
        )

    async def _send(self, request: Request, shared: SharedConnection) -> Answer | Exception:
        import httpx

        settings, client = shared.settings, shared.client
        sent_at = time.time()
        try:
            response = await client.request(
                request.method,
                settings.base_url + request.path,
                params=request.query or None,
                json=request.json,
                **_multipart(request),
            )
        except httpx.TransportError as exc:
            # The exception's own text may quote a proxy URL with its credentials: name the kind only.
            return transport_failure(
                _httpx_failure(exc, through_proxy=settings.proxy is not None),
                request,
                timeout=settings.timeout,
                detail=type(exc).__name__,
                https_assumed=settings.https_assumed,
            )
        self.pacer.observe(response.headers)
        return Answer(
            status=response.status_code,
            headers=response.headers,
            body=response.content,
            reason=response.reason_phrase or "",
            sent_at=sent_at,
            received_at=time.time(),
        )

    # -- raw access, for endpoints the provider does not define --

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_ambiguous: bool | None = None,
    ) -> Any:
        """Send a request to Kapso and decode its JSON; the rules of :meth:`KapsoHook.request`, awaited."""
        return await self.run(Call(Request(method, path, dict(params or {}), json, retry_ambiguous), _raw))

    def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, per_page: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every record of a ``page``/``per_page`` list endpoint; see :meth:`KapsoHook.paginate`."""
        return self.iterate(numbered_pages(path, params, per_page=per_page))
