"""A neutral message as Meta's body for the WhatsApp Cloud API proxy: :func:`meta_body`.

The models of :mod:`kapso_provider.models` hold the flat fields a DAG author writes and check WhatsApp's
limits; this module turns each into the ``type`` and the object of that name that
``POST /{phone_number_id}/messages`` takes (``WhatsappMessage`` in ``openapi-whatsapp.yaml``), and checks
what only the proxy limits: an interactive body of at most 1,024 characters (API v1 takes lists of 4,096)
and a contact's ``formatted_name`` of at most 200. The rendered body then passes the same checks as a body a
user gives whole (:func:`~kapso_provider.models.cloud_api.cloud_api_problems`), so nothing reaches Kapso
that WhatsApp's rules refuse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoInvalidMessageError, KapsoUnsupportedError
from kapso_provider.models import (
    AudioMessage,
    ButtonMessage,
    CatalogMessage,
    CloudApiMessage,
    ContactsMessage,
    CtaUrlMessage,
    DocumentMessage,
    FlowMessage,
    ImageMessage,
    ListMessage,
    LocationMessage,
    LocationRequestMessage,
    ProductListMessage,
    ProductMessage,
    ReactionMessage,
    StickerMessage,
    TemplateMessage,
    TextMessage,
    VideoMessage,
    cloud_api_problems,
)
from kapso_provider.models._limits import CONTACT_FORMATTED_NAME_MAX_CHARS, INTERACTIVE_BODY_MAX_CHARS

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.models import KapsoMessage

__all__ = ["meta_body"]

_ON_CURRENT = "on Kapso's current API"


def _media(message: ImageMessage | VideoMessage | DocumentMessage | AudioMessage | StickerMessage) -> dict[str, Any]:
    media: dict[str, Any] = {"link": message.media_url} if message.media_url is not None else {"id": message.media_id}
    caption = getattr(message, "caption", None)
    if caption:
        media["caption"] = caption
    if isinstance(message, DocumentMessage) and message.filename is not None:
        media["filename"] = message.filename
    if isinstance(message, AudioMessage) and message.voice is not None:
        media["voice"] = message.voice
    return {"type": message.message_type, message.message_type: media}


def _text(message: TextMessage) -> dict[str, Any]:
    text: dict[str, Any] = {"body": message.content}
    if message.preview_url is not None:
        text["preview_url"] = message.preview_url
    return {"type": "text", "text": text}


def _location(message: LocationMessage) -> dict[str, Any]:
    location: dict[str, Any] = {"latitude": message.latitude, "longitude": message.longitude}
    if message.location_name is not None:
        location["name"] = message.location_name
    if message.location_address is not None:
        location["address"] = message.location_address
    return {"type": "location", "location": location}


def _contacts(message: ContactsMessage, problems: list[str]) -> dict[str, Any]:
    cards = []
    for index, contact in enumerate(message.contacts):
        card = contact.model_dump(mode="json", exclude_none=True)
        # The proxy requires formatted_name; a card given by first and last name gets them joined.
        formatted = contact.display_name()
        card["name"] = {**card.get("name", {}), "formatted_name": formatted}
        if len(formatted) > CONTACT_FORMATTED_NAME_MAX_CHARS:
            problems.append(
                f"contacts[{index}].name.formatted_name: {len(formatted)} characters, "
                f"limit {CONTACT_FORMATTED_NAME_MAX_CHARS} {_ON_CURRENT}"
            )
        cards.append(card)
    return {"type": "contacts", "contacts": cards}


def _reaction(message: ReactionMessage) -> dict[str, Any]:
    return {
        "type": "reaction",
        "reaction": {"message_id": message.reacted_to_message_id, "emoji": message.reaction_emoji},
    }


def _template(message: TemplateMessage) -> dict[str, Any]:
    components: list[dict[str, Any]] = []
    if message.header_type is not None and message.header_params is not None:
        if message.header_type == "text":
            header: dict[str, Any] = {"type": "text", "text": message.header_params}
        else:
            media: dict[str, Any] = {"link": message.header_params}
            if message.header_filename is not None:
                media["filename"] = message.header_filename
            header = {"type": message.header_type, message.header_type: media}
        components.append({"type": "header", "parameters": [header]})
    params = message.template_params
    if isinstance(params, dict):
        components.append(
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": name, "text": value} for name, value in params.items()
                ],
            }
        )
    elif params:
        components.append({"type": "body", "parameters": [{"type": "text", "text": value} for value in params]})
    buttons = [
        (index, "url", {"type": "text", "text": value}) for index, value in (message.button_url_params or {}).items()
    ] + [
        (index, "quick_reply", {"type": "payload", "payload": value})
        for index, value in (message.button_payloads or {}).items()
    ]
    for index, sub_type, parameter in sorted(buttons, key=lambda button: int(button[0])):
        components.append({"type": "button", "sub_type": sub_type, "index": index, "parameters": [parameter]})
    template: dict[str, Any] = {"name": message.template_name, "language": {"code": message.template_language}}
    if components:
        template["components"] = components
    return {"type": "template", "template": template}


def _interactive(
    message: Any, kind: str, action: dict[str, Any], problems: list[str], *, header: bool = True
) -> dict[str, Any]:
    """The ``interactive`` body around ``action``: body, and header and footer where the message has them.

    :param message: an interactive model; each has ``body_text``, some ``header_text`` and ``footer_text``.
    """
    body_text: str = message.body_text
    if len(body_text) > INTERACTIVE_BODY_MAX_CHARS:
        problems.append(
            f"body_text: {len(body_text)} characters, limit {INTERACTIVE_BODY_MAX_CHARS} {_ON_CURRENT} "
            "(the proxy's interactive body)"
        )
    interactive: dict[str, Any] = {"type": kind}
    header_text = getattr(message, "header_text", None)
    # An empty header or footer (a template that rendered to nothing) is left out rather than sent blank.
    if header and header_text and header_text.strip():
        interactive["header"] = {"type": "text", "text": header_text}
    interactive["body"] = {"text": body_text}
    footer_text = getattr(message, "footer_text", None)
    if footer_text and footer_text.strip():
        interactive["footer"] = {"text": footer_text}
    interactive["action"] = action
    return {"type": "interactive", "interactive": interactive}


def _buttons(message: ButtonMessage, problems: list[str]) -> dict[str, Any]:
    buttons = [{"type": "reply", "reply": {"id": button.id, "title": button.title}} for button in message.buttons]
    return _interactive(message, "button", {"buttons": buttons}, problems)


def _list(message: ListMessage, problems: list[str]) -> dict[str, Any]:
    sections = [section.model_dump(mode="json", exclude_none=True) for section in message.sections]
    return _interactive(message, "list", {"button": message.list_button_text, "sections": sections}, problems)


def _cta_url(message: CtaUrlMessage, problems: list[str]) -> dict[str, Any]:
    parameters = {"display_text": message.button_text, "url": message.button_url}
    return _interactive(message, "cta_url", {"name": "cta_url", "parameters": parameters}, problems)


def _flow(message: FlowMessage, problems: list[str]) -> dict[str, Any]:
    parameters: dict[str, Any] = {"flow_message_version": "3"}
    optional = {
        "flow_id": message.flow_id,
        "flow_name": message.flow_name,
        "flow_cta": message.flow_cta,
        "flow_token": message.flow_token,
        "mode": message.flow_mode,
        "flow_action": message.flow_action,
    }
    parameters.update({key: value for key, value in optional.items() if value is not None})
    if message.flow_screen is not None:
        payload: dict[str, Any] = {"screen": message.flow_screen}
        if message.flow_data is not None:
            payload["data"] = message.flow_data
        parameters["flow_action_payload"] = payload
    return _interactive(message, "flow", {"name": "flow", "parameters": parameters}, problems)


def _location_request(message: LocationRequestMessage, problems: list[str]) -> dict[str, Any]:
    return _interactive(message, "location_request_message", {"name": "send_location"}, problems, header=False)


def _product(message: ProductMessage, problems: list[str]) -> dict[str, Any]:
    action = {"catalog_id": message.catalog_id, "product_retailer_id": message.product_retailer_id}
    return _interactive(message, "product", action, problems, header=False)


def _product_list(message: ProductListMessage, problems: list[str]) -> dict[str, Any]:
    sections = [
        {
            "title": section.title,
            "product_items": [{"product_retailer_id": product} for product in section.product_retailer_ids],
        }
        for section in message.sections
    ]
    action = {"catalog_id": message.catalog_id, "sections": sections}
    return _interactive(message, "product_list", action, problems)


def _catalog(message: CatalogMessage, problems: list[str]) -> dict[str, Any]:
    action: dict[str, Any] = {"name": "catalog_message"}
    if message.thumbnail_product_retailer_id is not None:
        action["parameters"] = {"thumbnail_product_retailer_id": message.thumbnail_product_retailer_id}
    return _interactive(message, "catalog_message", action, problems, header=False)


def _cloud_api(message: CloudApiMessage) -> dict[str, Any]:
    # The envelope is the send's: the recipient and messaging_product are added to every body alike.
    return {key: value for key, value in message.body.items() if key not in ("messaging_product", "recipient_type")}


# Renderers that need no extra checks take the message; the others also the list of problems.
_PLAIN: dict[type[Any], Callable[[Any], dict[str, Any]]] = {
    TextMessage: _text,
    ImageMessage: _media,
    VideoMessage: _media,
    AudioMessage: _media,
    DocumentMessage: _media,
    StickerMessage: _media,
    LocationMessage: _location,
    ReactionMessage: _reaction,
    TemplateMessage: _template,
    CloudApiMessage: _cloud_api,
}
_CHECKED: dict[type[Any], Callable[[Any, list[str]], dict[str, Any]]] = {
    ContactsMessage: _contacts,
    ButtonMessage: _buttons,
    ListMessage: _list,
    CtaUrlMessage: _cta_url,
    FlowMessage: _flow,
    LocationRequestMessage: _location_request,
    ProductMessage: _product,
    ProductListMessage: _product_list,
    CatalogMessage: _catalog,
}


def meta_body(message: KapsoMessage) -> dict[str, Any]:
    """Meta's body for ``message``: ``type`` and the object of that name, without recipient or envelope.

    :param message: a model of :mod:`kapso_provider.models` (from
        :func:`~kapso_provider.models.parse_message`).
    :raises KapsoUnsupportedError: the message sets ``content`` on a kind that has none on the current API.
    :raises KapsoInvalidMessageError: the message breaks a limit of the proxy's (named by the message's field).
    """
    if not isinstance(message, TextMessage | CloudApiMessage) and message.content and message.content.strip():
        raise KapsoUnsupportedError(
            [
                f"content: Kapso's current API sends no content with {message.label} messages (API v1 stores it as "
                "the message's summary); leave content out, or put the text in the caption or body_text"
            ]
        )
    problems: list[str] = []
    plain = _PLAIN.get(type(message))
    if plain is not None:
        body = plain(message)
    else:
        checked = _CHECKED.get(type(message))
        if checked is None:
            raise KapsoUnsupportedError([f"message: {type(message).__name__} has no form {_ON_CURRENT}"])
        body = checked(message, problems)
    if problems:
        raise KapsoInvalidMessageError(problems)
    # Whatever the neutral model let through, WhatsApp's rules have the last word, in the body's own terms.
    leftovers = cloud_api_problems(body)
    if leftovers:
        raise KapsoInvalidMessageError([f"{path}: {text}" if path else text for path, text in leftovers])
    return body
