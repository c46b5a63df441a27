"""RequestPacer's decisions, on a clock the test moves by hand."""

from __future__ import annotations

import threading

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
    pacer.observe(_headers(60, 59))  # Kapso allows 60 per minute: one per second
    assert pacer.requests_per_second() == pytest.approx(1.0)
    _send(pacer, clock)
    assert _send(pacer, clock) == pytest.approx(1.0)


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


def test_a_steady_sender_sends_one_request_alone_until_the_first_answer() -> None:
    clock = FakeClock()
    pacer = RequestPacer(clock=clock, steady=True, probe_timeout=30.0)
    assert pacer.reserve() == 0.0  # the probe
    released = threading.Event()

    def second() -> None:
        pacer.reserve()
        released.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not released.wait(0.2), "a second request left before the first answer"
    pacer.observe(_headers(100, 99))
    assert released.wait(5)
    thread.join()


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
