"""The sensor that waits until a sent WhatsApp message is ``delivered`` or ``read``.

DAG files import this module on every parse, so it imports only Airflow's base sensor and light provider
modules: the hooks (with ``requests`` and ``httpx``) and the trigger load when a task runs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.utils.message_status import (
    MessageRef,
    check_target_status,
    classify,
    failure_text,
    message_ref,
    timeout_text,
)
from kapso_provider.utils.mixins import KapsoHookMixin
from kapso_provider.utils.waiting import DEFERRAL_GRACE_SECONDS
from kapso_provider.validation import require_text, seconds

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Unpack

    from airflow.providers.common.compat.sdk import Context

    from kapso_provider.sensors._base import BaseSensorArguments

__all__ = ["KapsoMessageStatusSensor"]


def _status_of(record: Mapping[str, Any]) -> str | None:
    status = record.get("status")
    return status if isinstance(status, str) else None


class KapsoMessageStatusSensor(KapsoHookMixin, BaseSensorOperator):
    """Waits until a WhatsApp message sent through Kapso is ``delivered`` (or ``read``).

    Give it the record a send returned, ``message=send.output``, or the ids. It reads the message's status
    by listing its conversation's messages (Kapso has no endpoint for one message), and:

    - returns the message record (pushed to XCom as plain JSON) once the status reaches ``target_status``;
      statuses run ``sent`` < ``delivered`` < ``read``, so a ``read`` message satisfies ``delivered``;
    - fails at once, without retries, when the message turns ``failed``, with WhatsApp's error code and text;
    - on timeout reads the message one last time (a delivery confirmed at the deadline still counts), then
      raises ``AirflowSensorTimeout`` naming the status it is at. ``sent`` can be final: Kapso accepted the
      message but WhatsApp never confirmed delivery (reactions get no receipts, blocked or offline
      customers, read receipts off).

    The record's conversation is read from ``whatsapp_conversation_id`` when the record carries it; Kapso's
    documented message record does not, so otherwise the conversation is found through the record's
    ``phone_number`` (one more listing per read).

    It runs in ``mode="poke"`` (default), ``mode="reschedule"``, or ``deferrable=True``: after one read, the
    wait moves to the triggerer (:class:`~kapso_provider.triggers.kapso.KapsoMessageStatusTrigger`, which
    only reads), and the record comes back through :meth:`execute_complete`.

    :param message: the message record a send returned, e.g. ``send.output``; its ``id`` and its
        conversation (``whatsapp_conversation_id``, else found from ``phone_number``) are used. (templated)
    :param message_id: instead of ``message``, Kapso's id of the message or its WhatsApp ``wamid``. (templated)
    :param conversation_id: with ``message_id``, the conversation the message is in. (templated)
    :param target_status: ``delivered`` (default) or ``read``.
    :param kapso_conn_id: the ``kapso`` connection id. (templated)
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param poll_interval: while deferred, seconds between two reads (default: ``poke_interval``).
    :param kwargs: Airflow's sensor and operator arguments (``mode``, ``poke_interval``, ``timeout``,
        ``soft_fail``, ``retries`` ...), typed in ``BaseSensorArguments`` of ``kapso_provider.sensors._base``.
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
        **kwargs: Unpack[BaseSensorArguments],
    ) -> None:
        from kapso_provider.transport.settings import refuse_credentials

        # Before Airflow's base, which would refuse the argument with a bare "Invalid arguments".
        refuse_credentials(type(self).__name__, kapso_conn_id, kwargs)
        super().__init__(**kwargs)
        if message is None and message_id is None:
            raise KapsoArgumentError(
                "message: give the record a send returned (message=send.output), or message_id and conversation_id."
            )
        if message is not None and (message_id is not None or conversation_id is not None):
            raise KapsoArgumentError("message: give either message, or message_id and conversation_id, not both.")
        if message_id is not None and conversation_id is None:
            raise KapsoArgumentError(
                "conversation_id: required with message_id (messages are read through their conversation)."
            )
        self.message = message
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.target_status = check_target_status(target_status)
        self.kapso_conn_id = kapso_conn_id
        self.deferrable = deferrable
        self.poll_interval = None if poll_interval is None else seconds("poll_interval", poll_interval)

    def _ref(self) -> MessageRef:
        """Which message to read, from the rendered arguments."""
        if self.message is None:
            return MessageRef(
                message_id=require_text("message_id", self.message_id),
                conversation_id=require_text("conversation_id", self.conversation_id),
            )
        message: Any = self.message
        if isinstance(message, str):
            # A Jinja template renders to text unless the DAG renders native objects.
            try:
                message = json.loads(message)
            except ValueError:
                raise KapsoArgumentError(
                    "message: rendered to text that is not JSON; pass send.output, or set "
                    "render_template_as_native_obj=True on the DAG."
                ) from None
        return message_ref(message)

    def _read(self, ref: MessageRef) -> tuple[str, dict[str, Any]]:
        """One read of the message: its conversation's id and its record."""
        if ref.conversation_id is not None:
            return ref.conversation_id, self.hook.get_message(ref.conversation_id, ref.message_id)
        assert ref.phone_number is not None  # message_ref() refuses a record with neither
        located = self.hook.locate_message(ref.message_id, phone_number=ref.phone_number)
        return str(located["conversation"]["id"]), located["message"]

    def _reached(self, record: Mapping[str, Any], message_id: str) -> bool:
        """Whether the target is reached; raises, failing without retries, when the message failed."""
        outcome = classify(record, self.target_status)
        if outcome == "failed":
            raise AirflowFailException(failure_text(record, message_id=message_id))
        if outcome == "reached":
            self.log.info("Kapso message %s is %s", message_id, _status_of(record))
            return True
        self.log.info("Kapso message %s is %s; waiting for %s", message_id, _status_of(record), self.target_status)
        return False

    def poke(self, context: Context) -> PokeReturnValue:
        """Read the message once; done, with the record as XCom, when the target status is reached."""
        ref = self._ref()
        _, record = self._read(ref)
        if self._reached(record, ref.message_id):
            return PokeReturnValue(is_done=True, xcom_value=record)
        return PokeReturnValue(is_done=False)

    def _timeout(self, message_id: str, last_status: str | None) -> AirflowSensorTimeout:
        return AirflowSensorTimeout(
            timeout_text(
                message_id=message_id,
                target_status=self.target_status,
                last_status=last_status,
                timeout=float(self.timeout),
            )
        )

    def _read_at_timeout(self, timed_out: AirflowSensorTimeout) -> dict[str, Any]:
        """One last read once Airflow's timeout struck: the record if it arrived just in time, else the timeout
        naming the status the message is at (Airflow's own text gives durations only)."""
        from kapso_provider.exceptions import KapsoAPIError

        ref = self._ref()
        try:
            _, record = self._read(ref)
        except KapsoAPIError as exc:
            self.log.warning("The last read of Kapso message %s failed: %s", ref.message_id, exc)
            raise self._timeout(ref.message_id, None) from timed_out
        if self._reached(record, ref.message_id):
            return record
        raise self._timeout(ref.message_id, _status_of(record)) from timed_out

    def execute(self, context: Context) -> Any:
        """Poke (or reschedule) until done; or, when deferrable, read once and then defer."""
        try:
            if not self.deferrable:
                return super().execute(context)
            ref = self._ref()
            started = time.time()
            conversation_id, record = self._read(ref)
            if self._reached(record, ref.message_id):
                return record
        except AirflowSensorTimeout as exc:
            return self._read_at_timeout(exc)
        finally:
            self.close_hook()
        from kapso_provider.triggers.kapso import KapsoMessageStatusTrigger

        timeout = float(self.timeout)
        self.defer(
            trigger=KapsoMessageStatusTrigger(
                message_id=ref.message_id,
                conversation_id=conversation_id,
                target_status=self.target_status,
                kapso_conn_id=self.kapso_conn_id,
                poll_interval=float(self.poll_interval or self.poke_interval),
                deadline=started + timeout,
                last_status=_status_of(record),
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=timeout + DEFERRAL_GRACE_SECONDS),
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
        last_status = event.get("last_status")
        record = event.get("message")
        status = event.get("status")
        if status == "reached" and isinstance(record, dict):
            self.log.info("Kapso message %s is %s", message_id, last_status)
            return record
        if status == "failed" and isinstance(record, dict):
            raise AirflowFailException(failure_text(record, message_id=message_id))
        if status == "timeout":
            raise self._timeout(message_id, last_status)
        raise AirflowException(
            f"Waiting for Kapso message {message_id} failed: {event.get('error') or f'unexpected event {status!r}'}"
        )
