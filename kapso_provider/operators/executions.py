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

    from kapso_provider.services.executions import Execution, Progress, WaitSettings


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
        from kapso_provider.services.executions import WaitSettings

        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        settings = WaitSettings.checked(poll_interval=poll_interval, timeout=timeout)
        self.poll_interval = settings.poll_interval
        self.timeout = settings.timeout

    def _execution(self) -> Execution:
        """The execution these (rendered) arguments describe, checked."""
        raise NotImplementedError

    def _trigger(self, progress: Progress) -> BaseTrigger:
        """The trigger that waits on in the triggerer."""
        raise NotImplementedError

    def _settings(self) -> WaitSettings:
        from kapso_provider.services.executions import WaitSettings

        return WaitSettings(self.poll_interval, self.timeout)

    def execute(self, context: Context) -> Any:
        """Start the execution; without waiting return what Kapso answered, else wait for its outcome."""
        from kapso_provider.services.executions import run

        with self.running():
            result, progress = run(
                self.hook,
                self.log,
                self._execution(),
                self._settings(),
                earlier_try_since=self.earlier_try_since(context),
                wait=self.wait_for_completion,
                poll=not self.deferrable,
            )
            if result is None:
                self.defer(
                    trigger=self._trigger(progress),
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
        with self.running():
            if status in ("completed", "failed") and isinstance(record, dict) and finished(self.kind, name, record):
                self.log.info("Kapso %s execution %s finished with status %s", self.kind, name, record.get("status"))
                result: dict[str, Any] = plain_json(record)
                return result
            if status == "timeout":
                raise timeout_error(self.kind, name, self.timeout, event.get("last_status"))
        raise AirflowException(
            f"Waiting for Kapso {self.kind} execution {name} failed: "
            f"{event.get('error') or f'unexpected event {status!r}'}"
        )

    def _trigger_arguments(self, progress: Progress) -> dict[str, Any]:
        return {
            "kapso_conn_id": self.kapso_conn_id,
            "poll_interval": self.poll_interval,
            "deadline": progress.deadline,
            "last_status": progress.last_status,
        }


class KapsoRunAgentOperator(_KapsoRunExecutionOperator):
    """Start a Kapso AI agent's execution and, by default, wait for its outcome.

    The execution is final when Kapso reports ``ended`` or ``handoff`` (the agent handed the conversation to
    a person): the operator returns the final execution record as plain JSON (pushed to XCom). ``failed``
    or ``stopped`` fail the task at once, without retries, quoting the status and Kapso's record.
    ``started``, ``running`` and ``paused`` (the agent waits for the customer's reply) keep it waiting, so
    set ``timeout`` for conversations that may stall. Without waiting, it returns the execution record the
    start answered.

    On a retry (``try_number > 1``) with a ``phone_number``, it first lists the agent's executions for that
    number started since the DAG run began, on Kapso's clock (``q[phone_number_eq]``,
    ``q[started_at_gteq]``) and, when it finds one, waits on the newest instead of starting another:
    Kapso takes no idempotency key, and a worker can die after Kapso accepted the start. Without
    ``phone_number`` nothing ties an execution to this task, so a retry starts a new one.

    :param agent_id: the agent's id. (templated)
    :param message: the first message: text, or ``{"type": "user_input" | "payload", "content": {...}}``.
        (templated)
    :param phone_number: the WhatsApp number the agent talks to, e.g. ``+15551234567``. (templated)
    :param whatsapp_config_id: the WhatsApp number (config UUID) to talk from. (templated)
    :param wait_for_completion: wait for a final status (default) or return right after the start.
    :param deferrable: wait in the triggerer
        (:class:`~kapso_provider.triggers.kapso.KapsoAgentExecutionTrigger`); defaults to
        ``[operators] default_deferrable``.
    :param poll_interval: seconds (or a ``timedelta``) between two reads of the execution.
    :param timeout: seconds (or a ``timedelta``) to wait before failing (retryably); ``None`` waits as
        long as the task may run.
    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    """

    kind = "agent"
    template_fields: Sequence[str] = ("kapso_conn_id", "agent_id", "message", "phone_number", "whatsapp_config_id")

    def __init__(
        self,
        *,
        agent_id: str,
        message: str | Mapping[str, Any],
        phone_number: str | None = None,
        whatsapp_config_id: str | None = None,
        **kwargs: Unpack[RunExecutionArguments],
    ) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.message = message
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id

    def _execution(self) -> Execution:
        from kapso_provider.services.executions import AgentExecution

        return AgentExecution.checked(
            agent_id=self.agent_id,
            message=self.message,
            phone_number=self.phone_number,
            whatsapp_config_id=self.whatsapp_config_id,
        )

    def _trigger(self, progress: Progress) -> BaseTrigger:
        from kapso_provider.triggers.kapso import KapsoAgentExecutionTrigger

        return KapsoAgentExecutionTrigger(
            agent_id=self.agent_id, execution_id=str(progress.answer["id"]), **self._trigger_arguments(progress)
        )


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

    def _execution(self) -> Execution:
        from kapso_provider.services.executions import FlowExecution

        return FlowExecution.checked(
            flow_id=self.flow_id,
            phone_number=self.phone_number,
            variables=self.variables,
            context=self.execution_context,
            whatsapp_config_id=self.whatsapp_config_id,
        )

    def _trigger(self, progress: Progress) -> BaseTrigger:
        from kapso_provider.triggers.kapso import KapsoFlowExecutionTrigger

        return KapsoFlowExecutionTrigger(
            flow_id=self.flow_id,
            tracking_id=str(progress.answer["tracking_id"]),
            execution_id=None if progress.record is None else str(progress.record["id"]),
            started_after=progress.started_after,
            **self._trigger_arguments(progress),
        )
