"""How outbound messages move from ``sent`` to ``delivered``, ``read`` or ``failed`` by themselves.

Nothing here touches a record: :class:`Progression` only keeps the settings and the changes waiting for
their time, and the store applies what it hands out. No timer thread runs: changes are applied whenever
messages are read, so a test sees the same outcome however busy the machine is, once the delay has passed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from kapso_provider.testing._clock import Clock

__all__ = ["MESSAGE_STATUSES", "Progression", "StatusChange", "check_status"]

#: Statuses a simulated message may be moved to. ``status`` is a free string in the v1 files; these are the
#: ones WhatsApp reports, plus Kapso's inbound ``received``.
MESSAGE_STATUSES = frozenset({"pending", "sent", "delivered", "read", "failed", "received"})


def check_status(status: object) -> str:
    """``status`` when it is one of :data:`MESSAGE_STATUSES`, else a :class:`ValueError`.

    :param status: the status asked for.
    """
    if status not in MESSAGE_STATUSES:
        raise ValueError(f"status must be one of {sorted(MESSAGE_STATUSES)}")
    return str(status)


def check_delay(name: str, value: float | None) -> float | None:
    """A delay in seconds (``None`` allowed), or a :class:`ValueError` naming the setting.

    :param name: the setting, for the message.
    :param value: the delay asked for.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0 or None")
    return float(value)


@dataclass(frozen=True)
class StatusChange:
    """A status a message takes on by itself once its time comes, as a WhatsApp status webhook would.

    :param message_id: Kapso id of the message.
    :param status: the status it moves to.
    :param due: ``time.time()`` of the machine at which it moves.
    :param error_code: for ``failed``, the WhatsApp error code.
    :param error_message: for ``failed``, the WhatsApp error text.
    :param clock: Kapso's clock, which :meth:`to_json` reads ``due`` on.
    """

    message_id: str
    status: str
    due: float
    error_code: int | None = None
    error_message: str | None = None
    clock: Clock | None = field(default=None, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The change as plain JSON data (for the control endpoints); ``due_at`` is on Kapso's clock."""
        clock = self.clock or Clock()
        return {
            "message_id": self.message_id,
            "status": self.status,
            "due_at": clock.stamp_at(self.due),
            "error_code": self.error_code,
            "error_message": self.error_message,
        }


class Progression:
    """The progression settings and the changes waiting for their time. Callers hold the store's lock.

    :param clock: Kapso's clock, stamped on the changes it hands out.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._delivery_delay: float | None = None
        self._read_delay: float | None = None
        #: The WhatsApp error an automatic failure carries (``delivery_delay`` or ``status_sequence``).
        self.delivery_error_code: int | None = None
        self.delivery_error_message: str | None = None
        self._status_sequence: tuple[str, ...] | None = None
        self._changes: list[StatusChange] = []
        #: Kapso id -> (the sequence of a new outbound message, how many listings it has been through).
        self._sequences: dict[str, tuple[tuple[str, ...], int]] = {}

    # -- settings ---------------------------------------------------------------------------------------

    @property
    def delivery_delay(self) -> float | None:
        """Seconds after a send at which new outbound messages turn ``delivered``; ``None`` keeps them ``sent``."""
        return self._delivery_delay

    @delivery_delay.setter
    def delivery_delay(self, value: float | None) -> None:
        self._delivery_delay = check_delay("delivery_delay", value)

    @property
    def read_delay(self) -> float | None:
        """Seconds after delivery at which new outbound messages turn ``read``; ``None``: never read."""
        return self._read_delay

    @read_delay.setter
    def read_delay(self, value: float | None) -> None:
        self._read_delay = check_delay("read_delay", value)

    @property
    def status_sequence(self) -> tuple[str, ...] | None:
        """Statuses a new outbound message shows on successive listings of its conversation's messages."""
        return self._status_sequence

    @status_sequence.setter
    def status_sequence(self, value: list[str] | tuple[str, ...] | None) -> None:
        if value is None:
            self._status_sequence = None
            return
        if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
            raise ValueError("status_sequence must be a non-empty list of statuses or None")
        unknown = [status for status in value if status not in MESSAGE_STATUSES]
        if unknown:
            raise ValueError(f"status_sequence: unknown status(es) {unknown}; allowed: {sorted(MESSAGE_STATUSES)}")
        self._status_sequence = tuple(value)

    # -- changes ----------------------------------------------------------------------------------------

    def plan(self, message_id: str, sent_at: float) -> None:
        """Queue the automatic changes of a new outbound message, from the settings.

        :param message_id: its Kapso id.
        :param sent_at: ``time.time()`` of the send.
        """
        if self._status_sequence is not None:
            self._sequences[message_id] = (self._status_sequence, 0)
        if self._delivery_delay is None:
            return
        delivered_at = sent_at + self._delivery_delay
        if self.delivery_error_code is not None or self.delivery_error_message is not None:
            self.schedule(message_id, "failed", delivered_at, self.delivery_error_code, self.delivery_error_message)
            return
        self.schedule(message_id, "delivered", delivered_at)
        if self._read_delay is not None:
            self.schedule(message_id, "read", delivered_at + self._read_delay)

    def schedule(
        self,
        message_id: str,
        status: str,
        due: float,
        error_code: int | None = None,
        error_message: str | None = None,
    ) -> StatusChange:
        """Queue one change.

        :param message_id: Kapso id of the message.
        :param status: the status it moves to.
        :param due: ``time.time()`` at which it moves.
        :param error_code: for ``failed``, the WhatsApp error code.
        :param error_message: for ``failed``, the WhatsApp error text.
        """
        change = StatusChange(message_id, check_status(status), due, error_code, error_message, self._clock)
        self._changes.append(change)
        return change

    def take_due(self) -> list[StatusChange]:
        """Remove and return, in time order, every change whose time has come."""
        if not self._changes:
            return []
        now = time.time()
        due = sorted((change for change in self._changes if change.due <= now), key=lambda change: change.due)
        if due:
            self._changes = [change for change in self._changes if change.due > now]
        return due

    def pending(self) -> list[StatusChange]:
        """Changes not applied yet, in time order."""
        return sorted(self._changes, key=lambda change: change.due)

    def next_listed_status(self, message_id: str) -> str | None:
        """One listing of a message with a sequence: the status it shows now (``None`` without a sequence).

        :param message_id: its Kapso id.
        """
        script = self._sequences.get(message_id)
        if script is None:
            return None
        sequence, listings = script
        self._sequences[message_id] = (sequence, listings + 1)
        return sequence[min(listings, len(sequence) - 1)]

    def forget(self, message_id: str) -> None:
        """Drop the changes and the sequence of one message (a test decided its fate).

        :param message_id: its Kapso id.
        """
        self._changes = [change for change in self._changes if change.message_id != message_id]
        self._sequences.pop(message_id, None)

    def clear(self) -> None:
        """Drop every change and sequence; the settings stay."""
        self._changes.clear()
        self._sequences.clear()
