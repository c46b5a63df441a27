"""When the next request to Kapso may leave: pacing to the API's rate limit, for one hook or many threads.

Kapso counts requests per API key in fixed one-minute windows and reports ``X-RateLimit-Limit`` and
``X-RateLimit-Remaining`` on every answer, but not when the window ends. :class:`RequestPacer` turns those
figures (and an optional ceiling of the caller's own) into a wait before each request, so that senders run
at the limit instead of into it. It does no sleeping itself: the synchronous hook sleeps, the asynchronous
one awaits.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# Seconds of margin after a window's estimated end, so that clock granularity never sends into it.
_WINDOW_END_MARGIN = 1.0


def rate_limit_figures(headers: Mapping[str, str]) -> tuple[int, int] | None:
    """``(limit, remaining)`` from an answer's ``X-RateLimit-*`` headers, or ``None`` without them.

    :param headers: the answer's headers (any case-insensitive mapping).
    """
    try:
        return int(headers["X-RateLimit-Limit"]), int(headers["X-RateLimit-Remaining"])
    except (KeyError, ValueError, TypeError):
        return None


class RequestPacer:
    """Spaces requests to stay within Kapso's rate limit; safe to share between threads.

    Two rules decide a request's slot:

    - *Steady rate* (``steady=True``, for bulk work): requests leave evenly spaced at the lower of
      ``max_requests_per_minute`` and the limit Kapso reports, times ``headroom``. A steady sender never
      fills a window early, so it never meets a 429 of its own making. Until the first answer tells the
      limit, one request goes alone and the others wait for its answer (at most ``probe_timeout``): a
      first burst of every thread at once could spend a small window by itself.
    - *End of window* (always): once a tenth or less of the window's requests remain, the rest are spread
      over the time the window has left, and with none left the next request waits for the next window.
      A window began no later than the answer that first showed its fresh count.

    :param window: seconds of Kapso's fixed rate-limit window.
    :param max_requests_per_minute: the caller's own ceiling, or ``None`` for Kapso's reported limit only.
    :param steady: space every request at the rate, not only those at the end of a window.
    :param headroom: the fraction of the rate a steady sender uses, below 1 so that timing jitter between
        this machine and Kapso cannot fit one request too many into a window.
    :param probe_timeout: the longest a steady sender's threads wait for the first answer.
    :param clock: a monotonic clock in seconds.
    """

    def __init__(
        self,
        *,
        window: float = 60.0,
        max_requests_per_minute: float | None = None,
        steady: bool = False,
        headroom: float = 0.98,
        probe_timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window <= 0:
            raise ValueError(f"window: {window} must be positive")
        if max_requests_per_minute is not None and max_requests_per_minute <= 0:
            raise ValueError(f"max_requests_per_minute: {max_requests_per_minute} must be positive")
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom: {headroom} must be in (0, 1]")
        self.window = window
        self.max_requests_per_minute = max_requests_per_minute
        self.steady = steady
        self.headroom = headroom
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._probe_sent = False
        self._first_answer = threading.Event()
        self._next_slot = 0.0
        # Kapso's figures: the limit, the remaining count it last reported, and when that window began.
        self._limit: int | None = None
        self._reported_remaining = 0
        self._window_started_at = 0.0
        # Requests this window can still take, counting the ones reserved since Kapso's last report.
        self._budget = 0

    @property
    def limit(self) -> int | None:
        """Kapso's reported requests per window, once an answer has carried it."""
        return self._limit

    def requests_per_second(self) -> float | None:
        """The steady rate in requests per second, or ``None`` when nothing bounds it yet."""
        rates = []
        if self.max_requests_per_minute is not None:
            rates.append(self.max_requests_per_minute / 60.0)
        if self._limit:
            rates.append(self._limit / self.window)
        return min(rates) * self.headroom if rates else None

    def reserve(self) -> float:
        """Claim the next request's slot and return the seconds to wait before sending it.

        A steady pacer blocks here, before its first answer, for every request but the first.
        """
        if self.steady and not self._first_answer.is_set():
            with self._lock:
                is_probe, self._probe_sent = not self._probe_sent, True
            if not is_probe:
                self._first_answer.wait(self.probe_timeout)
        with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot)
            spacing = 0.0
            if self.steady:
                rate = self.requests_per_second()
                if rate:
                    spacing = 1.0 / rate
            if self._limit and self._budget <= self._limit // 10:
                window_end = self._window_started_at + self.window + min(_WINDOW_END_MARGIN, self.window * 0.02)
                time_left = window_end - slot
                if time_left > 0 and self._budget <= 0:
                    # Nothing left in this window: the next one opens at its end, with a full budget.
                    slot = window_end
                    self._window_started_at = window_end
                    self._budget = self._limit
                elif time_left > 0:
                    spacing = max(spacing, time_left / (self._budget + 1))
            self._budget -= 1
            self._next_slot = slot + spacing
            return slot - now

    def observe(self, headers: Mapping[str, str], *, answered_at: float | None = None) -> None:
        """Take in Kapso's ``X-RateLimit-*`` figures from one answer.

        :param headers: the answer's headers.
        :param answered_at: when the answer arrived on this pacer's clock; now when ``None``.
        """
        figures = rate_limit_figures(headers)
        self._first_answer.set()
        with self._lock:
            if figures is None:
                self._limit = None
                return
            limit, remaining = figures
            if self._limit is None or remaining > self._reported_remaining or limit != self._limit:
                # A fresh count: Kapso opened a new window before answering, so it began no later than now.
                self._window_started_at = self._clock() if answered_at is None else answered_at
            self._limit = limit
            self._reported_remaining = remaining
            self._budget = remaining
