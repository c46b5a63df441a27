"""Operators that run a Kapso agent or flow and wait for its outcome (:mod:`kapso_provider.services.executions`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, conf

from kapso_provider.operators._base import KapsoBaseOperator, KapsoOperatorArguments

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from kapso_provider.arguments import WaitSettings
    from kapso_provider.services.executions import Execution, Progress


__all__ = ["KapsoRunAgentOperator", "KapsoRunFlowOperator", "RunExecutionArguments"]


# Extra time the triggerer grants a deferred wait beyond its own deadline, so that the trigger's timeout
# event (which names the last status) arrives before Airflow's generic deferral timeout.
_DEFERRAL_GRACE_SECONDS = 60.0


class RunExecutionArguments(KapsoOperatorArguments, total=False):
    """How an agent or flow operator waits, besides Airflow's arguments and the connection.

    See :class:`KapsoRunAgentOperator` for what each means.
    """

    wait_for_completion: bool
    deferrable: bool
    poll_interval: float | timedelta
    timeout: float | timedelta | None


class _KapsoRunExecutionOperator(KapsoBaseOperator):
    """Start an execution, then (optionally) wait for its final status in the worker or the triggerer."""

    kind: ClassVar[str]

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | None = None,
        **kwargs: Unpack[KapsoOperatorArguments],
    ) -> None:
        from kapso_provider.arguments import WaitSettings

        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        settings = WaitSettings.checked(poll_interval=poll_interval, timeout=timeout)
        self.poll_interval = settings.poll_interval
        self.timeout = settings.timeout

    def _execution(self) -> Execution:
        """The execution these (rendered) arguments describe, checked."""
        from kapso_provider.services.executions import EXECUTIONS

        return EXECUTIONS[self.kind].checked(**self.template_values())

    def _trigger(self, execution: Execution, progress: Progress) -> BaseTrigger:
        """The trigger that goes on waiting in the triggerer."""
        from kapso_provider.triggers.kapso import (
            KapsoAgentExecutionTrigger,
            KapsoAgentRunTrigger,
            KapsoFlowExecutionTrigger,
        )

        triggers = {
            "agent": KapsoAgentExecutionTrigger,
            "agent_run": KapsoAgentRunTrigger,
            "flow": KapsoFlowExecutionTrigger,
        }
        trigger = triggers[execution.kind]
        built: BaseTrigger = trigger(
            **execution.trigger_arguments(progress),
            kapso_conn_id=self.kapso_conn_id,
            poll_interval=self.poll_interval,
            deadline=progress.deadline,
            last_status=progress.last_status,
        )
        return built

    def _settings(self) -> WaitSettings:
        from kapso_provider.arguments import WaitSettings

        return WaitSettings(self.poll_interval, self.timeout)

    def execute(self, context: Context) -> Any:
        """Start the execution; without waiting return what Kapso answered, else wait for its outcome."""
        from kapso_provider.services.executions import run

        with self.running():
            execution = self._execution()
            result, progress = run(
                self.hook,
                self.log,
                execution,
                self._settings(),
                earlier_try_since=self.earlier_try_since(context),
                wait=self.wait_for_completion,
                poll=not self.deferrable,
            )
            if result is None:
                self.defer(
                    trigger=self._trigger(execution, progress),
                    method_name="execute_complete",
                    timeout=None if self.timeout is None else timedelta(seconds=self.timeout + _DEFERRAL_GRACE_SECONDS),
                )
        return result

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish a deferred wait from the trigger's event: the final record, or the failure it reports.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        from kapso_provider.arguments import plain_json
        from kapso_provider.services.executions import finished, timeout_error

        if not isinstance(event, Mapping):
            raise AirflowException(f"{type(self).__name__} resumed without a trigger event (got {event!r}).")
        record = event.get("execution")
        status = event.get("status")
        name = str(event.get("execution_id") or event.get("tracking_id") or "")
        kind = str(event.get("kind") or self.kind)
        with self.running():
            if status in ("completed", "failed") and isinstance(record, dict) and finished(kind, name, record):
                self.log.info("Kapso %s execution %s finished with status %s", kind, name, record.get("status"))
                result: dict[str, Any] = plain_json(record)
                return result
            if status == "timeout":
                raise timeout_error(self.kind, name, self.timeout, event.get("last_status"))
        raise AirflowException(
            f"Waiting for Kapso {self.kind} execution {name} failed: "
            f"{event.get('error') or f'unexpected event {status!r}'}"
        )


class KapsoRunAgentOperator(_KapsoRunExecutionOperator):
    """Start a Kapso AI agent and, by default, wait for its outcome: an agent execution on API v1
    (``agent_id``), or a run of a Kapso agent mode on the current API (``mode``).

    **API v1** (``agent_id``): the execution is final when Kapso reports ``ended`` or ``handoff`` (the agent
    handed the conversation to a person): the operator returns the final execution record as plain JSON
    (pushed to XCom). ``failed`` or ``stopped`` fail the task at once, without retries, quoting the status
    and Kapso's record. ``started``, ``running`` and ``paused`` (the agent waits for the customer's reply)
    keep it waiting, so set ``timeout`` for conversations that may stall. Without waiting, it returns the
    execution record the start answered.

    On a retry (``try_number > 1``) with a ``phone_number``, it first lists the agent's executions for that
    number started since the DAG run began, on Kapso's clock (``q[phone_number_eq]``,
    ``q[started_at_gteq]``) and, when it finds one, waits on the newest instead of starting another:
    Kapso takes no idempotency key, and a worker can die after Kapso accepted the start. Without
    ``phone_number`` nothing ties an execution to this task, so a retry starts a new one.

    **Current API** (``mode``): ``message`` is the run's prompt (text). The run is final when ``completed``
    (the operator returns the run: ``result`` holds the agent's answer); ``failed`` and ``cancelled`` fail
    the task without retries; ``queued``, ``running``, ``paused`` and ``waiting_for_approval`` (a tool call a
    person approves or rejects, with the hook's ``approve_agent_run``/``reject_agent_run`` or in Kapso) keep
    it waiting. Kapso reads a run by its id only, so a task retry starts a new run.

    Give ``agent_id`` or ``mode``: each exists on one API generation only, and the other generation refuses
    it when the task runs.

    :param agent_id: API v1: the agent's id. (templated)
    :param mode: current API: the agent mode's slug (one whose ``available_invocations`` include ``api``).
        (templated)
    :param message: API v1: the first message, text or ``{"type": "user_input" | "payload", "content": {...}}``;
        current API: the prompt, text. (templated)
    :param phone_number: API v1: the WhatsApp number the agent talks to, e.g. ``+15551234567``. (templated)
    :param whatsapp_config_id: API v1: the WhatsApp number (config UUID) to talk from. (templated)
    :param session_id: current API: continue this session (an earlier run's ``conversation_id``). (templated)
    :param metadata: current API: data kept on the run and echoed in Kapso's ``kapso_agent.run.*`` webhooks.
        (templated)
    :param wait_for_completion: wait for a final status (default) or return right after the start.
    :param deferrable: wait in the triggerer
        (:class:`~kapso_provider.triggers.kapso.KapsoAgentExecutionTrigger`, or
        :class:`~kapso_provider.triggers.kapso.KapsoAgentRunTrigger` for a run); defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds (or a ``timedelta``) between two reads of the execution.
    :param timeout: seconds (or a ``timedelta``) to wait before failing (retryably); ``None`` waits as
        long as the task may run.
    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    """

    kind = "agent"
    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "agent_id",
        "mode",
        "message",
        "phone_number",
        "whatsapp_config_id",
        "session_id",
        "metadata",
    )
    # The arguments each kind of run takes.
    _ARGUMENTS: ClassVar[dict[str, tuple[str, ...]]] = {
        "agent": ("agent_id", "message", "phone_number", "whatsapp_config_id"),
        "agent_run": ("mode", "message", "session_id", "metadata"),
    }

    def __init__(
        self,
        *,
        message: str | Mapping[str, Any],
        agent_id: str | None = None,
        mode: str | None = None,
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | str | None = None,
        **kwargs: Unpack[RunExecutionArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.mode = mode
        self.message = message
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id
        self.session_id = session_id
        self.metadata = metadata
        self.check_when_static(self._which, ("agent_id", "mode"))

    def _which(self) -> str:
        """``agent`` or ``agent_run``: what the (rendered) arguments ask for.

        :raises KapsoArgumentError: neither or both of ``agent_id`` and ``mode``.
        """
        from kapso_provider.exceptions import KapsoArgumentError

        if bool(self.agent_id) == bool(self.mode):
            raise KapsoArgumentError(
                "agent_id, mode: give agent_id (an agent of API v1) or mode (an agent mode of the current API)"
            )
        return "agent" if self.agent_id else "agent_run"

    def _execution(self) -> Execution:
        from kapso_provider.services.executions import EXECUTIONS

        which = self._which()
        values = self.template_values()
        return EXECUTIONS[which].checked(**{name: values[name] for name in self._ARGUMENTS[which]})


class KapsoRunFlowOperator(_KapsoRunExecutionOperator):
    """Start a Kapso flow for one customer and, by default, wait for its outcome.

    The flow needs an active API trigger. Kapso queues the start and answers a ``tracking_id``; the
    operator finds the execution carrying it among the flow's executions and polls it until ``ended``
    (it returns the final execution record as plain JSON) or ``failed`` (the task fails at once, without
    retries, quoting Kapso's record). ``running`` and ``waiting`` (the flow waits for the customer) keep it
    waiting. Without waiting, it returns Kapso's answer to the start: ``{"flow_id", "tracking_id",
    "message"}``.

    Both OpenAPI files require ``phone_number`` to start a flow, so the operator does too. A retry starts a
    new execution: a flow execution records neither the phone number nor anything else the start sent that
    would tie it to this task, so an earlier try's execution cannot be told apart from another one.

    :param flow_id: the flow's id (a UUID). (templated)
    :param phone_number: the customer's number, ``+`` and digits, e.g. ``+15551234567``. (templated)
    :param variables: variables to pass to the flow (a mapping, or JSON text). (templated)
    :param context: additional context for the execution (a mapping, or JSON text). (templated)
    :param whatsapp_config_id: the WhatsApp number (config UUID) to run on. (templated)
    :param wait_for_completion: wait for a final status (default) or return right after the start.
    :param deferrable: wait in the triggerer
        (:class:`~kapso_provider.triggers.kapso.KapsoFlowExecutionTrigger`); defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds (or a ``timedelta``) between two reads of the execution.
    :param timeout: seconds (or a ``timedelta``) to wait before failing (retryably); ``None`` waits as
        long as the task may run.
    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    """

    kind = "flow"
    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "flow_id",
        "phone_number",
        "variables",
        "execution_context",
        "whatsapp_config_id",
    )

    def __init__(
        self,
        *,
        flow_id: str,
        phone_number: str,
        variables: Mapping[str, Any] | str | None = None,
        context: Mapping[str, Any] | str | None = None,
        whatsapp_config_id: str | None = None,
        **kwargs: Unpack[RunExecutionArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.phone_number = phone_number
        self.variables = variables
        # Not "context": that name would shadow the task context in templates and execute().
        self.execution_context = context
        self.whatsapp_config_id = whatsapp_config_id
