"""What every Kapso trigger shares: its serialized form, its events, its hook and its poll loop.

A trigger is rebuilt in the triggerer from :meth:`KapsoBaseTrigger.serialize`, so this module imports only
Airflow's trigger base and the standard library: the async hook (and with it ``httpx``) loads when a
trigger runs.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

# common.compat offers only BaseEventTrigger for triggers; BaseTrigger and TriggerEvent live in
# airflow.triggers.base on Airflow 2.11 and 3.x alike.
from airflow.triggers.base import BaseTrigger, TriggerEvent

from kapso_provider.utils.waiting import next_wait
from kapso_provider.validation import seconds

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kapso_provider.hooks.kapso import KapsoAsyncHook

__all__ = ["PUBLIC_MODULE", "KapsoBaseTrigger", "KapsoPollingTrigger", "Poll", "State"]

#: Where every trigger of the provider is imported from when the triggerer rebuilds it. The classes live in
#: one module per area, but the classpath they serialize to stays this one: triggers stored by an earlier
#: release deserialize, and an asset watcher keeps its identity (Airflow hashes the classpath into it).
PUBLIC_MODULE = "kapso_provider.triggers.kapso"

#: What one run of a :class:`KapsoPollingTrigger` keeps across its reads (``None`` for most).
State = TypeVar("State")


def error_text(exc: BaseException) -> str:
    """What an error event says: a Kapso error's own text (never the API key), else the error's type too."""
    from kapso_provider.exceptions import KapsoError

    if isinstance(exc, KapsoError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class KapsoBaseTrigger(BaseTrigger):
    """The base of every Kapso trigger: ``serialize()``, the hook, and events of one shape.

    A subclass lists its constructor arguments in :attr:`serialized_fields`; each is kept in an attribute of
    the same name (in plain JSON, or turned into it by :meth:`serialized_value`), and :meth:`serialize`
    returns them with the trigger's classpath in :data:`PUBLIC_MODULE`.

    :param kapso_conn_id: the ``kapso`` connection id.
    """

    #: The constructor arguments :meth:`serialize` returns, each held in the attribute of that name.
    serialized_fields: ClassVar[tuple[str, ...]] = ("kapso_conn_id",)

    def __init__(self, *, kapso_conn_id: str = "kapso_default") -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
        self.kapso_conn_id = kapso_conn_id

    @classmethod
    def classpath(cls) -> str:
        """The import path the triggerer rebuilds this class from; a subclass defined elsewhere keeps its own."""
        module = PUBLIC_MODULE if cls.__module__.startswith("kapso_provider.triggers.") else cls.__module__
        return f"{module}.{cls.__qualname__}"

    def serialized_value(self, name: str) -> Any:
        """The plain-JSON value of the constructor argument ``name`` (the attribute of that name by default)."""
        return getattr(self, name)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and the constructor's keyword arguments, plain JSON, to rebuild this trigger."""
        return self.classpath(), {name: self.serialized_value(name) for name in self.serialized_fields}

    def identity(self) -> dict[str, Any]:
        """What was waited for (ids): part of every event this trigger yields."""
        return {}

    def event(self, status: str, **fields: Any) -> TriggerEvent:
        """An event of the shared shape: ``status``, ``error`` (``None`` unless given), the identity, the fields."""
        payload = {"status": status, "error": None, **self.identity(), **fields}
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x

    def new_hook(self) -> KapsoAsyncHook:
        """The async hook on ``kapso_conn_id``, for waiting; the connection is read on its first request.

        Every trigger of one triggerer shares the connection's client and pacer, and their reads share the
        connection's wait budget; an identical read within half this trigger's poll interval (at most 10 s)
        is answered once for all (``kapso_provider.hooks._shared``).
        """
        from kapso_provider.hooks._shared import DEFAULT_COALESCE_SECONDS
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        poll_interval = getattr(self, "poll_interval", None)
        coalesce = (
            DEFAULT_COALESCE_SECONDS if poll_interval is None else min(DEFAULT_COALESCE_SECONDS, poll_interval / 2)
        )
        return KapsoAsyncHook(kapso_conn_id=self.kapso_conn_id, waiting=True, coalesce_seconds=coalesce)


@dataclass
class Poll:
    """What one read found.

    :param status: the status of the event that ends the wait, or ``None`` to keep waiting.
    :param report: fields every later event carries (the last record read, the last status seen); they
        update what earlier reads reported.
    """

    status: str | None = None
    report: dict[str, Any] = field(default_factory=dict)


class KapsoPollingTrigger(KapsoBaseTrigger, Generic[State]):
    """A trigger that reads Kapso every ``poll_interval`` seconds until an outcome or its deadline, and yields
    exactly one event: the outcome's, ``timeout``, or ``error``.

    A subclass says what one read is (:meth:`poll`), what the first events report before any read
    (:meth:`initial_report`) and, if it keeps state across reads within one run, how that begins
    (:meth:`begin`). A failure of a read ends the wait with an ``error`` event carrying its text, so that the
    task resumes and fails in ``execute_complete``, where Airflow runs its failure callbacks: a trigger
    that raises instead is failed by ``airflow dags test`` without them (``docs/triggers.md``). Errors in
    :attr:`transient_errors` only delay the next read (by ``Retry-After`` when the error says one).

    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp, or ``None`` for never. One last read happens at
        the deadline, so an outcome reached just in time still counts.
    """

    serialized_fields: ClassVar[tuple[str, ...]] = ("kapso_conn_id", "poll_interval", "deadline")
    #: Errors that outlast the hook's own retries but only delay the next read.
    transient_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(
        self, *, kapso_conn_id: str = "kapso_default", poll_interval: float = 60.0, deadline: float | None = None
    ) -> None:
        super().__init__(kapso_conn_id=kapso_conn_id)
        self.poll_interval = seconds("poll_interval", poll_interval)
        self.deadline = None if deadline is None else float(deadline)

    def initial_report(self) -> dict[str, Any]:
        """What the events report before any read succeeded."""
        return {}

    def begin(self) -> State:
        """The state one run keeps across its reads (none by default)."""
        return None  # type: ignore[return-value]  # subclasses with state override this

    async def poll(self, hook: KapsoAsyncHook, state: State) -> Poll:
        """One read of Kapso."""
        raise NotImplementedError

    def wake_up_at(self, state: State) -> float | None:
        """A moment (Unix seconds) before the next poll at which to read again, e.g. a reminder's."""
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read every ``poll_interval`` seconds and yield one event when the wait is over."""
        hook = self.new_hook()
        report = self.initial_report()
        try:
            state = self.begin()
            while True:
                interval = self.poll_interval
                try:
                    found = await self.poll(hook, state)
                except self.transient_errors as exc:
                    retry_after = getattr(exc, "retry_after", None) or 0.0
                    interval = max(interval, retry_after)
                    self.log.warning("Reading Kapso failed: %s; reading again in %.0f s", exc, interval)
                    found = Poll()
                except Exception as exc:
                    self.log.warning("Reading Kapso failed: %s", error_text(exc))
                    yield self.event("error", **report, error=error_text(exc))
                    return
                report.update(found.report)
                if found.status is not None:
                    yield self.event(found.status, **report)
                    return
                wait = next_wait(interval, time.time(), self.deadline, self.wake_up_at(state))
                if wait is None:
                    yield self.event("timeout", **report)
                    return
                await asyncio.sleep(wait)
        finally:
            await hook.aclose()
