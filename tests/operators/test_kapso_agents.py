"""KapsoRunAgentOperator and KapsoRunFlowOperator in real DAG runs against the simulator.

Each DAG run selects one task (the others are marked successful). The simulator moves an execution one
step of its status sequence per read, so a wait is deterministic and needs no sleeps.
"""

from __future__ import annotations

import json
from contextlib import closing
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.hooks.kapso import KapsoHook
from kapso_provider.operators.kapso import KapsoRunAgentOperator, KapsoRunFlowOperator
from kapso_provider.triggers.kapso import KapsoAgentExecutionTrigger, KapsoFlowExecutionTrigger
from tests._airflow import get_dag, task_states, xcom_return_value
from tests._openapi import agent_phone_filter_file, assert_requests_valid

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

MODES = ("wait", "deferrable", "no_wait")
PHONE = "+15551234567"


@pytest.fixture
def trigger_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every event the execution triggers yield during a test (the real run, recorded)."""
    events: list[dict[str, Any]] = []
    for trigger_class in (KapsoAgentExecutionTrigger, KapsoFlowExecutionTrigger):
        original = trigger_class.run

        def run(self: Any, _original: Any = original) -> AsyncIterator[Any]:
            async def wrapped() -> AsyncIterator[Any]:
                async for event in _original(self):
                    events.append(event.payload)
                    yield event

            return wrapped()

        monkeypatch.setattr(trigger_class, "run", run)
    return events


def _run(run_dag: Any, dag_id: str, task_id: str, run_conf: dict[str, Any]) -> Any:
    others = "|".join(f"^{other}$" for other in get_dag(dag_id).task_ids if other != task_id)
    return run_dag(dag_id, run_conf=run_conf, mark_success_pattern=others or None)


def _check_requests(kapso_server: KapsoServer) -> None:
    assert_requests_valid(kapso_server.simulator.requests, files_for=agent_phone_filter_file)


def _posts(kapso_server: KapsoServer) -> list[Any]:
    return [r for r in kapso_server.simulator.requests if r.method in ("POST", "PUT")]


def _task_logs(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    # Airflow 2.11 logs through the stdlib (caplog), Airflow 3 through structlog to stdout.
    captured = capfd.readouterr()
    return captured.out + captured.err + caplog.text


class TestRunAgent:
    @pytest.mark.parametrize("mode", MODES)
    @pytest.mark.parametrize("final", ["ended", "handoff"])
    def test_success(
        self, mode: str, final: str, run_dag: Any, kapso_server: KapsoServer, trigger_events: list[dict[str, Any]]
    ) -> None:
        agents = kapso_server.simulator.agents
        agent = agents.add_agent()
        agents.agent_status_sequence = ("running", "paused", final)
        dag_run = _run(run_dag, "kapso_test_run_agent", mode, {"agent_id": agent["id"]})

        assert str(dag_run.state) == "success", task_states(dag_run)
        record = xcom_return_value(dag_run, mode)
        (execution,) = agents.agent_executions(agent["id"])
        assert record["id"] == execution["id"]
        assert record["status"] == ("started" if mode == "no_wait" else final)
        assert json.loads(json.dumps(record)) == record
        (start,) = _posts(kapso_server)
        assert start.json == {"message": "Help with order A-1", "phone_number": PHONE}
        reads = [r for r in kapso_server.simulator.requests if r.method == "GET"]
        # The start's answer counts as the first look; then one read per step, none after the final one.
        assert len(reads) == (0 if mode == "no_wait" else 3)
        assert [event["status"] for event in trigger_events] == (["completed"] if mode == "deferrable" else [])
        _check_requests(kapso_server)

    @pytest.mark.parametrize("mode", ["wait", "deferrable"])
    @pytest.mark.parametrize("final", ["failed", "stopped"])
    def test_failed_or_stopped_fails_without_retry(
        self,
        mode: str,
        final: str,
        run_dag: Any,
        kapso_server: KapsoServer,
        capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        agents = kapso_server.simulator.agents
        agent = agents.add_agent()
        agents.agent_status_sequence = ("running", final)
        dag_run = _run(run_dag, "kapso_test_run_agent", mode, {"agent_id": agent["id"]})

        assert task_states(dag_run)[mode] == "failed"
        assert dag_run.get_task_instance(mode).try_number == 1
        (execution,) = agents.agent_executions()
        logs = _task_logs(capfd, caplog)
        assert f"Kapso agent execution {execution['id']} finished with status '{final}'. Kapso's record: " in logs
        assert len(_posts(kapso_server)) == 1
        _check_requests(kapso_server)

    @pytest.mark.parametrize("task_id", ["wait", "deferred"])
    def test_timeout_names_the_last_status(
        self,
        task_id: str,
        run_dag: Any,
        kapso_server: KapsoServer,
        capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        agents = kapso_server.simulator.agents
        agent = agents.add_agent()
        agents.agent_status_sequence = ("running",)  # then stays running
        dag_run = _run(run_dag, "kapso_test_agent_timeout", task_id, {"agent_id": agent["id"]})
        assert task_states(dag_run)[task_id] == "failed"
        assert "did not finish within 0.3 s (last status: running)" in _task_logs(capfd, caplog)
        assert len(_posts(kapso_server)) == 1
        _check_requests(kapso_server)


class TestRunFlow:
    @pytest.mark.parametrize("mode", MODES)
    def test_success(
        self, mode: str, run_dag: Any, kapso_server: KapsoServer, trigger_events: list[dict[str, Any]]
    ) -> None:
        agents = kapso_server.simulator.agents
        flow = agents.add_flow()
        agents.flow_status_sequence = ("waiting", "running", "ended")
        agents.flow_execution_visible_after = 1  # queued: the first list does not show it yet
        dag_run = _run(run_dag, "kapso_test_run_flow", mode, {"flow_id": flow["id"]})

        assert str(dag_run.state) == "success", task_states(dag_run)
        record = xcom_return_value(dag_run, mode)
        (execution,) = agents.flow_executions(flow["id"])
        (start,) = _posts(kapso_server)
        assert start.json == {
            "phone_number": PHONE,
            "variables": {"name": "Ada", "count": 3},
            "context": {"source": "kapso_test_run_flow"},
        }
        if mode == "no_wait":
            assert record == {
                "flow_id": flow["id"],
                "tracking_id": execution["tracking_id"],
                "message": "Flow execution queued",
            }
        else:
            assert record["id"] == execution["id"]
            assert record["status"] == "ended"
            assert record["variables"] == {"name": "Ada", "count": 3}
        assert [event["status"] for event in trigger_events] == (["completed"] if mode == "deferrable" else [])
        _check_requests(kapso_server)

    @pytest.mark.parametrize("mode", ["wait", "deferrable"])
    def test_failed_fails_without_retry(self, mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
        agents = kapso_server.simulator.agents
        flow = agents.add_flow()
        agents.flow_status_sequence = ("running", "failed")
        dag_run = _run(run_dag, "kapso_test_run_flow", mode, {"flow_id": flow["id"]})
        ti = dag_run.get_task_instance(mode)
        assert str(ti.state) == "failed"
        assert len(_posts(kapso_server)) == 1
        _check_requests(kapso_server)

    def test_flow_that_cannot_run_fails_with_kapsos_text(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        flow = kapso_server.simulator.agents.add_flow(status="draft")
        dag_run = _run(run_dag, "kapso_test_run_flow", "wait", {"flow_id": flow["id"]})
        assert task_states(dag_run)["wait"] == "failed"
        assert kapso_server.simulator.agents.flow_executions() == []


class TestRetry:
    def test_agent_retry_continues_the_earlier_execution(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        agents = kapso_server.simulator.agents
        agent = agents.add_agent()
        agents.agent_status_sequence = ("running", "ended")
        # Another customer's execution of the same agent, in the same time window, must not pass for the
        # earlier try's.
        with closing(KapsoHook()) as hook:
            other = hook.start_agent_execution(agent["id"], message="Hello", phone_number="+15550000000")
        # Kapso stores the first try's start, and its answer is lost: the try fails.
        kapso_server.simulator.add_fault("drop_after_store", method="POST", path=r"/executions$")
        dag_run = _run(run_dag, "kapso_test_run_retry", "agent_with_phone", {"agent_id": agent["id"]})

        assert task_states(dag_run)["agent_with_phone"] == "success"
        assert dag_run.get_task_instance("agent_with_phone").try_number == 2
        executions = [e for e in agents.agent_executions(agent["id"]) if e["id"] != other["id"]]
        (execution,) = executions  # one start although the task ran twice
        record = xcom_return_value(dag_run, "agent_with_phone")
        assert record["id"] == execution["id"]
        assert record["status"] == "ended"
        lookups = [r for r in kapso_server.simulator.requests if "q[phone_number_eq]" in r.query]
        assert [r.query["q[phone_number_eq]"] for r in lookups] == ["15551234567"]
        _check_requests(kapso_server)

    @pytest.mark.parametrize("task_id", ["agent_without_phone", "flow"])
    def test_retry_without_a_way_to_find_it_starts_again(
        self, task_id: str, run_dag: Any, kapso_server: KapsoServer
    ) -> None:
        agents = kapso_server.simulator.agents
        agent, flow = agents.add_agent(), agents.add_flow()
        agents.agent_status_sequence = ("ended",)
        agents.flow_status_sequence = ("ended",)
        kapso_server.simulator.add_fault("drop_after_store", method="POST", path=r"/executions$")
        dag_run = _run(run_dag, "kapso_test_run_retry", task_id, {"agent_id": agent["id"], "flow_id": flow["id"]})
        assert task_states(dag_run)[task_id] == "success"
        assert dag_run.get_task_instance(task_id).try_number == 2
        # Nothing ties an agent execution without a phone number, or any flow execution, to this task.
        assert len(_posts(kapso_server)) == 2
        _check_requests(kapso_server)


class TestArguments:
    @pytest.mark.parametrize("task_id", ["blank_message", "bad_config_id", "bad_flow_id", "bad_phone", "bad_variables"])
    def test_invalid_after_render_fails_before_any_request(
        self, task_id: str, run_dag: Any, kapso_server: KapsoServer
    ) -> None:
        dag_run = _run(run_dag, "kapso_test_run_invalid", task_id, {})
        ti = dag_run.get_task_instance(task_id)
        assert str(ti.state) == "failed"
        assert ti.try_number == 1  # AirflowFailException: no retry, although the task allows three
        assert kapso_server.simulator.requests == []

    @pytest.mark.parametrize(
        ("make", "field_name"),
        [
            (lambda: KapsoRunAgentOperator(task_id="t", agent_id="a", message="m", poll_interval=0), "poll_interval"),
            (lambda: KapsoRunAgentOperator(task_id="t", agent_id="a", message="m", timeout=-1), "timeout"),
            (
                lambda: KapsoRunFlowOperator(task_id="t", flow_id="f", phone_number=PHONE, poll_interval="5"),  # type: ignore[arg-type]
                "poll_interval",
            ),
        ],
    )
    def test_bad_wait_settings_fail_at_parse(self, make: Any, field_name: str) -> None:
        with pytest.raises(KapsoArgumentError, match=f"^{field_name}:"):
            make()

    @pytest.mark.parametrize("operator", [KapsoRunAgentOperator, KapsoRunFlowOperator])
    def test_constructor_is_keyword_only(self, operator: type) -> None:
        from airflow.providers.common.compat.sdk import AirflowException

        # Airflow 2.11 reports positional arguments itself, before the signature is applied.
        with pytest.raises((TypeError, AirflowException)):
            operator("t")

    @pytest.mark.parametrize(
        ("operator", "arguments"),
        [
            (KapsoRunAgentOperator, {"kapso_conn_id", "agent_id", "message", "phone_number", "whatsapp_config_id"}),
            (
                KapsoRunFlowOperator,
                {"kapso_conn_id", "flow_id", "phone_number", "variables", "execution_context", "whatsapp_config_id"},
            ),
        ],
    )
    def test_every_data_argument_is_templated(self, operator: Any, arguments: set[str]) -> None:
        assert set(operator.template_fields) == arguments
        assert tuple(operator.template_ext) == ()


class TestExampleDags:
    @pytest.fixture
    def fast_examples(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The example DAGs with their polls cut to a hundredth of a second, for this test only."""
        for dag_id in ("kapso_agents", "kapso_flows"):
            for task in get_dag(dag_id).tasks:
                monkeypatch.setattr(task, "poll_interval", 0.01)

    def test_agents_example(self, run_dag: Any, kapso_server: KapsoServer, fast_examples: None) -> None:
        agents = kapso_server.simulator.agents
        agent = agents.add_agent()
        agents.agent_status_sequence = ("running", "ended")
        dag_run = run_dag("kapso_agents", run_conf={"agent_id": agent["id"]})
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert xcom_return_value(dag_run, "qualify_lead")["status"] == "ended"
        assert xcom_return_value(dag_run, "follow_up_deferred")["status"] == "ended"
        assert xcom_return_value(dag_run, "start_agent")["status"] == "started"
        assert [post.json["message"] for post in _posts(kapso_server)] == [
            "A customer asked about order A-1042; find out what they need.",
            {"type": "user_input", "content": {"text": "Follow up on order A-1042"}},
            "Say hello to the new customer.",
        ]
        _check_requests(kapso_server)

    def test_flows_example(self, run_dag: Any, kapso_server: KapsoServer, fast_examples: None) -> None:
        agents = kapso_server.simulator.agents
        flow = agents.add_flow()
        agents.flow_status_sequence = ("waiting", "ended")
        dag_run = run_dag("kapso_flows", run_conf={"flow_id": flow["id"]})
        assert str(dag_run.state) == "success", task_states(dag_run)
        first, second = _posts(kapso_server)
        assert first.json["variables"]["name"] == "Ada"
        assert first.json["context"]["source"] == "airflow"
        assert second.json["variables"] == {"onboarded": "ended"}
        assert xcom_return_value(dag_run, "run_survey_flow_deferred")["status"] == "ended"
        _check_requests(kapso_server)
