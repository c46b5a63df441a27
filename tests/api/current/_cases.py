"""One neutral message of every kind the proxy sends, as flat fields, and the Meta body it becomes.

Shared by the body tests (``test_bodies.py``) and the send tests (``test_messages.py``) of the current API.
"""

from __future__ import annotations

from typing import Any

BUTTONS = [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}]
ROWS = [{"id": "mon", "title": "Monday", "description": "9 to 5"}]

#: A carousel, a kind with no flat arguments: given whole as Meta's body, it is sent as given.
CAROUSEL: dict[str, Any] = {
    "type": "interactive",
    "interactive": {
        "type": "carousel",
        "body": {"text": "Pick one"},
        "action": {
            "cards": [
                {
                    "card_index": index,
                    "header": {"type": "image", "image": {"link": "https://example.com/c.png"}},
                    "action": {"name": "cta_url", "parameters": {"display_text": "Buy", "url": "https://example.com"}},
                }
                for index in range(2)
            ]
        },
    },
}

#: One message of every kind, as flat neutral fields, and the Meta body it becomes.
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "text": (
        {"content": "Hello https://example.com", "preview_url": True},
        {"type": "text", "text": {"body": "Hello https://example.com", "preview_url": True}},
    ),
    "image": (
        {"message_type": "image", "media_url": "https://example.com/a.jpg", "caption": "A sunset"},
        {"type": "image", "image": {"link": "https://example.com/a.jpg", "caption": "A sunset"}},
    ),
    "video": ({"message_type": "video", "media_id": "1234"}, {"type": "video", "video": {"id": "1234"}}),
    "voice note": (
        {"message_type": "audio", "media_id": "55", "voice": True},
        {"type": "audio", "audio": {"id": "55", "voice": True}},
    ),
    "document": (
        {"message_type": "document", "media_id": "77", "filename": "r.pdf", "caption": "Report"},
        {"type": "document", "document": {"id": "77", "caption": "Report", "filename": "r.pdf"}},
    ),
    "sticker": (
        {"message_type": "sticker", "media_url": "https://example.com/s.webp"},
        {"type": "sticker", "sticker": {"link": "https://example.com/s.webp"}},
    ),
    "location": (
        {"message_type": "location", "latitude": 37.7, "longitude": -122.4, "location_name": "SF"},
        {"type": "location", "location": {"latitude": 37.7, "longitude": -122.4, "name": "SF"}},
    ),
    "contacts": (
        {
            "message_type": "contacts",
            "contacts": [{"first_name": "Ann", "last_name": "Lee", "phones": [{"phone": "+1"}]}],
        },
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"first_name": "Ann", "last_name": "Lee", "formatted_name": "Ann Lee"},
                    "phones": [{"phone": "+1"}],
                }
            ],
        },
    ),
    "reaction": (
        {"message_type": "reaction", "reaction_emoji": "👍", "reacted_to_message_id": "wamid.X"},
        {"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}},
    ),
    "template positional": (
        {
            "message_type": "template",
            "template_name": "order_update",
            "template_language": "en_US",
            "template_params": ["Ann", "ORD-1"],
            "header_type": "image",
            "header_params": "https://example.com/h.png",
            "button_url_params": {"0": "ORD-1"},
            "button_payloads": {1: "stop"},
        },
        {
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "header",
                        "parameters": [{"type": "image", "image": {"link": "https://example.com/h.png"}}],
                    },
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "ORD-1"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "0",
                        "parameters": [{"type": "text", "text": "ORD-1"}],
                    },
                    {
                        "type": "button",
                        "sub_type": "quick_reply",
                        "index": "1",
                        "parameters": [{"type": "payload", "payload": "stop"}],
                    },
                ],
            },
        },
    ),
    "template named": (
        {
            "message_type": "template",
            "template_name": "welcome",
            "template_language": "pt_BR",
            "template_params": {"first_name": "Ana"},
            "header_type": "document",
            "header_params": "https://example.com/r.pdf",
            "header_filename": "r.pdf",
        },
        {
            "type": "template",
            "template": {
                "name": "welcome",
                "language": {"code": "pt_BR"},
                "components": [
                    {
                        "type": "header",
                        "parameters": [
                            {"type": "document", "document": {"link": "https://example.com/r.pdf", "filename": "r.pdf"}}
                        ],
                    },
                    {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]},
                ],
            },
        },
    ),
    "buttons": (
        {"message_type": "interactive", "body_text": "Continue?", "buttons": BUTTONS, "footer_text": "Shop"},
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Continue?"},
                "footer": {"text": "Shop"},
                "action": {"buttons": [{"type": "reply", "reply": button} for button in BUTTONS]},
            },
        },
    ),
    "list": (
        {
            "message_type": "interactive",
            "body_text": "Pick a slot",
            "header_text": "Slots",
            "list_button_text": "See",
            "sections": [{"rows": ROWS}],
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "header": {"type": "text", "text": "Slots"},
                "body": {"text": "Pick a slot"},
                "action": {"button": "See", "sections": [{"rows": ROWS}]},
            },
        },
    ),
    "cta_url": (
        {
            "message_type": "interactive",
            "interactive_type": "cta_url",
            "body_text": "Track it",
            "button_text": "Open",
            "button_url": "https://example.com/t",
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "cta_url",
                "body": {"text": "Track it"},
                "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://example.com/t"}},
            },
        },
    ),
    "flow": (
        {
            "message_type": "interactive",
            "interactive_type": "flow",
            "body_text": "Book",
            "flow_id": "123",
            "flow_cta": "Book now",
            "flow_token": "tok",
            "flow_action": "navigate",
            "flow_screen": "START",
            "flow_data": {"day": "mon"},
            "flow_mode": "draft",
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "flow",
                "body": {"text": "Book"},
                "action": {
                    "name": "flow",
                    "parameters": {
                        "flow_message_version": "3",
                        "flow_id": "123",
                        "flow_cta": "Book now",
                        "flow_token": "tok",
                        "mode": "draft",
                        "flow_action": "navigate",
                        "flow_action_payload": {"screen": "START", "data": {"day": "mon"}},
                    },
                },
            },
        },
    ),
    "location request": (
        {"message_type": "interactive", "interactive_type": "location_request_message", "body_text": "Where are you?"},
        {
            "type": "interactive",
            "interactive": {
                "type": "location_request_message",
                "body": {"text": "Where are you?"},
                "action": {"name": "send_location"},
            },
        },
    ),
    "product": (
        {
            "message_type": "interactive",
            "interactive_type": "product",
            "body_text": "Our pick",
            "catalog_id": "CAT",
            "product_retailer_id": "SKU1",
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "product",
                "body": {"text": "Our pick"},
                "action": {"catalog_id": "CAT", "product_retailer_id": "SKU1"},
            },
        },
    ),
    "product list": (
        {
            "message_type": "interactive",
            "interactive_type": "product_list",
            "header_text": "Bestsellers",
            "body_text": "Choose",
            "catalog_id": "CAT",
            "sections": [{"title": "Top", "product_retailer_ids": ["SKU1", "SKU2"]}],
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "product_list",
                "header": {"type": "text", "text": "Bestsellers"},
                "body": {"text": "Choose"},
                "action": {
                    "catalog_id": "CAT",
                    "sections": [
                        {
                            "title": "Top",
                            "product_items": [{"product_retailer_id": "SKU1"}, {"product_retailer_id": "SKU2"}],
                        }
                    ],
                },
            },
        },
    ),
    "catalog": (
        {
            "message_type": "interactive",
            "interactive_type": "catalog_message",
            "body_text": "Browse",
            "thumbnail_product_retailer_id": "SKU1",
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "catalog_message",
                "body": {"text": "Browse"},
                "action": {"name": "catalog_message", "parameters": {"thumbnail_product_retailer_id": "SKU1"}},
            },
        },
    ),
    "cloud api body": (CAROUSEL, CAROUSEL),
}
