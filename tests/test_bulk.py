"""The bulk send machinery: recipients, placeholders, checks, the summary and the threaded sender."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.bulk import (
    BulkResult,
    BulkSender,
    BulkSummary,
    MessageDesign,
    Recipient,
    check_all,
    fill,
    iter_recipients_file,
    listed_items,
    load_recipients,
    placeholders,
    recipients_from,
    to_recipient,
)
from kapso_provider.exceptions import KapsoAuthenticationError, KapsoInvalidMessageError
from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy

if TYPE_CHECKING:
    from pathlib import Path

    from kapso_provider.testing.pytest_plugin import KapsoServer

NO_DEFAULTS: dict[str, str | None] = {"whatsapp_config_id": None, "customer_id": None}


class TestPlaceholders:
    @pytest.mark.parametrize(
        ("value", "names"),
        [
            ("Hi ${name}, at ${time}", {"name", "time"}),
            ("Costs $5 or ${ price } or $name", set()),
            ("Literal $${name}", set()),
            ({"a": ["${x}", {"b": "${y}"}], "n": 3}, {"x", "y"}),
            ("{{ ds }} ${when}", {"when"}),
        ],
    )
    def test_names(self, value: Any, names: set[str]) -> None:
        assert placeholders(value) == names

    def test_fill_replaces_text_and_keeps_the_escape_and_other_types(self) -> None:
        message = {"content": "Hi ${name}: ${n} items, $${name} stays", "buttons": [{"title": "${name}"}], "x": 1.5}
        assert fill(message, {"name": "Ada", "n": 3}) == {
            "content": "Hi Ada: 3 items, ${name} stays",
            "buttons": [{"title": "Ada"}],
            "x": 1.5,
        }


class TestRecipients:
    @pytest.mark.parametrize(
        ("value", "field", "defaults", "target", "values"),
        [
            ("+15551230001", "phone_number", NO_DEFAULTS, {"phone_number": "+15551230001"}, {}),
            ("conv-1", "conversation_id", NO_DEFAULTS, {"conversation_id": "conv-1"}, {}),
            (
                "+15551230001",
                "phone_number",
                {"whatsapp_config_id": "cfg", "customer_id": None},
                {"phone_number": "+15551230001", "whatsapp_config_id": "cfg"},
                {},
            ),
            (
                {"phone_number": "+15551230001", "whatsapp_config_id": "own", "name": "Ada"},
                "phone_number",
                {"whatsapp_config_id": "cfg", "customer_id": None},
                {"phone_number": "+15551230001", "whatsapp_config_id": "own"},
                {"name": "Ada"},
            ),
            # A conversation already has its number: the sender defaults do not apply to it.
            (
                {"conversation_id": "conv-1", "name": "Ada"},
                "phone_number",
                {"whatsapp_config_id": "cfg", "customer_id": None},
                {"conversation_id": "conv-1"},
                {"name": "Ada"},
            ),
        ],
    )
    def test_items_become_recipients(
        self,
        value: Any,
        field: str,
        defaults: dict[str, str | None],
        target: dict[str, str],
        values: dict[str, Any],
    ) -> None:
        recipient = to_recipient(4, "recipients[4]", value, recipient_field=field, defaults=defaults)
        assert (recipient.index, recipient.target, recipient.values) == (4, target, values)

    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            (12, "recipients[0]: expected a phone number, a conversation id or a dict, got int"),
            ("12", "recipients[0]: phone_number: 2 digits"),
            ({"name": "Ada"}, "recipients[0]: recipient: give exactly one of conversation_id or phone_number"),
            ({"phone_number": "+15551230001", "conversation_id": "c"}, "recipients[0]: recipient: give exactly one"),
        ],
    )
    def test_bad_items_are_named(self, value: Any, problem: str) -> None:
        with pytest.raises(KapsoInvalidMessageError) as info:
            to_recipient(0, "recipients[0]", value, recipient_field="phone_number", defaults=NO_DEFAULTS)
        assert info.value.problems[0].startswith(problem)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (["+15551230001"], ["+15551230001"]),
            (("+15551230001",), ["+15551230001"]),
            ('["+15551230001", {"phone_number": "+15551230002"}]', ["+15551230001", {"phone_number": "+15551230002"}]),
        ],
    )
    def test_load_recipients(self, value: Any, expected: list[Any]) -> None:
        assert load_recipients(value) == expected

    @pytest.mark.parametrize(("value", "problem"), [("not json", "a string must be a JSON array"), ({}, "got dict")])
    def test_load_recipients_refuses(self, value: Any, problem: str) -> None:
        with pytest.raises(KapsoInvalidMessageError, match=problem):
            load_recipients(value)

    def test_a_file_is_read_lazily_line_by_line(self, tmp_path: Path) -> None:
        path = tmp_path / "r.jsonl"
        path.write_text('"+15551230001"\n\n{"phone_number": "+15551230002"}\nbroken\n')
        items = iter_recipients_file(str(path))
        assert next(items) == ("r.jsonl line 1", "+15551230001")
        assert next(items) == ("r.jsonl line 3", {"phone_number": "+15551230002"})
        with pytest.raises(KapsoInvalidMessageError, match=r"r\.jsonl line 4: not JSON"):
            next(items)

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        with pytest.raises(KapsoInvalidMessageError, match="recipients_file: cannot read"):
            next(iter_recipients_file(str(tmp_path / "absent.jsonl")))


class TestCheckAll:
    def test_counts_every_recipient(self) -> None:
        design = MessageDesign({"content": "Hi ${name}"})
        items = listed_items([{"phone_number": f"+1555123{n:04d}", "name": str(n)} for n in range(50)])
        assert check_all(items, design=design, recipient_field="phone_number", defaults=NO_DEFAULTS) == 50

    def test_lists_every_problem_up_to_a_bound(self) -> None:
        design = MessageDesign({"content": "Hi ${name}", "message_type": "text"})
        items = [{"phone_number": "+15551230001", "name": "ok"}, {"phone_number": "+15551230002"}, "1", 7]
        with pytest.raises(KapsoInvalidMessageError) as info:
            check_all(listed_items(items), design=design, recipient_field="phone_number", defaults=NO_DEFAULTS)
        assert info.value.problems == [
            "recipients[1]: no value for placeholder(s) ${name}",
            "recipients[2]: phone_number: 1 digits, expected 7..15",
            "recipients[3]: expected a phone number, a conversation id or a dict, got int",
        ]

        many_bad = listed_items(["1"] * 100)
        with pytest.raises(KapsoInvalidMessageError) as info:
            check_all(many_bad, design=design, recipient_field="phone_number", defaults=NO_DEFAULTS)
        assert len(info.value.problems) == 21
        assert info.value.problems[-1] == "... (checking stopped here)"

    def test_a_filled_message_is_checked_against_whatsapp_limits(self) -> None:
        design = MessageDesign({"message_type": "image", "media_url": "${url}"})
        with pytest.raises(KapsoInvalidMessageError, match=r"recipients\[0\]: .*media_url"):
            check_all(
                listed_items([{"phone_number": "+15551230001", "url": "not a url"}]),
                design=design,
                recipient_field="phone_number",
                defaults=NO_DEFAULTS,
            )


class TestSummary:
    def test_stays_small_for_100_000_recipients(self) -> None:
        summary = BulkSummary(total=100_000)
        for index in range(100_000):
            recipient = Recipient(index=index, where="", target={"phone_number": f"+1{index:010d}"})
            error = "POST /whatsapp_messages: 422 Unprocessable" if index % 10 == 0 else None
            summary.add(BulkResult(recipient, message_id=None if error else f"id-{index}", error=error))
        result = summary.to_json()
        assert (result["total"], result["sent"], result["failed"], result["not_attempted"]) == (
            100_000,
            90_000,
            10_000,
            0,
        )
        assert result["message_ids"] is None
        assert result["failures_listed"] == 100
        assert [f["index"] for f in result["failures"][:3]] == [0, 10, 20]
        assert len(json.dumps(result)) < 20_000

    def test_small_runs_keep_every_message_id_in_input_order(self) -> None:
        summary = BulkSummary(total=3)
        for index in (2, 0):
            summary.add(BulkResult(Recipient(index=index, where="", target={}), message_id=f"id-{index}"))
        assert summary.to_json()["message_ids"] == ["id-0", None, "id-2"]
        assert summary.to_json()["not_attempted"] == 1


def _sender(design: MessageDesign, **arguments: Any) -> BulkSender:
    policy = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, rate_limit_window=1.0)
    return BulkSender(hook=KapsoHook(retry_policy=policy), design=design, **{"max_concurrency": 4, **arguments})


def _recipients(count: int, prefix: str = "+1555321") -> Any:
    items = listed_items([{"phone_number": f"{prefix}{n:04d}", "n": n} for n in range(count)])
    return recipients_from(items, recipient_field="phone_number", defaults=NO_DEFAULTS)


class TestSender:
    def test_runs_at_the_rate_limit_without_a_storm_of_429s(self, kapso_server: KapsoServer) -> None:
        # 20 requests per 1 s window and 8 threads: unpaced, most of 60 sends would meet a 429.
        kapso_server.simulator.rate_limit = 20
        kapso_server.simulator.rate_limit_window = 1.0
        summary = _sender(MessageDesign({"content": "Number ${n}"}), max_concurrency=8).run(_recipients(60), total=60)
        assert (summary.sent, summary.failed) == (60, 0)
        posts = [r for r in kapso_server.simulator.requests if r.method == "POST"]
        assert len(posts) - 60 <= 3, f"{len(posts) - 60} requests met the rate limit"
        contents = sorted(m["content"] for m in kapso_server.simulator.messages())
        assert contents == sorted(f"Number {n}" for n in range(60))

    def test_logs_progress_with_counts_rate_and_time_left(
        self, kapso_server: KapsoServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        kapso_server.simulator.latency = 0.05
        log = logging.getLogger("test.bulk")
        with caplog.at_level(logging.INFO, logger="test.bulk"):
            _sender(MessageDesign({"content": "Hi"}), max_concurrency=2, progress_interval=0.1, log=log).run(
                _recipients(20), total=20
            )
        lines = [r.getMessage() for r in caplog.records if r.name == "test.bulk"]
        progress = [line for line in lines if line.startswith("Bulk send: ")]
        assert len(progress) >= 3, lines
        pattern = re.compile(
            r"Bulk send: (\d+) of 20 done \((\d+) sent, 0 already sent .*, (\d+) failed\); "
            r"(\d+) messages/min; about (.+) left"
        )
        done = [int(pattern.fullmatch(line).group(1)) for line in progress]  # type: ignore[union-attr]
        assert done == sorted(done)
        assert done[-1] == 20
        assert pattern.fullmatch(progress[-1]).group(5) == "0s"  # type: ignore[union-attr]

    def test_an_earlier_try_s_sends_are_skipped(self, kapso_server: KapsoServer) -> None:
        from datetime import UTC, datetime

        design = MessageDesign({"content": "Number ${n}"})
        since = datetime.now(UTC)
        first = _sender(design).run(_recipients(5), total=5)
        assert first.sent == 5
        second = _sender(design, earlier_try_since=since).run(_recipients(8), total=8)
        assert (second.already_sent, second.sent) == (5, 3)
        assert set(Counter(m["phone_number"] for m in kapso_server.simulator.messages()).values()) == {1}

    def test_a_refused_key_stops_everything(self, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": kapso_server.base_url, "password": "wrong"}),
        )
        with pytest.raises(KapsoAuthenticationError):
            _sender(MessageDesign({"content": "Hi"}), max_concurrency=2).run(_recipients(100), total=100)
        assert len(kapso_server.simulator.requests) <= 4
