"""A ``kapso`` connection's fields, parsed and checked with no I/O: :func:`parse_connection`."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from kapso_provider.exceptions import KapsoConfigurationError
from kapso_provider.get_provider_info import (
    API_GENERATIONS,
    CONN_FIELDS,
    CONNECTION_TYPE,
    CURRENT_BASE_URL,
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT_SECONDS,
    UI_FIELD_BEHAVIOUR,
)

#: The fraction of a key's rate limit the waits of one triggerer may use when the connection says nothing.
DEFAULT_WAIT_SHARE = 0.25
# Where Kapso's current APIs live; a connection to this host speaks them unless its ``api`` extra says v1.
CURRENT_API_HOST = "api.kapso.ai"

if TYPE_CHECKING:
    from collections.abc import Mapping

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
# Names a caller might use to smuggle a key past the connection. The key belongs in the connection's
# password only, where Airflow's secrets backends and log masking look after it.
REFUSED_CREDENTIAL_ARGUMENTS = frozenset({"api_key", "token", "password", "x_api_key", "key"})


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` names this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def redact_url(url: str | None) -> str | None:
    """``url`` with any user name and password replaced by ``***``, for logs, errors and ``repr``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    netloc = f"***@{hostname or ''}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def refuse_credentials(owner: str, kapso_conn_id: str, arguments: Mapping[str, Any]) -> None:
    """Refuse an API key passed as an argument, pointing at the connection's password instead.

    :param owner: the class or function that was given the arguments, e.g. ``"KapsoHook"``.
    :raises KapsoConfigurationError: naming the refused arguments and the connection.
    """
    refused = sorted(REFUSED_CREDENTIAL_ARGUMENTS.intersection(arguments))
    if refused:
        raise KapsoConfigurationError(
            f"{owner} does not take {', '.join(refused)}: store the API key in the password of "
            f"connection {kapso_conn_id!r} (airflow connections add {kapso_conn_id} --conn-type kapso "
            '--conn-password "$KAPSO_API_KEY").'
        )


@dataclass(frozen=True)
class KapsoConnectionSettings:
    """What the hooks need from a ``kapso`` connection, parsed and checked.

    :param base_url: the API base URL without a trailing slash.
    :param api_key: the project API key; kept out of ``repr`` so it cannot reach a log by accident.
    :param timeout: seconds to wait for Kapso to answer one request.
    :param proxy: an optional proxy URL for requests to Kapso; ``repr`` shows it without credentials.
    :param https_assumed: the host was given without a scheme and ``https://`` was put in front of it, which
        error texts mention (a local simulator speaks plain ``http://``).
    :param generation: which of Kapso's APIs the connection speaks: ``"v1"`` (the Legacy API, paths below
        ``/api/v1``) or ``"current"`` (the WhatsApp Cloud API proxy and the Platform API, paths below
        ``/meta/whatsapp/v24.0`` and ``/platform/v1`` of the base URL).
    :param phone_number_id: current API: the WhatsApp phone number id sends use unless a task names another.
    :param business_account_id: current API: the WhatsApp Business Account id whose templates are managed.
    :param wait_share: the fraction of the key's rate limit all deferred waits of one triggerer may use.
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    proxy: str | None = field(default=None, repr=False)
    https_assumed: bool = False
    generation: str = "v1"
    phone_number_id: str | None = None
    business_account_id: str | None = None
    wait_share: float = DEFAULT_WAIT_SHARE

    def __repr__(self) -> str:
        return (
            f"KapsoConnectionSettings(base_url={self.base_url!r}, generation={self.generation!r}, "
            f"timeout={self.timeout!r}, proxy={redact_url(self.proxy)!r}, https_assumed={self.https_assumed!r}, "
            f"phone_number_id={self.phone_number_id!r}, business_account_id={self.business_account_id!r})"
        )


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    # Airflow 2 forms stored custom fields as ``extra__<conn_type>__<name>``; newer ones use the bare name.
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONNECTION_TYPE}__{name}")
    return None if value == "" else value


def _generation(conn_id: str, extra: Mapping[str, Any], host: str | None) -> str:
    """The ``api`` extra, else what the host says: Kapso's current APIs on api.kapso.ai, v1 anywhere else."""
    chosen = _extra_value(extra, "api")
    if chosen is not None:
        if chosen not in API_GENERATIONS:
            raise KapsoConfigurationError(
                f"Connection {conn_id!r}: extra 'api' must be one of {', '.join(API_GENERATIONS)}, got {chosen!r}."
            )
        return str(chosen)
    raw_host = (host or "").strip()
    hostname = urlsplit(raw_host if "://" in raw_host else f"//{raw_host}").hostname or ""
    # A connection without the field keeps speaking v1, as it did before the current API was supported.
    return "current" if hostname == CURRENT_API_HOST else "v1"


def _base_url(conn_id: str, host: str | None, port: int | None, generation: str) -> tuple[str, bool]:
    raw_host = (host or "").strip()
    if not raw_host:
        return (CURRENT_BASE_URL if generation == "current" else DEFAULT_BASE_URL), False
    if "://" in raw_host:
        base_url, assumed = raw_host, False
    else:
        netloc, _, path = raw_host.partition("/")
        if port:
            netloc = f"{netloc}:{port}"
        default_path = "" if generation == "current" else "api/v1"
        base_url, assumed = f"https://{netloc}/{path or default_path}", True
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
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: plain http:// is allowed only to loopback hosts (127.0.0.1, ::1, "
            f"localhost), got {parts.hostname!r}; use https://."
        )
    if generation == "current" and parts.path.rstrip("/").endswith("/api/v1"):
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: extra 'api' is 'current' but the host ends in /api/v1, the Legacy API's "
            f"path; give the host alone ({CURRENT_BASE_URL}) or set 'api' to 'v1'."
        )
    return base_url, assumed


def _timeout(conn_id: str, extra: Mapping[str, Any]) -> float:
    raw_timeout = _extra_value(extra, "timeout")
    if raw_timeout is None:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        timeout = float(raw_timeout)
    except (TypeError, ValueError):
        timeout = math.nan
    if not (timeout > 0 and math.isfinite(timeout)):
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: extra 'timeout' must be a positive number of seconds, got {raw_timeout!r}."
        )
    return timeout


def _wait_share(conn_id: str, extra: Mapping[str, Any]) -> float:
    raw = _extra_value(extra, "wait_share")
    if raw is None:
        return DEFAULT_WAIT_SHARE
    try:
        share = float(raw)
    except (TypeError, ValueError):
        share = math.nan
    if not 0 < share <= 1:
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: extra 'wait_share' must be a fraction of the rate limit above 0 and at most "
            f"1, got {raw!r}."
        )
    return share


def _proxy(conn_id: str, extra: Mapping[str, Any]) -> str | None:
    proxy = _extra_value(extra, "proxy")
    if proxy is None:
        return None
    try:
        scheme = urlsplit(proxy).scheme if isinstance(proxy, str) else None
    except ValueError:
        scheme = None
    if scheme not in ("http", "https"):
        # Never quote the value: a proxy URL may carry a password.
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: extra 'proxy' must be an http(s) URL such as "
            f"{UI_FIELD_BEHAVIOUR['placeholders']['proxy']}."
        )
    return str(proxy)


def _id_extra(conn_id: str, extra: Mapping[str, Any], name: str) -> str | None:
    value = _extra_value(extra, name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a JSON number in the extras is still an id
    if not isinstance(value, str) or not value.strip().isdigit():
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: extra {name!r} must be Meta's numeric id, e.g. "
            f"{UI_FIELD_BEHAVIOUR['placeholders'][name]}, got {value!r}."
        )
    return value.strip()


def parse_connection(
    conn_id: str, *, host: str | None, password: str | None, extra: Mapping[str, Any], port: int | None = None
) -> KapsoConnectionSettings:
    """Turn a connection's fields into :class:`KapsoConnectionSettings`, with no I/O.

    :param conn_id: the connection id, named in every error.
    :param host: the API base URL; empty means Kapso's production URL. A bare host name gets ``https://``
        and, without a path, ``/api/v1``.
    :param password: the API key (required).
    :param extra: the connection's extras: ``timeout`` (seconds), ``proxy``, ``api`` (``current`` or ``v1``),
        ``wait_share``, and for the current API ``phone_number_id`` and ``business_account_id``.
    :param port: the connection's port, used only with a bare host name.
    :raises KapsoConfigurationError: when the key is missing, the URL is not usable, plain ``http://``
        points at anything but loopback, or an extra has a wrong type or an unknown name.
    """
    if not password:
        raise KapsoConfigurationError(
            f"Connection {conn_id!r} has no API key: put the Kapso API key in the connection's password."
        )
    generation = _generation(conn_id, extra, host)
    base_url, https_assumed = _base_url(conn_id, host, port, generation)
    unknown = sorted(name for name in extra if name.removeprefix(f"extra__{CONNECTION_TYPE}__") not in CONN_FIELDS)
    if unknown:
        # An unknown extra is refused instead of ignored: HttpHook-style connections turn extras into
        # headers, and a user moving such a connection here must learn that this hook never does.
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: unknown extra field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(CONN_FIELDS))}."
        )
    ids = {name: _id_extra(conn_id, extra, name) for name in ("phone_number_id", "business_account_id")}
    if generation == "v1":
        given = sorted(name for name, value in ids.items() if value is not None)
        if given:
            raise KapsoConfigurationError(
                f"Connection {conn_id!r}: extra {', '.join(given)} belongs to Kapso's current API, and this "
                "connection speaks v1; set extra 'api' to 'current' or leave them out."
            )
    return KapsoConnectionSettings(
        base_url=base_url,
        api_key=password,
        timeout=_timeout(conn_id, extra),
        proxy=_proxy(conn_id, extra),
        https_assumed=https_assumed,
        generation=generation,
        wait_share=_wait_share(conn_id, extra),
        **ids,
    )
