"""What a message's ``status`` means for a wait, and which message a wait reads: shared by sensor and trigger.

Kapso's API files type a message's ``status`` as a free string. Outbound sends come back ``sent``;
WhatsApp's status updates then move them to ``delivered``, ``read`` or ``failed``. ``sent`` can be final:
reactions get no receipts, a customer who blocked the number never receives, and read receipts can be
switched off. Standard library only: DAG files import the sensor module, which imports this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kapso_provider.exceptions import KapsoArgumentError

__all__ = [
    "TARGET_STATUSES",
    "MessageRef",
    "Outcome",
    "check_target_status",
    "classify",
    "failure_details",
    "failure_text",
    "message_ref",
    "timeout_text",
]

#: Statuses a wait may aim at, in the order WhatsApp reaches them.
TARGET_STATUSES = ("delivered", "read")
# How far along each known status is; a later status satisfies every earlier target.
_PROGRESS = {"pending": 0, "sent": 1, "delivered": 2, "read": 3}

Outcome = Literal["reached", "failed", "waiting"]


def check_target_status(value: object) -> str:
    """``value`` if it is a status a wait may aim at.

    :param value: the ``target_status`` argument.
    :raises KapsoArgumentError: naming the field and the allowed values.
    """
    if value not in TARGET_STATUSES:
        raise KapsoArgumentError(
            f"target_status: {value!r} is not allowed; use one of {', '.join(repr(s) for s in TARGET_STATUSES)}."
        )
    return str(value)


def classify(record: Mapping[str, Any], target_status: str) -> Outcome:
    """Whether a message record has reached ``target_status``, failed, or is still on its way.

    :param record: the message record as Kapso lists it.
    :param target_status: ``delivered`` or ``read``; ``read`` satisfies ``delivered``.
    """
    status = record.get("status")
    if status == "failed":
        return "failed"
    progress = _PROGRESS.get(str(status).lower()) if isinstance(status, str) else None
    if progress is not None and progress >= _PROGRESS[target_status]:
        return "reached"
    # Unknown statuses (Kapso's field is a free string) are waited through, not taken for success.
    return "waiting"


def _first(container: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = container.get(key)
        if value not in (None, "", [], {}):
            return value
    return None


def _from_error_object(error: Mapping[str, Any]) -> tuple[Any, Any]:
    details = error.get("error_data")
    detail_text = details.get("details") if isinstance(details, Mapping) else None
    code = _first(error, "code", "error_code")
    text = _first(error, "message", "error_message", "title", "error_title") or detail_text
    if detail_text and text and detail_text != text:
        text = f"{text} ({detail_text})"
    return code, text


def failure_details(record: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """WhatsApp's error code and text for a ``failed`` message, wherever the record keeps them.

    Kapso's API files define no error field on messages. This looks, in order, in ``metadata`` and in the
    record itself for ``error_code`` / ``error_message`` (where the simulator keeps them), for Meta-style
    ``meta_error_code`` / ``meta_error_message``, for an ``error`` object, for ``error_details`` (the shape of
    Kapso's broadcast recipients) and for WhatsApp's webhook ``errors`` list (``code``, ``title``,
    ``message``, ``error_data.details``).

    :param record: the message record.
    :returns: ``(code, text)``, each ``None`` when nowhere to be found.
    """
    code: Any = None
    text: Any = None
    metadata = record.get("metadata")
    containers = [metadata, record] if isinstance(metadata, Mapping) else [record]
    for container in containers:
        code = code or _first(container, "error_code", "meta_error_code")
        text = text or _first(container, "error_message", "meta_error_message")
        error = container.get("error")
        if isinstance(error, Mapping):
            found_code, found_text = _from_error_object(error)
            code, text = code or found_code, text or found_text
        elif isinstance(error, str) and error:
            text = text or error
        error_details = container.get("error_details")
        if isinstance(error_details, Mapping):
            found_code, found_text = _from_error_object(error_details)
            code, text = code or found_code, text or found_text
        errors = container.get("errors")
        if isinstance(errors, list):
            for item in errors:
                if isinstance(item, Mapping):
                    found_code, found_text = _from_error_object(item)
                    code, text = code or found_code, text or found_text
    return (None if code is None else str(code)), (None if text is None else str(text))


def failure_text(record: Mapping[str, Any], *, message_id: str) -> str:
    """The sentence a failed wait ends with: which message, WhatsApp's code and text.

    :param record: the ``failed`` message record.
    :param message_id: the id the wait was given.
    """
    code, text = failure_details(record)
    if code is None and text is None:
        reason = "WhatsApp gave no error code or text"
    else:
        reason = f"WhatsApp error {code or '(no code)'}: {text or '(no text)'}"
    return f"Kapso message {message_id} failed: {reason}."


def timeout_text(*, message_id: str, target_status: str, last_status: str | None, timeout: float) -> str:
    """The sentence a timed-out wait ends with; says what ``sent`` means when that is where it stopped.

    :param message_id: the id the wait was given.
    :param target_status: the status waited for.
    :param last_status: the status last read, ``None`` if no read succeeded.
    :param timeout: the sensor's timeout in seconds.
    """
    text = (
        f"Kapso message {message_id} did not reach {target_status!r} within {timeout:g} s; "
        f"last status seen: {last_status or 'none (no read succeeded)'}."
    )
    if last_status == "sent":
        text += (
            " Kapso accepted the message and WhatsApp took it, but delivery was never confirmed: 'sent' can be"
            " final (reactions get no receipts, the customer may have blocked the number or be offline)."
        )
    elif last_status == "delivered" and target_status == "read":
        text += " The message was delivered; read receipts can be switched off, so 'read' may never come."
    return text


@dataclass(frozen=True)
class MessageRef:
    """The message a status wait reads, and what says where it is.

    :param message_id: Kapso's id of the message, or its WhatsApp ``wamid``.
    :param conversation_id: the conversation holding it, when known.
    :param phone_number: the customer's number, whose conversations hold it, when the conversation is not known.
    """

    message_id: str
    conversation_id: str | None = None
    phone_number: str | None = None


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) and value else None


def message_ref(message: object) -> MessageRef:
    """Which message the record a send pushed to XCom names, and where to read it.

    Kapso's message record (``WhatsappMessage`` in both OpenAPI files) documents ``id``,
    ``whatsapp_message_id`` and ``phone_number``, not the conversation. ``whatsapp_conversation_id`` is read
    when the record has it (Kapso's answers have carried it), else the conversation is found later through
    ``phone_number`` (``docs/kapso-api-notes.md``).

    :param message: the record (``KapsoSendMessageOperator``'s return value).
    :raises KapsoArgumentError: naming the field when the record lacks an id, or anything to find it by.
    """
    if not isinstance(message, Mapping):
        raise KapsoArgumentError(
            f"message: expected the message record a send returned (a dict), got {type(message).__name__}."
        )
    message_id = _text(message, "id") or _text(message, "whatsapp_message_id")
    if message_id is None:
        raise KapsoArgumentError("message: the record has no 'id' or 'whatsapp_message_id'.")
    conversation_id = _text(message, "whatsapp_conversation_id")
    phone_number = _text(message, "phone_number")
    if conversation_id is None and phone_number is None:
        raise KapsoArgumentError(
            "message: the record has neither 'whatsapp_conversation_id' nor 'phone_number' (a template send by "
            "template id answers with a summary, not a message record); pass message_id and conversation_id "
            "instead."
        )
    return MessageRef(message_id=message_id, conversation_id=conversation_id, phone_number=phone_number)
