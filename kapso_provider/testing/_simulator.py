"""A local, stateful stand-in for Kapso's WhatsApp API v1, served over real HTTP on loopback."""

from __future__ import annotations

import contextlib
import copy
import functools
import hmac
import ipaddress
import json
import math
import random
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from kapso_provider.testing._faults import DEFAULT_SLOW_DELAY, Fault, FaultKind
from kapso_provider.testing._http import (
    ApiError,
    Outcome,
    Response,
    config_not_found,
    error,
    first,
    json_response,
    paginate,
    parse_time,
    validation_error,
)
from kapso_provider.testing._inbound_replies import ReplyScheduler, interactive_reply_data
from kapso_provider.testing._resources import (
    AgentsGroup,
    AssignmentsGroup,
    BroadcastsGroup,
    ContactsGroup,
    PlatformGroup,
    ResourceGroup,
    TemplateAdminGroup,
)
from kapso_provider.testing._store import NotFoundError, StatusChange, Store
from kapso_provider.testing._validation import (
    MESSAGE_TYPES,
    ValidationError,
    normalize_phone,
    template_placeholders,
    validate_message,
)

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["API_PREFIX", "CONTROL_PREFIX", "KapsoSimulator", "RecordedRequest"]

API_PREFIX = "/api/v1"
#: Control endpoints live outside ``/api/v1`` under a name Kapso cannot plausibly use.
CONTROL_PREFIX = "/__kapso_simulator__"
API_KEY_HEADER = "X-API-Key"
_REDACTED = "***"
_MAX_BODY_BYTES = 10 * 1024 * 1024

_HTML_BAD_GATEWAY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class Headers(dict[str, str]):
    """Request headers as sent, looked up case-insensitively (``headers["x-api-key"]`` works)."""

    def _key(self, name: str) -> str:
        lowered = name.lower()
        for key in self:
            if key.lower() == lowered:
                return key
        return name

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(self._key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(self._key(name))

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """Header value by case-insensitive name.

        :param name: header name.
        :param default: returned when the header is absent.
        """
        key = self._key(name)
        return super().__getitem__(key) if super().__contains__(key) else default


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request the simulator received (control endpoints excluded).

    :param method: HTTP method.
    :param path: the path below ``/api/v1`` without the query string (``/whatsapp_messages``), the one
        faults are matched against; for a request outside ``/api/v1``, its whole path.
    :param query: query parameters (the last value wins for a repeated name).
    :param headers: request headers, case-insensitive lookup; the API key is there verbatim, but the
        ``repr`` and the control endpoint redact it.
    :param json: the decoded JSON body, ``None`` when absent or not JSON.
    :param body: the raw body bytes.
    :param full_path: the whole request path (``/api/v1/whatsapp_messages``).
    :param received_at: ``time.time()`` when the request was read.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    json: Any
    body: bytes
    full_path: str = ""
    received_at: float = field(default_factory=time.time)

    def redacted_headers(self) -> dict[str, str]:
        """The headers with the API key replaced by ``***``."""
        return {
            name: (_REDACTED if name.lower() == API_KEY_HEADER.lower() else value)
            for name, value in self.headers.items()
        }

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data, API key redacted (what ``GET /__kapso_simulator__/requests`` returns)."""
        return {
            "method": self.method,
            "path": self.path,
            "full_path": self.full_path,
            "query": dict(self.query),
            "headers": self.redacted_headers(),
            "json": self.json,
            "body": self.body.decode("utf-8", errors="replace"),
            "received_at": self.received_at,
        }

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={self.redacted_headers()!r}, json={self.json!r})"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_Route = Callable[[re.Match[str], Mapping[str, str], Any], Response]


class KapsoSimulator:
    """A real HTTP server on loopback that behaves like Kapso's WhatsApp API v1.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`; :attr:`base_url` and
    :attr:`api_key` are what a ``kapso`` connection needs. ``docs/testing.md`` shows it in use, with code
    that runs in the test suite.

    Message lists (``GET .../whatsapp_messages``) are answered newest first; the files leave the order
    open, so a client must not depend on it. Conversation lists are ordered by ``last_active_at``,
    newest first.

    :param api_key: the key every ``/api/v1`` request must send in ``X-API-Key``.
    :param host: loopback address to bind; anything else is refused.
    :param port: TCP port, ``0`` for a free one.
    :param latency: seconds slept before every ``/api/v1`` answer.
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
    ) -> None:
        if not api_key:
            raise ValueError("api_key must not be empty")
        if not _is_loopback(host):
            raise ValueError(f"the simulator only binds loopback addresses, not {host!r}")
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if rate_limit is not None and rate_limit < 1:
            raise ValueError("rate_limit must be >= 1 or None")
        if rate_limit_window <= 0:
            raise ValueError("rate_limit_window must be > 0")
        self._api_key = api_key
        self._host = host
        self._port = port
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_limit_window = rate_limit_window
        self._rng = random.Random(seed)
        self._store = Store()
        self._lock = self._store.lock
        self.delivery_delay = delivery_delay
        self.read_delay = read_delay
        self.delivery_error_code = delivery_error_code
        self.delivery_error_message = delivery_error_message
        self.status_sequence = status_sequence
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._windows: dict[str, tuple[float, int]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Endpoint groups beyond the core, each with its state and a Python API of its own.
        self.assignments = AssignmentsGroup(self)
        self.platform = PlatformGroup(self)
        self.template_admin = TemplateAdminGroup(self)
        self.contacts = ContactsGroup(self)
        self.agents = AgentsGroup(self)
        self.broadcasts = BroadcastsGroup(self)
        self._groups: tuple[ResourceGroup, ...] = (
            self.assignments,
            self.platform,
            self.template_admin,
            self.contacts,
            self.agents,
            self.broadcasts,
        )
        # Replies armed by tests (reply_to_question), fired from the request handlers that send and list.
        self._reply_scheduler = ReplyScheduler(self.deliver_inbound, self._store.list_messages)
        # Group routes first: they hold the more specific paths (``/whatsapp_templates/sync_status``
        # before ``/whatsapp_templates/{id}``).
        self._routes: list[tuple[str, re.Pattern[str], _Route]] = [
            *(group_route for group in self._groups for group_route in group.routes()),
            ("GET", re.compile(r"/whatsapp_conversations"), self._list_conversations),
            ("GET", re.compile(r"/whatsapp_conversations/(?P<id>[^/]+)"), self._get_conversation),
            ("PATCH", re.compile(r"/whatsapp_conversations/(?P<id>[^/]+)"), self._update_conversation),
            (
                "GET",
                re.compile(r"/whatsapp_conversations/(?P<id>[^/]+)/whatsapp_messages"),
                self._list_messages,
            ),
            (
                "POST",
                re.compile(r"/whatsapp_conversations/(?P<id>[^/]+)/whatsapp_messages"),
                self._send_in_conversation,
            ),
            ("POST", re.compile(r"/whatsapp_messages"), self._send_to_phone),
            ("GET", re.compile(r"/whatsapp_templates"), self._list_templates),
            ("GET", re.compile(r"/whatsapp_templates/(?P<id>[^/]+)"), self._get_template),
            ("POST", re.compile(r"/whatsapp_templates/(?P<id>[^/]+)/send_template"), self._send_template),
            ("GET", re.compile(r"/whatsapp_configs"), self._list_configs),
            ("GET", re.compile(r"/whatsapp_configs/(?P<id>[^/]+)"), self._get_config),
        ]

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> KapsoSimulator:
        """Bind the port and serve in a background thread; returns the simulator itself.

        :raises RuntimeError: if already running.
        """
        if self._server is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping.clear()
        server = _Server((self._host, self._port), self)
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
    def control_url(self) -> str:
        """Base URL of the HTTP control endpoints (``.../__kapso_simulator__``)."""
        return self.url + CONTROL_PREFIX

    @property
    def api_key(self) -> str:
        """The API key the simulator accepts."""
        return self._api_key

    # -- state ------------------------------------------------------------------------------------------

    @property
    def default_whatsapp_config_id(self) -> str:
        """Id of the WhatsApp config that exists from the start."""
        return self._store.default_config_id

    def add_whatsapp_config(
        self,
        *,
        name: str = "Second WhatsApp",
        phone_number: str = "+15550000001",
        business_account_id: str = "200000000000001",
        customer_id: str | None = None,
        config_id: str | None = None,
    ) -> dict[str, Any]:
        """Add another business phone number (WhatsApp config); returns its record.

        :param name: config name.
        :param phone_number: the business phone number.
        :param business_account_id: its WABA id.
        :param customer_id: owning customer, for ``customer_id`` selection on sends.
        :param config_id: its id (a new uuid when ``None``; real ids are uuids).
        """
        return self._store.add_config(
            name=name,
            phone_number=phone_number,
            business_account_id=business_account_id,
            customer_id=customer_id,
            config_id=config_id,
        )

    def create_conversation(
        self,
        phone_number: str = "+15551234567",
        whatsapp_config_id: str | None = None,
        *,
        contact_name: str | None = None,
        status: str = "active",
    ) -> dict[str, Any]:
        """Create a conversation with a customer and return its record (a ``WhatsappConversation``).

        :param phone_number: the customer's phone number.
        :param whatsapp_config_id: the config it belongs to (the default config when ``None``).
        :param contact_name: the customer's profile name.
        :param status: ``active`` or ``ended``.
        """
        return self._store.create_conversation(
            phone_number, whatsapp_config_id, contact_name=contact_name, status=status
        )

    def conversations(self) -> list[dict[str, Any]]:
        """All conversation records (copies), in creation order."""
        with self._lock:
            return copy.deepcopy(list(self._store.conversations.values()))

    def create_template(
        self,
        name: str = "hello_world",
        language: str = "en_US",
        *,
        category: str = "UTILITY",
        status: str = "approved",
        content: str | None = None,
        parameter_count: int | None = None,
        components: list[dict[str, Any]] | None = None,
        whatsapp_config_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """Store a WhatsApp template and return its record (a ``WhatsappTemplate``).

        :param name: template name.
        :param language: its language code (``language_code`` in the record).
        :param category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``.
        :param status: review status; only ``approved`` templates can be sent.
        :param content: body text with ``{{1}}`` or ``{{name}}`` placeholders. When neither ``content``
            nor ``parameter_count`` is given, sends of the template may carry any parameters; give one of
            them to have the simulator check the parameters as Kapso does.
        :param parameter_count: number of parameters (counted from ``content`` when ``None``).
        :param components: raw WhatsApp components (a BODY component from ``content`` when ``None``).
        :param whatsapp_config_ids: configs that may send it (the default config when ``None``).
        """
        return self._store.create_template(
            name=name,
            language=language,
            category=category,
            status=status,
            content=content,
            parameter_count=parameter_count,
            components=components,
            whatsapp_config_ids=whatsapp_config_ids,
        )

    def messages(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Stored message records (copies) in insertion order.

        :param conversation_id: only this conversation's messages.
        """
        return self._store.list_messages(conversation_id)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, control endpoints excluded."""
        with self._lock:
            return list(self._requests)

    def set_message_status(
        self,
        message_id: str,
        status: str,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Move a message to a new status, as WhatsApp's status updates would; returns the record.

        :param message_id: Kapso id or wamid of the message.
        :param status: ``delivered``, ``read``, ``failed`` (or ``sent``, ``pending``, ``received``).
        :param error_code: for ``failed``, the WhatsApp error code (e.g. 131047), kept in ``metadata``.
        :param error_message: for ``failed``, the WhatsApp error text, kept in ``metadata``.
        :raises KeyError: for an unknown message.
        """
        return self._store.set_message_status(message_id, status, error_code=error_code, error_message=error_message)

    # -- status progression -----------------------------------------------------------------------------

    @property
    def delivery_delay(self) -> float | None:
        """Seconds after a send at which new outbound messages turn ``delivered``; ``None`` keeps them ``sent``.

        Changing it affects messages sent afterwards only.
        """
        return self._store.delivery_delay

    @delivery_delay.setter
    def delivery_delay(self, value: float | None) -> None:
        self._store.delivery_delay = value

    @property
    def read_delay(self) -> float | None:
        """Seconds after delivery at which new outbound messages turn ``read``; ``None``: never read."""
        return self._store.read_delay

    @read_delay.setter
    def read_delay(self, value: float | None) -> None:
        self._store.read_delay = value

    @property
    def delivery_error_code(self) -> int | None:
        """When set (with ``delivery_delay``), new outbound messages turn ``failed`` with this code."""
        return self._store.delivery_error_code

    @delivery_error_code.setter
    def delivery_error_code(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError("delivery_error_code must be an integer or None")
        self._store.delivery_error_code = value

    @property
    def delivery_error_message(self) -> str | None:
        """The error text kept with a ``failed`` status of the progression."""
        return self._store.delivery_error_message

    @delivery_error_message.setter
    def delivery_error_message(self, value: str | None) -> None:
        if value is not None and not isinstance(value, str):
            raise ValueError("delivery_error_message must be a string or None")
        self._store.delivery_error_message = value

    @property
    def status_sequence(self) -> tuple[str, ...] | None:
        """Statuses each new outbound message shows on successive listings of its conversation, keeping the
        last one (``None``: no sequence). Changing it affects messages sent afterwards only.
        """
        return self._store.status_sequence

    @status_sequence.setter
    def status_sequence(self, value: list[str] | tuple[str, ...] | None) -> None:
        self._store.status_sequence = value

    def schedule_status(
        self,
        message_id: str,
        status: str,
        *,
        after: float = 0.0,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> StatusChange:
        """Have one message move to ``status`` by itself ``after`` seconds from now.

        The change shows from the first read (API or Python) once its time has come. Several changes may
        be queued for one message; none applies after ``failed``.

        :param message_id: Kapso id or wamid of the message.
        :param status: ``delivered``, ``read``, ``failed`` (or ``sent``, ``pending``, ``received``).
        :param after: seconds from now.
        :param error_code: for ``failed``, the WhatsApp error code, kept in ``metadata.error_code``.
        :param error_message: for ``failed``, the WhatsApp error text, kept in ``metadata.error_message``.
        :raises KeyError: for an unknown message.
        """
        return self._store.schedule_status(
            message_id, status, after=after, error_code=error_code, error_message=error_message
        )

    def pending_status_changes(self) -> list[StatusChange]:
        """Status changes scheduled and not applied yet, in time order."""
        return self._store.pending_status_changes()

    def _progression_json(self) -> dict[str, Any]:
        return {
            "delivery_delay": self.delivery_delay,
            "read_delay": self.read_delay,
            "delivery_error_code": self.delivery_error_code,
            "delivery_error_message": self.delivery_error_message,
            "status_sequence": None if self.status_sequence is None else list(self.status_sequence),
            "pending": [change.to_json() for change in self.pending_status_changes()],
        }

    def _set_progression(self, payload: dict[str, Any]) -> None:
        allowed = ("delivery_delay", "read_delay", "delivery_error_code", "delivery_error_message", "status_sequence")
        unknown = sorted(set(payload) - set(allowed))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        for name in allowed:
            if name in payload:
                setattr(self, name, payload[name])

    def deliver_inbound(
        self,
        conversation_id: str,
        content: str = "hi",
        message_type: str = "text",
        *,
        whatsapp_message_id: str | None = None,
        message_type_data: dict[str, Any] | None = None,
        media_url: str | None = None,
        reply_option_id: str | None = None,
        reply_option_title: str | None = None,
        interactive_type: str = "button",
        delay: float | None = None,
    ) -> dict[str, Any]:
        """Store a message from the customer in a conversation; returns its record.

        :param conversation_id: the conversation it arrives in.
        :param content: its human-readable content.
        :param message_type: one of the WhatsApp message types.
        :param whatsapp_message_id: its wamid (generated when ``None``).
        :param message_type_data: its type-specific data (``{"text": content}`` for text).
        :param media_url: URL of attached media.
        :param reply_option_id: make it a tap on the reply button or list row with this id: an
            ``interactive`` message whose ``message_type_data`` carries ``reply_option_id`` and
            ``reply_option_title`` (the shape of both OpenAPI files' ``InteractiveMessageData``).
        :param reply_option_title: the tapped option's title (also the ``content``); default: the id.
        :param interactive_type: ``button`` or ``list``: what was tapped.
        :param delay: deliver it this many seconds from now instead, in the background; returns
            ``{"scheduled": True, "conversation_id", "delay"}``.
        :raises KeyError: for an unknown conversation.
        """
        if reply_option_id is not None:
            title = reply_option_title or reply_option_id
            message_type, content = "interactive", title
            message_type_data = interactive_reply_data(reply_option_id, title, interactive_type)
        if message_type not in MESSAGE_TYPES:
            raise ValueError(f"message_type must be one of {MESSAGE_TYPES}")
        if delay is not None:
            if not isinstance(delay, int | float) or delay < 0:
                raise ValueError(f"delay: {delay!r} must be zero or a positive number of seconds")
            self._store.conversation(conversation_id)  # an unknown conversation fails now, not in a timer
            deliver = functools.partial(
                self.deliver_inbound,
                conversation_id,
                content,
                message_type,
                whatsapp_message_id=whatsapp_message_id,
                message_type_data=message_type_data,
                media_url=media_url,
            )
            self._reply_scheduler.later(float(delay), deliver)
            return {"scheduled": True, "conversation_id": conversation_id, "delay": float(delay)}
        return self._store.store_inbound(
            conversation_id,
            content=content,
            message_type=message_type,
            whatsapp_message_id=whatsapp_message_id,
            type_data=message_type_data,
            media_url=media_url,
        )

    def reply_to_question(
        self,
        choose: str | int | None = None,
        *,
        conversation_id: str | None = None,
        phone_number: str | None = None,
        text: str | None = None,
        reply_option_id: str | None = None,
        reply_option_title: str | None = None,
        into_conversation_id: str | None = None,
        after_messages: int = 1,
        after_reads: int = 0,
        delay: float = 0.0,
    ) -> dict[str, Any]:
        """Play the person answering the next question: arm a reply delivered once the question is sent.

        The reply goes out after the ``after_messages``-th outbound message into the conversation (or to the
        number) counted from now, then after ``after_reads`` listings of that conversation's messages
        (so the waiting task has looked at least that often; a deferred task's trigger reads from the
        second listing on), then after ``delay`` seconds. Returns the armed reply as JSON; its ``state``
        becomes ``delivered`` (``delivered`` holds the record) or ``failed`` (``error`` says why).

        :param choose: tap the option of the latest interactive message there with this title or id
            (ignoring case), or with this index.
        :param conversation_id: the conversation to watch; or
        :param phone_number: the number whose conversation to watch.
        :param text: instead of a tap, type this text.
        :param reply_option_id: instead, tap an option with this id, whatever was asked (a stale button).
        :param reply_option_title: the title that goes with ``reply_option_id``.
        :param into_conversation_id: deliver into this conversation instead (another person answering).
        :param after_messages: the outbound message to wait for (1: the next one).
        :param after_reads: listings of the conversation to wait for after that.
        :param delay: seconds to wait after that.
        """
        reply = self._reply_scheduler.arm(
            conversation_id=conversation_id,
            phone_number=phone_number,
            choose=choose,
            text=text,
            reply_option_id=reply_option_id,
            reply_option_title=reply_option_title,
            into_conversation_id=into_conversation_id,
            after_messages=after_messages,
            after_reads=after_reads,
            delay=delay,
        )
        return reply.to_json()

    def armed_replies(self) -> list[dict[str, Any]]:
        """Every reply armed with :meth:`reply_to_question` since the last reset, as JSON."""
        return [reply.to_json() for reply in self._reply_scheduler.replies()]

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
    ) -> None:
        """Make matching ``/api/v1`` requests misbehave; see :class:`FaultKind` for what each kind does.

        The first rule (in the order added) that matches and fires decides a request's fate. Faults are
        decided after ``latency`` and before rate limiting and authentication: the kinds that do not
        process the request (``rate_limit``, ``*_before_store``, ``html_error``) answer whatever the key;
        the others process it normally (401, 422 and all) and then replace or delay the answer.

        :param kind: a :class:`FaultKind` or its string value.
        :param method: only this HTTP method.
        :param path: regular expression or substring searched in the path below ``/api/v1``.
        :param count: the next ``count`` matching requests are hit (``None``: all of them).
        :param probability: instead of ``count``, hit this fraction of matching requests.
        :param status: status of the faulty answer.
        :param delay: seconds to wait before the faulty answer (``slow_after_store``: default 10).
        :param retry_after: ``Retry-After`` of a ``rate_limit`` fault (default 1).
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
        )
        with self._lock:
            self._faults.append(fault)

    @property
    def faults(self) -> list[Fault]:
        """The fault rules still active (copies)."""
        with self._lock:
            return [copy.copy(fault) for fault in self._faults]

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget conversations, messages, templates, requests, faults and rate-limit counters.

        The API key and the default WhatsApp config stay.
        """
        with self._lock:
            self._store.reset()
            for group in self._groups:
                group.reset()
            self._requests.clear()
            self._faults.clear()
            self._windows.clear()
        self._reply_scheduler.cancel_all()

    # -- request handling (called from server threads) -------------------------------------------------

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path) and fault.fires(self._rng):
                    if fault.exhausted:
                        self._faults.remove(fault)
                    return fault
        return None

    def _rate_limit_headers(self, key: str) -> tuple[dict[str, str], int | None]:
        """Count a request against its key's window; returns the headers and, if over, Retry-After."""
        if self.rate_limit is None:
            return {}, None
        now = time.monotonic()
        with self._lock:
            start, used = self._windows.get(key, (now, 0))
            if now - start >= self.rate_limit_window:
                start, used = now, 0
            used += 1
            self._windows[key] = (start, used)
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
        }
        if used <= self.rate_limit:
            return headers, None
        return headers, max(1, math.ceil(start + self.rate_limit_window - now))

    def _rate_limited(self, retry_after: int, headers: dict[str, str]) -> Response:
        response = error(
            429,
            f"Too many requests for this API key. Retry after {retry_after} seconds.",
            error="Rate limit exceeded",
        )
        response.headers.update(headers)
        response.headers["Retry-After"] = str(retry_after)
        return response

    def _handle_api(self, request: RecordedRequest) -> Outcome:
        """Answer one ``/api/v1`` request, faults included (server threads call this)."""
        self._wait(self.latency)
        fault = self._take_fault(request.method, request.path)
        if fault is not None and not fault.kind.processes_request:
            return self._fault_outcome(fault, None)
        response = self._process(request)
        if fault is not None:
            return self._fault_outcome(fault, response)
        return Outcome(response)

    def _fault_outcome(self, fault: Fault, processed: Response | None) -> Outcome:
        kind = fault.kind
        delay = fault.delay or 0.0
        kept = {name: value for name, value in (processed.headers if processed else {}).items() if "RateLimit" in name}
        if kind is FaultKind.RATE_LIMIT:
            headers = {"X-RateLimit-Remaining": "0"}
            if self.rate_limit is not None:
                headers["X-RateLimit-Limit"] = str(self.rate_limit)
            response = self._rate_limited(fault.retry_after if fault.retry_after is not None else 1, headers)
            response.status = fault.status or 429
            return Outcome(response, delay)
        if kind in (FaultKind.SERVER_ERROR_BEFORE_STORE, FaultKind.SERVER_ERROR_AFTER_STORE):
            response = error(fault.status or 500, "Failed to send message: WhatsApp service error")
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
        response = Response(fault.status or 502, _HTML_BAD_GATEWAY, "text/html; charset=utf-8")
        return Outcome(response, delay)

    def _process(self, request: RecordedRequest) -> Response:
        key = request.headers.get(API_KEY_HEADER) or ""
        rate_headers, retry_after = self._rate_limit_headers(key)
        if retry_after is not None:
            return self._rate_limited(retry_after, rate_headers)
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            response = error(401, "Missing or invalid API key (X-API-Key header)", error="Unauthorized")
        else:
            response = self._route(request)
        response.headers.update(rate_headers)
        return response

    def _route(self, request: RecordedRequest) -> Response:
        path = request.path
        if len(path) > 1:
            path = path.rstrip("/")
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            # Kapso (Rails) answers an unknown method on a known path with 404 too.
            if match is None or method != request.method:
                continue
            body: Any = None
            if request.body.strip():
                try:
                    body = json.loads(request.body)
                except ValueError:
                    return error(400, "body: is not valid JSON")
            try:
                return handler(match, request.query, body)
            except ValidationError as exc:
                return validation_error(exc)
            except NotFoundError as exc:
                return error(404, f"{exc.resource} not found")
            except ApiError as exc:
                return exc.response
            except Exception as exc:
                # A simulator bug must show up as a readable 500, not as a dropped connection that a
                # client under test would take for a network fault.
                return error(500, f"Kapso simulator internal error: {type(exc).__name__}: {exc}")
        return error(404, f"No route matches {request.method} {request.full_path}")

    # -- endpoints --------------------------------------------------------------------------------------

    def _list_conversations(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        phone = first(query, "q[phone_number_eq]", "phone_number")
        status = first(query, "q[status_eq]", "status")
        config_id = first(query, "q[whatsapp_config_id_eq]", "whatsapp_config_id")
        customer_id = first(query, "q[whatsapp_config_customer_id_eq]", "customer_id")
        if status is not None and status not in ("active", "ended"):
            raise ValidationError("q[status_eq]", "must be one of: active, ended")
        bounds = {
            name: parse_time(value, name)
            for name in ("q[last_active_at_gteq]", "q[last_active_at_lteq]")
            if (value := query.get(name))
        }
        with self._lock:
            configs = self._store.configs
            selected = []
            for conversation in self._store.conversations.values():
                if phone is not None and normalize_phone(conversation["phone_number"]) != normalize_phone(phone):
                    continue
                if status is not None and conversation["status"] != status:
                    continue
                if config_id is not None and conversation["whatsapp_config_id"] != config_id:
                    continue
                owner = configs.get(conversation["whatsapp_config_id"], {}).get("customer_id")
                if customer_id is not None and owner != customer_id:
                    continue
                active = parse_time(conversation["last_active_at"], "last_active_at")
                if "q[last_active_at_gteq]" in bounds and active < bounds["q[last_active_at_gteq]"]:
                    continue
                if "q[last_active_at_lteq]" in bounds and active > bounds["q[last_active_at_lteq]"]:
                    continue
                selected.append(copy.deepcopy(conversation))
        selected.sort(key=lambda conversation: str(conversation["last_active_at"]), reverse=True)
        return paginate(selected, query)

    def _get_conversation(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._store.conversation(unquote(match["id"]))})

    def _update_conversation(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = unquote(match["id"])
        self._store.conversation(conversation_id)
        update = body.get("whatsapp_conversation") if isinstance(body, dict) else None
        if not isinstance(update, dict):
            raise ValidationError("whatsapp_conversation", "is required")
        status = update.get("status")
        if status not in ("active", "ended"):
            raise ValidationError("whatsapp_conversation.status", "must be one of: active, ended")
        with self._lock:
            record = self._store.conversations[conversation_id]
            record["status"] = status
            record["updated_at"] = self._store.now()
        return json_response(200, {"data": self._store.conversation(conversation_id)})

    def _list_messages(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = unquote(match["id"])
        self._store.conversation(conversation_id)
        self._store.advance_on_listing(conversation_id)
        self._reply_scheduler.on_listing(conversation_id)
        # Newest first, as a chat history API usually pages; the files do not say, see NOTES.md.
        records = list(reversed(self._store.list_messages(conversation_id)))
        return paginate(records, query)

    def _send_in_conversation(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = unquote(match["id"])
        self._store.conversation(conversation_id)
        message = validate_message(body, require_content=True)
        record = self._store.store_outbound(conversation_id, message)
        self._reply_scheduler.on_outbound(record)
        return json_response(201, {"data": record})

    def _resolve_config(self, config_id: object, customer_id: object) -> str:
        with self._lock:
            configs = self._store.configs
            if config_id not in (None, ""):
                if not isinstance(config_id, str) or config_id not in configs:
                    raise ApiError(config_not_found())
                return config_id
            if customer_id not in (None, ""):
                for record in configs.values():
                    if record.get("customer_id") == customer_id:
                        return str(record["id"])
                raise ApiError(config_not_found())
            return str(self._store.default_config_id)

    def _send_to_phone(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        message = body.get("message") if isinstance(body, dict) else None
        if isinstance(message, dict):
            phone = message.get("phone_number") or query.get("phone_number")
            if phone in (None, ""):
                # openapi-whatsapp.yaml documents a 400 (not a 422) for this one case.
                raise ApiError(error(400, "message.phone_number: is required", error="Phone number is required"))
        message = validate_message(body, require_content=False)
        phone = message.get("phone_number") or query.get("phone_number")
        if not isinstance(phone, str) or not normalize_phone(phone):
            raise ValidationError("message.phone_number", "is not a valid phone number")
        top = body if isinstance(body, dict) else {}
        config_id = self._resolve_config(
            query.get("whatsapp_config_id") or top.get("whatsapp_config_id"),
            query.get("customer_id") or top.get("customer_id"),
        )
        with self._lock:
            conversation = self._store.find_or_create_conversation(phone, config_id)
            record = self._store.store_outbound(conversation["id"], message)
        self._reply_scheduler.on_outbound(record)
        return json_response(201, {"data": record})

    def _list_templates(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        name = first(query, "q[name_cont]")
        language = first(query, "q[language_code_eq]")
        category = first(query, "q[category_eq]")
        status = first(query, "q[status_eq]")
        waba = first(query, "q[business_account_id_eq]", "business_account_id")
        config_id = first(query, "q[whatsapp_config_id_eq]", "whatsapp_config_id")
        with self._lock:
            selected = [
                copy.deepcopy(template)
                for template in self._store.templates.values()
                if (name is None or name.lower() in template["name"].lower())
                and (language is None or template["language_code"] == language)
                and (category is None or template["category"] == category)
                and (status is None or template["status"] == status)
                and (waba is None or template["business_account_id"] == waba)
                and (config_id is None or config_id in template["whatsapp_config_ids"])
            ]
        return paginate(selected, query)

    def _get_template(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._store.template(unquote(match["id"]))})

    def _send_template(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        template = self._store.template(unquote(match["id"]))
        request = body.get("template") if isinstance(body, dict) else None
        if not isinstance(request, dict):
            raise ValidationError("template", "is required" if request is None else "must be an object")
        phone = request.get("phone_number")
        if not isinstance(phone, str) or not normalize_phone(phone):
            raise ValidationError("template.phone_number", "is required" if phone is None else "is invalid")
        if template["status"] != "approved":
            raise ValidationError("template", f"is {template['status']}; only approved templates can be sent")
        params = request.get("template_parameters")
        placeholders = template_placeholders(template["content"])
        rendered = template["content"]
        if template["id"] in self._store.lenient_templates:
            if params is None:
                params = []
            if not (
                (isinstance(params, list) and all(isinstance(v, str) for v in params))
                or (isinstance(params, dict) and all(isinstance(v, str) for v in params.values()))
            ):
                raise ValidationError("template.template_parameters", "must be an array or an object of strings")
        elif template["parameter_format"] == "NAMED":
            if params is None:
                params = {}
            if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
                raise ValidationError(
                    "template.template_parameters", "must be an object of strings for a named template"
                )
            missing = [name for name in placeholders if name not in params]
            if missing:
                raise ApiError(
                    json_response(
                        422,
                        {
                            "error": f"Missing template parameters: {', '.join(missing)}",
                            "status": 422,
                            "message": f"template.template_parameters: missing {', '.join(missing)}",
                        },
                    )
                )
            for name in placeholders:
                rendered = re.sub(r"\{\{\s*" + re.escape(name) + r"\s*\}\}", params[name], rendered)
        else:
            if params is None:
                params = []
            if not isinstance(params, list) or not all(isinstance(v, str) for v in params):
                raise ValidationError(
                    "template.template_parameters", "must be an array of strings for a positional template"
                )
            if len(params) != template["parameter_count"]:
                text = f"Template requires {template['parameter_count']} parameters, but {len(params)} were provided"
                raise ApiError(
                    json_response(
                        422, {"error": text, "status": 422, "message": f"template.template_parameters: {text}"}
                    )
                )
            for index, value in enumerate(params, start=1):
                rendered = re.sub(r"\{\{\s*" + str(index) + r"\s*\}\}", value, rendered)
        header_type = request.get("header_type")
        if header_type is not None and header_type not in ("text", "image", "video", "document"):
            raise ValidationError("template.header_type", "must be one of: text, image, video, document")
        config_id = self._resolve_config(request.get("whatsapp_config_id"), request.get("customer_id"))
        if request.get("whatsapp_config_id") is None and request.get("customer_id") is None:
            config_id = template["whatsapp_config_ids"][0]
        elif config_id not in template["whatsapp_config_ids"]:
            raise ApiError(
                error(
                    422,
                    "template: is not available on this WhatsApp configuration",
                    error="WhatsApp configuration not found",
                )
            )
        message: dict[str, Any] = {
            "message_type": "template",
            "content": rendered,
            "template_name": template["name"],
            "template_language": template["language_code"],
            "template_params": params,
        }
        for key in ("header_type", "header_params", "header_filename"):
            if request.get(key) is not None:
                message[key] = request[key]
        with self._lock:
            conversation = self._store.find_or_create_conversation(phone, config_id)
            record = self._store.store_outbound(conversation["id"], message)
            self._store.messages[-1]["metadata"]["template_id"] = template["id"]
        return json_response(
            200,
            {
                "status": "success",
                "message": "Template message sent successfully",
                "template_id": template["id"],
                "template_name": template["name"],
                "response": {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": phone, "wa_id": normalize_phone(phone)}],
                    "messages": [{"id": record["whatsapp_message_id"], "message_status": "accepted"}],
                },
            },
        )

    def _list_configs(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        waba = first(query, "q[business_account_id_eq]", "business_account_id")
        name = first(query, "q[name_cont]")
        with self._lock:
            selected = [
                copy.deepcopy(config)
                for config in self._store.configs.values()
                if (waba is None or config["business_account_id"] == waba)
                and (name is None or name.lower() in config["name"].lower())
            ]
        return paginate(selected, query)

    def _get_config(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._store.config(unquote(match["id"]))})

    # -- control surface --------------------------------------------------------------------------------

    def _handle_control(self, method: str, path: str, query: Mapping[str, str], body: bytes) -> Response:
        """Answer one ``/__kapso_simulator__`` request (server threads call this)."""
        try:
            payload: Any = json.loads(body) if body.strip() else {}
        except ValueError:
            return error(400, "body: is not valid JSON")
        if not isinstance(payload, dict):
            return error(400, "body: must be a JSON object")
        try:
            return self._control(method, path.rstrip("/"), query, payload)
        except NotFoundError as exc:
            return error(404, str(exc))
        except (TypeError, ValueError) as exc:
            return error(400, str(exc))
        except Exception as exc:
            return error(500, f"Kapso simulator internal error: {type(exc).__name__}: {exc}")

    def _control(self, method: str, path: str, query: Mapping[str, str], payload: dict[str, Any]) -> Response:
        if (method, path) == ("GET", "/requests"):
            return json_response(200, {"data": [request.to_json() for request in self.requests]})
        if (method, path) == ("GET", "/messages"):
            return json_response(200, {"data": self.messages(query.get("conversation_id"))})
        if (method, path) == ("GET", "/conversations"):
            return json_response(200, {"data": self.conversations()})
        if (method, path) == ("GET", "/faults"):
            return json_response(200, {"data": [fault.to_json() for fault in self.faults]})
        if (method, path) == ("POST", "/faults"):
            self.add_fault(**payload)
            return json_response(201, {"data": self.faults[-1].to_json()})
        if (method, path) == ("DELETE", "/faults"):
            self.clear_faults()
            return json_response(200, {"data": []})
        if (method, path) == ("POST", "/conversations"):
            return json_response(201, {"data": self.create_conversation(**payload)})
        if (method, path) == ("POST", "/templates"):
            return json_response(201, {"data": self.create_template(**payload)})
        if (method, path) == ("POST", "/reset"):
            self.reset()
            return json_response(200, {"data": {"reset": True}})
        if method == "POST" and (found := re.fullmatch(r"/messages/([^/]+)/status", path)):
            return json_response(200, {"data": self.set_message_status(unquote(found[1]), **payload)})
        if method == "POST" and (found := re.fullmatch(r"/messages/([^/]+)/schedule", path)):
            change = self.schedule_status(unquote(found[1]), **payload)
            return json_response(201, {"data": change.to_json()})
        if (method, path) == ("GET", "/progression"):
            return json_response(200, {"data": self._progression_json()})
        if (method, path) == ("POST", "/progression"):
            self._set_progression(payload)
            return json_response(200, {"data": self._progression_json()})
        if (method, path) == ("POST", "/replies"):
            return json_response(201, {"data": self.reply_to_question(**payload)})
        if (method, path) == ("GET", "/replies"):
            return json_response(200, {"data": self.armed_replies()})
        if method == "POST" and (found := re.fullmatch(r"/conversations/([^/]+)/inbound", path)):
            return json_response(201, {"data": self.deliver_inbound(unquote(found[1]), **payload)})
        return error(404, f"No control endpoint {method} {CONTROL_PREFIX}{path}")


class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive: every answer has a Content-Length, as pooled clients need."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; with Nagle on, the second waits for the client's
        # delayed ACK (about 40 ms per request on Linux).
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Silent on purpose: test output stays readable, and nothing about a request is ever logged.
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > _MAX_BODY_BYTES:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        simulator = self.server.simulator
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(error(400, "Bad Content-Length or chunked encoding"))
            return
        split = urlsplit(self.path)
        path = split.path
        query = {name: values[-1] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            self._send(simulator._handle_control(self.command, path[len(CONTROL_PREFIX) :], query, body))
            return
        try:
            decoded: Any = json.loads(body) if body.strip() else None
        except ValueError:
            decoded = None
        is_api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        request = RecordedRequest(
            method=self.command,
            path=(path[len(API_PREFIX) :] or "/") if is_api else path,
            query=query,
            headers=Headers(self.headers.items()),
            json=decoded,
            body=body,
            full_path=path,
        )
        simulator._record(request)
        if not is_api:
            self._send(error(404, f"No route matches {self.command} {path}"))
            return
        outcome = simulator._handle_api(request)
        simulator._wait(outcome.delay)
        if outcome.response is None:
            self._drop()
            return
        self._send(outcome.response)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(response.body)
        except OSError:
            # The client gave up (a read timeout against slow_after_store, say); nothing left to do.
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: KapsoSimulator) -> None:
        self.simulator = simulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, a DNS lookup that can stall on loopback.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        # Idle keep-alive connections would otherwise keep answering after stop().
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
