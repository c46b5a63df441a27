"""Neutral messages as Meta's bodies for the proxy: every kind rendered, valid against the proxy's file, and
the proxy's own limits checked before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest

from kapso_provider.api.current.bodies import meta_body
from kapso_provider.exceptions import KapsoInvalidMessageError, KapsoUnsupportedError
from kapso_provider.models import parse_message
from kapso_provider.models.cloud_api import CLOUD_API_MESSAGE_TYPES
from tests._openapi import _as_the_schema_words_it
from tests.api.current._cases import BUTTONS, CASES, ROWS
from tests.testing._support import request_errors

PROXY = "current/openapi-whatsapp.yaml"
SEND = "/{phone_number_id}/messages"


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_kind_becomes_metas_body(kind: str) -> None:
    fields, expected = CASES[kind]
    assert meta_body(parse_message(fields)) == expected


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_body_is_valid_against_the_proxys_file(kind: str) -> None:
    body = {"messaging_product": "whatsapp", "to": "15551234567", **meta_body(parse_message(CASES[kind][0]))}
    assert request_errors(PROXY, "POST", SEND, {}, _as_the_schema_words_it(body)) == []


def test_the_file_refuses_metas_product_list_and_takes_its_own_form() -> None:
    """Pins the file's flaw the product list works around: fixed, this fails and the workaround can go."""
    body = {"messaging_product": "whatsapp", "to": "15551234567", **CASES["product list"][1]}
    assert request_errors(PROXY, "POST", SEND, {}, body) != []
    assert request_errors(PROXY, "POST", SEND, {}, _as_the_schema_words_it(body)) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {
                "message_type": "interactive",
                "interactive_type": "list",
                "body_text": "x" * 1025,
                "list_button_text": "See",
                "sections": [{"rows": ROWS}],
            },
            "body_text: 1025 characters, limit 1024 on Kapso's current API (the proxy's interactive body)",
            id="list-body-over-the-proxys-limit",
        ),
        pytest.param(
            {"message_type": "contacts", "contacts": [{"formatted_name": "A" * 201}]},
            "contacts[0].name.formatted_name: 201 characters, limit 200 on Kapso's current API",
            id="contact-name-over-the-proxys-limit",
        ),
    ],
)
def test_the_proxys_own_limits_name_the_field(fields: dict[str, Any], expected: str) -> None:
    with pytest.raises(KapsoInvalidMessageError) as caught:
        meta_body(parse_message(fields))
    assert caught.value.problems == [expected]


def test_content_of_a_kind_without_content_is_refused_as_v1_only() -> None:
    with pytest.raises(KapsoUnsupportedError, match=r"^content: Kapso's current API sends no content with image"):
        meta_body(parse_message({"message_type": "image", "media_id": "1", "content": "A summary"}))
    # Empty or blank content (a template that rendered to nothing) counts as not given.
    assert meta_body(parse_message({"message_type": "image", "media_id": "1", "content": " "}))["type"] == "image"


def test_an_empty_header_or_footer_is_left_out() -> None:
    fields = {
        "message_type": "interactive",
        "body_text": "Go?",
        "buttons": BUTTONS,
        "header_text": "",
        "footer_text": " ",
    }
    assert set(meta_body(parse_message(fields))["interactive"]) == {"type", "body", "action"}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"type": "text", "text": {"body": "x" * 4097}}, ["text.body: 4097 characters, limit 4096"], id="long-text"
        ),
        pytest.param(
            {"type": "poll"},
            ["type: 'poll' is not one of " + ", ".join(CLOUD_API_MESSAGE_TYPES)],
            id="unknown-type",
        ),
        pytest.param(
            {"type": "text", "to": "15550001111", "text": {"body": "hi"}},
            ["to: leave the recipient out of the body: give the send's phone_number or conversation_id"],
            id="recipient-in-body",
        ),
        pytest.param(
            {"type": "image", "image": {"id": "1", "link": "https://e.com/a.png"}},
            ["image: give id or link, one of them"],
            id="media-id-and-link",
        ),
        pytest.param(
            {"type": "audio", "audio": {"id": "1", "caption": "c"}},
            ["audio.caption: WhatsApp allows no caption here"],
            id="audio-caption",
        ),
        pytest.param(
            {
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": "b"},
                    "action": {
                        "buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": "t"}} for i in range(4)]
                    },
                },
            },
            ["interactive.action.buttons: 4 buttons, limit 3"],
            id="four-buttons",
        ),
        pytest.param(
            {
                "type": "interactive",
                "interactive": {
                    "type": "cta_url",
                    "body": {"text": "b"},
                    "action": {"name": "cta_url", "parameters": {"display_text": "x" * 21, "url": "ftp://e"}},
                },
            },
            [
                "interactive.action.parameters.display_text: 21 characters, limit 20",
                "interactive.action.parameters.url: 'ftp://e' is not an http(s) URL",
            ],
            id="cta-url",
        ),
        pytest.param(
            {"type": "text", "text": {"body": "hi"}, "biz_opaque_callback_data": "x" * 513},
            ["biz_opaque_callback_data: 513 characters, limit 512"],
            id="callback-data",
        ),
        pytest.param(
            {"type": "template", "template": {"name": "Bad-Name", "language": {"code": "english"}}},
            [
                "template.name: 'Bad-Name' is not made of lowercase letters, digits and underscores",
                "template.language.code: 'english' is not a language code like en, en_US or pt_BR",
            ],
            id="template-name",
        ),
    ],
)
def test_a_cloud_api_body_is_checked_naming_its_paths(body: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(KapsoInvalidMessageError) as caught:
        parse_message(body)
    assert caught.value.problems == expected


def test_reply_context_and_callback_data_in_a_cloud_api_body_pass_through() -> None:
    body = {
        "type": "text",
        "text": {"body": "hi"},
        "context": {"message_id": "wamid.A"},
        "biz_opaque_callback_data": "x",
    }
    assert meta_body(parse_message(body)) == body
