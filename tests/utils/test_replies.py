"""The pure rules of an answer: the confirmation's placeholders."""

from __future__ import annotations

from typing import Any

import pytest

from kapso_provider.utils.replies import fill_confirmation

ANSWER: dict[str, Any] = {
    "option_id": "approve",
    "option_title": "Approve",
    "answered_by": "+15551234567",
    "answered_at": "2026-01-01T10:00:00.000000Z",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{option_title} by {answered_by}", "Approve by +15551234567"),
        ("{option_id} at {answered_at}", "approve at 2026-01-01T10:00:00.000000Z"),
        # Anything else in braces is the customer's or the author's text, kept as written.
        ("Thanks {smile}", "Thanks {smile}"),
        ("{option_id.__class__} {option_id[0]} {option_id!r}", "{option_id.__class__} {option_id[0]} {option_id!r}"),
        ("{0} {} {{option_id}}", "{0} {} {approve}"),
        ("no placeholders", "no placeholders"),
    ],
)
def test_only_the_four_placeholders_are_replaced(text: str, expected: str) -> None:
    assert fill_confirmation(text, ANSWER) == expected


def test_nobody_answered() -> None:
    timed_out = {**ANSWER, "answered_by": None}
    assert fill_confirmation("{answered_by}", timed_out) == "nobody (no answer in time)"
