"""How long a wait sleeps and when it gives up: one rule for sensors, triggers and the ask operators."""

from __future__ import annotations

__all__ = ["DEFERRAL_GRACE_SECONDS", "deferral_timeout", "next_wait"]

#: Added to a deferral's own timeout, so that the trigger's timeout event (which says what the wait last saw)
#: arrives before Airflow's generic deferral timeout.
DEFERRAL_GRACE_SECONDS = 60.0


def next_wait(poll_interval: float, now: float, *moments: float | None) -> float | None:
    """Seconds to sleep before the next read, or ``None`` when the deadline has passed.

    :param poll_interval: the usual pause between two reads.
    :param now: the current time (Unix seconds).
    :param moments: the deadline first (``None`` for none), then other moments to wake up at (a reminder):
        the sleep ends at the earliest one still ahead, so one last read happens right at the deadline and a
        late answer, delivery or execution still counts.
    """
    deadline = moments[0] if moments else None
    if deadline is not None and now >= deadline:
        return None
    ahead = [moment - now for moment in moments if moment is not None and moment > now]
    return min([poll_interval, *ahead])


def deferral_timeout(deadline: float | None, now: float) -> float | None:
    """The timeout in seconds to defer with: the trigger's own deadline plus the grace, or ``None`` for none."""
    if deadline is None:
        return None
    return max(0.0, deadline - now) + DEFERRAL_GRACE_SECONDS
