"""What the trigger tests share: a trigger rebuilt as the triggerer does, and reads of the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow.triggers.base import BaseTrigger

    from kapso_provider.testing.pytest_plugin import KapsoServer
    from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger

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
    """How many times an inbound wait read: one conversation list per poll on API v1, one listing of inbound
    messages per poll on the current API."""
    return sum(
        1
        for r in kapso_server.simulator.requests
        if r.path == "/whatsapp_conversations" or (r.path == "/whatsapp/messages" and r.query.get("direction"))
    )


def set_created_at(kapso_server: KapsoServer, message_id: str, stamp: str) -> None:
    """Give a stored message another ``created_at``: Kapso can hand out the same timestamp twice."""
    store = kapso_server.simulator._store
    with store.lock:
        for record in store.messages:
            if record["id"] == message_id:
                record["created_at"] = record["updated_at"] = stamp


# A guard against a hung test only: every wait below ends on an observed condition, not on time.
GUARD_SECONDS = 60.0


class DictStateStore:
    """The ``aget``/``aset`` part of Airflow 3.3's asset state store, over a dict that outlives triggers."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.writes = 0

    async def aget(self, key: str, default: Any = None) -> Any:
        return json.loads(json.dumps(self.values.get(key, default)))

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))  # only JSON survives, as in the database
        self.writes += 1


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Runner:
    """Runs a trigger like the triggerer does, in a task, collecting each event payload as it comes."""

    def __init__(self, trigger: KapsoInboundMessageTrigger, store: DictStateStore | None) -> None:
        if store is not None:
            # What Airflow 3.3's triggerer injects into an AssetWatcher's trigger.
            trigger.asset_state_store = store  # type: ignore[assignment]
        self.trigger = trigger
        self.events: list[dict[str, Any]] = []
        self.task: asyncio.Task[None] | None = None

    async def _consume(self) -> None:
        async for event in self.trigger.run():
            self.events.append(event.payload)

    def start(self) -> None:
        self.task = asyncio.create_task(self._consume())

    async def stop(self) -> None:
        """Cancel the trigger, as a triggerer shutting down does."""
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(condition: Callable[[], bool], runner: Runner | None = None) -> None:
    deadline = asyncio.get_running_loop().time() + GUARD_SECONDS
    while not condition():
        if runner is not None and runner.task is not None and runner.task.done():
            runner.task.result()  # surface the trigger's exception
            raise AssertionError("the trigger stopped early")
        assert asyncio.get_running_loop().time() < deadline, "condition never met"
        await asyncio.sleep(0.01)


def collect(trigger: KapsoInboundMessageTrigger, count: int, store: DictStateStore | None = None) -> list[Any]:
    """The first ``count`` events, then the trigger is cancelled."""

    async def go() -> list[Any]:
        runner = Runner(trigger, store)
        runner.start()
        await until(lambda: len(runner.events) >= count, runner)
        await runner.stop()
        return runner.events

    return asyncio.run(go())
