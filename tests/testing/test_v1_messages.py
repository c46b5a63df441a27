"""The simulator's v1 conversations, messages, sends, templates and configs over real HTTP."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.testing._support import PHONE, conversation_send, phone_send

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- conversations ------------------------------------------------------------------------------------------


def test_list_and_get_conversations(sim, http):
    first = sim.create_conversation(phone_number=PHONE, contact_name="Ann")
    second = sim.create_conversation(phone_number="+447700900123", status="ended")
    response = http.get(f"{sim.base_url}/whatsapp_conversations")
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["data"]] == [second["id"], first["id"]]
    assert body["meta"] == {"page": 1, "per_page": 20, "total_pages": 1, "total_count": 2}
    fetched = http.get(f"{sim.base_url}/whatsapp_conversations/{first['id']}").json()["data"]
    assert fetched == first
    assert fetched["whatsapp_config_id"] == sim.default_whatsapp_config_id
    assert fetched["contact_name"] == "Ann"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q[phone_number_eq]": "+1 (555) 123-4567"}, ["a"]),
        ({"phone_number": "15551234567"}, ["a"]),
        ({"status": "ended"}, ["b"]),
        ({"q[status_eq]": "active"}, ["c", "a"]),
        ({"whatsapp_config_id": "other"}, ["c"]),
        ({"q[whatsapp_config_id_eq]": "default"}, ["b", "a"]),
    ],
)
def test_conversation_filters(sim, http, params, expected):
    other = sim.add_whatsapp_config(name="Other", phone_number="+15550009999")
    records = {
        "a": sim.create_conversation(phone_number=PHONE),
        "b": sim.create_conversation(phone_number="+447700900123", status="ended"),
        "c": sim.create_conversation(phone_number="+447700900999", whatsapp_config_id=other["id"]),
    }
    ids = {"other": other["id"], "default": sim.default_whatsapp_config_id}
    params = {name: ids.get(value, value) for name, value in params.items()}
    data = http.get(f"{sim.base_url}/whatsapp_conversations", params=params).json()["data"]
    assert [item["id"] for item in data] == [records[name]["id"] for name in expected]


def test_conversation_filter_by_last_active(sim, http):
    old = sim.create_conversation(phone_number=PHONE)
    time.sleep(0.01)
    new = sim.create_conversation(phone_number="+447700900123")
    params = {"q[last_active_at_gteq]": new["last_active_at"]}
    data = http.get(f"{sim.base_url}/whatsapp_conversations", params=params).json()["data"]
    assert [item["id"] for item in data] == [new["id"]]
    params = {"q[last_active_at_lteq]": old["last_active_at"]}
    data = http.get(f"{sim.base_url}/whatsapp_conversations", params=params).json()["data"]
    assert [item["id"] for item in data] == [old["id"]]
    bad = http.get(f"{sim.base_url}/whatsapp_conversations", params={"q[last_active_at_gteq]": "yesterday"})
    assert bad.status_code == 422


def test_update_conversation_status(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    url = f"{sim.base_url}/whatsapp_conversations/{conversation['id']}"
    response = http.patch(url, json={"whatsapp_conversation": {"status": "ended"}})
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ended"
    assert http.patch(url, json={"whatsapp_conversation": {"status": "gone"}}).status_code == 422


# -- pagination ---------------------------------------------------------------------------------------------


def test_message_pagination_meta_and_newest_first(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    sent = [conversation_send(http, sim, conversation["id"], {"content": f"m{i}"}).json()["data"] for i in range(5)]
    url = f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
    pages = [http.get(url, params={"per_page": 2, "page": page}).json() for page in (1, 2, 3, 4)]
    assert [page["meta"] for page in pages] == [
        {"page": page, "per_page": 2, "total_pages": 3, "total_count": 5} for page in (1, 2, 3, 4)
    ]
    listed = [item["content"] for page in pages for item in page["data"]]
    assert listed == ["m4", "m3", "m2", "m1", "m0"]
    assert pages[3]["data"] == []
    stamps = [item["created_at"] for item in sent]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 5
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp) for stamp in stamps)


def test_default_per_page_is_20(sim, http):
    for index in range(25):
        sim.create_conversation(phone_number=f"+1555000{index:04d}")
    body = http.get(f"{sim.base_url}/whatsapp_conversations").json()
    assert len(body["data"]) == 20
    assert body["meta"] == {"page": 1, "per_page": 20, "total_pages": 2, "total_count": 25}
    body = http.get(f"{sim.base_url}/whatsapp_conversations", params={"per_page": 100}).json()
    assert len(body["data"]) == 25


@pytest.mark.parametrize(
    "params",
    [{"page": 0}, {"page": -1}, {"page": "x"}, {"per_page": 0}, {"per_page": 101}, {"per_page": "1.5"}],
)
@pytest.mark.parametrize("path", ["/whatsapp_conversations", "/whatsapp_templates", "/whatsapp_configs"])
def test_pagination_out_of_range_is_422(sim, http, path, params):
    response = http.get(sim.base_url + path, params=params)
    assert response.status_code == 422
    body = response.json()
    assert body["status"] == 422
    assert body["message"].startswith(next(iter(params)) + ":")


# -- sends --------------------------------------------------------------------------------------------------


def test_conversation_send_stores_an_outbound_record(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    response = conversation_send(http, sim, conversation["id"], {"content": "Hello", "message_type": "text"})
    assert response.status_code == 201
    record = response.json()["data"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", record["id"])
    assert record["direction"] == "outbound"
    assert record["status"] == "sent"
    assert record["processing_status"] == "processed"
    assert record["whatsapp_message_id"].startswith("wamid.")
    assert record["phone_number"] == PHONE
    assert record["message_type_data"] == {"text": "Hello"}
    assert record["metadata"] == {}
    assert record["whatsapp_conversation_id"] == conversation["id"]
    assert record["created_at"] == record["updated_at"]
    assert sim.messages() == [record]
    assert sim.messages(conversation["id"]) == [record]
    assert sim.messages("other") == []
    listed = http.get(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages").json()
    assert listed["data"] == [record]


def test_message_type_data_per_type(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    cases: list[tuple[dict[str, Any], dict[str, Any]]] = [
        (
            {"message_type": "image", "content": "pic", "media_url": "https://x.test/a.png", "caption": "Sunset"},
            {"caption": "Sunset", "mime_type": "image/png"},
        ),
        (
            {"message_type": "document", "content": "doc", "media_id": "123", "filename": "a.pdf"},
            {"media_id": "123", "filename": "a.pdf"},
        ),
        (
            {"message_type": "location", "content": "loc", "latitude": 1.5, "longitude": -2, "location_name": "X"},
            {"latitude": 1.5, "longitude": -2, "location_name": "X"},
        ),
        (
            {"message_type": "reaction", "content": "r", "reaction_emoji": "👍", "reacted_to_message_id": "m1"},
            {"reaction_emoji": "👍", "reacted_to_message_id": "m1"},
        ),
        (
            {
                "message_type": "contacts",
                "content": "c",
                "contacts": [{"formatted_name": "Bob B", "phones": [{"phone": "+1555"}]}],
            },
            {"contacts": [{"name": {"formatted_name": "Bob B"}, "phones": [{"phone": "+1555"}]}]},
        ),
    ]
    for message, expected in cases:
        response = conversation_send(http, sim, conversation["id"], message)
        assert response.status_code == 201, response.text
        assert response.json()["data"]["message_type_data"] == expected
    image = sim.messages()[0]
    assert image["media_url"] == "https://x.test/a.png"
    assert "media_url" not in sim.messages()[1]


def test_template_message_keeps_named_params_in_metadata(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    message = {
        "message_type": "template",
        "content": "Order notification",
        "template_name": "order_update",
        "template_language": "en_US",
        "template_params": {"customer_name": "John"},
    }
    record = conversation_send(http, sim, conversation["id"], message).json()["data"]
    assert record["metadata"] == {
        "template_name": "order_update",
        "template_language": "en_US",
        "template_params": {"customer_name": "John"},
    }
    assert "template_params" not in record["message_type_data"]


def test_phone_send_finds_or_creates_the_conversation(sim, http):
    response = phone_send(http, sim, {"phone_number": PHONE, "content": "first"})
    assert response.status_code == 201
    first = response.json()["data"]
    conversations = sim.conversations()
    assert len(conversations) == 1
    assert first["whatsapp_conversation_id"] == conversations[0]["id"]
    second = phone_send(http, sim, {"phone_number": "+1 555-123-4567", "content": "second"}).json()["data"]
    assert second["whatsapp_conversation_id"] == first["whatsapp_conversation_id"]
    third = http.post(
        f"{sim.base_url}/whatsapp_messages", params={"phone_number": PHONE}, json={"message": {"content": "3"}}
    )
    assert third.status_code == 201
    assert third.json()["data"]["whatsapp_conversation_id"] == first["whatsapp_conversation_id"]


def test_phone_send_skips_ended_conversations_and_other_configs(sim, http):
    ended = sim.create_conversation(phone_number=PHONE, status="ended")
    other = sim.add_whatsapp_config(name="Other", phone_number="+15550009999", customer_id="cust-1")
    record = phone_send(http, sim, {"phone_number": PHONE, "content": "x"}).json()["data"]
    assert record["whatsapp_conversation_id"] != ended["id"]
    on_other = http.post(
        f"{sim.base_url}/whatsapp_messages",
        params={"whatsapp_config_id": other["id"]},
        json={"message": {"phone_number": PHONE, "content": "y"}},
    ).json()["data"]
    assert on_other["whatsapp_config_id"] == other["id"]
    assert on_other["whatsapp_conversation_id"] != record["whatsapp_conversation_id"]
    by_customer = http.post(
        f"{sim.base_url}/whatsapp_messages",
        params={"customer_id": "cust-1"},
        json={"message": {"phone_number": PHONE, "content": "z"}},
    ).json()["data"]
    assert by_customer["whatsapp_conversation_id"] == on_other["whatsapp_conversation_id"]
    chosen = sim.add_whatsapp_config(config_id="cfg-1", phone_number="+15550001111")
    assert chosen["id"] == "cfg-1"
    with pytest.raises(ValueError, match="exists"):
        sim.add_whatsapp_config(config_id="cfg-1")
    on_chosen = http.post(
        f"{sim.base_url}/whatsapp_messages",
        params={"whatsapp_config_id": "cfg-1"},
        json={"message": {"phone_number": PHONE, "content": "z"}},
    )
    assert on_chosen.json()["data"]["whatsapp_config_id"] == "cfg-1"
    unknown = http.post(
        f"{sim.base_url}/whatsapp_messages",
        params={"whatsapp_config_id": "nope"},
        json={"message": {"phone_number": PHONE, "content": "z"}},
    )
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "WhatsApp configuration not found"


def test_phone_send_without_phone_number_is_400_as_documented(sim, http):
    response = phone_send(http, sim, {"content": "hi"})
    assert response.status_code == 400
    assert response.json()["error"] == "Phone number is required"
    assert sim.messages() == []


def test_phone_send_summarizes_content_when_missing(sim, http):
    record = phone_send(
        http,
        sim,
        {"phone_number": PHONE, "message_type": "contacts", "contacts": [{"name": {"first_name": "Ann"}}]},
    ).json()["data"]
    assert record["content"] == "Contact: Ann"
    assert record["metadata"]["contacts_data"] == [{"name": {"first_name": "Ann", "formatted_name": "Ann"}}]


TEXT = {"message_type": "text", "content": "hi"}
VALID_MESSAGES: dict[str, dict[str, Any]] = {
    "text": TEXT,
    "text_default_type": {"content": "hi"},
    "image_url": {"message_type": "image", "content": "", "media_url": "https://x.test/a.jpg"},
    "audio_id": {"message_type": "audio", "content": "a", "media_id": "998"},
    "location": {"message_type": "location", "content": "l", "latitude": -90, "longitude": 180},
    "buttons": {
        "message_type": "interactive",
        "content": "b",
        "interactive_type": "button",
        "body_text": "Pick",
        "buttons": [{"id": "y", "title": "Yes"}, {"id": "n", "title": "No"}, {"id": "m", "title": "Maybe"}],
    },
    "list": {
        "message_type": "interactive",
        "content": "l",
        "interactive_type": "list",
        "body_text": "Pick",
        "sections": [{"title": "S", "rows": [{"id": "r1", "title": "Row"}]}],
    },
    "template": {"message_type": "template", "content": "t", "template_name": "x", "template_language": "en"},
    "reaction": {"message_type": "reaction", "content": "r", "reaction_emoji": "❤", "reacted_to_message_id": "m"},
    "contacts_nested": {"message_type": "contacts", "content": "c", "contacts": [{"name": {"first_name": "A"}}]},
    "contacts_flat": {"message_type": "contacts", "content": "c", "contacts": [{"formatted_name": "A"}]},
}

INVALID_MESSAGES: dict[str, tuple[Any, str]] = {
    "body_not_object": ([1, 2], "body"),
    "no_message": ({"msg": {}}, "message"),
    "message_not_object": ({"message": "hi"}, "message"),
    "bad_type": ({"message": {"message_type": "sticker", "content": "x"}}, "message.message_type"),
    "no_content": ({"message": {"message_type": "text"}}, "message.content"),
    "blank_text": ({"message": {"content": "   "}}, "message.content"),
    "content_not_string": ({"message": {"content": 5}}, "message.content"),
    "text_too_long": ({"message": {"content": "x" * 4097}}, "message.content"),
    "media_missing": ({"message": {"message_type": "image", "content": "x"}}, "message.media_url"),
    "media_url_not_http": (
        {"message": {"message_type": "video", "content": "x", "media_url": "ftp://x/a.mp4"}},
        "message.media_url",
    ),
    "no_latitude": ({"message": {"message_type": "location", "content": "x", "longitude": 1}}, "message.latitude"),
    "latitude_range": (
        {"message": {"message_type": "location", "content": "x", "latitude": 91, "longitude": 1}},
        "message.latitude",
    ),
    "longitude_range": (
        {"message": {"message_type": "location", "content": "x", "latitude": 1, "longitude": -180.5}},
        "message.longitude",
    ),
    "latitude_bool": (
        {"message": {"message_type": "location", "content": "x", "latitude": True, "longitude": 1}},
        "message.latitude",
    ),
    "interactive_type": (
        {"message": {"message_type": "interactive", "content": "x", "interactive_type": "flow", "body_text": "b"}},
        "message.interactive_type",
    ),
    "no_body_text": (
        {
            "message": {
                "message_type": "interactive",
                "content": "x",
                "interactive_type": "button",
                "buttons": [{"id": "a", "title": "A"}],
            }
        },
        "message.body_text",
    ),
    "no_buttons": (
        {"message": {"message_type": "interactive", "content": "x", "interactive_type": "button", "body_text": "b"}},
        "message.buttons",
    ),
    "four_buttons": (
        {
            "message": {
                "message_type": "interactive",
                "content": "x",
                "interactive_type": "button",
                "body_text": "b",
                "buttons": [{"id": str(i), "title": str(i)} for i in range(4)],
            }
        },
        "message.buttons",
    ),
    "button_without_title": (
        {
            "message": {
                "message_type": "interactive",
                "content": "x",
                "interactive_type": "button",
                "body_text": "b",
                "buttons": [{"id": "a"}],
            }
        },
        "message.buttons[0].title",
    ),
    "no_sections": (
        {"message": {"message_type": "interactive", "content": "x", "interactive_type": "list", "body_text": "b"}},
        "message.sections",
    ),
    "empty_rows": (
        {
            "message": {
                "message_type": "interactive",
                "content": "x",
                "interactive_type": "list",
                "body_text": "b",
                "sections": [{"title": "s", "rows": []}],
            }
        },
        "message.sections[0].rows",
    ),
    "no_template_name": (
        {"message": {"message_type": "template", "content": "x", "template_language": "en"}},
        "message.template_name",
    ),
    "no_template_language": (
        {"message": {"message_type": "template", "content": "x", "template_name": "t"}},
        "message.template_language",
    ),
    "template_params_number": (
        {
            "message": {
                "message_type": "template",
                "content": "x",
                "template_name": "t",
                "template_language": "en",
                "template_params": 3,
            }
        },
        "message.template_params",
    ),
    "no_emoji": (
        {"message": {"message_type": "reaction", "content": "x", "reacted_to_message_id": "m"}},
        "message.reaction_emoji",
    ),
    "no_reacted_to": (
        {"message": {"message_type": "reaction", "content": "x", "reaction_emoji": "👍"}},
        "message.reacted_to_message_id",
    ),
    "no_contacts": ({"message": {"message_type": "contacts", "content": "x", "contacts": []}}, "message.contacts"),
    "too_many_contacts": (
        {"message": {"message_type": "contacts", "content": "x", "contacts": [{"first_name": "a"}] * 258}},
        "message.contacts",
    ),
    "contact_without_name": (
        {"message": {"message_type": "contacts", "content": "x", "contacts": [{"name": {"last_name": "L"}}]}},
        "message.contacts[0].name",
    ),
    "contact_phone_without_phone": (
        {
            "message": {
                "message_type": "contacts",
                "content": "x",
                "contacts": [{"first_name": "a", "phones": [{"type": "Mobile"}]}],
            }
        },
        "message.contacts[0].phones[0].phone",
    ),
}


@pytest.mark.parametrize("name", sorted(VALID_MESSAGES))
def test_valid_messages_are_accepted(sim, http, name):
    conversation = sim.create_conversation(phone_number=PHONE)
    response = conversation_send(http, sim, conversation["id"], VALID_MESSAGES[name])
    assert response.status_code == 201, response.text
    assert response.json()["data"]["message_type"] == VALID_MESSAGES[name].get("message_type", "text")


@pytest.mark.parametrize("name", sorted(INVALID_MESSAGES))
def test_invalid_messages_are_422(sim, http, name):
    body, field = INVALID_MESSAGES[name]
    conversation = sim.create_conversation(phone_number=PHONE)
    response = http.post(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages", json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["status"] == 422
    assert payload["message"].startswith(field + ": ")
    assert payload["error"]
    assert sim.messages() == []


def test_phone_send_validates_the_same_way(sim, http):
    response = phone_send(http, sim, {"phone_number": PHONE, "message_type": "image"})
    assert response.status_code == 422
    assert response.json()["message"].startswith("message.media_url: ")
    assert sim.conversations() == []


def test_phone_send_content_is_optional_but_conversation_send_is_not(sim, http):
    media = {"message_type": "image", "media_url": "https://x.test/a.jpg"}
    assert phone_send(http, sim, {"phone_number": PHONE, **media}).status_code == 201
    conversation_id = sim.messages()[0]["whatsapp_conversation_id"]
    response = conversation_send(http, sim, conversation_id, media)
    assert response.status_code == 422
    assert response.json()["message"] == "message.content: is required"


# -- templates ----------------------------------------------------------------------------------------------


def test_templates_list_get_and_filters(sim, http):
    hello = sim.create_template(name="hello_world", language="en_US")
    promo = sim.create_template(name="promo", language="es", category="MARKETING", status="draft")
    body = http.get(f"{sim.base_url}/whatsapp_templates").json()
    assert [item["id"] for item in body["data"]] == [hello["id"], promo["id"]]
    assert body["meta"]["total_count"] == 2
    assert http.get(f"{sim.base_url}/whatsapp_templates/{hello['id']}").json()["data"] == hello
    assert hello["status"] == "approved"
    assert hello["language_code"] == "en_US"
    for params, expected in (
        ({"q[name_cont]": "HELLO"}, [hello]),
        ({"q[language_code_eq]": "es"}, [promo]),
        ({"q[status_eq]": "draft"}, [promo]),
        ({"q[category_eq]": "UTILITY"}, [hello]),
    ):
        data = http.get(f"{sim.base_url}/whatsapp_templates", params=params).json()["data"]
        assert [item["id"] for item in data] == [item["id"] for item in expected]


def test_send_template_positional(sim, http):
    template = sim.create_template(name="reminder", content="Hi {{1}}, see you {{2}}.")
    assert template["parameter_count"] == 2
    url = f"{sim.base_url}/whatsapp_templates/{template['id']}/send_template"
    response = http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": ["Ann", "soon"]}})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["template_id"] == template["id"]
    assert body["template_name"] == "reminder"
    assert "data" not in body
    (record,) = sim.messages()
    assert record["message_type"] == "template"
    assert record["content"] == "Hi Ann, see you soon."
    assert body["response"]["messages"][0]["id"] == record["whatsapp_message_id"]
    short = http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": ["Ann"]}})
    assert short.status_code == 422
    assert short.json()["error"] == "Template requires 2 parameters, but 1 were provided"
    assert len(sim.messages()) == 1


def test_send_template_without_content_takes_any_parameters(sim, http):
    template = sim.create_template(name="order_update")
    url = f"{sim.base_url}/whatsapp_templates/{template['id']}/send_template"
    for params in (["Ada", "today"], {"name": "Ada"}, None):
        body = {"template": {"phone_number": PHONE, "template_parameters": params}}
        assert http.post(url, json=body).status_code == 200
    bad = http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": [1]}})
    assert bad.status_code == 422
    assert len(sim.messages()) == 3


def test_send_template_named_and_errors(sim, http):
    template = sim.create_template(name="order", content="Hi {{customer_name}}, order {{order_id}}.")
    url = f"{sim.base_url}/whatsapp_templates/{template['id']}/send_template"
    params = {"customer_name": "Ann", "order_id": "42"}
    ok = http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": params}})
    assert ok.status_code == 200
    assert sim.messages()[0]["content"] == "Hi Ann, order 42."
    missing = http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": {"order_id": "1"}}})
    assert missing.status_code == 422
    assert http.post(url, json={"template": {}}).status_code == 422
    assert http.post(url, json={"phone_number": PHONE}).status_code == 422
    unknown = http.post(f"{sim.base_url}/whatsapp_templates/nope/send_template", json={"template": {}})
    assert unknown.status_code == 404
    draft = sim.create_template(name="draft", status="draft")
    response = http.post(
        f"{sim.base_url}/whatsapp_templates/{draft['id']}/send_template", json={"template": {"phone_number": PHONE}}
    )
    assert response.status_code == 422
    assert len(sim.messages()) == 1


# -- configs ------------------------------------------------------------------------------------------------


def test_configs(sim, http):
    body = http.get(f"{sim.base_url}/whatsapp_configs").json()
    (config,) = body["data"]
    assert config["id"] == sim.default_whatsapp_config_id
    assert body["meta"] == {"page": 1, "per_page": 20, "total_pages": 1, "total_count": 1}
    assert http.get(f"{sim.base_url}/whatsapp_configs/{config['id']}").json()["data"] == config
    assert "webhook_verify_token" not in config
    assert "access_token" not in config


# -- statuses and inbound -----------------------------------------------------------------------------------


def test_set_message_status_and_failed_metadata(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    record = conversation_send(http, sim, conversation["id"], TEXT).json()["data"]
    delivered = sim.set_message_status(record["id"], "delivered")
    assert delivered["status"] == "delivered"
    assert delivered["updated_at"] > record["updated_at"]
    failed = sim.set_message_status(
        record["whatsapp_message_id"], "failed", error_code=131047, error_message="Re-engagement message"
    )
    assert failed["metadata"] == {"error_code": 131047, "error_message": "Re-engagement message"}
    listed = http.get(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages").json()
    assert listed["data"][0]["status"] == "failed"
    with pytest.raises(KeyError):
        sim.set_message_status("nope", "read")
    with pytest.raises(ValueError, match="status"):
        sim.set_message_status(record["id"], "exploded")


def test_deliver_inbound(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    inbound = sim.deliver_inbound(conversation["id"], content="hello there")
    assert inbound["direction"] == "inbound"
    assert inbound["message_type_data"] == {"text": "hello there"}
    listed = http.get(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages").json()
    assert listed["data"][0]["id"] == inbound["id"]
    refreshed = http.get(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}").json()["data"]
    assert refreshed["last_active_at"] == inbound["created_at"]
    with pytest.raises(KeyError):
        sim.deliver_inbound("nope")
