"""Current API: Kapso agent runs (start, poll, pause, resume, cancel, approve, reject), through the hook."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.api.current.agents import run_outcome
from kapso_provider.exceptions import KapsoArgumentError, KapsoConflictError, KapsoUnsupportedError

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator
    from tests.api.current.conftest import Refused


def test_a_run_starts_and_completes(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    run = hook.start_agent_run(mode="general", prompt="Summarise today's orders", metadata={"dag_run": "r1"})
    assert run["status"] == "queued"
    assert simulator.requests[0].json == {
        "mode": "general",
        "input": {"prompt": "Summarise today's orders"},
        "metadata": {"dag_run": "r1"},
    }
    seen = [hook.get_agent_run(run["run_id"])["status"] for _ in range(2)]
    assert seen == ["running", "completed"]
    assert run_outcome(hook.get_agent_run(run["run_id"])) == "completed"


def test_pause_resume_and_cancel(hook: KapsoHook) -> None:
    run = hook.start_agent_run(mode="general", prompt="Wait for me")
    assert hook.pause_agent_run(run["run_id"])["status"] == "paused"
    assert hook.resume_agent_run(run["run_id"])["status"] != "paused"
    cancelled = hook.cancel_agent_run(run["run_id"])
    assert (cancelled["status"], run_outcome(cancelled)) == ("cancelled", "failed")
    # Kapso's 409 for a transition the run's state does not allow.
    with pytest.raises(KapsoConflictError, match="HTTP 409"):
        hook.resume_agent_run(run["run_id"])


@pytest.mark.parametrize(("decision", "outcome"), [("approve_agent_run", "completed"), ("reject_agent_run", None)])
def test_a_tool_call_waits_for_a_decision(
    hook: KapsoHook, simulator: KapsoSimulator, decision: str, outcome: str | None
) -> None:
    simulator.agent_runs.steps = ["waiting_for_approval", "completed"]
    run = hook.start_agent_run(mode="general", prompt="Refund order 42")
    waiting = hook.get_agent_run(run["run_id"])
    assert (waiting["status"], run_outcome(waiting)) == ("waiting_for_approval", "running")
    approval_id = waiting["pending_approval"]["id"]
    decided = getattr(hook, decision)(run["run_id"], approval_id)
    assert decided["status"] == "running"
    assert simulator.requests[-1].path.endswith(f"/approvals/{approval_id}/{decision.split('_')[0]}")
    if outcome is not None:
        assert hook.get_agent_run(run["run_id"])["status"] == outcome


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda h: h.start_agent_run(mode="general"), KapsoArgumentError, r"^prompt: give the prompt"),
        (lambda h: h.start_agent_run(mode="", prompt="x"), KapsoArgumentError, r"^mode: must be a non-empty string"),
        (
            lambda h: h.start_agent_run(mode="general", prompt="x", session_id="s-1"),
            KapsoArgumentError,
            r"^session_id: must be a UUID",
        ),
        (lambda h: h.get_agent_run("run-1"), KapsoArgumentError, r"^run_id: must be a UUID"),
        (lambda h: h.approve_agent_run(str(uuid.uuid4()), "a-1"), KapsoArgumentError, r"^approval_id: must be a UUID"),
        (
            lambda h: h.start_agent_execution("agent-1", message="hi"),
            KapsoUnsupportedError,
            r"^start_agent_execution: Kapso's current API has no such operation; it exists only on Kapso's API v1",
        ),
    ],
)
def test_bad_arguments_fail_before_any_request(
    refused: Refused, call: Any, error: type[Exception], message: str
) -> None:
    refused(call, error, message)
