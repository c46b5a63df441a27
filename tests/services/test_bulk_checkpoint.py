"""The bulk send's durable checkpoint: a retry reads Kapso only for what was in flight, and never sends twice."""

from __future__ import annotations

import copy
import json
import logging
import random
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.hooks.kapso import RetryPolicy
from kapso_provider.services.bulk import BulkSummary, MessageDesign, bulk_hook, listed_items, send_bulk
from kapso_provider.services.bulk_checkpoint import (
    MAX_RANGES,
    WRITE_EVERY,
    Checkpoint,
    Checkpointer,
    Ranges,
    VariableCheckpointStore,
    store_for,
    variable_key,
)

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

NO_DEFAULTS: dict[str, str | None] = {"whatsapp_config_id": None, "customer_id": None}
POLICY = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, rate_limit_window=1.0)
CONCURRENCY = 8


class WorkerDeathError(BaseException):
    """The worker process dies: nothing after this point runs (not even ``except Exception``)."""


class MemoryStore:
    """A durable store as the metadata database is one: a write either happened or it did not."""

    description = "a test store"

    def __init__(self) -> None:
        self.value: Any = None
        self.writes = 0
        self.die_at_write: int | None = None

    def load(self) -> Any:
        return copy.deepcopy(self.value)

    def save(self, value: dict[str, Any]) -> None:
        self.writes += 1
        if self.writes == self.die_at_write:
            raise WorkerDeathError  # killed while writing: this record never reached the database
        self.value = json.loads(json.dumps(value))


def _items(count: int) -> list[dict[str, Any]]:
    return [{"phone_number": f"+1555400{n:04d}", "n": n} for n in range(count)]


def _send(
    items: list[dict[str, Any]], store: Any, *, since: datetime | None, content: str = "Hello ${n}"
) -> BulkSummary:
    return send_bulk(
        hook=bulk_hook("kapso_default", retry_policy=POLICY),
        entries=lambda: listed_items(items),
        design=MessageDesign({"content": content}),
        recipient_field="phone_number",
        defaults=NO_DEFAULTS,
        max_concurrency=CONCURRENCY,
        earlier_try_since=since,
        checkpoint_store=store,
    )


def _reads(kapso_server: KapsoServer) -> int:
    return sum(1 for request in kapso_server.simulator.requests if request.method == "GET")


def _sent_indexes(kapso_server: KapsoServer) -> Counter[int]:
    return Counter(int(message["content"].rsplit(" ", 1)[1]) for message in kapso_server.simulator.messages())


class TestWorkerDeath:
    @pytest.mark.parametrize("die_at_write", [2, 3, 6, 11, 19])
    def test_a_retry_reads_only_what_was_in_flight_and_sends_each_once(
        self, kapso_server: KapsoServer, die_at_write: int
    ) -> None:
        items = _items(100)
        store = MemoryStore()
        store.die_at_write = die_at_write
        since = datetime.now(UTC)
        with pytest.raises(WorkerDeathError):
            _send(items, store, since=None)
        # No request ever left for an entry at or past the horizon the database holds.
        durable = Checkpoint.from_json(store.value)
        assert durable is not None
        assert max(_sent_indexes(kapso_server)) < durable.horizon

        reads_before = _reads(kapso_server)
        store.die_at_write = None
        summary = _send(items, store, since=since).to_json()
        # Entries open at the death: at most max_concurrency + WRITE_EVERY, each looked up with one read (no
        # conversation yet) or two (its conversation, then its messages). The threads here finished what they
        # had admitted before the death, so every open entry was stored: the worst case.
        assert _reads(kapso_server) - reads_before <= 2 * (CONCURRENCY + WRITE_EVERY)
        assert _sent_indexes(kapso_server) == Counter(range(100))
        assert summary["sent"] + summary["already_sent"] == 100
        assert summary["already_sent"] >= durable.confirmed.count()

    def test_without_a_checkpoint_a_retry_looks_every_recipient_up(
        self, kapso_server: KapsoServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        items = _items(30)
        store = MemoryStore()
        store.die_at_write = 1  # died before the first record: nothing was sent either
        since = datetime.now(UTC)
        with pytest.raises(WorkerDeathError):
            _send(items, store, since=None)
        assert kapso_server.simulator.messages() == []
        store.die_at_write = None
        with caplog.at_level(logging.WARNING):
            summary = _send(items, store, since=since)
        assert "Retry without a usable checkpoint in a test store (none was written)" in caplog.text
        assert _reads(kapso_server) >= 30
        assert (summary.sent, summary.already_sent) == (30, 0)

    def test_a_finished_send_cleared_by_hand_sends_and_reads_nothing(self, kapso_server: KapsoServer) -> None:
        items = _items(40)
        store = MemoryStore()
        since = datetime.now(UTC)
        assert _send(items, store, since=None).sent == 40
        requests_before = len(kapso_server.simulator.requests)
        again = _send(items, store, since=since)
        assert (again.sent, again.already_sent, again.failed) == (0, 40, 0)
        assert len(kapso_server.simulator.requests) == requests_before

    def test_a_checkpoint_of_another_input_is_not_used(
        self, kapso_server: KapsoServer, caplog: pytest.LogCaptureFixture
    ) -> None:
        items = _items(10)
        store = MemoryStore()
        since = datetime.now(UTC)
        _send(items, store, since=None)
        with caplog.at_level(logging.WARNING):
            again = _send(items, store, since=since, content="Changed ${n}")
        assert "belongs to another input" in caplog.text
        assert _reads(kapso_server) >= 10
        assert again.sent == 10  # another message: an earlier try did not send it

    def test_a_retry_without_a_usable_record_leaves_one_that_a_later_retry_can_trust(
        self, kapso_server: KapsoServer
    ) -> None:
        # Try 1 dies after sending some; the input then grows by one entry, so try 2's digest differs and it
        # looks everyone up; try 2 dies too; try 3 trusts try 2's record. Nothing try 1 sent may go out again.
        items = _items(60)
        store = MemoryStore()
        store.die_at_write = 6
        since = datetime.now(UTC)
        with pytest.raises(WorkerDeathError):
            _send(items, store, since=None)
        longer = [*items, {"phone_number": "+15554009999", "n": 60}]
        store.writes, store.die_at_write = 0, 3
        with pytest.raises(WorkerDeathError):
            _send(longer, store, since=since)
        store.die_at_write = None
        _send(longer, store, since=since)
        assert _sent_indexes(kapso_server) == Counter(range(61))

    def test_failed_sends_are_looked_up_and_sent_again(self, kapso_server: KapsoServer) -> None:
        items = _items(20)
        store = MemoryStore()
        kapso_server.simulator.add_fault(
            "server_error_before_store", method="POST", path="/whatsapp_messages", status=422, count=3
        )
        since = datetime.now(UTC)
        first = _send(items, store, since=None)
        assert (first.sent, first.failed) == (17, 3)
        reads_before = _reads(kapso_server)
        again = _send(items, store, since=since)
        assert (again.sent, again.already_sent) == (3, 17)
        assert _reads(kapso_server) - reads_before <= 2 * 3
        assert _sent_indexes(kapso_server) == Counter(range(20))


class TestCheckpointer:
    def test_the_horizon_never_leaves_more_entries_open_than_the_limit(self) -> None:
        rng = random.Random(3)  # noqa: S311 - an order of completions, not a secret
        total, concurrency = 500, 8
        written: list[Checkpoint] = []

        class KeepingStore(MemoryStore):
            def save(self, value: dict[str, Any]) -> None:
                super().save(value)
                durable = Checkpoint.from_json(self.value)
                assert durable is not None
                written.append(durable)

        store = KeepingStore()
        checkpointer = Checkpointer(store=store, fingerprint="f", total=total, max_concurrency=concurrency, retry=False)
        checkpointer.start()
        admitted: list[int] = []
        next_index = 0
        for _ in range(total):
            while next_index < total and len(admitted) < concurrency:
                checkpointer.admit(next_index)  # held until a written record shows it in flight
                assert any(next_index < record.horizon for record in written)
                admitted.append(next_index)
                next_index += 1
            finished = admitted.pop(rng.randrange(len(admitted)))
            checkpointer.record(finished, confirmed=rng.random() > 0.1)
            checkpointer.check()
        checkpointer.finish()
        for record in written:
            recorded = record.confirmed.count_below(record.horizon) + record.failed.count_below(record.horizon)
            assert record.horizon - recorded <= concurrency + WRITE_EVERY
        assert written[-1].confirmed.count() + written[-1].failed.count() == total
        assert store.writes <= total // WRITE_EVERY + 2

    def test_too_many_scattered_failures_give_the_checkpoint_up(self, caplog: pytest.LogCaptureFixture) -> None:
        store = MemoryStore()
        total = 3 * MAX_RANGES
        checkpointer = Checkpointer(store=store, fingerprint="f", total=total, max_concurrency=1, retry=False)
        checkpointer.start()
        with caplog.at_level(logging.WARNING):
            for index in range(0, total, 2):  # every other send fails: one range each
                checkpointer.record(index, confirmed=True)
                checkpointer.record(index + 1, confirmed=False)
        assert "the checkpoint stops here" in caplog.text
        assert store.value == {"version": 1, "usable": False}
        assert Checkpoint.from_json(store.value) is None
        checkpointer.admit(total - 1)  # no longer held back


class TestRanges:
    def test_adds_merge_into_ranges(self) -> None:
        ranges = Ranges()
        for index in (5, 3, 4, 9, 0, 1, 2, 7):
            ranges.add(index)
        assert ranges.to_json() == [[0, 6], [7, 8], [9, 10]]
        assert (ranges.count(), ranges.count_below(8), ranges.next_gap(2), ranges.next_gap(6)) == (8, 7, 6, 6)
        assert 4 in ranges
        assert 6 not in ranges
        ranges.add(8)
        ranges.add(6)
        assert ranges.to_json() == [[0, 10]]

    @pytest.mark.parametrize("value", [None, [], {"version": 1, "usable": True}, {"version": 2, "usable": True}])
    def test_unusable_records_are_none(self, value: Any) -> None:
        assert Checkpoint.from_json(value) is None


class TestStores:
    def test_the_task_state_store_is_preferred(self) -> None:
        accessor = object()
        assert store_for({"task_state_store": accessor, "ti": object()}).description == "the task state store"  # type: ignore[union-attr]

    def test_a_variable_per_task_instance_elsewhere(self) -> None:
        class Ti:
            dag_id, run_id, task_id, map_index = "newsletter", "manual__2026-01-01", "send", 3

        store = store_for({"ti": Ti()})
        assert isinstance(store, VariableCheckpointStore)
        assert store.key == "kapso_bulk_checkpoint/newsletter/manual__2026-01-01/send/3"
        assert len(variable_key("d" * 200, "r" * 200, "t", -1)) <= 250
        assert store_for({}) is None
