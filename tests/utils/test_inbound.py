"""The inbound cursor in a burst: many messages within its lookback window (a thousand questions asked at once)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from kapso_provider.arguments import parse_time
from kapso_provider.utils import inbound
from kapso_provider.utils.inbound import InboundCursor, format_time

if TYPE_CHECKING:
    import pytest

START = datetime(2026, 1, 1, tzinfo=UTC)


def _message(index: int, milliseconds: int) -> dict[str, str]:
    return {"id": f"m{index}", "created_at": format_time(START + timedelta(milliseconds=milliseconds))}


def test_a_burst_within_the_lookback_is_taken_in_linear_time(monkeypatch: pytest.MonkeyPatch) -> None:
    parses = 0
    real_parse_time = parse_time

    def counted(value: object) -> datetime | None:
        nonlocal parses
        parses += 1
        return real_parse_time(value)

    monkeypatch.setattr(inbound, "parse_time", counted)
    cursor = InboundCursor.start(format_time(START))
    burst = 2000
    for index in range(burst):
        cursor.advance(_message(index, index), lookback=5.0)
    # Every id is still within five seconds of the newest: all kept, and each message parsed a few times,
    # not once per message kept (which made a burst of k messages cost k² parses).
    assert len(cursor.seen) == burst
    assert parses <= 3 * burst


def test_an_id_that_came_late_goes_once_the_window_passed_it() -> None:
    cursor = InboundCursor.start(format_time(START))
    cursor.advance(_message(0, 0), lookback=1.0)
    cursor.advance(_message(2, 2000), lookback=1.0)
    # Visible late: older than the newest, within the window.
    cursor.advance(_message(1, 1500), lookback=1.0)
    assert list(cursor.seen) == ["m2", "m1"]
    assert not cursor.is_new(_message(1, 1500), 1.0)
    cursor.advance(_message(3, 5000), lookback=1.0)
    assert list(cursor.seen) == ["m3"]
    assert not cursor.is_new(_message(2, 2000), 1.0)
