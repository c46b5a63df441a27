"""In-memory state of the Kapso simulator: business numbers (configs), conversations, messages, templates.

One store serves every API generation: a message sent through one is read through the others, as in
Kapso. Records are kept in v1's shape (the richest the files define); each API renders its own view.
Every public method is thread-safe and returns copies, so nothing outside can change a record behind the
store's back.
"""

from __future__ import annotations

import base64
import copy
import threading
import time
import uuid
from typing import Any

from kapso_provider.testing._clock import Clock
from kapso_provider.testing._errors import NotFoundError
from kapso_provider.testing._progression import Progression, StatusChange, check_delay, check_status
from kapso_provider.testing._templates import TemplateBook
from kapso_provider.testing._validation import message_type_data, normalize_phone, summarize

__all__ = ["NotFoundError", "StatusChange", "Store"]

CONVERSATION_STATUSES = ("active", "ended")
#: Config fields a test may change after creation.
_CONFIG_UPDATABLE = frozenset({"name", "kind", "customer_id", "inbound_processing_enabled", "calls_enabled"})


class Store:
    """Thread-safe records of one simulator.

    :param clock: Kapso's clock (a fresh one without offset when ``None``).
    :param business_account_id: WABA id of the default config.
    """

    def __init__(self, *, clock: Clock | None = None, business_account_id: str = "200000000000001") -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.project_id = str(uuid.uuid4())
        self.progression = Progression(self.clock)
        self.templates = TemplateBook(
            self.lock, self.clock, lambda config_id: self.config(config_id)["business_account_id"]
        )
        self._configs: dict[str, dict[str, Any]] = {}
        self._conversations: dict[str, dict[str, Any]] = {}
        #: Phone digits -> ids of the conversations with that number, in creation order: a send to a number
        #: looks its conversation up here instead of normalizing every stored number (a number never changes).
        self._conversations_by_phone: dict[str, list[str]] = {}
        self._messages: list[dict[str, Any]] = []
        #: Kapso id and wamid -> record.
        self._message_index: dict[str, dict[str, Any]] = {}
        #: Kapso id -> the status events of the message, oldest first (what WhatsApp reported).
        self._history: dict[str, list[dict[str, Any]]] = {}
        #: Kapso id -> the message as a current-API send carried it (Meta's shape).
        self._meta: dict[str, dict[str, Any]] = {}
        self.default_config_id: str = self.add_config(
            name="Simulator WhatsApp",
            phone_number="+15550000000",
            business_account_id=business_account_id,
        )["id"]

    def now(self) -> str:
        """A timestamp of now on Kapso's clock, later than every one handed out before."""
        return self.clock.stamp()

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
        phone_number_id: str | None = None,
    ) -> dict[str, Any]:
        """Create a WhatsApp config (a business phone number).

        :param name: config name.
        :param phone_number: the business phone number in international format.
        :param business_account_id: its WABA id.
        :param customer_id: owning customer, if any.
        :param kind: ``production`` or ``sandbox``.
        :param config_id: its id (a new uuid when ``None``).
        :param phone_number_id: Meta's id of the number (derived from the number when ``None``).
        """
        digits = normalize_phone(phone_number)
        with self.lock:
            if config_id is not None and config_id in self._configs:
                raise ValueError(f"a WhatsApp config with id {config_id!r} exists already")
            pnid = phone_number_id or "1" + digits.rjust(14, "0")[-14:]
            if any(config["phone_number_id"] == pnid for config in self._configs.values()):
                raise ValueError(f"a WhatsApp config with phone_number_id {pnid} exists already")
            stamp = self.clock.stamp()
            record: dict[str, Any] = {
                "id": config_id or str(uuid.uuid4()),
                "name": name,
                "display_name": f"{name} ({phone_number})",
                "phone_number_id": pnid,
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
            self._configs[record["id"]] = record
            return copy.deepcopy(record)

    def config(self, config_id: str) -> dict[str, Any]:
        """One config by id.

        :param config_id: the config id.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            if config_id not in self._configs:
                raise NotFoundError("WhatsApp config", config_id)
            return copy.deepcopy(self._configs[config_id])

    def configs(self) -> list[dict[str, Any]]:
        """Every config, in creation order (the default one first)."""
        with self.lock:
            return copy.deepcopy(list(self._configs.values()))

    def config_by_phone_number_id(self, phone_number_id: str) -> dict[str, Any]:
        """The config of a Meta phone number id.

        :param phone_number_id: Meta's id of the business number.
        :raises NotFoundError: if no config has it.
        """
        with self.lock:
            for config in self._configs.values():
                if config["phone_number_id"] == phone_number_id:
                    return copy.deepcopy(config)
        raise NotFoundError("Phone number", phone_number_id)

    def update_config(self, config_id: str, **changes: Any) -> dict[str, Any]:
        """Change fields of a config (``name``, ``kind``, ``customer_id``, ...); returns the record.

        :param config_id: the config id.
        :raises NotFoundError: if unknown.
        """
        unknown = sorted(set(changes) - _CONFIG_UPDATABLE)
        if unknown:
            raise ValueError(f"not updatable config field(s): {', '.join(unknown)}")
        with self.lock:
            self.config(config_id)
            record = self._configs[config_id]
            record.update(copy.deepcopy(changes))
            record["updated_at"] = self.clock.stamp()
            return copy.deepcopy(record)

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
        if status not in CONVERSATION_STATUSES:
            raise ValueError("status must be 'active' or 'ended'")
        if not normalize_phone(phone_number):
            raise ValueError("phone_number must contain digits")
        with self.lock:
            config_id = whatsapp_config_id or self.default_config_id
            self.config(config_id)
            stamp = self.clock.stamp()
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
            self._conversations[record["id"]] = record
            self._conversations_by_phone.setdefault(normalize_phone(phone_number), []).append(record["id"])
            return copy.deepcopy(record)

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        """One conversation by id.

        :param conversation_id: the conversation id.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            if conversation_id not in self._conversations:
                raise NotFoundError("Conversation", conversation_id)
            return copy.deepcopy(self._conversations[conversation_id])

    def conversations(self) -> list[dict[str, Any]]:
        """Every conversation, in creation order."""
        with self.lock:
            return copy.deepcopy(list(self._conversations.values()))

    def set_conversation_status(self, conversation_id: str, status: str) -> dict[str, Any]:
        """End or reactivate a conversation; returns the record.

        :param conversation_id: the conversation id.
        :param status: ``active`` or ``ended``.
        :raises NotFoundError: if unknown.
        """
        if status not in CONVERSATION_STATUSES:
            raise ValueError("status must be 'active' or 'ended'")
        with self.lock:
            self.conversation(conversation_id)
            record = self._conversations[conversation_id]
            record["status"] = status
            record["updated_at"] = self.clock.stamp()
            return copy.deepcopy(record)

    def find_or_create_conversation(self, phone_number: str, config_id: str) -> dict[str, Any]:
        """The active conversation of a phone number on a config, created when there is none.

        :param phone_number: the customer's phone number (any notation).
        :param config_id: the config to look in.
        """
        digits = normalize_phone(phone_number)
        with self.lock:
            same_number = (self._conversations.get(id_) for id_ in self._conversations_by_phone.get(digits, ()))
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

    def erase_number(self, phone_number: str) -> int:
        """Forget every conversation with a number and their messages (a contact's erasure); returns how
        many conversations went.

        :param phone_number: the number, any notation.
        """
        digits = normalize_phone(phone_number)
        with self.lock:
            doomed = set(self._conversations_by_phone.pop(digits, []))
            for conversation_id in doomed:
                self._conversations.pop(conversation_id, None)
            kept = []
            for record in self._messages:
                if record["whatsapp_conversation_id"] in doomed:
                    for key in (record["id"], record["whatsapp_message_id"]):
                        self._message_index.pop(key, None)
                    self._history.pop(record["id"], None)
                    self._meta.pop(record["id"], None)
                    self.progression.forget(record["id"])
                else:
                    kept.append(record)
            self._messages[:] = kept
            return len(doomed)

    # -- messages ---------------------------------------------------------------------------------------

    @staticmethod
    def new_wamid(phone_number: str) -> str:
        """A WhatsApp message id in the shape Meta hands out (``wamid.`` + base64).

        :param phone_number: the customer's number, which Meta encodes into the id.
        """
        raw = normalize_phone(phone_number).encode() + b"\x15\x02\x00\x11\x18\x12" + uuid.uuid4().bytes
        return "wamid." + base64.b64encode(raw).decode()

    def store_outbound(
        self, conversation_id: str, message: dict[str, Any], *, created_at: str | None = None
    ) -> dict[str, Any]:
        """Store a validated v1 outbound message as Kapso would after WhatsApp accepted it.

        :param conversation_id: the conversation to store it in.
        :param message: the validated ``message`` object of a v1 send.
        :param created_at: its timestamp on Kapso's clock (now when ``None``); an earlier one seeds a message
            "sent before" (the conversation's ``last_active_at`` only moves forward).
        :raises NotFoundError: for an unknown conversation.
        """
        message_type = str(message.get("message_type", "text"))
        content = message.get("content")
        metadata: dict[str, Any] = {}
        if message_type == "template":
            metadata = {
                key: copy.deepcopy(message[key])
                for key in ("template_name", "template_language", "template_params", "template_id")
                if message.get(key) is not None
            }
        elif message_type == "contacts":
            metadata = {"contacts_data": message_type_data(message, message_type)["contacts"]}
        return self.add_message(
            conversation_id,
            direction="outbound",
            message_type=message_type,
            content=content if content else summarize(message, message_type),
            type_data=message_type_data(message, message_type),
            metadata=metadata,
            media_url=message["media_url"] if isinstance(message.get("media_url"), str) else None,
            created_at=created_at,
        )

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
        if type_data is None:
            type_data = {"text": content} if message_type == "text" else {}
        return self.add_message(
            conversation_id,
            direction="inbound",
            message_type=message_type,
            content=content,
            type_data=type_data,
            media_url=media_url,
            wamid=whatsapp_message_id,
        )

    def add_message(
        self,
        conversation_id: str,
        *,
        direction: str,
        message_type: str,
        content: str,
        type_data: dict[str, Any],
        metadata: dict[str, Any] | None = None,
        media_url: str | None = None,
        wamid: str | None = None,
        created_at: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Store a message of any API generation; returns its record (v1's shape).

        An outbound message starts ``sent`` and follows the progression settings; an inbound one is
        ``received``.

        :param conversation_id: the conversation.
        :param direction: ``outbound`` or ``inbound``.
        :param message_type: its type (v1's names; the current API adds ``sticker`` and more).
        :param content: its human-readable content.
        :param type_data: its ``message_type_data``.
        :param metadata: its ``metadata``.
        :param media_url: URL of attached media, if any.
        :param wamid: its WhatsApp id (a new one when ``None``).
        :param created_at: its timestamp (now when ``None``).
        :param meta: the message as Meta's API carries it (``{"type": ..., "<type>": {...}, "context": ...}``),
            kept for the current API's views; derived from the v1 fields when ``None``.
        :raises NotFoundError: for an unknown conversation.
        """
        with self.lock:
            conversation = self.conversation(conversation_id)
            stamp = created_at or self.clock.stamp()
            outbound = direction == "outbound"
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "phone_number": conversation["phone_number"],
                "message_type": message_type,
                "content": content,
                "direction": direction,
                "status": "sent" if outbound else "received",
                "processing_status": "processed",
                "whatsapp_message_id": wamid or self.new_wamid(conversation["phone_number"]),
                "metadata": copy.deepcopy(metadata or {}),
                "message_type_data": copy.deepcopy(type_data),
                "whatsapp_conversation_id": conversation_id,
                "whatsapp_config_id": conversation["whatsapp_config_id"],
                "created_at": stamp,
                "updated_at": stamp,
            }
            if media_url is not None:
                record["media_url"] = media_url
            self._messages.append(record)
            self._message_index[record["id"]] = record
            self._message_index[record["whatsapp_message_id"]] = record
            self._history[record["id"]] = [{"status": record["status"], "timestamp": stamp}]
            if meta is not None:
                self._meta[record["id"]] = copy.deepcopy(meta)
            live = self._conversations[conversation_id]
            # A message seeded in the past leaves a later activity as it was.
            if stamp > live["last_active_at"]:
                live["last_active_at"] = live["updated_at"] = stamp
            if outbound:
                self.progression.plan(record["id"], time.time())
            return copy.deepcopy(record)

    def meta_of(self, message_id: str) -> dict[str, Any] | None:
        """The message as the current API's send carried it, or ``None`` for one sent through v1 or inbound.

        :param message_id: Kapso id or wamid.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            return copy.deepcopy(self._meta.get(self._message(message_id)["id"]))

    def message(self, message_id: str) -> dict[str, Any]:
        """One message by Kapso id or wamid, with the status changes that are due applied.

        :param message_id: Kapso id or wamid.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            self.apply_due_status_changes()
            return copy.deepcopy(self._message(message_id))

    def list_messages(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        """Messages in insertion order, optionally of one conversation.

        :param conversation_id: restrict to this conversation.
        """
        with self.lock:
            self.apply_due_status_changes()
            return [
                copy.deepcopy(record)
                for record in self._messages
                if conversation_id is None or record["whatsapp_conversation_id"] == conversation_id
            ]

    def status_history(self, message_id: str) -> list[dict[str, Any]]:
        """The status events of a message, oldest first: ``{"status", "timestamp"}`` plus, for a failure,
        ``error_code`` and ``error_message`` when known.

        :param message_id: Kapso id or wamid.
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            self.apply_due_status_changes()
            return copy.deepcopy(self._history[self._message(message_id)["id"]])

    def set_message_times(self, message_id: str, created_at: str, updated_at: str | None = None) -> dict[str, Any]:
        """Give a stored message other timestamps (Kapso can hand out one timestamp twice); returns it.

        :param message_id: Kapso id or wamid.
        :param created_at: its new ``created_at``.
        :param updated_at: its new ``updated_at`` (``created_at`` when ``None``).
        :raises NotFoundError: if unknown.
        """
        with self.lock:
            record = self._message(message_id)
            record["created_at"] = created_at
            record["updated_at"] = updated_at or created_at
            return copy.deepcopy(record)

    def _message(self, message_id: str) -> dict[str, Any]:
        record = self._message_index.get(message_id)
        if record is None:
            raise NotFoundError("Message", message_id)
        return record

    # -- status -----------------------------------------------------------------------------------------

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
        check_status(status)
        with self.lock:
            self.apply_due_status_changes()
            record = self._message(message_id)
            self.progression.forget(record["id"])
            self._set_status(record, status, error_code, error_message, self.clock.stamp())
            return copy.deepcopy(record)

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
        check_status(status)
        delay = check_delay("after", after)
        assert delay is not None
        with self.lock:
            record = self._message(message_id)
            return self.progression.schedule(record["id"], status, time.time() + delay, error_code, error_message)

    def advance_on_listing(self, conversation_id: str) -> None:
        """One listing of a conversation's messages through the API: each message with a status sequence
        shows its next status (and keeps the last one once the sequence is spent).

        :param conversation_id: the conversation listed.
        """
        with self.lock:
            for record in self._messages:
                if record["whatsapp_conversation_id"] == conversation_id:
                    self._advance(record)

    def advance_on_read(self, message_ids: list[str]) -> None:
        """One read of these messages through the current API (a list or a get): each message with a status
        sequence shows its next status, as a v1 listing of its conversation does.

        :param message_ids: Kapso ids or wamids.
        """
        with self.lock:
            for message_id in message_ids:
                record = self._message_index.get(message_id)
                if record is not None:
                    self._advance(record)

    def _advance(self, record: dict[str, Any]) -> None:
        status = self.progression.next_listed_status(record["id"])
        if status is None or record["status"] in ("failed", status):
            return
        progression = self.progression
        stamp = self.clock.stamp()
        self._set_status(record, status, progression.delivery_error_code, progression.delivery_error_message, stamp)

    def apply_due_status_changes(self) -> None:
        """Apply, in time order, every scheduled change whose time has come."""
        with self.lock:
            for change in self.progression.take_due():
                record = self._message_index.get(change.message_id)
                if record is None or record["status"] == "failed":
                    continue  # forgotten by reset(), or final: WhatsApp reports nothing after a failure
                # The change happened when it was due, not when someone looked.
                stamp = self.clock.stamp_at(change.due)
                self._set_status(record, change.status, change.error_code, change.error_message, stamp)

    def pending_status_changes(self) -> list[StatusChange]:
        """Scheduled changes not applied yet, in time order."""
        with self.lock:
            self.apply_due_status_changes()
            return self.progression.pending()

    def _set_status(
        self, record: dict[str, Any], status: str, error_code: int | None, error_message: str | None, stamp: str
    ) -> None:
        record["status"] = status
        record["updated_at"] = stamp
        event: dict[str, Any] = {"status": status, "timestamp": stamp}
        if status == "failed":
            # The v1 files define no error field on messages; Kapso's metadata is the free-form bag.
            if error_code is not None:
                record["metadata"]["error_code"] = event["error_code"] = error_code
            if error_message is not None:
                record["metadata"]["error_message"] = event["error_message"] = error_message
        self._history[record["id"]].append(event)

    # -- lifecycle --------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget conversations, messages, templates and added configs; keep the default config."""
        with self.lock:
            default = self._configs[self.default_config_id]
            self._configs.clear()
            self._configs[self.default_config_id] = default
            self._conversations.clear()
            self._conversations_by_phone.clear()
            self._messages.clear()
            self._message_index.clear()
            self._history.clear()
            self._meta.clear()
            self.templates.clear()
            self.progression.clear()

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The live message records, for older tests that edit them in place.

        New code reads :meth:`list_messages` and changes timestamps with :meth:`set_message_times`.
        """
        return self._messages
