"""The bulk send machinery: recipients, placeholders, checks, the summary and the threaded sender."""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoAuthenticationError, KapsoInvalidMessageError
from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy
from kapso_provider.services.bulk import (
    BulkResult,
    BulkSender,
    BulkSummary,
    MessageDesign,
    Recipient,
    bulk_hook,
    check_all,
    fill,
    iter_recipients_file,
    listed_items,
    load_recipients,
    placeholders,
    recipients_from,
    send_bulk,
    to_recipient,
)
from kapso_provider.services.bulk_input import RecipientKeySet, read_recipients_file, recipient_key, survey

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
            "recipients[2]: phone_number: 1 digits, expected 7..15 with the country code "
            "(international format, e.g. +15551230001)",
            "recipients[3]: expected a phone number, a conversation id or a dict, got int",
        ]

        many_bad = listed_items(["1"] * 100)
        with pytest.raises(KapsoInvalidMessageError) as info:
            check_all(many_bad, design=design, recipient_field="phone_number", defaults=NO_DEFAULTS)
        assert len(info.value.problems) == 21
        # Every entry is read: the ones past the listed problems are counted.
        assert info.value.problems[-1] == "... and 80 more problem(s), not listed"

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


POLICY = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, rate_limit_window=1.0)


def _sender(design: MessageDesign, hook: KapsoHook | None = None, **arguments: Any) -> BulkSender:
    hook = hook or bulk_hook("kapso_default", retry_policy=POLICY)
    return BulkSender(hook=hook, design=design, **{"max_concurrency": 4, **arguments})


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


class TestOnePersonOnce:
    NOTATIONS = ("+1 555 123 0001", "+15551230001", "+1 (555) 123-0001")

    def _run(self, items: list[Any], **arguments: Any) -> BulkSummary:
        design = MessageDesign({"content": "Hi"})
        checked = survey(listed_items(items), design=design, recipient_field="phone_number", defaults=NO_DEFAULTS)
        recipients = recipients_from(listed_items(items), recipient_field="phone_number", defaults=NO_DEFAULTS)
        return _sender(design, **arguments).run(recipients, total=checked.total, merged=checked.merged)

    def test_three_notations_of_one_number_are_one_send(self, kapso_server: KapsoServer) -> None:
        summary = self._run([*self.NOTATIONS, "+15551230002"]).to_json()
        assert len(kapso_server.simulator.messages()) == 2
        assert (summary["sent"], summary["merged"], summary["not_attempted"]) == (2, 2, 0)
        assert summary["merged_entries"] == [
            {"index": 1, "where": "recipients[1]", "recipient": "+15551230001", "same_as": "recipients[0]"},
            {"index": 2, "where": "recipients[2]", "recipient": "+1 (555) 123-0001", "same_as": "recipients[0]"},
        ]
        assert summary["message_ids"][1:3] == [None, None]

    def test_a_retry_finds_the_one_message_once(self, kapso_server: KapsoServer) -> None:
        from datetime import UTC, datetime

        since = datetime.now(UTC)
        self._run(list(self.NOTATIONS))
        again = self._run(list(self.NOTATIONS), earlier_try_since=since).to_json()
        assert (again["already_sent"], again["sent"], again["merged"]) == (1, 0, 2)
        assert len(kapso_server.simulator.messages()) == 1

    def test_conversations_listed_twice_are_merged(self, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation("+15551230003")
        summary = send_bulk(
            hook=bulk_hook("kapso_default", retry_policy=POLICY),
            entries=lambda: listed_items([conversation["id"], conversation["id"]]),
            design=MessageDesign({"content": "Hi"}),
            recipient_field="conversation_id",
            defaults=NO_DEFAULTS,
            max_concurrency=2,
        ).to_json()
        assert (summary["sent"], summary["merged"]) == (1, 1)
        assert summary["merged_entries"][0]["same_as"] == "recipients[0]"
        assert len(kapso_server.simulator.messages()) == 1


class TestRecipientKeySet:
    def test_behaves_as_a_set(self) -> None:
        import random

        rng = random.Random(5)  # noqa: S311 - test keys, not secrets
        keys = [rng.randrange(1, 1 << 64) for _ in range(20_000)]
        keys += keys[:5_000]  # repeats
        compact, reference = RecipientKeySet(), set()
        for key in keys:
            assert compact.add(key) == (key not in reference)
            reference.add(key)
        assert len(compact) == len(reference) == 20_000
        assert all(key in compact for key in keys[:100])
        assert 12345 not in compact

    def test_costs_at_most_32_bytes_per_person(self) -> None:
        people = RecipientKeySet()
        for number in range(100_000):
            people.add(recipient_key(Recipient(index=number, where="", target={"phone_number": f"+1555{number:07d}"})))
        assert len(people) == 100_000
        assert 16 <= people.nbytes / len(people) <= 32

    @pytest.mark.parametrize(
        ("first", "second", "same"),
        [
            ("+1 555 123 0001", "+1 (555) 123-0001", True),
            ("+15551230001", "15551230001", True),
            ("+015551230001", "+15551230001", False),  # a leading zero is another number
            ("+15551230001", "+15551230002", False),
        ],
    )
    def test_keys_of_phone_numbers(self, first: str, second: str, same: bool) -> None:
        def key(phone: str) -> int:
            return recipient_key(Recipient(index=0, where="", target={"phone_number": phone}))

        assert (key(first) == key(second)) is same


class TestEveryBadLine:
    def test_every_bad_line_is_counted_and_the_first_listed(self, tmp_path: Path) -> None:
        path = tmp_path / "people.jsonl"
        lines = ['"+15551230001"'] + ["not json"] * 15 + ['"12"'] * 15
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(KapsoInvalidMessageError) as info:
            survey(
                read_recipients_file(str(path)),
                design=MessageDesign({"content": "Hi"}),
                recipient_field="phone_number",
                defaults=NO_DEFAULTS,
            )
        problems = info.value.problems
        assert problems[0] == "people.jsonl line 2: not JSON (Expecting value)"
        assert problems[15] == (
            "people.jsonl line 17: phone_number: 2 digits, expected 7..15 with the country code "
            "(international format, e.g. +15551230001)"
        )
        assert len(problems) == 21
        assert problems[-1] == "... and 10 more problem(s), not listed"

    def test_a_byte_order_mark_is_skipped(self, tmp_path: Path) -> None:
        path = tmp_path / "export.jsonl"
        path.write_bytes('\ufeff{"phone_number": "+15551230001"}\n"+15551230002"\n'.encode())
        assert list(read_recipients_file(str(path))) == [
            ("export.jsonl line 1", {"phone_number": "+15551230001"}),
            ("export.jsonl line 2", "+15551230002"),
        ]


class TestSharedHook:
    def test_every_thread_sends_through_the_task_hook(self, kapso_server: KapsoServer) -> None:
        hook = bulk_hook("kapso_default", retry_policy=POLICY)
        summary = _sender(MessageDesign({"content": "Number ${n}"}), hook=hook, max_concurrency=4).run(
            _recipients(20), total=20
        )
        assert summary.sent == 20
        # One ledger for the task: every id sent is accounted for in the task's hook.
        assert len(hook.ledger) == 20
        assert all(message["id"] in hook.ledger for message in kapso_server.simulator.messages())

    def test_an_id_found_for_one_recipient_is_not_found_for_another(self, kapso_server: KapsoServer) -> None:
        from datetime import UTC, datetime

        # One person reached two ways, by number and through its conversation, with the same text. Try 1
        # stores the first send; the second is refused before Kapso stores it.
        conversation = kapso_server.simulator.create_conversation("+15551230009")
        items = [{"phone_number": "+15551230009"}, {"conversation_id": conversation["id"]}]
        design = MessageDesign({"content": "Same text"})
        kapso_server.simulator.add_fault(
            "server_error_before_store", method="POST", path="whatsapp_conversations/", status=422, count=1
        )
        since = datetime.now(UTC)

        def recipients() -> Any:
            return recipients_from(listed_items(items), recipient_field="phone_number", defaults=NO_DEFAULTS)

        first = _sender(design, max_concurrency=1).run(recipients(), total=2)
        assert (first.sent, first.failed) == (1, 1)
        # The retry looks both up: the stored message belongs to one of them only.
        second = _sender(design, max_concurrency=2, earlier_try_since=since).run(recipients(), total=2).to_json()
        assert (second["already_sent"], second["sent"]) == (1, 1)
        assert len(set(second["message_ids"])) == 2
        assert len(kapso_server.simulator.messages()) == 2


class TestMalformedAnswers:
    def test_are_described_by_size_and_shape_never_quoted(
        self, kapso_server: KapsoServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
    ) -> None:
        # Kapso stores each message, then the answer arrives cut in half with a 500: the hook reads it back.
        kapso_server.simulator.add_fault("malformed_json", method="POST", status=500, count=None)
        with caplog.at_level(logging.INFO):
            summary = _sender(MessageDesign({"content": "Private words"}), max_concurrency=2).run(
                _recipients(3, prefix="+1555987"), total=3
            )
        assert summary.sent == 3
        # The hook's warnings go to the task log: stdout on Airflow 3, the logging tree on 2.11.
        logged = caplog.text + capsys.readouterr().out
        assert "the answer is not JSON (" in logged
        assert "Private words" not in logged
        assert "+1555987" not in logged
