"""Whether a message Kapso lists is the one a send put there: recipient, kind and content, documented fields only.

Reconciliation on the current API reads the recipient's outbound messages from the Platform API
(``GET /platform/v1/whatsapp/messages``) and compares each with the body that was sent. The listed message
is Meta's webhook shape (``WhatsappMessage`` in ``openapi-platform.yaml``); only the fields that file
documents for each type are compared (:data:`COMPARED`), and a message counts as this send's only when the
fields that identify it (:data:`IDENTIFYING`) are there and equal, every other documented field present on
both sides is equal, and at least one field was compared. Where Kapso's record leaves a field out, nothing is
concluded from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kapso_provider.api.current.records import phone_digits

__all__ = ["COMPARED", "IDENTIFYING", "same_message"]

#: The documented fields of each type's object in the Platform API's message (``WhatsappMessage``).
COMPARED: dict[str, tuple[str, ...]] = {
    "text": ("body",),
    "image": ("id", "link", "caption"),
    "video": ("id", "link", "caption"),
    "audio": ("id", "link"),
    "document": ("id", "link", "filename", "caption"),
    "sticker": ("id", "link"),
    "location": ("latitude", "longitude", "name", "address"),
    "template": ("name", "language", "components"),
    "reaction": ("emoji", "message_id"),
    # The file types ``interactive`` as an object with any properties: what was sent, compared key by key.
    "interactive": ("type", "header", "body", "footer", "action"),
}
#: Fields that must be present and equal for a match: without them nothing proves the message is this one.
IDENTIFYING: dict[str, tuple[str, ...]] = {
    "text": ("body",),
    "location": ("latitude", "longitude"),
    "template": ("name",),
    "reaction": ("message_id",),
    "interactive": ("type", "body"),
}


def _same_payload(kind: str, sent: Any, stored: Any) -> bool:
    if kind == "contacts":
        # An array of cards with any properties: the cards as sent.
        return isinstance(stored, list) and stored == sent
    if not isinstance(sent, Mapping) or not isinstance(stored, Mapping):
        return False
    identifying = IDENTIFYING.get(kind, ())
    if kind == "interactive" and "body" not in sent:
        identifying = ("type",)  # a location request may have no body
    compared = 0
    for key in COMPARED.get(kind, ()):
        if key in identifying and (key not in sent or key not in stored):
            return False
        if key in sent and key in stored:
            if stored[key] != sent[key]:
                return False
            compared += 1
    return compared > 0


def same_message(record: Mapping[str, Any], body: Mapping[str, Any], phone_number: str) -> bool:
    """Whether ``record`` is an outbound message to ``phone_number`` of ``body``'s type and content.

    :param record: a message record (:func:`~kapso_provider.api.current.records.message_record`).
    :param body: the Meta body that was sent.
    :param phone_number: the recipient it was sent to, in any spelling.
    """
    if record.get("direction") != "outbound":
        return False
    # The Platform API's phone_number filter is a partial match: the recipient is checked digit for digit.
    if phone_digits(record.get("phone_number")) != phone_digits(phone_number):
        return False
    kind = body.get("type")
    stored = record.get("whatsapp")
    if not isinstance(kind, str) or not isinstance(stored, Mapping) or stored.get("type") != kind:
        return False
    return _same_payload(kind, body.get(kind), stored.get(kind))
