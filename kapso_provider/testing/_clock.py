"""Kapso's clock as the simulator keeps it: the machine's clock shifted by a test-chosen offset."""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate

__all__ = ["Clock", "utc_timestamp"]


def utc_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``, the form every simulated record carries.

    :param moment: an aware datetime.
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_offset(value: object) -> float:
    """``value`` as an offset in seconds, or a :class:`ValueError` naming the field.

    :param value: the offset asked for.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"clock_offset: {value!r} must be a finite number of seconds (negative: Kapso is behind)")
    return float(value)


class Clock:
    """The time Kapso would read: ``time.time() + offset``.

    Every timestamp the simulator writes and the ``Date`` header of every answer come from here, so a
    test can put Kapso minutes ahead of or behind the machine (a worker's clock that drifted).

    :param offset: seconds added to the machine's clock; negative puts Kapso behind.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self._lock = threading.Lock()
        self._offset = check_offset(offset)
        self._last = datetime.fromtimestamp(0, UTC)

    @property
    def offset(self) -> float:
        """Seconds Kapso's clock is ahead of the machine's (negative: behind). Settable at any time."""
        return self._offset

    @offset.setter
    def offset(self, value: float) -> None:
        offset = check_offset(value)
        with self._lock:
            self._offset = offset
            # Stamps follow the new clock at once, even when it went back: that is what a test asks for.
            self._last = datetime.fromtimestamp(0, UTC)

    def time(self) -> float:
        """Seconds since the epoch on Kapso's clock."""
        return time.time() + self._offset

    def at(self, machine_time: float) -> datetime:
        """The moment on Kapso's clock of a ``time.time()`` reading of the machine.

        :param machine_time: a ``time.time()`` value.
        """
        return datetime.fromtimestamp(machine_time + self._offset, UTC)

    def stamp(self) -> str:
        """A timestamp of now, strictly later than every one handed out before, so ordering by time is exact."""
        with self._lock:
            moment = datetime.fromtimestamp(self.time(), UTC)
            if moment <= self._last:
                moment = self._last + timedelta(microseconds=1)
            self._last = moment
            return utc_timestamp(moment)

    def stamp_ago(self, seconds: float) -> str:
        """A timestamp ``seconds`` before now on Kapso's clock (not kept in order with :meth:`stamp`).

        :param seconds: how long ago; negative for the future.
        """
        return utc_timestamp(datetime.fromtimestamp(self.time() - seconds, UTC))

    def stamp_at(self, machine_time: float) -> str:
        """The timestamp of a ``time.time()`` reading of the machine, on Kapso's clock.

        :param machine_time: a ``time.time()`` value.
        """
        return utc_timestamp(self.at(machine_time))

    def http_date(self) -> str:
        """Now as an HTTP ``Date`` header value: RFC 7231 IMF-fixdate, whole seconds, GMT."""
        return formatdate(self.time(), usegmt=True)
