"""Current API: Kapso agent runs (``openapi-kapso-agent.yaml``, below ``/platform/v1/kapso-agent``).

A *run* asks an agent *mode* (built-in, or a custom mode whose ``available_invocations`` include ``api``)
to work on an input; Kapso answers 202 and the run moves through ``queued``, ``running``, maybe ``paused``
or ``waiting_for_approval`` (a tool call a person must approve or reject), to ``completed``, ``failed`` or
``cancelled``. Runs of one *session* (``conversation_id``) continue each other. Only runs created with the
same API key can be read. API v1's agents, flows and their executions have no counterpart here (they stay
v1-only); these endpoints are current-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kapso_provider.api.current._wire import platform_path
from kapso_provider.transport.flows import Call, data_object
from kapso_provider.transport.wire import Request
from kapso_provider.validation import check_text, is_uuid, raise_problems, require_uuid

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "approve_agent_run",
    "cancel_agent_run",
    "get_agent_run",
    "pause_agent_run",
    "reject_agent_run",
    "resume_agent_run",
    "start_agent_run",
)

#: ``RunStatus`` of the file.
RUN_STATUSES = ("queued", "running", "paused", "waiting_for_approval", "completed", "failed", "cancelled")
#: Statuses after which a run changes no more; only ``completed`` is a success.
FINAL_RUN_STATUSES = frozenset({"completed", "failed", "cancelled"})
#: Statuses in which a run waits for someone: resumed, or a tool call approved or rejected.
WAITING_RUN_STATUSES = frozenset({"paused", "waiting_for_approval"})


def _runs_path(run_id: str | None = None, *rest: tuple[str, str] | str) -> str:
    if run_id is None:
        return platform_path("kapso-agent", "runs")
    return platform_path("kapso-agent", "runs", ("run_id", require_uuid("run_id", run_id)), *rest)


def start_agent_run(
    *,
    mode: str,
    prompt: str | None = None,
    finding_id: str | None = None,
    session_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Start a run of an agent mode (``POST /kapso-agent/runs``, answered 202) and return the run.

    A start is a write that no request can make idempotent: a failure after which Kapso may have acted is
    not retried. Give ``metadata`` a value of your own (e.g. the Airflow run id) to recognise the run in the
    ``kapso_agent.run.*`` webhooks.

    :param mode: the mode's slug (one whose ``available_invocations`` include ``api``).
    :param prompt: what to ask; the generic trigger requires it.
    :param finding_id: the finding to investigate (the ``findings-investigator`` mode requires it; a UUID).
    :param session_id: continue this session (its ``conversation_id``, created with the same key and mode).
    :param metadata: data stored on the run and echoed in webhooks.
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    problems: list[str] = []
    check_text(problems, "mode", mode, required=True)
    check_text(problems, "prompt", prompt)
    if finding_id is not None and not is_uuid(finding_id):
        problems.append(f"finding_id: must be a UUID (Kapso's id of the finding), got {finding_id!r}")
    if session_id is not None and not is_uuid(session_id):
        problems.append(f"session_id: must be a UUID (the session's conversation_id), got {session_id!r}")
    if prompt is None and finding_id is None:
        problems.append("prompt: give the prompt (or finding_id for the findings-investigator mode)")
    if metadata is not None and not isinstance(metadata, Mapping):
        problems.append(f"metadata: must be an object (a mapping), got {type(metadata).__name__}")
    raise_problems(problems)
    run_input = {key: value for key, value in (("prompt", prompt), ("finding_id", finding_id)) if value is not None}
    body: dict[str, Any] = {"mode": mode, "input": run_input}
    if session_id is not None:
        body["conversation_id"] = session_id
    if metadata is not None:
        body["metadata"] = dict(metadata)
    return Call(Request("POST", _runs_path(), json=body), data_object)


def get_agent_run(run_id: str) -> Call[dict[str, Any]]:
    """Return a run: ``status``, ``result`` (when completed: ``content`` of the agent's answer, or ``data``),
    ``error_message``, ``pending_approval`` (while ``waiting_for_approval``) and the ``*_at`` times.

    :param run_id: the run's id (a UUID), as the start returned it (``run_id``).
    """
    return Call(Request("GET", _runs_path(run_id)), data_object)


def _control(run_id: str, action: str) -> Call[dict[str, Any]]:
    # Kapso answers 409 when the run is not in a state the action applies to; not retried after an ambiguous
    # failure, since a repeat of a transition that happened answers that 409.
    return Call(Request("POST", _runs_path(run_id, action)), data_object)


def pause_agent_run(run_id: str) -> Call[dict[str, Any]]:
    """Pause a running run (409 when it cannot be paused); returns the run.

    :param run_id: the run's id (a UUID).
    """
    return _control(run_id, "pause")


def resume_agent_run(run_id: str) -> Call[dict[str, Any]]:
    """Resume a paused run (409 when it is not paused); returns the run.

    :param run_id: the run's id (a UUID).
    """
    return _control(run_id, "resume")


def cancel_agent_run(run_id: str) -> Call[dict[str, Any]]:
    """Cancel a run that has not finished (409 once it has); returns the run.

    :param run_id: the run's id (a UUID).
    """
    return _control(run_id, "cancel")


def _approval(run_id: str, approval_id: str, decision: str) -> Call[dict[str, Any]]:
    approval = ("approval_id", require_uuid("approval_id", approval_id))
    return Call(Request("POST", _runs_path(run_id, "approvals", approval, decision)), data_object)


def approve_agent_run(run_id: str, approval_id: str) -> Call[dict[str, Any]]:
    """Approve the tool call a run waits for (its ``pending_approval.id``); returns the run.

    :param run_id: the run's id (a UUID).
    :param approval_id: the pending approval's id (a UUID).
    """
    return _approval(run_id, approval_id, "approve")


def reject_agent_run(run_id: str, approval_id: str) -> Call[dict[str, Any]]:
    """Reject the tool call a run waits for (its ``pending_approval.id``); returns the run.

    :param run_id: the run's id (a UUID).
    :param approval_id: the pending approval's id (a UUID).
    """
    return _approval(run_id, approval_id, "reject")


def run_outcome(record: Mapping[str, Any]) -> str:
    """``completed``, ``failed`` (``failed`` or ``cancelled``) or ``running`` (any other status).

    :param record: a run record.
    """
    status = record.get("status")
    if status == "completed":
        return "completed"
    if status in FINAL_RUN_STATUSES:
        return "failed"
    return "running"
