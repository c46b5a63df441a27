"""Async hooks of one event loop share a connection's lookup, client, pacer and clock; waits share a budget.

A triggerer runs every deferred wait in one loop: a thousand waits must cost one connection lookup and one
HTTP client, and their reads of the same thing one request.
"""

from __future__ import annotations

import asyncio
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


@pytest.mark.parametrize(("share", "limit", "spacing"), [(0.25, 100, 2.4), (0.25, 600, 0.4), (1.0, 60, 1.0)])
def test_the_wait_budget_spaces_reads_at_its_share_of_the_limit(
    share: float, limit: int | None, spacing: float
) -> None:
    now = [1000.0]
    budget = _shared.WaitBudget(share=share, window=60.0, clock=lambda: now[0])
    delays = [budget.delay(limit) for _ in range(4)]
    assert delays == pytest.approx([0.0, spacing, 2 * spacing, 3 * spacing])
    now[0] += 10 * spacing
    # Time that passed with no read is not saved up for a burst.
    assert budget.delay(limit) == 0.0
    # Before Kapso told the limit (and against a server that never says), reads are not held.
    assert budget.delay(None) == 0.0
