"""The simulator's answers and its request checks, judged by Kapso's own OpenAPI files.

The files live outside the package (``KAPSO_OPENAPI_DIR``, default ``<repo>/../shared/kapso-api``); the
whole module is skipped when they are absent.

Two flaws of the files are worked around here, each pinned by a test of its own so that a fixed file
shows up as a failing test:

* ``WhatsappMessage.message_type_data`` is a ``oneOf`` of ten object schemas whose properties are all
  optional and that do not forbid extra properties: every object matches all ten, so ``oneOf`` rejects
  every message that has the field. Here it is checked as ``anyOf`` plus a check against the schema of
  the record's own ``message_type``.
* ``openapi.yaml`` types ``WhatsappTemplate.components`` as an object, ``openapi-whatsapp.yaml`` as an
  array (WhatsApp's real shape, which the simulator follows); templates are judged by the newer file.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from tests._openapi import load_spec, spec_dir
from tests.testing._support import PHONE, document, errors_of, escape, validator

MAIN = "openapi.yaml"
WHATSAPP = "openapi-whatsapp.yaml"

if not (spec_dir() / MAIN).is_file() or not (spec_dir() / WHATSAPP).is_file():
    pytest.skip(f"Kapso OpenAPI files not found in {spec_dir()} (set KAPSO_OPENAPI_DIR)", allow_module_level=True)

TYPE_SCHEMAS = {
    "text": "TextMessageData",
    "image": "ImageMessageData",
    "video": "VideoMessageData",
    "audio": "AudioMessageData",
    "document": "DocumentMessageData",
    "location": "LocationMessageData",
    "template": "TemplateMessageData",
    "interactive": "InteractiveMessageData",
    "reaction": "ReactionMessageData",
    "contacts": "ContactsMessageData",
}


def response_validator(name: str, path: str, method: str, status: int) -> Any:
    operation = document(name)["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{name} documents no {status} for {method} {path}"
    return validator(
        name, f"/paths/{escape(path)}/{method.lower()}/responses/{status}/content/application~1json/schema"
    )


def request_validator(name: str, path: str, method: str) -> Any:
    return validator(name, f"/paths/{escape(path)}/{method.lower()}/requestBody/content/application~1json/schema")


def assert_matches(response: requests.Response, name: str, path: str, method: str) -> None:
    checker = response_validator(name, path, method, response.status_code)
    body = response.json()
    assert errors_of(checker, body) == [], f"{name} {method} {path} {response.status_code}"
    records = body.get("data")
    for record in records if isinstance(records, list) else [records]:
        if isinstance(record, dict) and "message_type_data" in record:
            assert_type_data_matches(name, record)


def assert_type_data_matches(name: str, record: dict[str, Any]) -> None:
    """``message_type_data`` against its own type's schema, unknown keys refused."""
    schema_name = TYPE_SCHEMAS[record["message_type"]]
    schema = document(name)["components"]["schemas"][schema_name]
    assert set(record["message_type_data"]) <= set(schema["properties"]), record["message_type_data"]
    checker = validator(name, f"/components/schemas/{schema_name}")
    assert errors_of(checker, record["message_type_data"]) == []


SENDS: list[dict[str, Any]] = [
    {"message_type": "text", "content": "Hello"},
    {"message_type": "image", "content": "pic", "media_url": "https://x.test/a.jpg", "caption": "c"},
    {"message_type": "video", "content": "vid", "media_url": "https://x.test/a.mp4"},
    {"message_type": "audio", "content": "aud", "media_url": "https://x.test/a.ogg"},
    {"message_type": "document", "content": "doc", "media_url": "https://x.test/a.pdf", "filename": "a.pdf"},
    {"message_type": "location", "content": "loc", "latitude": 37.77, "longitude": -122.41, "location_name": "SF"},
    {
        "message_type": "template",
        "content": "tpl",
        "template_name": "hello_world",
        "template_language": "en_US",
        "template_params": ["John"],
    },
    {
        "message_type": "interactive",
        "content": "pick",
        "interactive_type": "button",
        "body_text": "Pick one",
        "buttons": [{"id": "y", "title": "Yes"}],
    },
    {
        "message_type": "interactive",
        "content": "pick",
        "interactive_type": "list",
        "body_text": "Pick one",
        "sections": [{"title": "S", "rows": [{"id": "r", "title": "Row", "description": "d"}]}],
    },
    {"message_type": "reaction", "content": "r", "reaction_emoji": "👍", "reacted_to_message_id": "wamid.x"},
    {
        "message_type": "contacts",
        "content": "c",
        "contacts": [{"name": {"formatted_name": "Barbara J. Johnson"}, "phones": [{"phone": "+16505559999"}]}],
    },
]


# -- the two flaws, pinned ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [MAIN, WHATSAPP])
def test_files_message_type_data_one_of_is_unsatisfiable(name):
    record = {"message_type": "text", "message_type_data": {"text": "hi"}}
    strict = validator(name, "/components/schemas/WhatsappMessage", patched=False)
    assert any("is valid under each of" in message for message in errors_of(strict, record))
    assert errors_of(validator(name, "/components/schemas/WhatsappMessage"), record) == []


def test_files_disagree_on_template_components():
    main = load_spec(MAIN)["components"]["schemas"]["WhatsappTemplate"]["properties"]["components"]
    newer = load_spec(WHATSAPP)["components"]["schemas"]["WhatsappTemplate"]["properties"]["components"]
    assert (main["type"], newer["type"]) == ("object", "array")


# -- responses ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [MAIN, WHATSAPP])
@pytest.mark.parametrize("message", SENDS, ids=lambda message: f"{message['message_type']}")
def test_conversation_send_and_list_match(sim, http, name, message):
    conversation = sim.create_conversation(phone_number=PHONE, contact_name="Ann")
    path = "/whatsapp_conversations/{conversation_id}/whatsapp_messages"
    url = f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
    sent = http.post(url, json={"message": message})
    assert sent.status_code == 201, sent.text
    assert_matches(sent, name, path, "POST")
    sim.set_message_status(sent.json()["data"]["id"], "failed", error_code=131047, error_message="Re-engagement")
    sim.deliver_inbound(conversation["id"], content="thanks")
    listed = http.get(url)
    assert_matches(listed, name, path, "GET")


@pytest.mark.parametrize("name", [MAIN, WHATSAPP])
def test_conversation_endpoints_match(sim, http, name):
    conversation = sim.create_conversation(phone_number=PHONE, contact_name="Ann")
    sim.create_conversation(phone_number="+447700900123", status="ended")
    assert_matches(http.get(f"{sim.base_url}/whatsapp_conversations"), name, "/whatsapp_conversations", "GET")
    one = http.get(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}")
    assert_matches(one, name, "/whatsapp_conversations/{conversation_id}", "GET")
    missing = http.get(f"{sim.base_url}/whatsapp_conversations/nope")
    assert missing.status_code == 404
    assert_matches(missing, name, "/whatsapp_conversations/{conversation_id}", "GET")
    unauthorized = requests.get(f"{sim.base_url}/whatsapp_conversations", timeout=5)
    assert unauthorized.status_code == 401
    assert_matches(unauthorized, name, "/whatsapp_conversations", "GET")
    patched = http.patch(
        f"{sim.base_url}/whatsapp_conversations/{conversation['id']}",
        json={"whatsapp_conversation": {"status": "ended"}},
    )
    assert_matches(patched, name, "/whatsapp_conversations/{conversation_id}", "PATCH")


@pytest.mark.parametrize("name", [MAIN, WHATSAPP])
def test_send_errors_match(sim, http, name):
    conversation = sim.create_conversation(phone_number=PHONE)
    path = "/whatsapp_conversations/{conversation_id}/whatsapp_messages"
    url = f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
    invalid = http.post(url, json={"message": {"message_type": "text", "content": ""}})
    assert invalid.status_code == 422
    assert_matches(invalid, name, path, "POST")
    missing = http.post(f"{sim.base_url}/whatsapp_conversations/nope/whatsapp_messages", json={"message": {}})
    assert missing.status_code == 404
    assert_matches(missing, name, path, "POST")
    sim.add_fault("server_error_after_store")
    failed = http.post(url, json={"message": {"content": "hi"}})
    assert failed.status_code == 500
    assert_matches(failed, name, path, "POST")


def test_phone_send_matches(sim, http):
    path = "/whatsapp_messages"
    for message in SENDS:
        sent = http.post(f"{sim.base_url}/whatsapp_messages", json={"message": {"phone_number": PHONE, **message}})
        assert sent.status_code == 201, sent.text
        assert_matches(sent, WHATSAPP, path, "POST")
    no_phone = http.post(f"{sim.base_url}/whatsapp_messages", json={"message": {"content": "hi"}})
    assert no_phone.status_code == 400
    assert_matches(no_phone, WHATSAPP, path, "POST")
    invalid = http.post(
        f"{sim.base_url}/whatsapp_messages", json={"message": {"phone_number": PHONE, "message_type": "image"}}
    )
    assert invalid.status_code == 422
    assert_matches(invalid, WHATSAPP, path, "POST")
    bad_config = http.post(
        f"{sim.base_url}/whatsapp_messages",
        params={"whatsapp_config_id": "nope"},
        json={"message": {"phone_number": PHONE, "content": "hi"}},
    )
    assert bad_config.status_code == 422
    assert_matches(bad_config, WHATSAPP, path, "POST")


@pytest.mark.parametrize("name", [MAIN, WHATSAPP])
def test_template_send_matches(sim, http, name):
    template = sim.create_template(name="reminder", content="Hi {{1}}")
    path = "/whatsapp_templates/{template_id}/send_template"
    url = f"{sim.base_url}/whatsapp_templates/{template['id']}/send_template"
    sent = http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": ["Ann"]}})
    assert sent.status_code == 200
    assert_matches(sent, name, path, "POST")
    wrong = http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": []}})
    assert wrong.status_code == 422
    assert_matches(wrong, name, path, "POST")
    missing = http.post(f"{sim.base_url}/whatsapp_templates/nope/send_template", json={"template": {}})
    assert missing.status_code == 404
    assert_matches(missing, name, path, "POST")
    # The stored record is a message like any other.
    listed = http.get(
        f"{sim.base_url}/whatsapp_conversations/{sim.messages()[0]['whatsapp_conversation_id']}/whatsapp_messages"
    )
    assert_matches(listed, name, "/whatsapp_conversations/{conversation_id}/whatsapp_messages", "GET")


def test_template_reads_match(sim, http):
    template = sim.create_template(name="reminder", content="Hi {{1}}")
    sim.create_template(name="promo", category="MARKETING", status="draft")
    assert_matches(http.get(f"{sim.base_url}/whatsapp_templates"), WHATSAPP, "/whatsapp_templates", "GET")
    one = http.get(f"{sim.base_url}/whatsapp_templates/{template['id']}")
    assert_matches(one, WHATSAPP, "/whatsapp_templates/{template_id}", "GET")
    missing = http.get(f"{sim.base_url}/whatsapp_templates/nope")
    assert_matches(missing, WHATSAPP, "/whatsapp_templates/{template_id}", "GET")
    # Against the older file only the components type disagrees (see the module docstring).
    errors = errors_of(response_validator(MAIN, "/whatsapp_templates/{template_id}", "GET", 200), one.json())
    assert errors == ["data/components: [{'type': 'BODY', 'text': 'Hi {{1}}'}] is not of type 'object'"]


def test_config_reads_match(sim, http):
    listed = http.get(f"{sim.base_url}/whatsapp_configs")
    assert_matches(listed, WHATSAPP, "/whatsapp_configs", "GET")
    config_id = listed.json()["data"][0]["id"]
    one = http.get(f"{sim.base_url}/whatsapp_configs/{config_id}")
    assert_matches(one, WHATSAPP, "/whatsapp_configs/{id}", "GET")
    assert_matches(one, MAIN, "/whatsapp_configs/{config_id}", "GET")


def test_rate_limit_body_matches_error_schema():
    with KapsoSimulator(rate_limit=1) as simulator:
        headers = {"X-API-Key": simulator.api_key}
        requests.get(f"{simulator.base_url}/whatsapp_configs", headers=headers, timeout=5)
        limited = requests.get(f"{simulator.base_url}/whatsapp_configs", headers=headers, timeout=5)
    assert limited.status_code == 429
    assert errors_of(validator(WHATSAPP, "/components/schemas/Error"), limited.json()) == []


# -- requests: the simulator and the files agree where the files can tell ---------------------------------------

CONVERSATION_SEND = "/whatsapp_conversations/{conversation_id}/whatsapp_messages"
# (body, accepted by the simulator); every body here is one the request schema can judge.
JUDGEABLE_CONVERSATION_BODIES: dict[str, tuple[Any, bool]] = {
    **{f"valid_{i}_{message['message_type']}": ({"message": message}, True) for i, message in enumerate(SENDS)},
    "no_message": ({"content": "hi"}, False),
    "message_not_object": ({"message": ["hi"]}, False),
    "no_content": ({"message": {"message_type": "text"}}, False),
    "content_not_string": ({"message": {"content": 1}}, False),
    "unknown_type": ({"message": {"content": "x", "message_type": "sticker"}}, False),
    "latitude_string": (
        {"message": {"content": "x", "message_type": "location", "latitude": "1", "longitude": 1}},
        False,
    ),
    "interactive_type": (
        {"message": {"content": "x", "message_type": "interactive", "interactive_type": "carousel", "body_text": "b"}},
        False,
    ),
    "no_contacts": ({"message": {"content": "x", "message_type": "contacts", "contacts": []}}, False),
    "too_many_contacts": (
        {"message": {"content": "x", "message_type": "contacts", "contacts": [{"name": {"first_name": "a"}}] * 258}},
        False,
    ),
    "contact_phone_without_phone": (
        {
            "message": {
                "content": "x",
                "message_type": "contacts",
                "contacts": [{"name": {"first_name": "a"}, "phones": [{"type": "Mobile"}]}],
            }
        },
        False,
    ),
}

MAIN_CANNOT_TELL = frozenset({"no_contacts", "too_many_contacts", "contact_phone_without_phone"})


@pytest.mark.parametrize("case", sorted(MAIN_CANNOT_TELL))
def test_main_file_allows_contacts_that_the_simulator_refuses(sim, http, case):
    # openapi.yaml sets no bounds on contacts and does not require phones[].phone; openapi-whatsapp.yaml
    # and WhatsApp do, so the simulator follows the stricter file.
    body, accepted = JUDGEABLE_CONVERSATION_BODIES[case]
    assert not accepted
    assert errors_of(request_validator(MAIN, CONVERSATION_SEND, "POST"), body) == []
    conversation = sim.create_conversation(phone_number=PHONE)
    response = http.post(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages", json=body)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("name", "case"),
    [
        (name, case)
        for name in (MAIN, WHATSAPP)
        for case in sorted(JUDGEABLE_CONVERSATION_BODIES)
        if not (name == MAIN and case in MAIN_CANNOT_TELL)
    ],
)
def test_conversation_send_requests_judged_alike(sim, http, name, case):
    body, accepted = JUDGEABLE_CONVERSATION_BODIES[case]
    schema_ok = errors_of(request_validator(name, CONVERSATION_SEND, "POST"), body) == []
    conversation = sim.create_conversation(phone_number=PHONE)
    response = http.post(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages", json=body)
    assert (response.status_code == 201) is accepted, response.text
    assert schema_ok is accepted


PHONE_BODIES: dict[str, tuple[Any, bool]] = {
    "text": ({"message": {"phone_number": PHONE, "content": "hi"}}, True),
    "contacts_without_content": (
        {"message": {"phone_number": PHONE, "message_type": "contacts", "contacts": [{"name": {"first_name": "A"}}]}},
        True,
    ),
    "named_template_params": (
        {
            "message": {
                "phone_number": PHONE,
                "message_type": "template",
                "template_name": "t",
                "template_language": "en",
                "template_params": {"name": "A"},
            }
        },
        True,
    ),
    "no_phone": ({"message": {"content": "hi"}}, False),
    "no_message": ({"phone_number": PHONE}, False),
    "template_params_number": (
        {
            "message": {
                "phone_number": PHONE,
                "message_type": "template",
                "template_name": "t",
                "template_language": "en",
                "template_params": 5,
            }
        },
        False,
    ),
}


@pytest.mark.parametrize("case", sorted(PHONE_BODIES))
def test_phone_send_requests_judged_alike(sim, http, case):
    body, accepted = PHONE_BODIES[case]
    schema_ok = errors_of(request_validator(WHATSAPP, "/whatsapp_messages", "POST"), body) == []
    response = http.post(f"{sim.base_url}/whatsapp_messages", json=body)
    assert (response.status_code == 201) is accepted, response.text
    assert schema_ok is accepted


def test_flat_contact_names_are_a_documented_schema_gap(sim, http):
    """Both files describe flat names as supported yet require ``name``; the simulator follows the text."""
    body = {"message": {"content": "c", "message_type": "contacts", "contacts": [{"formatted_name": "A"}]}}
    for name in (MAIN, WHATSAPP):
        schema_errors = errors_of(request_validator(name, CONVERSATION_SEND, "POST"), body)
        if name == WHATSAPP:
            assert schema_errors == ["message/contacts/0: 'name' is a required property"]
        else:
            assert schema_errors == []
    conversation = sim.create_conversation(phone_number=PHONE)
    response = http.post(f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages", json=body)
    assert response.status_code == 201


def test_send_template_requests_judged_alike(sim, http):
    template = sim.create_template(name="reminder", content="Hi {{1}}")
    url = f"{sim.base_url}/whatsapp_templates/{template['id']}/send_template"
    checker = request_validator(WHATSAPP, "/whatsapp_templates/{template_id}/send_template", "POST")
    for body, accepted in (
        ({"template": {"phone_number": PHONE, "template_parameters": ["Ann"]}}, True),
        ({"template": {"template_parameters": ["Ann"]}}, False),
        ({"phone_number": PHONE}, False),
        ({"template": {"phone_number": PHONE, "template_parameters": ["Ann"], "header_type": "gif"}}, False),
    ):
        assert (errors_of(checker, body) == []) is accepted, body
        assert (http.post(url, json=body).status_code == 200) is accepted, body
