"""Messages at and around every limit of the models: one valid message of each kind, and cases just
inside and just outside each limit with the problem line each must raise.

Shared by the model tests (``tests/test_models.py``) and the hook's (``tests/hooks/test_kapso.py``), which
checks that nothing just outside a limit reaches Kapso.
"""

from __future__ import annotations

from typing import Any

import pytest

from kapso_provider import models
from kapso_provider.models import ALL_INTERACTIVE_TYPES, ALL_MESSAGE_TYPES

# One valid message of each kind, as a user would give it (no content for non-text types).
VALID: dict[str, dict[str, Any]] = {
    "text": {"message_type": "text", "content": "Hello"},
    "image": {"message_type": "image", "media_url": "https://example.com/a.jpg", "caption": "A sunset"},
    "video": {"message_type": "video", "media_id": "1234567890"},
    "audio": {"message_type": "audio", "media_url": "https://example.com/a.ogg"},
    "document": {"message_type": "document", "media_url": "https://example.com/r.pdf", "filename": "r.pdf"},
    "location": {"message_type": "location", "latitude": 37.7749, "longitude": -122.4194, "location_name": "SF"},
    "button": {
        "message_type": "interactive",
        "interactive_type": "button",
        "body_text": "Continue?",
        "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
    },
    "list": {
        "message_type": "interactive",
        "interactive_type": "list",
        "body_text": "Pick a slot",
        "list_button_text": "Slots",
        "sections": [{"rows": [{"id": "mon", "title": "Monday", "description": "9 to 5"}]}],
    },
    "template": {
        "message_type": "template",
        "template_name": "order_update",
        "template_language": "en_US",
        "template_params": ["John", "ORD-1"],
    },
    "reaction": {"message_type": "reaction", "reaction_emoji": "👍", "reacted_to_message_id": "wamid.ABC"},
    "contacts": {
        "message_type": "contacts",
        "contacts": [{"formatted_name": "Ann Lee", "phones": [{"phone": "+15550001111", "type": "WORK"}]}],
    },
}


def message(kind: str, **changes: Any) -> dict[str, Any]:
    """The valid message of ``kind`` with ``changes`` applied; a change to ``...`` removes the key."""
    data = {**VALID[kind], **changes}
    return {key: value for key, value in data.items() if value is not ...}


def buttons(count: int, **first: str) -> list[dict[str, str]]:
    made = [{"id": f"b{index}", "title": f"Option {index}"} for index in range(count)]
    if made:
        made[0].update(first)
    return made


def rows(count: int, prefix: str = "r", **first: str) -> list[dict[str, str]]:
    made = [{"id": f"{prefix}{index}", "title": f"Row {index}"} for index in range(count)]
    if made:
        made[0].update(first)
    return made


def contact(**fields: Any) -> dict[str, Any]:
    return {"formatted_name": "Ann Lee", **fields}


INSIDE: list[Any] = [
    pytest.param(message("text", content="x" * models.TEXT_MAX_CHARS), id="text-4096"),
    pytest.param(message("text", content="é" * models.TEXT_MAX_CHARS), id="text-4096-code-points"),
    pytest.param(message("text", content="x"), id="text-1"),
    pytest.param(message("image", content="x" * models.TEXT_MAX_CHARS), id="image-content-4096"),
    *(
        pytest.param(message(kind, caption="c" * models.CAPTION_MAX_CHARS), id=f"{kind}-caption-1024")
        for kind in ("image", "video", "document")
    ),
    pytest.param(message("image", caption=""), id="image-caption-empty"),
    pytest.param(message("image", media_url=..., media_id="987"), id="image-media-id"),
    pytest.param(message("image", media_url="HTTP://example.com/x.png"), id="image-url-http-uppercase"),
    pytest.param(message("button", buttons=buttons(1)), id="buttons-1"),
    pytest.param(message("button", buttons=buttons(3)), id="buttons-3"),
    pytest.param(message("button", buttons=buttons(1, id="i" * models.BUTTON_ID_MAX_CHARS)), id="button-id-256"),
    pytest.param(message("button", buttons=buttons(1, id="i")), id="button-id-1"),
    pytest.param(message("button", buttons=buttons(1, title="t" * 20)), id="button-title-20"),
    pytest.param(message("button", buttons=buttons(1, title="t")), id="button-title-1"),
    pytest.param(message("button", body_text="b" * models.BUTTON_BODY_MAX_CHARS), id="button-body-1024"),
    pytest.param(message("list", body_text="b" * models.LIST_BODY_MAX_CHARS), id="list-body-4096"),
    *(
        pytest.param(message(kind, header_text="h" * 60, footer_text="f" * 60), id=f"{kind}-header-footer-60")
        for kind in ("button", "list")
    ),
    pytest.param(message("list", list_button_text="l" * 20), id="list-button-text-20"),
    pytest.param(message("list", list_button_text="l"), id="list-button-text-1"),
    pytest.param(
        message("list", sections=[{"title": f"S{i}", "rows": rows(1, prefix=f"s{i}-")} for i in range(10)]),
        id="sections-10-rows-10",
    ),
    pytest.param(message("list", sections=[{"rows": rows(10)}]), id="one-section-10-rows-no-title"),
    pytest.param(message("list", sections=[{"title": "t" * 24, "rows": rows(1)}]), id="section-title-24"),
    pytest.param(message("list", sections=[{"rows": rows(1, id="i" * 200)}]), id="row-id-200"),
    pytest.param(message("list", sections=[{"rows": rows(1, title="t" * 24)}]), id="row-title-24"),
    pytest.param(message("list", sections=[{"rows": rows(1, description="d" * 72)}]), id="row-description-72"),
    pytest.param(message("location", latitude=90, longitude=180), id="location-max"),
    pytest.param(message("location", latitude=-90.0, longitude=-180.0), id="location-min"),
    pytest.param(message("location", latitude="45.5", longitude="-3"), id="location-numeric-strings"),
    pytest.param(message("template", template_name="a" * models.TEMPLATE_NAME_MAX_CHARS), id="template-name-512"),
    pytest.param(message("template", template_name="hello_world_2"), id="template-name-digits-underscores"),
    *(
        pytest.param(message("template", template_language=code), id=f"template-language-{code}")
        for code in ("en", "en_US", "pt_BR", "fil", "zh_CN")
    ),
    pytest.param(message("template", template_params={"name": "Ann"}), id="template-params-map"),
    pytest.param(message("template", template_params=[]), id="template-params-empty"),
    *(
        pytest.param(message("template", header_type=kind, header_params=value), id=f"template-header-{kind}")
        for kind, value in (
            ("text", "Hi"),
            ("image", "https://example.com/h.png"),
            ("video", "https://example.com/h.mp4"),
            ("document", "https://example.com/h.pdf"),
        )
    ),
    pytest.param(
        message("template", header_type="document", header_params="https://example.com/h.pdf", header_filename="h.pdf"),
        id="template-header-filename",
    ),
    *(
        pytest.param(message("reaction", reaction_emoji=emoji), id=f"reaction-{name}")
        for name, emoji in (
            ("thumbs", "👍"),
            ("heart-vs16", "❤️"),
            ("skin-tone", "👍🏽"),
            ("zwj-family", "👨\u200d👩\u200d👧"),
            ("flag", "🇧🇷"),
            ("keycap", "1️⃣"),
            ("rainbow-flag", "🏳️\u200d🌈"),
            ("removal", ""),
        )
    ),
    pytest.param(message("contacts", contacts=[contact() for _ in range(models.CONTACTS_MAX)]), id="contacts-257"),
    pytest.param(message("contacts", contacts=[{"first_name": "Ann"}]), id="contact-first-name-only"),
    pytest.param(message("contacts", contacts=[{"name": {"formatted_name": "Ann"}}]), id="contact-nested"),
    pytest.param(
        message("contacts", contacts=[{"name": {"first_name": "Ann"}, "first_name": "Ann"}]),
        id="contact-both-forms-agreeing",
    ),
]


OUTSIDE: list[Any] = [
    # text
    pytest.param(message("text", content="x" * 4097), "content: 4097 characters, limit 4096", id="text-4097"),
    pytest.param(message("text", content=""), "content: 0 characters, minimum 1", id="text-empty"),
    pytest.param(message("text", content=...), "content: required for text messages", id="text-missing"),
    pytest.param({}, "content: required for text messages", id="default-type-is-text"),
    pytest.param(message("image", content="x" * 4097), "content: 4097 characters, limit 4096", id="image-content-4097"),
    # media
    *(
        pytest.param(
            message(kind, caption="c" * 1025), "caption: 1025 characters, limit 1024", id=f"{kind}-caption-1025"
        )
        for kind in ("image", "video", "document")
    ),
    pytest.param(message("audio", caption="c"), "caption: not allowed on audio messages", id="audio-caption"),
    pytest.param(message("image", filename="a.jpg"), "filename: not allowed on image messages", id="image-filename"),
    pytest.param(message("document", filename=""), "filename: 0 characters, minimum 1", id="document-filename-empty"),
    *(
        pytest.param(
            message(kind, media_url=..., media_id=...),
            f"media_url: required (or media_id) for {kind} messages",
            id=f"{kind}-no-media",
        )
        for kind in ("image", "video", "audio", "document")
    ),
    pytest.param(
        message("image", media_id="1"), "media_id: give media_url or media_id, not both", id="image-both-media"
    ),
    pytest.param(
        message("image", media_url="ftp://example.com/a.jpg"),
        "media_url: 'ftp://example.com/a.jpg' is not an http(s) URL",
        id="image-ftp-url",
    ),
    pytest.param(
        message("image", media_url="example.com/a.jpg"),
        "media_url: 'example.com/a.jpg' is not an http(s) URL",
        id="image-url-no-scheme",
    ),
    # interactive button
    pytest.param(
        message("button", buttons=buttons(4)),
        "buttons: 4 buttons, limit 3; for up to 10 choices send a list message instead "
        "(interactive_type='list' with sections and list_button_text)",
        id="buttons-4",
    ),
    pytest.param(message("button", buttons=[]), "buttons: 0 buttons, minimum 1", id="buttons-0"),
    pytest.param(
        message("button", buttons=buttons(2, id="i" * 257)),
        "buttons[0].id: 257 characters, limit 256",
        id="button-id-257",
    ),
    pytest.param(
        message("button", buttons=buttons(1, id="")), "buttons[0].id: 0 characters, minimum 1", id="button-id-empty"
    ),
    pytest.param(
        message("button", buttons=[*buttons(1), {"id": "b1", "title": "t" * 27}]),
        "buttons[1].title: 27 characters, limit 20",
        id="button-title-27",
    ),
    pytest.param(
        message("button", buttons=buttons(1, title="t" * 21)),
        "buttons[0].title: 21 characters, limit 20",
        id="button-title-21",
    ),
    pytest.param(
        message("button", buttons=buttons(1, title="")),
        "buttons[0].title: 0 characters, minimum 1",
        id="button-title-empty",
    ),
    pytest.param(
        message("button", buttons=[{"id": "a", "title": "A"}, {"id": "a", "title": "B"}]),
        "buttons[1].id: 'a' repeats buttons[0].id",
        id="button-ids-repeat",
    ),
    pytest.param(message("button", buttons=[{"id": "a"}]), "buttons[0].title: required", id="button-title-missing"),
    pytest.param(
        message("button", body_text="b" * 1025), "body_text: 1025 characters, limit 1024", id="button-body-1025"
    ),
    pytest.param(
        message("button", body_text=...),
        "body_text: required for interactive button messages",
        id="button-body-missing",
    ),
    pytest.param(message("button", body_text=""), "body_text: 0 characters, minimum 1", id="button-body-empty"),
    *(
        pytest.param(message(kind, **{field: "h" * 61}), f"{field}: 61 characters, limit 60", id=f"{kind}-{field}-61")
        for kind in ("button", "list")
        for field in ("header_text", "footer_text")
    ),
    pytest.param(
        message("button", sections=[{"rows": rows(1)}]),
        "sections: not allowed on interactive button messages",
        id="button-with-sections",
    ),
    # interactive list
    pytest.param(message("list", body_text="b" * 4097), "body_text: 4097 characters, limit 4096", id="list-body-4097"),
    pytest.param(
        message("list", list_button_text="l" * 21),
        "list_button_text: 21 characters, limit 20",
        id="list-button-text-21",
    ),
    pytest.param(
        message("list", list_button_text=""), "list_button_text: 0 characters, minimum 1", id="list-button-text-empty"
    ),
    pytest.param(
        message("list", list_button_text=...),
        "list_button_text: required for interactive list messages",
        id="list-button-text-missing",
    ),
    pytest.param(
        message("list", sections=[{"title": f"S{i}", "rows": rows(1, prefix=f"s{i}-")} for i in range(11)]),
        "sections: 11 sections, limit 10",
        id="sections-11",
    ),
    pytest.param(message("list", sections=[]), "sections: 0 sections, minimum 1", id="sections-0"),
    pytest.param(
        message("list", sections=[{"title": "A", "rows": rows(6)}, {"title": "B", "rows": rows(5, prefix="q")}]),
        "sections: 11 rows in total, limit 10",
        id="rows-11-in-total",
    ),
    pytest.param(
        message("list", sections=[{"title": "A", "rows": []}]),
        "sections[0].rows: 0 rows, minimum 1",
        id="section-without-rows",
    ),
    pytest.param(
        message("list", sections=[{"title": "t" * 25, "rows": rows(1)}]),
        "sections[0].title: 25 characters, limit 24",
        id="section-title-25",
    ),
    pytest.param(
        message("list", sections=[{"title": "A", "rows": rows(1)}, {"rows": rows(1, prefix="q")}]),
        "sections[1].title: required when there are several sections",
        id="section-title-missing-with-two-sections",
    ),
    pytest.param(
        message("list", sections=[{"rows": rows(1, id="i" * 201)}]),
        "sections[0].rows[0].id: 201 characters, limit 200",
        id="row-id-201",
    ),
    pytest.param(
        message("list", sections=[{"rows": rows(1, id="")}]),
        "sections[0].rows[0].id: 0 characters, minimum 1",
        id="row-id-empty",
    ),
    pytest.param(
        message("list", sections=[{"rows": rows(1, title="t" * 25)}]),
        "sections[0].rows[0].title: 25 characters, limit 24",
        id="row-title-25",
    ),
    pytest.param(
        message("list", sections=[{"rows": rows(1, title="")}]),
        "sections[0].rows[0].title: 0 characters, minimum 1",
        id="row-title-empty",
    ),
    pytest.param(
        message("list", sections=[{"rows": rows(1, description="d" * 73)}]),
        "sections[0].rows[0].description: 73 characters, limit 72",
        id="row-description-73",
    ),
    pytest.param(
        message("list", sections=[{"title": "A", "rows": rows(2)}, {"title": "B", "rows": rows(1)}]),
        "sections[1].rows[0].id: 'r0' repeats sections[0].rows[0].id",
        id="row-ids-repeat-across-sections",
    ),
    # location
    pytest.param(message("location", latitude=95.0), "latitude: 95.0 is outside -90..90", id="latitude-95"),
    pytest.param(message("location", latitude=90.001), "latitude: 90.001 is outside -90..90", id="latitude-90.001"),
    pytest.param(message("location", latitude=-90.001), "latitude: -90.001 is outside -90..90", id="latitude--90.001"),
    pytest.param(message("location", longitude=180.5), "longitude: 180.5 is outside -180..180", id="longitude-180.5"),
    pytest.param(message("location", longitude=-181), "longitude: -181.0 is outside -180..180", id="longitude--181"),
    pytest.param(message("location", latitude=...), "latitude: required for location messages", id="latitude-missing"),
    pytest.param(
        message("location", longitude=...), "longitude: required for location messages", id="longitude-missing"
    ),
    pytest.param(message("location", latitude=True), "latitude: expected a number, got bool", id="latitude-bool"),
    pytest.param(message("location", latitude=float("nan")), "latitude: nan is not a finite number", id="latitude-nan"),
    pytest.param(
        message("location", longitude="west"), "longitude: expected a number, got str 'west'", id="longitude-text"
    ),
    # template
    pytest.param(
        message("template", template_name="a" * 513),
        "template_name: 513 characters, limit 512",
        id="template-name-513",
    ),
    pytest.param(
        message("template", template_name="Order-Update"),
        "template_name: 'Order-Update' is not made of lowercase letters, digits and underscores",
        id="template-name-pattern",
    ),
    pytest.param(
        message("template", template_name=...),
        "template_name: required for template messages",
        id="template-name-missing",
    ),
    pytest.param(
        message("template", template_language=...),
        "template_language: required for template messages",
        id="template-language-missing",
    ),
    *(
        pytest.param(
            message("template", template_language=code),
            f"template_language: {code!r} is not a language code like en, en_US or pt_BR",
            id=f"template-language-{code}",
        )
        for code in ("en-US", "EN", "english", "en_us", "")
    ),
    pytest.param(
        message("template", template_params=["a", 2]),
        "template_params[1]: expected a string, got int",
        id="template-params-list-item",
    ),
    pytest.param(
        message("template", template_params={"body": {"name": "Ann"}}),
        "template_params.body: expected a string, got dict",
        id="template-params-nested-map",
    ),
    pytest.param(
        message("template", template_params="Ann"),
        "template_params: expected a list or a map of strings, got str",
        id="template-params-string",
    ),
    pytest.param(
        message("template", header_type="audio", header_params="x"),
        "header_type: 'audio' is not one of 'text', 'image', 'video' or 'document'",
        id="template-header-type-audio",
    ),
    pytest.param(
        message("template", header_params="Hi"),
        "header_params: needs header_type (text, image, video or document)",
        id="template-header-params-without-type",
    ),
    pytest.param(
        message("template", header_type="image"),
        "header_params: required when header_type is image",
        id="template-header-type-without-params",
    ),
    pytest.param(
        message("template", header_type="image", header_params="logo.png"),
        "header_params: 'logo.png' is not an http(s) URL",
        id="template-media-header-not-url",
    ),
    pytest.param(
        message("template", header_type="image", header_params="https://e.com/h.png", header_filename="h.png"),
        "header_filename: allowed only when header_type is document",
        id="template-header-filename-on-image",
    ),
    # reaction
    *(
        pytest.param(
            message("reaction", reaction_emoji=value),
            f"reaction_emoji: {value!r} is not a single emoji",
            id=f"reaction-{name}",
        )
        for name, value in (("letters", "ok"), ("two-emojis", "👍👍"), ("letter-and-emoji", "a👍"), ("space", " "))
    ),
    pytest.param(
        message("reaction", reaction_emoji=...),
        "reaction_emoji: required for reaction messages",
        id="reaction-emoji-missing",
    ),
    pytest.param(
        message("reaction", reacted_to_message_id=...),
        "reacted_to_message_id: required for reaction messages",
        id="reaction-target-missing",
    ),
    pytest.param(
        message("reaction", reacted_to_message_id=""),
        "reacted_to_message_id: 0 characters, minimum 1",
        id="reaction-target-empty",
    ),
    # contacts
    pytest.param(
        message("contacts", contacts=[contact() for _ in range(258)]),
        "contacts: 258 contacts, limit 257",
        id="contacts-258",
    ),
    pytest.param(message("contacts", contacts=[]), "contacts: 0 contacts, minimum 1", id="contacts-0"),
    pytest.param(message("contacts", contacts=...), "contacts: required for contacts messages", id="contacts-missing"),
    pytest.param(
        message("contacts", contacts=[{"last_name": "Lee"}]),
        "contacts[0].name: needs formatted_name or first_name",
        id="contact-without-name",
    ),
    pytest.param(
        message("contacts", contacts=[contact(), {"name": {"formatted_name": ""}}]),
        "contacts[1].name: needs formatted_name or first_name",
        id="contact-empty-name",
    ),
    pytest.param(
        message("contacts", contacts=[contact(phones=[{"type": "HOME"}])]),
        "contacts[0].phones[0].phone: required",
        id="contact-phone-missing",
    ),
    pytest.param(
        message("contacts", contacts=[contact(emails=[{"type": "HOME"}])]),
        "contacts[0].emails[0].email: required",
        id="contact-email-missing",
    ),
    pytest.param(
        message("contacts", contacts=[contact(emails=[{"email": "ann"}])]),
        "contacts[0].emails[0].email: 'ann' is not an email address",
        id="contact-email-invalid",
    ),
    pytest.param(
        message("contacts", contacts=[contact(birthday="23/01/1999")]),
        "contacts[0].birthday: '23/01/1999' is not a date like 1999-01-23",
        id="contact-birthday",
    ),
    pytest.param(
        message("contacts", contacts=[{"first_name": "Ann", "name": {"first_name": "Bob"}}]),
        "contacts[0].first_name: 'Ann' differs from name.first_name 'Bob'",
        id="contact-both-forms-disagreeing",
    ),
    pytest.param(
        message("contacts", contacts=[contact(nickname="A")]),
        "contacts[0].nickname: unknown field",
        id="contact-unknown-field",
    ),
    # message level
    pytest.param(
        message("text", colour="red"),
        "colour: unknown field (allowed: message_type, content, preview_url)",
        id="unknown-field",
    ),
    pytest.param(message("text", latitude=1.0), "latitude: not allowed on text messages", id="field-of-another-type"),
    pytest.param(
        {"message_type": "poll"},
        "message_type: 'poll' is not one of " + ", ".join(ALL_MESSAGE_TYPES),
        id="unknown-message-type",
    ),
    pytest.param(
        {"message_type": "interactive", "body_text": "b"},
        "interactive_type: required for interactive messages (" + ", ".join(ALL_INTERACTIVE_TYPES) + ")",
        id="interactive-type-missing",
    ),
    pytest.param(
        message("button", interactive_type="carousel"),
        "interactive_type: 'carousel' is not one of " + ", ".join(ALL_INTERACTIVE_TYPES),
        id="interactive-type-unknown",
    ),
    pytest.param(message("text", content=5), "content: expected a string, got int", id="content-not-a-string"),
    pytest.param(message("button", buttons="yes"), "buttons: expected a list, got str", id="buttons-not-a-list"),
    pytest.param(["text"], "message: expected a mapping, got list", id="not-a-mapping"),
]
