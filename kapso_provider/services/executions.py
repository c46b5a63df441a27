"""An agent or flow execution started from one task, then waited for in the worker (or handed to a trigger).

:class:`~kapso_provider.operators.kapso.KapsoRunAgentOperator` and
:class:`~kapso_provider.operators.kapso.KapsoRunFlowOperator` are the Airflow faces of this module. Each kind
of execution is an immutable description (:class:`AgentExecution`, :class:`FlowExecution`) built from
checked arguments; :func:`run` starts it (or, on a task retry, finds the one an earlier try started) and
waits; :class:`Progress` is where a run stands, which a deferred wait carries to the triggerer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from kapso_provider.api.v1.agents import agent_message, check_flow_phone_number
from kapso_provider.arguments import WaitSettings, plain_json
from kapso_provider.exceptions import KapsoArgumentError, KapsoRunError
from kapso_provider.utils.executions import execution_outcome
from kapso_provider.validation import require_text, require_uuid

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.transport.policy import WarningLog

__all__ = [
    "EXECUTIONS",
    "AgentExecution",
    "AgentRun",
    "Execution",
    "FlowExecution",
    "Progress",
    "WaitSettings",
    "finished",
    "run",
    "timeout_error",
]

# How much of Kapso's record a failure message quotes: enough for its status and error fields.
_RECORD_TEXT_LIMIT = 1000


def _record_text(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return text if len(text) <= _RECORD_TEXT_LIMIT else text[: _RECORD_TEXT_LIMIT - 3] + "..."


@dataclass(frozen=True)
class Progress:
    """Where a run stands: what the start answered and the execution's record as last read.

    :param answer: what the start answered (or the execution an earlier try started), returned when the
        task does not wait.
    :param record: the execution's record as last read; ``None`` while Kapso does not list it yet.
    :param started_after: Kapso's time before the start, where a flow execution's search begins.
    :param deadline: when waiting ends, in seconds since the epoch; ``None`` for no end.
    """

    answer: dict[str, Any]
    record: dict[str, Any] | None
    started_after: str | None = None
    deadline: float | None = None

    @property
    def last_status(self) -> str | None:
        """The execution's status as last read."""
        return None if self.record is None else self.record.get("status")


class Execution(Protocol):
    """What :func:`run` needs of a kind of execution."""

    kind: ClassVar[str]

    def start(self, hook: KapsoHook, log: WarningLog, *, earlier_try_since: datetime | None) -> Progress:
        """Start the execution, or find the one an earlier try started."""

    def read(self, hook: KapsoHook, log: WarningLog, progress: Progress) -> Progress:
        """Read the execution (again)."""

    def name(self, progress: Progress) -> str:
        """How log lines and errors name the execution."""

    def trigger_arguments(self, progress: Progress) -> dict[str, Any]:
        """What the kind's trigger needs to go on waiting from ``progress`` in the triggerer."""


def finished(kind: str, name: str, record: Mapping[str, Any]) -> bool:
    """Whether the execution completed; ``False`` while it runs.

    :raises KapsoRunError: final, when it failed (another try would start or find the same failed work).
    """
    outcome = execution_outcome(kind, record)
    if outcome == "failed":
        raise KapsoRunError(
            f"Kapso {kind} execution {name} finished with status {record.get('status')!r}. "
            f"Kapso's record: {_record_text(record)}",
            final=True,
        )
    return outcome == "completed"


def timeout_error(kind: str, name: str, timeout: float | None, last_status: str | None) -> KapsoRunError:
    """The error of a wait that ran out of time: not final, a retry finds the execution and waits on."""
    return KapsoRunError(
        f"Kapso {kind} execution {name} did not finish within {timeout or 0:g} s "
        f"(last status: {last_status or 'not seen yet'}); raise timeout to wait longer.",
        final=False,
    )


def run(
    hook: KapsoHook,
    log: WarningLog,
    execution: Execution,
    settings: WaitSettings,
    *,
    earlier_try_since: datetime | None = None,
    wait: bool = True,
    poll: bool = True,
) -> tuple[dict[str, Any] | None, Progress]:
    """Start ``execution`` and wait for its outcome as asked.

    :param earlier_try_since: on a task retry, when its DAG run started.
    :param wait: wait for a final status; without, the start's answer is the result.
    :param poll: wait here, reading every ``poll_interval``; without, look once and hand the rest back.
    :returns: the result as plain JSON (the final record, or the start's answer without ``wait``), or
        ``None`` when the execution still runs and ``poll`` was off; and where the run stands.
    :raises KapsoRunError: final when the execution failed; not final when it outlived the timeout.
    """
    begun = time.time()
    progress = execution.start(hook, log, earlier_try_since=earlier_try_since)
    if not wait:
        return plain_json(progress.answer), progress
    progress = replace(progress, deadline=None if settings.timeout is None else begun + settings.timeout)
    if progress.record is None:
        progress = execution.read(hook, log, progress)
    while True:
        name = execution.name(progress)
        if progress.record is not None:
            if finished(execution.kind, name, progress.record):
                log.info("Kapso %s execution %s finished with status %s", execution.kind, name, progress.last_status)
                return plain_json(progress.record), progress
            log.info("Kapso %s execution %s is %s; waiting", execution.kind, name, progress.last_status)
        if not poll:
            # Looked once: a quick execution never reaches the triggerer.
            return None, progress
        if progress.deadline is not None and time.time() >= progress.deadline:
            raise timeout_error(execution.kind, name, settings.timeout, progress.last_status)
        remaining = None if progress.deadline is None else max(0.0, progress.deadline - time.time())
        time.sleep(settings.poll_interval if remaining is None else min(settings.poll_interval, remaining))
        progress = execution.read(hook, log, progress)


# -- agents ------------------------------------------------------------------------------------------------


def agent_start_message(value: object) -> str | dict[str, Any]:
    """The first message of an agent execution, checked: text, or ``{"type": ..., "content": {...}}``.

    A Jinja template renders to text unless the DAG renders native objects: JSON text of a structured
    message is taken as that message, and any other text as the text to send.

    :raises KapsoArgumentError: naming ``message``.
    """
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and parsed and set(parsed) <= {"type", "content"}:
            value = parsed
    return agent_message(value)


@dataclass(frozen=True)
class AgentExecution:
    """An execution of a Kapso AI agent, final when ``ended`` or ``handoff``.

    :param agent_id: the agent's id.
    :param message: the first message, checked (see :func:`agent_start_message`).
    :param phone_number: the WhatsApp number the agent talks to; what ties an execution to a task retry.
    :param whatsapp_config_id: the WhatsApp number (config UUID) to talk from.
    """

    kind: ClassVar[str] = "agent"
    agent_id: str
    message: str | dict[str, Any]
    phone_number: str | None = None
    whatsapp_config_id: str | None = None

    @classmethod
    def checked(
        cls, *, agent_id: object, message: object, phone_number: object, whatsapp_config_id: object
    ) -> AgentExecution:
        """The execution from rendered operator arguments.

        :raises KapsoArgumentError: naming the first argument at fault.
        """
        return cls(
            agent_id=require_text("agent_id", agent_id),
            message=agent_start_message(message),
            phone_number=None if phone_number is None else require_text("phone_number", phone_number),
            # Declared format: uuid in openapi-agents.yaml.
            whatsapp_config_id=None
            if whatsapp_config_id is None
            else require_uuid("whatsapp_config_id", whatsapp_config_id),
        )

    def _earlier(self, hook: KapsoHook, log: WarningLog, since: datetime | None) -> dict[str, Any] | None:
        if since is None:
            return None
        if self.phone_number is None:
            log.warning("Without phone_number no execution can be tied to this task; starting a new one")
            return None
        found: dict[str, Any] | None = hook.find_agent_execution(
            self.agent_id, phone_number=self.phone_number, since=since
        )
        if found is not None:
            log.info(
                "Continuing with execution %s of agent %s that an earlier try started", found.get("id"), self.agent_id
            )
        return found

    def start(self, hook: KapsoHook, log: WarningLog, *, earlier_try_since: datetime | None) -> Progress:
        record = self._earlier(hook, log, earlier_try_since)
        if record is None:
            record = hook.start_agent_execution(
                self.agent_id,
                message=self.message,
                phone_number=self.phone_number,
                whatsapp_config_id=self.whatsapp_config_id,
            )
            log.info(
                "Kapso started execution %s of agent %s (status %s)",
                record.get("id"),
                self.agent_id,
                record.get("status"),
            )
        # The start answers the execution's record: that is the first look.
        return Progress(answer=record, record=record)

    def read(self, hook: KapsoHook, log: WarningLog, progress: Progress) -> Progress:
        return replace(progress, record=hook.get_agent_execution(self.agent_id, str(progress.answer["id"])))

    def name(self, progress: Progress) -> str:
        return str(progress.answer.get("id"))

    def trigger_arguments(self, progress: Progress) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "execution_id": str(progress.answer["id"])}


# -- agent runs (current API) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentRun:
    """A run of a Kapso agent mode (the current API's Kapso agent), final when ``completed``; ``failed`` and
    ``cancelled`` are failures; ``paused`` and ``waiting_for_approval`` (a tool call a person must approve)
    keep it waiting.

    Kapso reads a run by its id only (no listing), so nothing finds the run an earlier try of a task started:
    a task retry starts a new run.

    :param mode: the agent mode's slug.
    :param prompt: what to ask.
    :param session_id: continue this session (``conversation_id`` of an earlier run of the same key and mode).
    :param metadata: data kept on the run and echoed in Kapso's ``kapso_agent.run.*`` webhooks.
    """

    kind: ClassVar[str] = "agent_run"
    mode: str
    prompt: str
    session_id: str | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def checked(cls, *, mode: object, message: object, session_id: object, metadata: object) -> AgentRun:
        """The run from rendered operator arguments.

        :raises KapsoArgumentError: naming the first argument at fault.
        """
        if not isinstance(message, str):
            raise KapsoArgumentError("message: an agent run's prompt is text (a structured message is API v1's)")
        return cls(
            mode=require_text("mode", mode),
            prompt=require_text("message", message),
            session_id=None if session_id in (None, "") else require_uuid("session_id", session_id),
            metadata=json_object("metadata", metadata),
        )

    def start(self, hook: KapsoHook, log: WarningLog, *, earlier_try_since: datetime | None) -> Progress:
        if earlier_try_since is not None:
            log.warning("Kapso's agent runs cannot be tied to an earlier try; starting a new run")
        record = hook.start_agent_run(
            mode=self.mode, prompt=self.prompt, session_id=self.session_id, metadata=self.metadata
        )
        run_id, status = record.get("run_id"), record.get("status")
        log.info("Kapso started run %s of agent mode %s (status %s)", run_id, self.mode, status)
        # The start answers the run: that is the first look.
        return Progress(answer=record, record=record)

    def read(self, hook: KapsoHook, log: WarningLog, progress: Progress) -> Progress:
        return replace(progress, record=hook.get_agent_run(str(progress.answer["run_id"])))

    def name(self, progress: Progress) -> str:
        return str(progress.answer.get("run_id"))

    def trigger_arguments(self, progress: Progress) -> dict[str, Any]:
        return {"run_id": str(progress.answer["run_id"])}


# -- flows -------------------------------------------------------------------------------------------------


def json_object(name: str, value: object) -> dict[str, Any] | None:
    """A mapping argument as plain JSON, or ``None``; JSON text (what a template renders to) is read.

    :raises KapsoArgumentError: naming ``name``.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise KapsoArgumentError(
                f"{name}: rendered to text that is not JSON; pass a mapping, or set "
                "render_template_as_native_obj=True on the DAG."
            ) from None
    if value is not None and not isinstance(value, Mapping):
        raise KapsoArgumentError(f"{name}: must be a mapping, got {type(value).__name__}.")
    return None if value is None else plain_json(dict(value))  # type: ignore[no-any-return]


def _kapso_time_before(hook: KapsoHook, moment: datetime) -> str:
    """The earliest time Kapso's clock can show for this machine's ``moment``, for a ``q[..._gteq]`` filter."""
    from kapso_provider.transport.flows import FlowContext
    from kapso_provider.transport.sending import window_start

    context = FlowContext(policy=hook.retry_policy, log=hook.log, clock=hook.clock)
    return window_start(context, moment).isoformat()


@dataclass(frozen=True)
class FlowExecution:
    """An execution of a Kapso flow for one customer, final when ``ended``.

    Kapso queues the start and answers a ``tracking_id``; the execution carrying it is found among the
    flow's executions. A flow execution records nothing the start sent that would tie it to a task, so a
    task retry starts a new one.

    :param flow_id: the flow's id (a UUID).
    :param phone_number: the customer's number, ``+`` and digits.
    :param variables: variables to pass to the flow.
    :param context: additional context for the execution.
    :param whatsapp_config_id: the WhatsApp number (config UUID) to run on.
    """

    kind: ClassVar[str] = "flow"
    flow_id: str
    phone_number: str
    variables: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    whatsapp_config_id: str | None = None

    @classmethod
    def checked(
        cls,
        *,
        flow_id: object,
        phone_number: object,
        variables: object,
        execution_context: object,
        whatsapp_config_id: object,
    ) -> FlowExecution:
        """The execution from rendered operator arguments.

        :param execution_context: the ``context`` argument of the operator (kept under this name there, so
            that it does not shadow the task context).
        :raises KapsoArgumentError: naming the first argument at fault.
        """
        return cls(
            flow_id=require_uuid("flow_id", flow_id),
            phone_number=check_flow_phone_number(phone_number),
            variables=json_object("variables", variables),
            context=json_object("context", execution_context),
            whatsapp_config_id=None
            if whatsapp_config_id is None
            else require_uuid("whatsapp_config_id", whatsapp_config_id),
        )

    def start(self, hook: KapsoHook, log: WarningLog, *, earlier_try_since: datetime | None) -> Progress:
        if earlier_try_since is not None:
            log.warning("Kapso's flow executions cannot be tied to an earlier try; starting a new execution")
        begun = datetime.now(UTC)
        answer = hook.start_flow_execution(
            self.flow_id,
            phone_number=self.phone_number,
            variables=self.variables,
            context=self.context,
            whatsapp_config_id=self.whatsapp_config_id,
        )
        log.info("Kapso queued flow %s (tracking id %s)", self.flow_id, answer.get("tracking_id"))
        # Placed after the start's answer, whose Date header tells Kapso's clock.
        return Progress(answer=answer, record=None, started_after=_kapso_time_before(hook, begun))

    def read(self, hook: KapsoHook, log: WarningLog, progress: Progress) -> Progress:
        if progress.record is not None:
            return replace(progress, record=hook.get_flow_execution(str(progress.record["id"])))
        tracking_id = str(progress.answer["tracking_id"])
        found = hook.find_flow_execution(self.flow_id, tracking_id, started_after=progress.started_after)
        if found is None:
            log.info("Kapso flow execution %s is queued; not listed yet", tracking_id)
            return progress
        return replace(progress, record=found)

    def name(self, progress: Progress) -> str:
        return str(progress.record.get("id") if progress.record is not None else progress.answer.get("tracking_id"))

    def trigger_arguments(self, progress: Progress) -> dict[str, Any]:
        return {
            "flow_id": self.flow_id,
            "tracking_id": str(progress.answer["tracking_id"]),
            "execution_id": None if progress.record is None else str(progress.record["id"]),
            "started_after": progress.started_after,
        }


#: Each kind of execution by its name, as the operators and triggers call it.
EXECUTIONS: dict[str, type[AgentExecution] | type[AgentRun] | type[FlowExecution]] = {
    "agent": AgentExecution,
    "agent_run": AgentRun,
    "flow": FlowExecution,
}
