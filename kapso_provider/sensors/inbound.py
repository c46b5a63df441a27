"""The sensor that waits until a customer writes: new inbound WhatsApp messages matching its filters.

DAG files import this module on every parse, so it imports only Airflow's base sensor and light provider
modules: the hooks (with ``requests`` and ``httpx``) and the trigger load when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.utils.inbound import (
    InboundCursor,
    check_since,
    compile_text_pattern,
    inbound_matches,
    inbound_payload,
    order_new,
)
from kapso_provider.utils.mixins import KapsoHookMixin
from kapso_provider.validation import seconds

if TYPE_CHECKING:
    import re
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.sensors._base import BaseSensorArguments

__all__ = ["KapsoInboundMessageSensor"]


class KapsoInboundMessageSensor(KapsoHookMixin, BaseSensorOperator):
    """Waits until a customer writes: returns the new inbound WhatsApp messages that match the filters.

    The DAG-side twin of :class:`~kapso_provider.triggers.kapso.KapsoInboundMessageTrigger`, for Airflow
    2.11 and for DAGs that wait mid-run ("send a question, wait until the customer replies"). Each read lists
    the customers' messages since ``since`` (on API v1 through the conversations active since then, on the
    current API in one listing across conversations); it succeeds once at least one inbound message created
    at or after ``since`` matches ``text_pattern``, and returns every such message, oldest first, as a list
    of plain-JSON dicts with the same keys on both API generations: ``message`` (the message record),
    ``message_id``, ``wamid``, ``conversation_id``, ``phone_number``, ``whatsapp_config_id``,
    ``phone_number_id``, ``text`` and ``reply_id`` (see ``docs/inbound-messages.md``).

    It only reads; it never marks messages read. Each read starts again from ``since``, so pokes,
    reschedules and retries need no state and return the same messages.

    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    :param whatsapp_config_id: API v1: only messages to this WhatsApp number (config id). (templated)
    :param phone_number: only messages from this customer number. (templated)
    :param phone_number_id: current API: only messages to this WhatsApp number (phone number id). (templated)
    :param text_pattern: only messages whose ``content`` matches this regular expression. (templated)
    :param since: ISO-8601 time from which messages count, e.g. the ``created_at`` of the question sent
        before; default: when the DAG run started. (templated)
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: while deferred, seconds between two reads (default: ``poke_interval``).
    :param lookback: while deferred, seconds behind the trigger's cursor re-read for late-visible messages.
    :param kwargs: Airflow's sensor and operator arguments (``mode``, ``poke_interval``, ``timeout``,
        ``soft_fail``, ``retries`` ...), typed in ``BaseSensorArguments`` of ``kapso_provider.sensors._base``.
    """

    template_fields: Sequence[str] = (
        "kapso_conn_id",
        "whatsapp_config_id",
        "phone_number",
        "phone_number_id",
        "text_pattern",
        "since",
    )
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
        phone_number_id: str | None = None,
        **kwargs: Unpack[BaseSensorArguments],
    ) -> None:
        from kapso_provider.transport.settings import refuse_credentials

        # Before Airflow's base, which would refuse the argument with a bare "Invalid arguments".
        refuse_credentials(type(self).__name__, kapso_conn_id, kwargs)
        super().__init__(**kwargs)
        self.kapso_conn_id = kapso_conn_id
        self.whatsapp_config_id = whatsapp_config_id
        self.phone_number_id = phone_number_id
        self.phone_number = phone_number
        self.text_pattern = text_pattern
        self.since = since
        self.deferrable = deferrable
        self.poll_interval = None if poll_interval is None else seconds("poll_interval", poll_interval)
        self.lookback = seconds("lookback", lookback, zero_allowed=True)
        if text_pattern is not None and "{{" not in text_pattern:
            self._pattern()  # a static pattern is checked when the DAG is parsed

    def _pattern(self) -> re.Pattern[str] | None:
        return compile_text_pattern(self.text_pattern or None)

    def _since(self, context: Context) -> str:
        """The rendered ``since``, or the DAG run's start: the same on every poke, reschedule and retry."""
        value: Any = self.since or None
        if value is None:
            dag_run = context.get("dag_run")
            value = getattr(dag_run, "start_date", None)
            if value is None:
                raise KapsoArgumentError("since: not given, and the DAG run has no start date to default to.")
        since = check_since(value)
        assert since is not None  # value is not None here
        return since

    def _read(self, since: str) -> list[dict[str, Any]]:
        """The matching inbound messages created at or after ``since``, oldest first."""
        pattern = self._pattern()
        cursor = InboundCursor.start(since)
        listed = [
            (item["message"], item["conversation"])
            for item in self.hook.list_inbound_messages(
                since=since,
                whatsapp_config_id=self.whatsapp_config_id or None,
                phone_number=self.phone_number or None,
                phone_number_id=self.phone_number_id or None,
            )
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
        try:
            if not self.deferrable:
                return super().execute(context)
            since = self._since(context)
            found = self._read(since)
            if found:
                return found
        finally:
            self.close_hook()
        from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger

        self.defer(
            trigger=KapsoInboundMessageTrigger(
                kapso_conn_id=self.kapso_conn_id,
                whatsapp_config_id=self.whatsapp_config_id or None,
                phone_number=self.phone_number or None,
                phone_number_id=self.phone_number_id or None,
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
