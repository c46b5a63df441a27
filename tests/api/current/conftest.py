"""Fixtures of the current API's endpoint tests: a hook whose connection speaks the current API, and the
check that every request a test sent is valid against Kapso's current OpenAPI files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import pytest

from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy
from tests._openapi import assert_current_requests_valid

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer


@pytest.fixture
def simulator(kapso_current_server: KapsoServer) -> KapsoSimulator:
    return kapso_current_server.simulator


@pytest.fixture
def hook(kapso_current_server: KapsoServer) -> Iterator[KapsoHook]:
    """A sync hook on the current API that tries once; every request it sent is checked when the test ends."""
    hook = KapsoHook(retry_policy=RetryPolicy(max_attempts=1))
    yield hook
    hook.close()
    assert_current_requests_valid(kapso_current_server.simulator.requests, at_least=0)


class Refused(Protocol):
    def __call__(self, call: Callable[[KapsoHook], object], error: type[Exception], message: str) -> None: ...


@pytest.fixture
def refused(hook: KapsoHook, simulator: KapsoSimulator) -> Refused:
    """``refused(call, error, message)``: ``call(hook)`` raises ``error`` matching ``message``, before any request."""

    def check(call: Callable[[KapsoHook], object], error: type[Exception], message: str) -> None:
        with pytest.raises(error, match=message):
            call(hook)
        assert simulator.requests == []

    return check
