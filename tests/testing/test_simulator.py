"""The Kapso simulator over real HTTP on 127.0.0.1: endpoints, validation, limits, faults, control, CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from kapso_provider.testing import Fault, FaultKind, KapsoSimulator
from tests.testing._support import JSON, PHONE, TIMEOUT

REPO_ROOT = Path(__file__).resolve().parents[2]


def get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=kwargs.pop("timeout", TIMEOUT), **kwargs)


def conversation_send(
    http: requests.Session, sim: KapsoSimulator, conversation_id: str, message: dict[str, Any], **kwargs: Any
) -> requests.Response:
    return http.post(
        f"{sim.base_url}/whatsapp_conversations/{conversation_id}/whatsapp_messages",
        json={"message": message},
        **kwargs,
    )


def phone_send(
    http: requests.Session, sim: KapsoSimulator, message: dict[str, Any], **kwargs: Any
) -> requests.Response:
    return http.post(f"{sim.base_url}/whatsapp_messages", json={"message": message}, **kwargs)


# -- lifecycle ---------------------------------------------------------------------------------------------


def test_base_url_and_defaults():
    simulator = KapsoSimulator()
    assert simulator.api_key == "test-key"
    with pytest.raises(RuntimeError):
        _ = simulator.base_url
    simulator.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", simulator.base_url)
        assert simulator.running
        with pytest.raises(RuntimeError):
            simulator.start()
    finally:
        simulator.stop()
    simulator.stop()  # idempotent
    assert not simulator.running


def test_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        KapsoSimulator(host="192.0.2.1")


def test_stop_closes_pooled_connections():
    simulator = KapsoSimulator().start()
    session = requests.Session()
    url = f"{simulator.base_url}/whatsapp_configs"
    assert session.get(url, headers={"X-API-Key": "test-key"}).status_code == 200
    simulator.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url, headers={"X-API-Key": "test-key"}, timeout=1)


def test_keep_alive_reuses_one_connection(sim, http):
    for _ in range(3):
        response = http.get(f"{sim.base_url}/whatsapp_configs")
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(response.content)
    peers = {request.headers["Host"] for request in sim.requests}
    assert len(peers) == 1


# -- auth and errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer secret-key"}])
def test_unauthorized(sim, headers):
    response = get(f"{sim.base_url}/whatsapp_conversations", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "Unauthorized"
    assert body["status"] == 401
    assert body["message"]
    assert "secret-key" not in response.text
    assert "wrong" not in response.text
    assert response.headers["Content-Type"].startswith("application/json")


def test_header_name_is_case_insensitive(sim):
    response = get(f"{sim.base_url}/whatsapp_configs", headers={"x-api-key": sim.api_key})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/unknown"),
        ("GET", "/api/v2/whatsapp_conversations"),
        ("DELETE", "/api/v1/whatsapp_conversations"),
        ("GET", "/"),
    ],
)
def test_unknown_paths_are_404_in_error_shape(sim, http, method, path):
    response = http.request(method, sim.url + path)
    assert response.status_code == 404
    assert set(response.json()) == {"error", "status", "message"}


def test_unknown_ids_are_404(sim, http):
    for path in (
        "/whatsapp_conversations/nope",
        "/whatsapp_conversations/nope/whatsapp_messages",
        "/whatsapp_templates/nope",
        "/whatsapp_configs/nope",
    ):
        response = http.get(sim.base_url + path)
        assert response.status_code == 404, path
        assert response.json()["status"] == 404
    response = conversation_send(http, sim, "nope", {"content": "hi"})
    assert response.status_code == 404
    assert sim.messages() == []


def test_invalid_json_body_is_400(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    response = http.post(
        f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert sim.requests[-1].json is None
    assert sim.requests[-1].body == b"{not json"


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


# -- recorded requests --------------------------------------------------------------------------------------


def test_requests_are_recorded_with_key_redacted_in_repr(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    conversation_send(http, sim, conversation["id"], TEXT, params={"x": "1"})
    get(f"{sim.control_url}/requests")
    (recorded,) = sim.requests
    assert recorded.method == "POST"
    assert recorded.path == f"/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
    assert recorded.full_path == f"/api/v1/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
    assert recorded.query == {"x": "1"}
    assert recorded.json == {"message": TEXT}
    assert json.loads(recorded.body) == {"message": TEXT}
    assert recorded.headers["x-api-key"] == "secret-key"
    assert "X-API-Key" in recorded.headers
    assert "secret-key" not in repr(recorded)
    assert "secret-key" not in json.dumps(recorded.to_json())


# -- rate limit and latency ---------------------------------------------------------------------------------


def test_rate_limit():
    with KapsoSimulator(rate_limit=3) as simulator, requests.Session() as session:
        session.headers["X-API-Key"] = simulator.api_key
        url = f"{simulator.base_url}/whatsapp_configs"
        answers = [session.get(url) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
        assert all(answer.headers["X-RateLimit-Limit"] == "3" for answer in answers)
        limited = answers[-1]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        body = limited.json()
        assert body["error"] == "Rate limit exceeded"
        assert body["status"] == 429
        assert body["message"]
        # Counted per key: another key has its own window.
        other = get(url, headers={"X-API-Key": "other"})
        assert other.status_code == 401
        assert other.headers["X-RateLimit-Remaining"] == "2"
        simulator.reset()
        assert session.get(url).status_code == 200


def test_rate_limit_window_resets():
    with KapsoSimulator(rate_limit=1, rate_limit_window=0.3) as simulator:
        url = f"{simulator.base_url}/whatsapp_configs"
        headers = {"X-API-Key": simulator.api_key}
        assert get(url, headers=headers).status_code == 200
        assert get(url, headers=headers).status_code == 429
        time.sleep(0.35)
        assert get(url, headers=headers).status_code == 200


def test_no_rate_limit_headers_when_unlimited(sim, http):
    response = http.get(f"{sim.base_url}/whatsapp_configs")
    assert "X-RateLimit-Limit" not in response.headers


def test_latency():
    with KapsoSimulator(latency=0.15) as simulator:
        started = time.monotonic()
        get(f"{simulator.base_url}/whatsapp_configs", headers={"X-API-Key": simulator.api_key})
        assert time.monotonic() - started >= 0.15
        started = time.monotonic()
        get(f"{simulator.control_url}/messages")
        assert time.monotonic() - started < 0.15


# -- faults -------------------------------------------------------------------------------------------------


def test_fault_rate_limit(sim, http, conversation):
    sim.add_fault("rate_limit", retry_after=7)
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "Rate limit exceeded"
    assert sim.messages() == []
    assert conversation_send(http, sim, conversation["id"], TEXT).status_code == 201


def test_fault_server_error_before_store(sim, http, conversation):
    sim.add_fault(FaultKind.SERVER_ERROR_BEFORE_STORE, status=503)
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 503
    assert response.json()["status"] == 503
    assert sim.messages() == []


def test_fault_server_error_after_store(sim, http, conversation):
    sim.add_fault("server_error_after_store")
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 500
    assert set(response.json()) == {"error", "status", "message"}
    assert len(sim.messages()) == 1


def test_fault_drop_before_store(sim, http, conversation):
    sim.add_fault("drop_before_store")
    with pytest.raises(requests.ConnectionError):
        conversation_send(http, sim, conversation["id"], TEXT)
    assert sim.messages() == []
    assert len(sim.requests) == 1
    assert conversation_send(http, sim, conversation["id"], TEXT).status_code == 201


def test_fault_drop_after_store(sim, http, conversation):
    sim.add_fault("drop_after_store")
    with pytest.raises(requests.ConnectionError):
        conversation_send(http, sim, conversation["id"], TEXT)
    assert len(sim.messages()) == 1


def test_fault_slow_after_store(sim, http, conversation):
    sim.add_fault("slow_after_store", delay=2.0)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        conversation_send(http, sim, conversation["id"], TEXT, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert len(sim.messages()) == 1
    # The pool discards the timed-out connection; the next request gets a fresh one.
    assert conversation_send(http, sim, conversation["id"], TEXT, timeout=1).status_code == 201


def test_fault_slow_after_store_answers_late(sim, http, conversation):
    sim.add_fault("slow_after_store", delay=0.2)
    started = time.monotonic()
    response = conversation_send(http, sim, conversation["id"], TEXT, timeout=2)
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.2


def test_fault_malformed_json(sim, http, conversation):
    sim.add_fault("malformed_json", method="POST")
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert len(sim.messages()) == 1
    response = http.get(f"{sim.base_url}/whatsapp_configs")
    assert response.status_code == 200
    response.json()


def test_fault_html_error(sim, http, conversation):
    sim.add_fault("html_error")
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text
    assert sim.messages() == []


def test_fault_on_read_behaves_the_same_before_or_after(sim, http):
    for kind in ("server_error_before_store", "server_error_after_store"):
        sim.add_fault(kind, method="GET", path="whatsapp_configs")
        assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 500


def test_fault_count_and_matching(sim, http, conversation):
    sim.add_fault(
        "server_error_before_store", method="POST", path=r"^/whatsapp_conversations/[^/]+/whatsapp_messages$", count=2
    )
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 200
    assert phone_send(http, sim, {"phone_number": PHONE, "content": "x"}).status_code == 201
    statuses = [conversation_send(http, sim, conversation["id"], TEXT).status_code for _ in range(3)]
    assert statuses == [500, 500, 201]
    assert sim.faults == []


def test_fault_count_none_is_permanent(sim, http):
    sim.add_fault("html_error", path="/whatsapp_configs", count=None)
    assert [http.get(f"{sim.base_url}/whatsapp_configs").status_code for _ in range(3)] == [502] * 3
    sim.clear_faults()
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 200


def test_first_matching_fault_wins(sim, http):
    sim.add_fault("html_error", path="configs")
    sim.add_fault("rate_limit", path="configs")
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 502
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 429
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 200


def fault_pattern(seed: int) -> list[int]:
    with KapsoSimulator(seed=seed) as simulator, requests.Session() as session:
        session.headers["X-API-Key"] = simulator.api_key
        simulator.add_fault("server_error_before_store", probability=0.3)
        return [session.get(f"{simulator.base_url}/whatsapp_configs").status_code for _ in range(40)]


def test_fault_probability_is_seeded():
    first = fault_pattern(7)
    assert first == fault_pattern(7)
    failures = first.count(500)
    assert 4 <= failures <= 20
    assert set(first) == {200, 500}


def test_fault_validation():
    simulator = KapsoSimulator()
    with pytest.raises(ValueError, match=r"meteor_strike"):
        simulator.add_fault("meteor_strike")
    with pytest.raises(ValueError, match="probability"):
        simulator.add_fault("html_error", probability=1.5)
    with pytest.raises(ValueError, match="count"):
        simulator.add_fault("html_error", count=0)
    assert Fault(FaultKind("rate_limit")).kind is FaultKind.RATE_LIMIT
    assert FaultKind("drop_after_store") is FaultKind.DROP_AFTER_STORE
    assert isinstance(FaultKind.DROP_AFTER_STORE, str)


def test_faults_do_not_touch_control_endpoints(sim):
    sim.add_fault("html_error", count=None)
    assert get(f"{sim.control_url}/messages").status_code == 200


# -- reset --------------------------------------------------------------------------------------------------


def test_reset(sim, http, conversation):
    sim.add_whatsapp_config(name="Other")
    sim.create_template()
    conversation_send(http, sim, conversation["id"], TEXT)
    sim.add_fault("html_error", count=None)
    key, config_id = sim.api_key, sim.default_whatsapp_config_id
    sim.reset()
    assert sim.messages() == []
    assert sim.conversations() == []
    assert sim.requests == []
    assert sim.faults == []
    assert sim.api_key == key
    configs = http.get(f"{sim.base_url}/whatsapp_configs").json()["data"]
    assert [config["id"] for config in configs] == [config_id]
    assert http.get(f"{sim.base_url}/whatsapp_templates").json()["data"] == []


# -- control endpoints --------------------------------------------------------------------------------------


def test_control_endpoints(sim, http):
    control = sim.control_url
    created = post(f"{control}/conversations", json={"phone_number": PHONE})
    assert created.status_code == 201
    conversation = created.json()["data"]
    record = conversation_send(http, sim, conversation["id"], TEXT).json()["data"]

    listed = get(f"{control}/messages").json()["data"]
    assert [item["id"] for item in listed] == [record["id"]]
    assert get(f"{control}/messages", params={"conversation_id": "x"}).json()["data"] == []

    recorded = get(f"{control}/requests").json()["data"]
    assert len(recorded) == 1
    assert recorded[0]["headers"]["X-API-Key"] == "***"
    assert recorded[0]["json"] == {"message": TEXT}

    status = post(
        f"{control}/messages/{record['id']}/status",
        json={"status": "failed", "error_code": 131047, "error_message": "Re-engagement message"},
    )
    assert status.status_code == 200
    assert status.json()["data"]["metadata"]["error_code"] == 131047
    assert post(f"{control}/messages/nope/status", json={"status": "read"}).status_code == 404

    fault = post(f"{control}/faults", json={"kind": "html_error", "path": "configs", "count": 1})
    assert fault.status_code == 201
    assert fault.json()["data"]["kind"] == "html_error"
    assert get(f"{control}/faults").json()["data"][0]["path"] == "configs"
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 502
    assert post(f"{control}/faults", json={"kind": "nope"}).status_code == 400
    assert post(f"{control}/faults", json={"colour": "red"}).status_code == 400

    template = post(f"{control}/templates", json={"name": "t1"}).json()["data"]
    assert sim.create_template()["id"] != template["id"]
    inbound = post(f"{control}/conversations/{conversation['id']}/inbound", json={"content": "yo"})
    assert inbound.status_code == 201
    assert inbound.json()["data"]["direction"] == "inbound"

    assert post(f"{control}/reset", json={}).json() == {"data": {"reset": True}}
    assert sim.messages() == []
    assert get(f"{control}/nothing").status_code == 404
    assert post(f"{control}/conversations", data=b"[", headers=JSON).status_code == 400
    # Control traffic is never recorded nor asks for the API key.
    assert sim.requests == []


# -- CLI ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_serves_until_terminated():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kapso_provider.testing",
            "--port",
            str(port),
            "--api-key",
            "cli-key",
            "--rate-limit",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        base_url = f"http://127.0.0.1:{port}/api/v1"
        assert base_url in first
        assert "cli-key" in second
        response = get(f"{base_url}/whatsapp_configs", headers={"X-API-Key": "cli-key"}, timeout=5)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "50"
    finally:
        process.terminate()
        process.wait(timeout=5)
    assert process.returncode == 0


def test_cli_refuses_non_loopback_host():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "kapso_provider.testing", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104 - the mistake refused
        capture_output=True,
        text=True,
        env=env,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr


# -- concurrency and addresses ------------------------------------------------------------------------------


def test_concurrent_sends_are_all_stored(sim):
    from concurrent.futures import ThreadPoolExecutor

    conversation = sim.create_conversation(phone_number=PHONE)

    def send(index: int) -> int:
        with requests.Session() as session:
            session.headers["X-API-Key"] = sim.api_key
            statuses = [
                conversation_send(session, sim, conversation["id"], {"content": f"{index}-{n}"}, timeout=5).status_code
                for n in range(5)
            ]
        return statuses.count(201)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(send, range(8))) == 40
    records = sim.messages()
    assert len(records) == 40
    assert len({record["id"] for record in records}) == 40
    stamps = [record["created_at"] for record in records]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 40


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        simulator = KapsoSimulator(host="::1").start()
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    try:
        assert simulator.base_url.startswith("http://[::1]:")
        assert get(f"{simulator.base_url}/whatsapp_configs", headers={"X-API-Key": "test-key"}).status_code == 200
    finally:
        simulator.stop()
