"""RequestPacer's decisions, on a clock the test moves by hand; senders sharing a key, on a model of Kapso's
windows and against the simulator with one process per sender."""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from dataclasses import dataclass, field

import pytest

from kapso_provider.pacing import RequestPacer, rate_limit_figures


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _headers(limit: int, remaining: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}


def _send(pacer: RequestPacer, clock: FakeClock) -> float:
    """Reserve a slot and move the clock to it, as a sender that sleeps would; returns the wait."""
    wait = pacer.reserve()
    clock.now += wait
    return wait


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (_headers(100, 7), (100, 7)),
        ({"X-RateLimit-Limit": "100"}, None),
        ({"X-RateLimit-Limit": "a lot", "X-RateLimit-Remaining": "1"}, None),
        ({}, None),
    ],
)
def test_rate_limit_figures(headers: dict[str, str], expected: tuple[int, int] | None) -> None:
    assert rate_limit_figures(headers) == expected


def test_without_figures_or_ceiling_nothing_waits() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, steady=True)
    pacer.observe({})  # the first answer carried no X-RateLimit-* headers
    assert [_send(pacer, clock) for _ in range(50)] == [0.0] * 50


def test_a_steady_sender_is_spaced_at_the_ceiling_with_headroom() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, steady=True, max_requests_per_minute=600, headroom=0.5)
    pacer.observe({})
    waits = [_send(pacer, clock) for _ in range(11)]
    assert waits[0] == 0.0
    assert waits[1:] == pytest.approx([0.2] * 10)  # 600/min at half headroom: 5 per second


def test_a_steady_sender_follows_the_lower_of_ceiling_and_reported_limit() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, steady=True, max_requests_per_minute=6000, headroom=1.0)
    # Kapso allows 60 per minute: one per second. Alone on the key, each answer shows the count one lower.
    for remaining in (59, 58, 57):
        _send(pacer, clock)
        pacer.observe(_headers(60, remaining))
    assert pacer.share == 1.0
    assert pacer.requests_per_second() == pytest.approx(1.0)
    # The window's 57 requests left are spread over its 58 s left, a little slower than the rate.
    assert _send(pacer, clock) == pytest.approx(1.0, rel=0.02)


@pytest.mark.parametrize("steady", [False, True])
def test_no_window_ever_gets_more_than_the_limit(steady: bool) -> None:
    # Kapso's side, simulated: fixed windows of 10 s holding 20 requests, reported after each request.
    clock = FakeClock()
    window, limit = 10.0, 20
    pacer = RequestPacer(clock=clock, window=window, steady=steady)
    window_start, used, per_window = clock.now - 3.0, 0, []  # the first window is already 3 s old
    for _ in range(200):
        _send(pacer, clock)
        if clock.now >= window_start + window:
            per_window.append(used)
            window_start += window * ((clock.now - window_start) // window)
            used = 0
        used += 1
        pacer.observe(_headers(limit, limit - used), answered_at=clock.now)
    assert len(per_window) >= 8
    assert max(per_window) <= limit
    # ... while still using the windows: at most a few windows fall short of the limit.
    assert sum(per_window) >= 0.8 * limit * len(per_window)


def test_a_spent_window_waits_for_the_next_one() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, window=60.0)
    pacer.observe(_headers(100, 99), answered_at=clock.now)  # a fresh window began now
    clock.now += 30
    pacer.observe(_headers(100, 0), answered_at=clock.now)
    assert _send(pacer, clock) == pytest.approx(30 + 1.0)  # the window's end plus the margin


def test_shared_between_threads_every_slot_is_distinct() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, steady=True, max_requests_per_minute=60, headroom=1.0)
    pacer.observe({})
    waits: list[float] = []
    lock = threading.Lock()

    def reserve_many() -> None:
        for _ in range(25):
            wait = pacer.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=reserve_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The clock never moved: 100 reservations must take the slots 0, 1, 2, ... 99 seconds ahead.
    assert sorted(waits) == pytest.approx([float(n) for n in range(100)])


def test_a_steady_sender_sends_two_requests_alone_before_any_burst() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, steady=True, window=60.0, probe_timeout=30.0)
    assert pacer.reserve() == 0.0  # the first probe
    waits: list[float] = []
    lock = threading.Lock()

    def reserve() -> None:
        wait = pacer.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=reserve) for _ in range(3)]
    for thread in threads:
        thread.start()
    threads[0].join(0.2)
    assert waits == [], "a request left before the first answer"
    pacer.observe(_headers(100, 90), answered_at=clock.now)  # others use the key too
    # The second probe leaves four of the key's request intervals (60 s / 100) after the first answer, so
    # that what Kapso counts in between measures the other senders; the rest wait for its answer.
    for _ in range(50):
        if waits:
            break
        threads[0].join(0.05)
    assert waits == [pytest.approx(2.4)]
    clock.now += 2.4
    pacer.observe(_headers(100, 85))  # five counted since the first answer: one of them this pacer's
    for thread in threads:
        thread.join(5)
    assert len(waits) == 3
    assert pacer.share == pytest.approx(0.2)


def test_on_an_idle_key_a_steady_sender_needs_one_probe() -> None:
    pacer = RequestPacer(steady=True, probe_timeout=30.0)
    assert pacer.reserve() == 0.0
    pacer.observe(_headers(100, 99))  # the window holds only this request: nobody else is sending
    threads = [threading.Thread(target=pacer.reserve) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads), "requests wait for a second probe"


def test_the_share_is_read_from_how_fast_the_remaining_count_falls() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, steady=True, window=60.0, headroom=1.0)
    pacer.observe(_headers(600, 599))
    # Three other senders as fast as this one: between two of its answers, the count falls by four.
    for remaining in range(595, 500, -4):
        _send(pacer, clock)
        pacer.observe(_headers(600, remaining))
    assert pacer.share == pytest.approx(0.25)
    assert pacer.requests_per_second() == pytest.approx(600 / 60 * 0.25)


def test_a_late_answer_is_not_counted_twice() -> None:
    pacer = RequestPacer(steady=True)
    # Answers to concurrent requests come in any order: 88 belongs to a request counted before the 86.
    for remaining in (90, 86, 88, 82):
        pacer.reserve()
        pacer.observe(_headers(100, remaining))
    assert pacer.share == pytest.approx(3 / 8)


def test_a_fresh_count_opens_a_window_and_old_answers_do_not_close_it() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, window=10.0)
    pacer.observe(_headers(100, 60))
    assert [pacer.reserve(), pacer.reserve()] == [0.0, 0.0]  # two requests out when the window turns
    pacer.observe(_headers(100, 95))  # a fresh count: a window began
    pacer.observe(_headers(100, 3))  # the other request's answer, counted late in the old window
    # The new window's budget holds: nothing is spread over what would be the old window's last seconds.
    assert _send(pacer, clock) == 0.0


def test_a_count_after_the_window_must_have_ended_is_a_new_window() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, window=10.0)
    pacer.observe(_headers(100, 50), answered_at=clock.now)
    clock.now += 25  # no answer for two windows: others may have used a new one up to its end
    pacer.observe(_headers(100, 0), answered_at=clock.now)
    # Since when that window runs is unknown: this pacer waits out a whole one from now, not the old one's end.
    assert _send(pacer, clock) == pytest.approx(10.0 + 0.2)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"window": 0}, "window"),
        ({"max_requests_per_minute": 0}, "max_requests_per_minute"),
        ({"headroom": 1.5}, "headroom"),
    ],
)
def test_bad_settings_are_named(arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RequestPacer(**arguments)  # type: ignore[arg-type]


def test_an_occasional_sender_on_a_busy_key_is_not_held_while_the_window_has_plenty_left() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, window=60.0)  # a sensor's hook, say, beside a bulk send on the key
    pacer.observe(_headers(600, 500))
    clock.now += 30
    _send(pacer, clock)
    pacer.observe(_headers(600, 200))  # 300 requests counted since its last answer: its share is tiny
    assert pacer.share < 0.01
    assert _send(pacer, clock) == 0.0
    pacer.observe(_headers(600, 40))  # a tenth of the window or less is left: the senders share the rest
    assert _send(pacer, clock) > 20


# -- senders sharing one key --


@dataclass
class _KeyWindows:
    """Kapso's side, modelled: a fixed window per key that starts with the first request after the last one."""

    limit: int
    window: float
    started: float | None = None
    used: int = 0

    def count(self, now: float) -> tuple[dict[str, str], float | None]:
        """Count one request; its answer's headers and, when over the limit, Retry-After."""
        if self.started is None or now - self.started >= self.window:
            self.started, self.used = now, 0
        self.used += 1
        headers = _headers(self.limit, max(0, self.limit - self.used))
        if self.used <= self.limit:
            return headers, None
        return headers, float(max(1, math.ceil(self.started + self.window - now)))


@dataclass
class _SharedKeyRun:
    accepted: int = 0
    rate_limited: int = 0
    per_sender: list[int] = field(default_factory=list)


def _share_one_key(
    senders: int, *, limit: int, window: float, duration: float, start_every: float = 0.0, threads: int = 4
) -> _SharedKeyRun:
    """Steady senders, each with its own pacer and ``threads`` requests at a time, on one modelled key.

    Events in time order: a thread reserves a slot, its request is counted at the slot, the answer comes
    50 ms later; an answer 429 is retried after Retry-After, as the hook does.
    """
    clock = FakeClock()
    clock.now = 0.0
    key = _KeyWindows(limit, window)
    pacers = [RequestPacer(clock=clock, window=window, steady=True, probe_timeout=0) for _ in range(senders)]
    run = _SharedKeyRun(per_sender=[0] * senders)
    answers = [0] * senders
    order = itertools.count()
    events: list[tuple[float, int, str, int, dict[str, str], float | None]] = []
    for sender in range(senders):
        heapq.heappush(events, (sender * start_every, next(order), "reserve", sender, {}, None))
    while events:
        now, _, kind, sender, headers, retry_after = heapq.heappop(events)
        if now > duration:
            break
        clock.now = now
        if kind == "reserve":
            heapq.heappush(events, (now + pacers[sender].reserve(), next(order), "send", sender, {}, None))
        elif kind == "send":
            answer, retry = key.count(now)
            heapq.heappush(events, (now + 0.05, next(order), "answer", sender, answer, retry))
        else:
            pacers[sender].observe(headers)
            answers[sender] += 1
            if answers[sender] == 2:
                # The other threads start once the two probes are answered, as reserve() holds them.
                for _ in range(threads - 1):
                    heapq.heappush(events, (now, next(order), "reserve", sender, {}, None))
            if retry_after is None:
                run.accepted += 1
                run.per_sender[sender] += 1
                heapq.heappush(events, (now, next(order), "reserve", sender, {}, None))
            else:
                run.rate_limited += 1
                heapq.heappush(events, (now + retry_after, next(order), "reserve", sender, {}, None))
    return run


@pytest.mark.parametrize("senders", [1, 2, 4, 8])
@pytest.mark.parametrize("start_every", [0.0, 2.0], ids=["together", "one-every-2s"])
def test_senders_on_one_key_use_its_limit_without_429s(senders: int, start_every: float) -> None:
    run = _share_one_key(senders, limit=100, window=10.0, duration=60.0, start_every=start_every)
    sent = run.accepted + run.rate_limited
    assert run.rate_limited <= 0.01 * sent, f"{run.rate_limited} of {sent} requests answered 429"
    # Six windows of 100; the first seconds go to the probes and to senders that are still starting.
    assert run.accepted >= 0.85 * 600, run
    assert all(run.per_sender), f"a sender never got to send: {run.per_sender}"


def test_sender_processes_on_one_key_meet_few_429s() -> None:
    """Four processes, each a bulk sender with its own pacer, on one key of the simulator."""
    from benchmarks.shared_key import shared_key

    result = shared_key(senders=4, limit=40, window=3.0, windows=3, latency=0.02)
    # A generous bound: pacing as if alone, four senders spend about a fifth of their requests on 429s.
    assert result.rate_limited_share <= 0.05, result
    assert all(result.per_sender), result
