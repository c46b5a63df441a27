"""What the trigger tests share: a trigger rebuilt as the triggerer does, and reads of the simulator."""

from __future__ import annotations

import importlib
import json
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

    from kapso_provider.testing.pytest_plugin import KapsoServer

    _Trigger = TypeVar("_Trigger", bound=BaseTrigger)
else:
    _Trigger = TypeVar("_Trigger")

PHONE_A = "+15551230001"
PHONE_B = "+15551230002"


def rebuilt(trigger: _Trigger) -> _Trigger:
    """The trigger as the triggerer rebuilds it after a restart: classpath imported, kwargs through JSON."""
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))
    assert type(again) is type(trigger), f"{classpath} does not name {type(trigger).__qualname__}"
    return again  # type: ignore[no-any-return]


def conversation_lists(kapso_server: KapsoServer) -> int:
    """How many times the conversations were listed: one per poll of an inbound wait."""
    return sum(1 for r in kapso_server.simulator.requests if r.path == "/whatsapp_conversations")


def set_created_at(kapso_server: KapsoServer, message_id: str, stamp: str) -> None:
    """Give a stored message another ``created_at``: Kapso can hand out the same timestamp twice."""
    store = kapso_server.simulator._store
    with store.lock:
        for record in store.messages:
            if record["id"] == message_id:
                record["created_at"] = record["updated_at"] = stamp
