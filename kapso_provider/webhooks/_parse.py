"""Reading a signed body: its events, their names, and where the unsigned headers disagree with it.

Kapso's signature covers the body only. ``X-Webhook-Event``, ``X-Webhook-Batch`` and ``X-Idempotency-Key`` can
be changed by whoever replays a captured delivery, so the body decides wherever it can: a name it carries
(``event``, or a batch's ``type``), a batch it declares (``"batch": true``), and, for a message event, the
direction and status of its message. A header that contradicts the body is reported, never believed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from kapso_provider.webhooks._errors import KapsoWebhookPayloadError
from kapso_provider.webhooks._events import KapsoWebhookEvent, message_fact, text_at
from kapso_provider.webhooks._signature import as_bytes

__all__ = ["ParsedBody", "body_key", "parse_body", "parse_events"]

EVENT_HEADER = "X-Webhook-Event"
BATCH_HEADER = "X-Webhook-Batch"
PAYLOAD_VERSION_HEADER = "X-Webhook-Payload-Version"
DEFAULT_PAYLOAD_VERSION = 2

MESSAGE_EVENTS = "whatsapp.message."
CONVERSATION_EVENTS = "whatsapp.conversation."
MESSAGE_RECEIVED = "whatsapp.message.received"
CONVERSATION_INACTIVE = "whatsapp.conversation.inactive"
CONVERSATION_ENDED = "whatsapp.conversation.ended"
CONVERSATION_CREATED = "whatsapp.conversation.created"
# The statuses an outbound message's events are named after (whatsapp.message.sent ...).
OUTBOUND_STATUSES = frozenset({"sent", "delivered", "read", "failed"})
# Keys that name the event inside a body: Kapso's project events carry "event", a batch envelope "type".
_NAME_KEYS = ("event", "type", "event_type")
# Keys only a whatsapp.conversation.inactive body carries (Kapso's documented payload).
_INACTIVITY_KEYS = ("inactivity", "since_message")


@dataclass(frozen=True)
class ParsedBody:
    """What a signed body holds, and how the unsigned headers compare with it."""

    events: list[KapsoWebhookEvent]
    event_name: str | None
    batch: bool
    mismatches: tuple[str, ...] = field(default=())


def _load(raw_body: bytes | str) -> Any:
    try:
        return json.loads(as_bytes(raw_body))
    except RecursionError:
        # The JSON decoder recurses once per nesting level; no Kapso payload nests more than a few levels.
        raise KapsoWebhookPayloadError(
            "The delivery body nests its JSON too deeply to be read (no Kapso delivery does)."
        ) from None
    except ValueError:
        raise KapsoWebhookPayloadError("The delivery body is not JSON.") from None


def _own_name(data: dict[str, Any]) -> str | None:
    for key in _NAME_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _implied_message_name(data: dict[str, Any]) -> str | None:
    """The event a message body must be: an inbound message is received, an outbound one named by status."""
    message = data.get("message")
    if not isinstance(message, dict):
        return None
    direction = message_fact(message, "direction")
    if direction == "inbound":
        return MESSAGE_RECEIVED
    status = message_fact(message, "status")
    if direction == "outbound" and status in OUTBOUND_STATUSES:
        return MESSAGE_EVENTS + status
    return None


def _unsigned_name(header_name: str | None, data: dict[str, Any]) -> tuple[str | None, bool, list[str]]:
    """The name of an event whose body does not carry one: the header's, checked against the body.

    :returns: the name, whether the signed body settled it, and the header's disagreements with the body.
    """
    implied = _implied_message_name(data)
    if header_name is None:
        if implied is None and isinstance(data.get("conversation"), dict) and any(k in data for k in _INACTIVITY_KEYS):
            implied = CONVERSATION_INACTIVE
        return implied, implied is not None, []
    said = f"{EVENT_HEADER} {header_name!r}"
    message = data.get("message")
    if implied is not None and not header_name.startswith(MESSAGE_EVENTS):
        return implied, True, [f"{said} does not name a message event, but the signed body is one: read as {implied!r}"]
    if header_name.startswith(MESSAGE_EVENTS):
        if not isinstance(message, dict):
            return header_name, False, [f"{said} names a message event, but the signed body holds no message"]
        direction = message_fact(message, "direction")
        if direction in ("inbound", "outbound") and (direction == "inbound") != (header_name == MESSAGE_RECEIVED):
            if implied is not None:
                return implied, True, [f"{said} contradicts the signed body's {direction} message: read as {implied!r}"]
            return header_name, False, [f"{said} contradicts the signed body's {direction} message"]
        status = message_fact(message, "status")
        named_status = header_name.removeprefix(MESSAGE_EVENTS)
        if named_status in OUTBOUND_STATUSES and status in OUTBOUND_STATUSES and status != named_status:
            return header_name, False, [f"{said}, but the signed body's message has status {status!r}"]
        return header_name, False, []
    conversation = data.get("conversation")
    problems: list[str] = []
    if header_name.startswith(CONVERSATION_EVENTS):
        if not isinstance(conversation, dict):
            problems.append(f"{said} names a conversation event, but the signed body holds no conversation")
        inactive_shape = any(key in data for key in _INACTIVITY_KEYS)
        if (header_name == CONVERSATION_INACTIVE) != inactive_shape:
            problems.append(
                f"{said}, but the signed body {'has' if inactive_shape else 'lacks'} the inactivity of "
                f"{CONVERSATION_INACTIVE!r}"
            )
        status = text_at(conversation, "status")
        if (header_name == CONVERSATION_ENDED and status not in (None, "ended")) or (
            header_name == CONVERSATION_CREATED and status == "ended"
        ):
            problems.append(f"{said}, but the signed body's conversation has status {status!r}")
    elif isinstance(conversation, dict):
        problems.append(f"{said} is not a conversation event, but the signed body holds a conversation")
    return header_name, False, problems


def _named_by_header(event: KapsoWebhookEvent) -> bool:
    """Whether only the header names the event, and nothing in its body tells it from another event."""
    shaped = any(isinstance(event.data.get(key), dict) for key in ("message", "conversation"))
    return not event.name_signed and not shaped


def _header_differs(header_event: str | None, own: str, what: str) -> list[str]:
    if header_event is None or header_event == own:
        return []
    return [f"{EVENT_HEADER} {header_event!r} differs from the signed {what}'s {own!r}: read as {own!r}"]


def _header_version(value: str | None) -> tuple[int | None, list[str]]:
    """``X-Webhook-Payload-Version`` (``v2``, as Kapso sends it; ``2`` too) as a number."""
    if value is None or not value.strip():
        return None, []
    number = value.strip().lower().removeprefix("v")
    if number in ("1", "2"):
        return int(number), []
    return None, [f"{PAYLOAD_VERSION_HEADER} {value!r} is not a payload version this provider reads (v1, v2)"]


def _body_version(data: dict[str, Any]) -> int | None:
    """The payload version a body shows: version 1 nests a whatsapp_config and Kapso's message records;
    version 2 has phone_number_id at the top level and Meta-shaped messages with a kapso object."""
    if isinstance(data.get("whatsapp_config"), dict):
        return 1
    message = data.get("message")
    if isinstance(message, dict):
        if isinstance(message.get("kapso"), dict):
            return 2
        if "message_type" in message or "whatsapp_message_id" in message:
            return 1
    if isinstance(data.get("phone_number_id"), str):
        return 2
    return None


def _event(
    data: dict[str, Any], name: str | None, signed: bool, header_version: int | None
) -> tuple[KapsoWebhookEvent, list[str]]:
    shown = _body_version(data)
    version = shown or header_version or DEFAULT_PAYLOAD_VERSION
    problems = []
    if shown is not None and header_version is not None and shown != header_version:
        problems.append(
            f"{PAYLOAD_VERSION_HEADER} says {header_version}, the signed body is version {shown}: read as {shown}"
        )
    return KapsoWebhookEvent(name, data, signed, version), problems


def parse_body(
    raw_body: bytes | str,
    *,
    header_event: str | None,
    header_batch: str | None,
    header_version: str | None = None,
) -> ParsedBody:
    """The events of a verified body, named and shaped by the body wherever it says, and the headers' conflicts.

    A body is a batch when it says so (``"batch": true``, Kapso's envelope with a ``data`` array), or when
    ``X-Webhook-Batch: true`` comes with a JSON array or an object holding a ``data`` (or ``events``) array.

    :param raw_body: the verified request body.
    :param header_event: the ``X-Webhook-Event`` header.
    :param header_batch: the ``X-Webhook-Batch`` header.
    :param header_version: the ``X-Webhook-Payload-Version`` header.
    :raises KapsoWebhookPayloadError: the body is not a Kapso delivery.
    """
    body = _load(raw_body)
    says_batch = (header_batch or "").strip().lower() == "true"
    envelope = isinstance(body, dict) and body.get("batch") is True
    version, problems = _header_version(header_version)
    if envelope and not says_batch:
        problems.append(f"{BATCH_HEADER} is not 'true', but the signed body is a batch: read as one")
    if not (envelope or says_batch):
        if not isinstance(body, dict):
            raise KapsoWebhookPayloadError(f"A delivery must be a JSON object, got {type(body).__name__}.")
        own = _own_name(body)
        if own is None:
            name, signed, conflicts = _unsigned_name(header_event, body)
        else:
            name, signed, conflicts = own, True, _header_differs(header_event, own, "body")
        event, version_conflicts = _event(body, name, signed, version)
        return ParsedBody([event], name, False, (*problems, *conflicts, *version_conflicts))
    items: Any = body
    batch_name, batch_signed = header_event, False
    if isinstance(body, dict):
        items = body.get("data", body.get("events"))
        own = _own_name(body)
        if own is not None:
            problems.extend(_header_differs(header_event, own, "batch"))
            batch_name, batch_signed = own, True
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise KapsoWebhookPayloadError(
            "A batched delivery must hold a JSON array of event objects (the body, or its 'data')."
        )
    events: list[KapsoWebhookEvent] = []
    for index, item in enumerate(items):
        own = _own_name(item)
        if own is not None:
            name, signed, conflicts = own, True, []
        elif batch_signed:
            name, signed, conflicts = batch_name, True, []
        else:
            name, signed, conflicts = _unsigned_name(batch_name, item)
        event, version_conflicts = _event(item, name, signed, version)
        events.append(event)
        problems.extend(f"event {index}: {text}" for text in (*conflicts, *version_conflicts))
    return ParsedBody(events, batch_name, True, tuple(problems))


def parse_events(raw_body: bytes | str, *, batch: bool, event_name: str | None = None) -> list[KapsoWebhookEvent]:
    """The events of a delivery body, as :meth:`KapsoWebhookVerifier.verify` reads them; call it on a verified body.

    :param raw_body: the request body.
    :param batch: whether ``X-Webhook-Batch`` was ``true``.
    :param event_name: the ``X-Webhook-Event`` header.
    :raises KapsoWebhookPayloadError: the body is not a JSON object (or array, for a batch).
    """
    return parse_body(raw_body, header_event=event_name, header_batch="true" if batch else None).events


def body_key(raw_body: bytes | str, parsed: ParsedBody) -> str:
    """The store key of a signed body, so that a replay under a fresh ``X-Idempotency-Key`` is still known.

    The hash covers the body's bytes. Where an event's name came only from the header and its body holds
    neither a message nor a conversation (project events: Kapso documents the same body for
    ``whatsapp.phone_number.created`` and ``.deleted``), the name is hashed too, so two such events are
    never taken for one; every other body tells its events apart by itself.
    """
    digest = hashlib.sha256()
    if any(_named_by_header(event) for event in parsed.events):
        digest.update((parsed.event_name or "").encode())
    digest.update(b"\0")
    digest.update(as_bytes(raw_body))
    return f"kapso:body:{digest.hexdigest()}"
