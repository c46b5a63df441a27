"""A message given whole in the WhatsApp Cloud API's own body, the native form of Kapso's current API.

``message={"type": "text", "text": {"body": "Hi"}}`` (a mapping with ``type`` and no ``message_type``) is
taken as Meta's body, sent as is through the proxy's ``POST /{phone_number_id}/messages``; it unlocks the
kinds that have no flat arguments (carousels, address, order and call permission messages, template buttons
of every sub-type). :func:`cloud_api_problems` checks it first against WhatsApp's limits, as
``openapi-whatsapp.yaml`` states them, naming each field by its path in the body. The recipient is not part
of it: it comes from the send's ``phone_number`` or ``conversation_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import model_validator

from kapso_provider.models._limits import (
    BUTTON_ID_MAX_CHARS,
    BUTTON_TITLE_MAX_CHARS,
    BUTTONS_MAX,
    BUTTONS_MIN,
    CALLBACK_DATA_MAX_CHARS,
    CAPTION_MAX_CHARS,
    CAROUSEL_CARD_BODY_MAX_CHARS,
    CAROUSEL_CARDS_MAX,
    CAROUSEL_CARDS_MIN,
    CONTACT_FORMATTED_NAME_MAX_CHARS,
    CONTACTS_MAX,
    CONTACTS_MIN,
    CTA_DISPLAY_TEXT_MAX_CHARS,
    EMOJI_PATTERN,
    FLOW_CTA_MAX_CHARS,
    FOOTER_TEXT_MAX_CHARS,
    HEADER_TEXT_MAX_CHARS,
    HTTP_URL,
    INTERACTIVE_BODY_MAX_CHARS,
    LATITUDE_MAX,
    LATITUDE_MIN,
    LIST_BUTTON_TEXT_MAX_CHARS,
    LIST_ROW_DESCRIPTION_MAX_CHARS,
    LIST_ROW_ID_MAX_CHARS,
    LIST_ROW_TITLE_MAX_CHARS,
    LIST_ROWS_MAX,
    LIST_SECTION_TITLE_MAX_CHARS,
    LIST_SECTIONS_MAX,
    LIST_SECTIONS_MIN,
    LONGITUDE_MAX,
    LONGITUDE_MIN,
    PRODUCT_ITEMS_MAX,
    PRODUCT_SECTION_TITLE_MAX_CHARS,
    PRODUCT_SECTIONS_MAX,
    PRODUCT_SECTIONS_MIN,
    TEMPLATE_LANGUAGE_PATTERN,
    TEMPLATE_NAME_MAX_CHARS,
    TEMPLATE_NAME_PATTERN,
    TEXT_MAX_CHARS,
    compiled_pattern,
)
from kapso_provider.models._rules import Problems, check_chars, check_count, shown
from kapso_provider.models.messages import KapsoMessage

__all__ = ["CLOUD_API_INTERACTIVE_TYPES", "CLOUD_API_MESSAGE_TYPES", "CloudApiMessage", "cloud_api_problems"]

#: The proxy's ``MessageType`` enum.
CLOUD_API_MESSAGE_TYPES: tuple[str, ...] = (
    "text",
    "image",
    "video",
    "audio",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "template",
    "reaction",
)
#: The proxy's ``interactive.type`` enum.
CLOUD_API_INTERACTIVE_TYPES: tuple[str, ...] = (
    "button",
    "list",
    "flow",
    "cta_url",
    "carousel",
    "location_request_message",
    "request_contact_info",
    "address_message",
    "order_details",
    "order_status",
    "product",
    "product_list",
    "call_permission_request",
    "catalog_message",
)
# The top-level keys of the proxy's WhatsappMessage a body may carry (the recipient comes from the send).
_ENVELOPE_KEYS = frozenset(
    {"messaging_product", "recipient_type", "type", "context", "biz_opaque_callback_data", "messaging_account_id"}
)
_RECIPIENT_KEYS = ("to", "recipient")
# ``action.name`` each interactive type requires, where the proxy's file names one.
_ACTION_NAMES = {
    "cta_url": "cta_url",
    "flow": "flow",
    "location_request_message": "send_location",
    "request_contact_info": "request_contact_info",
    "address_message": "address_message",
    "call_permission_request": "call_permission_request",
    "catalog_message": "catalog_message",
    "order_details": "review_and_pay",
    "order_status": "review_order",
}


class _Checker:
    """Collects ``(path, text)`` problems while walking a body; paths are the body's own keys."""

    def __init__(self) -> None:
        self.problems: Problems = []

    def add(self, path: str, text: str) -> None:
        self.problems.append((path, text))

    def obj(self, value: Any, path: str, *, required: bool = True) -> Mapping[str, Any] | None:
        if value is None:
            if required:
                self.add(path, "required")
            return None
        if not isinstance(value, Mapping):
            self.add(path, f"expected an object, got {type(value).__name__}")
            return None
        return value

    def items(self, value: Any, path: str, unit: str, minimum: int, maximum: int | None) -> list[Any]:
        if value is None:
            value = []
        if not isinstance(value, list | tuple):
            self.add(path, f"expected a list, got {type(value).__name__}")
            return []
        if maximum is not None:
            check_count(self.problems, path, len(value), unit, minimum, maximum)
        elif len(value) < minimum:
            self.add(path, f"{len(value)} {unit}, minimum {minimum}")
        return list(value)

    def text(
        self, value: Any, path: str, minimum: int = 1, maximum: int | None = None, *, required: bool = True
    ) -> str | None:
        if value is None:
            if required:
                self.add(path, "required")
            return None
        if not isinstance(value, str):
            self.add(path, f"expected a string, got {type(value).__name__}")
            return None
        check_chars(self.problems, path, value, minimum, maximum)
        return value

    def flag(self, value: Any, path: str) -> None:
        if value is not None and not isinstance(value, bool):
            self.add(path, f"expected true or false, got {shown(value)}")

    def number(self, value: Any, path: str, minimum: float, maximum: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(path, f"expected a number, got {shown(value)}")
        elif not minimum <= value <= maximum:
            self.add(path, f"{value} is outside {minimum:g}..{maximum:g}")

    def choice(
        self, value: Any, path: str, choices: tuple[str, ...] | frozenset[str], *, required: bool = True
    ) -> None:
        if value is None and not required:
            return
        if value not in choices:
            self.add(path, f"{shown(value)} is not one of {', '.join(sorted(choices))}")

    def url(self, value: Any, path: str, *, required: bool = True) -> None:
        text = self.text(value, path, required=required)
        if text is not None and not compiled_pattern(HTTP_URL).fullmatch(text):
            self.add(path, f"{shown(text)} is not an http(s) URL")

    def media(self, value: Any, path: str, *, caption: bool, filename: bool = False) -> None:
        media = self.obj(value, path)
        if media is None:
            return
        if ("id" in media) == ("link" in media):
            self.add(path, "give id or link, one of them")
        self.text(media.get("id"), f"{path}.id", required=False)
        self.url(media.get("link"), f"{path}.link", required=False)
        if "caption" in media and not caption:
            self.add(f"{path}.caption", "WhatsApp allows no caption here")
        self.text(media.get("caption"), f"{path}.caption", 0, CAPTION_MAX_CHARS, required=False)
        if "filename" in media and not filename:
            self.add(f"{path}.filename", "only documents have a file name")
        self.text(media.get("filename"), f"{path}.filename", required=False)


def _check_text(check: _Checker, text: Mapping[str, Any]) -> None:
    check.text(text.get("body"), "text.body", 1, TEXT_MAX_CHARS)
    check.flag(text.get("preview_url"), "text.preview_url")


def _check_location(check: _Checker, location: Mapping[str, Any]) -> None:
    check.number(location.get("latitude"), "location.latitude", LATITUDE_MIN, LATITUDE_MAX)
    check.number(location.get("longitude"), "location.longitude", LONGITUDE_MIN, LONGITUDE_MAX)
    check.text(location.get("name"), "location.name", 0, required=False)
    check.text(location.get("address"), "location.address", 0, required=False)


def _check_contacts(check: _Checker, contacts: Any) -> None:
    for index, card in enumerate(check.items(contacts, "contacts", "contacts", CONTACTS_MIN, CONTACTS_MAX)):
        card = check.obj(card, f"contacts[{index}]")
        name = check.obj(card.get("name") if card else None, f"contacts[{index}].name") if card else None
        if name is not None:
            check.text(
                name.get("formatted_name"),
                f"contacts[{index}].name.formatted_name",
                1,
                CONTACT_FORMATTED_NAME_MAX_CHARS,
            )


def _check_reaction(check: _Checker, reaction: Mapping[str, Any]) -> None:
    check.text(reaction.get("message_id"), "reaction.message_id")
    emoji = check.text(reaction.get("emoji"), "reaction.emoji", 0)
    if emoji and not compiled_pattern(EMOJI_PATTERN).fullmatch(emoji):
        check.add("reaction.emoji", f"{shown(emoji)} is not a single emoji")


def _check_template(check: _Checker, template: Mapping[str, Any]) -> None:
    name = check.text(template.get("name"), "template.name", 1, TEMPLATE_NAME_MAX_CHARS)
    if name and not compiled_pattern(TEMPLATE_NAME_PATTERN).fullmatch(name):
        check.add("template.name", f"{shown(name)} is not made of lowercase letters, digits and underscores")
    language = check.obj(template.get("language"), "template.language")
    if language is not None:
        code = check.text(language.get("code"), "template.language.code")
        if code and not compiled_pattern(TEMPLATE_LANGUAGE_PATTERN).fullmatch(code):
            check.add("template.language.code", f"{shown(code)} is not a language code like en, en_US or pt_BR")
    for index, component in enumerate(
        check.items(template.get("components"), "template.components", "components", 0, None)
    ):
        check.obj(component, f"template.components[{index}]")


def _check_reply_buttons(check: _Checker, action: Mapping[str, Any]) -> None:
    seen: dict[str, int] = {}
    buttons = check.items(action.get("buttons"), "interactive.action.buttons", "buttons", BUTTONS_MIN, BUTTONS_MAX)
    for index, button in enumerate(buttons):
        path = f"interactive.action.buttons[{index}]"
        button = check.obj(button, path)
        if button is None:
            continue
        check.choice(button.get("type"), f"{path}.type", ("reply",))
        reply = check.obj(button.get("reply"), f"{path}.reply")
        if reply is None:
            continue
        button_id = check.text(reply.get("id"), f"{path}.reply.id", 1, BUTTON_ID_MAX_CHARS)
        check.text(reply.get("title"), f"{path}.reply.title", 1, BUTTON_TITLE_MAX_CHARS)
        if button_id is not None and button_id in seen:
            check.add(f"{path}.reply.id", f"{shown(button_id)} repeats buttons[{seen[button_id]}]")
        elif button_id is not None:
            seen[button_id] = index


def _check_list(check: _Checker, action: Mapping[str, Any]) -> None:
    check.text(action.get("button"), "interactive.action.button", 1, LIST_BUTTON_TEXT_MAX_CHARS)
    sections = check.items(
        action.get("sections"), "interactive.action.sections", "sections", LIST_SECTIONS_MIN, LIST_SECTIONS_MAX
    )
    rows = 0
    for index, section in enumerate(sections):
        path = f"interactive.action.sections[{index}]"
        section = check.obj(section, path)
        if section is None:
            continue
        check.text(section.get("title"), f"{path}.title", 1, LIST_SECTION_TITLE_MAX_CHARS, required=len(sections) > 1)
        for row_index, row in enumerate(check.items(section.get("rows"), f"{path}.rows", "rows", 1, None)):
            rows += 1
            row = check.obj(row, f"{path}.rows[{row_index}]")
            if row is None:
                continue
            check.text(row.get("id"), f"{path}.rows[{row_index}].id", 1, LIST_ROW_ID_MAX_CHARS)
            check.text(row.get("title"), f"{path}.rows[{row_index}].title", 1, LIST_ROW_TITLE_MAX_CHARS)
            check.text(
                row.get("description"),
                f"{path}.rows[{row_index}].description",
                0,
                LIST_ROW_DESCRIPTION_MAX_CHARS,
                required=False,
            )
    if rows > LIST_ROWS_MAX:
        check.add("interactive.action.sections", f"{rows} rows in total, limit {LIST_ROWS_MAX}")


def _check_product_list(check: _Checker, action: Mapping[str, Any]) -> None:
    check.text(action.get("catalog_id"), "interactive.action.catalog_id")
    sections = check.items(
        action.get("sections"), "interactive.action.sections", "sections", PRODUCT_SECTIONS_MIN, PRODUCT_SECTIONS_MAX
    )
    products = 0
    for index, section in enumerate(sections):
        path = f"interactive.action.sections[{index}]"
        section = check.obj(section, path)
        if section is None:
            continue
        check.text(section.get("title"), f"{path}.title", 1, PRODUCT_SECTION_TITLE_MAX_CHARS)
        for item_index, item in enumerate(
            check.items(section.get("product_items"), f"{path}.product_items", "products", 1, None)
        ):
            products += 1
            item = check.obj(item, f"{path}.product_items[{item_index}]")
            if item is not None:
                check.text(item.get("product_retailer_id"), f"{path}.product_items[{item_index}].product_retailer_id")
    if products > PRODUCT_ITEMS_MAX:
        check.add("interactive.action.sections", f"{products} products in total, limit {PRODUCT_ITEMS_MAX}")


def _check_carousel(check: _Checker, action: Mapping[str, Any]) -> None:
    cards = check.items(
        action.get("cards"), "interactive.action.cards", "cards", CAROUSEL_CARDS_MIN, CAROUSEL_CARDS_MAX
    )
    for index, card in enumerate(cards):
        path = f"interactive.action.cards[{index}]"
        card = check.obj(card, path)
        if card is None:
            continue
        header = check.obj(card.get("header"), f"{path}.header")
        if header is not None:
            check.choice(header.get("type"), f"{path}.header.type", ("image", "video"))
        body = check.obj(card.get("body"), f"{path}.body", required=False)
        if body is not None:
            check.text(body.get("text"), f"{path}.body.text", 0, CAROUSEL_CARD_BODY_MAX_CHARS, required=False)


def _check_interactive(check: _Checker, interactive: Mapping[str, Any]) -> None:
    kind = interactive.get("type")
    check.choice(kind, "interactive.type", CLOUD_API_INTERACTIVE_TYPES)
    body = check.obj(interactive.get("body"), "interactive.body", required=kind != "location_request_message")
    if body is not None:
        check.text(body.get("text"), "interactive.body.text", 1, INTERACTIVE_BODY_MAX_CHARS)
    header = check.obj(interactive.get("header"), "interactive.header", required=kind == "product_list")
    if header is not None:
        check.choice(header.get("type"), "interactive.header.type", ("text", "image", "video", "document"))
        if header.get("type") == "text":
            check.text(header.get("text"), "interactive.header.text", 1, HEADER_TEXT_MAX_CHARS)
    footer = check.obj(interactive.get("footer"), "interactive.footer", required=False)
    if footer is not None:
        check.text(footer.get("text"), "interactive.footer.text", 0, FOOTER_TEXT_MAX_CHARS)
    action = check.obj(interactive.get("action"), "interactive.action")
    if action is None:
        return
    if kind in _ACTION_NAMES:
        check.choice(action.get("name"), "interactive.action.name", (_ACTION_NAMES[str(kind)],))
    parameters = action.get("parameters")
    if kind == "button":
        _check_reply_buttons(check, action)
    elif kind == "list":
        _check_list(check, action)
    elif kind == "cta_url" and (parameters := check.obj(parameters, "interactive.action.parameters")) is not None:
        check.text(
            parameters.get("display_text"), "interactive.action.parameters.display_text", 1, CTA_DISPLAY_TEXT_MAX_CHARS
        )
        check.url(parameters.get("url"), "interactive.action.parameters.url")
    elif kind == "flow" and (parameters := check.obj(parameters, "interactive.action.parameters")) is not None:
        check.choice(
            parameters.get("flow_message_version"), "interactive.action.parameters.flow_message_version", ("3",)
        )
        if ("flow_id" in parameters) == ("flow_name" in parameters):
            check.add("interactive.action.parameters.flow_id", "give exactly one of flow_id or flow_name")
        check.text(parameters.get("flow_cta"), "interactive.action.parameters.flow_cta", 1, FLOW_CTA_MAX_CHARS)
        check.choice(
            parameters.get("mode"), "interactive.action.parameters.mode", ("draft", "published"), required=False
        )
        check.choice(
            parameters.get("flow_action"),
            "interactive.action.parameters.flow_action",
            ("navigate", "data_exchange"),
            required=False,
        )
    elif kind == "product":
        check.text(action.get("catalog_id"), "interactive.action.catalog_id")
        check.text(action.get("product_retailer_id"), "interactive.action.product_retailer_id")
    elif kind == "product_list":
        _check_product_list(check, action)
    elif kind == "carousel":
        _check_carousel(check, action)


_TYPE_CHECKS = {
    "text": _check_text,
    "location": _check_location,
    "reaction": _check_reaction,
    "template": _check_template,
    "interactive": _check_interactive,
}


def cloud_api_problems(body: Mapping[str, Any]) -> Problems:
    """Every way ``body`` breaks WhatsApp's rules for a message body of the proxy's ``POST .../messages``.

    :param body: Meta's message body without the recipient: ``type`` and the object of that name, and
        optionally ``messaging_product`` (``whatsapp``), ``recipient_type`` (``individual``), ``context``,
        ``biz_opaque_callback_data`` and ``messaging_account_id``.
    :returns: ``(path, text)`` pairs, the path in the body's own keys (``interactive.action.buttons[3]``).
    """
    check = _Checker()
    kind = body.get("type")
    if kind not in CLOUD_API_MESSAGE_TYPES:
        check.add("type", f"{shown(kind)} is not one of {', '.join(CLOUD_API_MESSAGE_TYPES)}")
        return check.problems
    for key in body:
        if key in _RECIPIENT_KEYS:
            check.add(str(key), "leave the recipient out of the body: give the send's phone_number or conversation_id")
        elif key not in _ENVELOPE_KEYS and key != kind:
            other = " (a body carries only the object its type names)" if key in CLOUD_API_MESSAGE_TYPES else ""
            check.add(str(key), f"unknown field{other}")
    check.choice(body.get("messaging_product", "whatsapp"), "messaging_product", ("whatsapp",))
    check.choice(body.get("recipient_type", "individual"), "recipient_type", ("individual",))
    check.text(
        body.get("biz_opaque_callback_data"), "biz_opaque_callback_data", 0, CALLBACK_DATA_MAX_CHARS, required=False
    )
    context = check.obj(body.get("context"), "context", required=False)
    if context is not None:
        check.text(context.get("message_id"), "context.message_id")
    payload = body.get(kind)
    if kind == "contacts":
        _check_contacts(check, payload)
    elif kind in ("image", "video", "document", "audio", "sticker"):
        check.media(payload, kind, caption=kind in ("image", "video", "document"), filename=kind == "document")
        if kind == "audio" and isinstance(payload, Mapping):
            check.flag(payload.get("voice"), "audio.voice")
    else:
        found = check.obj(payload, kind)
        if found is not None:
            _TYPE_CHECKS[kind](check, found)
    return check.problems


class CloudApiMessage(KapsoMessage):
    """A whole WhatsApp Cloud API message body (``type`` and its object), sent as is on the current API.

    :param body: the body, checked by :func:`cloud_api_problems`.
    """

    label: ClassVar[str] = "WhatsApp Cloud API"
    current_only: ClassVar[bool] = True

    message_type: str
    body: dict[str, Any]

    @model_validator(mode="before")
    @classmethod
    def _type_from_body(cls, data: object) -> object:
        if isinstance(data, Mapping) and "message_type" not in data and isinstance(data.get("body"), Mapping):
            return {**data, "message_type": str(data["body"].get("type"))}
        return data

    def v1_problems(self) -> list[str]:
        return [
            "message: a WhatsApp Cloud API body (a mapping with 'type') is the native form of Kapso's current API, "
            "and this connection speaks API v1: give the v1 message object (message_type, content, ...) or set the "
            "connection's extra 'api' to 'current'"
        ]

    def summary(self) -> str:
        text = self.body.get("text")
        return str(text.get("body")) if isinstance(text, Mapping) and text.get("body") else f"[{self.message_type}]"

    def _check(self, problems: Problems) -> None:
        problems.extend(cloud_api_problems(self.body))
