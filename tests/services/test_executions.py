"""Agent and flow executions: earlier tries found, queued flows found, on Kapso's clock whatever it says."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoRunError
from kapso_provider.services.executions import (
    AgentExecution,
    FlowExecution,
    WaitSettings,
    agent_start_message,
    run,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
LOG = logging.getLogger(__name__)
FAST = WaitSettings(poll_interval=0.01, timeout=10)


@pytest.fixture
def agent(kapso_server: KapsoServer) -> dict[str, Any]:
    kapso_server.simulator.agents.agent_status_sequence = ("running", "ended")
    return kapso_server.simulator.agents.add_agent()


@pytest.mark.usefixtures("kapso_clock")
class TestFindAgentExecution:
    @pytest.mark.parametrize("gap", [10, 100])
    def test_an_execution_started_before_the_run_is_not_the_earlier_trys(
        self, hook: KapsoHook, call: Callable[..., Any], agent: dict[str, Any], gap: int
    ) -> None:
        hook.start_agent_execution(agent["id"], message="Hi", phone_number=PHONE)
        since = datetime.now(UTC) + timedelta(seconds=gap)
        assert call("find_agent_execution", agent["id"], phone_number=PHONE, since=since) is None

    def test_the_newest_for_this_number_is_found(
        self, hook: KapsoHook, call: Callable[..., Any], agent: dict[str, Any], kapso_server: KapsoServer
    ) -> None:
        run_started = datetime.now(UTC) - timedelta(seconds=30)
        hook.start_agent_execution(agent["id"], message="Hi", phone_number=PHONE)
        newest = hook.start_agent_execution(agent["id"], message="Hi again", phone_number=PHONE)
        hook.start_agent_execution(agent["id"], message="Hi", phone_number="+15550000000")
        before = len(kapso_server.simulator.requests)
        found = call("find_agent_execution", agent["id"], phone_number=PHONE, since=run_started)
        assert found["id"] == newest["id"]
        # A fresh hook knows nothing of Kapso's clock: it reads the agent before the list's time filter.
        assert [(r.method, r.path) for r in kapso_server.simulator.requests[before:]] == [
            ("GET", f"/agents/{agent['id']}"),
            ("GET", f"/agents/{agent['id']}/executions"),
        ]


class TestRun:
    @pytest.mark.usefixtures("kapso_clock")
    def test_a_queued_flow_execution_is_found_whatever_kapsos_clock_says(
        self, hook: KapsoHook, kapso_server: KapsoServer
    ) -> None:
        agents = kapso_server.simulator.agents
        flow = agents.add_flow()
        agents.flow_status_sequence = ("running", "ended")
        agents.flow_execution_visible_after = 1
        execution = FlowExecution.checked(
            flow_id=flow["id"],
            phone_number=PHONE,
            variables='{"name": "Ada"}',
            execution_context=None,
            whatsapp_config_id=None,
        )
        result, progress = run(hook, LOG, execution, FAST)
        assert result is not None
        assert (result["status"], result["tracking_id"]) == ("ended", progress.answer["tracking_id"])

    def test_an_earlier_trys_agent_execution_is_continued(
        self, hook: KapsoHook, agent: dict[str, Any], kapso_server: KapsoServer
    ) -> None:
        run_started = datetime.now(UTC) - timedelta(seconds=30)
        earlier = hook.start_agent_execution(agent["id"], message="Hi", phone_number=PHONE)
        execution = AgentExecution.checked(
            agent_id=agent["id"], message="Hi", phone_number=PHONE, whatsapp_config_id=None
        )
        result, _ = run(hook, LOG, execution, FAST, earlier_try_since=run_started)
        assert result is not None
        assert (result["id"], result["status"]) == (earlier["id"], "ended")
        assert len(kapso_server.simulator.agents.agent_executions()) == 1

    def test_a_failed_execution_is_final_and_a_stalled_one_is_not(
        self, hook: KapsoHook, agent: dict[str, Any], kapso_server: KapsoServer
    ) -> None:
        agents = kapso_server.simulator.agents
        execution = AgentExecution.checked(
            agent_id=agent["id"], message="Hi", phone_number=None, whatsapp_config_id=None
        )
        agents.agent_status_sequence = ("failed",)
        with pytest.raises(KapsoRunError, match=r"finished with status 'failed'\. Kapso's record: \{") as failed:
            run(hook, LOG, execution, FAST)
        assert failed.value.final
        agents.agent_status_sequence = ("running",)
        # The start's answer is the first look: on a loaded machine the time may be up before a read.
        with pytest.raises(KapsoRunError, match=r"within 0\.05 s \(last status: (started|running)\)") as stalled:
            run(hook, LOG, execution, WaitSettings(poll_interval=0.01, timeout=0.05))
        assert not stalled.value.final

    def test_without_polling_one_look_is_handed_back(self, hook: KapsoHook, agent: dict[str, Any]) -> None:
        execution = AgentExecution.checked(
            agent_id=agent["id"], message="Hi", phone_number=None, whatsapp_config_id=None
        )
        result, progress = run(hook, LOG, execution, WaitSettings(poll_interval=30, timeout=60), poll=False)
        assert result is None
        assert progress.last_status == "started"
        assert progress.deadline is not None


class TestArguments:
    @pytest.mark.parametrize(
        ("message", "expected"),
        [
            ('{"type": "payload", "content": {"order": 7}}', {"type": "payload", "content": {"order": 7}}),
            ('{"order": 7} is text', '{"order": 7} is text'),
            ('{"order": 7}', '{"order": 7}'),
            ({"type": "user_input", "content": {"text": "Hi"}}, {"type": "user_input", "content": {"text": "Hi"}}),
        ],
    )
    def test_structured_message_as_json_text(self, message: Any, expected: Any) -> None:
        assert agent_start_message(message) == expected

    def test_wait_settings_take_seconds_or_timedeltas(self) -> None:
        settings = WaitSettings.checked(poll_interval=timedelta(seconds=5), timeout=timedelta(minutes=2))
        assert settings == WaitSettings(5.0, 120.0)
        with pytest.raises(KapsoArgumentError) as info:
            WaitSettings.checked(poll_interval="5", timeout=0)
        assert [problem.split(":")[0] for problem in info.value.problems] == ["poll_interval", "timeout"]

    @pytest.mark.parametrize(
        ("arguments", "field"),
        [
            ({"flow_id": "not-a-uuid"}, "flow_id"),
            ({"phone_number": "5551234567"}, "phone_number"),
            ({"variables": "not JSON"}, "variables"),
            ({"execution_context": ["a"]}, "context"),
            ({"whatsapp_config_id": "+15551234567"}, "whatsapp_config_id"),
        ],
    )
    def test_a_bad_flow_argument_is_named(self, arguments: dict[str, Any], field: str) -> None:
        valid: dict[str, Any] = {
            "flow_id": "8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44",
            "phone_number": PHONE,
            "variables": None,
            "execution_context": None,
            "whatsapp_config_id": None,
        }
        with pytest.raises(KapsoArgumentError, match=f"^{field}: "):
            FlowExecution.checked(**{**valid, **arguments})
