"""Fixtures of the simulator's own tests: a running simulator, an HTTP session with its key, a conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from tests.testing._support import PHONE

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def sim() -> Iterator[KapsoSimulator]:
    """A simulator on 127.0.0.1, stopped after the test."""
    with KapsoSimulator(api_key="secret-key") as simulator:
        yield simulator


@pytest.fixture
def http(sim: KapsoSimulator) -> Iterator[requests.Session]:
    """An HTTP session that sends the simulator's API key."""
    with requests.Session() as session:
        session.headers["X-API-Key"] = sim.api_key
        yield session


@pytest.fixture
def conversation(sim: KapsoSimulator) -> dict[str, Any]:
    """A conversation with :data:`~tests.testing._support.PHONE` on the default config."""
    return sim.create_conversation(phone_number=PHONE)
