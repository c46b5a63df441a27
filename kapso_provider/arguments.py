"""The message and recipient arguments that every sending surface (operators, notifier) takes.

DAG files import this module through the operators and the notifier on every parse, so it imports nothing
heavy: the payload models and the recipient checks load when a value is checked.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeGuard

# Every field of the v1 ``message`` object that a DAG author can set, in the reference page's order.
# ``media_file`` (a multipart upload) is left out: the provider sends JSON bodies only.
MESSAGE_FIELDS: tuple[str, ...] = (
    "content",
    "message_type",
    "media_url",
    "media_id",
    "caption",
    "filename",
    "latitude",
    "longitude",
    "location_name",
    "location_address",
    "interactive_type",
    "body_text",
    "header_text",
    "footer_text",
    "buttons",
    "sections",
    "list_button_text",
    "template_name",
    "template_language",
    "template_params",
    "header_type",
    "header_params",
    "header_filename",
    "reaction_emoji",
    "reacted_to_message_id",
    "contacts",
)

RECIPIENT_FIELDS: tuple[str, ...] = ("conversation_id", "phone_number", "whatsapp_config_id", "customer_id")

_JINJA_MARKERS = ("{{", "{%", "{#")


def is_static(value: Any) -> bool:
    """Whether ``value`` is final at parse time: no Jinja markers, no XCom reference, no other lazy object."""
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str):
        return not any(marker in value for marker in _JINJA_MARKERS)
    if isinstance(value, list | tuple):
        return all(is_static(item) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and is_static(item) for key, item in value.items())
    return False


def is_uuid(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a string holding a UUID, the form the OpenAPI files give Kapso's ids."""
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def merge_message_object(message: Any, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a whole-message argument and per-field arguments into one v1 message object.

    :param message: the whole message as a dict or a JSON string, or ``None``.
    :param fields: the per-field arguments by field name; ``None`` values count as not given.
    :raises KapsoInvalidMessageError: both forms given, or ``message`` is not a JSON object.
    """
    from kapso_provider.exceptions import KapsoInvalidMessageError

    given_fields = {name: value for name, value in fields.items() if value is not None}
    if message is None:
        return given_fields
    if given_fields:
        raise KapsoInvalidMessageError(
            [f"message: give the whole message or separate fields, not both (also got {', '.join(given_fields)})"]
        )
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except json.JSONDecodeError as exc:
            raise KapsoInvalidMessageError([f"message: not valid JSON ({exc.msg} at position {exc.pos})"]) from None
    if not isinstance(message, Mapping):
        raise KapsoInvalidMessageError([f"message: must be a dict or a JSON object, got {type(message).__name__}"])
    return dict(message)


class KapsoMessageArguments:
    """The arguments that describe one WhatsApp message, shared by every class that sends one.

    Give the message either field by field (the v1 ``message`` object's field names, ``message_type``
    defaulting to ``text``) or whole as ``message``. Every argument is templated where the class using it
    renders templates.

    :param message: the whole v1 message object, as a dict or a JSON string; excludes the per-field
        arguments. (templated)
    :param message_type: ``text`` (default), ``image``, ``video``, ``audio``, ``document``, ``location``,
        ``interactive``, ``template``, ``reaction`` or ``contacts``. (templated)
    :param content: the text of a text message, or a summary that Kapso stores for other types;
        filled from the message when left out. (templated)
    :param media_url: public URL of an image, video, audio or document. (templated)
    :param media_id: WhatsApp media id, instead of ``media_url``. (templated)
    :param caption: caption of an image, video or document. (templated)
    :param filename: file name shown for a document. (templated)
    :param latitude: location latitude, -90 to 90. (templated)
    :param longitude: location longitude, -180 to 180. (templated)
    :param location_name: location name. (templated)
    :param location_address: location address. (templated)
    :param interactive_type: ``button`` or ``list``. (templated)
    :param body_text: body of an interactive message. (templated)
    :param header_text: header of an interactive message. (templated)
    :param footer_text: footer of an interactive message. (templated)
    :param buttons: 1 to 3 reply buttons, each ``{"id": ..., "title": ...}``. (templated)
    :param sections: list sections, each ``{"title": ..., "rows": [{"id", "title", "description"}]}``.
        (templated)
    :param list_button_text: label of the button that opens a list. (templated)
    :param template_name: name of an approved template. (templated)
    :param template_language: the template's language code, e.g. ``en_US``. (templated)
    :param template_params: positional values (list) or named values (dict) of the template. (templated)
    :param header_type: the template header's type: ``text``, ``image``, ``video`` or ``document``.
        (templated)
    :param header_params: the template header's text, or its media URL. (templated)
    :param header_filename: file name of a document header. (templated)
    :param reaction_emoji: the emoji of a reaction. (templated)
    :param reacted_to_message_id: the message a reaction answers, e.g. ``{{ ti.xcom_pull('send')['id'] }}``.
        (templated)
    :param contacts: 1 to 257 contact cards, each with a name. (templated)
    """

    message: Mapping[str, Any] | str | None
    content: str | None
    message_type: str | None
    media_url: str | None
    media_id: str | None
    caption: str | None
    filename: str | None
    latitude: float | None
    longitude: float | None
    location_name: str | None
    location_address: str | None
    interactive_type: str | None
    body_text: str | None
    header_text: str | None
    footer_text: str | None
    buttons: Sequence[Mapping[str, Any]] | None
    sections: Sequence[Mapping[str, Any]] | None
    list_button_text: str | None
    template_name: str | None
    template_language: str | None
    template_params: Sequence[str] | Mapping[str, Any] | None
    header_type: str | None
    header_params: str | None
    header_filename: str | None
    reaction_emoji: str | None
    reacted_to_message_id: str | None
    contacts: Sequence[Mapping[str, Any]] | None

    def __init__(
        self,
        *,
        message: Mapping[str, Any] | str | None = None,
        content: str | None = None,
        message_type: str | None = None,
        media_url: str | None = None,
        media_id: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
        location_name: str | None = None,
        location_address: str | None = None,
        interactive_type: str | None = None,
        body_text: str | None = None,
        header_text: str | None = None,
        footer_text: str | None = None,
        buttons: Sequence[Mapping[str, Any]] | None = None,
        sections: Sequence[Mapping[str, Any]] | None = None,
        list_button_text: str | None = None,
        template_name: str | None = None,
        template_language: str | None = None,
        template_params: Sequence[str] | Mapping[str, Any] | None = None,
        header_type: str | None = None,
        header_params: str | None = None,
        header_filename: str | None = None,
        reaction_emoji: str | None = None,
        reacted_to_message_id: str | None = None,
        contacts: Sequence[Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        # Cooperative: the rest goes to the Airflow base class (BaseOperator, BaseNotifier) after this one.
        super().__init__(**kwargs)
        self.message = message
        values = locals()
        for name in MESSAGE_FIELDS:
            setattr(self, name, values[name])

    def message_object(self) -> dict[str, Any]:
        """The v1 message object these arguments describe, unchecked."""
        return merge_message_object(self.message, {name: getattr(self, name) for name in MESSAGE_FIELDS})

    def message_is_static(self) -> bool:
        """Whether no message argument holds a template or an XCom reference any more."""
        return all(is_static(value) for value in (self.message, *(getattr(self, name) for name in MESSAGE_FIELDS)))


# -- coercion of rendered operator settings ---------------------------------------------------------------
# A templated setting renders to text ("True", "15"); a literal one keeps its type. These turn either into
# the value, or append a line naming the field to ``problems`` so that every bad setting is reported at once.

_TRUE_WORDS = ("true", "yes", "1")
_FALSE_WORDS = ("false", "no", "0")


def as_bool(field: str, value: object, problems: list[str]) -> bool:
    """``value`` as a bool (``True``, ``"true"``, ``"yes"``, ``"1"`` ...), or a problem naming ``field``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in (*_TRUE_WORDS, *_FALSE_WORDS):
        return value.strip().lower() in _TRUE_WORDS
    problems.append(f"{field}: must be true or false, got {value!r}")
    return False


def as_number(
    field: str,
    value: object,
    problems: list[str],
    *,
    integer: bool = False,
    minimum: float | None = None,
    unit: str | None = None,
) -> float:
    """``value`` as a finite number (an int when ``integer``) at or above ``minimum``, or a problem.

    :param unit: what the number counts, for the problem's text (``"seconds"``).
    :returns: the number, or NaN after appending a problem.
    """
    number: float = math.nan
    # bool is an int to Python but never a count or a duration.
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            number = math.nan
    kind = ("an integer" if integer else "a number") + (f" of {unit}" if unit else "")
    if minimum is not None:
        kind += f" >= {minimum:g}"
    if not math.isfinite(number) or (minimum is not None and number < minimum):
        problems.append(f"{field}: must be {kind}, got {value!r}")
        return math.nan
    return number


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 timestamp from Kapso as an aware datetime (UTC when it names no zone), else ``None``."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def plain_json(value: Any) -> Any:
    """``value`` after a round trip through JSON: what XCom gets is plain JSON whatever Kapso sent."""
    return json.loads(json.dumps(value))
