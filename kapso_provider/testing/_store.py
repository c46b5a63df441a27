"""In-memory state of the Kapso simulator: configs, conversations, messages, templates."""

from __future__ import annotations

import base64
import copy
import math
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kapso_provider.testing._validation import (
    message_type_data,
    normalize_phone,
    summarize,
    template_placeholders,
)

__all__ = ["NotFoundError", "StatusChange", "Store", "utc_timestamp"]

#: Statuses a simulated message may be moved to. ``status`` is a free string in the files; these are the
#: ones WhatsApp reports, plus Kapso's inbound ``received``.
MESSAGE_STATUSES = frozenset({"pending", "sent", "delivered", "read", "failed", "received"})


@dataclass(frozen=True)
class StatusChange:
    """A status a message takes on by itself once its time comes, as a WhatsApp status webhook would.

    :param message_id: Kapso id of the message.
    :param status: the status it moves to.
    :param due: ``time.time()`` at which it moves.
    :param error_code: for ``failed``, the WhatsApp error code kept in ``metadata``.
    :param error_message: for ``failed``, the WhatsApp error text kept in ``metadata``.
    """

    message_id: str
    status: str
    due: float
    error_code: int | None = None
    error_message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The change as plain JSON data (for the control endpoints)."""
        return {
            "message_id": self.message_id,
            "status": self.status,
            "due_at": utc_timestamp(datetime.fromtimestamp(self.due, UTC)),
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


def _check_delay(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 or None")
    return float(value)


class NotFoundError(KeyError):
    """An id the simulator does not know.

    :param resource: human name of the resource ("Conversation").
    :param resource_id: the id asked for.
    """

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} not found: {resource_id}")
        self.resource = resource
        self.resource_id = resource_id

    def __str__(self) -> str:
        return str(self.args[0])


def utc_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``, the form every simulated record carries.

    :param moment: an aware datetime.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    """Thread-safe records of one simulator. Every public method returns deep copies.

    :param business_account_id: WABA id of the default config.
    """

    def __init__(self, *, business_account_id: str = "200000000000001") -> None:
        self.lock = threading.RLock()
        self._last_moment = datetime.now(UTC)
        self.project_id = str(uuid.uuid4())
        self.configs: dict[str, dict[str, Any]] = {}
        self.conversations: dict[str, dict[str, Any]] = {}
        #: Phone digits -> ids of the conversations with that number, in creation order: a send to a number
        #: looks its conversation up here instead of normalizing every stored number (a number never changes).
        self._conversations_by_phone: dict[str, list[str]] = {}
        self.messages: list[dict[str, Any]] = []
        self.templates: dict[str, dict[str, Any]] = {}
        #: Templates created without ``content`` or ``parameter_count``: their parameters are unknown, so
        #: sends are not held to a parameter count the test never chose.
        self.lenient_templates: set[str] = set()
        #: Status changes waiting for their time, applied whenever messages are read (no timer thread:
        #: a test sees the same outcome however busy the machine is, once the delay has passed).
        self.status_changes: list[StatusChange] = []
        self._delivery_delay: float | None = None
        self._read_delay: float | None = None
        #: The WhatsApp error an automatic failure carries (``delivery_delay`` or ``status_sequence``).
        self.delivery_error_code: int | None = None
        self.delivery_error_message: str | None = None
        self._status_sequence: tuple[str, ...] | None = None
        #: Kapso id -> (the sequence of a new outbound message, how many listings it has been through).
        self.sequences: dict[str, tuple[tuple[str, ...], int]] = {}
        self.default_config_id: str = self.add_config(
            name="Simulator WhatsApp",
            phone_number="+15550000000",
            business_account_id=business_account_id,
        )["id"]

    # -- time -------------------------------------------------------------------------------------------

    def now(self) -> str:
        """A timestamp strictly later than every one handed out before, so ordering by time is exact."""
        with self.lock:
            moment = datetime.now(UTC)
            if moment <= self._last_moment:
                moment = self._last_moment + timedelta(microseconds=1)
            self._last_moment = moment
            return utc_timestamp(moment)

    # -- status progression -----------------------------------------------------------------------------

    @property
    def delivery_delay(self) -> float | None:
        """Seconds after a send at which new outbound messages turn ``delivered``; ``None`` keeps them ``sent``."""
        return self._delivery_delay

    @delivery_delay.setter
    def delivery_delay(self, value: float | None) -> None:
        self._delivery_delay = _check_delay("delivery_delay", value)

    @property
    def read_delay(self) -> float | None:
        """Seconds after delivery at which new outbound messages turn ``read``; ``None``: never read."""
        return self._read_delay

    @read_delay.setter
    def read_delay(self, value: float | None) -> None:
        self._read_delay = _check_delay("read_delay", value)

    @property
    def status_sequence(self) -> tuple[str, ...] | None:
        """Statuses a new outbound message shows on successive listings of its conversation's messages."""
        return self._status_sequence

    @status_sequence.setter
    def status_sequence(self, value: list[str] | tuple[str, ...] | None) -> None:
        if value is None:
            self._status_sequence = None
            return
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            raise ValueError("status_sequence must be a non-empty list of statuses or None")
        unknown = [status for status in value if status not in MESSAGE_STATUSES]
        if unknown:
            raise ValueError(f"status_sequence: unknown status(es) {unknown}; allowed: {sorted(MESSAGE_STATUSES)}")
        self._status_sequence = tuple(value)

    def advance_on_listing(self, conversation_id: str) -> None:
        """One listing of a conversation's messages through the API: each message with a sequence shows its
        next status (and keeps the last one once the sequence is spent).

        :param conversation_id: the conversation listed.
        """
        with self.lock:
            for record in self.messages:
                script = self.sequences.get(record["id"])
                if script is None or record["whatsapp_conversation_id"] != conversation_id:
                    continue
                sequence, listings = script
                status = sequence[min(listings, len(sequence) - 1)]
                self.sequences[record["id"]] = (sequence, listings + 1)
                if record["status"] == "failed" or record["status"] == status:
                    continue
                self._set_status(record, status, self.delivery_error_code, self.delivery_error_message)
                record["updated_at"] = self.now()

    def _find_message(self, message_id: str) -> dict[str, Any]:
        for record in self.messages:
            if message_id in (record["id"], record["whatsapp_message_id"]):
                return record
        raise NotFoundError("Message", message_id)

    def schedule_status(
        self,
        message_id: str,
        status: str,
        *,
        after: float = 0.0,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> StatusChange:
        """Have a message move to ``status`` by itself ``after`` seconds from now.

        :param message_id: Kapso id (or wamid) of the message.
        :param status: the status it moves to.
        :param after: seconds from now.
        :param error_code: for ``failed``, the WhatsApp error code kept in ``metadata``.
        :param error_message: for ``failed``, the WhatsApp error text kept in ``metadata``.
        :raises NotFoundError: for an unknown message.
        """
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"status must be one of {sorted(MESSAGE_STATUSES)}")
        delay = _check_delay("after", after)
        assert delay is not None
        with self.lock:
            record = self._find_message(message_id)
            change = StatusChange(
                message_id=record["id"],
                status=status,
                due=time.time() + delay,
                error_code=error_code,
                error_message=error_message,
            )
            self.status_changes.append(change)
            return change

    def _schedule_progression(self, record: dict[str, Any], sent_at: float) -> None:
        """Queue the automatic changes of a new outbound message, from the progression settings."""
        if self._status_sequence is not None:
            self.sequences[record["id"]] = (self._status_sequence, 0)
        if self._delivery_delay is None:
            return
        delivered_at = sent_at + self._delivery_delay
        if self.delivery_error_code is not None or self.delivery_error_message is not None:
            self.status_changes.append(
                StatusChange(
                    record["id"],
                    "failed",
                    delivered_at,
                    error_code=self.delivery_error_code,
                    error_message=self.delivery_error_message,
                )
            )
            return
        self.status_changes.append(StatusChange(record["id"], "delivered", delivered_at))
        if self._read_delay is not None:
            self.status_changes.append(StatusChange(record["id"], "read", delivered_at + self._read_delay))

    def apply_due_status_changes(self) -> None:
        """Apply, in time order, every scheduled change whose time has come."""
        with self.lock:
            if not self.status_changes:
                return
            now = time.time()
            due = sorted((change for change in self.status_changes if change.due <= now), key=lambda c: c.due)
            if not due:
                return
            self.status_changes = [change for change in self.status_changes if change.due > now]
            for change in due:
                try:
                    record = self._find_message(change.message_id)
                except NotFoundError:
                    continue  # the message was forgotten by reset()
                if record["status"] == "failed":
                    continue  # WhatsApp reports nothing after a failure
                self._set_status(record, change.status, change.error_code, change.error_message)
                # The change happened when it was due, not when someone looked.
                record["updated_at"] = utc_timestamp(datetime.fromtimestamp(change.due, UTC))

    def pending_status_changes(self) -> list[StatusChange]:
        """Scheduled changes not applied yet, in time order."""
        with self.lock:
            self.apply_due_status_changes()
            return sorted(self.status_changes, key=lambda change: change.due)

    # -- configs ----------------------------------------------------------------------------------------

    def add_config(
        self,
        *,
        name: str,
        phone_number: str,
        business_account_id: str,
        customer_id: str | None = None,
        kind: str = "production",
        config_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a WhatsApp config (a business phone number).

        :param name: config name.
        :param phone_number: the business phone number in international format.
        :param business_account_id: its WABA id.
        :param customer_id: owning customer, if any.
        :param kind: ``production`` or ``sandbox``.
        :param config_id: its id (a new uuid when ``None``).
        """
        with self.lock:
            if config_id is not None and config_id in self.configs:
                raise ValueError(f"a WhatsApp config with id {config_id!r} exists already")
            stamp = self.now()
            digits = normalize_phone(phone_number)
            record: dict[str, Any] = {
                "id": config_id or str(uuid.uuid4()),
                "name": name,
                "display_name": f"{name} ({phone_number})",
                "phone_number_id": "1" + digits.rjust(14, "0")[-14:],
                "business_account_id": business_account_id,
                "kind": kind,
                "display_phone_number": phone_number,
                "display_phone_number_normalized": digits,
                "is_coexistence": False,
                "webhook_verified_at": stamp,
                "inbound_processing_enabled": True,
                "calls_enabled": False,
                "created_at": stamp,
                "updated_at": stamp,
            }
            if customer_id is not None:
                record["customer_id"] = customer_id
            self.configs[record["id"]] = record
            return copy.deepcopy(record)

    def config(self, config_id: str) -> dict[str, Any]:
        """One config by id.

        :param config_id: the config id.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            if config_id not in self.configs:
                raise NotFoundError("WhatsApp config", config_id)
            return copy.deepcopy(self.configs[config_id])

    # -- conversations ----------------------------------------------------------------------------------

    def create_conversation(
        self,
        phone_number: str,
        whatsapp_config_id: str | None = None,
        *,
        contact_name: str | None = None,
        status: str = "active",
    ) -> dict[str, Any]:
        """Create a conversation with a customer.

        :param phone_number: the customer's phone number.
        :param whatsapp_config_id: the business number it belongs to (default config when ``None``).
        :param contact_name: the customer's profile name, if known.
        :param status: ``active`` or ``ended``.
        :raises NotFoundError: for an unknown config.
        """
        if status not in ("active", "ended"):
            raise ValueError("status must be 'active' or 'ended'")
        if not normalize_phone(phone_number):
            raise ValueError("phone_number must contain digits")
        with self.lock:
            config_id = whatsapp_config_id or self.default_config_id
            if config_id not in self.configs:
                raise NotFoundError("WhatsApp config", config_id)
            stamp = self.now()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "phone_number": phone_number,
                "status": status,
                "last_active_at": stamp,
                "whatsapp_config_id": config_id,
                "created_at": stamp,
                "updated_at": stamp,
            }
            if contact_name is not None:
                record["contact_name"] = contact_name
            self.conversations[record["id"]] = record
            self._conversations_by_phone.setdefault(normalize_phone(phone_number), []).append(record["id"])
            return copy.deepcopy(record)

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """One conversation by id.

        :param conversation_id: the conversation id.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            if conversation_id not in self.conversations:
                raise NotFoundError("Conversation", conversation_id)
            return copy.deepcopy(self.conversations[conversation_id])

    def find_or_create_conversation(self, phone_number: str, config_id: str) -> dict[str, Any]:
        """The active conversation of a phone number on a config, created when there is none.

        :param phone_number: the customer's phone number (any notation).
        :param config_id: the config to look in.
        """
        digits = normalize_phone(phone_number)
        with self.lock:
            same_number = (self.conversations.get(id_) for id_ in self._conversations_by_phone.get(digits, ()))
            candidates = [
                conversation
                for conversation in same_number
                if conversation is not None
                and conversation["status"] == "active"
                and conversation["whatsapp_config_id"] == config_id
            ]
            if candidates:
                latest = max(candidates, key=lambda conversation: str(conversation["last_active_at"]))
                return copy.deepcopy(latest)
            # Kapso stores the number in international form whatever notation the send used.
            return self.create_conversation("+" + digits, config_id)

    # -- messages ---------------------------------------------------------------------------------------

    @staticmethod
    def new_wamid(phone_number: str) -> str:
        """A WhatsApp message id in the shape Meta hands out (``wamid.`` + base64).

        :param phone_number: the customer's number, which Meta encodes into the id.
        """
        raw = normalize_phone(phone_number).encode() + b"\x15\x02\x00\x11\x18\x12" + uuid.uuid4().bytes
        return "wamid." + base64.b64encode(raw).decode()

    def _touch_conversation(self, conversation_id: str, stamp: str) -> None:
        conversation = self.conversations[conversation_id]
        conversation["last_active_at"] = stamp
        conversation["updated_at"] = stamp

    def store_outbound(self, conversation_id: str, message: dict[str, Any]) -> dict[str, Any]:
        """Store a validated outbound message as Kapso would after WhatsApp accepted it.

        :param conversation_id: the conversation to store it in.
        :param message: the validated ``message`` object of the send.
        :raises NotFoundError: for an unknown conversation.
        """
        message_type = str(message.get("message_type", "text"))
        content = message.get("content")
        metadata: dict[str, Any] = {}
        if message_type == "template":
            metadata = {
                key: copy.deepcopy(message[key])
                for key in ("template_name", "template_language", "template_params")
                if message.get(key) is not None
            }
        elif message_type == "contacts":
            metadata = {"contacts_data": message_type_data(message, message_type)["contacts"]}
        with self.lock:
            conversation = self.conversations.get(conversation_id)
            if conversation is None:
                raise NotFoundError("Conversation", conversation_id)
            stamp = self.now()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "phone_number": conversation["phone_number"],
                "message_type": message_type,
                "content": content if content else summarize(message, message_type),
                "direction": "outbound",
                "status": "sent",
                "processing_status": "processed",
                "whatsapp_message_id": self.new_wamid(conversation["phone_number"]),
                "metadata": metadata,
                "message_type_data": copy.deepcopy(message_type_data(message, message_type)),
                "whatsapp_conversation_id": conversation_id,
                "whatsapp_config_id": conversation["whatsapp_config_id"],
                "created_at": stamp,
                "updated_at": stamp,
            }
            if isinstance(message.get("media_url"), str):
                record["media_url"] = message["media_url"]
            self.messages.append(record)
            self._touch_conversation(conversation_id, stamp)
            self._schedule_progression(record, time.time())
            return copy.deepcopy(record)

    def store_inbound(
        self,
        conversation_id: str,
        *,
        content: str,
        message_type: str,
        whatsapp_message_id: str | None,
        type_data: dict[str, Any] | None,
        media_url: str | None,
    ) -> dict[str, Any]:
        """Store a message the customer sent.

        :param conversation_id: the conversation it arrives in.
        :param content: its human-readable content.
        :param message_type: one of the WhatsApp message types.
        :param whatsapp_message_id: its wamid (generated when ``None``).
        :param type_data: its ``message_type_data`` (``{"text": content}`` for text when ``None``).
        :param media_url: URL of attached media, if any.
        :raises NotFoundError: for an unknown conversation.
        """
        with self.lock:
            conversation = self.conversations.get(conversation_id)
            if conversation is None:
                raise NotFoundError("Conversation", conversation_id)
            stamp = self.now()
            if type_data is None:
                type_data = {"text": content} if message_type == "text" else {}
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "phone_number": conversation["phone_number"],
                "message_type": message_type,
                "content": content,
                "direction": "inbound",
                "status": "received",
                "processing_status": "processed",
                "whatsapp_message_id": whatsapp_message_id or self.new_wamid(conversation["phone_number"]),
                "metadata": {},
                "message_type_data": copy.deepcopy(type_data),
                "whatsapp_conversation_id": conversation_id,
                "whatsapp_config_id": conversation["whatsapp_config_id"],
                "created_at": stamp,
                "updated_at": stamp,
            }
            if media_url is not None:
                record["media_url"] = media_url
            self.messages.append(record)
            self._touch_conversation(conversation_id, stamp)
            return copy.deepcopy(record)

    def list_messages(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Messages in insertion order, optionally of one conversation.

        :param conversation_id: restrict to this conversation.
        """
        with self.lock:
            self.apply_due_status_changes()
            return [
                copy.deepcopy(record)
                for record in self.messages
                if conversation_id is None or record["whatsapp_conversation_id"] == conversation_id
            ]

    def set_message_status(
        self,
        message_id: str,
        status: str,
        *,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> dict[str, Any]:
        """Move a message to a new status, as a WhatsApp status webhook would.

        Changes scheduled for the message and not applied yet, and its status sequence, are dropped: the
        test decided its fate.

        :param message_id: Kapso id (or wamid) of the message.
        :param status: the new status.
        :param error_code: WhatsApp error code, kept in ``metadata`` for ``failed``.
        :param error_message: WhatsApp error text, kept in ``metadata`` for ``failed``.
        :raises NotFoundError: for an unknown message.
        """
        if status not in MESSAGE_STATUSES:
            raise ValueError(f"status must be one of {sorted(MESSAGE_STATUSES)}")
        with self.lock:
            self.apply_due_status_changes()
            record = self._find_message(message_id)
            self.status_changes = [change for change in self.status_changes if change.message_id != record["id"]]
            self.sequences.pop(record["id"], None)
            self._set_status(record, status, error_code, error_message)
            record["updated_at"] = self.now()
            return copy.deepcopy(record)

    @staticmethod
    def _set_status(record: dict[str, Any], status: str, error_code: int | None, error_message: str | None) -> None:
        record["status"] = status
        if status == "failed":
            # The files define no error field on messages; Kapso's metadata is the free-form bag.
            if error_code is not None:
                record["metadata"]["error_code"] = error_code
            if error_message is not None:
                record["metadata"]["error_message"] = error_message

    # -- templates --------------------------------------------------------------------------------------

    def create_template(
        self,
        *,
        name: str,
        language: str,
        category: str,
        status: str,
        content: str | None,
        parameter_count: int | None,
        components: list[dict[str, Any]] | None,
        whatsapp_config_ids: list[str] | None,
    ) -> dict[str, Any]:
        """Store a template; see :meth:`KapsoSimulator.create_template`."""
        if category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
            raise ValueError("category must be MARKETING, UTILITY or AUTHENTICATION")
        if status not in ("draft", "submitted", "approved", "rejected", "disabled", "removed"):
            raise ValueError(f"unknown template status {status!r}")
        body = content if content is not None else "Hello from the Kapso simulator!"
        placeholders = template_placeholders(body)
        named = any(not name_.isdigit() for name_ in placeholders)
        with self.lock:
            config_ids = list(whatsapp_config_ids or [self.default_config_id])
            for config_id in config_ids:
                if config_id not in self.configs:
                    raise NotFoundError("WhatsApp config", config_id)
            stamp = self.now()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "name": name,
                "language_code": language,
                "category": category,
                "status": status,
                "content": body,
                "parameter_count": len(placeholders) if parameter_count is None else parameter_count,
                "parameter_format": "NAMED" if named else "POSITIONAL",
                "business_account_id": self.configs[config_ids[0]]["business_account_id"],
                "whatsapp_config_ids": config_ids,
                "components": (
                    copy.deepcopy(components) if components is not None else [{"type": "BODY", "text": body}]
                ),
                "metadata": {},
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.templates[record["id"]] = record
            if content is None and parameter_count is None:
                self.lenient_templates.add(record["id"])
            return copy.deepcopy(record)

    def template(self, template_id: str) -> dict[str, Any]:
        """One template by id.

        :param template_id: the template id.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            if template_id not in self.templates:
                raise NotFoundError("Template", template_id)
            return copy.deepcopy(self.templates[template_id])

    def reset(self) -> None:
        """Forget conversations, messages, templates and added configs; keep the default config."""
        with self.lock:
            default = self.configs[self.default_config_id]
            self.configs.clear()
            self.configs[self.default_config_id] = default
            self.conversations.clear()
            self._conversations_by_phone.clear()
            self.messages.clear()
            self.templates.clear()
            self.lenient_templates.clear()
            self.status_changes.clear()
            self.sequences.clear()
