"""Request validation and message shaping, written from Kapso's OpenAPI files.

These checks are deliberately independent of the provider's own request models: the simulator exists to
catch a client that builds bodies Kapso would refuse.
"""

from __future__ import annotations

import math
import re
from typing import Any

from kapso_provider.testing._errors import ValidationError

__all__ = [
    "MEDIA_TYPES",
    "MESSAGE_TYPES",
    "ValidationError",
    "message_type_data",
    "normalize_phone",
    "summarize",
    "template_placeholders",
    "validate_message",
]

MESSAGE_TYPES = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "template",
    "location",
    "interactive",
    "reaction",
    "contacts",
)
MEDIA_TYPES = frozenset({"image", "video", "audio", "document"})

# WhatsApp Cloud API limits that Kapso passes on: the text body, the interactive parts, the contact card.
MAX_TEXT_LENGTH = 4096
MAX_BODY_TEXT_LENGTH = 1024
# WhatsApp allows a list message a longer body than a button message.
MAX_LIST_BODY_TEXT_LENGTH = 4096
MAX_BUTTON_TITLE_LENGTH = 20
MAX_ROW_TITLE_LENGTH = 24
MAX_BUTTONS = 3
MAX_LIST_SECTIONS = 10
MAX_LIST_ROWS = 10
MAX_CONTACTS = 257

_MIME_BY_EXTENSION = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "3gp": "video/3gpp",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "aac": "audio/aac",
    "amr": "audio/amr",
    "m4a": "audio/mp4",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "csv": "text/csv",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def normalize_phone(phone: str) -> str:
    """Digits only, which is how Kapso compares phone numbers (``+1 (555) 123`` == ``1555123``).

    :param phone: a phone number in any common notation.
    """
    return re.sub(r"\D", "", phone)


def template_placeholders(content: str) -> list[str]:
    """Distinct ``{{...}}`` placeholder names of a template body, in order of appearance.

    :param content: the template body text.
    """
    seen: list[str] = []
    for name in _PLACEHOLDER.findall(content):
        if name not in seen:
            seen.append(name)
    return seen


def _is_blank(value: object) -> bool:
    return not isinstance(value, str) or not value.strip()


def _require_string(message: dict[str, Any], key: str, *, prefix: str = "message") -> str:
    value = message.get(key)
    if value is None:
        raise ValidationError(f"{prefix}.{key}", "is required")
    if not isinstance(value, str):
        raise ValidationError(f"{prefix}.{key}", "must be a string")
    if not value.strip():
        raise ValidationError(f"{prefix}.{key}", "can't be blank")
    return value


def _optional_string(message: dict[str, Any], key: str, *, prefix: str = "message") -> None:
    value = message.get(key)
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{prefix}.{key}", "must be a string")


def _number(message: dict[str, Any], key: str, low: float, high: float) -> None:
    value = message.get(key)
    if value is None:
        raise ValidationError(f"message.{key}", "is required for location messages")
    # bool is an int in Python but never a coordinate in JSON.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"message.{key}", "must be a number")
    if not low <= value <= high:
        raise ValidationError(f"message.{key}", f"must be between {low:g} and {high:g}")


def _check_text(message: dict[str, Any]) -> None:
    content = _require_string(message, "content")
    if len(content) > MAX_TEXT_LENGTH:
        raise ValidationError("message.content", f"is too long (maximum is {MAX_TEXT_LENGTH} characters)")


def _check_media(message: dict[str, Any], message_type: str) -> None:
    for key in ("media_url", "media_id", "caption", "filename"):
        _optional_string(message, key)
    media_url = message.get("media_url")
    media_id = message.get("media_id")
    if _is_blank(media_url) and _is_blank(media_id):
        raise ValidationError("message.media_url", f"or media_id is required for {message_type} messages")
    if isinstance(media_url, str) and media_url.strip() and not re.match(r"^https?://", media_url, re.IGNORECASE):
        raise ValidationError("message.media_url", "must be an http(s) URL")


def _check_location(message: dict[str, Any]) -> None:
    _number(message, "latitude", -90.0, 90.0)
    _number(message, "longitude", -180.0, 180.0)
    _optional_string(message, "location_name")
    _optional_string(message, "location_address")


def _check_choice(item: object, field: str, max_title: int) -> None:
    if not isinstance(item, dict):
        raise ValidationError(field, "must be an object")
    _require_string(item, "id", prefix=field)
    title = _require_string(item, "title", prefix=field)
    if len(title) > max_title:
        raise ValidationError(f"{field}.title", f"is too long (maximum is {max_title} characters)")


def _check_interactive(message: dict[str, Any]) -> None:
    interactive_type = message.get("interactive_type")
    if interactive_type is None:
        raise ValidationError("message.interactive_type", "is required for interactive messages")
    if interactive_type not in ("button", "list"):
        raise ValidationError("message.interactive_type", "must be one of: button, list")
    body_text = _require_string(message, "body_text")
    body_limit = MAX_LIST_BODY_TEXT_LENGTH if interactive_type == "list" else MAX_BODY_TEXT_LENGTH
    if len(body_text) > body_limit:
        raise ValidationError("message.body_text", f"is too long (maximum is {body_limit} characters)")
    for key in ("header_text", "footer_text", "list_button_text"):
        _optional_string(message, key)
    if interactive_type == "button":
        buttons = message.get("buttons")
        if not isinstance(buttons, list) or not buttons:
            raise ValidationError("message.buttons", "must have 1 to 3 buttons for button messages")
        if len(buttons) > MAX_BUTTONS:
            raise ValidationError("message.buttons", f"must have at most {MAX_BUTTONS} buttons")
        for index, button in enumerate(buttons):
            _check_choice(button, f"message.buttons[{index}]", MAX_BUTTON_TITLE_LENGTH)
        return
    sections = message.get("sections")
    if not isinstance(sections, list) or not sections:
        raise ValidationError("message.sections", "must have at least 1 section for list messages")
    if len(sections) > MAX_LIST_SECTIONS:
        raise ValidationError("message.sections", f"must have at most {MAX_LIST_SECTIONS} sections")
    total_rows = 0
    for index, section in enumerate(sections):
        field = f"message.sections[{index}]"
        if not isinstance(section, dict):
            raise ValidationError(field, "must be an object")
        _optional_string(section, "title", prefix=field)
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise ValidationError(f"{field}.rows", "must have at least 1 row")
        for row_index, row in enumerate(rows):
            _check_choice(row, f"{field}.rows[{row_index}]", MAX_ROW_TITLE_LENGTH)
        total_rows += len(rows)
    if total_rows > MAX_LIST_ROWS:
        raise ValidationError("message.sections", f"must have at most {MAX_LIST_ROWS} rows in total")


def _check_template(message: dict[str, Any]) -> None:
    _require_string(message, "template_name")
    _require_string(message, "template_language")
    params = message.get("template_params")
    if params is None:
        return
    if isinstance(params, list):
        if not all(isinstance(item, str) for item in params):
            raise ValidationError("message.template_params", "must be strings")
    elif not isinstance(params, dict):
        raise ValidationError("message.template_params", "must be an array or an object")
    for key in ("header_params", "header_filename"):
        _optional_string(message, key)
    header_type = message.get("header_type")
    if header_type is not None and header_type not in ("text", "image", "video", "document"):
        raise ValidationError("message.header_type", "must be one of: text, image, video, document")


def _check_reaction(message: dict[str, Any]) -> None:
    # WhatsApp removes an earlier reaction when the emoji is empty, so only its absence is an error.
    emoji = message.get("reaction_emoji")
    if emoji is None:
        raise ValidationError("message.reaction_emoji", "is required")
    if not isinstance(emoji, str):
        raise ValidationError("message.reaction_emoji", "must be a string")
    _require_string(message, "reacted_to_message_id")


def contact_name(contact: dict[str, Any]) -> str | None:
    """The display name of a contact card, nested (``name.formatted_name``) or flat (``first_name``).

    :param contact: one contact card as sent.
    """
    nested = contact.get("name")
    sources = [nested] if isinstance(nested, dict) else []
    sources.append(contact)
    for source in sources:
        for key in ("formatted_name", "first_name"):
            value = source.get(key)
            if isinstance(value, str) and value.strip():
                if key == "first_name" and isinstance(source.get("last_name"), str):
                    return f"{value} {source['last_name']}".strip()
                return value
    return None


def check_card_lists(card: dict[str, Any], field: str, *, status: int = 422) -> None:
    """The ``phones``, ``emails`` and ``urls`` of a contact card: arrays of objects with their value.

    :param card: the contact card as sent.
    :param field: its dotted name, for errors.
    :param status: the status of a refusal (422 on v1, 400 on the proxy).
    """
    for list_key, item_key in (("phones", "phone"), ("emails", "email"), ("urls", "url")):
        items = card.get(list_key)
        if items is None:
            continue
        if not isinstance(items, list):
            raise ValidationError(f"{field}.{list_key}", "must be an array", status=status)
        for item_index, item in enumerate(items):
            where = f"{field}.{list_key}[{item_index}]"
            if not isinstance(item, dict):
                raise ValidationError(where, "must be an object", status=status)
            value = item.get(item_key)
            if not isinstance(value, str) or not value.strip():
                problem = "is required" if value is None else "must be a non-blank string"
                raise ValidationError(f"{where}.{item_key}", problem, status=status)


def _check_contacts(message: dict[str, Any]) -> None:
    contacts = message.get("contacts")
    if not isinstance(contacts, list) or not contacts:
        raise ValidationError("message.contacts", "must have at least 1 contact")
    if len(contacts) > MAX_CONTACTS:
        raise ValidationError("message.contacts", f"must have at most {MAX_CONTACTS} contacts")
    for index, contact in enumerate(contacts):
        field = f"message.contacts[{index}]"
        if not isinstance(contact, dict):
            raise ValidationError(field, "must be an object")
        if contact_name(contact) is None:
            raise ValidationError(f"{field}.name", "formatted_name or first_name is required")
        check_card_lists(contact, field)


_CHECKS = {
    "text": _check_text,
    "location": _check_location,
    "interactive": _check_interactive,
    "template": _check_template,
    "reaction": _check_reaction,
    "contacts": _check_contacts,
}


def validate_message(body: object, *, require_content: bool) -> dict[str, Any]:
    """Check a send body (``{"message": {...}}``) and return its ``message`` object.

    :param body: the decoded JSON request body.
    :param require_content: whether ``content`` must be present whatever the type, as the conversation
        send of both OpenAPI files demands.
    :raises ValidationError: on the first problem found.
    """
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    message = body.get("message")
    if message is None:
        raise ValidationError("message", "is required")
    if not isinstance(message, dict):
        raise ValidationError("message", "must be an object")
    message_type = message.get("message_type", "text")
    if message_type not in MESSAGE_TYPES:
        raise ValidationError("message.message_type", f"must be one of: {', '.join(MESSAGE_TYPES)}")
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise ValidationError("message.content", "must be a string")
    if require_content and content is None:
        raise ValidationError("message.content", "is required")
    if message_type in MEDIA_TYPES:
        _check_media(message, message_type)
    else:
        _CHECKS[message_type](message)
    return message


def _mime_type(url: object) -> str | None:
    if not isinstance(url, str):
        return None
    extension = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    return _MIME_BY_EXTENSION.get(extension)


def _pick(message: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: message[key] for key in keys if message.get(key) is not None}


def _nested_contact(contact: dict[str, Any]) -> dict[str, Any]:
    # Store the nested form of openapi-whatsapp.yaml whichever form was sent, as Kapso documents.
    result = {key: value for key, value in contact.items() if key not in _FLAT_NAME_KEYS}
    name = dict(contact["name"]) if isinstance(contact.get("name"), dict) else {}
    for key in _FLAT_NAME_KEYS:
        if isinstance(contact.get(key), str):
            name.setdefault(key, contact[key])
    name.setdefault("formatted_name", contact_name(contact) or "")
    result["name"] = name
    return result


_FLAT_NAME_KEYS = ("formatted_name", "first_name", "last_name", "middle_name", "prefix", "suffix")


def message_type_data(message: dict[str, Any], message_type: str) -> dict[str, Any]:
    """The ``message_type_data`` object Kapso stores for a validated outbound message.

    :param message: the validated ``message`` object.
    :param message_type: its type.
    """
    if message_type == "text":
        return {"text": message.get("content", "")}
    if message_type in ("image", "video", "audio", "document"):
        keys = ("media_id",) if message_type == "audio" else ("caption", "media_id")
        if message_type == "document":
            keys = (*keys, "filename")
        data = _pick(message, *keys)
        mime = _mime_type(message.get("media_url"))
        if mime is not None:
            data["mime_type"] = mime
        return data
    if message_type == "location":
        return _pick(message, "latitude", "longitude", "location_name", "location_address")
    if message_type == "template":
        data = _pick(message, "template_name", "template_language", "header_type", "header_params", "header_filename")
        # The schema's template_params is a string array; named parameters live in metadata only.
        if isinstance(message.get("template_params"), list):
            data["template_params"] = list(message["template_params"])
        return data
    if message_type == "interactive":
        return _pick(
            message,
            "interactive_type",
            "body_text",
            "header_text",
            "footer_text",
            "buttons",
            "sections",
            "list_button_text",
        )
    if message_type == "reaction":
        return _pick(message, "reaction_emoji", "reacted_to_message_id")
    return {"contacts": [_nested_contact(contact) for contact in message.get("contacts", [])]}


def summarize(message: dict[str, Any], message_type: str) -> str:
    """The human-readable ``content`` Kapso stores when a send gives none.

    :param message: the validated ``message`` object.
    :param message_type: its type.
    """
    if message_type == "text":
        return str(message.get("content", ""))
    if message_type in MEDIA_TYPES:
        detail = message.get("caption") or message.get("filename")
        return f"[{message_type.capitalize()}] {detail}" if detail else f"[{message_type.capitalize()}]"
    if message_type == "location":
        name = message.get("location_name")
        return f"Location: {name}" if name else f"Location: {message['latitude']}, {message['longitude']}"
    if message_type == "template":
        return f"Template: {message['template_name']}"
    if message_type == "interactive":
        return str(message["body_text"])
    if message_type == "reaction":
        return str(message["reaction_emoji"])
    names = [contact_name(contact) or "" for contact in message.get("contacts", [])]
    return "Contact: " + ", ".join(names)
