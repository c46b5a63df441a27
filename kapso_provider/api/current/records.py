"""The current API's messages as the provider's one message record, the shape API v1 answers with.

A send on API v1 returns Kapso's v1 message ``data`` object, and DAGs read it (``id``, ``status``,
``whatsapp_message_id``, ``phone_number``, ``created_at`` ...). The current API answers a send with Meta's
``{contacts, messages: [{id}]}`` and lists messages in Meta's webhook shape with a ``kapso`` object, so this
module builds the same record from them: every key of :data:`RECORD_FIELDS` is present (``None`` where the
answer says nothing), ``id`` is the id the connection's API reads the message back by (on the current API the
``wamid``, which is also ``whatsapp_message_id``), and ``whatsapp`` keeps Meta's own view of the message
(``type`` and the object of that name, ``context``). ``docs/migration.md`` lists which field each generation
fills.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoServerError
from kapso_provider.models.cloud_api import CLOUD_API_MESSAGE_TYPES

if TYPE_CHECKING:
    from kapso_provider.transport.wire import Request

__all__ = ["RECORD_FIELDS", "conversation_record", "message_record", "phone_digits", "sent_record"]

#: The keys of every message record, on both generations (API v1's message object has them all).
RECORD_FIELDS: tuple[str, ...] = (
    "id",
    "whatsapp_message_id",
    "whatsapp_conversation_id",
    "phone_number",
    "message_type",
    "content",
    "direction",
    "status",
    "processing_status",
    "media_url",
    "message_type_data",
    "metadata",
    "created_at",
    "updated_at",
)
# Meta's keys that carry the message itself: its type's object, the reply context, an inbound button or order.
_MESSAGE_KEYS = ("type", "context", *CLOUD_API_MESSAGE_TYPES, "button", "order")


def phone_digits(value: object) -> str:
    """The digits of a phone number, whatever its spelling (``+1 555-0100`` and ``15550100`` alike)."""
    return "".join(character for character in str(value or "") if character.isdigit())


def _international(value: object) -> str | None:
    digits = phone_digits(value)
    return f"+{digits}" if digits else None


def _iso_time(unix_seconds: object) -> str | None:
    """Meta's ``timestamp`` (Unix seconds, as a string) as ISO 8601 in UTC, like API v1's ``created_at``."""
    try:
        seconds = int(str(unix_seconds))
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _failure_errors(statuses: object) -> list[Any] | None:
    """The ``errors`` of the last ``failed`` event of a status history (raw Meta status events)."""
    if not isinstance(statuses, list):
        return None
    failed = [event for event in statuses if isinstance(event, Mapping) and event.get("status") == "failed"]
    errors = failed[-1].get("errors") if failed else None
    return list(errors) if isinstance(errors, list) else None


def message_record(message: Mapping[str, Any]) -> dict[str, Any]:
    """The record of a message the Platform API (or the proxy) lists or reads by ``wamid``.

    :param message: a ``WhatsappMessage`` of ``openapi-platform.yaml``: Meta's fields and a ``kapso`` object.
    :returns: the fields of :data:`RECORD_FIELDS`, plus ``phone_number_id``, ``errors`` (WhatsApp's, when the
        status history holds a failure), ``statuses`` (that history) and ``whatsapp`` (Meta's fields).
    """
    raw_kapso = message.get("kapso")
    kapso: Mapping[str, Any] = raw_kapso if isinstance(raw_kapso, Mapping) else {}
    direction = kapso.get("direction")
    counterpart = message.get("to") if direction == "outbound" else message.get("from")
    raw_data = kapso.get("message_type_data")
    data = dict(raw_data) if isinstance(raw_data, Mapping) else {}
    interactive = message.get("interactive")
    if isinstance(interactive, Mapping):
        # An inbound reply names the chosen button or row here, where the reply helpers look for it.
        data.update({key: interactive[key] for key in ("button_reply", "list_reply") if key in interactive})
    created_at = _iso_time(message.get("timestamp"))
    record: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    record.update(
        {
            "id": message.get("id"),
            "whatsapp_message_id": message.get("id"),
            "whatsapp_conversation_id": kapso.get("whatsapp_conversation_id"),
            "phone_number": _international(counterpart or kapso.get("phone_number")),
            "phone_number_id": kapso.get("phone_number_id"),
            "message_type": message.get("type"),
            "content": kapso.get("content"),
            "direction": direction,
            "status": kapso.get("status"),
            "processing_status": kapso.get("processing_status"),
            "media_url": kapso.get("media_url"),
            "message_type_data": data or None,
            "metadata": {},
            "created_at": created_at,
            "errors": _failure_errors(kapso.get("statuses")),
            "statuses": kapso.get("statuses"),
            "whatsapp": {key: message[key] for key in _MESSAGE_KEYS if key in message},
        }
    )
    return record


def sent_record(
    answer: Any, request: Request, *, body: Mapping[str, Any], phone_number: str | None, phone_number_id: str
) -> dict[str, Any]:
    """The record of a message the proxy just accepted (``SendMessageResponse``).

    Kapso's answer names only the ``wamid`` and the recipient, so the record says what was sent: its type
    and content, ``direction`` ``outbound`` and ``status`` ``pending`` (Kapso's status of a message WhatsApp
    has not confirmed yet; ``message_status`` keeps the proxy's own word, e.g. ``accepted``).

    :raises KapsoServerError: the answer names no message id.
    """
    messages = answer.get("messages") if isinstance(answer, Mapping) else None
    first = messages[0] if isinstance(messages, list) and messages and isinstance(messages[0], Mapping) else {}
    wamid = first.get("id")
    if not isinstance(wamid, str) or not wamid:
        raise KapsoServerError(
            status=None, method=request.method, path=request.path, error_text="answer names no message id"
        )
    contacts = answer.get("contacts")
    contact = contacts[0] if isinstance(contacts, list) and contacts and isinstance(contacts[0], Mapping) else {}
    kind = body.get("type")
    text = body.get("text")
    record: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    record.update(
        {
            "id": wamid,
            "whatsapp_message_id": wamid,
            "phone_number": _international(contact.get("wa_id") or phone_number),
            "phone_number_id": phone_number_id,
            "message_type": kind,
            "content": text.get("body") if isinstance(text, Mapping) else None,
            "direction": "outbound",
            "status": "pending",
            "message_status": first.get("message_status"),
            "metadata": {},
            "errors": None,
            "statuses": None,
            "whatsapp": {key: body[key] for key in _MESSAGE_KEYS if key in body},
        }
    )
    return record


def conversation_record(conversation: Mapping[str, Any]) -> dict[str, Any]:
    """A conversation of the Platform API (``WhatsappConversation``) with ``phone_number`` in international
    format, as API v1 gives it (the Platform API lists the digits only); every other field as Kapso sent it."""
    record = dict(conversation)
    if record.get("phone_number"):
        record["phone_number"] = _international(record["phone_number"])
    return record
