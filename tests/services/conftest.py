"""What the service tests share: a hook on the simulator, both drivers, Kapso's clock off by minutes."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.hooks.kapso import KapsoAsyncHook, KapsoHook, RetryPolicy
from tests._openapi import agent_phone_filter_file, assert_requests_valid

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

FAST = RetryPolicy(backoff_initial=0.01, backoff_max=0.05)


@pytest.fixture(params=[-600, -300, 0, 300, 600])
def kapso_clock(request: pytest.FixtureRequest, kapso_server: KapsoServer) -> float:
    """Kapso's clock set this many seconds ahead of this machine's (negative: behind), up to ten minutes."""
    offset = float(request.param)
    kapso_server.simulator.clock_offset = offset
    return offset


@pytest.fixture
def hook(kapso_server: KapsoServer) -> Iterator[KapsoHook]:
    """A sync hook on the simulator; every request the test made is checked against Kapso's files after."""
    hook = KapsoHook(retry_policy=FAST)
    yield hook
    hook.close()
    assert_requests_valid(kapso_server.simulator.requests, files_for=agent_phone_filter_file)


def _run_async(endpoint: str, *args: Any, **kwargs: Any) -> Any:
    async def main() -> Any:
        hook = KapsoAsyncHook(retry_policy=FAST)
        try:
            return await getattr(hook, endpoint)(*args, **kwargs)
        finally:
            await hook.aclose()

    return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def call(request: pytest.FixtureRequest, kapso_server: KapsoServer) -> Callable[..., Any]:
    """``call(endpoint, *args, **kwargs)`` on a fresh hook of either driver: an endpoint Flow runs on both."""
    if request.param == "async":
        return _run_async

    def run_sync(endpoint: str, *args: Any, **kwargs: Any) -> Any:
        hook = KapsoHook(retry_policy=FAST)
        try:
            return getattr(hook, endpoint)(*args, **kwargs)
        finally:
            hook.close()

    return run_sync
