"""Async hooks of one event loop share a connection's lookup, client, pacer and clock; waits share a budget.

A triggerer runs every deferred wait in one loop: a thousand waits must cost one connection lookup and one
HTTP client, and their reads of the same thing one request.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.hooks import _shared
from kapso_provider.hooks.kapso import KapsoAsyncHook

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551230001"


def test_hooks_of_one_loop_share_one_lookup_client_pacer_and_clock(
    kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kapso_provider.hooks import _lookup

    lookups: list[str] = []
    real_lookup = _lookup.aget_connection

    async def counted(hook: Any, conn_id: str) -> Any:
        lookups.append(conn_id)
        return await real_lookup(hook, conn_id)

    monkeypatch.setattr(_lookup, "aget_connection", counted)

    async def main() -> None:
        hooks = [KapsoAsyncHook(waiting=True) for _ in range(200)]
        clients = await asyncio.gather(*(hook.get_client() for hook in hooks))
        assert len({id(client) for client in clients}) == 1
        assert len({id(hook.pacer) for hook in hooks}) == 1
        assert len({id(hook.clock) for hook in hooks}) == 1
        assert _shared.users("kapso_default") == 200
        for hook in hooks[:-1]:
            await hook.aclose()
        assert not clients[0].is_closed
        await hooks[-1].aclose()
        assert clients[0].is_closed
        assert _shared.users("kapso_default") == 0

    asyncio.run(main())
    assert lookups == ["kapso_default"]


def test_a_hook_with_its_own_pacer_keeps_it(kapso_server: KapsoServer) -> None:
    from kapso_provider.pacing import RequestPacer

    async def main() -> None:
        mine = RequestPacer()
        hook, other = KapsoAsyncHook(pacer=mine), KapsoAsyncHook()
        await asyncio.gather(hook.get_settings(), other.get_settings())
        assert hook.pacer is mine
        assert other.pacer is not mine
        await asyncio.gather(hook.aclose(), other.aclose())

    asyncio.run(main())


def test_waits_on_one_conversation_are_answered_by_one_read(kapso_server: KapsoServer) -> None:
    conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)

    async def main() -> list[dict[str, Any]]:
        hooks = [KapsoAsyncHook(waiting=True) for _ in range(50)]
        try:
            return list(await asyncio.gather(*(hook.get_conversation(conversation["id"]) for hook in hooks)))
        finally:
            await asyncio.gather(*(hook.aclose() for hook in hooks))

    answers = asyncio.run(main())
    assert {answer["id"] for answer in answers} == {conversation["id"]}
    reads = [r for r in kapso_server.simulator.requests if r.method == "GET"]
    assert len(reads) == 1


def test_waits_on_one_conversation_decode_each_answer_once(kapso_server: KapsoServer) -> None:
    # A thousand waits on one conversation read the same pages: one decoding serves them all, so the
    # records they get are the very same objects.
    conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)

    async def main() -> list[dict[str, Any]]:
        hooks = [KapsoAsyncHook(waiting=True) for _ in range(3)]
        try:
            return list(await asyncio.gather(*(hook.get_conversation(conversation["id"]) for hook in hooks)))
        finally:
            await asyncio.gather(*(hook.aclose() for hook in hooks))

    first, *others = asyncio.run(main())
    assert all(other is first for other in others)
    assert len(kapso_server.simulator.requests) == 1


def test_a_hook_that_does_not_wait_always_asks(kapso_server: KapsoServer) -> None:
    conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)

    async def main() -> None:
        hook = KapsoAsyncHook()
        try:
            for _ in range(3):
                await hook.get_conversation(conversation["id"])
        finally:
            await hook.aclose()

    asyncio.run(main())
    assert len([r for r in kapso_server.simulator.requests if r.method == "GET"]) == 3


def test_a_read_that_failed_is_not_served_to_later_waits(kapso_server: KapsoServer) -> None:
    from kapso_provider.exceptions import KapsoNotFoundError

    async def main() -> None:
        hook = KapsoAsyncHook(waiting=True, coalesce_seconds=0.0)
        try:
            for _ in range(2):
                with pytest.raises(KapsoNotFoundError):
                    await hook.get_conversation("00000000-0000-0000-0000-000000000000")
        finally:
            await hook.aclose()

    asyncio.run(main())
    assert len([r for r in kapso_server.simulator.requests if r.method == "GET"]) == 2


@pytest.mark.parametrize("fault", ["drop_before_store", "rate_limit", "server_error_before_store"])
def test_a_failed_read_is_tried_again_not_answered_from_the_shared_answers(
    kapso_server: KapsoServer, fault: str
) -> None:
    # Only successes serve identical reads: the hook's retry of a failed read must reach Kapso.
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE)
    simulator.add_fault(fault, method="GET", count=1, retry_after=1)

    async def main() -> dict[str, Any]:
        hook = KapsoAsyncHook(waiting=True)
        try:
            return await hook.get_conversation(conversation["id"])
        finally:
            await hook.aclose()

    assert asyncio.run(main())["id"] == conversation["id"]
    assert len(simulator.requests) == 2


@pytest.mark.parametrize(("share", "limit"), [(0.25, 100), (0.25, 600), (1.0, 60)])
def test_the_wait_budget_spaces_reads_at_its_share_of_the_limit(share: float, limit: int) -> None:
    now = [1000.0]
    budget = _shared.WaitBudget(share=share, window=60.0, clock=lambda: now[0])
    spacing = 60.0 / (share * limit * _shared.WAIT_HEADROOM)
    assert budget.spacing(limit) == pytest.approx(spacing)
    assert budget.delay(limit) == 0.0
    budget.leave()
    assert budget.delay(limit) == pytest.approx(spacing)
    now[0] += spacing / 4
    assert budget.delay(limit) == pytest.approx(spacing * 3 / 4)
    now[0] += 10 * spacing
    # Time that passed with no read is not saved up for a burst: one read now, the next a spacing later.
    assert budget.delay(limit) == 0.0
    budget.leave()
    assert budget.delay(limit) == pytest.approx(spacing)
    # Before Kapso told the limit (and against a server that never says), reads are not held.
    assert budget.delay(None) == 0.0


def busiest_window(moments: list[float], window: float) -> int:
    """The most moments in any ``window`` seconds."""
    return max(sum(1 for other in moments if moment <= other < moment + window) for moment in moments)


@pytest.mark.parametrize("late", [0.0, 0.05, 7.5])
def test_reads_whose_loop_was_busy_do_not_leave_together(late: float) -> None:
    # A triggerer starting a thousand waits keeps its loop busy for seconds: reads whose turn came meanwhile
    # wake late. Turns claimed ahead of time then left together (265 reads in one minute against a share of
    # 250); each must still leave one spacing after the read before it. Every third turn wakes ``late``.
    limit, share = 1000, 0.25
    now = [0.0]
    lateness = itertools.cycle([0.0, 0.0, late])

    async def sleep(seconds: float) -> None:
        now[0] += seconds + next(lateness)
        await asyncio.sleep(0)

    budget = _shared.WaitBudget(share=share, window=60.0, clock=lambda: now[0], sleep=sleep)
    left: list[float] = []

    async def read() -> None:
        alone = await budget.take_turn(lambda: limit)
        left.append(now[0])
        if alone:
            await asyncio.sleep(0)  # the others queue up behind the read that goes alone
            budget.first_read_done(answered=True)

    async def main() -> None:
        await asyncio.gather(*(read() for _ in range(600)))

    asyncio.run(main())
    assert len(left) == 600
    gaps = [later - earlier for earlier, later in itertools.pairwise(left)]
    assert min(gaps) >= budget.spacing(limit) - 1e-9
    assert busiest_window(left, 60.0) <= share * limit * _shared.WAIT_HEADROOM + 1


@pytest.mark.kapso_simulator(rate_limit=600, latency=0.2)
def test_waits_starting_together_hold_their_reads_until_kapso_told_the_limit(kapso_server: KapsoServer) -> None:
    # A triggerer that starts with many waits must not send them all before the first answer says how
    # many requests the key may make: one read goes alone, the others then take the budget's slots
    # (0.25 of 600 a minute: one every 0.4 s).
    simulator = kapso_server.simulator
    conversations = [simulator.create_conversation(phone_number=f"+1555123{n:04d}") for n in range(5)]

    async def main() -> None:
        hooks = [KapsoAsyncHook(waiting=True) for _ in conversations]
        try:
            await asyncio.gather(
                *(hook.get_conversation(c["id"]) for hook, c in zip(hooks, conversations, strict=True))
            )
        finally:
            await asyncio.gather(*(hook.aclose() for hook in hooks))

    asyncio.run(main())
    received = sorted(r.received_at for r in simulator.requests)
    assert len(received) == len(conversations)
    gaps = [later - earlier for earlier, later in itertools.pairwise(received)]
    assert gaps[0] >= 0.2, "the second read left before the first was answered"
    assert min(gaps[1:]) >= 0.35, f"reads closer than the wait budget's slots: {gaps}"


@pytest.mark.kapso_simulator(latency=0.05)
def test_a_first_read_that_got_no_answer_hands_the_turn_to_the_next(kapso_server: KapsoServer) -> None:
    # The read that goes first to learn the limit may get no answer at all; the waits behind it must not
    # hang on it, and the read itself is tried again.
    simulator = kapso_server.simulator
    conversations = [simulator.create_conversation(phone_number=f"+1555123{n:04d}") for n in range(3)]
    simulator.add_fault("drop_before_store", method="GET", count=1)

    async def main() -> list[dict[str, Any]]:
        hooks = [KapsoAsyncHook(waiting=True) for _ in conversations]
        try:
            reads = (hook.get_conversation(c["id"]) for hook, c in zip(hooks, conversations, strict=True))
            return list(await asyncio.gather(*reads))
        finally:
            await asyncio.gather(*(hook.aclose() for hook in hooks))

    answers = asyncio.run(asyncio.wait_for(main(), 60))
    assert [answer["id"] for answer in answers] == [c["id"] for c in conversations]
    assert len(simulator.requests) == len(conversations) + 1
