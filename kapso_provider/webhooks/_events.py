"""One event of a delivery, with a typed view that reads the same for payload versions 1 and 2.

Kapso's payload version 2 (the default) has ``phone_number_id`` at the top level and Meta-shaped messages
(``id`` is the ``wamid``, ``type``, ``text.body``, ``interactive.button_reply``...) with Kapso's facts under
``message.kapso``; version 1 nests a ``whatsapp_config`` and has Kapso's own message records
(``message_type``, ``content``, ``whatsapp_message_id``...). The shapes come from docs.kapso.ai (event types,
message events, project webhooks, legacy v1 webhooks) and the message schemas of the OpenAPI files;
docs/kapso-api-notes.md lists where they are silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["KapsoWebhookEvent"]

# Meta message types whose object may carry a caption (payload version 2).
_CAPTIONED_TYPES = ("image", "video", "document", "audio", "sticker")
# Meta's interactive replies: a tapped reply button, a chosen list row.
_INTERACTIVE_REPLIES = ("button_reply", "list_reply")


def text_at(mapping: Any, *path: str) -> str | None:
    """The non-empty string at ``path`` inside nested objects, else ``None``."""
    value = mapping
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value if isinstance(value, str) and value else None


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value is not None), None)


def message_fact(message: Any, key: str) -> str | None:
    """Kapso's fact ``key`` about a message (``direction``, ``status``...), from either payload version."""
    # Version 2 keeps Kapso's facts about a message in message.kapso; version 1 on the message itself.
    return _first(text_at(message, "kapso", key), text_at(message, key))


def _e164(value: str | None) -> str | None:
    """A phone number as ``+`` and digits: version 2's Meta fields give digits only (``15551234567``)."""
    if value is not None and value.removeprefix("+").isascii() and value.removeprefix("+").isdigit():
        return "+" + value.removeprefix("+")
    return value


@dataclass(frozen=True)
class KapsoWebhookEvent:
    """One event of a delivery, as Kapso sent it, with a typed view of what most handlers need.

    The view's properties read the same for payload versions 1 and 2, and are ``None`` where an event has
    no such fact (a conversation event has no message) or Kapso left it out: Kapso's docs warn that a phone
    number, ``from`` or ``to`` may be missing.

    :param name: the event name (``whatsapp.message.received`` ...): the body's own where it names the event
        (``event``, or a batch's ``type``) or makes it certain (an inbound message is ``received``), else
        ``X-Webhook-Event``.
    :param data: the event's JSON object as Kapso sent it.
    :param name_signed: whether ``name`` comes from the signed body; ``False`` when only the unsigned
        ``X-Webhook-Event`` header gave it.
    :param payload_version: 1 or 2: what the signed body shows (a ``whatsapp_config`` object is version 1;
        a top-level ``phone_number_id`` or a Meta-shaped message is version 2), else
        ``X-Webhook-Payload-Version``, else 2 (Kapso's default).
    """

    name: str | None
    data: dict[str, Any]
    name_signed: bool = False
    payload_version: int = 2

    @property
    def message(self) -> dict[str, Any] | None:
        """The event's message object, for the ``whatsapp.message.*`` events."""
        message = self.data.get("message")
        return message if isinstance(message, dict) else None

    @property
    def conversation(self) -> dict[str, Any] | None:
        """The event's conversation object, for message and conversation events."""
        conversation = self.data.get("conversation")
        return conversation if isinstance(conversation, dict) else None

    @property
    def phone_number_id(self) -> str | None:
        """Meta's id of your WhatsApp number that the event concerns (``whatsapp_config`` in version 1)."""
        return _first(
            text_at(self.data, "phone_number_id"),
            text_at(self.conversation, "phone_number_id"),
            text_at(self.message, "kapso", "phone_number_id"),
            text_at(self.data, "whatsapp_config", "phone_number_id"),
        )

    @property
    def conversation_id(self) -> str | None:
        """Kapso's id of the conversation (workflow and project events name it too, when they have one)."""
        return _first(
            text_at(self.conversation, "id"),
            text_at(self.message, "kapso", "whatsapp_conversation_id"),
            text_at(self.message, "whatsapp_conversation_id"),
            text_at(self.data, "whatsapp_conversation_id"),
            text_at(self.data, "conversation_id"),
        )

    @property
    def wamid(self) -> str | None:
        """WhatsApp's message id (``wamid.…``): ``message.id`` in version 2, ``whatsapp_message_id`` in 1."""
        if self.payload_version == 1:
            return text_at(self.message, "whatsapp_message_id")
        return text_at(self.message, "id")

    @property
    def message_id(self) -> str | None:
        """The message's id in the API of the payload's generation: the ``wamid`` (version 2, as the current
        APIs key messages), or Kapso's message id (version 1, as API v1 does)."""
        return text_at(self.message, "id")

    @property
    def direction(self) -> str | None:
        """``inbound`` (the customer wrote) or ``outbound`` (you sent)."""
        return message_fact(self.message, "direction")

    @property
    def message_type(self) -> str | None:
        """``text``, ``image``, ``interactive``, ``button``, ``template``... (``type``; ``message_type`` in 1)."""
        if self.payload_version == 1:
            return text_at(self.message, "message_type")
        return _first(text_at(self.message, "type"), text_at(self.message, "message_type"))

    @property
    def sender(self) -> str | None:
        """Who wrote an inbound message: the customer's WhatsApp number as ``+`` and digits, or their
        business-scoped user id when Kapso has no number. ``None`` for outbound messages and other events."""
        if self.direction != "inbound":
            return None
        return _e164(
            _first(
                text_at(self.message, "from"),
                text_at(self.message, "kapso", "phone_number"),
                text_at(self.message, "phone_number"),
                text_at(self.conversation, "phone_number"),
                text_at(self.message, "from_user_id"),
                text_at(self.conversation, "business_scoped_user_id"),
            )
        )

    @property
    def text(self) -> str | None:
        """What the message says: a text's body, a media caption, or the title of the tapped button or row."""
        if self.message is None:
            return None
        if self.payload_version == 1:
            return _first(
                text_at(self.message, "content"), text_at(self.message, "message_type_data", "reply_option_title")
            )
        kind = self.message_type
        if kind == "text":
            return _first(text_at(self.message, "text", "body"), text_at(self.message, "kapso", "content"))
        if kind in _CAPTIONED_TYPES:
            return text_at(self.message, kind, "caption")
        if kind == "interactive":
            return _first(*(text_at(self.message, "interactive", reply, "title") for reply in _INTERACTIVE_REPLIES))
        if kind == "button":
            return text_at(self.message, "button", "text")
        return None

    @property
    def reply_id(self) -> str | None:
        """The id of the reply button or list row the customer chose (or a template quick reply's payload)."""
        if self.message is None:
            return None
        return _first(
            *(text_at(self.message, "interactive", reply, "id") for reply in _INTERACTIVE_REPLIES),
            text_at(self.message, "button", "payload"),
            text_at(self.message, "kapso", "message_type_data", "reply_option_id"),
            text_at(self.message, "message_type_data", "reply_option_id"),
        )

    @property
    def status(self) -> str | None:
        """The message's status (``received``, ``sent``, ``delivered``, ``read``, ``failed``), else the
        conversation's (``active``, ``ended``), else the event's own (a workflow execution's ``failed``...)."""
        if self.message is not None:
            return message_fact(self.message, "status")
        return _first(text_at(self.conversation, "status"), text_at(self.data, "status"))

    def to_json(self) -> dict[str, Any]:
        """The view as plain JSON (no raw data), e.g. for an asset event's extra or an XCom."""
        return {
            "event": self.name,
            "payload_version": self.payload_version,
            "phone_number_id": self.phone_number_id,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            "wamid": self.wamid,
            "direction": self.direction,
            "message_type": self.message_type,
            "sender": self.sender,
            "text": self.text,
            "reply_id": self.reply_id,
            "status": self.status,
        }
