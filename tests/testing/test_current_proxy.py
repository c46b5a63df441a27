"""The WhatsApp Cloud API proxy's messages over real HTTP: every kind, the refusals, the errors a test can
provoke, and one store shared with v1 and the Platform API."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from tests.testing._support import PHONE, TIMEOUT, answer_errors, request_errors

if TYPE_CHECKING:
    import requests

    from kapso_provider.testing import KapsoSimulator

PROXY = "current/openapi-whatsapp.yaml"
PLATFORM = "current/openapi-platform.yaml"
SEND = "/{phone_number_id}/messages"
IMAGE = {"link": "https://files.example/chart.png", "caption": "Sales"}


def message(kind: str, payload: Any, **extra: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": PHONE, "type": kind, kind: payload, **extra}


def interactive(kind: str, action: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return message("interactive", {"type": kind, "body": {"text": "Pick one"}, "action": action, **parts})


BUTTONS = {"buttons": [{"type": "reply", "reply": {"id": f"b{i}", "title": f"Option {i}"}} for i in range(3)]}
ROWS = [{"id": f"r{i}", "title": f"Row {i}", "description": "d"} for i in range(10)]
LIST = {"button": "Choose", "sections": [{"title": "All", "rows": ROWS}]}
PRODUCTS = {"catalog_id": "CAT", "sections": [{"title": "Top", "product_items": [{"product_retailer_id": "SKU1"}]}]}
FLOW = {
    "name": "flow",
    "parameters": {"flow_message_version": "3", "flow_id": "123", "flow_cta": "Start", "flow_action": "navigate"},
}
#: One body per kind the proxy sends (the notes' list), each valid against the file's request schema.
KINDS: dict[str, dict[str, Any]] = {
    "text": message("text", {"body": "See https://kapso.ai", "preview_url": True}),
    "reply": message("text", {"body": "Thanks"}, context={"message_id": "wamid.ABC"}),
    "tracked": message("text", {"body": "hi"}, biz_opaque_callback_data="run-42"),
    "image": message("image", IMAGE),
    "image_by_id": message("image", {"id": "4490709327384033"}),
    "video": message("video", {"link": "https://files.example/clip.mp4", "caption": "Demo"}),
    "voice_note": message("audio", {"link": "https://files.example/note.ogg", "voice": True}),
    "document": message("document", {"link": "https://files.example/q3.pdf", "filename": "q3.pdf"}),
    "sticker": message("sticker", {"id": "798882015472548"}),
    "location": message("location", {"latitude": 37.77, "longitude": -122.41, "name": "HQ", "address": "SF"}),
    "contacts": message("contacts", [{"name": {"formatted_name": "Ann Lee"}, "phones": [{"phone": "+15550001"}]}]),
    "reaction": message("reaction", {"message_id": "wamid.ABC", "emoji": "👍"}),
    "template_positional": message(
        "template",
        {
            "name": "order_update",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}],
        },
    ),
    "template_named_header_button": message(
        "template",
        {
            "name": "promo",
            "language": {"code": "en_US"},
            "components": [
                {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://files.example/p.png"}}]},
                {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ann"}]},
                {"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "x1"}]},
            ],
        },
    ),
    "buttons": interactive("button", BUTTONS, header={"type": "text", "text": "Hi"}, footer={"text": "Bye"}),
    "list": interactive("list", LIST),
    "cta_url": interactive(
        "cta_url", {"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://kapso.ai"}}
    ),
    "flow": interactive("flow", FLOW),
    "location_request": message(
        "interactive",
        {"type": "location_request_message", "body": {"text": "Where?"}, "action": {"name": "send_location"}},
    ),
    "product": interactive("product", {"catalog_id": "CAT", "product_retailer_id": "SKU1"}),
    "product_list": interactive("product_list", PRODUCTS, header={"type": "text", "text": "Shop"}),
    "catalog": interactive(
        "catalog_message", {"name": "catalog_message", "parameters": {"thumbnail_product_retailer_id": "SKU1"}}
    ),
}


def send(sim: KapsoSimulator, http: requests.Session, body: Any, path: str = "/messages") -> requests.Response:
    return http.post(f"{sim.meta_url}/{sim.default_phone_number_id}{path}", json=body, timeout=TIMEOUT)


def platform_list(sim: KapsoSimulator, http: requests.Session, **params: str) -> list[dict[str, Any]]:
    answer = http.get(f"{sim.platform_url}/whatsapp/messages", params=params, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


#: Bodies in Meta's form that the file's schema refuses: it puts a product list's sections under
#: ``action.parameters`` and requires ``rows`` of every ``action.sections`` item, while its own example (and
#: Meta) put ``catalog_id`` and ``sections`` of products directly under ``action``. The simulator takes both.
FILE_REFUSES_META_FORM = frozenset({"product_list"})


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_sent_stored_and_listed_everywhere(
    sim: KapsoSimulator, http: requests.Session, kind: str
) -> None:
    body = KINDS[kind]
    assert (request_errors(PROXY, "POST", SEND, {}, body) == []) is (kind not in FILE_REFUSES_META_FORM)
    answer = send(sim, http, body)
    assert answer.status_code == 200, answer.text
    assert answer_errors(PROXY, answer) == []
    wamid = answer.json()["messages"][0]["id"]
    assert answer.json()["contacts"] == [{"input": PHONE, "wa_id": PHONE.lstrip("+")}]
    (listed,) = platform_list(sim, http)
    assert (listed["id"], listed["type"], listed["to"]) == (wamid, body["type"], PHONE.lstrip("+"))
    assert listed[body["type"]] == body[body["type"]]
    assert listed["kapso"]["direction"] == "outbound"
    (record,) = sim.messages()
    # v1 lists it too, in its own shape.
    v1 = http.get(
        f"{sim.base_url}/whatsapp_conversations/{record['whatsapp_conversation_id']}/whatsapp_messages", timeout=TIMEOUT
    ).json()["data"]
    assert [item["whatsapp_message_id"] for item in v1] == [wamid]
    assert v1[0]["message_type"] == body["type"]


def with_change(kind: str, change: Any) -> dict[str, Any]:
    body = copy.deepcopy(KINDS[kind])
    change(body)
    return body


REFUSED: dict[str, tuple[dict[str, Any], str]] = {
    "no_product": (with_change("text", lambda b: b.pop("messaging_product")), "messaging_product"),
    "no_recipient": (with_change("text", lambda b: b.pop("to")), "to"),
    "bsuid": (with_change("text", lambda b: (b.pop("to"), b.update(recipient="US.134"))), "recipient"),
    "unknown_type": (with_change("text", lambda b: b.update(type="poll")), "type"),
    "no_payload": (with_change("text", lambda b: b.pop("text")), "text"),
    "long_text": (with_change("text", lambda b: b["text"].update(body="x" * 4097)), "text.body"),
    "media_without_source": (with_change("image", lambda b: b.update(image={"caption": "x"})), "image"),
    "long_caption": (with_change("image", lambda b: b["image"].update(caption="x" * 1025)), "image.caption"),
    "audio_caption": (with_change("voice_note", lambda b: b["audio"].update(caption="x")), "audio.caption"),
    "image_filename": (with_change("image", lambda b: b["image"].update(filename="a.png")), "image.filename"),
    "latitude": (with_change("location", lambda b: b["location"].update(latitude=91)), "location.latitude"),
    "no_contacts": (with_change("contacts", lambda b: b.update(contacts=[])), "contacts"),
    "contact_name": (with_change("contacts", lambda b: b["contacts"][0].pop("name")), "contacts[0].name"),
    "no_emoji": (with_change("reaction", lambda b: b["reaction"].pop("emoji")), "reaction.emoji"),
    "template_language": (
        with_change("template_positional", lambda b: b["template"].pop("language")),
        "template.language",
    ),
    "four_buttons": (
        with_change(
            "buttons", lambda b: b["interactive"]["action"]["buttons"].append(copy.deepcopy(BUTTONS["buttons"][0]))
        ),
        "interactive.action.buttons",
    ),
    "duplicate_button_ids": (
        with_change("buttons", lambda b: b["interactive"]["action"]["buttons"][1]["reply"].update(id="b0")),
        "reply.id",
    ),
    "long_button_title": (
        with_change("buttons", lambda b: b["interactive"]["action"]["buttons"][0]["reply"].update(title="x" * 21)),
        "reply.title",
    ),
    "eleven_rows": (
        with_change(
            "list", lambda b: b["interactive"]["action"]["sections"].append({"title": "More", "rows": [ROWS[0]]})
        ),
        "interactive.action.sections",
    ),
    "long_body": (
        with_change("buttons", lambda b: b["interactive"]["body"].update(text="x" * 1025)),
        "interactive.body.text",
    ),
    "long_header": (
        with_change("buttons", lambda b: b["interactive"]["header"].update(text="x" * 61)),
        "interactive.header.text",
    ),
    "cta_without_url": (
        with_change("cta_url", lambda b: b["interactive"]["action"]["parameters"].pop("url")),
        "parameters.url",
    ),
    "flow_id_and_name": (
        with_change("flow", lambda b: b["interactive"]["action"]["parameters"].update(flow_name="Survey")),
        "flow_id or flow_name",
    ),
    "thirty_one_products": (
        with_change(
            "product_list",
            lambda b: b["interactive"]["action"]["sections"][0].update(
                product_items=[{"product_retailer_id": f"S{i}"} for i in range(31)]
            ),
        ),
        "interactive.action.sections",
    ),
    "interactive_type": (with_change("buttons", lambda b: b["interactive"].update(type="poll")), "interactive.type"),
    "long_callback": (with_change("tracked", lambda b: b.update(biz_opaque_callback_data="x" * 513)), "biz_opaque"),
}
#: Refusals the file's request schema cannot tell (WhatsApp's rules it only describes in prose, or the
#: simulator's limits): every other refused body is invalid against the file too (thirty_one_products
#: for the reason of FILE_REFUSES_META_FORM).
FILE_CANNOT_TELL = frozenset(
    {
        "bsuid",
        "no_payload",
        "long_text",
        "media_without_source",
        "audio_caption",
        "image_filename",
        "latitude",
        "no_contacts",
        "duplicate_button_ids",
        "eleven_rows",
        "cta_without_url",
        "flow_id_and_name",
    }
)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_name_the_field(sim: KapsoSimulator, http: requests.Session, case: str) -> None:
    body, field = REFUSED[case]
    answer = send(sim, http, body)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["type"]) == (100, "OAuthException")
    assert field in error["message"]
    assert answer_errors(PROXY, answer) == []
    assert sim.messages() == []
    assert (request_errors(PROXY, "POST", SEND, {}, body) != []) is (case not in FILE_CANNOT_TELL)


def meta_code(answer: requests.Response) -> Any:
    error = answer.json()["error"]
    return error["code"] if isinstance(error, dict) else answer.json().get("code")


def test_unauthorized_and_unknown_number(sim: KapsoSimulator, http: requests.Session) -> None:
    http.headers.pop("X-API-Key")
    unauthorized = send(sim, http, KINDS["text"])
    assert (unauthorized.status_code, meta_code(unauthorized)) == (401, 190)
    assert answer_errors(PROXY, unauthorized) == []
    http.headers["X-API-Key"] = sim.api_key
    unknown = http.post(f"{sim.meta_url}/123/messages", json=KINDS["text"], timeout=TIMEOUT)
    assert unknown.status_code == 404
    assert answer_errors(PROXY, unknown) == []


def test_a_message_in_flight_is_a_409_that_a_retry_gets_past(sim: KapsoSimulator, http: requests.Session) -> None:
    sim.add_fault("in_flight", api="meta", path="/messages")
    conflict = send(sim, http, KINDS["text"])
    assert conflict.status_code == 409
    assert conflict.json() == {
        "error": "Another message is already in-flight for this conversation. Please retry shortly."
    }
    assert answer_errors(PROXY, conflict) == []
    assert sim.messages() == []
    assert send(sim, http, KINDS["text"]).status_code == 200


def test_outside_the_24_hour_window(sim: KapsoSimulator, http: requests.Session) -> None:
    sim.service_window = True
    refused = send(sim, http, KINDS["text"])
    assert (refused.status_code, meta_code(refused)) == (422, 131047)
    assert refused.json()["error"]["error_subcode"] == 131047
    assert answer_errors(PROXY, refused) == []
    # Templates open conversations: they go out anyway.
    assert send(sim, http, KINDS["template_positional"]).status_code == 200
    sim.deliver_inbound_from(PHONE, "hello")
    assert send(sim, http, KINDS["text"]).status_code == 200
    # The window is on Kapso's clock: 25 hours later it is closed again.
    sim.clock_offset = 25 * 3600
    assert meta_code(send(sim, http, KINDS["text"])) == 131047


def test_insufficient_credits(sim: KapsoSimulator, http: requests.Session) -> None:
    sim.credits_exhausted = True
    refused = send(sim, http, KINDS["template_positional"])
    assert refused.status_code == 402
    assert refused.json()["code"] == "insufficient_credits"
    assert refused.json()["billing_url"].startswith("https://app.kapso.ai/projects/")
    assert answer_errors(PROXY, refused) == []
    # Free-form messages are not charged.
    assert send(sim, http, KINDS["text"]).status_code == 200


@pytest.mark.parametrize("path", ["/messages", "/marketing_messages"])
def test_a_stopped_contact_gets_no_marketing(sim: KapsoSimulator, http: requests.Session, path: str) -> None:
    sim.create_template("promo", category="MARKETING", content="Hi {{first_name}}")
    body = KINDS["template_named_header_button"]
    sim.stop_marketing(PHONE)
    refused = send(sim, http, body, path)
    assert refused.status_code == 422
    assert refused.json() == {
        "error": "Contact stopped marketing messages on this WhatsApp number",
        "code": "marketing_preference_stopped",
    }
    assert answer_errors(PROXY, refused) == []
    sim.resume_marketing(PHONE)
    assert send(sim, http, body, path).status_code == 200


@pytest.mark.parametrize(
    ("content", "status", "components", "code"),
    [
        ("Order {{1}} shipped", "approved", [], 132000),
        ("Order {{1}} shipped", "submitted", [{"type": "body", "parameters": [{"type": "text", "text": "1"}]}], 132001),
    ],
    ids=["missing-parameter", "not-approved"],
)
def test_a_known_template_holds_its_sends(
    sim: KapsoSimulator, http: requests.Session, content: str, status: str, components: list[Any], code: int
) -> None:
    sim.create_template("order_update", content=content, status=status)
    body = message("template", {"name": "order_update", "language": {"code": "en_US"}, "components": components})
    refused = send(sim, http, body)
    assert (refused.status_code, meta_code(refused)) == (422, code)
    assert answer_errors(PROXY, refused) == []


def test_marketing_endpoint_takes_templates_only(sim: KapsoSimulator, http: requests.Session) -> None:
    refused = send(sim, http, KINDS["text"], "/marketing_messages")
    assert refused.status_code == 400
    assert "type" in refused.json()["error"]["message"]
    sent = send(sim, http, KINDS["template_positional"], "/marketing_messages")
    assert sent.json()["messages"][0]["message_status"] == "accepted"
    assert answer_errors(PROXY, sent) == []


@pytest.mark.parametrize("typing", [None, {"type": "text"}])
def test_mark_as_read_with_typing_indicator(sim: KapsoSimulator, http: requests.Session, typing: Any) -> None:
    inbound = sim.deliver_inbound_from(PHONE, "hello")
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound["whatsapp_message_id"]}
    if typing is not None:
        body["typing_indicator"] = typing
    assert send(sim, http, body).json() == {"success": True}
    (listed,) = platform_list(sim, http)
    assert listed["kapso"]["status"] == "read"
    assert sim.messages()[0]["status"] == "read"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"status": "seen"}, 400),
        ({"message_id": "wamid.unknown"}, 404),
        ({"typing_indicator": {"type": "audio"}}, 400),
    ],
)
def test_mark_as_read_refusals(
    sim: KapsoSimulator, http: requests.Session, change: dict[str, Any], status: int
) -> None:
    inbound = sim.deliver_inbound_from(PHONE, "hello")
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound["whatsapp_message_id"], **change}
    assert send(sim, http, body).status_code == status


def test_an_outbound_message_cannot_be_marked_read(sim: KapsoSimulator, http: requests.Session) -> None:
    wamid = send(sim, http, KINDS["text"]).json()["messages"][0]["id"]
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": wamid}
    assert send(sim, http, body).status_code == 400


# -- reads ----------------------------------------------------------------------------------------------------


def test_get_one_message_and_its_kapso_fields(sim: KapsoSimulator, http: requests.Session) -> None:
    wamid = send(sim, http, KINDS["text"]).json()["messages"][0]["id"]
    url = f"{sim.meta_url}/{sim.default_phone_number_id}/messages/{quote(wamid, safe='')}"
    plain = http.get(url, timeout=TIMEOUT).json()
    assert "kapso" not in plain
    everything = http.get(url, params={"fields": "kapso()"}, timeout=TIMEOUT)
    assert answer_errors(PROXY, everything) == []
    assert {"direction", "status", "processing_status", "whatsapp_conversation_id"} <= set(everything.json()["kapso"])
    chosen = http.get(url, params={"fields": "kapso(status,direction)"}, timeout=TIMEOUT).json()
    assert chosen["kapso"] == {"status": "sent", "direction": "outbound"}
    other = sim.add_whatsapp_config(phone_number="+15550009999")
    elsewhere = http.get(url.replace(sim.default_phone_number_id, other["phone_number_id"]), timeout=TIMEOUT)
    assert elsewhere.status_code == 404


def test_status_progression_shows_on_reads(sim: KapsoSimulator, http: requests.Session) -> None:
    sim.status_sequence = ["sent", "delivered", "read"]
    wamid = send(sim, http, KINDS["text"]).json()["messages"][0]["id"]
    url = f"{sim.platform_url}/whatsapp/messages/{quote(wamid, safe='')}"
    seen = [http.get(url, timeout=TIMEOUT).json()["data"]["kapso"]["status"] for _ in range(4)]
    assert seen == ["sent", "delivered", "read", "read"]
    statuses = http.get(url, timeout=TIMEOUT).json()["data"]["kapso"]["statuses"]
    assert [event["status"] for event in statuses] == ["sent", "delivered", "read"]


def test_a_failure_carries_whatsapps_error(sim: KapsoSimulator, http: requests.Session) -> None:
    wamid = send(sim, http, KINDS["text"]).json()["messages"][0]["id"]
    sim.set_message_status(wamid, "failed", error_code=131047, error_message="Re-engagement message")
    answer = http.get(f"{sim.platform_url}/whatsapp/messages/{quote(wamid, safe='')}", timeout=TIMEOUT)
    assert answer_errors(PLATFORM, answer) == []
    kapso = answer.json()["data"]["kapso"]
    assert kapso["status"] == "failed"
    (error,) = kapso["statuses"][-1]["errors"]
    assert (error["code"], error["title"]) == (131047, "Re-engagement message")


def test_proxy_list_filters_and_cursors(sim: KapsoSimulator, http: requests.Session) -> None:
    sent = [send(sim, http, message("text", {"body": f"m{i}"})).json()["messages"][0]["id"] for i in range(5)]
    sim.deliver_inbound_from(PHONE, "inbound one")
    url = f"{sim.meta_url}/{sim.default_phone_number_id}/messages"
    first = http.get(url, params={"direction": "outbound", "limit": "2"}, timeout=TIMEOUT)
    assert answer_errors(PROXY, first) == []
    assert [item["id"] for item in first.json()["data"]] == sent[:-3:-1]
    after = first.json()["paging"]["cursors"]["after"]
    second = http.get(url, params={"direction": "outbound", "limit": "2", "after": after}, timeout=TIMEOUT).json()
    assert [item["id"] for item in second["data"]] == sent[2:0:-1]
    before = second["paging"]["cursors"]["before"]
    back = http.get(url, params={"direction": "outbound", "limit": "2", "before": before}, timeout=TIMEOUT).json()
    assert [item["id"] for item in back["data"]] == sent[:-3:-1]
    inbound = http.get(url, params={"direction": "inbound"}, timeout=TIMEOUT).json()["data"]
    assert [item["text"]["body"] for item in inbound] == ["inbound one"]
    bad: list[dict[str, str]] = [{"limit": "0"}, {"limit": "101"}, {"after": "not-a-cursor"}, {"direction": "up"}]
    for params in bad:
        assert http.get(url, params=params, timeout=TIMEOUT).status_code == 400


def test_a_poller_keeping_the_newest_cursor_gets_exactly_what_arrived(
    sim: KapsoSimulator, http: requests.Session
) -> None:
    sim.deliver_inbound_from(PHONE, "one")
    first = http.get(f"{sim.platform_url}/whatsapp/messages", params={"direction": "inbound"}, timeout=TIMEOUT).json()
    newest = first["paging"]["cursors"]["before"]
    sim.deliver_inbound_from(PHONE, "two")
    sim.deliver_inbound_from("+15557654321", "three")
    params = {"direction": "inbound", "before": newest}
    later = http.get(f"{sim.platform_url}/whatsapp/messages", params=params, timeout=TIMEOUT).json()
    assert [item["text"]["body"] for item in later["data"]] == ["three", "two"]
    assert "previous" not in later["paging"]


# -- one store ------------------------------------------------------------------------------------------------


def test_a_v1_send_is_listed_by_the_current_apis(sim: KapsoSimulator, http: requests.Session) -> None:
    v1 = http.post(
        f"{sim.base_url}/whatsapp_messages",
        json={"message": {"phone_number": PHONE, "content": "from v1"}},
        timeout=TIMEOUT,
    ).json()["data"]
    (listed,) = platform_list(sim, http)
    assert (listed["id"], listed["text"]) == (v1["whatsapp_message_id"], {"body": "from v1"})
    proxy = http.get(
        f"{sim.meta_url}/{sim.default_phone_number_id}/messages", params={"fields": "kapso()"}, timeout=TIMEOUT
    )
    assert answer_errors(PROXY, proxy) == []
    assert proxy.json()["data"][0]["kapso"]["whatsapp_conversation_id"] == v1["whatsapp_conversation_id"]


@pytest.mark.parametrize(("kind", "reply_type"), [("buttons", "button_reply"), ("list", "list_reply")])
def test_a_reply_to_a_proxy_question(sim: KapsoSimulator, http: requests.Session, kind: str, reply_type: str) -> None:
    armed = sim.reply_to_question(1, phone_number=PHONE)
    assert armed["state"] == "armed"
    send(sim, http, KINDS[kind])
    inbound = platform_list(sim, http, direction="inbound")
    (reply,) = inbound
    assert reply["type"] == "interactive"
    assert reply["interactive"]["type"] == reply_type
    assert reply["interactive"][reply_type] == {
        "id": f"{'b' if kind == 'buttons' else 'r'}1",
        "title": "Option 1" if kind == "buttons" else "Row 1",
    }
    assert reply["from"] == PHONE.lstrip("+")
    (record,) = [item for item in sim.messages() if item["direction"] == "inbound"]
    assert record["message_type_data"]["reply_option_id"] == reply["interactive"][reply_type]["id"]


def test_a_product_list_in_the_files_form_is_taken_too(sim: KapsoSimulator, http: requests.Session) -> None:
    body = copy.deepcopy(KINDS["product_list"])
    body["interactive"]["action"] = {"parameters": PRODUCTS}
    assert request_errors(PROXY, "POST", SEND, {}, body) == []
    assert send(sim, http, body).status_code == 200
