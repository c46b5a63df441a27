"""The coercions of rendered operator settings shared by every operator."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kapso_provider.arguments import as_bool, as_number, parse_time, plain_json


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("True", True), (" yes ", True), ("1", True), ("false", False), ("No", False)],
)
def test_as_bool(value: Any, expected: bool) -> None:
    problems: list[str] = []
    assert as_bool("send", value, problems) is expected
    assert problems == []


@pytest.mark.parametrize("value", ["maybe", 1, None, ""])
def test_as_bool_refuses(value: Any) -> None:
    problems: list[str] = []
    as_bool("send", value, problems)
    assert problems == [f"send: must be true or false, got {value!r}"]


@pytest.mark.parametrize(
    ("value", "arguments", "expected"),
    [
        ("15", {}, 15.0),
        (2.5, {"minimum": 0}, 2.5),
        ("3", {"integer": True}, 3),
        (0, {"minimum": 0, "unit": "seconds"}, 0.0),
    ],
)
def test_as_number(value: Any, arguments: dict[str, Any], expected: float) -> None:
    problems: list[str] = []
    assert as_number("timeout", value, problems, **arguments) == expected
    assert problems == []


@pytest.mark.parametrize(
    ("value", "arguments", "problem"),
    [
        ("soon", {"minimum": 0, "unit": "seconds"}, "timeout: must be a number of seconds >= 0, got 'soon'"),
        (-1, {"minimum": 0, "unit": "seconds"}, "timeout: must be a number of seconds >= 0, got -1"),
        (True, {}, "timeout: must be a number, got True"),
        ("2.5", {"integer": True}, "timeout: must be an integer, got '2.5'"),
        ("inf", {}, "timeout: must be a number, got 'inf'"),
        (None, {}, "timeout: must be a number, got None"),
    ],
)
def test_as_number_refuses(value: Any, arguments: dict[str, Any], problem: str) -> None:
    problems: list[str] = []
    assert math.isnan(as_number("timeout", value, problems, **arguments))
    assert problems == [problem]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T20:00:00Z", datetime(2026, 11, 24, 20, tzinfo=UTC)),
        ("2026-11-24T20:00:00", datetime(2026, 11, 24, 20, tzinfo=UTC)),
        ("2026-11-24T21:00:00+01:00", datetime(2026, 11, 24, 21, tzinfo=timezone(timedelta(hours=1)))),
        ("yesterday", None),
        (None, None),
        (1732478400, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_plain_json_drops_what_json_cannot_hold() -> None:
    assert plain_json({"a": (1, 2), "b": {"c": None}}) == {"a": [1, 2], "b": {"c": None}}
