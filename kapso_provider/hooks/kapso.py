"""The hook that owns the ``kapso`` connection and every HTTP call to Kapso's API v1."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from airflow.providers.common.compat.sdk import BaseHook

from kapso_provider.exceptions import (
    KapsoAPIError,
    KapsoConfigurationError,
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

if TYPE_CHECKING:
    import requests

    from kapso_provider.models import KapsoMessage

# The API answers at most this many records per page (``per_page`` maximum in the OpenAPI files).
MAX_PAGE_SIZE = 100
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


def _error_text(response: requests.Response) -> str:
    """Kapso's own words for a failure, whatever shape the body has."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        parts = [str(body[key]) for key in ("error", "message", "errors") if body.get(key)]
        if parts:
            return " - ".join(dict.fromkeys(parts))
    text = " ".join(response.text.split())
    if not text:
        return response.reason or "no error text"
    return text[:_MAX_ERROR_TEXT] + ("..." if len(text) > _MAX_ERROR_TEXT else "")


def _retry_after_seconds(response: requests.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


class KapsoHook(BaseHook):
    """Talks to Kapso's API v1 with the API key of a ``kapso`` connection.

    The connection's password holds the API key, its host the API base URL (empty for
    ``https://app.kapso.ai/api/v1``), its extras ``timeout`` and ``proxy``. Creating the hook does no
    I/O; the connection is read and one pooled HTTP session built on first use.

    Every method returns plain JSON-compatible values and raises a subclass of
    :class:`~kapso_provider.exceptions.KapsoAPIError` carrying the HTTP status and Kapso's error text.

    :param kapso_conn_id: the Airflow connection id.
    """

    conn_name_attr = "kapso_conn_id"
    default_conn_name = "kapso_default"
    conn_type = CONNECTION_TYPE
    hook_name = "Kapso"

    def __init__(self, kapso_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        refused = sorted(_REFUSED_CREDENTIAL_ARGUMENTS.intersection(kwargs))
        if refused:
            raise KapsoConfigurationError(
                f"KapsoHook does not take {', '.join(refused)}: store the API key in the password of "
                f"connection {kapso_conn_id!r}."
            )
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id

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

        from kapso_provider import __version__

        session = requests.Session()
        # Only X-API-Key carries a credential; nothing from the connection's extras becomes a header.
        session.headers.update(
            {
                "X-API-Key": self.settings.api_key,
                "Accept": "application/json",
                "User-Agent": f"airflow-provider-kapso/{__version__}",
            }
        )
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
    ) -> Any:
        """Send one request to Kapso and return the decoded JSON body.

        :param method: the HTTP method.
        :param path: the path below the API base URL, starting with ``/``.
        :param params: query parameters; ``None`` values are left out.
        :param json: the JSON body.
        :raises KapsoAPIError: a subclass matching the HTTP status, or :class:`KapsoServerError` when no
            usable answer arrived.
        """
        import requests

        url = self.settings.base_url + path
        query = {key: value for key, value in (params or {}).items() if value is not None}
        self.log.debug("Kapso API %s %s", method, path)
        try:
            response = self.session.request(method, url, params=query or None, json=json, timeout=self.settings.timeout)
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
            raise KapsoServerError(
                status=None, method=method, path=path, error_text=f"request failed: {type(exc).__name__}"
            ) from None

        if response.status_code >= 400:
            error_class = error_class_for_status(response.status_code)
            error_text = _error_text(response)
            if error_class is KapsoRateLimitError:
                raise KapsoRateLimitError(
                    status=response.status_code,
                    method=method,
                    path=path,
                    error_text=error_text,
                    retry_after=_retry_after_seconds(response),
                )
            raise error_class(status=response.status_code, method=method, path=path, error_text=error_text)
        try:
            return response.json()
        except ValueError:
            raise KapsoServerError(
                status=response.status_code,
                method=method,
                path=path,
                error_text=f"answer is not JSON: {_error_text(response)}",
            ) from None

    def _data(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = self.request(method, path, **kwargs)
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise KapsoServerError(status=None, method=method, path=path, error_text="answer has no 'data' object")
        data: dict[str, Any] = body["data"]
        return data

    def paginate(
        self, path: str, *, params: Mapping[str, Any] | None = None, per_page: int = MAX_PAGE_SIZE
    ) -> Iterator[dict[str, Any]]:
        """Yield every record of a list endpoint, fetching one page at a time as the caller iterates.

        :param path: the list endpoint's path.
        :param params: filters passed on every page.
        :param per_page: records per request, 1 to 100.
        """
        if not 1 <= per_page <= MAX_PAGE_SIZE:
            raise ValueError(f"per_page: {per_page} is outside 1..{MAX_PAGE_SIZE}")
        page = 1
        while True:
            body = self.request("GET", path, params={**(params or {}), "page": page, "per_page": per_page})
            records = body.get("data") if isinstance(body, dict) else None
            if not isinstance(records, list):
                raise KapsoServerError(status=None, method="GET", path=path, error_text="answer has no 'data' list")
            yield from records
            total_pages = (body.get("meta") or {}).get("total_pages")
            # Without meta, a short page is the last one.
            if (total_pages is not None and page >= total_pages) or (total_pages is None and len(records) < per_page):
                return
            if not records:
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
            return self._data(
                "POST",
                f"/whatsapp_conversations/{_segment(conversation_id)}/whatsapp_messages",
                json=parsed.to_body(),
            )
        return self._data(
            "POST",
            "/whatsapp_messages",
            params={"whatsapp_config_id": whatsapp_config_id, "customer_id": customer_id},
            json=parsed.to_body(phone_number=phone_number),
        )

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
        body = self.request(
            "POST", f"/whatsapp_templates/{_segment(template_id)}/send_template", json={"template": template}
        )
        if not isinstance(body, dict):
            raise KapsoServerError(
                status=None,
                method="POST",
                path="/whatsapp_templates/{id}/send_template",
                error_text="answer is not an object",
            )
        return body

    def list_messages(self, conversation_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Yield every message of a conversation, page by page. Kapso documents no order for this list.

        :param conversation_id: the conversation's id.
        :param per_page: records per request, 1 to 100.
        """
        return self.paginate(
            f"/whatsapp_conversations/{_segment(conversation_id)}/whatsapp_messages", per_page=per_page
        )

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
        filters = {
            "q[phone_number_eq]": phone_number,
            "q[status_eq]": status,
            "q[whatsapp_config_id_eq]": whatsapp_config_id,
            "q[whatsapp_config_customer_id_eq]": customer_id,
            "q[last_active_at_gteq]": last_active_after,
            "q[last_active_at_lteq]": last_active_before,
        }
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


def _segment(value: str) -> str:
    """Quote an id for use as one path segment, so that no value can reach another endpoint."""
    if not isinstance(value, str) or not value.strip():
        raise KapsoConfigurationError(f"An id in the request path must be a non-empty string, got {value!r}.")
    return quote(value, safe="")
