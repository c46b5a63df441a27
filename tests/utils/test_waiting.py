"""How long a wait sleeps: until the next poll, an earlier moment to wake at, or not at all past the deadline."""

from __future__ import annotations

import pytest

from kapso_provider.utils.waiting import DEFERRAL_GRACE_SECONDS, deferral_timeout, next_wait


@pytest.mark.parametrize(
    ("moments", "expected"),
    [
        ((), 30.0),  # no deadline
        ((None,), 30.0),
        ((1_000.0,), 30.0),  # the deadline far ahead
        ((110.0,), 10.0),  # one last read right at the deadline
        ((100.0,), None),  # the deadline now: over
        ((90.0,), None),
        ((None, 105.0), 5.0),  # a reminder due before the next poll
        ((200.0, 95.0), 30.0),  # a moment already passed does not shorten the sleep
        ((None, None), 30.0),
    ],
)
def test_next_wait(moments: tuple[float | None, ...], expected: float | None) -> None:
    assert next_wait(30.0, 100.0, *moments) == expected


def test_deferral_timeout_adds_the_grace() -> None:
    assert deferral_timeout(None, 100.0) is None
    assert deferral_timeout(160.0, 100.0) == 60.0 + DEFERRAL_GRACE_SECONDS
    assert deferral_timeout(90.0, 100.0) == DEFERRAL_GRACE_SECONDS  # already past: the grace only
