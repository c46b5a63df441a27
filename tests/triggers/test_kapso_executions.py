"""The agent and flow execution triggers against the simulator: one event, serialized form, 429s, reads only."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import closing
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.triggers.executions import ExecutionTriggerArguments, _KapsoExecutionTrigger
from kapso_provider.triggers.kapso import KapsoAgentExecutionTrigger, KapsoAgentRunTrigger, KapsoFlowExecutionTrigger
from tests._openapi import SPEC_FILES, assert_requests_valid, assert_valid_request
from tests._triggers import rebuilt
from tests._typed import keyword_parameters, typed_arguments

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"


def _events(trigger: BaseTrigger) -> list[dict[str, Any]]:
    """Every event the trigger yields (it must yield exactly one), as the triggerer would see them."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def _only_valid_reads(kapso_server: KapsoServer, *, setup_posts: int) -> None:
    requests = kapso_server.simulator.requests
    # The setup's start(s) came first; after that a trigger only ever reads.
    assert {r.method for r in requests[setup_posts:]} == {"GET"}
    for request in requests:
        assert_valid_request(request.method, request.path, request.query, request.json, files=SPEC_FILES)


def _agent_execution(kapso_server: KapsoServer, sequence: tuple[str, ...]) -> dict[str, Any]:
    from kapso_provider.hooks.kapso import KapsoHook

    agents = kapso_server.simulator.agents
    agent = agents.add_agent()
    agents.agent_status_sequence = sequence
    with closing(KapsoHook()) as hook:
        return hook.start_agent_execution(agent["id"], message="Where is my parcel?", phone_number=PHONE)


def _flow_start(kapso_server: KapsoServer, sequence: tuple[str, ...], hidden_reads: int = 0) -> dict[str, Any]:
    from kapso_provider.hooks.kapso import KapsoHook

    agents = kapso_server.simulator.agents
    flow = agents.add_flow()
    agents.flow_status_sequence = sequence
    agents.flow_execution_visible_after = hidden_reads
    with closing(KapsoHook()) as hook:
        return dict(hook.start_flow_execution(flow["id"], phone_number=PHONE))


def test_the_typed_trigger_arguments_are_the_execution_base_s() -> None:
    """What a type checker reads for the three execution triggers is what their shared base takes."""
    assert typed_arguments(ExecutionTriggerArguments) == keyword_parameters(_KapsoExecutionTrigger.__init__)


class TestSerialize:
    @pytest.mark.parametrize("deadline", [None, 1_900_000_000.5])
    def test_agent_round_trip(self, deadline: float | None, kapso_server: KapsoServer) -> None:
        trigger = KapsoAgentExecutionTrigger(
            agent_id="a-1", execution_id="e-1", kapso_conn_id="kapso_other", poll_interval=5, deadline=deadline
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "kapso_provider.triggers.kapso.KapsoAgentExecutionTrigger"
        assert kwargs == {
            "agent_id": "a-1",
            "execution_id": "e-1",
            "kapso_conn_id": "kapso_other",
            "poll_interval": 5.0,
            "deadline": deadline,
            "last_status": None,
        }
        assert rebuilt(trigger).serialize() == (classpath, kwargs)
        assert kapso_server.api_key not in json.dumps(kwargs)

    def test_flow_round_trip(self) -> None:
        trigger = KapsoFlowExecutionTrigger(
            flow_id="f", tracking_id="t", started_after="2026-01-01T00:00:00+00:00", last_status="running"
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "kapso_provider.triggers.kapso.KapsoFlowExecutionTrigger"
        assert json.loads(json.dumps(kwargs)) == kwargs
        assert all(value is None or isinstance(value, str | int | float) for value in kwargs.values())
        assert rebuilt(trigger).serialize() == (classpath, kwargs)

    @pytest.mark.parametrize(
        ("make", "field_name"),
        [
            (lambda: KapsoAgentExecutionTrigger(agent_id="a", execution_id="e", poll_interval=0), "poll_interval"),
            (lambda: KapsoFlowExecutionTrigger(flow_id="f"), "tracking_id"),
        ],
    )
    def test_bad_arguments_name_the_field(self, make: Any, field_name: str) -> None:
        with pytest.raises(ValueError, match=f"^{field_name}:"):
            make()


@pytest.mark.parametrize(
    ("sequence", "expected", "last_status"),
    [
        (("running", "ended"), "completed", "ended"),
        (("running", "paused", "running", "handoff"), "completed", "handoff"),
        (("failed",), "failed", "failed"),
        (("running", "stopped"), "failed", "stopped"),
    ],
)
def test_agent_execution_outcomes(
    sequence: tuple[str, ...], expected: str, last_status: str, kapso_server: KapsoServer
) -> None:
    started = _agent_execution(kapso_server, sequence)
    trigger = KapsoAgentExecutionTrigger(agent_id=started["agent_id"], execution_id=started["id"], poll_interval=0.01)

    (event,) = _events(rebuilt(trigger))

    assert event["status"] == expected
    assert event["last_status"] == last_status
    assert event["execution"]["id"] == started["id"]
    assert event["kind"] == "agent"
    assert (event["agent_id"], event["execution_id"]) == (started["agent_id"], started["id"])
    assert json.loads(json.dumps(event)) == event
    # One read per step until the final one.
    reads = [r for r in kapso_server.simulator.requests if r.method == "GET"]
    assert len(reads) == len(sequence)
    _only_valid_reads(kapso_server, setup_posts=1)


@pytest.mark.parametrize(
    ("steps", "expected", "last_status"),
    [(("running", "completed"), "completed", "completed"), (("running", "failed"), "failed", "failed")],
)
def test_agent_run_outcomes(
    steps: tuple[str, ...], expected: str, last_status: str, kapso_current_server: KapsoServer
) -> None:
    simulator = kapso_current_server.simulator
    simulator.agent_runs.steps = steps
    from kapso_provider.hooks.kapso import KapsoHook

    with closing(KapsoHook()) as hook:
        started = hook.start_agent_run(mode="general", prompt="Summarise")
    trigger = KapsoAgentRunTrigger(run_id=started["run_id"], poll_interval=0.01)
    assert trigger.serialize()[0] == "kapso_provider.triggers.kapso.KapsoAgentRunTrigger"

    (event,) = _events(rebuilt(trigger))

    assert (event["status"], event["last_status"], event["kind"]) == (expected, last_status, "agent_run")
    assert event["run_id"] == event["execution_id"] == started["run_id"]
    assert json.loads(json.dumps(event)) == event
    assert len([r for r in simulator.requests if r.method == "GET"]) == len(steps)
    assert_requests_valid(simulator.requests)


@pytest.mark.parametrize(
    ("sequence", "hidden_reads", "expected"),
    [(("running", "waiting", "ended"), 0, "completed"), (("failed",), 2, "failed"), (("ended",), 1, "completed")],
)
def test_flow_execution_found_by_tracking_id(
    sequence: tuple[str, ...], hidden_reads: int, expected: str, kapso_server: KapsoServer
) -> None:
    answer = _flow_start(kapso_server, sequence, hidden_reads)
    trigger = KapsoFlowExecutionTrigger(
        flow_id=answer["flow_id"],
        tracking_id=answer["tracking_id"],
        started_after="2020-01-01T00:00:00Z",
        poll_interval=0.01,
    )

    (event,) = _events(rebuilt(trigger))

    assert event["status"] == expected
    assert event["execution"]["tracking_id"] == answer["tracking_id"]
    assert event["execution_id"] == event["execution"]["id"]
    assert event["kind"] == "flow"
    # Listed until it appears, then read by id.
    paths = [r.path for r in kapso_server.simulator.requests if r.method == "GET"]
    assert paths[: hidden_reads + 1] == [f"/flows/{answer['flow_id']}/executions"] * (hidden_reads + 1)
    assert set(paths[hidden_reads + 1 :]) <= {f"/flow_executions/{event['execution_id']}"}
    _only_valid_reads(kapso_server, setup_posts=1)


def test_timeout_reports_the_last_status(kapso_server: KapsoServer) -> None:
    started = _agent_execution(kapso_server, ("running",))  # then stays running
    trigger = KapsoAgentExecutionTrigger(
        agent_id=started["agent_id"], execution_id=started["id"], poll_interval=0.05, deadline=time.time() + 0.3
    )
    (event,) = _events(trigger)
    assert event["status"] == "timeout"
    assert event["last_status"] == "running"
    _only_valid_reads(kapso_server, setup_posts=1)


def test_deadline_in_the_past_still_reads_once(kapso_server: KapsoServer) -> None:
    started = _agent_execution(kapso_server, ("ended",))
    trigger = KapsoAgentExecutionTrigger(
        agent_id=started["agent_id"], execution_id=started["id"], deadline=time.time() - 10
    )
    (event,) = _events(trigger)
    assert event["status"] == "completed"


@pytest.mark.parametrize("faults", [1, 5])
def test_rate_limits_only_slow_the_wait(faults: int, kapso_server: KapsoServer) -> None:
    """One 429 is waited out by the hook; five outlast its attempts, and the trigger reads again."""
    started = _agent_execution(kapso_server, ("ended",))
    simulator = kapso_server.simulator
    simulator.add_fault("rate_limit", method="GET", count=faults, retry_after=0)
    trigger = KapsoAgentExecutionTrigger(agent_id=started["agent_id"], execution_id=started["id"], poll_interval=0.01)

    (event,) = _events(trigger)

    assert event["status"] == "completed"
    assert simulator.faults == []
    _only_valid_reads(kapso_server, setup_posts=1)


@pytest.mark.parametrize("arrange", ["unknown_execution", "wrong_key"])
def test_errors_become_an_error_event(arrange: str, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    started = _agent_execution(kapso_server, ())
    execution_id = started["id"]
    if arrange == "unknown_execution":
        execution_id = "no-such-execution"
    else:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": kapso_server.base_url, "password": "wrong-key"}),
        )
    (event,) = _events(KapsoAgentExecutionTrigger(agent_id=started["agent_id"], execution_id=execution_id))
    assert event["status"] == "error"
    assert ("HTTP 404" if arrange == "unknown_execution" else "HTTP 401") in event["error"]
    assert kapso_server.api_key not in event["error"]
    _only_valid_reads(kapso_server, setup_posts=1)
