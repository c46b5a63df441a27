"""Payload models of the messages sent through Kapso's API v1.

One frozen pydantic model per message type. Each checks the rules of Kapso's API and of WhatsApp before
anything is sent, and renders the ``message`` object of a send request: ``to_body()`` for
``POST /whatsapp_conversations/{id}/whatsapp_messages``, ``to_body(phone_number=...)`` for
``POST /whatsapp_messages``.

:func:`parse_message` turns a mapping into the right model and reports every broken rule at once as a
:class:`~kapso_provider.exceptions.KapsoInvalidMessageError`, one readable line per problem, e.g.
``"buttons[1].title: 27 characters, limit 20"``. Building a model class directly raises pydantic's
``ValidationError`` instead, whose messages carry the same text.

Where Kapso's two OpenAPI files disagree (``openapi.yaml`` and ``openapi-whatsapp.yaml``) the rendered
body is valid against both whenever one body can be:

- ``content`` is required on every conversation send, even for non-text types. When none is given, a
  readable summary is sent (caption, body text, file name, template name, "📍 place", the emoji, the
  contact names).
- A contact's name is sent both nested (``name: {...}``, required by ``openapi-whatsapp.yaml``) and as the
  flat ``formatted_name``/``first_name``/``last_name`` keys (the only form in ``openapi.yaml``).
- ``template_params`` may be a list of strings (valid against both files) or a map of names to strings
  (valid against ``openapi.yaml`` only).

Characters are counted as Unicode code points (Python's ``len``). Every limit is a module constant below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from kapso_provider.exceptions import KapsoInvalidMessageError

__all__ = [
    "MESSAGE_TYPES",
    "AudioMessage",
    "Button",
    "ButtonMessage",
    "Contact",
    "ContactAddress",
    "ContactEmail",
    "ContactName",
    "ContactOrg",
    "ContactPhone",
    "ContactUrl",
    "ContactsMessage",
    "DocumentMessage",
    "ImageMessage",
    "KapsoMessage",
    "ListMessage",
    "ListRow",
    "ListSection",
    "LocationMessage",
    "ReactionMessage",
    "TemplateMessage",
    "TextMessage",
    "VideoMessage",
    "parse_message",
]

#: The ``message_type`` values of Kapso's API v1, in the order of the files' enum.
MESSAGE_TYPES: tuple[str, ...] = (
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
#: The ``interactive_type`` values; each selects its own model.
INTERACTIVE_TYPES: tuple[str, ...] = ("button", "list")
#: The ``header_type`` values of a template send.
TEMPLATE_HEADER_TYPES: tuple[str, ...] = ("text", "image", "video", "document")

# --- Limits (WhatsApp Cloud API limits unless noted; Kapso forwards the message to it) -----------------
#: Body of a text message, and any ``content`` given explicitly.
TEXT_MAX_CHARS = 4096
#: Caption of an image, video or document.
CAPTION_MAX_CHARS = 1024
#: Reply buttons of an interactive button message.
BUTTONS_MIN = 1
BUTTONS_MAX = 3
BUTTON_ID_MAX_CHARS = 256
BUTTON_TITLE_MAX_CHARS = 20
#: ``body_text`` of an interactive button message.
BUTTON_BODY_MAX_CHARS = 1024
#: ``body_text`` of an interactive list message.
LIST_BODY_MAX_CHARS = 4096
#: ``header_text`` and ``footer_text`` of interactive messages.
HEADER_TEXT_MAX_CHARS = 60
FOOTER_TEXT_MAX_CHARS = 60
#: The button that opens a list.
LIST_BUTTON_TEXT_MAX_CHARS = 20
LIST_SECTIONS_MIN = 1
LIST_SECTIONS_MAX = 10
#: Rows of a list, counted over all its sections.
LIST_ROWS_MAX = 10
LIST_SECTION_TITLE_MAX_CHARS = 24
LIST_ROW_ID_MAX_CHARS = 200
LIST_ROW_TITLE_MAX_CHARS = 24
LIST_ROW_DESCRIPTION_MAX_CHARS = 72
LATITUDE_MIN = -90
LATITUDE_MAX = 90
LONGITUDE_MIN = -180
LONGITUDE_MAX = 180
TEMPLATE_NAME_MAX_CHARS = 512
#: Template names as Meta stores them: lowercase letters, digits and underscores.
TEMPLATE_NAME_PATTERN = r"[a-z0-9_]+"
#: Language codes as Meta names them: ``en``, ``fil``, ``en_US``, ``pt_BR``.
TEMPLATE_LANGUAGE_PATTERN = r"[a-z]{2,3}(?:_[A-Z]{2})?"
#: Contact cards in one contacts message (``openapi-whatsapp.yaml``: ``minItems: 1``, ``maxItems: 257``).
CONTACTS_MIN = 1
CONTACTS_MAX = 257

# Summaries are capped like a text body, so a generated ``content`` never breaks the explicit limit.
_SUMMARY_ELLIPSIS = "…"

# Patterns are kept as source text and compiled on first use (see _pattern): most DAG runs need few.
_HTTP_URL = r"(?i:https?)://[^\s/?#]+\S*"
# What JSON Schema's "uri" format asks for: a scheme and something after it.
_URI = r"[A-Za-z][A-Za-z0-9+.-]*:\S+"
_EMAIL = r"[^@\s]+@[^@\s]+"
_BIRTHDAY = r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"

# One emoji as WhatsApp accepts it in a reaction: a pictograph with its optional presentation selector
# or skin tone and tag sequence (subdivision flags), ZWJ sequences of those (families, professions), a
# flag (two regional indicators) or a keycap. Written out rather than taken from a Unicode library to keep
# the import cheap; it is deliberately a little permissive (any code point of the emoji blocks counts).
_EMOJI_BASE = (
    "\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a\u231b\u2328\u23cf\u23e9-\u23f3"
    "\u23f8-\u23fa\u24c2\u25aa\u25ab\u25b6\u25c0\u25fb-\u25fe\u2600-\u27bf\u2934\u2935\u2b05-\u2b07"
    "\u2b1b\u2b1c\u2b50\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff"
)
_EMOJI_ELEMENT = f"[{_EMOJI_BASE}](?:\ufe0f|[\U0001f3fb-\U0001f3ff])*(?:[\U000e0020-\U000e007e]+\U000e007f)?"
_EMOJI_PATTERN = f"[\U0001f1e6-\U0001f1ff]{{2}}|[0-9#*]\ufe0f?\u20e3|{_EMOJI_ELEMENT}(?:\u200d{_EMOJI_ELEMENT})*"
_compiled: dict[str, re.Pattern[str]] = {}


def _pattern(source: str) -> re.Pattern[str]:
    compiled = _compiled.get(source)
    if compiled is None:
        compiled = _compiled[source] = re.compile(source)
    return compiled


# --- Problem reporting -------------------------------------------------------------------------------
# A rule check yields (relative path, text) pairs. They travel inside one pydantic error of type
# "kapso_rules" so that pydantic prefixes the location (e.g. buttons -> 1) and parse_message can print
# "buttons[1].title: 27 characters, limit 20". Rules on one field run as that field's validator, so a
# broken field never hides the problems of the others; rules across fields run once the fields are valid.
_Problems = list[tuple[str, str]]
_RULES_ERROR = "kapso_rules"


def _rules_error(problems: _Problems) -> PydanticCustomError:
    text = "; ".join(f"{path}: {problem}" if path else problem for path, problem in problems)
    return PydanticCustomError(_RULES_ERROR, "{text}", {"text": text, "problems": tuple(problems)})


def _show(value: object, width: int = 40) -> str:
    """A value as it appears in an error line: its repr, shortened so huge inputs stay readable."""
    shown = repr(value)
    return shown if len(shown) <= width else shown[: width - 3] + "..."


def _check_chars(problems: _Problems, path: str, value: str, minimum: int, maximum: int | None) -> None:
    """Check a string's length in code points."""
    count = len(value)
    if maximum is not None and count > maximum:
        problems.append((path, f"{count} characters, limit {maximum}"))
    elif count < minimum:
        problems.append((path, f"{count} characters, minimum {minimum}"))
    elif minimum > 0 and not value.strip():
        # Kapso refuses a required text that is only white space ("can't be blank").
        problems.append((path, f"only white space ({count} characters), needs visible text"))


def _check_count(problems: _Problems, path: str, count: int, unit: str, minimum: int, maximum: int) -> None:
    if count > maximum:
        problems.append((path, f"{count} {unit}, limit {maximum}"))
    elif count < minimum:
        problems.append((path, f"{count} {unit}, minimum {minimum}"))


def _rule(check: Callable[[Any], _Problems]) -> AfterValidator:
    """A field validator from a function returning the problems of the field's (type-checked) value."""

    def validate(value: Any) -> Any:
        problems = check(value)
        if problems:
            raise _rules_error(problems)
        return value

    return AfterValidator(validate)


def _chars(minimum: int, maximum: int | None = None) -> AfterValidator:
    """A string of ``minimum`` to ``maximum`` characters."""

    def check(value: str) -> _Problems:
        problems: _Problems = []
        _check_chars(problems, "", value, minimum, maximum)
        return problems

    return _rule(check)


def _within(minimum: int, maximum: int) -> AfterValidator:
    """A number from ``minimum`` to ``maximum``, both included."""

    def check(value: float) -> _Problems:
        return [] if minimum <= value <= maximum else [("", f"{value} is outside {minimum}..{maximum}")]

    return _rule(check)


def _matching(pattern: str, what: str) -> AfterValidator:
    """A string matching ``pattern`` as a whole; ``what`` completes "'value' is not ..."."""

    def check(value: str) -> _Problems:
        return [] if _pattern(pattern).fullmatch(value) else [("", f"{_show(value)} is not {what}")]

    return _rule(check)


def _not_bool(value: object) -> object:
    # pydantic would read True as 1.0; a boolean coordinate is always a mistake.
    if isinstance(value, bool):
        raise _rules_error([("", "expected a number, got bool")])
    return value


def _summary(text: str) -> str:
    if len(text) <= TEXT_MAX_CHARS:
        return text
    return text[: TEXT_MAX_CHARS - len(_SUMMARY_ELLIPSIS)] + _SUMMARY_ELLIPSIS


# Field types with their rules. Optional fields are ``<type> | None = None``; None means "not set".
_Content = Annotated[str, _chars(0, TEXT_MAX_CHARS)]
_TextBody = Annotated[str, _chars(1, TEXT_MAX_CHARS)]
_NonEmpty = Annotated[str, _chars(1)]
_HttpUrl = Annotated[str, _matching(_HTTP_URL, "an http(s) URL")]
_Caption = Annotated[str, _chars(0, CAPTION_MAX_CHARS)]
_Latitude = Annotated[float, BeforeValidator(_not_bool), _within(LATITUDE_MIN, LATITUDE_MAX)]
_Longitude = Annotated[float, BeforeValidator(_not_bool), _within(LONGITUDE_MIN, LONGITUDE_MAX)]
_ButtonId = Annotated[str, _chars(1, BUTTON_ID_MAX_CHARS)]
_ButtonTitle = Annotated[str, _chars(1, BUTTON_TITLE_MAX_CHARS)]
_ButtonBody = Annotated[str, _chars(1, BUTTON_BODY_MAX_CHARS)]
_ListBody = Annotated[str, _chars(1, LIST_BODY_MAX_CHARS)]
_HeaderText = Annotated[str, _chars(0, HEADER_TEXT_MAX_CHARS)]
_FooterText = Annotated[str, _chars(0, FOOTER_TEXT_MAX_CHARS)]
_ListButtonText = Annotated[str, _chars(1, LIST_BUTTON_TEXT_MAX_CHARS)]
_SectionTitle = Annotated[str, _chars(0, LIST_SECTION_TITLE_MAX_CHARS)]
_RowId = Annotated[str, _chars(1, LIST_ROW_ID_MAX_CHARS)]
_RowTitle = Annotated[str, _chars(1, LIST_ROW_TITLE_MAX_CHARS)]
_RowDescription = Annotated[str, _chars(0, LIST_ROW_DESCRIPTION_MAX_CHARS)]
_TemplateName = Annotated[
    str,
    _chars(1, TEMPLATE_NAME_MAX_CHARS),
    _matching(TEMPLATE_NAME_PATTERN, "made of lowercase letters, digits and underscores"),
]
_TemplateLanguage = Annotated[str, _matching(TEMPLATE_LANGUAGE_PATTERN, "a language code like en, en_US or pt_BR")]
# The empty string removes an earlier reaction in WhatsApp's Cloud API, so it is accepted.
_ReactionEmoji = Annotated[str, _matching(f"(?:{_EMOJI_PATTERN})?", "a single emoji")]
_Email = Annotated[str, _matching(_EMAIL, "an email address")]
_Uri = Annotated[str, _matching(_URI, "an absolute URL")]


def _real_date(value: str) -> _Problems:
    # The pattern admits 1999-02-29; the OpenAPI files' "date" format, like WhatsApp, does not.
    import datetime

    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return [("", f"{_show(value)} is not a date in the calendar")]
    return []


_Birthday = Annotated[str, _matching(_BIRTHDAY, "a date like 1999-01-23"), _rule(_real_date)]


# --- Base classes ------------------------------------------------------------------------------------


class _Model(BaseModel):
    """Common configuration and the cross-field rule hook of every model, messages and their parts alike."""

    # defer_build: the core schema is built when a model is first used, not when DAG files import this
    # module. allow_inf_nan=False: NaN or infinite coordinates would be refused by WhatsApp anyway.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _apply_rules(self) -> Self:
        problems: _Problems = []
        self._check(problems)
        if problems:
            raise _rules_error(problems)
        return self

    def _check(self, problems: _Problems) -> None:
        """Append ``(path relative to this model, text)`` for every broken rule across fields.

        :param problems: the list to append to.
        """


class KapsoMessage(_Model):
    """Base class of every message model; :func:`parse_message` returns one of its subclasses.

    :param message_type: the API's ``message_type``; each subclass fixes it.
    :param content: the ``content`` sent with the message, up to :data:`TEXT_MAX_CHARS` characters.
        Required for text messages; for the other types a summary is sent when it is not given (or
        empty), because both API files require it on every send.
    """

    #: How error lines name this kind of message ("required for image messages").
    label: ClassVar[str] = "Kapso"
    #: What ``content`` says when a non-text message gets none and has nothing better to offer.
    placeholder: ClassVar[str] = ""

    message_type: str
    content: _Content | None = None

    def summary(self) -> str:
        """The readable ``content`` sent when none was given."""
        return self.placeholder

    def to_message_object(self) -> dict[str, Any]:
        """The v1 ``message`` object: ``message_type`` and ``content`` always, other fields when set."""
        # An empty content on a non-text message counts as not given: templated DAG arguments often
        # render to "" and Kapso would store an empty preview.
        message: dict[str, Any] = {
            "message_type": self.message_type,
            # White space alone says nothing, and Kapso stores the summary instead of a blank text.
            "content": self.content if self.content and self.content.strip() else _summary(self.summary()),
        }
        message.update(self._fields())
        return message

    def to_body(self, phone_number: str | None = None) -> dict[str, Any]:
        """The JSON body of a send request.

        :param phone_number: the recipient for ``POST /whatsapp_messages`` (international format), added
            as ``message.phone_number``. Leave it ``None`` for a send into a conversation by id.
        :raises KapsoInvalidMessageError: when ``phone_number`` is not a phone number.
        """
        message = self.to_message_object()
        if phone_number is not None:
            _check_phone_number(phone_number)
            message = {"phone_number": phone_number, **message}
        return {"message": message}

    def _fields(self) -> dict[str, Any]:
        # mode="json" turns tuples into lists; exclude_none because neither file declares a field nullable.
        return self.model_dump(mode="json", exclude_none=True, exclude={"message_type", "content"})


def _check_phone_number(phone_number: object) -> None:
    # One rule for every recipient check in the provider, kept where the operators can reach it cheaply.
    from kapso_provider.recipients import phone_number_problem

    problem = phone_number_problem(phone_number)
    if problem:
        raise KapsoInvalidMessageError([f"phone_number: {problem}"])


# --- Text --------------------------------------------------------------------------------------------


class TextMessage(KapsoMessage):
    """A plain text message.

    :param content: the text, 1 to :data:`TEXT_MAX_CHARS` characters.
    """

    label: ClassVar[str] = "text"

    message_type: Literal["text"] = "text"
    content: _TextBody


# --- Media -------------------------------------------------------------------------------------------


class _MediaMessage(KapsoMessage):
    """Shared by image, video, audio and document messages.

    :param media_url: an http(s) URL Kapso downloads the file from.
    :param media_id: a WhatsApp media id, instead of ``media_url``.
    """

    media_url: _HttpUrl | None = None
    media_id: _NonEmpty | None = None

    def _check(self, problems: _Problems) -> None:
        if self.media_url is None and self.media_id is None:
            problems.append(("media_url", f"required (or media_id) for {self.label} messages"))
        elif self.media_url is not None and self.media_id is not None:
            # WhatsApp's media object takes a link or an id; with both, which one is used is unspecified.
            problems.append(("media_id", "give media_url or media_id, not both"))


class _CaptionedMediaMessage(_MediaMessage):
    """:param caption: shown under the media, up to :data:`CAPTION_MAX_CHARS` characters."""

    caption: _Caption | None = None

    def summary(self) -> str:
        return self.caption or self.placeholder


class ImageMessage(_CaptionedMediaMessage):
    """An image, by URL or WhatsApp media id, with an optional caption."""

    label: ClassVar[str] = "image"
    placeholder: ClassVar[str] = "[Image]"

    message_type: Literal["image"] = "image"


class VideoMessage(_CaptionedMediaMessage):
    """A video, by URL or WhatsApp media id, with an optional caption."""

    label: ClassVar[str] = "video"
    placeholder: ClassVar[str] = "[Video]"

    message_type: Literal["video"] = "video"


class AudioMessage(_MediaMessage):
    """An audio file, by URL or WhatsApp media id. WhatsApp allows no caption on audio."""

    label: ClassVar[str] = "audio"
    placeholder: ClassVar[str] = "[Audio]"

    message_type: Literal["audio"] = "audio"


class DocumentMessage(_CaptionedMediaMessage):
    """A document, by URL or WhatsApp media id.

    :param filename: the file name the recipient sees; only documents have one.
    """

    label: ClassVar[str] = "document"
    placeholder: ClassVar[str] = "[Document]"

    message_type: Literal["document"] = "document"
    filename: _NonEmpty | None = None

    def summary(self) -> str:
        return self.caption or self.filename or self.placeholder


# --- Location ----------------------------------------------------------------------------------------


class LocationMessage(KapsoMessage):
    """A pin on the map.

    :param latitude: degrees, :data:`LATITUDE_MIN` to :data:`LATITUDE_MAX`.
    :param longitude: degrees, :data:`LONGITUDE_MIN` to :data:`LONGITUDE_MAX`.
    :param location_name: the place's name.
    :param location_address: the place's address.
    """

    label: ClassVar[str] = "location"

    message_type: Literal["location"] = "location"
    latitude: _Latitude
    longitude: _Longitude
    location_name: str | None = None
    location_address: str | None = None

    def summary(self) -> str:
        place = self.location_name or self.location_address or f"{self.latitude}, {self.longitude}"
        return f"📍 {place}"


# --- Interactive -------------------------------------------------------------------------------------


class Button(_Model):
    """A reply button.

    :param id: returned in the reply's webhook, 1 to :data:`BUTTON_ID_MAX_CHARS` characters, unique
        within the message.
    :param title: the button's label, 1 to :data:`BUTTON_TITLE_MAX_CHARS` characters.
    """

    id: _ButtonId
    title: _ButtonTitle


class ListRow(_Model):
    """One choice of a list.

    :param id: returned in the reply's webhook, 1 to :data:`LIST_ROW_ID_MAX_CHARS` characters, unique
        across the whole list.
    :param title: 1 to :data:`LIST_ROW_TITLE_MAX_CHARS` characters.
    :param description: up to :data:`LIST_ROW_DESCRIPTION_MAX_CHARS` characters.
    """

    id: _RowId
    title: _RowTitle
    description: _RowDescription | None = None


def _check_rows(rows: tuple[ListRow, ...]) -> _Problems:
    return [] if rows else [("", "0 rows, minimum 1")]


class ListSection(_Model):
    """A group of rows of a list.

    :param title: up to :data:`LIST_SECTION_TITLE_MAX_CHARS` characters; required when the list has more
        than one section.
    :param rows: at least one row.
    """

    title: _SectionTitle | None = None
    rows: Annotated[tuple[ListRow, ...], _rule(_check_rows)]


def _check_buttons(buttons: tuple[Button, ...]) -> _Problems:
    problems: _Problems = []
    _check_count(problems, "", len(buttons), "buttons", BUTTONS_MIN, BUTTONS_MAX)
    first_index: dict[str, int] = {}
    for index, button in enumerate(buttons):
        if button.id in first_index:
            problems.append((f"[{index}].id", f"{_show(button.id)} repeats buttons[{first_index[button.id]}].id"))
        else:
            first_index[button.id] = index
    return problems


def _check_sections(sections: tuple[ListSection, ...]) -> _Problems:
    problems: _Problems = []
    _check_count(problems, "", len(sections), "sections", LIST_SECTIONS_MIN, LIST_SECTIONS_MAX)
    rows = sum(len(section.rows) for section in sections)
    if rows > LIST_ROWS_MAX:
        problems.append(("", f"{rows} rows in total, limit {LIST_ROWS_MAX}"))
    first_seen: dict[str, str] = {}
    for section_index, section in enumerate(sections):
        if len(sections) > 1 and not section.title:
            problems.append((f"[{section_index}].title", "required when there are several sections"))
        for row_index, row in enumerate(section.rows):
            path = f"[{section_index}].rows[{row_index}].id"
            if row.id in first_seen:
                problems.append((path, f"{_show(row.id)} repeats sections{first_seen[row.id]}"))
            else:
                first_seen[row.id] = path
    return problems


class _InteractiveMessage(KapsoMessage):
    """Shared by button and list messages.

    :param header_text: up to :data:`HEADER_TEXT_MAX_CHARS` characters.
    :param footer_text: up to :data:`FOOTER_TEXT_MAX_CHARS` characters.
    """

    message_type: Literal["interactive"] = "interactive"
    body_text: str
    header_text: _HeaderText | None = None
    footer_text: _FooterText | None = None

    def summary(self) -> str:
        return self.body_text


class ButtonMessage(_InteractiveMessage):
    """An interactive message with :data:`BUTTONS_MIN` to :data:`BUTTONS_MAX` reply buttons.

    :param body_text: the message text, 1 to :data:`BUTTON_BODY_MAX_CHARS` characters.
    :param buttons: the reply buttons; their ids must be unique.
    """

    label: ClassVar[str] = "interactive button"

    body_text: _ButtonBody
    interactive_type: Literal["button"] = "button"
    buttons: Annotated[tuple[Button, ...], _rule(_check_buttons)]


class ListMessage(_InteractiveMessage):
    """An interactive list: a button that opens up to :data:`LIST_ROWS_MAX` choices in sections.

    :param body_text: the message text, 1 to :data:`LIST_BODY_MAX_CHARS` characters.
    :param list_button_text: the label of the button that opens the list, 1 to
        :data:`LIST_BUTTON_TEXT_MAX_CHARS` characters.
    :param sections: :data:`LIST_SECTIONS_MIN` to :data:`LIST_SECTIONS_MAX` sections, each with at least
        one row, and at most :data:`LIST_ROWS_MAX` rows in all; row ids unique across the list.
    """

    label: ClassVar[str] = "interactive list"

    body_text: _ListBody
    interactive_type: Literal["list"] = "list"
    list_button_text: _ListButtonText
    sections: Annotated[tuple[ListSection, ...], _rule(_check_sections)]


# --- Template ----------------------------------------------------------------------------------------


def _template_params_shape(value: object) -> object:
    # Checked by hand so that errors name the item ("template_params[2]") instead of listing both
    # members of the union.
    if value is None:
        return None
    problems: _Problems = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                problems.append(("", f"parameter name {_show(key)} is not a non-empty string"))
            elif not isinstance(item, str):
                # Nested maps ({"header": {...}, "body": {...}}) appear in openapi-whatsapp.yaml's examples
                # but are valid against neither file's schema.
                problems.append((f".{key}", f"expected a string, got {type(item).__name__}"))
        if problems:
            raise _rules_error(problems)
        return dict(value)
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problems.append((f"[{index}]", f"expected a string, got {type(item).__name__}"))
        if problems:
            raise _rules_error(problems)
        return tuple(value)
    raise _rules_error([("", f"expected a list or a map of strings, got {type(value).__name__}")])


class TemplateMessage(KapsoMessage):
    """A message from an approved WhatsApp template: the only kind allowed outside the 24-hour window.

    :param template_name: lowercase letters, digits and underscores, up to :data:`TEMPLATE_NAME_MAX_CHARS`.
    :param template_language: the template's language code, like ``en``, ``en_US`` or ``pt_BR``.
    :param template_params: positional values (a list of strings) or named values (a map of names to
        strings). A map is valid only against ``openapi.yaml``'s schema: ``openapi-whatsapp.yaml`` declares
        a string array for this field, although its own examples send maps.
    :param header_type: ``text``, ``image``, ``video`` or ``document``, when the header has a parameter.
    :param header_params: the header's text, or the media's http(s) URL; needs ``header_type``.
    :param header_filename: the file name of a document header.
    """

    label: ClassVar[str] = "template"

    message_type: Literal["template"] = "template"
    template_name: _TemplateName
    template_language: _TemplateLanguage
    template_params: Annotated[tuple[str, ...] | dict[str, str], BeforeValidator(_template_params_shape)] | None = None
    header_type: Literal["text", "image", "video", "document"] | None = None
    header_params: _NonEmpty | None = None
    header_filename: _NonEmpty | None = None

    def _check(self, problems: _Problems) -> None:
        if self.header_type is None:
            if self.header_params is not None:
                problems.append(("header_params", "needs header_type (text, image, video or document)"))
        elif self.header_params is None:
            problems.append(("header_params", f"required when header_type is {self.header_type}"))
        elif self.header_type != "text" and not _pattern(_HTTP_URL).fullmatch(self.header_params):
            problems.append(("header_params", f"{_show(self.header_params)} is not an http(s) URL"))
        if self.header_filename is not None and self.header_type != "document":
            problems.append(("header_filename", "allowed only when header_type is document"))

    def summary(self) -> str:
        return f"Template: {self.template_name}"


# --- Reaction ----------------------------------------------------------------------------------------


class ReactionMessage(KapsoMessage):
    """An emoji reaction to an earlier message.

    :param reaction_emoji: one emoji; the empty string removes an earlier reaction, as in WhatsApp's
        Cloud API, so it is accepted.
    :param reacted_to_message_id: the message reacted to. Kapso does not say whether it wants its own
        message id or WhatsApp's ``wamid``; the value is passed through as given.
    """

    label: ClassVar[str] = "reaction"

    message_type: Literal["reaction"] = "reaction"
    reaction_emoji: _ReactionEmoji
    reacted_to_message_id: _NonEmpty

    def summary(self) -> str:
        return self.reaction_emoji or "Reaction removed"


# --- Contacts ----------------------------------------------------------------------------------------

# The name keys a contact may carry flat, next to or instead of the nested ``name`` object.
_NAME_KEYS = ("formatted_name", "first_name", "last_name", "middle_name", "prefix", "suffix")
# The flat keys sent besides the nested name: the ones openapi.yaml declares.
_FLAT_NAME_KEYS_SENT = ("formatted_name", "first_name", "last_name")


class ContactName(_Model):
    """A contact's name; :class:`Contact` needs ``formatted_name`` or ``first_name``."""

    formatted_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    prefix: str | None = None
    suffix: str | None = None


class ContactPhone(_Model):
    """A phone number of a contact.

    :param phone: the number as shown, required.
    :param type: e.g. ``HOME``, ``WORK``.
    :param wa_id: the number's WhatsApp id.
    """

    phone: _NonEmpty
    type: str | None = None
    wa_id: str | None = None


class ContactEmail(_Model):
    """An email address of a contact.

    :param email: the address, required; checked as loosely as JSON Schema's ``email`` format.
    :param type: e.g. ``HOME``, ``WORK``.
    """

    email: _Email
    type: str | None = None


class ContactAddress(_Model):
    """A postal address of a contact; every part is optional."""

    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    type: str | None = None


class ContactOrg(_Model):
    """Where a contact works."""

    company: str | None = None
    department: str | None = None
    title: str | None = None


class ContactUrl(_Model):
    """A web address of a contact.

    :param url: an absolute URL, required.
    :param type: e.g. ``Company``.
    """

    url: _Uri
    type: str | None = None


class Contact(_Model):
    """A contact card. The name may be given nested (``name={...}``) or flat (``formatted_name=...``,
    ``first_name=...``), or both when they agree; it is sent both ways.

    :param name: the contact's name; needs ``formatted_name`` or ``first_name``.
    :param birthday: ``YYYY-MM-DD``.
    :param phones: phone numbers, each with ``phone``.
    :param emails: email addresses, each with ``email``.
    :param addresses: postal addresses.
    :param org: the contact's organisation.
    :param urls: web addresses, each with ``url``.
    """

    name: ContactName | None = None
    birthday: _Birthday | None = None
    phones: tuple[ContactPhone, ...] | None = None
    emails: tuple[ContactEmail, ...] | None = None
    addresses: tuple[ContactAddress, ...] | None = None
    org: ContactOrg | None = None
    urls: tuple[ContactUrl, ...] | None = None

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_name(cls, data: object) -> object:
        if not isinstance(data, Mapping):
            return data
        flat = {key: data[key] for key in _NAME_KEYS if key in data and data[key] is not None}
        rest = {key: value for key, value in data.items() if key not in _NAME_KEYS}
        if not flat:
            return rest
        name = rest.get("name")
        if isinstance(name, ContactName):
            name = name.model_dump(exclude_none=True)
        if name is None:
            name = {}
        if not isinstance(name, Mapping):
            return rest  # pydantic reports the wrong type of "name"
        merged = dict(name)
        problems: _Problems = []
        for key, value in flat.items():
            if merged.get(key) is not None and merged[key] != value:
                problems.append((key, f"{_show(value)} differs from name.{key} {_show(merged[key])}"))
            merged[key] = value
        if problems:
            raise _rules_error(problems)
        return {**rest, "name": merged}

    def _check(self, problems: _Problems) -> None:
        names = (self.name.formatted_name, self.name.first_name) if self.name is not None else ()
        if not any(name and name.strip() for name in names):
            problems.append(("name", "needs formatted_name or first_name"))

    def display_name(self) -> str:
        """The name as a person reads it."""
        name = self.name or ContactName()
        if name.formatted_name:
            return name.formatted_name
        return " ".join(part for part in (name.first_name, name.last_name) if part)

    def to_api(self) -> dict[str, Any]:
        """The contact as sent: nested ``name``, the flat name keys, then the other fields that are set."""
        name = self.name.model_dump(exclude_none=True) if self.name is not None else {}
        contact: dict[str, Any] = {"name": name}
        contact.update({key: name[key] for key in _FLAT_NAME_KEYS_SENT if key in name})
        contact.update(self.model_dump(mode="json", exclude_none=True, exclude={"name"}))
        return contact


def _check_contacts(contacts: tuple[Contact, ...]) -> _Problems:
    problems: _Problems = []
    _check_count(problems, "", len(contacts), "contacts", CONTACTS_MIN, CONTACTS_MAX)
    return problems


class ContactsMessage(KapsoMessage):
    """Contact cards, :data:`CONTACTS_MIN` to :data:`CONTACTS_MAX` of them.

    :param contacts: the cards; plain mappings are accepted with the name in either form.
    """

    label: ClassVar[str] = "contacts"

    message_type: Literal["contacts"] = "contacts"
    contacts: Annotated[tuple[Contact, ...], _rule(_check_contacts)]

    def summary(self) -> str:
        return "👤 " + ", ".join(contact.display_name() for contact in self.contacts)

    def _fields(self) -> dict[str, Any]:
        return {"contacts": [contact.to_api() for contact in self.contacts]}


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
                [f"interactive_type: {_show(interactive_type)} is not one of {', '.join(INTERACTIVE_TYPES)}"]
            )
    else:
        model = _MODEL_BY_TYPE.get(message_type) if isinstance(message_type, str) else None
        if model is None:
            raise KapsoInvalidMessageError(
                [f"message_type: {_show(message_type)} is not one of {', '.join(MESSAGE_TYPES)}"]
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
        if kind == _RULES_ERROR:
            lines.extend(f"{_join_path(path, relative)}: {text}" for relative, text in context["problems"])
        elif kind == "missing":
            lines.append(f"{path}: required for {model.label} messages" if len(loc) == 1 else f"{path}: required")
        elif kind == "extra_forbidden":
            lines.append(_unknown_field_line(loc[0], model) if len(loc) == 1 else f"{path}: unknown field")
        elif kind == "string_type":
            lines.append(f"{path}: expected a string, got {received}")
        elif kind in ("float_type", "float_parsing", "int_type", "int_parsing"):
            lines.append(f"{path}: expected a number, got {received} {_show(item['input'])}")
        elif kind == "finite_number":
            lines.append(f"{path}: {_show(item['input'])} is not a finite number")
        elif kind in ("tuple_type", "list_type"):
            lines.append(f"{path}: expected a list, got {received}")
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            lines.append(f"{path}: expected an object (a mapping), got {received}")
        elif kind == "literal_error":
            lines.append(f"{path}: {_show(item['input'])} is not one of {context.get('expected', '')}")
        else:
            lines.append(f"{path or 'message'}: {item['msg']}")
    return lines
