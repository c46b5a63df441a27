"""The hook that owns the ``kapso`` connection and every HTTP call to Kapso's API v1."""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow.providers.common.compat.sdk import BaseHook

from kapso_provider.arguments import parse_time as _parse_time
from kapso_provider.exceptions import (
    KapsoAPIError,
    KapsoConfigurationError,
    KapsoNotFoundError,
    KapsoRateLimitError,
    KapsoServerError,
    error_class_for_status,
)
from kapso_provider.get_provider_info import (
    CONN_FIELDS,
    CONNECTION_TYPE,
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT_SECONDS,
    UI_FIELD_BEHAVIOUR,
)
from kapso_provider.hooks._api import (
    AgentsAPI,
    BroadcastsAPI,
    ContactsAPI,
    ConversationsAPI,
    PlatformAPI,
    TemplatesAPI,
)
from kapso_provider.hooks._api._base import MAX_PAGE_SIZE
from kapso_provider.hooks._api._base import path_segment as _segment
from kapso_provider.pacing import RequestPacer

if TYPE_CHECKING:
    import httpx
    import requests

    from kapso_provider.models import KapsoMessage

# Kapso's error texts are short; an HTML page from a proxy is not, and only its start helps a reader.
_MAX_ERROR_TEXT = 500
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Names a caller might use to smuggle a key past the connection. The key belongs in the connection's
# password only, where Airflow's secrets backends and log masking look after it.
_REFUSED_CREDENTIAL_ARGUMENTS = frozenset({"api_key", "token", "password", "x_api_key", "key"})


@dataclass(frozen=True)
class KapsoConnectionSettings:
    """What the hook needs from a ``kapso`` connection, parsed and checked.

    :param base_url: the API v1 base URL without a trailing slash.
    :param api_key: the project API key; excluded from ``repr`` so it cannot reach a log by accident.
    :param timeout: seconds to wait for Kapso to answer one request.
    :param proxy: an optional proxy URL for requests to Kapso.
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    proxy: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """How :class:`KapsoHook` rides out rate limits and failures without sending a message twice.

    :param max_attempts: attempts per request (and per send, reconciliation included), at least 1.
    :param backoff_initial: seconds before the second attempt; doubled each time, with jitter.
    :param backoff_max: the longest pause between two attempts.
    :param max_retry_after: the longest ``Retry-After`` the hook waits out; a longer one fails at once with
        :class:`~kapso_provider.exceptions.KapsoRateLimitError`.
    :param rate_limit_window: seconds of Kapso's fixed rate-limit window (one minute, per Kapso's docs);
        once a tenth or less of a window's requests remain, the hook spreads them and then waits for the
        next window instead of meeting a 429.
    :param reconcile_max_messages: messages per conversation read back when looking for a send whose
        answer was lost.
    :param clock_skew: seconds by which Kapso's ``created_at`` may trail this machine's clock.
    """

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 20.0
    max_retry_after: float = 90.0
    rate_limit_window: float = 60.0
    reconcile_max_messages: int = 300
    clock_skew: float = 120.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise KapsoConfigurationError(f"max_attempts: {self.max_attempts} is below the minimum 1")
        for name in ("backoff_initial", "backoff_max", "max_retry_after", "rate_limit_window", "clock_skew"):
            if getattr(self, name) < 0:
                raise KapsoConfigurationError(f"{name}: {getattr(self, name)} is negative")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): half fixed, half random."""
        ceiling = min(self.backoff_max, self.backoff_initial * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    # Airflow 2 forms stored custom fields as ``extra__<conn_type>__<name>``; newer ones use the bare name.
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONNECTION_TYPE}__{name}")
    return None if value == "" else value


def parse_connection(
    conn_id: str, *, host: str | None, password: str | None, extra: Mapping[str, Any], port: int | None = None
) -> KapsoConnectionSettings:
    """Turn a connection's fields into :class:`KapsoConnectionSettings`, with no I/O.

    :param conn_id: the connection id, named in every error.
    :param host: the API base URL; empty means Kapso's production URL. A bare host name gets ``https://``
        and, without a path, ``/api/v1``.
    :param password: the API key (required).
    :param extra: the connection's extras: ``timeout`` (seconds) and ``proxy``.
    :param port: the connection's port, used only with a bare host name.
    :raises KapsoConfigurationError: when the key is missing, the URL is not usable, plain ``http://``
        points at anything but loopback, or an extra has a wrong type or an unknown name.
    """
    if not password:
        raise KapsoConfigurationError(
            f"Connection {conn_id!r} has no API key: put the Kapso API key in the connection's password."
        )

    raw_host = (host or "").strip()
    if not raw_host:
        base_url = DEFAULT_BASE_URL
    elif "://" in raw_host:
        base_url = raw_host
    else:
        netloc, _, path = raw_host.partition("/")
        if port:
            netloc = f"{netloc}:{port}"
        base_url = f"https://{netloc}/{path or 'api/v1'}"
    base_url = base_url.rstrip("/")

    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: host must be an http(s) URL such as {DEFAULT_BASE_URL}, "
            f"got scheme {parts.scheme!r}."
        )
    if parts.username or parts.password:
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: the host URL must not carry credentials; the API key goes in the password."
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: plain http:// is allowed only to loopback hosts (127.0.0.1, ::1, "
            f"localhost), got {parts.hostname!r}; use https://."
        )

    unknown = sorted(name for name in extra if name.removeprefix(f"extra__{CONNECTION_TYPE}__") not in CONN_FIELDS)
    if unknown:
        # An unknown extra is refused instead of ignored: HttpHook-style connections turn extras into
        # headers, and a user moving such a connection here must learn that this hook never does.
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: unknown extra field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(CONN_FIELDS))}."
        )

    timeout = DEFAULT_TIMEOUT_SECONDS
    raw_timeout = _extra_value(extra, "timeout")
    if raw_timeout is not None:
        try:
            timeout = float(raw_timeout)
        except (TypeError, ValueError):
            timeout = math.nan
        if not (timeout > 0 and math.isfinite(timeout)):
            raise KapsoConfigurationError(
                f"Connection {conn_id!r}: extra 'timeout' must be a positive number of seconds, got {raw_timeout!r}."
            )

    proxy = _extra_value(extra, "proxy")
    if proxy is not None and not (isinstance(proxy, str) and urlsplit(proxy).scheme in ("http", "https")):
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: extra 'proxy' must be an http(s) URL such as "
            f"{UI_FIELD_BEHAVIOUR['placeholders']['proxy']}."
        )

    return KapsoConnectionSettings(base_url=base_url, api_key=password, timeout=timeout, proxy=proxy)


class _HTTPResponse(Protocol):
    """What the shared decision logic reads from an answer: a ``requests`` or an ``httpx`` response."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def _error_text(response: _HTTPResponse) -> str:
    """Kapso's own words for a failure, whatever shape the body has."""
    try:
        body = response.json()
    except ValueError:  # requests' and httpx's JSON errors both derive from ValueError
        body = None
    if isinstance(body, Mapping):
        parts = [str(body[key]) for key in ("error", "message", "errors", "details") if body.get(key)]
        if parts:
            return " - ".join(dict.fromkeys(parts))
    text = " ".join(response.text.split())
    if not text:
        # requests calls the status phrase ``reason``, httpx ``reason_phrase``.
        reason = getattr(response, "reason", None) or getattr(response, "reason_phrase", None)
        return str(reason) if reason else "no error text"
    return text[:_MAX_ERROR_TEXT] + ("..." if len(text) > _MAX_ERROR_TEXT else "")


def _is_same_send(record: Mapping[str, Any], expected: Mapping[str, Any], threshold: datetime) -> bool:
    """Whether a listed message is the outbound one described by ``expected``, created after ``threshold``."""
    created_at = _parse_time(record.get("created_at"))
    return (
        record.get("direction") == "outbound"
        and record.get("message_type") == expected["message_type"]
        and record.get("content") == expected["content"]
        and created_at is not None
        and created_at >= threshold
    )


def _never_reached_server(exc: Exception) -> bool:
    """Whether a ``requests`` failure happened before any byte of the request reached the server."""
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    # NewConnectionError covers refused connections and, as NameResolutionError, unknown hosts.
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def _retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def _decode_answer(response: _HTTPResponse, method: str, path: str) -> Any:
    """An answer's JSON, or the :class:`KapsoAPIError` its status calls for; shared by both hooks."""
    if response.status_code >= 400:
        error_class = error_class_for_status(response.status_code)
        error_text = _error_text(response)
        if error_class is KapsoRateLimitError:
            raise KapsoRateLimitError(
                status=response.status_code,
                method=method,
                path=path,
                error_text=error_text,
                retry_after=_retry_after_seconds(response.headers),
            )
        raise error_class(status=response.status_code, method=method, path=path, error_text=error_text)
    if response.status_code == 204:
        return None  # No Content: Kapso's answer to deletes, which has no body by definition
    try:
        return response.json()
    except ValueError:
        raise KapsoServerError(
            status=response.status_code,
            method=method,
            path=path,
            error_text=f"answer is not JSON: {_error_text(response)}",
        ) from None


def _retry_wait(exc: KapsoAPIError, *, attempt: int, policy: RetryPolicy, retry_ambiguous: bool) -> float | None:
    """Seconds to wait before trying a request again after ``exc``, or ``None`` when ``exc`` must be raised.

    :param exc: what attempt ``attempt`` (1-based) ended with.
    :param attempt: the attempt that failed.
    :param policy: the hook's retry policy.
    :param retry_ambiguous: whether a failure after which Kapso may have acted may be repeated.
    """
    if attempt >= policy.max_attempts:
        return None
    if isinstance(exc, KapsoRateLimitError):
        wait = exc.retry_after if exc.retry_after is not None else policy.backoff(attempt)
        return None if wait > policy.max_retry_after else wait
    if isinstance(exc, KapsoServerError):
        return None if exc.may_have_been_processed and not retry_ambiguous else policy.backoff(attempt)
    return None


class _WarningLog(Protocol):
    """The part of a hook's logger the shared retry logic uses (stdlib on Airflow 2, the SDK's on 3)."""

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


def _log_retry(
    log: _WarningLog, exc: KapsoAPIError, *, method: str, path: str, wait: float, attempt: int, policy: RetryPolicy
) -> None:
    if isinstance(exc, KapsoRateLimitError):
        log.warning(
            "Kapso rate limit reached on %s %s; waiting %.1f s (attempt %d of %d)",
            method,
            path,
            wait,
            attempt,
            policy.max_attempts,
        )
    else:
        log.warning("%s; retrying in %.1f s (attempt %d of %d)", exc, wait, attempt, policy.max_attempts)


def _must_reconcile(exc: KapsoServerError, *, attempt: int, policy: RetryPolicy) -> bool:
    """Whether a failed send is looked for in the conversation (and then maybe repeated) rather than raised."""
    return exc.may_have_been_processed and attempt < policy.max_attempts


def _refuse_credentials(hook_name: str, kapso_conn_id: str, kwargs: Mapping[str, Any]) -> None:
    refused = sorted(_REFUSED_CREDENTIAL_ARGUMENTS.intersection(kwargs))
    if refused:
        raise KapsoConfigurationError(
            f"{hook_name} does not take {', '.join(refused)}: store the API key in the password of "
            f"connection {kapso_conn_id!r}."
        )


def _request_headers(api_key: str) -> dict[str, str]:
    from kapso_provider import __version__

    # Only X-API-Key carries a credential; nothing from the connection's extras becomes a header.
    return {
        "X-API-Key": api_key,
        "Accept": "application/json",
        "User-Agent": f"airflow-provider-kapso/{__version__}",
    }


@dataclass(frozen=True)
class _SendPlan:
    """One checked send: the parsed message and the request that sends it."""

    message: KapsoMessage
    path: str
    query: dict[str, Any]
    body: dict[str, Any]


def _plan_send(
    message: KapsoMessage | Mapping[str, Any],
    *,
    conversation_id: str | None,
    phone_number: str | None,
    whatsapp_config_id: str | None,
    customer_id: str | None,
) -> _SendPlan:
    """Check a send's message and recipient (no I/O) and build its request; shared by both hooks."""
    from kapso_provider.models import parse_message
    from kapso_provider.recipients import check_recipient

    check_recipient(
        conversation_id=conversation_id,
        phone_number=phone_number,
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
    )
    parsed = parse_message(message)
    if conversation_id is not None:
        return _SendPlan(
            message=parsed,
            path=f"/whatsapp_conversations/{_segment(conversation_id)}/whatsapp_messages",
            query={},
            body=parsed.to_body(),
        )
    return _SendPlan(
        message=parsed,
        path="/whatsapp_messages",
        query={"whatsapp_config_id": whatsapp_config_id, "customer_id": customer_id},
        body=parsed.to_body(phone_number=phone_number),
    )


def _reconcile_target(
    message: KapsoMessage | Mapping[str, Any], *, since: datetime, policy: RetryPolicy
) -> tuple[dict[str, Any], datetime]:
    """The message object a lost send would have been stored with, and the earliest time it could carry."""
    from kapso_provider.models import parse_message

    return parse_message(message).to_message_object(), since - timedelta(seconds=policy.clock_skew)


def _data_of(body: Any, method: str, path: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise KapsoServerError(status=None, method=method, path=path, error_text="answer has no 'data' object")
    data: dict[str, Any] = body["data"]
    return data


def _page_records(body: Any, path: str) -> list[dict[str, Any]]:
    records = body.get("data") if isinstance(body, dict) else None
    if not isinstance(records, list):
        raise KapsoServerError(status=None, method="GET", path=path, error_text="answer has no 'data' list")
    return records


def _is_last_page(body: dict[str, Any], records: list[dict[str, Any]], *, page: int, per_page: int) -> bool:
    total_pages = (body.get("meta") or {}).get("total_pages")
    # Without meta, a short page is the last one.
    last_page = page >= total_pages if total_pages is not None else len(records) < per_page
    return bool(last_page or not records)


def _check_page_size(per_page: int) -> None:
    if not 1 <= per_page <= MAX_PAGE_SIZE:
        raise ValueError(f"per_page: {per_page} is outside 1..{MAX_PAGE_SIZE}")


def _messages_path(conversation_id: str) -> str:
    return f"/whatsapp_conversations/{_segment(conversation_id)}/whatsapp_messages"


def _conversation_filters(
    *,
    phone_number: str | None,
    status: str | None,
    whatsapp_config_id: str | None,
    customer_id: str | None,
    last_active_after: str | None,
    last_active_before: str | None,
) -> dict[str, Any]:
    return {
        "q[phone_number_eq]": phone_number,
        "q[status_eq]": status,
        "q[whatsapp_config_id_eq]": whatsapp_config_id,
        "q[whatsapp_config_customer_id_eq]": customer_id,
        "q[last_active_at_gteq]": last_active_after,
        "q[last_active_at_lteq]": last_active_before,
    }


def _is_message(record: Mapping[str, Any], message_id: str) -> bool:
    """Whether a listed record is the message ``message_id`` (Kapso's id or WhatsApp's ``wamid``)."""
    return message_id in (record.get("id"), record.get("whatsapp_message_id"))


def _message_not_found(conversation_id: str, message_id: str) -> KapsoNotFoundError:
    return KapsoNotFoundError(
        status=None,
        method="GET",
        path=_messages_path(conversation_id),
        error_text=f"message {message_id!r} is not in conversation {conversation_id!r}",
    )


class KapsoHook(ConversationsAPI, PlatformAPI, TemplatesAPI, ContactsAPI, AgentsAPI, BroadcastsAPI, BaseHook):
    """Talks to Kapso's API v1 with the API key of a ``kapso`` connection.

    The connection's password holds the API key, its host the API base URL (empty for
    ``https://app.kapso.ai/api/v1``), its extras ``timeout`` and ``proxy``. Creating the hook does no
    I/O; the connection is read and one pooled HTTP session built on first use.

    Every method returns plain JSON-compatible values and raises a subclass of
    :class:`~kapso_provider.exceptions.KapsoAPIError` carrying the HTTP status and Kapso's error text.

    Requests that hit the rate limit wait for ``Retry-After`` and go again; requests that never reached
    Kapso go again after a backoff; reads that failed ambiguously (5xx, timeout, reset) go again. A send
    that failed ambiguously is never repeated blindly: the hook first reads the conversation back and
    returns the message it finds there (see :meth:`send_message`).

    :param kapso_conn_id: the Airflow connection id.
    :param retry_policy: attempts, backoff and reconciliation budgets; defaults suit Kapso's limits.
    :param pacer: decides when each request may leave; share one between hooks that run concurrently on
        the same API key (see :class:`~kapso_provider.pacing.RequestPacer`). By default each hook paces
        itself to the end of Kapso's rate-limit windows.
    """

    conn_name_attr = "kapso_conn_id"
    default_conn_name = "kapso_default"
    conn_type = CONNECTION_TYPE
    hook_name = "Kapso"

    def __init__(
        self,
        kapso_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        pacer: RequestPacer | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse_credentials("KapsoHook", kapso_conn_id, kwargs)
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self.pacer = pacer or RequestPacer(window=self.retry_policy.rate_limit_window)

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

        widgets: dict[str, Any] = {}
        for name, spec in CONN_FIELDS.items():
            widgets[name] = StringField(
                lazy_gettext(spec["label"]),
                widget=BS3TextFieldWidget(),
                description=spec["description"],
                validators=[Optional()],
            )
        return widgets

    # -- connection and session --

    @cached_property
    def settings(self) -> KapsoConnectionSettings:
        """The parsed connection, read once per hook."""
        conn = self.get_connection(self.kapso_conn_id)
        return parse_connection(
            self.kapso_conn_id,
            host=conn.host,
            password=conn.password,
            extra=conn.extra_dejson,
            port=conn.port,
        )

    @cached_property
    def session(self) -> requests.Session:
        """One pooled session per hook, so consecutive calls reuse the TCP and TLS connection."""
        import requests

        session = requests.Session()
        session.headers.update(_request_headers(self.settings.api_key))
        # Proxies come from the connection alone, not from HTTPS_PROXY and friends, so a task behaves
        # the same on every worker.
        session.trust_env = False
        if self.settings.proxy:
            session.proxies = {"https": self.settings.proxy, "http": self.settings.proxy}
        return session

    def close(self) -> None:
        """Close the pooled session, if one was opened."""
        session = self.__dict__.pop("session", None)
        if session is not None:
            session.close()

    # -- the one place where requests are made --

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
        policy = self.retry_policy
        if retry_ambiguous is None:
            retry_ambiguous = method == "GET"
        query = {key: value for key, value in (params or {}).items() if value is not None}
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(method, path, query, json)
            except (KapsoRateLimitError, KapsoServerError) as exc:
                wait = _retry_wait(exc, attempt=attempt, policy=policy, retry_ambiguous=retry_ambiguous)
                if wait is None:
                    raise
                _log_retry(self.log, exc, method=method, path=path, wait=wait, attempt=attempt, policy=policy)
            self._sleep(wait)

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def _pace(self) -> None:
        wait = self.pacer.reserve()
        if wait > 0:
            self.log.debug("Pacing to Kapso's rate limit: waiting %.2f s", wait)
            self._sleep(wait)

    def _attempt(self, method: str, path: str, query: Mapping[str, Any], json: Mapping[str, Any] | None) -> Any:
        """One HTTP exchange; every failure becomes a :class:`KapsoAPIError` subclass."""
        import requests

        self._pace()
        self.log.debug("Kapso API %s %s", method, path)
        try:
            response = self.session.request(
                method, self.settings.base_url + path, params=query or None, json=json, timeout=self.settings.timeout
            )
        except requests.ConnectTimeout:
            raise KapsoServerError(
                status=None,
                method=method,
                path=path,
                error_text=f"could not connect within {self.settings.timeout:g} s",
                may_have_been_processed=False,
            ) from None
        except requests.Timeout as exc:
            raise KapsoServerError(
                status=None,
                method=method,
                path=path,
                error_text=f"no answer within {self.settings.timeout:g} s ({type(exc).__name__}); "
                "a send may still have been delivered",
            ) from None
        except requests.RequestException as exc:
            # The exception's own text may quote a proxy URL with its credentials: name the kind only.
            unsent = _never_reached_server(exc)
            raise KapsoServerError(
                status=None,
                method=method,
                path=path,
                error_text=f"request failed: {type(exc).__name__}"
                + (" (could not connect)" if unsent else " (connection lost; a send may still have been delivered)"),
                may_have_been_processed=not unsent,
            ) from None

        self.pacer.observe(response.headers)
        return _decode_answer(response, method, path)

    def _data(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _data_of(self.request(method, path, **kwargs), method, path)

    def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, per_page: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint, fetching one page at a time as the caller iterates.

        :param path: the list endpoint's path.
        :param params: filters passed on every page.
        :param per_page: records per request, 1 to 100.
        """
        _check_page_size(per_page)
        page = 1
        while True:
            body = self.request("GET", path, params={**(params or {}), "page": page, "per_page": per_page})
            records = _page_records(body, path)
            yield from records
            if _is_last_page(body, records, page=page, per_page=per_page):
                return
            page += 1

    # -- messages --

    def send_message(
        self,
        message: KapsoMessage | Mapping[str, Any],
        *,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
    ) -> dict[str, Any]:
        """Send one WhatsApp message and return Kapso's message record.

        Exactly one of ``conversation_id`` and ``phone_number`` names the recipient. The message is checked
        against WhatsApp's limits before any request is made.

        :param message: a model from :mod:`kapso_provider.models`, or the v1 ``message`` object as a dict.
        :param conversation_id: send into this conversation
            (``POST /whatsapp_conversations/{id}/whatsapp_messages``).
        :param phone_number: send to this number in international format (``POST /whatsapp_messages``),
            which finds or opens the conversation.
        :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from.
        :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from.
        :raises KapsoInvalidMessageError: the message or the recipient arguments break a rule.
        """
        plan = _plan_send(
            message,
            conversation_id=conversation_id,
            phone_number=phone_number,
            whatsapp_config_id=whatsapp_config_id,
            customer_id=customer_id,
        )
        policy = self.retry_policy
        started_at = datetime.now(UTC)
        for attempt in range(1, policy.max_attempts + 1):
            try:
                # request() itself retries rate limits and failures that never reached Kapso; a failure
                # after which Kapso may have stored the message comes back here instead.
                return self._data("POST", plan.path, params=plan.query, json=plan.body)
            except KapsoServerError as exc:
                if not _must_reconcile(exc, attempt=attempt, policy=policy):
                    raise
                self.log.warning("%s; reading the conversation back before deciding to send again", exc)
            found = self.find_sent_message(
                plan.message,
                conversation_id=conversation_id,
                phone_number=phone_number,
                whatsapp_config_id=whatsapp_config_id,
                customer_id=customer_id,
                since=started_at,
            )
            if found is not None:
                self.log.info("Kapso had stored the message as %s; not sending it again", found.get("id"))
                return found
            wait = policy.backoff(attempt)
            self.log.warning(
                "The message is not in the conversation: sending again in %.1f s (attempt %d of %d)",
                wait,
                attempt + 1,
                policy.max_attempts,
            )
            self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def find_sent_message(
        self,
        message: KapsoMessage | Mapping[str, Any],
        *,
        since: datetime,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Look for an outbound message like ``message`` stored since ``since``, and return its record.

        This is how a send whose answer was lost is told apart from one that never happened: Kapso takes no
        idempotency key. It matches message type and content of outbound messages created at or after
        ``since`` (less the policy's clock skew), reading at most ``reconcile_max_messages`` messages of
        each conversation, in whatever order Kapso lists them.

        :param message: the message that was sent, as a model or a dict.
        :param since: when the first attempt to send it began (timezone-aware).
        :param conversation_id: the conversation it went to; or else
        :param phone_number: the number it went to, whose conversations are searched (optionally narrowed
            by ``whatsapp_config_id`` or ``customer_id``).
        :returns: the stored record, or ``None`` when no such message exists (or no conversation does).
        """
        expected, threshold = _reconcile_target(message, since=since, policy=self.retry_policy)
        if conversation_id is not None:
            conversation_ids = [conversation_id]
        else:
            conversation_ids = [
                conversation["id"]
                for conversation in self.list_conversations(
                    phone_number=phone_number, whatsapp_config_id=whatsapp_config_id, customer_id=customer_id
                )
            ]
        for candidate_conversation in conversation_ids:
            try:
                records = self.list_messages(candidate_conversation)
                for read, record in enumerate(records, start=1):
                    if _is_same_send(record, expected, threshold):
                        return record
                    if read >= self.retry_policy.reconcile_max_messages:
                        break
            except KapsoNotFoundError:
                continue  # the conversation does not exist, so nothing was stored in it
        return None

    def send_template(
        self,
        template_id: str,
        *,
        phone_number: str,
        template_parameters: list[str] | Mapping[str, str] | None = None,
        header_type: str | None = None,
        header_params: str | None = None,
        header_filename: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        button_url_params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Send an approved template by its Kapso id (``POST /whatsapp_templates/{id}/send_template``).

        Kapso answers this endpoint with a summary of the send, not a message record; it is returned as is.

        :param template_id: the template's Kapso id.
        :param phone_number: the recipient in international format.
        :param template_parameters: positional values (a list) or named values (a mapping).
        :param header_type: ``text``, ``image``, ``video`` or ``document``.
        :param header_params: header text, or the media URL for a media header.
        :param header_filename: file name of a document header.
        :param whatsapp_config_id: the WhatsApp number to send from.
        :param customer_id: the customer whose WhatsApp number to send from.
        :param button_url_params: values of dynamic URL buttons, by button index.
        """
        from kapso_provider.recipients import check_template_send

        template = check_template_send(
            phone_number=phone_number,
            template_parameters=template_parameters,
            header_type=header_type,
            header_params=header_params,
            header_filename=header_filename,
            whatsapp_config_id=whatsapp_config_id,
            customer_id=customer_id,
            button_url_params=button_url_params,
        )
        path = f"/whatsapp_templates/{_segment(template_id)}/send_template"
        body = self.request("POST", path, json={"template": template})
        if not isinstance(body, dict):
            raise KapsoServerError(status=None, method="POST", path=path, error_text="answer is not an object")
        return body

    def list_messages(self, conversation_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Yield every message of a conversation, page by page. Kapso documents no order for this list.

        :param conversation_id: the conversation's id.
        :param per_page: records per request, 1 to 100.
        """
        return self.paginate(_messages_path(conversation_id), per_page=per_page)

    def get_message(self, conversation_id: str, message_id: str) -> dict[str, Any]:
        """Return one message of a conversation, found by Kapso's id or by WhatsApp's ``wamid``.

        Kapso has no endpoint that reads one message, so this lists the conversation's messages (page by
        page, stopping at the match). Its ``status`` tells how far delivery got: ``sent``, ``delivered``,
        ``read`` or ``failed``.

        :param conversation_id: the conversation the message is in.
        :param message_id: the message's ``id`` or its ``whatsapp_message_id``.
        :raises KapsoNotFoundError: the conversation does not exist or holds no such message.
        """
        for record in self.list_messages(conversation_id):
            if _is_message(record, message_id):
                return record
        raise _message_not_found(conversation_id, message_id)

    # -- conversations --

    def list_conversations(
        self,
        *,
        phone_number: str | None = None,
        status: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        last_active_after: str | None = None,
        last_active_before: str | None = None,
        per_page: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield the project's conversations matching every given filter, page by page.

        :param phone_number: the customer's number (``q[phone_number_eq]``).
        :param status: ``active`` or ``ended`` (``q[status_eq]``).
        :param whatsapp_config_id: the WhatsApp number they run on (``q[whatsapp_config_id_eq]``).
        :param customer_id: the customer owning that number (``q[whatsapp_config_customer_id_eq]``).
        :param last_active_after: ISO-8601 time; active at or after it (``q[last_active_at_gteq]``).
        :param last_active_before: ISO-8601 time; active at or before it (``q[last_active_at_lteq]``).
        :param per_page: records per request, 1 to 100.
        """
        filters = _conversation_filters(
            phone_number=phone_number,
            status=status,
            whatsapp_config_id=whatsapp_config_id,
            customer_id=customer_id,
            last_active_after=last_active_after,
            last_active_before=last_active_before,
        )
        return self.paginate("/whatsapp_conversations", params=filters, per_page=per_page)

    def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """Return one conversation record.

        :param conversation_id: the conversation's id.
        """
        return self._data("GET", f"/whatsapp_conversations/{_segment(conversation_id)}")

    # -- connection test --

    def test_connection(self) -> tuple[bool, str]:
        """Check the connection with one read-only request (``GET /whatsapp_configs``); never sends."""
        try:
            self.request("GET", "/whatsapp_configs", params={"page": 1, "per_page": 1})
        except (KapsoAPIError, KapsoConfigurationError) as exc:
            return False, str(exc)
        finally:
            self.close()
        return True, f"Connected to Kapso at {self.settings.base_url}."


def _httpx_transport_error(exc: Exception, *, method: str, path: str, timeout: float) -> KapsoServerError:
    """Turn an ``httpx`` transport failure into the same :class:`KapsoServerError` the sync hook raises."""
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        return KapsoServerError(
            status=None,
            method=method,
            path=path,
            error_text=f"could not connect within {timeout:g} s",
            may_have_been_processed=False,
        )
    if isinstance(exc, httpx.PoolTimeout):
        # No connection was free for the request, so not a byte of it left this machine.
        return KapsoServerError(
            status=None,
            method=method,
            path=path,
            error_text=f"no free connection within {timeout:g} s",
            may_have_been_processed=False,
        )
    if isinstance(exc, httpx.TimeoutException):
        return KapsoServerError(
            status=None,
            method=method,
            path=path,
            error_text=f"no answer within {timeout:g} s ({type(exc).__name__}); a send may still have been delivered",
        )
    # ConnectError covers refused connections and unknown hosts; a proxy may have forwarded anything else.
    unsent = isinstance(exc, httpx.ConnectError)
    # The exception's own text may quote a proxy URL with its credentials: name the kind only.
    return KapsoServerError(
        status=None,
        method=method,
        path=path,
        error_text=f"request failed: {type(exc).__name__}"
        + (" (could not connect)" if unsent else " (connection lost; a send may still have been delivered)"),
        may_have_been_processed=not unsent,
    )


class KapsoAsyncHook(BaseHook):
    """The asynchronous twin of :class:`KapsoHook`, for triggers and async callbacks (``httpx``).

    It reads the same ``kapso`` connection, applies the same retry, pacing and exactly-once rules and
    raises the same :class:`~kapso_provider.exceptions.KapsoAPIError` subclasses; only waiting differs
    (``await`` instead of sleeping). Creating the hook does no I/O: the connection is fetched the async way
    on first use (``BaseHook.aget_connection`` on Airflow 3, the sync lookup in a worker thread on
    Airflow 2), and one ``httpx.AsyncClient`` serves every request of the hook until :meth:`aclose`.

    :param kapso_conn_id: the Airflow connection id.
    :param retry_policy: attempts, backoff and reconciliation budgets; defaults suit Kapso's limits.
    :param pacer: decides when each request may leave; share one between hooks on the same API key.
    """

    conn_name_attr = "kapso_conn_id"
    default_conn_name = "kapso_default"
    conn_type = CONNECTION_TYPE
    hook_name = "Kapso (async)"

    def __init__(
        self,
        kapso_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        pacer: RequestPacer | None = None,
        **kwargs: Any,
    ) -> None:
        _refuse_credentials("KapsoAsyncHook", kapso_conn_id, kwargs)
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self.pacer = pacer or RequestPacer(window=self.retry_policy.rate_limit_window)
        self._settings: KapsoConnectionSettings | None = None
        self._client: httpx.AsyncClient | None = None

    # -- connection and client --

    async def get_settings(self) -> KapsoConnectionSettings:
        """The parsed connection, fetched the async way once per hook."""
        if self._settings is None:
            aget_connection = getattr(type(self), "aget_connection", None)
            if aget_connection is not None:
                # Airflow 3: the task SDK's lookup, which never blocks the triggerer's event loop.
                conn = await aget_connection(self.kapso_conn_id)
            else:
                from asgiref.sync import sync_to_async

                # Airflow 2.11 has no async lookup: run the sync one (a DB or secrets call) in a thread.
                conn = await sync_to_async(self.get_connection)(self.kapso_conn_id)
            aextra_dejson = getattr(conn, "aextra_dejson", None)
            # Airflow 3.3 masks extras when decoding them; its sync decoder must not run inside a loop.
            extra = await aextra_dejson() if aextra_dejson is not None else conn.extra_dejson
            self._settings = parse_connection(
                self.kapso_conn_id, host=conn.host, password=conn.password, extra=extra, port=conn.port
            )
        return self._settings

    async def get_client(self) -> httpx.AsyncClient:
        """One pooled client per hook, so consecutive calls reuse the TCP and TLS connection."""
        if self._client is None:
            import httpx

            settings = await self.get_settings()
            # Proxies come from the connection alone, not from HTTPS_PROXY and friends (trust_env=False).
            self._client = httpx.AsyncClient(
                headers=_request_headers(settings.api_key),
                timeout=httpx.Timeout(settings.timeout),
                proxy=settings.proxy,
                trust_env=False,
            )
        return self._client

    async def aclose(self) -> None:
        """Close the pooled client, if one was opened."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- the one place where requests are made --

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        retry_ambiguous: bool | None = None,
    ) -> Any:
        """Send a request to Kapso, riding out rate limits and transient failures, and decode its JSON.

        The rules are those of :meth:`KapsoHook.request`: a 429 waits for ``Retry-After`` (up to the
        policy's ``max_retry_after``), failures that never reached Kapso are retried after a backoff, and
        ambiguous failures are retried only when ``retry_ambiguous`` (by default for ``GET`` only).

        :param method: the HTTP method.
        :param path: the path below the API base URL, starting with ``/``.
        :param params: query parameters; ``None`` values are left out.
        :param json: the JSON body.
        :param retry_ambiguous: whether a failure after which Kapso may have acted is retried.
        :raises KapsoAPIError: a subclass matching the HTTP status once retries are spent or not allowed.
        """
        policy = self.retry_policy
        if retry_ambiguous is None:
            retry_ambiguous = method == "GET"
        query = {key: value for key, value in (params or {}).items() if value is not None}
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(method, path, query, json)
            except (KapsoRateLimitError, KapsoServerError) as exc:
                wait = _retry_wait(exc, attempt=attempt, policy=policy, retry_ambiguous=retry_ambiguous)
                if wait is None:
                    raise
                _log_retry(self.log, exc, method=method, path=path, wait=wait, attempt=attempt, policy=policy)
            await asyncio.sleep(wait)

    async def _attempt(self, method: str, path: str, query: Mapping[str, Any], json: Mapping[str, Any] | None) -> Any:
        """One HTTP exchange; every failure becomes a :class:`KapsoAPIError` subclass."""
        import httpx

        settings = await self.get_settings()
        client = await self.get_client()
        if self.pacer.steady:
            # A steady pacer holds every request but the first until Kapso's first answer, blocking the
            # calling thread: keep that off the event loop.
            wait = await asyncio.to_thread(self.pacer.reserve)
        else:
            wait = self.pacer.reserve()
        if wait > 0:
            self.log.debug("Pacing to Kapso's rate limit: waiting %.2f s", wait)
            await asyncio.sleep(wait)
        self.log.debug("Kapso API %s %s", method, path)
        try:
            response = await client.request(method, settings.base_url + path, params=query or None, json=json)
        except httpx.TransportError as exc:
            raise _httpx_transport_error(exc, method=method, path=path, timeout=settings.timeout) from None
        self.pacer.observe(response.headers)
        return _decode_answer(response, method, path)

    async def _data(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return _data_of(await self.request(method, path, **kwargs), method, path)

    async def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, per_page: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every record of a list endpoint, fetching one page at a time as the caller iterates.

        :param path: the list endpoint's path.
        :param params: filters passed on every page.
        :param per_page: records per request, 1 to 100.
        """
        _check_page_size(per_page)
        page = 1
        while True:
            body = await self.request("GET", path, params={**(params or {}), "page": page, "per_page": per_page})
            records = _page_records(body, path)
            for record in records:
                yield record
            if _is_last_page(body, records, page=page, per_page=per_page):
                return
            page += 1

    # -- messages --

    async def send_message(
        self,
        message: KapsoMessage | Mapping[str, Any],
        *,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
    ) -> dict[str, Any]:
        """Send one WhatsApp message and return Kapso's message record; see :meth:`KapsoHook.send_message`.

        A send that failed ambiguously is never repeated blindly: the conversation is read back first
        (:meth:`find_sent_message`) and a message found there is returned instead of sending again.

        :param message: a model from :mod:`kapso_provider.models`, or the v1 ``message`` object as a dict.
        :param conversation_id: send into this conversation.
        :param phone_number: send to this number in international format (finds or opens the conversation).
        :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from.
        :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from.
        :raises KapsoInvalidMessageError: the message or the recipient arguments break a rule.
        """
        plan = _plan_send(
            message,
            conversation_id=conversation_id,
            phone_number=phone_number,
            whatsapp_config_id=whatsapp_config_id,
            customer_id=customer_id,
        )
        policy = self.retry_policy
        started_at = datetime.now(UTC)
        for attempt in range(1, policy.max_attempts + 1):
            try:
                return await self._data("POST", plan.path, params=plan.query, json=plan.body)
            except KapsoServerError as exc:
                if not _must_reconcile(exc, attempt=attempt, policy=policy):
                    raise
                self.log.warning("%s; reading the conversation back before deciding to send again", exc)
            found = await self.find_sent_message(
                plan.message,
                conversation_id=conversation_id,
                phone_number=phone_number,
                whatsapp_config_id=whatsapp_config_id,
                customer_id=customer_id,
                since=started_at,
            )
            if found is not None:
                self.log.info("Kapso had stored the message as %s; not sending it again", found.get("id"))
                return found
            wait = policy.backoff(attempt)
            self.log.warning(
                "The message is not in the conversation: sending again in %.1f s (attempt %d of %d)",
                wait,
                attempt + 1,
                policy.max_attempts,
            )
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def find_sent_message(
        self,
        message: KapsoMessage | Mapping[str, Any],
        *,
        since: datetime,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Look for an outbound message like ``message`` stored since ``since``, and return its record.

        The rules are those of :meth:`KapsoHook.find_sent_message`.

        :param message: the message that was sent, as a model or a dict.
        :param since: when the first attempt to send it began (timezone-aware).
        :param conversation_id: the conversation it went to; or else
        :param phone_number: the number it went to, whose conversations are searched.
        :param whatsapp_config_id: with ``phone_number``, narrows the conversations searched.
        :param customer_id: with ``phone_number``, narrows the conversations searched.
        :returns: the stored record, or ``None`` when no such message exists (or no conversation does).
        """
        expected, threshold = _reconcile_target(message, since=since, policy=self.retry_policy)
        if conversation_id is not None:
            conversation_ids = [conversation_id]
        else:
            conversation_ids = [
                conversation["id"]
                async for conversation in self.list_conversations(
                    phone_number=phone_number, whatsapp_config_id=whatsapp_config_id, customer_id=customer_id
                )
            ]
        for candidate_conversation in conversation_ids:
            try:
                read = 0
                async for record in self.list_messages(candidate_conversation):
                    read += 1
                    if _is_same_send(record, expected, threshold):
                        return record
                    if read >= self.retry_policy.reconcile_max_messages:
                        break
            except KapsoNotFoundError:
                continue  # the conversation does not exist, so nothing was stored in it
        return None

    async def list_messages(
        self, conversation_id: str, *, per_page: int = MAX_PAGE_SIZE
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield every message of a conversation, page by page. Kapso documents no order for this list.

        :param conversation_id: the conversation's id.
        :param per_page: records per request, 1 to 100.
        """
        async for record in self.paginate(_messages_path(conversation_id), per_page=per_page):
            yield record

    async def get_message(self, conversation_id: str, message_id: str) -> dict[str, Any]:
        """Return one message of a conversation, found by Kapso's id or by WhatsApp's ``wamid``.

        Like :meth:`KapsoHook.get_message`, this lists the conversation's messages until the match.

        :param conversation_id: the conversation the message is in.
        :param message_id: the message's ``id`` or its ``whatsapp_message_id``.
        :raises KapsoNotFoundError: the conversation does not exist or holds no such message.
        """
        async for record in self.list_messages(conversation_id):
            if _is_message(record, message_id):
                return record
        raise _message_not_found(conversation_id, message_id)

    # -- conversations --

    async def list_conversations(
        self,
        *,
        phone_number: str | None = None,
        status: str | None = None,
        whatsapp_config_id: str | None = None,
        customer_id: str | None = None,
        last_active_after: str | None = None,
        last_active_before: str | None = None,
        per_page: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the project's conversations matching every given filter; see :meth:`KapsoHook.list_conversations`.

        :param phone_number: the customer's number.
        :param status: ``active`` or ``ended``.
        :param whatsapp_config_id: the WhatsApp number they run on.
        :param customer_id: the customer owning that number.
        :param last_active_after: ISO-8601 time; active at or after it.
        :param last_active_before: ISO-8601 time; active at or before it.
        :param per_page: records per request, 1 to 100.
        """
        filters = _conversation_filters(
            phone_number=phone_number,
            status=status,
            whatsapp_config_id=whatsapp_config_id,
            customer_id=customer_id,
            last_active_after=last_active_after,
            last_active_before=last_active_before,
        )
        async for record in self.paginate("/whatsapp_conversations", params=filters, per_page=per_page):
            yield record

    async def get_conversation(self, conversation_id: str) -> dict[str, Any]:
        """Return one conversation record.

        :param conversation_id: the conversation's id.
        """
        return await self._data("GET", f"/whatsapp_conversations/{_segment(conversation_id)}")
