"""A ``kapso`` connection's fields, parsed and checked with no I/O: :func:`parse_connection`."""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from kapso_provider.exceptions import KapsoConfigurationError
from kapso_provider.get_provider_info import (
    CONN_FIELDS,
    CONNECTION_TYPE,
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT_SECONDS,
    UI_FIELD_BEHAVIOUR,
)

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
    """

    base_url: str
    api_key: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    proxy: str | None = field(default=None, repr=False)
    https_assumed: bool = False

    def __repr__(self) -> str:
        return (
            f"KapsoConnectionSettings(base_url={self.base_url!r}, timeout={self.timeout!r}, "
            f"proxy={redact_url(self.proxy)!r}, https_assumed={self.https_assumed!r})"
        )


def _extra_value(extra: Mapping[str, Any], name: str) -> Any:
    # Airflow 2 forms stored custom fields as ``extra__<conn_type>__<name>``; newer ones use the bare name.
    value = extra.get(name)
    if value in (None, ""):
        value = extra.get(f"extra__{CONNECTION_TYPE}__{name}")
    return None if value == "" else value


def _base_url(conn_id: str, host: str | None, port: int | None) -> tuple[str, bool]:
    raw_host = (host or "").strip()
    if not raw_host:
        return DEFAULT_BASE_URL, False
    if "://" in raw_host:
        base_url, assumed = raw_host, False
    else:
        netloc, _, path = raw_host.partition("/")
        if port:
            netloc = f"{netloc}:{port}"
        base_url, assumed = f"https://{netloc}/{path or 'api/v1'}", True
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
    base_url, https_assumed = _base_url(conn_id, host, port)
    unknown = sorted(name for name in extra if name.removeprefix(f"extra__{CONNECTION_TYPE}__") not in CONN_FIELDS)
    if unknown:
        # An unknown extra is refused instead of ignored: HttpHook-style connections turn extras into
        # headers, and a user moving such a connection here must learn that this hook never does.
        raise KapsoConfigurationError(
            f"Connection {conn_id!r}: unknown extra field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(CONN_FIELDS))}."
        )
    return KapsoConnectionSettings(
        base_url=base_url,
        api_key=password,
        timeout=_timeout(conn_id, extra),
        proxy=_proxy(conn_id, extra),
        https_assumed=https_assumed,
    )
