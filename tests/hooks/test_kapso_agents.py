"""KapsoHook's agents, agent executions, flows and flow executions against the simulator.

Every request a test makes is checked against the OpenAPI files. Where only ``openapi-agents.yaml`` has
the operation or parameter (status update, ``q[phone_number_eq]``, ``whatsapp_config_id``), the request
is checked against that file alone: it is the newer, more specific file for this group.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoAPIError, KapsoArgumentError, KapsoNotFoundError
from kapso_provider.hooks.kapso import KapsoHook
from tests._openapi import agent_phone_filter_file, assert_requests_valid

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"


@pytest.fixture
def hook(kapso_server: KapsoServer) -> Iterator[KapsoHook]:
    made = KapsoHook()
    yield made
    made.close()
    # Every request of every test here must be valid against every file that defines its operation, except
    # q[phone_number_eq], which only openapi-agents.yaml (the newer file for this group) declares.
    assert_requests_valid(kapso_server.simulator.requests, files_for=agent_phone_filter_file)


class TestAgents:
    def test_list_and_get(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        agents = kapso_server.simulator.agents
        created = [agents.add_agent(name=f"Agent {index}") for index in range(3)]
        listed = hook.list_agents()
        assert not kapso_server.simulator.requests  # lazy: nothing sent before iteration
        assert list(listed) == created
        assert hook.get_agent(created[1]["id"]) == created[1]

    def test_unknown_agent_is_not_found(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError):
            hook.get_agent("no-such-agent")


class TestAgentExecutions:
    @pytest.mark.parametrize(
        ("message", "extra"),
        [
            ("I need help with my order", {}),
            ({"type": "user_input", "content": {"text": "Hi"}}, {"phone_number": PHONE}),
            ({"type": "payload", "content": {"order_id": 42}}, {"phone_number": PHONE, "with_config": True}),
        ],
    )
    def test_start_then_get(
        self, hook: KapsoHook, kapso_server: KapsoServer, message: Any, extra: dict[str, Any]
    ) -> None:
        agent = kapso_server.simulator.agents.add_agent()
        kwargs = dict(extra)
        if kwargs.pop("with_config", False):
            kwargs["whatsapp_config_id"] = kapso_server.simulator.default_whatsapp_config_id
        started = hook.start_agent_execution(agent["id"], message=message, **kwargs)
        assert started["status"] == "started"
        assert started["agent_id"] == agent["id"]
        assert hook.get_agent_execution(agent["id"], started["id"]) == started
        post = kapso_server.simulator.requests[0]
        assert post.json == {"message": message, **kwargs}

    def test_list_filters_and_pages(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        agents = kapso_server.simulator.agents
        agent = agents.add_agent()
        other = agents.add_agent()
        before = datetime.now(UTC) - timedelta(minutes=1)
        mine = [hook.start_agent_execution(agent["id"], message=f"m{i}", phone_number=PHONE) for i in range(5)]
        hook.start_agent_execution(agent["id"], message="other number", phone_number="+15550000000")
        hook.start_agent_execution(other["id"], message="other agent", phone_number=PHONE)
        agents.finish_execution(mine[0]["id"], "ended")

        listed = hook.list_agent_executions(agent["id"], phone_number=PHONE, started_after=before, per_page=2)
        assert sorted(record["id"] for record in listed) == sorted(record["id"] for record in mine)
        pages = [r.query["page"] for r in kapso_server.simulator.requests if r.method == "GET"]
        assert pages == ["1", "2", "3"]

        ended = list(hook.list_agent_executions(agent["id"], status="ended"))
        assert [record["id"] for record in ended] == [mine[0]["id"]]
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert list(hook.list_agent_executions(agent["id"], started_after=later.isoformat())) == []
        assert len(list(hook.list_agent_executions(agent["id"], ended_before=later, ended_after=before))) == 1
        assert len(list(hook.list_agent_executions(agent["id"], started_before=later))) == 6

    def test_lists_are_lazy(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        agent = kapso_server.simulator.agents.add_agent()
        for index in range(3):
            hook.start_agent_execution(agent["id"], message=f"m{index}")
        posts = len(kapso_server.simulator.requests)
        first_two = list(itertools.islice(hook.list_agent_executions(agent["id"], per_page=1), 2))
        assert len(first_two) == 2
        assert len(kapso_server.simulator.requests) == posts + 2  # the third page was never asked for

    def test_resume_and_update_status(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        agents = kapso_server.simulator.agents
        agent = agents.add_agent()
        execution = hook.start_agent_execution(agent["id"], message="hi", phone_number=PHONE)
        paused = hook.update_agent_execution_status(agent["id"], execution["id"], "paused")
        assert paused["status"] == "paused"
        resumed = hook.resume_agent_execution(agent["id"], execution["id"], message="Here is my order number")
        assert resumed["status"] == "running"
        resume_request = kapso_server.simulator.requests[-1]
        assert resume_request.json == {
            "message": {"type": "user_input", "content": {"text": "Here is my order number"}}
        }
        stopped = hook.update_agent_execution_status(agent["id"], execution["id"], "stopped")
        assert stopped["status"] == "stopped"
        assert stopped["ended_at"] is not None
        # Only a paused execution can be resumed; Kapso's own text comes through.
        with pytest.raises(KapsoAPIError, match="cannot be resumed"):
            hook.resume_agent_execution(agent["id"], execution["id"])

    @pytest.mark.parametrize(
        ("call", "field_name"),
        [
            (lambda h: h.start_agent_execution("a", message=""), "message"),
            (lambda h: h.start_agent_execution("a", message=42), "message"),
            (lambda h: h.start_agent_execution("a", message={"type": "chat"}), "message.type"),
            (lambda h: h.start_agent_execution("a", message={"text": "hi"}), "message"),
            (lambda h: h.start_agent_execution("a", message="hi", whatsapp_config_id="cfg"), "whatsapp_config_id"),
            (lambda h: list(h.list_agent_executions("a", status="failed")), "status"),
            (lambda h: list(h.list_agent_executions("a", started_after="yesterday")), "started_after"),
            (lambda h: list(h.list_agent_executions("a", started_after=datetime(2026, 1, 1))), "started_after"),
            (lambda h: h.update_agent_execution_status("a", "e", "done"), "status"),
            (lambda h: h.get_agent_execution("a", ""), None),
        ],
    )
    def test_bad_arguments_fail_before_any_request(
        self, hook: KapsoHook, kapso_server: KapsoServer, call: Any, field_name: str | None
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=f"^{field_name}:" if field_name else None):
            call(hook)
        assert kapso_server.simulator.requests == []


class TestFlows:
    def test_list_get_and_filter(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        agents = kapso_server.simulator.agents
        active = agents.add_flow(name="Onboarding")
        draft = agents.add_flow(name="Draft", status="draft")
        assert list(hook.list_flows()) == [active, draft]
        assert list(hook.list_flows(status="draft")) == [draft]
        assert hook.get_flow(active["id"]) == active

    def test_start_find_get_resume(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        agents = kapso_server.simulator.agents
        flow = agents.add_flow()
        agents.flow_execution_visible_after = 1  # Kapso queues the start: the first list does not show it
        since = datetime.now(UTC) - timedelta(minutes=1)
        answer = hook.start_flow_execution(
            flow["id"],
            phone_number=PHONE,
            variables={"name": "Ada"},
            context={"source": "airflow"},
            initial_data={"plan": "pro"},
            whatsapp_config_id=kapso_server.simulator.default_whatsapp_config_id,
        )
        assert answer["flow_id"] == flow["id"]
        assert answer["message"] == "Flow execution queued"
        assert hook.find_flow_execution(flow["id"], answer["tracking_id"], started_after=since) is None
        found = hook.find_flow_execution(flow["id"], answer["tracking_id"], started_after=since)
        assert found is not None
        assert found["tracking_id"] == answer["tracking_id"]
        assert found["variables"] == {"name": "Ada", "plan": "pro"}
        assert hook.get_flow_execution(found["id"]) == found

        assert [record["id"] for record in hook.list_flow_executions(flow["id"], status="running")] == [found["id"]]
        assert list(hook.list_flow_executions(flow["id"], status="ended")) == []
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert list(hook.list_flow_executions(flow["id"], started_before=since)) == []
        assert len(list(hook.list_flow_executions(flow["id"], started_after=since, started_before=later))) == 1

        agents.set_execution_status(found["id"], "waiting")
        resumed = hook.resume_flow_execution(found["id"], input="yes", message={"button_id": "confirm"})
        assert resumed["status"] == "running"
        with pytest.raises(KapsoAPIError, match="not in a waiting state"):
            hook.resume_flow_execution(found["id"])

    @pytest.mark.parametrize(
        ("flow_kwargs", "expected"),
        # Kapso's reason travels in "details", next to "error": the error text carries both.
        [
            ({"status": "draft"}, "Flow is not active - Flow must be in active status and have an active API trigger"),
            ({"api_trigger": False}, "Flow is not active - Flow must be in active status and have an active API"),
        ],
    )
    def test_flow_that_cannot_run_is_refused(
        self, hook: KapsoHook, kapso_server: KapsoServer, flow_kwargs: dict[str, Any], expected: str
    ) -> None:
        flow = kapso_server.simulator.agents.add_flow(**flow_kwargs)
        with pytest.raises(KapsoAPIError, match=expected):
            hook.start_flow_execution(flow["id"], phone_number=PHONE)

    @pytest.mark.parametrize(
        ("call", "field_name"),
        [
            (lambda h: h.get_flow("flow-1"), "flow_id"),
            (
                lambda h: h.start_flow_execution("8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44", phone_number="5551234"),
                "phone_number",
            ),
            (
                lambda h: h.start_flow_execution(
                    "8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44", phone_number=PHONE, variables=["a"]
                ),
                "variables",
            ),
            (lambda h: list(h.list_flows(status="live")), "status"),
            (lambda h: list(h.list_flow_executions("8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44", status="paused")), "status"),
            (lambda h: h.get_flow_execution("exec-1"), "execution_id"),
            (lambda h: h.resume_flow_execution("8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44", input=3), "input"),
        ],
    )
    def test_bad_arguments_fail_before_any_request(
        self, hook: KapsoHook, kapso_server: KapsoServer, call: Any, field_name: str
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=f"^{field_name}:"):
            call(hook)
        assert kapso_server.simulator.requests == []
