"""The simulator's broadcasts over HTTP: validation, the spec's answer shapes, and the progression controls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests._openapi import assert_valid_request
from tests.testing._support import assert_documented

if TYPE_CHECKING:
    import requests

    from kapso_provider.testing import KapsoSimulator

PLATFORM = "openapi-platform.yaml"


class Client:
    """A plain HTTP client that checks every answer against the file's response schema for its status."""

    def __init__(self, simulator: KapsoSimulator, session: requests.Session) -> None:
        self.simulator = simulator
        self.session = session

    def call(self, method: str, path: str, *, json: Any = None, params: Any = None) -> requests.Response:
        response = self.session.request(method, self.simulator.base_url + path, json=json, params=params)
        assert_documented(PLATFORM, response)
        if response.status_code < 300:
            # Accepted requests must be valid against the files too; the refused ones here are malformed on
            # purpose, to test the simulator's own checks.
            query = {name: str(value) for name, value in (params or {}).items()}
            assert_valid_request(method, path, query, json)
        return response


@pytest.fixture
def client(sim: KapsoSimulator, http: requests.Session) -> Client:
    return Client(sim, http)


@pytest.fixture
def template(sim: KapsoSimulator) -> dict[str, Any]:
    return sim.create_template("promo", category="MARKETING", content="Hi {{1}}")


def _create(client: Client, template: dict[str, Any], name: str = "Promo") -> dict[str, Any]:
    body = {
        "whatsapp_broadcast": {
            "name": name,
            "whatsapp_config_id": client.simulator.default_whatsapp_config_id,
            "whatsapp_template_id": template["id"],
        }
    }
    response = client.call("POST", "/whatsapp_broadcasts", json=body)
    assert response.status_code == 201
    data: dict[str, Any] = response.json()["data"]
    return data


def _add(client: Client, broadcast_id: str, numbers: list[str]) -> dict[str, Any]:
    recipients = [{"phone_number": number, "template_parameters": ["x"]} for number in numbers]
    response = client.call("POST", f"/whatsapp_broadcasts/{broadcast_id}/recipients", json={"recipients": recipients})
    assert response.status_code == 201
    data: dict[str, Any] = response.json()["data"]
    return data


def _started(client: Client, template: dict[str, Any], numbers: list[str]) -> str:
    broadcast_id = str(_create(client, template)["id"])
    _add(client, broadcast_id, numbers)
    assert client.call("POST", f"/whatsapp_broadcasts/{broadcast_id}/send").status_code == 202
    return broadcast_id


NUMBERS = ["+14155550001", "+14155550002", "+14155550003", "+14155550004", "+14155550005"]


class TestCreateValidation:
    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({}, "whatsapp_broadcast: is required"),
            ({"whatsapp_broadcast": {"name": "x"}}, "whatsapp_broadcast.whatsapp_config_id"),
            ({"whatsapp_broadcast": {"name": "", "whatsapp_config_id": "c", "whatsapp_template_id": "t"}}, "name"),
            (
                {"whatsapp_broadcast": {"name": "x", "whatsapp_config_id": "c", "whatsapp_template_id": "t", "at": 1}},
                "whatsapp_broadcast.at",
            ),
        ],
    )
    def test_malformed_bodies_are_refused(self, client: Client, body: Any, error: str) -> None:
        response = client.call("POST", "/whatsapp_broadcasts", json=body)
        assert response.status_code == 422
        assert error in response.json()["error"]

    @pytest.mark.parametrize(
        ("setup", "error"),
        [
            ("unknown_template", "Template not found"),
            ("unapproved_template", "only approved templates"),
            ("unlinked_template", "Template not linked to config"),
            ("sandbox_config", "must be production"),
            ("unknown_config", "WhatsApp configuration not found"),
        ],
    )
    def test_config_and_template_rules(self, client: Client, sim: KapsoSimulator, setup: str, error: str) -> None:
        config_id = sim.default_whatsapp_config_id
        template_id = sim.create_template("ok")["id"]
        if setup == "unknown_template":
            template_id = "7a8b9c0d-1e2f-3a4b-5c6d-7e8f9a0b1c2d"
        elif setup == "unapproved_template":
            template_id = sim.create_template("wip", status="submitted")["id"]
        elif setup == "unlinked_template":
            other = sim.add_whatsapp_config()
            template_id = sim.create_template("elsewhere", whatsapp_config_ids=[other["id"]])["id"]
        elif setup == "sandbox_config":
            config_id = sim.add_whatsapp_config(kind="sandbox", phone_number="+15550000099")["id"]
            template_id = sim.create_template("sandboxed", whatsapp_config_ids=[config_id])["id"]
        else:
            config_id = "4a5b6c7d-8e9f-0a1b-2c3d-4e5f6a7b8c9d"
        body = {
            "whatsapp_broadcast": {"name": "x", "whatsapp_config_id": config_id, "whatsapp_template_id": template_id}
        }
        response = client.call("POST", "/whatsapp_broadcasts", json=body)
        assert response.status_code == 422
        assert error in response.json()["error"]


class TestList:
    def test_most_recent_first_filtered_and_paged(self, client: Client, sim: KapsoSimulator) -> None:
        first, second = sim.create_template("a"), sim.create_template("b")
        ids = [_create(client, first, name=f"n{n}")["id"] for n in range(3)]
        _create(client, second)
        params = {"q[whatsapp_template_id_eq]": first["id"], "per_page": 2, "page": 1}
        page = client.call("GET", "/whatsapp_broadcasts", params=params).json()
        assert [record["id"] for record in page["data"]] == ids[::-1][:2]
        assert page["meta"] == {"page": 1, "per_page": 2, "total_pages": 2, "total_count": 3}

    @pytest.mark.parametrize(
        "params", [{"q[whatsapp_config_id_eq]": "not-a-uuid"}, {"per_page": 101}, {"page": 0}], ids=str
    )
    def test_bad_query_is_refused(self, client: Client, params: dict[str, Any]) -> None:
        response = client.session.get(client.simulator.base_url + "/whatsapp_broadcasts", params=params)
        assert response.status_code == 422


class TestRecipients:
    def test_counts_duplicates_and_refusals(self, client: Client, template: dict[str, Any]) -> None:
        broadcast_id = _create(client, template)["id"]
        recipients = [
            {"phone_number": "+1 (415) 555-0001", "template_parameters": ["a"]},
            {"phone_number": "14155550001", "template_parameters": ["a"]},
            {"phone_number": "12", "template_parameters": ["a"]},
            {"phone_number": "+14155550002"},
            {"whatsapp_contact_id": "3a4b5c6d-7e8f-9a0b-1c2d-3e4f5a6b7c8d", "template_parameters": ["a"]},
        ]
        response = client.call(
            "POST", f"/whatsapp_broadcasts/{broadcast_id}/recipients", json={"recipients": recipients}
        )
        assert response.json()["data"] == {
            "added": 1,
            "duplicates": 1,
            "errors": [
                "Recipient 3: invalid phone number format",
                "Recipient 4: template parameters invalid - Template requires 1 parameters but 0 provided",
                "Recipient 5: WhatsApp contact not found",
            ],
        }
        listed = client.call("GET", f"/whatsapp_broadcasts/{broadcast_id}/recipients").json()
        assert [(r["phone_number"], r["status"]) for r in listed["data"]] == [("14155550001", "pending")]

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            ({}, "Recipients array is required"),
            ({"recipients": "+14155550001"}, "Recipients array is required"),
            (
                {"recipients": [{"phone_number": "+14155550001"}] * 1001},
                "Cannot add more than 1000 recipients per request",
            ),
        ],
        ids=["missing", "not-an-array", "over-the-limit"],
    )
    def test_malformed_batches_are_refused(
        self, client: Client, template: dict[str, Any], body: Any, error: str
    ) -> None:
        broadcast_id = _create(client, template)["id"]
        response = client.session.post(
            f"{client.simulator.base_url}/whatsapp_broadcasts/{broadcast_id}/recipients", json=body
        )
        assert (response.status_code, response.json()["error"]) == (422, error)

    def test_unknown_broadcast_is_404(self, client: Client) -> None:
        path = "/whatsapp_broadcasts/5f6a7b8c-9d0e-1f2a-3b4c-5d6e7f8a9b0c"
        assert client.call("GET", path).status_code == 404
        assert client.call("GET", path + "/recipients").status_code == 404
        assert client.call("POST", path + "/recipients", json={"recipients": []}).status_code == 404
        assert client.call("POST", path + "/send").status_code == 404


class TestSendAndProgression:
    def test_send_rules(self, client: Client, template: dict[str, Any]) -> None:
        empty = _create(client, template)["id"]
        response = client.call("POST", f"/whatsapp_broadcasts/{empty}/send")
        assert (response.status_code, response.json()["error"]) == (422, "Broadcast has no recipients")
        broadcast_id = _started(client, template, NUMBERS[:1])
        response = client.call("POST", f"/whatsapp_broadcasts/{broadcast_id}/send")
        assert (response.status_code, response.json()["error"]) == (422, "Broadcast is already sending")
        response = client.call(
            "POST",
            f"/whatsapp_broadcasts/{broadcast_id}/recipients",
            json={"recipients": [{"phone_number": NUMBERS[1]}]},
        )
        assert response.json()["error"] == "Cannot add recipients to broadcast in sending status"
        client.call("GET", f"/whatsapp_broadcasts/{broadcast_id}")
        response = client.call("POST", f"/whatsapp_broadcasts/{broadcast_id}/send")
        assert response.json()["error"] == "Broadcast already completed"

    def test_reads_settle_recipients_step_by_step_with_chosen_outcomes(
        self, client: Client, sim: KapsoSimulator, template: dict[str, Any]
    ) -> None:
        sim.broadcasts.recipients_per_read = 2
        sim.broadcasts.default_outcome = "read"
        sim.broadcasts.set_outcome(NUMBERS[1], "failed", error_message="Re-engagement message", error_code="131047")
        sim.broadcasts.set_outcome(NUMBERS[4], "sent")
        broadcast_id = _started(client, template, NUMBERS)

        seen = []
        for _ in range(4):
            record = client.call("GET", f"/whatsapp_broadcasts/{broadcast_id}").json()["data"]
            seen.append((record["status"], record["sent_count"], record["failed_count"], record["pending_count"]))
        assert seen == [("sending", 1, 1, 3), ("sending", 3, 1, 1), ("completed", 4, 1, 0), ("completed", 4, 1, 0)]
        assert (record["delivered_count"], record["read_count"], record["stats"]["total"]) == (3, 3, 5)
        assert record["completed_at"] is not None

        recipients = {r["phone_number"]: r for r in sim.broadcasts.recipients(broadcast_id)}
        failed = recipients["14155550002"]
        assert (failed["status"], failed["error_message"], failed["error_details"]) == (
            "failed",
            "Re-engagement message",
            {"error_code": "131047"},
        )
        assert recipients["14155550005"]["delivered_at"] is None
        assert recipients["14155550001"]["read_at"] is not None

    def test_fail_and_reset(self, client: Client, sim: KapsoSimulator, template: dict[str, Any]) -> None:
        broadcast_id = _started(client, template, NUMBERS[:2])
        assert sim.broadcasts.fail(broadcast_id)["status"] == "failed"
        assert client.call("GET", f"/whatsapp_broadcasts/{broadcast_id}").json()["data"]["status"] == "failed"
        sim.broadcasts.recipients_per_read = 1
        sim.reset()
        assert sim.broadcasts.broadcasts() == []
        assert sim.broadcasts.recipients_per_read is None

    @pytest.mark.parametrize(
        ("attribute", "value"),
        [("recipients_per_read", 0), ("recipients_per_read", True), ("default_outcome", "bounced")],
    )
    def test_bad_control_values_are_refused(self, sim: KapsoSimulator, attribute: str, value: Any) -> None:
        with pytest.raises(ValueError, match=attribute):
            setattr(sim.broadcasts, attribute, value)
