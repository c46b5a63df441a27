"""Operators that run a Kapso agent or flow and wait for its outcome."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, BaseOperator, conf

from kapso_provider.arguments import (
    is_uuid,
    plain_json,
)
from kapso_provider.exceptions import KapsoArgumentError, KapsoConfigurationError
from kapso_provider.operators._base import KapsoHookMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger


__all__ = ["KapsoRunAgentOperator", "KapsoRunFlowOperator"]


# Extra time the triggerer grants a deferred wait beyond its own deadline, so that the trigger's timeout
# event (which names the last status) arrives before Airflow's generic deferral timeout.
_DEFERRAL_GRACE_SECONDS = 60.0
# How much of Kapso's record a failure message quotes: enough for its status and error fields.
_RECORD_TEXT_LIMIT = 1000


def _record_text(record: Mapping[str, Any]) -> str:
    text = json.dumps(record, sort_keys=True, default=str)
    return text if len(text) <= _RECORD_TEXT_LIMIT else text[: _RECORD_TEXT_LIMIT - 3] + "..."


def _check_wait_settings(poll_interval: object, timeout: object) -> None:
    if isinstance(poll_interval, bool) or not isinstance(poll_interval, int | float) or not poll_interval > 0:
        raise KapsoConfigurationError(f"poll_interval: {poll_interval!r} must be a positive number of seconds.")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0):
        raise KapsoConfigurationError(f"timeout: {timeout!r} must be a positive number of seconds, or None.")


def _check_config_id(value: object) -> None:
    """``whatsapp_config_id`` is ``None`` or a UUID, as ``openapi-agents.yaml`` declares it."""
    if value is not None and not is_uuid(str(value)):
        raise KapsoConfigurationError(f"whatsapp_config_id: must be a UUID (Kapso's config id), got {value!r}.")


def _seconds(value: float | timedelta | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


class _KapsoRunExecutionOperator(KapsoHookMixin, BaseOperator):
    """Start an execution, then (optionally) wait for its final status in the worker or the triggerer."""

    kind: ClassVar[str]
    ui_color = "#25d366"
    # Values are data, never file names: a message ending in ".json" must stay a message.
    template_ext: Sequence[str] = ()

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = _seconds(poll_interval)
        self.timeout = _seconds(timeout)
        _check_wait_settings(self.poll_interval, self.timeout)

    # -- what each kind of execution defines --

    def _check_arguments(self) -> None:
        """Check the rendered arguments; raise :class:`KapsoConfigurationError` naming the field."""
        raise NotImplementedError

    def _start(self, context: Context) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Start (or, on a retry, find) the execution: ``(what to return without waiting, record or None)``."""
        raise NotImplementedError

    def _read(self, record: dict[str, Any] | None, started: dict[str, Any]) -> dict[str, Any] | None:
        """Read the execution once; ``None`` while it cannot be seen yet."""
        raise NotImplementedError

    def _trigger(self, record: dict[str, Any] | None, started: dict[str, Any], deadline: float | None) -> BaseTrigger:
        raise NotImplementedError

    def _name(self, record: Mapping[str, Any] | None, started: Mapping[str, Any]) -> str:
        raise NotImplementedError

    # -- the shared run --

    def _finished(self, record: dict[str, Any], name: str) -> dict[str, Any] | None:
        """The record when the execution completed; raises when it failed; ``None`` while it runs."""
        from kapso_provider.api.v1.agents import execution_outcome

        outcome = execution_outcome(self.kind, record)
        status = record.get("status")
        if outcome == "failed":
            # Another try would start (or find) the same failed work: fail without retries.
            raise AirflowFailException(
                f"Kapso {self.kind} execution {name} finished with status {status!r}. "
                f"Kapso's record: {_record_text(record)}"
            )
        if outcome == "completed":
            self.log.info("Kapso %s execution %s finished with status %s", self.kind, name, status)
            result: dict[str, Any] = plain_json(record)
            return result
        return None

    def _timeout_error(self, name: str, last_status: str | None) -> AirflowException:
        # Retryable on purpose: a retry finds the running execution (where the API allows it) and waits on.
        return AirflowException(
            f"Kapso {self.kind} execution {name} did not finish within {self.timeout:g} s "
            f"(last status: {last_status or 'not seen yet'})."
        )

    def execute(self, context: Context) -> Any:
        """Start the execution; without waiting return what Kapso answered, else wait for its outcome."""
        try:
            self._check_arguments()
        except (KapsoConfigurationError, KapsoArgumentError) as exc:
            # A retry renders the same values again, so it cannot help: fail without retrying.
            raise AirflowFailException(str(exc)) from exc
        started_at = time.time()
        try:
            started, record = self._start(context)
            if not self.wait_for_completion:
                return plain_json(started)
            return self._wait(context, started, record, started_at)
        finally:
            self.hook.close()

    def _wait(self, context: Context, started: dict[str, Any], record: dict[str, Any] | None, started_at: float) -> Any:
        deadline = None if self.timeout is None else started_at + self.timeout
        poll_interval = float(self.poll_interval or 0)
        while True:
            if record is not None:
                name = self._name(record, started)
                finished = self._finished(record, name)
                if finished is not None:
                    return finished
                self.log.info("Kapso %s execution %s is %s; waiting", self.kind, name, record.get("status"))
            if self.deferrable:
                # Read once (above) before deferring: a quick execution never reaches the triggerer.
                self.defer(
                    trigger=self._trigger(record, started, deadline),
                    method_name="execute_complete",
                    timeout=None if self.timeout is None else timedelta(seconds=self.timeout + _DEFERRAL_GRACE_SECONDS),
                )
            if deadline is not None and time.time() >= deadline:
                status = None if record is None else record.get("status")
                raise self._timeout_error(self._name(record, started), status)
            wait = poll_interval if deadline is None else max(0.0, min(poll_interval, deadline - time.time()))
            time.sleep(wait)
            record = self._read(record, started) or record

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish a deferred wait from the trigger's event: the final record, or the failure it reports.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        if not isinstance(event, Mapping):
            raise AirflowException(f"{type(self).__name__} resumed without a trigger event (got {event!r}).")
        record = event.get("execution")
        status = event.get("status")
        name = str(event.get("execution_id") or event.get("tracking_id") or "")
        if status in ("completed", "failed") and isinstance(record, dict):
            finished = self._finished(record, name)
            if finished is not None:
                return finished
        if status == "timeout":
            raise self._timeout_error(name, event.get("last_status"))
        raise AirflowException(
            f"Waiting for Kapso {self.kind} execution {name} failed: "
            f"{event.get('error') or f'unexpected event {status!r}'}"
        )


class KapsoRunAgentOperator(_KapsoRunExecutionOperator):
    """Start a Kapso AI agent's execution and, by default, wait for its outcome.

    The execution is final when Kapso reports ``ended`` or ``handoff`` (the agent handed the conversation to
    a person): the operator returns the final execution record as plain JSON (pushed to XCom). ``failed``
    or ``stopped`` fail the task at once, without retries, quoting the status and Kapso's record.
    ``started``, ``running`` and ``paused`` (the agent waits for the customer's reply) keep it waiting, so
    set ``timeout`` for conversations that may stall. Without waiting, it returns the execution record the
    start answered.

    On a retry (``try_number > 1``) with a ``phone_number``, it first lists the agent's executions for that
    number started since the DAG run began (``q[phone_number_eq]``, ``q[started_at_gteq]``) and, when it
    finds one, waits on the newest instead of starting another: Kapso takes no idempotency key, and a
    worker can die after Kapso accepted the start. Without ``phone_number`` nothing ties an execution to
    this task, so a retry starts a new one.

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
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kapso_conn_id=kapso_conn_id,
            wait_for_completion=wait_for_completion,
            deferrable=deferrable,
            poll_interval=poll_interval,
            timeout=timeout,
            **kwargs,
        )
        self.agent_id = agent_id
        self.message = message
        self.phone_number = phone_number
        self.whatsapp_config_id = whatsapp_config_id

    def _check_arguments(self) -> None:
        from kapso_provider.api.v1.agents import agent_message

        if not isinstance(self.agent_id, str) or not self.agent_id.strip():
            raise KapsoConfigurationError(f"agent_id: must be a non-empty string, got {self.agent_id!r}.")
        message: Any = self.message
        if isinstance(message, str) and message.lstrip().startswith("{"):
            # A Jinja template renders to text unless the DAG renders native objects: take JSON text of a
            # structured message as that message, and any other text as the text to send.
            try:
                parsed = json.loads(message)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict) and parsed and set(parsed) <= {"type", "content"}:
                message = parsed
        self.message = agent_message(message)
        if self.phone_number is not None and (not isinstance(self.phone_number, str) or not self.phone_number.strip()):
            raise KapsoConfigurationError(
                f"phone_number: must be a non-empty string or None, got {self.phone_number!r}."
            )
        _check_config_id(self.whatsapp_config_id)

    def _earlier_execution(self, context: Context) -> dict[str, Any] | None:
        ti = context["ti"]
        if ti.try_number <= 1:
            return None
        if self.phone_number is None:
            self.log.warning(
                "Try %d: without phone_number no execution can be tied to this task; starting a new one",
                ti.try_number,
            )
            return None
        since: datetime | None = context["dag_run"].start_date or ti.start_date
        if since is None:
            return None
        since -= timedelta(seconds=self.hook.retry_policy.clock_skew)
        self.log.info("Try %d: looking for an execution an earlier try started before starting one", ti.try_number)
        candidates = list(
            self.hook.list_agent_executions(self.agent_id, phone_number=self.phone_number, started_after=since)
        )
        if not candidates:
            return None
        newest = max(candidates, key=lambda record: str(record.get("started_at") or ""))
        self.log.info(
            "Found %d execution(s) of agent %s for %s since the DAG run began; continuing with %s",
            len(candidates),
            self.agent_id,
            self.phone_number,
            newest.get("id"),
        )
        return newest

    def _start(self, context: Context) -> tuple[dict[str, Any], dict[str, Any] | None]:
        record = self._earlier_execution(context)
        if record is None:
            record = self.hook.start_agent_execution(
                self.agent_id,
                message=self.message,
                phone_number=self.phone_number,
                whatsapp_config_id=self.whatsapp_config_id,
            )
            self.log.info(
                "Kapso started execution %s of agent %s (status %s)",
                record.get("id"),
                self.agent_id,
                record.get("status"),
            )
        return record, record

    def _read(self, record: dict[str, Any] | None, started: dict[str, Any]) -> dict[str, Any] | None:
        return self.hook.get_agent_execution(self.agent_id, str(started["id"]))

    def _trigger(self, record: dict[str, Any] | None, started: dict[str, Any], deadline: float | None) -> BaseTrigger:
        from kapso_provider.triggers.kapso import KapsoAgentExecutionTrigger

        return KapsoAgentExecutionTrigger(
            agent_id=self.agent_id,
            execution_id=str(started["id"]),
            kapso_conn_id=self.kapso_conn_id,
            poll_interval=float(self.poll_interval or 0),
            deadline=deadline,
            last_status=None if record is None else record.get("status"),
        )

    def _name(self, record: Mapping[str, Any] | None, started: Mapping[str, Any]) -> str:
        return str(started.get("id"))


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
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | timedelta = 30.0,
        timeout: float | timedelta | None = None,
        kapso_conn_id: str = "kapso_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(
            kapso_conn_id=kapso_conn_id,
            wait_for_completion=wait_for_completion,
            deferrable=deferrable,
            poll_interval=poll_interval,
            timeout=timeout,
            **kwargs,
        )
        self.flow_id = flow_id
        self.phone_number = phone_number
        self.variables = variables
        # Not "context": that name would shadow the task context in templates and execute().
        self.execution_context = context
        self.whatsapp_config_id = whatsapp_config_id
        self._since: str | None = None
        self._variables: dict[str, Any] | None = None
        self._context: dict[str, Any] | None = None

    @staticmethod
    def _object(name: str, value: Any) -> dict[str, Any] | None:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise KapsoConfigurationError(
                    f"{name}: rendered to text that is not JSON; pass a mapping, or set "
                    "render_template_as_native_obj=True on the DAG."
                ) from None
        if value is not None and not isinstance(value, Mapping):
            raise KapsoConfigurationError(f"{name}: must be a mapping, got {type(value).__name__}.")
        return None if value is None else plain_json(dict(value))

    def _check_arguments(self) -> None:
        from kapso_provider.api.v1.agents import check_flow_phone_number

        if not is_uuid(str(self.flow_id)):
            raise KapsoConfigurationError(f"flow_id: must be a UUID (Kapso's flow id), got {self.flow_id!r}.")
        check_flow_phone_number(self.phone_number)
        _check_config_id(self.whatsapp_config_id)
        self._variables = self._object("variables", self.variables)
        self._context = self._object("context", self.execution_context)

    def _start(self, context: Context) -> tuple[dict[str, Any], dict[str, Any] | None]:
        ti = context["ti"]
        if ti.try_number > 1:
            self.log.warning(
                "Try %d: Kapso's flow executions cannot be tied to an earlier try; starting a new execution",
                ti.try_number,
            )
        # Kapso stamps started_at on its own clock: start looking a little earlier than now.
        since = datetime.now().astimezone() - timedelta(seconds=self.hook.retry_policy.clock_skew)
        self._since = since.isoformat()
        answer = self.hook.start_flow_execution(
            self.flow_id,
            phone_number=self.phone_number,
            variables=self._variables,
            context=self._context,
            whatsapp_config_id=self.whatsapp_config_id,
        )
        self.log.info("Kapso queued flow %s (tracking id %s)", self.flow_id, answer.get("tracking_id"))
        if not self.wait_for_completion:
            return answer, None
        return answer, self._read(None, answer)

    def _read(self, record: dict[str, Any] | None, started: dict[str, Any]) -> dict[str, Any] | None:
        if record is not None:
            return self.hook.get_flow_execution(str(record["id"]))
        found = self.hook.find_flow_execution(self.flow_id, str(started["tracking_id"]), started_after=self._since)
        if found is None:
            self.log.info("Kapso flow execution %s is queued; not listed yet", started.get("tracking_id"))
        return found

    def _trigger(self, record: dict[str, Any] | None, started: dict[str, Any], deadline: float | None) -> BaseTrigger:
        from kapso_provider.triggers.kapso import KapsoFlowExecutionTrigger

        return KapsoFlowExecutionTrigger(
            flow_id=self.flow_id,
            tracking_id=str(started["tracking_id"]),
            execution_id=None if record is None else str(record["id"]),
            started_after=self._since,
            kapso_conn_id=self.kapso_conn_id,
            poll_interval=float(self.poll_interval or 0),
            deadline=deadline,
            last_status=None if record is None else record.get("status"),
        )

    def _name(self, record: Mapping[str, Any] | None, started: Mapping[str, Any]) -> str:
        return str(record.get("id") if record is not None else started.get("tracking_id"))
