"""Triggers that wait on Kapso in Airflow's triggerer, without holding a worker slot.

The triggerer imports this module to rebuild a trigger from its serialized form, so the hook (and with it
``httpx``) is imported only when a trigger runs.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

# common.compat offers only BaseEventTrigger for triggers; BaseTrigger and TriggerEvent live in
# airflow.triggers.base on Airflow 2.11 and 3.x alike.
from airflow.triggers.base import BaseTrigger, TriggerEvent

from kapso_provider.sensors._status import check_target_status, classify

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["KapsoMessageStatusTrigger"]


class KapsoMessageStatusTrigger(BaseTrigger):
    """Polls a message's status until it reaches ``target_status``, fails, or the deadline passes.

    It only reads (``GET`` the conversation's messages through
    :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook`, which waits out 429s and paces to the rate limit);
    it never sends. It yields exactly one event, a dict of plain JSON values:

    - ``status``: ``reached``, ``failed``, ``timeout`` or ``error``;
    - ``message``: the last message record read, or ``None``;
    - ``last_status``: the message's last status seen, or ``None``;
    - ``error``: for ``error``, what went wrong (an API error's text; never the API key);
    - ``message_id`` and ``conversation_id``: what was waited for.

    :param message_id: Kapso's id of the message, or its WhatsApp ``wamid``.
    :param conversation_id: the conversation the message is in.
    :param target_status: ``delivered`` or ``read`` (a ``read`` message satisfies ``delivered``).
    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp (seconds since the epoch), or ``None`` for never.
    :param last_status: the status the sensor saw before deferring, reported if no read succeeds.
    """

    def __init__(
        self,
        *,
        message_id: str,
        conversation_id: str,
        target_status: str = "delivered",
        kapso_conn_id: str = "kapso_default",
        poll_interval: float = 60.0,
        deadline: float | None = None,
        last_status: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.target_status = check_target_status(target_status)
        self.kapso_conn_id = kapso_conn_id
        if not poll_interval > 0:
            raise ValueError(f"poll_interval: {poll_interval!r} must be a positive number of seconds")
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.last_status = last_status

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and keyword arguments (strings, numbers and ``None`` only) to rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "message_id": self.message_id,
                "conversation_id": self.conversation_id,
                "target_status": self.target_status,
                "kapso_conn_id": self.kapso_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "last_status": self.last_status,
            },
        )

    def _event(
        self, status: str, *, message: dict[str, Any] | None, last_status: str | None, error: str | None = None
    ) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
            {
                "status": status,
                "message": message,
                "last_status": last_status,
                "error": error,
                "message_id": self.message_id,
                "conversation_id": self.conversation_id,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the message every ``poll_interval`` seconds and yield one event when the wait is over."""
        from kapso_provider.exceptions import KapsoAPIError, KapsoConfigurationError
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        hook = KapsoAsyncHook(kapso_conn_id=self.kapso_conn_id)
        last_status = self.last_status
        record: dict[str, Any] | None = None
        try:
            while True:
                try:
                    record = await hook.get_message(self.conversation_id, self.message_id)
                except (KapsoAPIError, KapsoConfigurationError) as exc:
                    # The hook already retried what can be retried (429s, transient failures of a read).
                    yield self._event("error", message=record, last_status=last_status, error=str(exc))
                    return
                status = record.get("status")
                last_status = status if isinstance(status, str) else None
                outcome = classify(record, self.target_status)
                if outcome != "waiting":
                    yield self._event(outcome, message=record, last_status=last_status)
                    return
                self.log.info(
                    "Kapso message %s is %s; waiting for %s", self.message_id, last_status, self.target_status
                )
                wait = self.poll_interval
                if self.deadline is not None:
                    remaining = self.deadline - time.time()
                    if remaining <= 0:
                        yield self._event("timeout", message=record, last_status=last_status)
                        return
                    # One last read right at the deadline, so a late delivery still counts.
                    wait = min(wait, remaining)
                await asyncio.sleep(wait)
        finally:
            await hook.aclose()
