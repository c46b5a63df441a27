"""Kapso's clock as seen from this machine: the offset learned from the ``Date`` header of every answer.

Reconciliation compares Kapso's ``created_at`` with the moment a send began on this machine. The two
clocks may be minutes apart, so :class:`KapsoClock` keeps bounds on the offset between them from each
answer's ``Date`` (RFC 7231, whole seconds): an answer dated ``D`` that arrived at ``received`` and whose
request left at ``sent`` says that Kapso's clock minus this one lies between ``D - received`` and
``D + 1 - sent``. The lower bound is what a window's start needs: nothing this machine sent after ``t`` can
carry a Kapso time before ``t + lower``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime


class KapsoClock:
    """Bounds on (Kapso's clock - this machine's clock), in seconds; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lower: float | None = None
        self._upper: float | None = None
        # Answers within one second carry the same Date: parse each text once.
        self._last_date: tuple[str, float] | None = None

    @property
    def known(self) -> bool:
        """Whether an answer with a usable ``Date`` header has been seen."""
        return self._lower is not None

    @property
    def bounds(self) -> tuple[float, float] | None:
        """``(lower, upper)`` seconds by which Kapso's clock is ahead of this one, once known."""
        with self._lock:
            if self._lower is None or self._upper is None:
                return None
            return self._lower, self._upper

    def observe(self, date_header: str | None, *, sent_at: float, received_at: float) -> None:
        """Take in one answer's ``Date`` header.

        :param date_header: the header's value, or ``None`` when the answer had none.
        :param sent_at: when the request left, seconds since the epoch on this machine's clock.
        :param received_at: when the answer arrived, on the same clock.
        """
        if not date_header:
            return
        last = self._last_date
        if last is not None and last[0] == date_header:
            kapso_time = last[1]
        else:
            try:
                kapso_time = parsedate_to_datetime(date_header).timestamp()
            except (TypeError, ValueError, IndexError, OverflowError):
                return
            self._last_date = (date_header, kapso_time)
        lower, upper = kapso_time - received_at, kapso_time + 1.0 - sent_at
        with self._lock:
            if self._lower is None or self._upper is None or max(self._lower, lower) > min(self._upper, upper):
                # The first figure, or one that contradicts the bounds so far: a clock was set since, so the
                # newest answer is the one to believe.
                self._lower, self._upper = lower, upper
            else:
                self._lower, self._upper = max(self._lower, lower), min(self._upper, upper)

    def earliest_kapso_time(self, moment: datetime) -> datetime | None:
        """The earliest time Kapso's clock can have shown at this machine's ``moment``, once known."""
        with self._lock:
            lower = self._lower
        if lower is None:
            return None
        return moment.astimezone(UTC) + timedelta(seconds=lower)
