"""The simulator's agents and flows group over raw HTTP: answers shaped as the spec says, validation, control."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests._openapi import assert_valid_request
from tests.testing._support import PHONE, TIMEOUT, assert_documented

if TYPE_CHECKING:
    import requests

    from kapso_provider.testing import KapsoSimulator

SPEC = "openapi-agents.yaml"


def call(http: requests.Session, sim: KapsoSimulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return http.request(method, sim.base_url + path, timeout=TIMEOUT, **kwargs)


def assert_requests_valid(sim: KapsoSimulator) -> None:
    """Requests meant to be valid are, against every file that defines them (TestValidation's are not)."""
    for request in sim.requests:
        assert_valid_request(request.method, request.path, request.query, request.json)


def start_flow(http: requests.Session, sim: KapsoSimulator, flow_id: str, **body: Any) -> requests.Response:
    return call(http, sim, "POST", f"/flows/{flow_id}/executions", json={"phone_number": PHONE, **body})


class TestAnswersMatchTheSpec:
    def test_agents_and_agent_executions(self, http: requests.Session, sim: KapsoSimulator) -> None:
        agent = sim.agents.add_agent(name="Support", description="Answers questions")
        sim.agents.agent_status_sequence = ("running", "paused")
        cases: list[tuple[str, str, str, Any]] = [
            ("GET", "/agents", "/agents", None),
            ("GET", f"/agents/{agent['id']}", "/agents/{agent_id}", None),
            ("POST", f"/agents/{agent['id']}/executions", "/agents/{agent_id}/executions", {"message": "hi"}),
        ]
        for method, path, template, body in cases:
            response = call(http, sim, method, path, json=body)
            assert response.ok, response.text
            assert_documented(SPEC, response, template=template)
        execution_id = response.json()["data"]["id"]
        base = f"/agents/{agent['id']}/executions"
        second: list[tuple[str, str, str, Any]] = [
            ("GET", base, "/agents/{agent_id}/executions", None),
            ("GET", f"{base}/{execution_id}", "/agents/{agent_id}/executions/{execution_id}", None),
            ("POST", f"{base}/{execution_id}/resume", "/agents/{agent_id}/executions/{execution_id}/resume", None),
            (
                "PUT",
                f"{base}/{execution_id}",
                "/agents/{agent_id}/executions/{execution_id}",
                {"agent_execution": {"status": "ended"}},
            ),
        ]
        for method, path, template, body in second:
            response = call(http, sim, method, path, json=body)
            assert response.ok, response.text
            # failed and stopped are only in the update's enum, not the record's: ended validates everywhere.
            assert_documented(SPEC, response, template=template)
        assert_requests_valid(sim)

    def test_flows_and_flow_executions(self, http: requests.Session, sim: KapsoSimulator) -> None:
        flow = sim.agents.add_flow(description="Welcome new customers")
        sim.agents.flow_status_sequence = ("waiting",)
        for method, path, template in [
            ("GET", "/flows", "/flows"),
            ("GET", f"/flows/{flow['id']}", "/flows/{flow_id}"),
        ]:
            response = call(http, sim, method, path)
            assert_documented(SPEC, response, template=template)
        response = start_flow(http, sim, flow["id"], variables={"name": "Ada"})
        assert response.status_code == 202
        assert_documented(SPEC, response, template="/flows/{flow_id}/executions")
        listed = call(http, sim, "GET", f"/flows/{flow['id']}/executions")
        assert_documented(SPEC, listed, template="/flows/{flow_id}/executions")
        (record,) = listed.json()["data"]
        assert record["status"] == "waiting"  # the list read advanced it one step
        response = call(http, sim, "GET", f"/flow_executions/{record['id']}")
        assert_documented(SPEC, response, template="/flow_executions/{execution_id}")
        response = call(http, sim, "POST", f"/flow_executions/{record['id']}/resume", json={"input": "yes"})
        assert_documented(SPEC, response, template="/flow_executions/{execution_id}/resume")
        response = call(http, sim, "POST", f"/flow_executions/{record['id']}/resume", json={"input": "yes"})
        assert response.status_code == 422
        assert_documented(SPEC, response, template="/flow_executions/{execution_id}/resume")
        assert_requests_valid(sim)


class TestValidation:
    @pytest.mark.parametrize(
        ("body", "status", "field_name"),
        [
            ({"message": ""}, 422, "message"),
            ({"message": 5}, 422, "message"),
            ({"message": {"type": "chat"}}, 422, "message.type"),
            ({"message": {"type": "user_input", "content": "hi"}}, 422, "message.content"),
            ({"message": "hi", "phone_number": 15551234567}, 400, "phone_number"),
            ({"message": "hi", "whatsapp_config_id": "cfg-1"}, 422, "whatsapp_config_id"),
            (["hi"], 400, "body"),
        ],
    )
    def test_agent_start(
        self, http: requests.Session, sim: KapsoSimulator, body: Any, status: int, field_name: str
    ) -> None:
        agent = sim.agents.add_agent()
        response = call(http, sim, "POST", f"/agents/{agent['id']}/executions", json=body)
        assert response.status_code == status
        assert response.json()["message"].startswith(f"{field_name}:")
        assert sim.agents.agent_executions() == []

    @pytest.mark.parametrize(
        ("body", "status", "field_name"),
        [
            ({}, 400, "agent_execution"),
            ({"agent_execution": {}}, 400, "agent_execution.status"),
            ({"agent_execution": {"status": "done"}}, 422, "agent_execution.status"),
        ],
    )
    def test_agent_status_update(
        self, http: requests.Session, sim: KapsoSimulator, body: Any, status: int, field_name: str
    ) -> None:
        agent = sim.agents.add_agent()
        execution = call(http, sim, "POST", f"/agents/{agent['id']}/executions", json={"message": "hi"}).json()
        path = f"/agents/{agent['id']}/executions/{execution['data']['id']}"
        response = call(http, sim, "PUT", path, json=body)
        assert response.status_code == status
        assert response.json()["message"].startswith(f"{field_name}:")

    @pytest.mark.parametrize(
        ("body", "field_name"),
        [
            ({"phone_number": None}, "phone_number"),
            ({"phone_number": "15551234567"}, "phone_number"),
            ({"variables": ["a"]}, "variables"),
            ({"context": "x"}, "context"),
            ({"initial_data": 1}, "initial_data"),
        ],
    )
    def test_flow_start(self, http: requests.Session, sim: KapsoSimulator, body: Any, field_name: str) -> None:
        flow = sim.agents.add_flow()
        response = start_flow(http, sim, flow["id"], **body)
        assert response.status_code == 422
        assert response.json()["message"].startswith(f"{field_name}:")
        assert sim.agents.flow_executions() == []

    def test_flow_start_with_a_foreign_config(self, http: requests.Session, sim: KapsoSimulator) -> None:
        flow = sim.agents.add_flow()
        response = start_flow(http, sim, flow["id"], whatsapp_config_id="8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44")
        assert response.status_code == 422
        assert "does not belong" in response.json()["details"]

    @pytest.mark.parametrize(
        ("query", "path_kind"),
        [({"q[status_eq]": "failed"}, "agent"), ({"q[status_eq]": "ended"}, "flow"), ({"page": "0"}, "agent")],
    )
    def test_list_filters(
        self, http: requests.Session, sim: KapsoSimulator, query: dict[str, str], path_kind: str
    ) -> None:
        parent = sim.agents.add_agent() if path_kind == "agent" else sim.agents.add_flow()
        prefix = "/agents" if path_kind == "agent" else "/flows"
        response = call(http, sim, "GET", f"{prefix}/{parent['id']}/executions", params=query)
        assert response.status_code == 422

    @pytest.mark.parametrize(
        "path",
        ["/agents/nope", "/agents/nope/executions", "/flows/nope", "/flow_executions/nope"],
    )
    def test_unknown_ids(self, http: requests.Session, sim: KapsoSimulator, path: str) -> None:
        assert call(http, sim, "GET", path).status_code == 404


class TestControl:
    def test_sequence_advances_one_step_per_read(self, http: requests.Session, sim: KapsoSimulator) -> None:
        agent = sim.agents.add_agent()
        sim.agents.agent_status_sequence = ("running", "ended")
        started = call(http, sim, "POST", f"/agents/{agent['id']}/executions", json={"message": "hi"}).json()["data"]
        path = f"/agents/{agent['id']}/executions/{started['id']}"
        statuses = [call(http, sim, "GET", path).json()["data"]["status"] for _ in range(3)]
        assert [started["status"], *statuses] == ["started", "running", "ended", "ended"]
        (record,) = sim.agents.agent_executions(agent["id"])
        assert record["ended_at"] is not None
        assert isinstance(record["duration"], int)
        assert_requests_valid(sim)

    def test_finish_and_schedule(self, http: requests.Session, sim: KapsoSimulator) -> None:
        flow = sim.agents.add_flow()
        start_flow(http, sim, flow["id"])
        (execution,) = sim.agents.flow_executions(flow["id"])
        sim.agents.schedule_execution(execution["id"], ["waiting", ("running", {"current_step": None})])
        finished = sim.agents.finish_execution(execution["id"], "failed", variables={"reason": "no answer"})
        assert finished["status"] == "failed"
        assert finished["variables"] == {"reason": "no answer"}
        # A finished execution's remaining steps are dropped.
        assert call(http, sim, "GET", f"/flow_executions/{execution['id']}").json()["data"]["status"] == "failed"
        with pytest.raises(ValueError, match="not final"):
            sim.agents.finish_execution(execution["id"], "waiting")
        assert_requests_valid(sim)

    def test_queued_flow_execution_appears_after_reads(self, http: requests.Session, sim: KapsoSimulator) -> None:
        flow = sim.agents.add_flow()
        sim.agents.flow_execution_visible_after = 2
        start_flow(http, sim, flow["id"])
        (execution,) = sim.agents.flow_executions(flow["id"])
        listings = [call(http, sim, "GET", f"/flows/{flow['id']}/executions").json()["data"] for _ in range(3)]
        assert [len(listed) for listed in listings] == [0, 0, 1]
        assert call(http, sim, "GET", f"/flow_executions/{execution['id']}").status_code == 200
        assert_requests_valid(sim)

    def test_reset_forgets_everything(self, http: requests.Session, sim: KapsoSimulator) -> None:
        agent = sim.agents.add_agent()
        sim.agents.add_flow()
        sim.agents.agent_status_sequence = ("ended",)
        call(http, sim, "POST", f"/agents/{agent['id']}/executions", json={"message": "hi"})
        sim.reset()
        assert call(http, sim, "GET", "/agents").json() == {"data": []}
        assert call(http, sim, "GET", "/flows").json() == {"data": []}
        assert sim.agents.agent_executions() == []
        assert not sim.agents.agent_status_sequence
        assert_requests_valid(sim)
