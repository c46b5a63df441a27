"""The triggers the agent and flow run operators defer to: one execution, until a final status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypedDict

from kapso_provider.exceptions import KapsoArgumentError, KapsoRateLimitError
from kapso_provider.triggers.base import KapsoPollingTrigger, Poll, State

if TYPE_CHECKING:
    from typing import Unpack

    from kapso_provider.hooks.kapso import KapsoAsyncHook

__all__ = [
    "ExecutionTriggerArguments",
    "KapsoAgentExecutionTrigger",
    "KapsoAgentRunTrigger",
    "KapsoFlowExecutionTrigger",
]


class ExecutionTriggerArguments(TypedDict, total=False):
    """What every execution trigger takes besides the ids it waits for; see ``_KapsoExecutionTrigger``."""

    kapso_conn_id: str
    poll_interval: float
    deadline: float | None
    last_status: str | None


class _KapsoExecutionTrigger(KapsoPollingTrigger[State]):
    """Polls one execution until a final status or the deadline, then yields exactly one event.

    The event is a dict of plain JSON values:

    - ``status``: ``completed``, ``failed`` (a final failure status such as ``failed`` or ``stopped``),
      ``timeout`` or ``error``;
    - ``execution``: the last execution record read, or ``None``;
    - ``last_status``: the execution's last status seen, or ``None``;
    - ``error``: for ``error``, what went wrong (Kapso's error text; never the API key);
    - ``kind``: ``agent`` or ``flow``, and the ids that were waited for.

    A 429 that outlasts the hook's own retries does not end the wait: the trigger waits ``Retry-After``
    (at least ``poll_interval``) and reads again, so a busy API key only slows the wait down.

    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp, or ``None`` for never.
    :param last_status: the status the operator saw before deferring, reported if no read succeeds.
    """

    kind: ClassVar[str]
    serialized_fields: ClassVar[tuple[str, ...]] = (*KapsoPollingTrigger.serialized_fields, "last_status")
    transient_errors: ClassVar[tuple[type[Exception], ...]] = (KapsoRateLimitError,)

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        poll_interval: float = 30.0,
        deadline: float | None = None,
        last_status: str | None = None,
    ) -> None:
        super().__init__(kapso_conn_id=kapso_conn_id, poll_interval=poll_interval, deadline=deadline)
        self.last_status = last_status

    def initial_report(self) -> dict[str, Any]:
        return {"execution": None, "last_status": self.last_status}

    def report(self, record: dict[str, Any]) -> Poll:
        """The outcome of one execution record read."""
        from kapso_provider.utils.executions import execution_outcome

        status = record.get("status")
        last_status = status if isinstance(status, str) else None
        outcome = execution_outcome(self.kind, record)
        if outcome == "running":
            self.log.info("Kapso %s execution %s is %s", self.kind, record.get("id"), last_status)
        return Poll(None if outcome == "running" else outcome, {"execution": record, "last_status": last_status})


class KapsoAgentExecutionTrigger(_KapsoExecutionTrigger[None]):
    """Waits for an agent execution to reach a final status: ``ended`` or ``handoff`` (completed),
    ``failed`` or ``stopped`` (failed). ``started``, ``running`` and ``paused`` keep it waiting.

    It reads ``GET /agents/{agent_id}/executions/{execution_id}`` only. Its one event is described in
    :class:`_KapsoExecutionTrigger`; it also carries ``agent_id`` and ``execution_id``.

    :param agent_id: the agent's id.
    :param execution_id: the execution's id.

    The other arguments, ``kapso_conn_id``, ``poll_interval``, ``deadline`` and ``last_status``, are every
    execution trigger's (:class:`_KapsoExecutionTrigger`).
    """

    kind = "agent"
    serialized_fields: ClassVar[tuple[str, ...]] = (
        "agent_id",
        "execution_id",
        *_KapsoExecutionTrigger.serialized_fields,
    )

    def __init__(self, *, agent_id: str, execution_id: str, **kwargs: Unpack[ExecutionTriggerArguments]) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.execution_id = execution_id

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "agent_id": self.agent_id, "execution_id": self.execution_id}

    async def poll(self, hook: KapsoAsyncHook, state: None) -> Poll:
        return self.report(await hook.get_agent_execution(self.agent_id, self.execution_id))


class KapsoAgentRunTrigger(_KapsoExecutionTrigger[None]):
    """Waits for a Kapso agent run (the current API) to reach a final status: ``completed``, or ``failed`` or
    ``cancelled`` (failed). ``queued``, ``running``, ``paused`` and ``waiting_for_approval`` keep it waiting.

    It reads ``GET /platform/v1/kapso-agent/runs/{run_id}`` only. Its one event is described in
    :class:`_KapsoExecutionTrigger`; it also carries ``run_id`` (as ``execution_id`` too).

    :param run_id: the run's id.
    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp, or ``None`` for never.
    :param last_status: the status the operator saw before deferring, reported if no read succeeds.
    """

    kind = "agent_run"
    serialized_fields: ClassVar[tuple[str, ...]] = ("run_id", *_KapsoExecutionTrigger.serialized_fields)

    def __init__(self, *, run_id: str, **kwargs: Unpack[ExecutionTriggerArguments]) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id

    def identity(self) -> dict[str, Any]:
        return {"kind": self.kind, "run_id": self.run_id, "execution_id": self.run_id}

    async def poll(self, hook: KapsoAsyncHook, state: None) -> Poll:
        return self.report(await hook.get_agent_run(self.run_id))


@dataclass
class _Found:
    """The execution id, once a flow execution started by tracking id has been listed."""

    execution_id: str | None


class KapsoFlowExecutionTrigger(_KapsoExecutionTrigger[_Found]):
    """Waits for a flow execution to reach a final status: ``ended`` (completed) or ``failed``.
    ``running`` and ``waiting`` keep it waiting.

    A flow start answers a ``tracking_id``, not an execution id, so when ``execution_id`` is unknown the
    trigger first lists the flow's executions started since ``started_after`` and picks the one carrying
    ``tracking_id`` (it may take a few reads to appear: Kapso queues the start); afterwards it reads
    ``GET /flow_executions/{id}``. Its one event also carries ``flow_id``, ``tracking_id``,
    ``started_after`` and ``execution_id``.

    :param flow_id: the flow's id.
    :param tracking_id: the ``tracking_id`` the start answered.
    :param execution_id: the execution's id when already known.
    :param started_after: ISO-8601 time before the start, to keep the list short.

    The other arguments, ``kapso_conn_id``, ``poll_interval``, ``deadline`` and ``last_status``, are every
    execution trigger's (:class:`_KapsoExecutionTrigger`).
    """

    kind = "flow"
    serialized_fields: ClassVar[tuple[str, ...]] = (
        "flow_id",
        "tracking_id",
        "execution_id",
        "started_after",
        *_KapsoExecutionTrigger.serialized_fields,
    )

    def __init__(
        self,
        *,
        flow_id: str,
        tracking_id: str | None = None,
        execution_id: str | None = None,
        started_after: str | None = None,
        **kwargs: Unpack[ExecutionTriggerArguments],
    ) -> None:
        super().__init__(**kwargs)
        if tracking_id is None and execution_id is None:
            raise KapsoArgumentError("tracking_id: give the start's tracking_id, or execution_id")
        self.flow_id = flow_id
        self.tracking_id = tracking_id
        self.execution_id = execution_id
        self.started_after = started_after

    def identity(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "flow_id": self.flow_id,
            "tracking_id": self.tracking_id,
            "started_after": self.started_after,
        }

    def initial_report(self) -> dict[str, Any]:
        return {**super().initial_report(), "execution_id": self.execution_id}

    def begin(self) -> _Found:
        return _Found(self.execution_id)

    async def poll(self, hook: KapsoAsyncHook, state: _Found) -> Poll:
        if state.execution_id is not None:
            return self.report(await hook.get_flow_execution(state.execution_id))
        assert self.tracking_id is not None  # the constructor refuses neither
        record = await hook.find_flow_execution(self.flow_id, self.tracking_id, started_after=self.started_after)
        if record is None:
            self.log.info("Kapso flow execution %s is queued; not listed yet", self.tracking_id)
            return Poll()
        state.execution_id = str(record["id"])
        found = self.report(record)
        found.report["execution_id"] = state.execution_id
        return found
