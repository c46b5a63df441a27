from __future__ import annotations

from typing import Any

import pytest

from kapso_provider.notifications.kapso import KapsoNotifier
from tests.notifications._spy import CallbackSpy


@pytest.fixture
def callback_spy(monkeypatch: pytest.MonkeyPatch) -> CallbackSpy:
    """Record what Airflow passes to each notifier it calls; the notifier then runs unchanged."""
    spy = CallbackSpy()
    original = KapsoNotifier.__call__

    def call(self: KapsoNotifier, *args: Any) -> None:
        spy.calls.append((self, args[0]))
        original(self, *args)

    monkeypatch.setattr(KapsoNotifier, "__call__", call)
    return spy
