"""The message models: text, media, location, interactive, template and reaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator

from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.models._limits import (
    BUTTONS_MAX,
    BUTTONS_MIN,
    HTTP_URL,
    LIST_ROWS_MAX,
    LIST_SECTIONS_MAX,
    LIST_SECTIONS_MIN,
    compiled_pattern,
)
from kapso_provider.models._rules import (
    ButtonBody,
    ButtonId,
    ButtonTitle,
    Caption,
    Content,
    FooterText,
    HeaderText,
    HttpUrl,
    Latitude,
    ListBody,
    ListButtonText,
    Longitude,
    Model,
    NonEmpty,
    Problems,
    ReactionEmoji,
    RowDescription,
    RowId,
    RowTitle,
    SectionTitle,
    TemplateLanguage,
    TemplateName,
    TextBody,
    check_count,
    rule,
    rules_error,
    shown,
    summary_text,
)


class KapsoMessage(Model):
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
    content: Content | None = None

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
            "content": self.content if self.content and self.content.strip() else summary_text(self.summary()),
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
    content: TextBody


# --- Media -------------------------------------------------------------------------------------------


class _MediaMessage(KapsoMessage):
    """Shared by image, video, audio and document messages.

    :param media_url: an http(s) URL Kapso downloads the file from.
    :param media_id: a WhatsApp media id, instead of ``media_url``.
    """

    media_url: HttpUrl | None = None
    media_id: NonEmpty | None = None

    def _check(self, problems: Problems) -> None:
        if self.media_url is None and self.media_id is None:
            problems.append(("media_url", f"required (or media_id) for {self.label} messages"))
        elif self.media_url is not None and self.media_id is not None:
            # WhatsApp's media object takes a link or an id; with both, which one is used is unspecified.
            problems.append(("media_id", "give media_url or media_id, not both"))


class _CaptionedMediaMessage(_MediaMessage):
    """:param caption: shown under the media, up to :data:`CAPTION_MAX_CHARS` characters."""

    caption: Caption | None = None

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
    filename: NonEmpty | None = None

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
    latitude: Latitude
    longitude: Longitude
    location_name: str | None = None
    location_address: str | None = None

    def summary(self) -> str:
        place = self.location_name or self.location_address or f"{self.latitude}, {self.longitude}"
        return f"📍 {place}"


# --- Interactive -------------------------------------------------------------------------------------


class Button(Model):
    """A reply button.

    :param id: returned in the reply's webhook, 1 to :data:`BUTTON_ID_MAX_CHARS` characters, unique
        within the message.
    :param title: the button's label, 1 to :data:`BUTTON_TITLE_MAX_CHARS` characters.
    """

    id: ButtonId
    title: ButtonTitle


class ListRow(Model):
    """One choice of a list.

    :param id: returned in the reply's webhook, 1 to :data:`LIST_ROW_ID_MAX_CHARS` characters, unique
        across the whole list.
    :param title: 1 to :data:`LIST_ROW_TITLE_MAX_CHARS` characters.
    :param description: up to :data:`LIST_ROW_DESCRIPTION_MAX_CHARS` characters.
    """

    id: RowId
    title: RowTitle
    description: RowDescription | None = None


def _check_rows(rows: tuple[ListRow, ...]) -> Problems:
    return [] if rows else [("", "0 rows, minimum 1")]


class ListSection(Model):
    """A group of rows of a list.

    :param title: up to :data:`LIST_SECTION_TITLE_MAX_CHARS` characters; required when the list has more
        than one section.
    :param rows: at least one row.
    """

    title: SectionTitle | None = None
    rows: Annotated[tuple[ListRow, ...], rule(_check_rows)]


def _check_buttons(buttons: tuple[Button, ...]) -> Problems:
    problems: Problems = []
    if len(buttons) > BUTTONS_MAX:
        # WhatsApp's answer to more choices than reply buttons hold is the list message.
        problems.append(
            (
                "",
                f"{len(buttons)} buttons, limit {BUTTONS_MAX}; for up to {LIST_ROWS_MAX} choices send a list "
                "message instead (interactive_type='list' with sections and list_button_text)",
            )
        )
    else:
        check_count(problems, "", len(buttons), "buttons", BUTTONS_MIN, BUTTONS_MAX)
    first_index: dict[str, int] = {}
    for index, button in enumerate(buttons):
        if button.id in first_index:
            problems.append((f"[{index}].id", f"{shown(button.id)} repeats buttons[{first_index[button.id]}].id"))
        else:
            first_index[button.id] = index
    return problems


def _check_sections(sections: tuple[ListSection, ...]) -> Problems:
    problems: Problems = []
    check_count(problems, "", len(sections), "sections", LIST_SECTIONS_MIN, LIST_SECTIONS_MAX)
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
                problems.append((path, f"{shown(row.id)} repeats sections{first_seen[row.id]}"))
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
    header_text: HeaderText | None = None
    footer_text: FooterText | None = None

    def summary(self) -> str:
        return self.body_text


class ButtonMessage(_InteractiveMessage):
    """An interactive message with :data:`BUTTONS_MIN` to :data:`BUTTONS_MAX` reply buttons.

    :param body_text: the message text, 1 to :data:`BUTTON_BODY_MAX_CHARS` characters.
    :param buttons: the reply buttons; their ids must be unique.
    """

    label: ClassVar[str] = "interactive button"

    body_text: ButtonBody
    interactive_type: Literal["button"] = "button"
    buttons: Annotated[tuple[Button, ...], rule(_check_buttons)]


class ListMessage(_InteractiveMessage):
    """An interactive list: a button that opens up to :data:`LIST_ROWS_MAX` choices in sections.

    :param body_text: the message text, 1 to :data:`LIST_BODY_MAX_CHARS` characters.
    :param list_button_text: the label of the button that opens the list, 1 to
        :data:`LIST_BUTTON_TEXT_MAX_CHARS` characters.
    :param sections: :data:`LIST_SECTIONS_MIN` to :data:`LIST_SECTIONS_MAX` sections, each with at least
        one row, and at most :data:`LIST_ROWS_MAX` rows in all; row ids unique across the list.
    """

    label: ClassVar[str] = "interactive list"

    body_text: ListBody
    interactive_type: Literal["list"] = "list"
    list_button_text: ListButtonText
    sections: Annotated[tuple[ListSection, ...], rule(_check_sections)]


# --- Template ----------------------------------------------------------------------------------------


def _template_params_shape(value: object) -> object:
    # Checked by hand so that errors name the item ("template_params[2]") instead of listing both
    # members of the union.
    if value is None:
        return None
    problems: Problems = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                problems.append(("", f"parameter name {shown(key)} is not a non-empty string"))
            elif not isinstance(item, str):
                # Nested maps ({"header": {...}, "body": {...}}) appear in openapi-whatsapp.yaml's examples
                # but are valid against neither file's schema.
                problems.append((f".{key}", f"expected a string, got {type(item).__name__}"))
        if problems:
            raise rules_error(problems)
        return dict(value)
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problems.append((f"[{index}]", f"expected a string, got {type(item).__name__}"))
        if problems:
            raise rules_error(problems)
        return tuple(value)
    raise rules_error([("", f"expected a list or a map of strings, got {type(value).__name__}")])


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
    template_name: TemplateName
    template_language: TemplateLanguage
    template_params: Annotated[tuple[str, ...] | dict[str, str], BeforeValidator(_template_params_shape)] | None = None
    header_type: Literal["text", "image", "video", "document"] | None = None
    header_params: NonEmpty | None = None
    header_filename: NonEmpty | None = None

    def _check(self, problems: Problems) -> None:
        if self.header_type is None:
            if self.header_params is not None:
                problems.append(("header_params", "needs header_type (text, image, video or document)"))
        elif self.header_params is None:
            problems.append(("header_params", f"required when header_type is {self.header_type}"))
        elif self.header_type != "text" and not compiled_pattern(HTTP_URL).fullmatch(self.header_params):
            problems.append(("header_params", f"{shown(self.header_params)} is not an http(s) URL"))
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
    reaction_emoji: ReactionEmoji
    reacted_to_message_id: NonEmpty

    def summary(self) -> str:
        return self.reaction_emoji or "Reaction removed"
