"""The message payload models: every limit at its edge, each type's body, and conformance to Kapso's files.

Conformance: each type's body is checked against the conversation send
(``POST /whatsapp_conversations/{conversation_id}/whatsapp_messages``) of both ``openapi.yaml`` and
``openapi-whatsapp.yaml``, and, with a phone number, against ``POST /whatsapp_messages`` of
``openapi-whatsapp.yaml``. Those tests are skipped when the files are absent (see ``tests/_openapi.py``).
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from kapso_provider import models
from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.models import (
    MESSAGE_TYPES,
    ButtonMessage,
    ContactsMessage,
    KapsoMessage,
    ListMessage,
    LocationMessage,
    TextMessage,
    parse_message,
)
from tests._message_cases import INSIDE, OUTSIDE, VALID, buttons, message, rows
from tests._openapi import REPO_ROOT, load_spec, request_schema, validation_errors

MAIN = "openapi.yaml"
WHATSAPP = "openapi-whatsapp.yaml"
CONVERSATION_SEND = "/whatsapp_conversations/{conversation_id}/whatsapp_messages"
STANDALONE_SEND = "/whatsapp_messages"
PHONE = "+15551234567"


def problems_of(data: Any) -> list[str]:
    with pytest.raises(KapsoInvalidMessageError) as caught:
        parse_message(data)
    return caught.value.problems


# --- Limits: just inside is accepted, just outside is refused with field, size and limit ---------------


@pytest.mark.parametrize("data", INSIDE)
def test_limit_just_inside_is_accepted(data: dict[str, Any]) -> None:
    assert isinstance(parse_message(data), KapsoMessage)


@pytest.mark.parametrize(("data", "expected"), OUTSIDE)
def test_limit_just_outside_is_refused_naming_field_size_and_limit(data: Any, expected: str) -> None:
    assert expected in problems_of(data)


def test_every_problem_is_reported_at_once() -> None:
    data = {
        "message_type": "image",
        "media_url": "ftp://example.com/a.jpg",
        "caption": "c" * 1025,
        "colour": "red",
    }
    assert problems_of(data) == [
        "colour: unknown field (allowed: message_type, content, media_url, media_id, caption)",
        "media_url: 'ftp://example.com/a.jpg' is not an http(s) URL",
        "caption: 1025 characters, limit 1024",
    ]


def test_problems_of_several_items_are_all_reported() -> None:
    data = message("button", buttons=[{"id": "", "title": "t" * 21}, {"id": "b", "title": ""}])
    assert problems_of(data) == [
        "buttons[0].id: 0 characters, minimum 1",
        "buttons[0].title: 21 characters, limit 20",
        "buttons[1].title: 0 characters, minimum 1",
    ]


def test_the_error_is_a_value_error_with_the_lines_in_its_text() -> None:
    with pytest.raises(KapsoInvalidMessageError, match=r"buttons: 4 buttons, limit 3") as caught:
        parse_message(message("button", buttons=buttons(4)))
    assert isinstance(caught.value, ValueError)
    assert not isinstance(caught.value, ValidationError)


def test_building_a_model_directly_raises_pydantics_error_with_the_same_text() -> None:
    with pytest.raises(ValidationError, match="0 characters, minimum 1"):
        TextMessage(content="")


# --- Bodies ------------------------------------------------------------------------------------------

BODIES: list[Any] = [
    pytest.param("text", {"message_type": "text", "content": "Hello"}, id="text"),
    pytest.param(
        "image",
        {
            "message_type": "image",
            "content": "A sunset",
            "media_url": "https://example.com/a.jpg",
            "caption": "A sunset",
        },
        id="image",
    ),
    pytest.param("video", {"message_type": "video", "content": "[Video]", "media_id": "1234567890"}, id="video"),
    pytest.param(
        "audio", {"message_type": "audio", "content": "[Audio]", "media_url": "https://example.com/a.ogg"}, id="audio"
    ),
    pytest.param(
        "document",
        {
            "message_type": "document",
            "content": "r.pdf",
            "media_url": "https://example.com/r.pdf",
            "filename": "r.pdf",
        },
        id="document",
    ),
    pytest.param(
        "location",
        {
            "message_type": "location",
            "content": "📍 SF",
            "latitude": 37.7749,
            "longitude": -122.4194,
            "location_name": "SF",
        },
        id="location",
    ),
    pytest.param(
        "button",
        {
            "message_type": "interactive",
            "content": "Continue?",
            "body_text": "Continue?",
            "interactive_type": "button",
            "buttons": [{"id": "yes", "title": "Yes"}, {"id": "no", "title": "No"}],
        },
        id="button",
    ),
    pytest.param(
        "list",
        {
            "message_type": "interactive",
            "content": "Pick a slot",
            "body_text": "Pick a slot",
            "interactive_type": "list",
            "list_button_text": "Slots",
            "sections": [{"rows": [{"id": "mon", "title": "Monday", "description": "9 to 5"}]}],
        },
        id="list",
    ),
    pytest.param(
        "template",
        {
            "message_type": "template",
            "content": "Template: order_update",
            "template_name": "order_update",
            "template_language": "en_US",
            "template_params": ["John", "ORD-1"],
        },
        id="template",
    ),
    pytest.param(
        "reaction",
        {
            "message_type": "reaction",
            "content": "👍",
            "reaction_emoji": "👍",
            "reacted_to_message_id": "wamid.ABC",
        },
        id="reaction",
    ),
    pytest.param(
        "contacts",
        {
            "message_type": "contacts",
            "content": "👤 Ann Lee",
            "contacts": [
                {
                    "name": {"formatted_name": "Ann Lee"},
                    "formatted_name": "Ann Lee",
                    "phones": [{"phone": "+15550001111", "type": "WORK"}],
                }
            ],
        },
        id="contacts",
    ),
]


@pytest.mark.parametrize(("kind", "expected"), BODIES)
def test_to_body(kind: str, expected: dict[str, Any]) -> None:
    msg = parse_message(VALID[kind])
    assert msg.to_message_object() == expected
    assert msg.to_body() == {"message": expected}
    assert msg.to_body(phone_number=PHONE) == {"message": {"phone_number": PHONE, **expected}}


@pytest.mark.parametrize(
    ("kind", "changes", "content"),
    [
        pytest.param("image", {"caption": ...}, "[Image]", id="image-without-caption"),
        pytest.param("document", {"caption": "Q3 report"}, "Q3 report", id="document-caption-first"),
        pytest.param("document", {"filename": ...}, "[Document]", id="document-bare"),
        pytest.param("location", {"location_name": ..., "location_address": "1 Main St"}, "📍 1 Main St", id="address"),
        pytest.param("location", {"location_name": ...}, "📍 37.7749, -122.4194", id="coordinates"),
        pytest.param("reaction", {"reaction_emoji": ""}, "Reaction removed", id="reaction-removal"),
        pytest.param("image", {"content": "Look!"}, "Look!", id="given-content-wins"),
        pytest.param("image", {"content": ""}, "A sunset", id="empty-content-counts-as-none"),
        pytest.param(
            "contacts",
            {"contacts": [{"first_name": "Ann", "last_name": "Lee"}, {"name": {"formatted_name": "Bob"}}]},
            "👤 Ann Lee, Bob",
            id="contact-names",
        ),
    ],
)
def test_content_summary_when_none_is_given(kind: str, changes: dict[str, Any], content: str) -> None:
    assert parse_message(message(kind, **changes)).to_message_object()["content"] == content


def test_content_summary_is_capped_at_the_text_limit() -> None:
    many = [{"formatted_name": "N" * 30} for _ in range(200)]
    content = parse_message(message("contacts", contacts=many)).to_message_object()["content"]
    assert len(content) == models.TEXT_MAX_CHARS
    assert content.endswith("…")


def test_contact_name_in_either_form_is_sent_both_ways() -> None:
    flat = {"formatted_name": "Ann Lee", "first_name": "Ann", "last_name": "Lee", "middle_name": "J"}
    nested = {"name": dict(flat)}
    expected = {
        "name": {"formatted_name": "Ann Lee", "first_name": "Ann", "last_name": "Lee", "middle_name": "J"},
        "formatted_name": "Ann Lee",
        "first_name": "Ann",
        "last_name": "Lee",
    }
    for given in (flat, nested):
        assert parse_message(message("contacts", contacts=[given])).to_message_object()["contacts"] == [expected]


def test_full_contact_card_keeps_every_part() -> None:
    card = {
        "name": {"formatted_name": "Barbara J. Johnson", "prefix": "Dr."},
        "birthday": "1999-01-23",
        "addresses": [{"street": "1 Lucky Shrub Way", "city": "Menlo Park", "country_code": "US"}],
        "emails": [{"email": "bjohnson@luckyshrub.com", "type": "Work"}],
        "phones": [{"phone": "+19175559999", "type": "Mobile", "wa_id": "19175559999"}],
        "org": {"company": "Lucky Shrub", "title": "Lead Counsel"},
        "urls": [{"url": "https://www.luckyshrub.com", "type": "Company"}],
    }
    sent = parse_message(message("contacts", contacts=[card])).to_message_object()["contacts"][0]
    assert sent == {**card, "formatted_name": "Barbara J. Johnson"}


def _nones(value: Any) -> bool:
    if isinstance(value, dict):
        return any(item is None or _nones(item) for item in value.values())
    if isinstance(value, list):
        return any(item is None or _nones(item) for item in value)
    return False


@pytest.mark.parametrize("kind", list(VALID))
def test_bodies_hold_no_null(kind: str) -> None:
    assert not _nones(parse_message(VALID[kind]).to_body())


def test_none_values_count_as_not_given() -> None:
    msg = parse_message({"message_type": "audio", "media_url": "https://e.com/a.ogg", "caption": None})
    assert "caption" not in msg.to_message_object()


@pytest.mark.parametrize(
    ("data", "model"),
    [
        ({"content": "hi"}, TextMessage),
        ({**VALID["button"], "interactive_type": None}, ButtonMessage),
        ({**VALID["list"], "interactive_type": None}, ListMessage),
        (VALID["location"], LocationMessage),
        (VALID["contacts"], ContactsMessage),
    ],
)
def test_parse_message_selects_the_model(data: dict[str, Any], model: type[KapsoMessage]) -> None:
    assert type(parse_message(data)) is model


def test_parse_message_returns_a_built_model_as_is() -> None:
    msg = parse_message({"content": "hi"})
    assert parse_message(msg) is msg


def test_models_are_frozen() -> None:
    msg = parse_message({"content": "hi"})
    with pytest.raises(ValidationError):
        msg.content = "changed"  # type: ignore[misc]


@pytest.mark.parametrize("phone", ["+15551234567", "+1 (555) 123-4567", "+44 20.7946.0958"])
def test_phone_number_accepted(phone: str) -> None:
    assert parse_message({"content": "hi"}).to_body(phone)["message"]["phone_number"] == phone


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        (
            "call me",
            "phone_number: 'call me' is not a phone number: write it in international format, '+' and the country "
            "code, e.g. +15551230001 (spaces, '-', '.' and '()' are allowed)",
        ),
        (
            "+123456",
            "phone_number: 6 digits, expected 7..15 with the country code (international format, e.g. +15551230001)",
        ),
        (
            "+1234567890123456",
            "phone_number: 16 digits, expected 7..15 with the country code (international format, e.g. +15551230001)",
        ),
        (
            "555-1234",
            "phone_number: '555-1234' has no '+' and country code: WhatsApp needs the international format, "
            "e.g. +15551230001 (a local number such as 555-1234 cannot be delivered)",
        ),
        (
            "15551234567",
            "phone_number: '15551234567' has no '+' and country code: WhatsApp needs the international format, "
            "e.g. +15551230001 (a local number such as 555-1234 cannot be delivered)",
        ),
    ],
)
def test_phone_number_refused(phone: str, expected: str) -> None:
    with pytest.raises(KapsoInvalidMessageError) as caught:
        parse_message({"content": "hi"}).to_body(phone)
    assert caught.value.problems == [expected]


def test_message_types() -> None:
    assert MESSAGE_TYPES == (
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


def test_import_defers_schema_building() -> None:
    # A fresh interpreter: another test may already have used the models in this one.
    code = (
        "import kapso_provider.models as m\n"
        "assert not m.TextMessage.__pydantic_complete__\n"
        "m.parse_message({'content': 'hi'})\n"
        "assert m.TextMessage.__pydantic_complete__\n"
        "assert not m.ListMessage.__pydantic_complete__\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)


# --- Conformance to Kapso's OpenAPI files --------------------------------------------------------------


@pytest.fixture(scope="module")
def conversation_schemas() -> dict[str, dict[str, Any]]:
    return {name: request_schema(load_spec(name), CONVERSATION_SEND, "post") for name in (MAIN, WHATSAPP)}


@pytest.fixture(scope="module")
def standalone_schema() -> dict[str, Any]:
    return request_schema(load_spec(WHATSAPP), STANDALONE_SEND, "post")


# Every optional field set, so that the check covers the fields and not only the minimal body.
FULL: dict[str, dict[str, Any]] = {
    **VALID,
    "image": message("image", content="Look"),
    "document": message("document", caption="Q3", media_url=..., media_id="55"),
    "location": message("location", location_address="1 Main St"),
    "button": message("button", header_text="Header", footer_text="Footer"),
    "list": message(
        "list",
        header_text="H",
        footer_text="F",
        sections=[{"title": "A", "rows": rows(2)}, {"title": "B", "rows": rows(1, prefix="q")}],
    ),
    "template-header": message(
        "template", header_type="document", header_params="https://e.com/h.pdf", header_filename="h.pdf"
    ),
    "reaction-removal": message("reaction", reaction_emoji=""),
    "contacts": message(
        "contacts",
        contacts=[
            {
                "first_name": "Barbara",
                "last_name": "Johnson",
                "name": {"middle_name": "J"},
                "birthday": "1999-01-23",
                "addresses": [{"street": "1 Lucky Shrub Way", "country_code": "US"}],
                "emails": [{"email": "bjohnson@luckyshrub.com", "type": "Work"}],
                "phones": [{"phone": "+19175559999", "wa_id": "19175559999"}],
                "org": {"company": "Lucky Shrub"},
                "urls": [{"url": "https://www.luckyshrub.com"}],
            },
            {"name": {"formatted_name": "Bob"}},
        ],
    ),
}


@pytest.mark.parametrize("file", [MAIN, WHATSAPP])
@pytest.mark.parametrize("kind", list(FULL))
def test_conversation_send_body_is_valid_against_both_files(
    kind: str, file: str, conversation_schemas: dict[str, dict[str, Any]]
) -> None:
    body = parse_message(FULL[kind]).to_body()
    assert validation_errors(conversation_schemas[file], body) == []


@pytest.mark.parametrize("kind", list(FULL))
def test_standalone_send_body_is_valid(kind: str, standalone_schema: dict[str, Any]) -> None:
    body = parse_message(FULL[kind]).to_body(phone_number=PHONE)
    assert validation_errors(standalone_schema, body) == []


def test_template_params_map_is_valid_only_where_a_schema_allows_a_map(
    conversation_schemas: dict[str, dict[str, Any]], standalone_schema: dict[str, Any]
) -> None:
    # openapi.yaml's conversation send and openapi-whatsapp.yaml's /whatsapp_messages declare
    # template_params as oneOf [string array, map of strings]; openapi-whatsapp.yaml's conversation send
    # declares a string array only (while its own examples send maps). No single body satisfies both
    # conversation schemas, so the map is sent as given and only openapi.yaml's schema accepts it.
    msg = parse_message(message("template", template_params={"customer_name": "Ann"}))
    assert validation_errors(conversation_schemas[MAIN], msg.to_body()) == []
    assert validation_errors(standalone_schema, msg.to_body(phone_number=PHONE)) == []
    errors = validation_errors(conversation_schemas[WHATSAPP], msg.to_body())
    assert errors
    assert all(error.startswith("message/template_params:") for error in errors)


def test_without_content_a_body_breaks_both_conversation_schemas(
    conversation_schemas: dict[str, dict[str, Any]],
) -> None:
    # Why content is always sent: both files require it on every conversation send.
    body = parse_message(VALID["image"]).to_body()
    del body["message"]["content"]
    for schema in conversation_schemas.values():
        assert validation_errors(schema, body) == ["message: 'content' is a required property"]


def test_contact_without_nested_name_breaks_the_whatsapp_schema(
    conversation_schemas: dict[str, dict[str, Any]],
) -> None:
    # Why the nested name is always sent: openapi-whatsapp.yaml requires it; openapi.yaml knows only the
    # flat keys, which are sent too.
    body = parse_message(VALID["contacts"]).to_body()
    del body["message"]["contacts"][0]["name"]
    assert validation_errors(conversation_schemas[MAIN], body) == []
    assert validation_errors(conversation_schemas[WHATSAPP], body) == [
        "message/contacts/0: 'name' is a required property"
    ]


@pytest.mark.parametrize("file", [MAIN, WHATSAPP])
def test_message_types_match_the_files(file: str, conversation_schemas: dict[str, dict[str, Any]]) -> None:
    enum = conversation_schemas[file]["properties"]["message"]["properties"]["message_type"]["enum"]
    assert tuple(enum) == MESSAGE_TYPES
