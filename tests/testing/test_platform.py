"""The Platform API over real HTTP: conversations and assignments, contacts, customers, broadcasts, webhooks,
phone numbers and their health, media ingest, Kapso agent runs."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

from tests.testing._support import PHONE, TIMEOUT, answer_errors

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from kapso_provider.testing import KapsoSimulator

PLATFORM = "current/openapi-platform.yaml"
AGENT = "current/openapi-kapso-agent.yaml"


def call(sim: KapsoSimulator, http: requests.Session, method: str, path: str, body: Any = None, **params: str) -> Any:
    return http.request(method, sim.platform_url + path, json=body, params=params or None, timeout=TIMEOUT)


# -- conversations and assignments ----------------------------------------------------------------------------


def test_conversations_list_get_and_end(sim: KapsoSimulator, http: requests.Session) -> None:
    first = sim.create_conversation(PHONE)
    second = sim.create_conversation("+447700900123")
    listed = call(sim, http, "GET", "/whatsapp/conversations")
    assert answer_errors(PLATFORM, listed) == []
    assert [item["id"] for item in listed.json()["data"]] == [second["id"], first["id"]]
    # The phone number filter is a partial match, as the file says.
    partial = call(sim, http, "GET", "/whatsapp/conversations", phone_number="4477009")
    assert [item["id"] for item in partial.json()["data"]] == [second["id"]]
    ended = call(
        sim, http, "PATCH", f"/whatsapp/conversations/{first['id']}", {"whatsapp_conversation": {"status": "ended"}}
    )
    assert answer_errors(PLATFORM, ended) == []
    assert sim.conversations()[0]["status"] == "ended"
    active = call(sim, http, "GET", "/whatsapp/conversations", status="active").json()["data"]
    assert [item["id"] for item in active] == [second["id"]]
    bad = call(sim, http, "PATCH", f"/whatsapp/conversations/{first['id']}", {"whatsapp_conversation": {"status": "x"}})
    assert bad.status_code == 422
    assert call(sim, http, "GET", "/whatsapp/conversations/nope").status_code == 404


def test_assignments_follow_the_same_rules_as_v1(sim: KapsoSimulator, http: requests.Session) -> None:
    conversation = sim.create_conversation(PHONE)
    path = f"/whatsapp/conversations/{conversation['id']}/assignments"
    user = sim.assignments.default_user_id
    made = call(sim, http, "POST", path, {"assignment": {"user_id": user, "notes": "VIP"}})
    assert made.status_code == 201
    assert answer_errors(PLATFORM, made) == []
    again = call(sim, http, "POST", path, {"assignment": {"user_id": user}})
    assert (again.status_code, again.json()) == (422, {"error": "Conversation is already assigned"})
    assert answer_errors(PLATFORM, again) == []
    assignment_id = made.json()["data"]["id"]
    off = call(sim, http, "PATCH", f"{path}/{assignment_id}", {"assignment": {"active": False}})
    assert off.json()["data"]["active"] is False
    # v1 sees it: one store.
    assert sim.assignments.assignments(conversation["id"])[0]["active"] is False
    listed = call(sim, http, "GET", path)
    assert answer_errors(PLATFORM, listed) == []
    assert call(sim, http, "GET", f"{path}/{assignment_id}").json()["data"]["notes"] == "VIP"
    unknown_user = call(sim, http, "POST", path, {"assignment": {"user_id": "4a5b6c7d-8e9f-0a1b-2c3d-4e5f6a7b8c9d"}})
    assert unknown_user.status_code == 404
    unassigned = call(sim, http, "GET", "/whatsapp/conversations", unassigned="true").json()["data"]
    assert [item["id"] for item in unassigned] == [conversation["id"]]


# -- contacts -------------------------------------------------------------------------------------------------


def test_contacts_crud_and_asynchronous_erasure(sim: KapsoSimulator, http: requests.Session) -> None:
    body = {"contact": {"wa_id": "+1 555 123 4567", "profile_name": "Ann", "display_name": "Ann (VIP)"}}
    made = call(sim, http, "POST", "/whatsapp/contacts", body)
    assert made.status_code == 201
    assert answer_errors(PLATFORM, made) == []
    contact = made.json()["data"]
    assert (contact["wa_id"], contact["display_name"]) == ("15551234567", "Ann (VIP)")
    assert call(sim, http, "POST", "/whatsapp/contacts", body).status_code == 422
    by_number = call(sim, http, "GET", f"/whatsapp/contacts/{PHONE}")
    assert by_number.json()["data"]["id"] == contact["id"]
    renamed = call(sim, http, "PATCH", f"/whatsapp/contacts/{contact['id']}", {"contact": {"profile_name": "Annie"}})
    assert renamed.json()["data"]["profile_name"] == "Annie"
    # v1 shows the same contact.
    assert (
        http.get(f"{sim.base_url}/whatsapp_contacts/{contact['id']}", timeout=TIMEOUT).json()["data"]["profile_name"]
        == "Annie"
    )
    sim.store_outbound(phone_number=PHONE)
    erased = call(sim, http, "DELETE", f"/whatsapp/contacts/{contact['id']}")
    assert (erased.status_code, erased.content) == (204, b"")
    # Queued: the messages are there until the erasure runs, at the next read of contacts.
    assert len(sim.messages()) == 1
    assert call(sim, http, "GET", f"/whatsapp/contacts/{contact['id']}").status_code == 404
    assert sim.messages() == []
    assert sim.conversations() == []


def test_contact_list_filters_and_pagination(sim: KapsoSimulator, http: requests.Session) -> None:
    for number, name in (("15550000001", "Ann"), ("15550000002", "Bob"), ("15550000003", "Anna")):
        call(sim, http, "POST", "/whatsapp/contacts", {"contact": {"wa_id": number, "profile_name": name}})
    listed = call(sim, http, "GET", "/whatsapp/contacts", profile_name_contains="ann")
    assert answer_errors(PLATFORM, listed) == []
    assert [item["profile_name"] for item in listed.json()["data"]] == ["Anna", "Ann"]
    page = call(sim, http, "GET", "/whatsapp/contacts", limit="2").json()
    rest = call(sim, http, "GET", "/whatsapp/contacts", after=page["paging"]["next"]).json()
    assert [item["wa_id"] for item in page["data"] + rest["data"]] == ["15550000003", "15550000002", "15550000001"]
    legacy = call(sim, http, "GET", "/whatsapp/contacts", page="1", per_page="2")
    assert legacy.json()["meta"]["total_count"] == 3
    too_deep = call(sim, http, "GET", "/whatsapp/contacts", page="51")
    assert too_deep.status_code == 400
    assert answer_errors(PLATFORM, too_deep) == []


# -- customers ------------------------------------------------------------------------------------------------


def test_customers_crud_in_one_store_with_v1(sim: KapsoSimulator, http: requests.Session) -> None:
    # The current file requires only the name; external_customer_id may be null.
    made = call(sim, http, "POST", "/customers", {"customer": {"name": "Acme", "external_customer_id": None}})
    assert made.status_code == 201
    assert answer_errors(PLATFORM, made) == []
    customer = made.json()["data"]
    assert (customer["name"], customer["external_customer_id"]) == ("Acme", None)
    path = f"/customers/{customer['id']}"
    assert call(sim, http, "GET", path).json()["data"] == customer
    changed = call(sim, http, "PATCH", path, {"customer": {"external_customer_id": "C-1"}})
    assert answer_errors(PLATFORM, changed) == []
    assert changed.json()["data"]["external_customer_id"] == "C-1"
    # v1 shows the same customer; a v1 customer shows here.
    v1 = http.get(f"{sim.base_url}{path}", timeout=TIMEOUT).json()["data"]
    assert v1 == changed.json()["data"]
    seeded = sim.platform.add_customer("Initech", "C-2")
    assert call(sim, http, "GET", f"/customers/{seeded['id']}").json()["data"] == seeded
    deleted = call(sim, http, "DELETE", path)
    assert (deleted.status_code, deleted.content) == (204, b"")
    missing = call(sim, http, "GET", path)
    assert missing.status_code == 404
    assert answer_errors(PLATFORM, missing) == []
    assert sim.platform.customers() == [seeded]


def test_v1_leaves_out_an_external_id_its_file_types_a_string(sim: KapsoSimulator, http: requests.Session) -> None:
    made = call(sim, http, "POST", "/customers", {"customer": {"name": "Acme"}}).json()["data"]
    assert made["external_customer_id"] is None
    v1 = http.get(f"{sim.base_url}/customers/{made['id']}", timeout=TIMEOUT).json()["data"]
    assert "external_customer_id" not in v1


def test_customer_list_is_most_recent_first_with_filters(sim: KapsoSimulator, http: requests.Session) -> None:
    for index, name in enumerate(("Acme", "Globex", "Initech")):
        sim.platform.add_customer(name, f"C-{index}")
    listed = call(sim, http, "GET", "/customers", per_page="2")
    assert answer_errors(PLATFORM, listed) == []
    assert [item["name"] for item in listed.json()["data"]] == ["Initech", "Globex"]
    assert listed.json()["meta"] == {"page": 1, "per_page": 2, "total_pages": 2, "total_count": 3}
    by_name = call(sim, http, "GET", "/customers", name_contains="GLO").json()["data"]
    assert [item["name"] for item in by_name] == ["Globex"]
    by_id = call(sim, http, "GET", "/customers", external_customer_id="C-0").json()["data"]
    assert [item["name"] for item in by_id] == ["Acme"]
    future = call(sim, http, "GET", "/customers", created_after="2999-01-01T00:00:00Z").json()["data"]
    assert future == []
    assert len(call(sim, http, "GET", "/customers", created_before="2999-01-01T00:00:00Z").json()["data"]) == 3


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({}, "customer: is required"),
        ({"customer": {"external_customer_id": "C-1"}}, "customer.name: is required"),
        ({"customer": {"name": None}}, "customer.name: must be a string"),
        ({"customer": {"name": " "}}, "customer.name: can't be blank"),
        ({"customer": {"name": "Acme", "external_customer_id": 1}}, "customer.external_customer_id: must be a string"),
    ],
)
def test_customer_create_refusals(sim: KapsoSimulator, http: requests.Session, body: Any, text: str) -> None:
    refused = call(sim, http, "POST", "/customers", body)
    assert refused.status_code == 422
    assert text in refused.text
    assert answer_errors(PLATFORM, refused) == []
    assert sim.platform.customers() == []


def test_marketing_preferences(sim: KapsoSimulator, http: requests.Session) -> None:
    contact = call(sim, http, "POST", "/whatsapp/contacts", {"contact": {"wa_id": PHONE}}).json()["data"]
    path = f"/whatsapp/contacts/{contact['id']}/marketing_preferences"
    assert call(sim, http, "GET", path).json() == {"data": []}
    sim.stop_marketing(PHONE)
    listed = call(sim, http, "GET", path)
    assert answer_errors(PLATFORM, listed) == []
    (preference,) = listed.json()["data"]
    assert (preference["status"], preference["marketing_allowed"]) == ("stopped", False)
    one = call(sim, http, "GET", f"{path}/{sim.default_phone_number_id}")
    assert answer_errors(PLATFORM, one) == []
    sim.resume_marketing(PHONE)
    assert call(sim, http, "GET", f"{path}/{sim.default_phone_number_id}").json()["data"]["status"] == "resumed"
    assert call(sim, http, "GET", f"{path}/999").status_code == 404


# -- broadcasts -----------------------------------------------------------------------------------------------


@pytest.fixture
def broadcast(sim: KapsoSimulator, http: requests.Session) -> str:
    template = sim.create_template("spring_offer", category="MARKETING", content="Hi {{1}}")
    body = {
        "whatsapp_broadcast": {
            "name": "Spring",
            "phone_number_id": sim.default_phone_number_id,
            "whatsapp_template_id": template["id"],
        }
    }
    made = call(sim, http, "POST", "/whatsapp/broadcasts", body)
    assert made.status_code == 201, made.text
    assert answer_errors(PLATFORM, made) == []
    return str(made.json()["data"]["id"])


def person(number: str, *values: str) -> dict[str, Any]:
    return {
        "phone_number": number,
        "components": [{"type": "body", "parameters": [{"type": "text", "text": v} for v in values]}],
    }


def add(sim: KapsoSimulator, http: requests.Session, broadcast_id: str, people: list[Any]) -> Any:
    body = {"whatsapp_broadcast": {"recipients": people}}
    return call(sim, http, "POST", f"/whatsapp/broadcasts/{broadcast_id}/recipients", body)


def test_recipients_duplicates_refusals_and_clear(sim: KapsoSimulator, http: requests.Session, broadcast: str) -> None:
    added = add(
        sim,
        http,
        broadcast,
        [person(PHONE, "Ann"), person("+1 (555) 123-4567", "Ann"), person("123", "x"), person("+15557654321")],
    )
    assert answer_errors(PLATFORM, added) == []
    data = added.json()["data"]
    assert (data["added"], data["duplicates"]) == (1, 1)
    assert data["errors"] == [
        "Recipient 3: invalid phone number format",
        "Recipient 4: template parameters invalid - requires 1 parameters but got 0",
    ]
    listed = call(sim, http, "GET", f"/whatsapp/broadcasts/{broadcast}/recipients")
    assert answer_errors(PLATFORM, listed) == []
    assert listed.json()["data"][0]["template_components"] == person(PHONE, "Ann")["components"]
    too_many = add(sim, http, broadcast, [person(f"+1555000{i:04d}", "x") for i in range(1001)])
    assert too_many.status_code == 422
    cleared = call(sim, http, "DELETE", f"/whatsapp/broadcasts/{broadcast}/recipients")
    assert cleared.json()["data"]["total_recipients"] == 0


def test_send_progresses_on_reads_and_stops(sim: KapsoSimulator, http: requests.Session, broadcast: str) -> None:
    add(sim, http, broadcast, [person(f"+1555000000{i}", "x") for i in range(4)])
    sim.broadcasts.recipients_per_read = 1
    sim.broadcasts.set_outcome("+15550000001", "failed", error_code="131026")
    sent = call(sim, http, "POST", f"/whatsapp/broadcasts/{broadcast}/send")
    assert sent.status_code == 202
    assert answer_errors(PLATFORM, sent) == []
    assert sent.json()["data"]["status"] == "sending"
    first = call(sim, http, "GET", f"/whatsapp/broadcasts/{broadcast}").json()["data"]
    second = call(sim, http, "GET", f"/whatsapp/broadcasts/{broadcast}").json()["data"]
    assert (first["sent_count"], second["sent_count"], second["failed_count"]) == (1, 1, 1)
    assert second["pending_count"] == 2
    stopped = call(
        sim, http, "PATCH", f"/whatsapp/broadcasts/{broadcast}", {"whatsapp_broadcast": {"status": "stopped"}}
    )
    assert answer_errors(PLATFORM, stopped) == []
    assert stopped.json()["data"]["status"] == "stopped"
    # v1 lists the same broadcast.
    (v1,) = http.get(f"{sim.base_url}/whatsapp_broadcasts", timeout=TIMEOUT).json()["data"]
    assert (v1["id"], v1["status"]) == (broadcast, "stopped")
    again = call(sim, http, "POST", f"/whatsapp/broadcasts/{broadcast}/send")
    assert (again.status_code, again.json()) == (422, {"error": "Broadcast is stopped"})


def test_schedule_on_kapsos_clock_and_cancel(sim: KapsoSimulator, http: requests.Session, broadcast: str) -> None:
    add(sim, http, broadcast, [person(PHONE, "Ann")])
    path = f"/whatsapp/broadcasts/{broadcast}"
    assert call(sim, http, "POST", path + "/schedule", {"scheduled_at": "2000-01-01T00:00:00Z"}).status_code == 422
    scheduled = call(sim, http, "POST", path + "/schedule", {"scheduled_at": "2999-01-01T00:00:00+00:00"})
    assert (scheduled.status_code, scheduled.json()["data"]["status"]) == (202, "scheduled")
    cancelled = call(sim, http, "POST", path + "/cancel")
    assert (cancelled.json()["data"]["status"], cancelled.json()["data"]["scheduled_at"]) == ("draft", None)
    assert call(sim, http, "POST", path + "/cancel").status_code == 422
    soon = sim.clock.stamp_ago(-3600)
    call(sim, http, "POST", path + "/schedule", {"scheduled_at": soon})
    assert call(sim, http, "GET", path).json()["data"]["status"] == "scheduled"
    # Two hours later on Kapso's clock, the next read starts it (and settles everyone at once).
    sim.clock_offset = 7200
    assert call(sim, http, "GET", path).json()["data"]["status"] == "completed"


def test_broadcast_refusals(sim: KapsoSimulator, http: requests.Session) -> None:
    draft = sim.create_template("draft_one", status="draft")
    body = {
        "whatsapp_broadcast": {
            "name": "x",
            "phone_number_id": sim.default_phone_number_id,
            "whatsapp_template_id": draft["id"],
        }
    }
    refused = call(sim, http, "POST", "/whatsapp/broadcasts", body)
    assert (refused.status_code, refused.json()["error"]) == (
        422,
        "Template is draft; only approved templates can be broadcast",
    )
    body["whatsapp_broadcast"]["phone_number_id"] = "999"
    assert call(sim, http, "POST", "/whatsapp/broadcasts", body).status_code == 404
    assert call(sim, http, "GET", "/whatsapp/broadcasts", status="lost").status_code == 400


# -- webhooks -------------------------------------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint on 127.0.0.1 that keeps what it receives."""

    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/kapso"
    server.shutdown()
    server.server_close()


def test_webhook_crud_and_a_signed_test_delivery(sim: KapsoSimulator, http: requests.Session, receiver: str) -> None:
    scope = f"/whatsapp/phone_numbers/{sim.default_phone_number_id}/webhooks"
    hook = {"url": receiver, "secret_key": "s3cret", "events": ["whatsapp.message.received", "whatsapp.message.sent"]}
    made = call(sim, http, "POST", scope, {"whatsapp_webhook": hook})
    assert made.status_code == 201
    assert answer_errors(PLATFORM, made) == []
    webhook = made.json()["data"]
    assert (webhook["phone_number_id"], webhook["payload_version"]) == (sim.default_phone_number_id, "v2")
    tested = call(
        sim, http, "POST", f"/whatsapp/webhooks/{webhook['id']}/test", {"event_type": "whatsapp.message.sent"}
    )
    assert tested.json() == {"data": {"success": True}}
    ((headers, body),) = Receiver.received
    assert headers["X-Webhook-Event"] == "whatsapp.message.sent"
    assert headers["X-Webhook-Signature"] == hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["test"] is True
    deliveries = call(sim, http, "GET", "/webhook_deliveries", webhook_id=webhook["id"])
    assert answer_errors(PLATFORM, deliveries) == []
    ((delivery),) = deliveries.json()["data"]
    assert (delivery["status"], delivery["response_status"]) == ("delivered", 200)
    wrong_event = call(
        sim, http, "POST", f"/whatsapp/webhooks/{webhook['id']}/test", {"event_type": "whatsapp.message.read"}
    )
    assert wrong_event.status_code == 422
    updated = call(sim, http, "PATCH", f"{scope}/{webhook['id']}", {"whatsapp_webhook": {"active": False}})
    assert updated.json()["data"]["active"] is False
    assert call(sim, http, "DELETE", f"{scope}/{webhook['id']}").status_code == 204
    assert call(sim, http, "GET", f"{scope}/{webhook['id']}").status_code == 404


def test_a_delivery_off_the_machine_is_never_sent(sim: KapsoSimulator, http: requests.Session) -> None:
    hook = {"url": "https://hooks.example/kapso", "events": ["whatsapp.phone_number.created"], "secret_key": "k"}
    webhook = call(sim, http, "POST", "/whatsapp/webhooks", {"whatsapp_webhook": hook}).json()["data"]
    call(sim, http, "POST", f"/whatsapp/webhooks/{webhook['id']}/test", {})
    (delivery,) = sim.webhooks.deliveries()
    assert (delivery["status"], delivery["response_status"]) == ("failed", None)
    assert "loopback" in delivery["error"]
    failed = call(sim, http, "GET", "/webhook_deliveries", errors_only="true").json()["data"]
    assert len(failed) == 1


@pytest.mark.parametrize(
    ("scope", "hook", "field"),
    [
        ("number", {"url": "ftp://x", "secret_key": "k", "events": ["whatsapp.message.sent"]}, "url"),
        ("number", {"url": "https://h.example", "events": ["whatsapp.message.sent"]}, "secret_key"),
        ("number", {"url": "https://h.example", "secret_key": "k", "events": []}, "events"),
        ("number", {"url": "https://h.example", "secret_key": "k", "events": ["workflow.execution.failed"]}, "events"),
        ("project", {"url": "https://h.example", "kind": "meta"}, "phone_number_id"),
        ("project", {"url": "https://h.example", "kind": "raw", "events": ["project.event"]}, "kind"),
    ],
)
def test_webhook_refusals(
    sim: KapsoSimulator, http: requests.Session, scope: str, hook: dict[str, Any], field: str
) -> None:
    path = (
        "/whatsapp/webhooks"
        if scope == "project"
        else f"/whatsapp/phone_numbers/{sim.default_phone_number_id}/webhooks"
    )
    refused = call(sim, http, "POST", path, {"whatsapp_webhook": hook})
    assert refused.status_code == 422
    assert field in refused.json()["error"]


def test_a_meta_webhook_takes_no_events(sim: KapsoSimulator, http: requests.Session) -> None:
    hook = {"url": "https://h.example", "kind": "meta", "phone_number_id": sim.default_phone_number_id, "events": ["x"]}
    made = call(sim, http, "POST", "/whatsapp/webhooks", {"whatsapp_webhook": hook}).json()["data"]
    assert (made["events"], made["payload_version"]) == ([], None)


# -- phone numbers, health, media -----------------------------------------------------------------------------


def test_phone_numbers(sim: KapsoSimulator, http: requests.Session) -> None:
    other = sim.add_whatsapp_config(name="Support line", phone_number="+15550009999", business_account_id="777")
    listed = call(sim, http, "GET", "/whatsapp/phone_numbers")
    assert answer_errors(PLATFORM, listed) == []
    assert [item["phone_number_id"] for item in listed.json()["data"]] == [
        sim.default_phone_number_id,
        other["phone_number_id"],
    ]
    assert [
        item["id"]
        for item in call(sim, http, "GET", "/whatsapp/phone_numbers", business_account_id="777").json()["data"]
    ] == [other["phone_number_id"]]
    one = call(sim, http, "GET", f"/whatsapp/phone_numbers/{other['phone_number_id']}")
    assert answer_errors(PLATFORM, one) == []
    assert (one.json()["data"]["internal_id"], one.json()["data"]["name"]) == (other["id"], "Support line")


@pytest.mark.parametrize("status", ["healthy", "degraded", "unhealthy", "error"])
def test_health_follows_the_setting(sim: KapsoSimulator, http: requests.Session, status: str) -> None:
    sim.platform.set_config_health(sim.default_whatsapp_config_id, status)
    answer = call(sim, http, "GET", f"/whatsapp/phone_numbers/{sim.default_phone_number_id}/health")
    assert answer_errors(PLATFORM, answer) == []
    assert answer.json()["status"] == status
    assert answer.headers["X-Health-RateLimit-Second-Limit"] == "5"
    if status != "error":
        connection = answer.json()["checks"]["phone_number_connection"]
        assert connection["passed"] is (status != "unhealthy")


def test_health_has_its_own_rate_limit(sim: KapsoSimulator, http: requests.Session) -> None:
    sim.rate_limit = 100
    # The minute's window, so that no second boundary between the calls changes what they see.
    sim.health_rate_limit = (5, 3)
    answers = [
        call(sim, http, "GET", f"/whatsapp/phone_numbers/{sim.default_phone_number_id}/health") for _ in range(4)
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert [answer.headers["X-Health-RateLimit-Minute-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answer_errors(PLATFORM, answers[-1]) == []
    # The API's own limit counts them too.
    assert answers[0].headers["X-RateLimit-Limit"] == "100"
    with pytest.raises(ValueError, match="health_rate_limit"):
        sim.health_rate_limit = (0, 60)


def test_media_ingest(sim: KapsoSimulator, http: requests.Session) -> None:
    source = "https://files.example/report.pdf"
    sim.media.add_remote(source, size_bytes=2048)
    body = {"media_ingest": {"phone_number_id": sim.default_phone_number_id, "source": source}}
    ingested = call(sim, http, "POST", "/whatsapp/media", body)
    assert answer_errors(PLATFORM, ingested) == []
    data = ingested.json()["data"]
    assert (data["target"]["kind"], data["resource"]["mime_type"], data["resource"]["size_bytes"]) == (
        "meta_media",
        "application/pdf",
        2048,
    )
    unknown = call(
        sim,
        http,
        "POST",
        "/whatsapp/media",
        {"media_ingest": {**body["media_ingest"], "source": "https://x.example/a.pdf"}},
    )
    assert unknown.status_code == 422
    sim.media.add_remote("https://files.example/huge.png", size_bytes=6 * 1024 * 1024)
    too_large = call(
        sim,
        http,
        "POST",
        "/whatsapp/media",
        {"media_ingest": {**body["media_ingest"], "source": "https://files.example/huge.png"}},
    )
    assert too_large.status_code == 413
    assert answer_errors(PLATFORM, too_large) == []


# -- Kapso agent runs -----------------------------------------------------------------------------------------


def start(sim: KapsoSimulator, http: requests.Session, **body: Any) -> Any:
    return call(sim, http, "POST", "/kapso-agent/runs", {"mode": "general", "input": {"prompt": "Sum up"}, **body})


def test_a_run_progresses_one_step_per_read(sim: KapsoSimulator, http: requests.Session) -> None:
    started = start(sim, http)
    assert started.status_code == 202
    assert answer_errors(AGENT, started) == []
    run = started.json()["data"]
    assert run["status"] == "queued"
    assert run["status_url"] == f"{sim.platform_url}/kapso-agent/runs/{run['run_id']}"
    seen = [http.get(run["status_url"], timeout=TIMEOUT).json()["data"]["status"] for _ in range(3)]
    assert seen == ["running", "completed", "completed"]
    done = http.get(run["status_url"], timeout=TIMEOUT)
    assert answer_errors(AGENT, done) == []
    assert done.json()["data"]["result"]["type"] == "message"


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_an_approval(sim: KapsoSimulator, http: requests.Session, verdict: str) -> None:
    sim.agent_runs.steps = ["running", "waiting_for_approval", "completed"]
    run = start(sim, http).json()["data"]
    url = f"/kapso-agent/runs/{run['run_id']}"
    call(sim, http, "GET", url)
    waiting = call(sim, http, "GET", url).json()["data"]
    assert waiting["status"] == "waiting_for_approval"
    approval = waiting["pending_approval"]["id"]
    # Still waiting, however often it is read.
    assert call(sim, http, "GET", url).json()["data"]["status"] == "waiting_for_approval"
    assert call(sim, http, "POST", f"{url}/approvals/not-it/{verdict}").status_code == 404
    decided = call(sim, http, "POST", f"{url}/approvals/{approval}/{verdict}")
    assert answer_errors(AGENT, decided) == []
    assert (decided.json()["data"]["status"], decided.json()["data"]["pending_approval"]) == ("running", None)
    assert call(sim, http, "POST", f"{url}/approvals/{approval}/{verdict}").status_code == 404
    assert call(sim, http, "GET", url).json()["data"]["status"] == "completed"


def test_pause_resume_cancel_and_conflicts(sim: KapsoSimulator, http: requests.Session) -> None:
    run = start(sim, http).json()["data"]
    url = f"/kapso-agent/runs/{run['run_id']}"
    assert call(sim, http, "POST", f"{url}/resume").status_code == 409
    paused = call(sim, http, "POST", f"{url}/pause")
    assert paused.json()["data"]["status"] == "paused"
    # A paused run does not move.
    assert call(sim, http, "GET", url).json()["data"]["status"] == "paused"
    assert call(sim, http, "POST", f"{url}/pause").status_code == 409
    assert call(sim, http, "POST", f"{url}/resume").json()["data"]["status"] == "running"
    cancelled = call(sim, http, "POST", f"{url}/cancel")
    assert (cancelled.json()["data"]["status"], cancelled.json()["data"]["finished_at"] is not None) == (
        "cancelled",
        True,
    )
    conflict = call(sim, http, "POST", f"{url}/cancel")
    assert conflict.status_code == 409
    assert answer_errors(AGENT, conflict) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"mode": "nope", "input": {"prompt": "x"}}, 404),
        ({"mode": "general", "input": {}}, 422),
        ({"mode": "findings-investigator", "input": {"prompt": "x"}}, 422),
        ({"input": {"prompt": "x"}}, 422),
    ],
)
def test_run_refusals(sim: KapsoSimulator, http: requests.Session, body: dict[str, Any], status: int) -> None:
    answer = call(sim, http, "POST", "/kapso-agent/runs", body)
    assert answer.status_code == status
    assert call(sim, http, "GET", "/kapso-agent/runs/4a5b6c7d-8e9f-0a1b-2c3d-4e5f6a7b8c9d").status_code == 404
