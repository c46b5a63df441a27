"""The simulator's assignment and platform groups over raw HTTP: answers, their shapes, 404s and 422s.

The hook never sends most of the bad bodies below (it checks its input first), so they go out with plain
``requests``. Successful answers are checked against the response schemas of the files.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
import requests

from tests.testing._support import assert_documented

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer


class Client:
    """Plain HTTP calls to the simulator, with its key."""

    def __init__(self, server: KapsoServer) -> None:
        self.base_url = server.base_url
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = server.api_key

    def __call__(self, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
        return self.session.request(method, self.base_url + path, json=body, params=params or None, timeout=10)


@pytest.fixture
def client(kapso_server: KapsoServer) -> Iterator[Client]:
    client = Client(kapso_server)
    yield client
    client.session.close()


@pytest.fixture
def simulator(kapso_server: KapsoServer) -> KapsoSimulator:
    return kapso_server.simulator


def assert_error(response: requests.Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    assert text in body["message"] or text in body["error"], body


ASSIGNMENTS = "/whatsapp_conversations/{whatsapp_conversation_id}/conversation_assignments"


class TestAssignmentsGroup:
    def test_answers_match_the_schemas(self, client: Client, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        base = f"/whatsapp_conversations/{conversation['id']}/conversation_assignments"
        user = simulator.assignments.default_user_id

        created = client("POST", base, {"conversation_assignment": {"user_id": user, "notes": "n"}})
        assert created.status_code == 201
        listed = client("GET", base)
        assert listed.status_code == 200
        assert listed.json()["meta"] == {"page": 1, "per_page": 20, "total_pages": 1, "total_count": 1}
        updated = client(
            "PATCH", f"{base}/{created.json()['data']['id']}", {"conversation_assignment": {"active": False}}
        )
        assert updated.status_code == 200
        for spec_name in ("openapi.yaml", "openapi-whatsapp.yaml"):
            assert_documented(spec_name, created, template=ASSIGNMENTS)
            assert_documented(spec_name, listed, template=ASSIGNMENTS)
            assert_documented(spec_name, updated, template=ASSIGNMENTS + "/{id}")

    @pytest.mark.parametrize(
        ("body", "status", "text"),
        [
            (None, 422, "body: must be a JSON object"),
            ({}, 422, "conversation_assignment: is required"),
            ({"conversation_assignment": "x"}, 422, "conversation_assignment: must be an object"),
            ({"conversation_assignment": {}}, 422, "conversation_assignment.user_id: is required"),
            ({"conversation_assignment": {"user_id": 5}}, 422, "conversation_assignment.user_id: must be a string"),
            ({"conversation_assignment": {"user_id": "ada"}}, 422, "conversation_assignment.user_id: must be a UUID"),
            ({"conversation_assignment": {"user_id": str(uuid.UUID(int=9))}}, 404, "User not found"),
            ("notes", 422, "conversation_assignment.notes: must be a string"),
        ],
    )
    def test_create_refuses(self, client: Client, simulator: KapsoSimulator, body: Any, status: int, text: str) -> None:
        conversation = simulator.create_conversation()
        if body == "notes":
            body = {"conversation_assignment": {"user_id": simulator.assignments.default_user_id, "notes": None}}
        answer = client("POST", f"/whatsapp_conversations/{conversation['id']}/conversation_assignments", body)
        assert_error(answer, status, text)
        assert simulator.assignments.assignments() == []

    def test_one_active_assignment_per_conversation(self, client: Client, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        base = f"/whatsapp_conversations/{conversation['id']}/conversation_assignments"
        old = simulator.assignments.assign(conversation["id"], active=False)
        current = simulator.assignments.assign(conversation["id"])
        other = simulator.assignments.add_user()["id"]

        assert_error(client("POST", base, {"conversation_assignment": {"user_id": other}}), 422, "already assigned")
        reactivate = {"conversation_assignment": {"active": True}}
        assert_error(client("PATCH", f"{base}/{old['id']}", reactivate), 422, "already assigned")
        # Handing the current one over is the way to change hands.
        handed = client("PATCH", f"{base}/{current['id']}", {"conversation_assignment": {"user_id": other}})
        assert handed.json()["data"]["user_id"] == other
        with pytest.raises(ValueError, match="active assignment already"):
            simulator.assignments.assign(conversation["id"])

    @pytest.mark.parametrize(
        ("fields", "text"),
        [
            ({"active": "no"}, "conversation_assignment.active: must be true or false"),
            ({"notes": 3}, "conversation_assignment.notes: must be a string"),
            ({"user_id": "grace"}, "conversation_assignment.user_id: must be a UUID"),
        ],
    )
    def test_update_refuses(self, client: Client, simulator: KapsoSimulator, fields: Any, text: str) -> None:
        conversation = simulator.create_conversation()
        record = simulator.assignments.assign(conversation["id"], notes="keep")
        path = f"/whatsapp_conversations/{conversation['id']}/conversation_assignments/{record['id']}"
        assert_error(client("PATCH", path, {"conversation_assignment": fields}), 422, text)
        assert simulator.assignments.assignments() == [record]

    @pytest.mark.parametrize(
        ("method", "suffix", "text"),
        [
            ("GET", "", "Conversation not found"),
            ("POST", "", "Conversation not found"),
            ("PATCH", "/{assignment}", "Conversation not found"),
            ("PATCH", "/unknown", "Assignment not found"),
        ],
    )
    def test_not_found(self, client: Client, simulator: KapsoSimulator, method: str, suffix: str, text: str) -> None:
        conversation = simulator.create_conversation()
        record = simulator.assignments.assign(conversation["id"])
        conversation_id = conversation["id"] if suffix == "/unknown" else str(uuid.uuid4())
        path = f"/whatsapp_conversations/{conversation_id}/conversation_assignments" + suffix.format(
            assignment=record["id"]
        )
        body = {"conversation_assignment": {"user_id": simulator.assignments.default_user_id}}
        assert_error(client(method, path, None if method == "GET" else body), 404, text)

    def test_control_api(self, simulator: KapsoSimulator) -> None:
        user = simulator.assignments.add_user(name="Grace", user_id=str(uuid.UUID(int=7)))
        assert user == {"id": str(uuid.UUID(int=7)), "name": "Grace"}
        with pytest.raises(ValueError, match="exists already"):
            simulator.assignments.add_user(user_id=user["id"])
        with pytest.raises(ValueError, match="must be a UUID"):
            simulator.assignments.add_user(user_id="grace")
        with pytest.raises(KeyError, match="User not found"):
            simulator.assignments.assign(simulator.create_conversation()["id"], str(uuid.uuid4()))
        simulator.assignments.assign(simulator.create_conversation()["id"], user["id"])

        simulator.reset()
        assert simulator.assignments.assignments() == []
        assert [u["id"] for u in simulator.assignments.users()] == [simulator.assignments.default_user_id]


class TestMarkAsRead:
    def test_answer_matches_the_schema(self, client: Client, simulator: KapsoSimulator) -> None:
        inbound = simulator.deliver_inbound(simulator.create_conversation()["id"])
        answer = client("PATCH", f"/whatsapp_messages/{inbound['id']}/mark_as_read", typing_indicator="false")
        assert answer.status_code == 200
        assert answer.json()["data"]["status"] == "read"
        assert_documented("openapi-whatsapp.yaml", answer, template="/whatsapp_messages/{id}/mark_as_read")

    @pytest.mark.parametrize(
        ("target", "query", "status", "text"),
        [
            ("outbound", {}, 422, "Only inbound messages"),
            ("wamid", {}, 404, "Message not found"),
            ("unknown", {}, 404, "Message not found"),
            ("inbound", {"typing_indicator": "maybe"}, 422, "typing_indicator: must be true or false"),
        ],
    )
    def test_refuses(
        self, client: Client, simulator: KapsoSimulator, target: str, query: dict[str, str], status: int, text: str
    ) -> None:
        conversation = simulator.create_conversation()
        # A wamid is base64: "/" and "+" included, so it is quoted as one path segment below.
        inbound = simulator.deliver_inbound(conversation["id"], whatsapp_message_id="wamid.HBgL/MTU1+NTEy==")
        sent = client(
            "POST",
            f"/whatsapp_conversations/{conversation['id']}/whatsapp_messages",
            {"message": {"message_type": "text", "content": "hi"}},
        ).json()["data"]
        message_id = {
            "outbound": sent["id"],
            # The path takes Kapso's id, not WhatsApp's.
            "wamid": quote(inbound["whatsapp_message_id"], safe=""),
            "unknown": str(uuid.uuid4()),
            "inbound": inbound["id"],
        }[target]
        assert_error(client("PATCH", f"/whatsapp_messages/{message_id}/mark_as_read", **query), status, text)
        assert {m["status"] for m in simulator.messages(conversation["id"])} == {"received", "sent"}


class TestPlatformGroup:
    @pytest.mark.parametrize("status", ["healthy", "degraded", "unhealthy", "error"])
    def test_health_answers_match_the_schemas(self, client: Client, simulator: KapsoSimulator, status: str) -> None:
        config_id = simulator.default_whatsapp_config_id
        simulator.platform.set_config_health(config_id, status)
        answer = client("GET", f"/whatsapp_configs/{config_id}/health")
        assert answer.status_code == 200
        assert answer.json()["status"] == status
        assert "data" not in answer.json()
        assert_documented("openapi-whatsapp.yaml", answer, template="/whatsapp_configs/{id}/health")
        assert_documented("openapi-platform.yaml", answer, template="/whatsapp_configs/{whatsapp_config_id}/health")

    def test_health_control_refuses(self, simulator: KapsoSimulator) -> None:
        with pytest.raises(ValueError, match="status must be one of"):
            simulator.platform.set_config_health(simulator.default_whatsapp_config_id, "fine")
        with pytest.raises(KeyError):
            simulator.platform.set_config_health(str(uuid.uuid4()), "healthy")

    def test_health_of_unknown_config(self, client: Client) -> None:
        assert_error(client("GET", f"/whatsapp_configs/{uuid.uuid4()}/health"), 404, "WhatsApp config not found")

    def test_customer_answers_match_the_schemas(self, client: Client) -> None:
        created = client("POST", "/customers", {"customer": {"name": "Acme", "external_customer_id": "C-1"}})
        assert created.status_code == 201
        path = f"/customers/{created.json()['data']['id']}"
        listed = client("GET", "/customers")
        fetched = client("GET", path)
        updated = client("PATCH", path, {"customer": {"name": "Acme Inc."}})
        assert updated.json()["data"]["name"] == "Acme Inc."
        deleted = client("DELETE", path)
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert_documented("openapi.yaml", created, template="/customers")
        for spec_name, item in (
            ("openapi.yaml", "/customers/{customer_id}"),
            ("openapi-platform.yaml", "/customers/{id}"),
        ):
            assert_documented(spec_name, listed, template="/customers")
            assert_documented(spec_name, fetched, template=item)
            assert_documented(spec_name, updated, template=item)

    @pytest.mark.parametrize(
        ("body", "text"),
        [
            ("[]", "body: must be a JSON object"),
            ({}, "customer: is required"),
            ({"customer": []}, "customer: must be an object"),
            ({"customer": {"external_customer_id": "C-1"}}, "customer.name: is required"),
            ({"customer": {"name": " ", "external_customer_id": "C-1"}}, "customer.name: can't be blank"),
            ({"customer": {"name": "Acme"}}, "customer.external_customer_id: is required"),
            (
                {"customer": {"name": "Acme", "external_customer_id": 1}},
                "customer.external_customer_id: must be a string",
            ),
        ],
    )
    def test_create_refuses(self, client: Client, simulator: KapsoSimulator, body: Any, text: str) -> None:
        assert_error(client("POST", "/customers", [] if body == "[]" else body), 422, text)
        assert simulator.platform.customers() == []

    def test_update_refuses(self, client: Client, simulator: KapsoSimulator) -> None:
        record = simulator.platform.add_customer("Acme", "C-1")
        assert_error(client("PATCH", f"/customers/{record['id']}", {"customer": {"name": ""}}), 422, "customer.name")
        assert_error(client("PATCH", f"/customers/{record['id']}", {}), 422, "customer: is required")
        assert simulator.platform.customers() == [record]

    @pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
    def test_unknown_customer(self, client: Client, method: str) -> None:
        body = {"customer": {"name": "x"}} if method == "PATCH" else None
        assert_error(client(method, f"/customers/{uuid.uuid4()}", body), 404, "Customer not found")

    def test_customer_created_at_bounds(self, client: Client, simulator: KapsoSimulator) -> None:
        early = simulator.platform.add_customer("Early", "C-1")
        late = simulator.platform.add_customer("Late", "C-2")
        names = client("GET", "/customers", **{"q[created_at_gteq]": late["created_at"]}).json()["data"]
        assert [c["name"] for c in names] == ["Late"]
        names = client("GET", "/customers", **{"q[created_at_lteq]": early["created_at"]}).json()["data"]
        assert [c["name"] for c in names] == ["Early"]
        assert_error(client("GET", "/customers", **{"q[created_at_gteq]": "yesterday"}), 422, "ISO 8601")

    def test_customer_control_api(self, simulator: KapsoSimulator) -> None:
        record = simulator.platform.add_customer(customer_id="c-1")
        with pytest.raises(ValueError, match="exists already"):
            simulator.platform.add_customer(customer_id="c-1")
        assert simulator.platform.customers() == [record]
        simulator.reset()
        assert simulator.platform.customers() == []

    def test_project(self, client: Client, simulator: KapsoSimulator) -> None:
        project = client("GET", f"/projects/{simulator.platform.project_id}")
        assert project.json() == {"data": simulator.platform.project()}
        assert_error(client("GET", f"/projects/{uuid.uuid4()}"), 404, "Project not found")
