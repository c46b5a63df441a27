"""The WhatsApp Cloud API proxy's send bodies: checked as ``openapi-whatsapp.yaml`` (current) describes them.

Written from the file and WhatsApp's own limits it quotes, independently of the provider's models. A refused
body is a 400 with Meta's code 100, naming the field (``interactive.action.buttons``). :func:`v1_fields`
turns an accepted body into the fields the store keeps, so v1 lists the message too.
"""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._validation import MAX_CONTACTS, MAX_TEXT_LENGTH, check_card_lists, contact_name

__all__ = ["LOCATION_FIELDS", "MESSAGE_TYPES", "check_mark_read", "check_marketing", "check_send", "v1_fields"]

#: A location's fields: Meta's name -> v1's.
LOCATION_FIELDS = {
    "latitude": "latitude",
    "longitude": "longitude",
    "name": "location_name",
    "address": "location_address",
}

MESSAGE_TYPES = (
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
INTERACTIVE_TYPES = (
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
#: ``action.name`` each interactive type requires, where the file names one.
_ACTION_NAMES = {
    "cta_url": "cta_url",
    "flow": "flow",
    "location_request_message": "send_location",
    "request_contact_info": "request_contact_info",
    "address_message": "address_message",
    "order_details": "review_and_pay",
    "order_status": "review_order",
    "call_permission_request": "call_permission_request",
    "catalog_message": "catalog_message",
}
_URL = re.compile(r"https?://\S+", re.IGNORECASE)


def _refuse(field: str, problem: str) -> ValidationError:
    return ValidationError(field, problem, status=400)


def _object(value: object, field: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _refuse(field, "is required" if value is None else "must be an object")
    return value


def _text(value: object, field: str, *, required: bool = True, limit: int | None = None) -> str | None:
    if value is None:
        if required:
            raise _refuse(field, "is required")
        return None
    if not isinstance(value, str):
        raise _refuse(field, "must be a string")
    if required and not value.strip():
        raise _refuse(field, "must not be blank")
    if limit is not None and len(value) > limit:
        raise _refuse(field, f"is {len(value)} characters long; the limit is {limit}")
    return value


def _number(value: object, field: str, low: float, high: float) -> None:
    if value is None:
        raise _refuse(field, "is required")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _refuse(field, "must be a number")
    if not low <= value <= high:
        raise _refuse(field, f"must be between {low:g} and {high:g}")


def _product(value: object, field: str) -> None:
    if value is not None and not isinstance(value, str):
        raise _refuse(field, "must be a string")


def _check_media(kind: str, media: dict[str, Any]) -> None:
    media_id, link = media.get("id"), media.get("link")
    _text(media_id, f"{kind}.id", required=False)
    _text(link, f"{kind}.link", required=False)
    if media_id is None and link is None:
        raise _refuse(kind, "needs an id (uploaded media) or a link")
    if link is not None and not _URL.fullmatch(str(link)):
        raise _refuse(f"{kind}.link", "must be an http(s) URL")
    if "caption" in media:
        if kind in ("audio", "sticker"):
            raise _refuse(f"{kind}.caption", f"is not supported for {kind} messages")
        _text(media["caption"], f"{kind}.caption", required=False, limit=1024)
    if "filename" in media:
        if kind != "document":
            raise _refuse(f"{kind}.filename", "is only for documents")
        _text(media["filename"], "document.filename")
    if "voice" in media and (kind != "audio" or not isinstance(media["voice"], bool)):
        raise _refuse(f"{kind}.voice", "must be true or false, on audio only")


def _check_contacts(contacts: object) -> None:
    if not isinstance(contacts, list) or not contacts:
        raise _refuse("contacts", "must be a non-empty array of contact cards")
    if len(contacts) > MAX_CONTACTS:
        raise _refuse("contacts", f"has {len(contacts)} cards; the limit is {MAX_CONTACTS}")
    for index, card in enumerate(contacts):
        where = f"contacts[{index}]"
        name = _object(_object(card, where).get("name"), f"{where}.name")
        _text(name.get("formatted_name"), f"{where}.name.formatted_name", limit=200)
        check_card_lists(card, where, status=400)


def _check_template(template: dict[str, Any]) -> None:
    _text(template.get("name"), "template.name")
    _text(_object(template.get("language"), "template.language").get("code"), "template.language.code")
    components = template.get("components")
    if components is None:
        return
    if not isinstance(components, list):
        raise _refuse("template.components", "must be an array")
    for index, component in enumerate(components):
        where = f"template.components[{index}]"
        kind = _object(component, where).get("type")
        if kind not in ("header", "body", "button", "carousel", "limited_time_offer"):
            raise _refuse(f"{where}.type", "must be one of: header, body, button, carousel, limited_time_offer")
        if kind == "button":
            _text(component.get("sub_type"), f"{where}.sub_type")
            if component.get("index") is None:
                raise _refuse(f"{where}.index", "is required for a button component")
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list):
            raise _refuse(f"{where}.parameters", "must be an array")
        for p_index, parameter in enumerate(parameters):
            p_where = f"{where}.parameters[{p_index}]"
            p_kind = _object(parameter, p_where).get("type")
            _text(p_kind, f"{p_where}.type")
            if p_kind == "text":
                _text(parameter.get("text"), f"{p_where}.text", required=False)
                if not isinstance(parameter.get("text"), str):
                    raise _refuse(f"{p_where}.text", "is required for a text parameter")
            if p_kind in ("image", "video", "document"):
                _check_media(f"{p_where}.{p_kind}", _object(parameter.get(p_kind), f"{p_where}.{p_kind}"))


def _check_choices(action: dict[str, Any]) -> None:
    buttons = action.get("buttons")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        raise _refuse("interactive.action.buttons", "must have 1 to 3 reply buttons (use a list for more options)")
    seen: set[str] = set()
    for index, button in enumerate(buttons):
        where = f"interactive.action.buttons[{index}]"
        if _object(button, where).get("type") != "reply":
            raise _refuse(f"{where}.type", "must be reply")
        reply = _object(button.get("reply"), f"{where}.reply")
        button_id = _text(reply.get("id"), f"{where}.reply.id", limit=256)
        _text(reply.get("title"), f"{where}.reply.title", limit=20)
        if button_id in seen:
            raise _refuse(f"{where}.reply.id", f"{button_id!r} is used twice; button ids must be unique")
        seen.add(str(button_id))


def _check_list(action: dict[str, Any]) -> None:
    _text(action.get("button"), "interactive.action.button", limit=20)
    sections = action.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise _refuse("interactive.action.sections", "must have 1 to 10 sections")
    rows = 0
    for index, section in enumerate(sections):
        where = f"interactive.action.sections[{index}]"
        _text(_object(section, where).get("title"), f"{where}.title", required=len(sections) > 1, limit=24)
        section_rows = section.get("rows")
        if not isinstance(section_rows, list) or not section_rows:
            raise _refuse(f"{where}.rows", "must have at least one row")
        for row_index, row in enumerate(section_rows):
            row_where = f"{where}.rows[{row_index}]"
            _text(_object(row, row_where).get("id"), f"{row_where}.id", limit=200)
            _text(row.get("title"), f"{row_where}.title", limit=24)
            _text(row.get("description"), f"{row_where}.description", required=False, limit=72)
        rows += len(section_rows)
    if rows > 10:
        raise _refuse("interactive.action.sections", f"have {rows} rows in total; the limit is 10")


def _check_products(kind: str, action: dict[str, Any]) -> None:
    # The file's schema puts catalog_id and product_retailer_id under action.parameters, its examples (and
    # Meta) directly under action: both are accepted.
    nested = action.get("parameters")
    where: dict[str, Any] = nested if isinstance(nested, dict) and "catalog_id" not in action else action
    _text(where.get("catalog_id"), "interactive.action.catalog_id")
    if kind == "product":
        _text(where.get("product_retailer_id"), "interactive.action.product_retailer_id")
        return
    sections = where.get("sections")
    if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
        raise _refuse("interactive.action.sections", "must have 1 to 10 sections")
    products = 0
    for index, section in enumerate(sections):
        section_where = f"interactive.action.sections[{index}]"
        _text(_object(section, section_where).get("title"), f"{section_where}.title", limit=24)
        items = section.get("product_items")
        if not isinstance(items, list) or not items:
            raise _refuse(f"{section_where}.product_items", "must have at least one product")
        for item_index, item in enumerate(items):
            item_where = f"{section_where}.product_items[{item_index}]"
            _text(_object(item, item_where).get("product_retailer_id"), f"{item_where}.product_retailer_id")
        products += len(items)
    if products > 30:
        raise _refuse("interactive.action.sections", f"hold {products} products; the limit is 30")


def _check_interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    if kind not in INTERACTIVE_TYPES:
        raise _refuse("interactive.type", f"must be one of: {', '.join(INTERACTIVE_TYPES)}")
    body = interactive.get("body")
    if kind != "location_request_message" or body is not None:
        _text(_object(body, "interactive.body").get("text"), "interactive.body.text", limit=1024)
    header = interactive.get("header")
    if header is not None:
        header_type = _object(header, "interactive.header").get("type")
        if header_type == "text":
            _text(header.get("text"), "interactive.header.text", limit=60)
        elif header_type in ("image", "video", "document"):
            _check_media(f"interactive.header.{header_type}", _object(header.get(header_type), "interactive.header"))
        else:
            raise _refuse("interactive.header.type", "must be one of: text, image, video, document")
    footer = interactive.get("footer")
    if footer is not None:
        _text(_object(footer, "interactive.footer").get("text"), "interactive.footer.text", limit=60)
    action = _object(interactive.get("action"), "interactive.action")
    expected = _ACTION_NAMES.get(str(kind))
    if expected is not None and action.get("name") != expected:
        raise _refuse("interactive.action.name", f"must be {expected!r} for {kind} messages")
    nested = action.get("parameters")
    parameters: dict[str, Any] = nested if isinstance(nested, dict) else {}
    if kind == "button":
        _check_choices(action)
    elif kind == "list":
        _check_list(action)
    elif kind == "cta_url":
        _text(parameters.get("display_text"), "interactive.action.parameters.display_text", limit=20)
        if not _URL.fullmatch(str(parameters.get("url"))):
            raise _refuse("interactive.action.parameters.url", "must be an http(s) URL")
    elif kind == "flow":
        if parameters.get("flow_message_version") != "3":
            raise _refuse("interactive.action.parameters.flow_message_version", 'must be "3"')
        if ("flow_id" in parameters) == ("flow_name" in parameters):
            raise _refuse("interactive.action.parameters", "needs exactly one of flow_id or flow_name")
        _text(parameters.get("flow_cta"), "interactive.action.parameters.flow_cta", limit=30)
        if parameters.get("mode", "published") not in ("draft", "published"):
            raise _refuse("interactive.action.parameters.mode", "must be draft or published")
        if parameters.get("flow_action", "navigate") not in ("navigate", "data_exchange"):
            raise _refuse("interactive.action.parameters.flow_action", "must be navigate or data_exchange")
    elif kind in ("product", "product_list"):
        _check_products(str(kind), action)
    elif kind == "carousel":
        cards = action.get("cards")
        if not isinstance(cards, list) or not 2 <= len(cards) <= 10:
            raise _refuse("interactive.action.cards", "must have 2 to 10 cards")
    elif kind == "catalog_message":
        _product(parameters.get("thumbnail_product_retailer_id"), "interactive.action.parameters")


def _check_common(body: object) -> dict[str, Any]:
    message = _object(body, "body")
    if message.get("messaging_product") != "whatsapp":
        raise _refuse("messaging_product", 'must be "whatsapp"')
    if message.get("recipient_type", "individual") not in ("individual", "group"):
        raise _refuse("recipient_type", "must be individual or group")
    if message.get("to") is None:
        if message.get("recipient") is not None:
            # A BSUID names a person without a number; the simulator keeps conversations by number.
            raise _refuse("recipient", "BSUID recipients are not simulated; send to a phone number in `to`")
        raise _refuse("to", "is required (or recipient)")
    to = _text(message.get("to"), "to")
    if not 7 <= len(re.sub(r"\D", "", str(to))) <= 15:
        raise _refuse("to", "must be a phone number with 7 to 15 digits")
    _text(message.get("biz_opaque_callback_data"), "biz_opaque_callback_data", required=False, limit=512)
    for name in ("messaging_account_id", "paid_messaging_account_id"):
        _text(message.get(name), name, required=False)
    if message.get("context") is not None:
        _text(_object(message["context"], "context").get("message_id"), "context.message_id")
    return message


def check_send(body: object) -> dict[str, Any]:
    """A message send (``WhatsappMessage``), checked; returns it.

    :param body: the decoded request body.
    :raises ValidationError: 400, naming the field.
    """
    message = _check_common(body)
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        raise _refuse("type", f"must be one of: {', '.join(MESSAGE_TYPES)}")
    payload = message.get(str(kind))
    if kind == "contacts":
        _check_contacts(payload)
        return message
    part = _object(payload, str(kind))
    if kind == "text":
        _text(part.get("body"), "text.body", limit=MAX_TEXT_LENGTH)
        if "preview_url" in part and not isinstance(part["preview_url"], bool):
            raise _refuse("text.preview_url", "must be true or false")
    elif kind in ("image", "video", "audio", "document", "sticker"):
        _check_media(str(kind), part)
    elif kind == "location":
        _number(part.get("latitude"), "location.latitude", -90, 90)
        _number(part.get("longitude"), "location.longitude", -180, 180)
        _text(part.get("name"), "location.name", required=False)
        _text(part.get("address"), "location.address", required=False)
    elif kind == "reaction":
        _text(part.get("message_id"), "reaction.message_id")
        if not isinstance(part.get("emoji"), str):
            raise _refuse("reaction.emoji", "is required (an empty string removes the reaction)")
    elif kind == "template":
        _check_template(part)
    else:
        _check_interactive(part)
    return message


def check_marketing(body: object) -> dict[str, Any]:
    """A marketing send (``MarketingMessage``): a template to one person; returns it.

    :param body: the decoded request body.
    :raises ValidationError: 400, naming the field.
    """
    message = _check_common(body)
    if message.get("type") != "template":
        raise _refuse("type", "must be template: marketing messages are templates")
    if message.get("recipient_type", "individual") != "individual":
        raise _refuse("recipient_type", "must be individual")
    _check_template(_object(message.get("template"), "template"))
    return message


def check_mark_read(body: dict[str, Any]) -> dict[str, Any]:
    """A mark-as-read (``MarkReadRequest``), with an optional typing indicator; returns it.

    :param body: the decoded request body.
    :raises ValidationError: 400, naming the field.
    """
    if body.get("messaging_product") != "whatsapp":
        raise _refuse("messaging_product", 'must be "whatsapp"')
    if body.get("status") != "read":
        raise _refuse("status", "must be read")
    _text(body.get("message_id"), "message_id")
    typing = body.get("typing_indicator")
    if typing is not None and _object(typing, "typing_indicator").get("type") != "text":
        raise _refuse("typing_indicator.type", "must be text")
    return body


def _template_params(template: dict[str, Any]) -> list[str] | dict[str, str]:
    named: dict[str, str] = {}
    positional: list[str] = []
    for component in template.get("components") or []:
        if component.get("type") != "body":
            continue
        for parameter in component.get("parameters") or []:
            text = str(parameter.get("text", ""))
            if parameter.get("parameter_name"):
                named[str(parameter["parameter_name"])] = text
            else:
                positional.append(text)
    return named or positional


def v1_fields(message: dict[str, Any]) -> dict[str, Any]:
    """What the store keeps of an accepted send, in v1's terms: ``message_type``, ``content``,
    ``type_data``, ``metadata``, ``media_url``.

    :param message: a checked send body.
    """
    kind = str(message["type"])
    payload: Any = copy.deepcopy(message.get(kind))
    fields: dict[str, Any] = {"message_type": kind, "metadata": {}, "media_url": None}
    data: dict[str, Any]
    if kind == "text":
        fields.update(content=payload["body"], type_data={"text": payload["body"]})
    elif kind in ("image", "video", "audio", "document", "sticker"):
        data = {key: payload[key] for key in ("caption", "filename") if key in payload}
        if payload.get("id"):
            data["media_id"] = payload["id"]
        detail = data.get("caption") or data.get("filename")
        fields.update(content=f"[{kind.capitalize()}] {detail}" if detail else f"[{kind.capitalize()}]", type_data=data)
        fields["media_url"] = payload.get("link")
    elif kind == "location":
        data = {v1: payload[meta] for meta, v1 in LOCATION_FIELDS.items() if meta in payload}
        place = payload.get("name") or f"{payload['latitude']}, {payload['longitude']}"
        fields.update(content=f"Location: {place}", type_data=data)
    elif kind == "contacts":
        names = [contact_name(card.get("name") or {}) or "" for card in payload]
        fields.update(content="Contact: " + ", ".join(names), type_data={"contacts": payload})
        fields["metadata"] = {"contacts_data": payload}
    elif kind == "reaction":
        data = {"reaction_emoji": payload["emoji"], "reacted_to_message_id": payload["message_id"]}
        fields.update(content=payload["emoji"], type_data=data)
    elif kind == "template":
        params = _template_params(payload)
        data = {"template_name": payload["name"], "template_language": payload["language"]["code"]}
        if isinstance(params, list):
            data["template_params"] = params
        fields.update(content=f"Template: {payload['name']}", type_data=data)
        fields["metadata"] = {**data, "template_params": params}
    else:
        fields.update(content=str((payload.get("body") or {}).get("text", "")), type_data=_interactive_data(payload))
    return fields


def _interactive_data(interactive: dict[str, Any]) -> dict[str, Any]:
    # v1's InteractiveMessageData, so a v1 list shows the question and reply_to_question finds its options.
    data: dict[str, Any] = {"interactive_type": interactive["type"]}
    if isinstance(interactive.get("body"), dict):
        data["body_text"] = interactive["body"].get("text")
    header = interactive.get("header") or {}
    if header.get("type") == "text":
        data["header_text"] = header.get("text")
    if isinstance(interactive.get("footer"), dict):
        data["footer_text"] = interactive["footer"].get("text")
    action = interactive.get("action") or {}
    if interactive["type"] == "button":
        data["buttons"] = [{"id": b["reply"]["id"], "title": b["reply"]["title"]} for b in action.get("buttons", [])]
    elif interactive["type"] == "list":
        data["list_button_text"] = action.get("button")
        data["sections"] = copy.deepcopy(action.get("sections", []))
    return data
