"""The trigger a deferred :class:`~kapso_provider.sensors.kapso.KapsoMessageStatusSensor` waits in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kapso_provider.triggers.base import KapsoPollingTrigger, Poll
from kapso_provider.utils.message_status import check_target_status, classify

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoAsyncHook

__all__ = ["KapsoMessageStatusTrigger"]


class KapsoMessageStatusTrigger(KapsoPollingTrigger[None]):
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

    serialized_fields: ClassVar[tuple[str, ...]] = (
        "message_id",
        "conversation_id",
        "target_status",
        *KapsoPollingTrigger.serialized_fields,
        "last_status",
    )

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
        super().__init__(kapso_conn_id=kapso_conn_id, poll_interval=poll_interval, deadline=deadline)
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.target_status = check_target_status(target_status)
        self.last_status = last_status

    def identity(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "conversation_id": self.conversation_id}

    def initial_report(self) -> dict[str, Any]:
        return {"message": None, "last_status": self.last_status}

    async def poll(self, hook: KapsoAsyncHook, state: None) -> Poll:
        record = await hook.get_message(self.conversation_id, self.message_id)
        status = record.get("status")
        last_status = status if isinstance(status, str) else None
        outcome = classify(record, self.target_status)
        if outcome == "waiting":
            self.log.info("Kapso message %s is %s; waiting for %s", self.message_id, last_status, self.target_status)
        return Poll(None if outcome == "waiting" else outcome, {"message": record, "last_status": last_status})
