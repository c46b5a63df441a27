"""From a mapping to the right message model, with every broken rule reported at once: :func:`parse_message`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.models._limits import INTERACTIVE_TYPES, MESSAGE_TYPES
from kapso_provider.models._rules import RULES_ERROR, shown
from kapso_provider.models.contacts import ContactsMessage
from kapso_provider.models.messages import (
    AudioMessage,
    ButtonMessage,
    DocumentMessage,
    ImageMessage,
    KapsoMessage,
    ListMessage,
    LocationMessage,
    ReactionMessage,
    TemplateMessage,
    TextMessage,
    VideoMessage,
)

# --- Parsing -----------------------------------------------------------------------------------------

_MODEL_BY_TYPE: dict[str, type[KapsoMessage]] = {
    "text": TextMessage,
    "image": ImageMessage,
    "video": VideoMessage,
    "audio": AudioMessage,
    "document": DocumentMessage,
    "location": LocationMessage,
    "template": TemplateMessage,
    "reaction": ReactionMessage,
    "contacts": ContactsMessage,
}
_MODEL_BY_INTERACTIVE_TYPE: dict[str, type[KapsoMessage]] = {"button": ButtonMessage, "list": ListMessage}


def parse_message(message: Mapping[str, Any] | KapsoMessage) -> KapsoMessage:
    """Build the message model a mapping describes, checking every rule.

    :param message: the fields of the v1 ``message`` object. ``message_type`` defaults to ``text``; for
        ``interactive``, ``interactive_type`` (``button`` or ``list``) selects the model and, when absent,
        is taken from the presence of ``buttons`` or ``sections``. Top-level keys whose value is ``None``
        count as not given. A model that is already built is returned as is.
    :returns: a :class:`KapsoMessage` subclass instance.
    :raises KapsoInvalidMessageError: listing every broken rule, one line each.
    """
    if isinstance(message, KapsoMessage):
        return message
    if not isinstance(message, Mapping):
        raise KapsoInvalidMessageError([f"message: expected a mapping, got {type(message).__name__}"])
    data = {key: value for key, value in message.items() if value is not None}
    message_type = data.get("message_type", "text")
    if message_type == "interactive":
        interactive_type = data.get("interactive_type")
        if interactive_type is None:
            if ("buttons" in data) != ("sections" in data):
                interactive_type = "button" if "buttons" in data else "list"
            else:
                raise KapsoInvalidMessageError(["interactive_type: required for interactive messages (button or list)"])
        model = _MODEL_BY_INTERACTIVE_TYPE.get(interactive_type) if isinstance(interactive_type, str) else None
        if model is None:
            raise KapsoInvalidMessageError(
                [f"interactive_type: {shown(interactive_type)} is not one of {', '.join(INTERACTIVE_TYPES)}"]
            )
    else:
        model = _MODEL_BY_TYPE.get(message_type) if isinstance(message_type, str) else None
        if model is None:
            raise KapsoInvalidMessageError(
                [f"message_type: {shown(message_type)} is not one of {', '.join(MESSAGE_TYPES)}"]
            )
    # Unknown keys are reported here rather than by pydantic (extra="forbid"), whose error would stop the
    # rule checks and hide the other problems of the message.
    problems = [_unknown_field_line(key, model) for key in data if key not in model.model_fields]
    known = {key: value for key, value in data.items() if key in model.model_fields}
    try:
        built = model.model_validate(known)
    except ValidationError as error:
        raise KapsoInvalidMessageError(problems + _problem_lines(error, model)) from error
    if problems:
        raise KapsoInvalidMessageError(problems)
    return built


def _unknown_field_line(key: object, model: type[KapsoMessage]) -> str:
    if key in _all_message_fields():
        return f"{key}: not allowed on {model.label} messages"
    return f"{key}: unknown field (allowed: {', '.join(model.model_fields)})"


def _join_path(prefix: str, relative: str) -> str:
    if not relative:
        return prefix or "message"
    if not prefix or relative.startswith(("[", ".")):
        return (prefix + relative).lstrip(".")
    return f"{prefix}.{relative}"


def _loc_path(loc: tuple[int | str, ...]) -> str:
    """``("buttons", 1, "title")`` -> ``"buttons[1].title"``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _all_message_fields() -> frozenset[str]:
    return frozenset(
        name
        for model in (*_MODEL_BY_TYPE.values(), *_MODEL_BY_INTERACTIVE_TYPE.values())
        for name in model.model_fields
    )


def _problem_lines(error: ValidationError, model: type[KapsoMessage]) -> list[str]:
    """Translate pydantic's errors into one line per problem: ``"<field path>: <what is wrong>"``."""
    lines: list[str] = []
    for item in error.errors(include_url=False):
        loc = item["loc"]
        path = _loc_path(loc)
        kind = item["type"]
        context = item.get("ctx") or {}
        received = type(item["input"]).__name__
        if kind == RULES_ERROR:
            lines.extend(f"{_join_path(path, relative)}: {text}" for relative, text in context["problems"])
        elif kind == "missing":
            lines.append(f"{path}: required for {model.label} messages" if len(loc) == 1 else f"{path}: required")
        elif kind == "extra_forbidden":
            lines.append(_unknown_field_line(loc[0], model) if len(loc) == 1 else f"{path}: unknown field")
        elif kind == "string_type":
            lines.append(f"{path}: expected a string, got {received}")
        elif kind in ("float_type", "float_parsing", "int_type", "int_parsing"):
            lines.append(f"{path}: expected a number, got {received} {shown(item['input'])}")
        elif kind == "finite_number":
            lines.append(f"{path}: {shown(item['input'])} is not a finite number")
        elif kind in ("tuple_type", "list_type"):
            lines.append(f"{path}: expected a list, got {received}")
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            lines.append(f"{path}: expected an object (a mapping), got {received}")
        elif kind == "literal_error":
            lines.append(f"{path}: {shown(item['input'])} is not one of {context.get('expected', '')}")
        else:
            lines.append(f"{path or 'message'}: {item['msg']}")
    return lines
