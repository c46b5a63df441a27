"""The simulator's template administration and contact endpoints: behaviour, refusals and answer shapes.

Answers are judged by ``openapi-whatsapp.yaml``, the only file defining template administration and the
newer one where ``openapi.yaml`` disagrees (template ``components`` is an array there, an object in
``openapi.yaml``). Requests meant to be valid are checked against every file defining them; the ones meant
to be refused are shown to be invalid against the spec too, where the spec can say so.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from tests._openapi import assert_valid_request, request_problems
from tests.testing._support import assert_documented

if TYPE_CHECKING:
    import requests

    from kapso_provider.testing import KapsoSimulator

WHATSAPP = "openapi-whatsapp.yaml"
BODY = [{"type": "BODY", "text": "Hello {{1}}"}]
SYNC_PATHS = ("/whatsapp_templates/sync", "/whatsapp_templates/sync_status")


class Client:
    """Raw HTTP against the simulator, recording what each call was for."""

    def __init__(self, sim: KapsoSimulator, session: requests.Session) -> None:
        self.sim = sim
        self.session = session

    def call(self, method: str, path: str, *, json: Any = None, params: Any = None) -> requests.Response:
        return self.session.request(method, self.sim.base_url + path, json=json, params=params, timeout=10)

    def ok(self, method: str, path: str, template: str, status: int, **kwargs: Any) -> Any:
        """A call meant to succeed: its request is valid, its answer has ``status`` and the file's shape."""
        response = self.call(method, path, **kwargs)
        assert response.status_code == status, response.text
        request = self.sim.requests[-1]
        query: dict[str, Any] = dict(request.query)
        if "sync_request_ids" in query:
            # An array in form style without explode: one comma-separated value, decoded for the schema.
            query["sync_request_ids"] = query["sync_request_ids"].split(",")
        files = (WHATSAPP,) if template in SYNC_PATHS or "q[" in str(query) else None
        assert_valid_request(request.method, request.path, query, request.json, **({"files": files} if files else {}))
        if status == 204:
            assert response.content == b""
            return None
        assert_documented(WHATSAPP, response, template=template)
        return response.json()


@pytest.fixture
def client(sim: KapsoSimulator, http: requests.Session) -> Client:
    return Client(sim, http)


def _create(client: Client, **template: Any) -> dict[str, Any]:
    body = {"template": {"name": "order_update", "language_code": "en_US", "category": "UTILITY", "components": BODY}}
    body["template"].update(template)
    data: dict[str, Any] = client.ok("POST", "/whatsapp_templates", "/whatsapp_templates", 201, json=body)["data"]
    return data


class TestTemplateAdmin:
    def test_create_update_submit_edit(self, client: Client, sim: KapsoSimulator) -> None:
        created = _create(client)
        assert (created["status"], created["components"], created["parameter_count"]) == ("draft", BODY, 1)
        item = "/whatsapp_templates/{template_id}"
        path = f"/whatsapp_templates/{created['id']}"
        updated = client.ok(
            "PATCH", path, item, 200, json={"template": {"category": "MARKETING", "name": "order_news"}}
        )["data"]
        assert (updated["category"], updated["name"]) == ("MARKETING", "order_news")
        submitted = client.ok("POST", f"{path}/submit", item + "/submit", 200)
        assert submitted["data"]["status"] == "submitted"
        sim.template_admin.review(created["id"], "rejected")
        edited = client.ok(
            "PATCH", f"{path}/meta", item + "/meta", 200, json={"template": {"category": "UTILITY", "time_to_live": 60}}
        )["data"]
        assert (edited["category"], edited["metadata"]["time_to_live"]) == ("UTILITY", 60)
        # The core lists and reads what this group created.
        assert client.ok("GET", path, item, 200)["data"]["status"] == "rejected"

    @pytest.mark.parametrize(
        ("template", "expected"),
        [
            ({"name": None}, "template.name: is required"),
            ({"name": "Order Update"}, "template.name: may hold only lowercase letters"),
            ({"category": "PROMO"}, "template.category: must be one of"),
            ({"category": None}, "template.category: is required"),
            ({"components": {"type": "BODY", "text": "x"}}, "template.components: must be an array"),
            ({"components": [{"type": "FOOTER", "text": "x"}]}, "must have exactly one BODY component"),
            ({"components": [{"type": "BODY"}]}, r"template.components\[0\].text: is required"),
            ({"components": [{"type": "BODY", "text": "Hi {{name}}"}]}, "POSITIONAL templates use"),
            ({"parameter_format": "NAMED"}, "NAMED templates use"),
        ],
    )
    def test_create_refusals(self, client: Client, template: dict[str, Any], expected: str) -> None:
        body = {
            "template": {"name": "order_update", "language_code": "en_US", "category": "UTILITY", "components": BODY}
        }
        body["template"].update(template)
        body["template"] = {key: value for key, value in body["template"].items() if value is not None}
        response = client.call("POST", "/whatsapp_templates", json=body)
        assert response.status_code == 422
        assert expected.replace("\\", "") in response.json()["error"], response.text

    def test_create_refuses_a_taken_name_and_an_unknown_config(self, client: Client) -> None:
        _create(client)
        taken = client.call("POST", "/whatsapp_templates", json={"template": _create_body()})
        assert (taken.status_code, taken.json()) == (
            422,
            {"error": "Invalid template", "errors": ["Name has already been taken"]},
        )
        unknown = client.call(
            "POST",
            "/whatsapp_templates",
            json={"template": _create_body("other"), "whatsapp_config_id": str(uuid.uuid4())},
        )
        assert unknown.status_code == 422

    def test_state_rules(self, client: Client, sim: KapsoSimulator) -> None:
        approved = sim.create_template("approved_one", content="Hi {{1}}")
        path = f"/whatsapp_templates/{approved['id']}"
        assert client.call("PATCH", path, json={"template": {"category": "MARKETING"}}).json()["error"] == (
            "Only draft templates can be updated"
        )
        submit = client.call("POST", f"{path}/submit")
        assert (submit.status_code, submit.json()) == (
            422,
            {
                "status": "error",
                "message": "Failed to submit template",
                "error": "Only draft templates can be submitted",
            },
        )
        category = client.call("PATCH", f"{path}/meta", json={"template": {"category": "MARKETING"}})
        assert (category.status_code, category.json()["error"]) == (
            422,
            "Cannot edit the category of an approved template",
        )
        draft = _create(client)
        on_draft = client.call(
            "PATCH", f"/whatsapp_templates/{draft['id']}/meta", json={"template": {"time_to_live": 5}}
        )
        assert on_draft.status_code == 422
        ttl = client.call("PATCH", f"{path}/meta", json={"template": {"time_to_live": "soon"}})
        assert (ttl.status_code, ttl.json()["error"]) == (422, "template.time_to_live: must be an integer")

    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [("PATCH", "", {"template": {"name": "x"}}), ("POST", "/submit", None), ("PATCH", "/meta", {"template": {}})],
    )
    def test_unknown_template_is_not_found(self, client: Client, method: str, suffix: str, body: Any) -> None:
        response = client.call(method, f"/whatsapp_templates/{uuid.uuid4()}{suffix}", json=body)
        assert (response.status_code, response.json()["message"]) == (404, "Template not found")


def _create_body(name: str = "order_update") -> dict[str, Any]:
    return {"name": name, "language_code": "en_US", "category": "UTILITY", "components": BODY}


class TestSync:
    def _status(self, client: Client, **params: Any) -> dict[str, Any]:
        answer: dict[str, Any] = client.ok(
            "GET", "/whatsapp_templates/sync_status", "/whatsapp_templates/sync_status", 200, params=params
        )
        return answer

    def test_a_sync_is_a_job_that_finishes_when_polled(self, client: Client, sim: KapsoSimulator) -> None:
        sim.template_admin.add_meta_template("spring_offer")
        sim.create_template("spring_offer", content="old text")
        sim.template_admin.add_meta_template("autumn_offer", category="MARKETING")
        answer = client.ok("POST", "/whatsapp_templates/sync", "/whatsapp_templates/sync", 202)
        (run,) = answer["sync_requests"]
        assert run["status"] == "queued"
        assert run["affected_whatsapp_config_ids"] == [sim.default_whatsapp_config_id]
        first = self._status(client, sync_request_ids=run["id"])
        assert first["sync_requests"][0]["status"] == "running"
        assert first["summary"]["running"] == 1
        second = self._status(client, sync_request_ids=run["id"])["sync_requests"][0]
        assert (second["status"], second["templates_created"], second["templates_updated"]) == ("succeeded", 1, 1)
        templates = {
            template["name"]: template for template in client.call("GET", "/whatsapp_templates").json()["data"]
        }
        assert templates["spring_offer"]["content"] == "Hello from Meta!"
        assert templates["autumn_offer"]["category"] == "MARKETING"

    def test_one_active_sync_per_business_account(self, client: Client, sim: KapsoSimulator) -> None:
        other = sim.add_whatsapp_config(business_account_id="300000000000003", customer_id=str(uuid.uuid4()))
        both = client.ok("POST", "/whatsapp_templates/sync", "/whatsapp_templates/sync", 202)
        assert both["summary"] == {"total_requests": 2, "jobs_enqueued": 2, "already_in_progress": 0}
        again = client.ok(
            "POST",
            "/whatsapp_templates/sync",
            "/whatsapp_templates/sync",
            202,
            json={"customer_id": other["customer_id"]},
        )
        assert again["summary"] == {"total_requests": 1, "jobs_enqueued": 0, "already_in_progress": 1}
        assert again["sync_requests"][0]["business_account_id"] == "300000000000003"
        only_other = self._status(client, customer_id=other["customer_id"])
        assert [run["business_account_id"] for run in only_other["sync_requests"]] == ["300000000000003"]

    def test_never_finishing_and_failing_syncs(self, client: Client, sim: KapsoSimulator) -> None:
        sim.template_admin.sync_steps = None
        (run,) = client.ok("POST", "/whatsapp_templates/sync", "/whatsapp_templates/sync", 202)["sync_requests"]
        for _ in range(3):
            assert self._status(client)["sync_requests"][0]["status"] == "running"
        sim.template_admin.reset()
        sim.template_admin.sync_steps = 1
        sim.template_admin.fail_next_sync("WhatsappApiError", "Invalid access token")
        (failed,) = client.ok("POST", "/whatsapp_templates/sync", "/whatsapp_templates/sync", 202)["sync_requests"]
        assert failed["id"] != run["id"]
        status = self._status(client, sync_request_ids=failed["id"])
        assert status["sync_requests"][0]["error_message"] == "Invalid access token"
        assert status["summary"]["failed"] == 1
        assert status["summary"]["last_finished_at"] == status["sync_requests"][0]["finished_at"]

    @pytest.mark.parametrize(
        ("method", "path", "kwargs", "message"),
        [
            ("POST", "/whatsapp_templates/sync", {"json": {"whatsapp_config_id": str(uuid.uuid4())}}, "Production"),
            ("POST", "/whatsapp_templates/sync", {"json": {"customer_id": str(uuid.uuid4())}}, "Customer not found"),
            ("GET", "/whatsapp_templates/sync_status", {"params": {"customer_id": str(uuid.uuid4())}}, "Customer"),
        ],
    )
    def test_unknown_config_or_customer(
        self, client: Client, method: str, path: str, kwargs: dict[str, Any], message: str
    ) -> None:
        response = client.call(method, path, **kwargs)
        assert response.status_code == 404
        assert response.json()["message"].startswith(message)

    def test_bad_sync_body(self, client: Client) -> None:
        response = client.call("POST", "/whatsapp_templates/sync", json={"whatsapp_config_id": 5})
        assert (response.status_code, response.json()["error"]) == (422, "whatsapp_config_id: must be a string")
        assert request_problems("POST", "/whatsapp_templates/sync", {}, {"whatsapp_config_id": 5}, WHATSAPP)


class TestContacts:
    def test_contact_and_note_lifecycle(self, client: Client) -> None:
        contact = client.ok(
            "POST",
            "/whatsapp_contacts",
            "/whatsapp_contacts",
            201,
            json={"contact": {"wa_id": "15551234567", "profile_name": "Ada", "metadata": {"tier": "gold"}}},
        )["data"]
        item = "/whatsapp_contacts/{identifier}"
        for identifier in (contact["id"], "15551234567"):
            assert client.ok("GET", f"/whatsapp_contacts/{identifier}", item, 200)["data"] == contact
        updated = client.ok(
            "PATCH", "/whatsapp_contacts/15551234567", item, 200, json={"contact": {"profile_name": "A"}}
        )
        assert updated["data"]["metadata"] == {"tier": "gold"}
        listed = client.ok("GET", "/whatsapp_contacts", "/whatsapp_contacts", 200, params={"q[profile_name_cont]": "a"})
        assert [record["id"] for record in listed["data"]] == [contact["id"]]

        notes = item + "/notes"
        note = client.ok(
            "POST", f"/whatsapp_contacts/{contact['id']}/notes", notes, 201, json={"note": {"content": "Hi"}}
        )
        assert (note["data"]["content"], note["data"]["name"]) == ("Hi", None)
        note_path = f"/whatsapp_contacts/15551234567/notes/{note['data']['id']}"
        client.ok("PATCH", note_path, notes + "/{note_id}", 200, json={"note": {"name": "Greeting"}})
        assert client.ok("GET", note_path, notes + "/{note_id}", 200)["data"]["name"] == "Greeting"
        assert len(client.ok("GET", "/whatsapp_contacts/15551234567/notes", notes, 200)["data"]) == 1
        client.ok("DELETE", note_path, notes + "/{note_id}", 204)
        assert client.call("GET", note_path).status_code == 404

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({}, "contact: is required"),
            ({"contact": {}}, "contact.wa_id: is required"),
            ({"contact": {"wa_id": 15551234567}}, "contact.wa_id: must be a string"),
            ({"contact": {"wa_id": "123"}}, "contact.wa_id: must be a phone number of 7 to 15 digits"),
            ({"contact": {"wa_id": "15551234567", "metadata": []}}, "contact.metadata: must be an object"),
        ],
    )
    def test_contact_refusals(self, client: Client, body: dict[str, Any], error: str) -> None:
        response = client.call("POST", "/whatsapp_contacts", json=body)
        assert (response.status_code, response.json()["error"]) == (422, error)

    def test_duplicate_contact(self, client: Client, sim: KapsoSimulator) -> None:
        sim.contacts.add_contact("+15551234567")
        response = client.call("POST", "/whatsapp_contacts", json={"contact": {"wa_id": "+1 555 123 4567"}})
        assert (response.status_code, response.json()) == (422, {"errors": ["Wa_id has already been taken"]})

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({}, "note: is required"),
            ({"note": {"name": "x"}}, "note.content: is required"),
            ({"note": {"content": "  "}}, "note.content: can't be blank"),
            ({"note": {"content": "x", "metadata": "m"}}, "note.metadata: must be an object"),
        ],
    )
    def test_note_refusals(self, client: Client, sim: KapsoSimulator, body: dict[str, Any], error: str) -> None:
        sim.contacts.add_contact("+15551234567")
        response = client.call("POST", "/whatsapp_contacts/15551234567/notes", json=body)
        assert (response.status_code, response.json()["error"]) == (422, error)

    @pytest.mark.parametrize(
        ("method", "path", "message"),
        [
            ("GET", "/whatsapp_contacts/15559999999", "Contact not found"),
            ("PATCH", "/whatsapp_contacts/15559999999", "Contact not found"),
            ("GET", "/whatsapp_contacts/15559999999/notes", "Contact not found"),
            ("GET", "/whatsapp_contacts/15551234567/notes/nope", "Note not found"),
            ("DELETE", "/whatsapp_contacts/15551234567/notes/nope", "Note not found"),
        ],
    )
    def test_not_found(self, client: Client, sim: KapsoSimulator, method: str, path: str, message: str) -> None:
        sim.contacts.add_contact("+15551234567")
        response = client.call(method, path, json={"contact": {}} if method == "PATCH" else None)
        assert (response.status_code, response.json()["message"]) == (404, message)

    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"q[customer_id_null]": "maybe"}, "q[customer_id_null]: must be true or false"),
            ({"q[created_at_gteq]": "yesterday"}, "q[created_at_gteq]: must be an ISO 8601 date-time"),
        ],
    )
    def test_list_refusals(self, client: Client, params: dict[str, str], error: str) -> None:
        response = client.call("GET", "/whatsapp_contacts", params=params)
        assert (response.status_code, response.json()["error"]) == (422, error)

    def test_conversations_get_contacts_and_reset_forgets_them(self, client: Client, sim: KapsoSimulator) -> None:
        sim.create_conversation(phone_number="+15550001111", contact_name="Grace")
        listed = client.ok("GET", "/whatsapp_contacts", "/whatsapp_contacts", 200)["data"]
        assert [(record["wa_id"], record["profile_name"]) for record in listed] == [("15550001111", "Grace")]
        sim.contacts.add_contact("+15550002222")
        assert len(sim.contacts.contacts()) == 2
        sim.reset()
        assert sim.contacts.contacts() == []
