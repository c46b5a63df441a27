"""When the next request to Kapso may leave: pacing to the API's rate limit, for one hook, many threads or
many processes that share one API key.

Kapso counts requests per API key in fixed one-minute windows and reports ``X-RateLimit-Limit`` and
``X-RateLimit-Remaining`` on every answer, but not when the window ends. :class:`RequestPacer` turns those
figures (and an optional ceiling of the caller's own) into a wait before each request, so that senders run
at the limit instead of into it. It does no sleeping itself: the synchronous hook sleeps, the asynchronous
one awaits.

Senders in other processes (other Celery workers, other tasks) that use the same key are seen through the
same figures: the remaining count falls by one for each of this pacer's own requests and by more when
others send too. The pacer keeps the ratio of the two over its recent answers, its *share* of the key's
traffic, and claims only that share of the key's rate and of what is left of a window. Every sender doing
the same, the shares add up to one and the senders together stay within the limit, with no store shared
between them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# Seconds of margin after a window's estimated end, so that clock granularity never sends into it.
_WINDOW_END_MARGIN = 1.0
# A steady pacer's first two requests go alone, the second this many of the key's request intervals after
# the first answer: what Kapso counted between them is the first measure of the share, before any burst.
_PROBE_GAP_REQUESTS = 4
# Answers the share is measured over: enough to count the others' requests between them precisely, few
# enough to follow senders that come and go within a window or two.
_SHARE_HISTORY = 24
_SHARE_RECENT = 6


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

    Three rules decide a request's slot:

    - *Share* (always): of all the requests Kapso counted for the key between this pacer's answers, the
      fraction that were this pacer's own is its share (the lower of the figure over its last 24 answers
      and over its last 6, so that a sender that joins is seen at once); the rate and budget below are
      that share of the key's. Alone on the key, the share is one.
    - *Steady rate* (``steady=True``, for bulk work): requests leave evenly spaced at the lower of
      ``max_requests_per_minute`` and the share of the limit Kapso reports, times ``headroom``. The first
      two requests go alone, the second four of the key's request intervals after the first answer, and
      the other threads wait for their answers (at most ``probe_timeout``): what Kapso counted in between
      is the first measure of the share, and a first burst of every thread at once could spend a small
      window by itself. When the first answer shows a window that holds only that request, nobody else
      is sending and the first request is probe enough.
    - *Window budget* (always): a steady pacer claims at most its share of what the window has left (as
      Kapso last reported it, less the requests it reserved since), any pacer does once a tenth or less of
      the window remains; with nothing left for it, the next request waits for the next window. A steady
      pacer spreads its part over the time the window has left, any pacer does in that last tenth. A
      window began no later than the answer that first showed its fresh count; a pacer that has not seen
      one assumes the window began at its first answer, which keeps the window's end late, never early.

    :param window: seconds of Kapso's fixed rate-limit window.
    :param max_requests_per_minute: the caller's own ceiling, or ``None`` for Kapso's reported limit only.
    :param steady: space every request at the rate, not only those at the end of a window.
    :param headroom: the fraction of the rate a steady sender uses, below 1 so that timing jitter between
        this machine and Kapso, and the error of the share, cannot fit one request too many into a window.
    :param probe_timeout: the longest a steady sender's threads wait for the first two answers.
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
        # A steady pacer's probe requests so far, whether one is unanswered, and whether the share is measured;
        # its other threads wait on the condition until then.
        self._probes = 0
        self._probe_in_flight = False
        self._measured = False
        self._answered = threading.Condition(self._lock)
        self._next_slot = 0.0
        # Kapso's figures: the limit, the lowest remaining count it reported since the last fresh count (the
        # freshest: answers to concurrent requests arrive in any order), and when that answer came.
        self._limit: int | None = None
        self._lowest_reported = 0
        self._fresh_count_at = 0.0
        # The window reserve() plans in: it starts as the reported one and moves on by itself when its
        # estimated end passes. Its budget is the key's requests left in it, less this pacer's reservations
        # since the count that budget comes from.
        self._window_started_at = 0.0
        self._budget = 0
        self._reserved = 0
        # Slots of this pacer's requests not answered yet, earliest first (answers are taken to come in order).
        self._outstanding: deque[float] = deque()
        # Answers still to come that may belong to the window before the last fresh count.
        self._stale_answers = 0
        # Per recent answer: the requests Kapso counted for the key since this pacer's previous answer.
        self._counts: deque[int] = deque(maxlen=_SHARE_HISTORY)
        self._recent_counts: deque[int] = deque(maxlen=_SHARE_RECENT)
        self._counted = self._recently_counted = 0
        self._current_share = 1.0

    @property
    def limit(self) -> int | None:
        """Kapso's reported requests per window, once an answer has carried it."""
        return self._limit

    @property
    def share(self) -> float:
        """This pacer's fraction of the key's recent requests (1 until answers show other senders)."""
        with self._lock:
            return self._share()

    def _share(self) -> float:
        return self._current_share

    def _count(self, counted: int | None) -> None:
        """Record one answer's count (``None``: forget them all) and work the share out again."""
        if counted is None:
            self._counts.clear()
            self._recent_counts.clear()
            self._counted = self._recently_counted = 0
        else:
            # Running totals: the oldest count leaves each full history as the new one comes in.
            if len(self._counts) == self._counts.maxlen:
                self._counted -= self._counts[0]
            if len(self._recent_counts) == self._recent_counts.maxlen:
                self._recently_counted -= self._recent_counts[0]
            self._counts.append(counted)
            self._recent_counts.append(counted)
            self._counted += counted
            self._recently_counted += counted
        # The lower of the share over all recent answers and over the last few: a sender that starts is seen
        # at once, one that stops over a window or two.
        share = 1.0
        for mine, total in ((len(self._counts), self._counted), (len(self._recent_counts), self._recently_counted)):
            if mine and total > mine:
                share = min(share, mine / total)
        self._current_share = share

    def requests_per_second(self) -> float | None:
        """The steady rate in requests per second, or ``None`` when nothing bounds it yet."""
        with self._lock:
            return self._rate()

    def _rate(self) -> float | None:
        rates = []
        if self.max_requests_per_minute is not None:
            rates.append(self.max_requests_per_minute / 60.0)
        if self._limit:
            rates.append(self._limit / self.window * self._share())
        return min(rates) * self.headroom if rates else None

    def reserve(self) -> float:
        """Claim the next request's slot and return the seconds to wait before sending it.

        A steady pacer blocks here, until its first two requests are answered, for every other request.
        """
        with self._lock:
            deadline = time.monotonic() + self.probe_timeout
            while self.steady and not self._measured:
                if not self._probe_in_flight and self._probes < 2:
                    self._probes += 1
                    self._probe_in_flight = True
                    return self._reserve_slot(probe=self._probes)
                left = deadline - time.monotonic()
                if left <= 0:
                    break  # no answer in time: go on without the measure
                self._answered.wait(left)
            return self._reserve_slot()

    def _reserve_slot(self, *, probe: int = 0) -> float:
        now = self._clock()
        while self._outstanding and self._outstanding[0] < now - self.window:
            # Never answered (the request failed before any answer): no longer a claim on any window.
            self._outstanding.popleft()
        slot = max(now, self._next_slot)
        spacing = 0.0
        if self.steady:
            rate = self._rate()
            if rate:
                spacing = 1.0 / rate
        if self._limit:
            if probe == 2:
                slot = max(slot, self._fresh_count_at + _PROBE_GAP_REQUESTS * self.window / self._limit)
            slot, spacing = self._end_of_window(slot, spacing)
        self._reserved += 1
        self._outstanding.append(slot)
        self._next_slot = slot + spacing
        return slot - now

    def _end_of_window(self, slot: float, spacing: float) -> tuple[float, float]:
        """The slot and spacing within the window's budget: this pacer's share of it, spread to its end."""
        assert self._limit is not None
        window_end = self._window_started_at + self.window + self._end_margin()
        if slot >= window_end:
            # The window this pacer knows of is over: the next one starts with the full limit.
            self._assume_next_window(window_end)
            return slot, spacing
        # Every sender claims its share of what is left; a little less, as the shares are estimates. An
        # occasional sender (not steady) claims it only near the window's end: its share, measured over long
        # gaps between its requests, is tiny, and holding each of its requests to the next window would
        # slow it down for nothing while the window has plenty left.
        low = self._budget <= self._limit // 10
        share = self._share() if self.steady or low else 1.0
        mine = self._budget * share * self.headroom - self._reserved
        if mine < 1:
            # Nothing left for this pacer in this window: the next one opens at its end.
            self._assume_next_window(window_end)
            return window_end, spacing
        if not self.steady and not low:
            return slot, spacing
        # Spread over the time the window has left: a steady sender is never idle for long, so answers reach
        # it all through the window and its share is measured over all of it, not just over its bursts.
        return slot, max(spacing, (window_end - slot) / (mine + 1))

    def _end_margin(self) -> float:
        return min(_WINDOW_END_MARGIN, self.window * 0.02)

    def _assume_next_window(self, started_at: float) -> None:
        assert self._limit is not None
        self._window_started_at = started_at
        self._budget = self._limit
        self._reserved = 0

    def observe(self, headers: Mapping[str, str], *, answered_at: float | None = None) -> None:
        """Take in Kapso's ``X-RateLimit-*`` figures from one answer.

        :param headers: the answer's headers.
        :param answered_at: when the answer arrived on this pacer's clock; now when ``None``.
        """
        figures = rate_limit_figures(headers)
        with self._lock:
            if self._outstanding:
                self._outstanding.popleft()
            self._probe_in_flight = False
            was_measured = self._measured
            if figures is None:
                self._limit = None
                if not was_measured:
                    self._measured = True
                    self._answered.notify_all()
                return
            limit, remaining = figures
            now = self._clock() if answered_at is None else answered_at
            if self._limit is None or limit != self._limit:
                # First figures: a window is running, since when is unknown; assuming now keeps its end late.
                self._limit = limit
                self._count(None)
                self._fresh_count(now, remaining)
                if remaining >= limit - 1:
                    # The window holds this request alone: nobody else is sending, no second probe needed.
                    self._measured = True
            elif remaining > self._lowest_reported and remaining > self._lowest_reported + self._reorder_margin():
                # A fresh count: Kapso opened a new window before answering, so it began no later than now.
                # Answers to requests still in flight may yet report the old window's count.
                self._fresh_count(now, remaining)
                self._stale_answers = self._sent_unanswered(now)
            elif now > self._fresh_count_at + self.window + self._end_margin():
                # The window of the last fresh count is over, so this count is a later one's, which began
                # while this pacer had no answer; since when is unknown, and assuming now keeps its end late.
                self._fresh_count(now, remaining)
                self._stale_answers = 0
            elif self._stale_answers > 0:
                # Perhaps the old window's count: left out. A count of the new window is not lost, as the next
                # answer's fall from the lowest count includes it.
                self._stale_answers -= 1
                self._count(0)
            elif remaining == 0 == self._lowest_reported:
                pass  # a spent window counts nothing more: no measure of the share
            elif remaining < self._lowest_reported:
                self._count(self._lowest_reported - remaining)
                self._lowest_reported = remaining
                if self._window_started_at == self._fresh_count_at:
                    # Not once reserve() moved on to a window of its own estimate: this count is the old one's.
                    self._budget = remaining
                    self._reserved = len(self._outstanding)
            else:
                # Above the lowest count: a late answer to an earlier request, counted already.
                self._count(0)
            if not was_measured:
                # Threads may be waiting for the probes' answers: this one ends the wait or frees a probe.
                self._measured = self._measured or bool(self._counts) or self._probes >= 2
                self._answered.notify_all()

    def _fresh_count(self, now: float, remaining: int) -> None:
        self._lowest_reported = remaining
        self._fresh_count_at = self._window_started_at = now
        self._budget = remaining
        self._reserved = len(self._outstanding)

    def _reorder_margin(self) -> float:
        """How far above the lowest count a late answer to an earlier request of this window can be."""
        assert self._limit is not None
        # Kapso counted that request before the one that showed the lowest count; since then at most this
        # pacer's requests in flight and the others' in between (about one share's worth each) were counted.
        return min(self._limit / 4, (self._sent_unanswered(self._clock()) + 1) / self._share())

    def _sent_unanswered(self, now: float) -> int:
        """This pacer's requests sent and not answered yet (reserved ones whose slot has come)."""
        return sum(1 for slot in self._outstanding if slot <= now)
