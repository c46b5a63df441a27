"""Reconciliation claims a stored message only when it is provably this send's, whatever Kapso's clock says.

Kapso takes no idempotency key, so a send whose answer was lost is looked for among the recipient's
messages. Three reproductions of issue 14 §2 run here against the simulator, with Kapso's clock up to ten
minutes ahead of or behind this machine's:

- another task sent the same text to the same number 10 to 100 s earlier; this send's POST failed before
  Kapso stored it: the earlier message must not be taken for this one (it would be lost);
- a DAG run's retry looks from the run's start: a message the previous run sent 10 to 100 s before that
  start is not this run's;
- Kapso stored the message and the answer was lost, its clock minutes off: the stored message is found
  (else a second copy goes out).

And one hook never hands out one stored message for two sends (the ledger).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551230001"
TEXT = {"message_type": "text", "content": "Your order shipped"}
FAST = RetryPolicy(backoff_initial=0.01, backoff_max=0.05)
OFFSETS = pytest.mark.parametrize("offset", [-600, -300, 0, 300, 600])
GAPS = pytest.mark.parametrize("gap", [10, 45, 100])


def _outbound(kapso_server: KapsoServer) -> list[dict[str, Any]]:
    return [m for m in kapso_server.simulator.messages() if m["direction"] == "outbound"]


@OFFSETS
@GAPS
def test_another_tasks_identical_message_is_not_claimed(kapso_server: KapsoServer, offset: int, gap: int) -> None:
    simulator = kapso_server.simulator
    simulator.clock_offset = offset
    earlier = simulator.store_outbound(phone_number=PHONE, message=TEXT, sent_ago=gap)
    simulator.add_fault("server_error_before_store", method="POST", path="/whatsapp_messages")
    record = KapsoHook(retry_policy=FAST).send_message(TEXT, phone_number=PHONE)
    assert record["id"] != earlier["id"]
    assert sorted(m["id"] for m in _outbound(kapso_server)) == sorted([earlier["id"], record["id"]])


@OFFSETS
@GAPS
def test_a_retry_does_not_take_the_previous_runs_message(kapso_server: KapsoServer, offset: int, gap: int) -> None:
    simulator = kapso_server.simulator
    simulator.clock_offset = offset
    run_started = datetime.now(UTC)
    # The previous DAG run sent the same fixed text `gap` seconds before this run started.
    simulator.store_outbound(phone_number=PHONE, message=TEXT, sent_ago=gap)
    assert KapsoHook(retry_policy=FAST).find_sent_message(TEXT, since=run_started, phone_number=PHONE) is None


@OFFSETS
def test_a_retry_finds_its_own_runs_message(kapso_server: KapsoServer, offset: int) -> None:
    simulator = kapso_server.simulator
    simulator.clock_offset = offset
    run_started = datetime.now(UTC) - timedelta(seconds=30)
    # Try 1 of this run stored the message 20 s after the run started, then its worker died.
    mine = simulator.store_outbound(phone_number=PHONE, message=TEXT, sent_ago=10)
    found = KapsoHook(retry_policy=FAST).find_sent_message(TEXT, since=run_started, phone_number=PHONE)
    assert found is not None
    assert found["id"] == mine["id"]


@OFFSETS
@pytest.mark.parametrize("fault", ["drop_after_store", "server_error_after_store"])
def test_a_lost_answer_is_found_whatever_kapsos_clock_says(kapso_server: KapsoServer, offset: int, fault: str) -> None:
    simulator = kapso_server.simulator
    simulator.clock_offset = offset
    simulator.add_fault(fault, method="POST", path="/whatsapp_messages")
    record = KapsoHook(retry_policy=FAST).send_message(TEXT, phone_number=PHONE)
    assert [m["id"] for m in _outbound(kapso_server)] == [record["id"]]


def test_one_stored_message_is_never_claimed_for_two_sends(kapso_server: KapsoServer) -> None:
    hook = KapsoHook(retry_policy=FAST)
    first = hook.send_message(TEXT, phone_number=PHONE)
    # The second identical send's POST fails before Kapso stores it; the first message is seconds old.
    kapso_server.simulator.add_fault("server_error_before_store", method="POST", path="/whatsapp_messages")
    second = hook.send_message(TEXT, phone_number=PHONE)
    assert second["id"] != first["id"]
    assert len(_outbound(kapso_server)) == 2
    # And two earlier-try lookups of one task never return one message twice.
    since = datetime.now(UTC) - timedelta(minutes=1)
    lookup = KapsoHook(retry_policy=FAST)
    found = [lookup.find_sent_message(TEXT, since=since, phone_number=PHONE) for _ in range(3)]
    assert found[2] is None
    assert {record["id"] for record in found[:2] if record} == {first["id"], second["id"]}


def test_the_clock_narrows_its_bounds_with_every_dated_answer() -> None:
    from kapso_provider.transport.clock import KapsoClock

    kapso_time = datetime(2026, 12, 4, 10, 0, tzinfo=UTC).timestamp()
    clock = KapsoClock()
    clock.observe(None, sent_at=0.0, received_at=0.0)
    assert clock.bounds is None
    clock.observe("Fri, 04 Dec 2026 10:00:00 GMT", sent_at=kapso_time - 1.0, received_at=kapso_time + 0.5)
    assert clock.bounds == pytest.approx((-0.5, 2.0))
    clock.observe("Fri, 04 Dec 2026 10:00:05 GMT", sent_at=kapso_time + 4.9, received_at=kapso_time + 5.2)
    assert clock.bounds == pytest.approx((-0.2, 1.1))
    # An answer that contradicts the bounds (a clock was set since) replaces them.
    clock.observe("Fri, 04 Dec 2026 10:05:00 GMT", sent_at=kapso_time + 10.0, received_at=kapso_time + 10.1)
    assert clock.bounds == pytest.approx((289.9, 291.0))


def test_without_a_date_header_the_window_reaches_further_back_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from kapso_provider.transport.flows import FlowContext
    from kapso_provider.transport.sending import UNMEASURED_CLOCK_MARGIN, window_start

    since = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    context = FlowContext(policy=FAST, log=logging.getLogger("kapso-test"))
    with caplog.at_level(logging.WARNING, logger="kapso-test"):
        start = window_start(context, since)
    assert start == since - timedelta(seconds=UNMEASURED_CLOCK_MARGIN + FAST.clock_skew)
    assert "carry no Date header" in caplog.text
