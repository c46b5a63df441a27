"""Sensors that wait on Kapso: a sent WhatsApp message reaching ``delivered`` or ``read``, or a customer writing.

DAG files import this module on every parse, so it imports only Airflow's base sensor and the standard
library: the hooks (with ``requests`` and ``httpx``) and the trigger load when a task runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from kapso_provider.exceptions import KapsoConfigurationError
from kapso_provider.sensors._status import (
    TARGET_STATUSES,
    check_target_status,
    classify,
    failure_text,
    ids_from_record,
    timeout_text,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.hooks.kapso import KapsoHook

__all__ = ["TARGET_STATUSES", "KapsoInboundMessageSensor", "KapsoMessageStatusSensor"]

# Extra time the triggerer grants a deferred wait beyond its own deadline, so that the trigger's timeout
# event (which names the last status) arrives before Airflow's generic deferral timeout.
_DEFERRAL_GRACE_SECONDS = 60.0


class KapsoMessageStatusSensor(BaseSensorOperator):
    """Waits until a WhatsApp message sent through Kapso is ``delivered`` (or ``read``).

    Give it the record a send returned, ``message=send.output``, or the ids. It reads the message's status
    by listing its conversation's messages (Kapso has no endpoint for one message), and:

    - returns the message record (pushed to XCom as plain JSON) once the status reaches ``target_status``;
      statuses run ``sent`` < ``delivered`` < ``read``, so a ``read`` message satisfies ``delivered``;
    - fails at once, without retries, when the message turns ``failed``, with WhatsApp's error code and text;
    - on timeout raises ``AirflowSensorTimeout`` naming the last status seen. ``sent`` can be final: Kapso
      accepted the message but WhatsApp never confirmed delivery (reactions get no receipts, blocked or
      offline customers, read receipts off).

    It runs in ``mode="poke"`` (default), ``mode="reschedule"``, or ``deferrable=True``: after one read, the
    wait moves to the triggerer (:class:`~kapso_provider.triggers.kapso.KapsoMessageStatusTrigger`, which
    only reads), and the record comes back through :meth:`execute_complete`.

    :param message: the message record a send returned, e.g. ``send.output``; its ``id`` and
        ``whatsapp_conversation_id`` are used. (templated)
    :param message_id: instead of ``message``, Kapso's id of the message or its WhatsApp ``wamid``. (templated)
    :param conversation_id: with ``message_id``, the conversation the message is in. (templated)
    :param target_status: ``delivered`` (default) or ``read``.
    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: while deferred, seconds between two reads (default: ``poke_interval``).
    :param kwargs: the usual sensor arguments: ``mode``, ``poke_interval``, ``timeout``, ``soft_fail`` ...
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "message", "message_id", "conversation_id")
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        # A record, JSON text, or an XComArg such as send.output: whatever renders to a record at run time.
        message: Any = None,
        message_id: str | None = None,
        conversation_id: str | None = None,
        target_status: str = "delivered",
        kapso_conn_id: str = "kapso_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if message is None and message_id is None:
            raise KapsoConfigurationError(
                "message: give the record a send returned (message=send.output), or message_id and conversation_id."
            )
        if message is not None and (message_id is not None or conversation_id is not None):
            raise KapsoConfigurationError("message: give either message, or message_id and conversation_id, not both.")
        if message_id is not None and conversation_id is None:
            raise KapsoConfigurationError(
                "conversation_id: required with message_id (messages are read through their conversation)."
            )
        if poll_interval is not None and not poll_interval > 0:
            raise KapsoConfigurationError(f"poll_interval: {poll_interval!r} must be a positive number of seconds.")
        self.message = message
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.target_status = check_target_status(target_status)
        self.kapso_conn_id = kapso_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._last_status: str | None = None

    @cached_property
    def hook(self) -> KapsoHook:
        """The hook that reads the message, built on first use."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)

    def _ids(self) -> tuple[str, str]:
        """``(message_id, conversation_id)`` from the rendered arguments."""
        if self.message is not None:
            message: Any = self.message
            if isinstance(message, str):
                # A Jinja template renders to text unless the DAG renders native objects.
                try:
                    message = json.loads(message)
                except ValueError:
                    raise KapsoConfigurationError(
                        "message: rendered to text that is not JSON; pass send.output, or set "
                        "render_template_as_native_obj=True on the DAG."
                    ) from None
            return ids_from_record(message)
        message_id, conversation_id = self.message_id, self.conversation_id
        for name, value in (("message_id", message_id), ("conversation_id", conversation_id)):
            if not isinstance(value, str) or not value.strip():
                raise KapsoConfigurationError(f"{name}: must be a non-empty string, got {value!r}.")
        return str(message_id), str(conversation_id)

    def _check(self, record: dict[str, Any], message_id: str) -> bool:
        """Take in one read: ``True`` when the target is reached; raises when the message failed."""
        status = record.get("status")
        self._last_status = status if isinstance(status, str) else None
        outcome = classify(record, self.target_status)
        if outcome == "failed":
            raise AirflowFailException(failure_text(record, message_id=message_id))
        if outcome == "reached":
            self.log.info("Kapso message %s is %s", message_id, self._last_status)
            return True
        self.log.info("Kapso message %s is %s; waiting for %s", message_id, self._last_status, self.target_status)
        return False

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the message once; done, with the record as XCom, when the target status is reached."""
        message_id, conversation_id = self._ids()
        record = self.hook.get_message(conversation_id, message_id)
        if self._check(record, message_id):
            return PokeReturnValue(is_done=True, xcom_value=record)
        return PokeReturnValue(is_done=False)

    def _timeout(self, message_id: str) -> AirflowSensorTimeout:
        return AirflowSensorTimeout(
            timeout_text(
                message_id=message_id,
                target_status=self.target_status,
                last_status=self._last_status,
                timeout=float(self.timeout),
            )
        )

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) until done; or, when deferrable, read once and then defer."""
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                # Airflow's own text gives durations only; say which status the message stopped at. The
                # timeout is checked right after a poke, so the last status is this try's own read, in
                # reschedule mode too.
                message_id, _ = self._ids()
                raise self._timeout(message_id) from exc

        message_id, conversation_id = self._ids()
        started = time.time()
        record = self.hook.get_message(conversation_id, message_id)
        if self._check(record, message_id):
            return record
        from kapso_provider.triggers.kapso import KapsoMessageStatusTrigger

        timeout = float(self.timeout)
        self.defer(
            trigger=KapsoMessageStatusTrigger(
                message_id=message_id,
                conversation_id=conversation_id,
                target_status=self.target_status,
                kapso_conn_id=self.kapso_conn_id,
                poll_interval=float(self.poll_interval or self.poke_interval),
                deadline=started + timeout,
                last_status=self._last_status,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + _DEFERRAL_GRACE_SECONDS),
        )
        return None  # pragma: no cover - defer() raises

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish a deferred wait from the trigger's event: the record, or the failure it reports.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        if not isinstance(event, Mapping):
            raise AirflowException(f"KapsoMessageStatusSensor resumed without a trigger event (got {event!r}).")
        message_id = str(event.get("message_id") or "")
        self._last_status = event.get("last_status")
        record = event.get("message")
        status = event.get("status")
        if status == "reached" and isinstance(record, dict):
            self.log.info("Kapso message %s is %s", message_id, self._last_status)
            return record
        if status == "failed" and isinstance(record, dict):
            raise AirflowFailException(failure_text(record, message_id=message_id))
        if status == "timeout":
            raise self._timeout(message_id)
        raise AirflowException(
            f"Waiting for Kapso message {message_id} failed: {event.get('error') or f'unexpected event {status!r}'}"
        )


class KapsoInboundMessageSensor(BaseSensorOperator):
    """Waits until a customer writes: returns the new inbound WhatsApp messages that match the filters.

    The DAG-side twin of :class:`~kapso_provider.triggers.kapso.KapsoInboundMessageTrigger`, for Airflow
    2.11 and for DAGs that wait mid-run ("send a question, wait until the customer replies"). Each read lists
    the conversations active since ``since`` (narrowed by ``whatsapp_config_id`` and ``phone_number``) and
    their messages; it succeeds once at least one inbound message created at or after ``since`` matches
    ``text_pattern``, and returns every such message, oldest first, as a list of plain-JSON dicts
    ``{"message": <Kapso's record>, "message_id", "conversation_id", "phone_number", "whatsapp_config_id"}``.

    It only reads; it never marks messages read. Each read starts again from ``since``, so pokes,
    reschedules and retries need no state and return the same messages.

    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    :param whatsapp_config_id: only messages to this WhatsApp number (config id). (templated)
    :param phone_number: only messages from this customer number. (templated)
    :param text_pattern: only messages whose ``content`` matches this regular expression. (templated)
    :param since: ISO-8601 time from which messages count, e.g. the ``created_at`` of the question sent
        before; default: when the DAG run started. (templated)
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: while deferred, seconds between two reads (default: ``poke_interval``).
    :param lookback: while deferred, seconds behind the trigger's cursor re-read for late-visible messages.
    :param kwargs: the usual sensor arguments: ``mode``, ``poke_interval``, ``timeout``, ``soft_fail`` ...
    """

    template_fields: Sequence[str] = ("kapso_conn_id", "whatsapp_config_id", "phone_number", "text_pattern", "since")
    ui_color = "#25d366"

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        whatsapp_config_id: str | None = None,
        phone_number: str | None = None,
        text_pattern: str | None = None,
        since: str | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float | None = None,
        lookback: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if poll_interval is not None and not poll_interval > 0:
            raise KapsoConfigurationError(f"poll_interval: {poll_interval!r} must be a positive number of seconds.")
        self.kapso_conn_id = kapso_conn_id
        self.whatsapp_config_id = whatsapp_config_id
        self.phone_number = phone_number
        self.text_pattern = text_pattern
        self.since = since
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.lookback = lookback
        if text_pattern is not None and "{{" not in text_pattern:
            self._pattern()  # a static pattern is checked when the DAG is parsed

    @cached_property
    def hook(self) -> KapsoHook:
        """The hook that reads conversations and messages, built on first use."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)

    def _pattern(self) -> Any:
        from kapso_provider.triggers.kapso import compile_text_pattern

        try:
            return compile_text_pattern(self.text_pattern or None)
        except ValueError as exc:
            raise KapsoConfigurationError(str(exc)) from None

    def _since(self, context: Context) -> str:
        """The rendered ``since``, or the DAG run's start: the same on every poke, reschedule and retry."""
        from kapso_provider.triggers.kapso import check_since

        value: Any = self.since or None
        if value is None:
            dag_run = context.get("dag_run")
            value = getattr(dag_run, "start_date", None)
            if value is None:
                raise KapsoConfigurationError("since: not given, and the DAG run has no start date to default to.")
        try:
            since = check_since(value)
        except ValueError as exc:
            raise KapsoConfigurationError(str(exc)) from None
        assert since is not None  # value is not None here
        return since

    def _read(self, since: str) -> list[dict[str, Any]]:
        """The matching inbound messages created at or after ``since``, oldest first."""
        from kapso_provider.triggers.kapso import InboundCursor, inbound_matches, inbound_payload, order_new

        pattern = self._pattern()
        cursor = InboundCursor.start(since)
        listed = [
            (message, conversation)
            for conversation in self.hook.list_conversations(
                whatsapp_config_id=self.whatsapp_config_id or None,
                phone_number=self.phone_number or None,
                last_active_after=since,
            )
            for message in self.hook.list_messages(conversation["id"])
        ]
        return [
            inbound_payload(message, conversation)
            for message, conversation in order_new(listed, cursor, 0.0)
            if inbound_matches(message, pattern)
        ]

    def poke(self, context: Context) -> PokeReturnValue:
        """Read once; done, with the messages as XCom, when at least one matches."""
        found = self._read(self._since(context))
        if found:
            self.log.info("%d new inbound Kapso message(s)", len(found))
            return PokeReturnValue(is_done=True, xcom_value=found)
        self.log.info("No new inbound Kapso message yet")
        return PokeReturnValue(is_done=False)

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) until a message arrives; or, when deferrable, read once and then defer."""
        if not self.deferrable:
            return super().execute(context)
        since = self._since(context)
        found = self._read(since)
        if found:
            return found
        from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger

        self.defer(
            trigger=KapsoInboundMessageTrigger(
                kapso_conn_id=self.kapso_conn_id,
                whatsapp_config_id=self.whatsapp_config_id or None,
                phone_number=self.phone_number or None,
                text_pattern=self.text_pattern or None,
                since=since,
                poll_interval=float(self.poll_interval or self.poke_interval),
                lookback=self.lookback,
                single_event=True,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=float(self.timeout)),
        )
        return None  # pragma: no cover - defer() raises

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Finish a deferred wait: the messages the trigger found, or the error it reports.

        :param context: the task context.
        :param event: the trigger's event payload.
        """
        if not isinstance(event, Mapping):
            raise AirflowException(f"KapsoInboundMessageSensor resumed without a trigger event (got {event!r}).")
        messages = event.get("messages")
        if event.get("status") == "found" and isinstance(messages, list) and messages:
            self.log.info("%d new inbound Kapso message(s)", len(messages))
            return messages
        raise AirflowException(
            f"Waiting for an inbound Kapso message failed: {event.get('error') or f'unexpected event {event!r}'}"
        )
