"""One connection's client, pacer and clock, shared by every async hook of one event loop.

A triggerer runs every deferred Kapso wait as a trigger in one event loop. Each trigger building its own
hook, ``httpx.AsyncClient`` (about 14 ms of CPU and 700 KiB each) and connection lookup would make a
thousand waits cost seconds and hundreds of MiB, and each would pace itself as if alone on the key. So
async hooks of one loop share, per connection id, one :class:`SharedConnection`: the parsed connection
(looked up once), one client, one pacer and one clock. The last hook to close closes it.

Hooks created *for waiting* (``KapsoAsyncHook(..., waiting=True)``, which the triggers and deferred
sensors use) also share two things that keep waits from starving sends on the same key:

- a **read cache**: identical reads (same ``GET`` path and query) within ``coalesce_seconds`` are answered
  by one request, decoded once for all, and a read already in flight is awaited rather than repeated.
  Waits on the same conversation, or on messages one listing answers, cost one request per
  ``coalesce_seconds``, not one each. Only successes are kept: a retry of a failed read asks again;
- a **wait budget**: all waiting hooks of the connection together make at most ``wait_share`` of the key's
  rate limit (learned from ``X-RateLimit-Limit``, which every answer of Kapso carries). Until the first
  answer, one read goes alone; against a server that sends no such header, reads are not held. When more
  waits want to read than the share allows, each one's reads are spaced further apart.

``docs/at-scale.md`` gives the figures and how long a wait may then take to notice.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import TYPE_CHECKING, Any

from kapso_provider.transport.clock import KapsoClock
from kapso_provider.transport.settings import DEFAULT_WAIT_SHARE
from kapso_provider.transport.wire import Answer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import httpx

    from kapso_provider.pacing import RequestPacer
    from kapso_provider.transport.settings import KapsoConnectionSettings
    from kapso_provider.transport.wire import Request

#: Seconds an answer to a waiting hook's read serves identical reads, by default.
DEFAULT_COALESCE_SECONDS = 10.0


class SharedAnswer(Answer):
    """An answer that serves the identical reads of several waiting hooks: its body is decoded once for all.

    A thousand waits on one conversation read the same pages; decoding each page once per wait made their
    CPU grow with the square of their number. Every reader gets the same decoded records, which the waits
    only read (what they keep, such as an answer's message, they copy).
    """

    @cached_property
    def _decoded(self) -> Any:
        return super().json()

    def json(self) -> Any:
        """The body as JSON, decoded on the first call; :class:`ValueError` when it is not JSON."""
        return self._decoded

    @classmethod
    def of(cls, answer: Answer) -> SharedAnswer:
        return cls(**{part.name: getattr(answer, part.name) for part in fields(answer)})


#: The fraction of its share the wait budget spaces reads at, as the pacer's ``headroom``: the jitter between a
#: read leaving and Kapso receiving it cannot then put more than the share into one of Kapso's minutes.
WAIT_HEADROOM = 0.98


@dataclass(kw_only=True)
class WaitBudget:
    """Spaces the reads of all waiting hooks of one connection at ``share`` of the key's rate.

    Reads take their turns one after another: each leaves one spacing (``window / (share x limit x
    headroom)``) after the read before it actually left. A slot claimed ahead of time would let reads
    whose loop was busy when their slot came (a triggerer starting a thousand waits) leave together
    afterwards, more than the share in one minute; measured from the read before, no minute holds more.

    :param share: the fraction of the key's limit the waits may use, from 0 (exclusive) to 1.
    :param window: seconds of Kapso's rate-limit window.
    :param headroom: the fraction of the share the reads are spaced at.
    :param clock: a monotonic clock in seconds.
    :param sleep: how a turn waits (``asyncio.sleep``; a test passes one that moves its clock).
    """

    share: float = DEFAULT_WAIT_SHARE
    window: float = 60.0
    headroom: float = WAIT_HEADROOM
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep
    # When the last read left, or None before any.
    _last: float | None = None
    # Whether Kapso answered a read yet (its answer tells the key's limit), and the read sent alone until then.
    _answered: bool = False
    _first_read: asyncio.Future[None] | None = None
    # Held by the read whose turn is next, so that turns go one at a time, in the order they were asked for.
    _gate: asyncio.Lock = field(default_factory=asyncio.Lock)

    def spacing(self, limit: int | None) -> float:
        """Seconds between two reads for a key allowed ``limit`` requests a window; 0 for no known limit.

        :param limit: the key's requests per window as Kapso reported it, or ``None`` before any answer.
        """
        if not limit:
            return 0.0
        return self.window / (self.share * limit * self.headroom)

    def delay(self, limit: int | None) -> float:
        """Seconds until the next read may leave: one spacing after the last read left; 0 when none did.

        :param limit: the key's requests per window as Kapso reported it, or ``None`` before any answer.
        """
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.spacing(limit) - self.clock())

    def leave(self) -> None:
        """A read leaves now."""
        self._last = self.clock()

    async def take_turn(self, limit: Callable[[], int | None]) -> bool:
        """Wait for a read's turn: one spacing after the read before (:meth:`delay`), or, before Kapso answered
        any read, the answer of the one read that goes alone.

        A triggerer starting a thousand waits would otherwise send them all before the first answer said
        how many requests the key may make, and claim the whole key for a while.

        :param limit: reads the key's limit as Kapso last reported it.
        :returns: ``True`` for the read that goes alone; its sender reports with :meth:`first_read_done`.
        """
        while not self._answered:
            if self._first_read is None:
                self._first_read = asyncio.get_running_loop().create_future()
                self.leave()
                return True
            # Shielded: a wait cancelled here must not cancel the turn the others wait for.
            await asyncio.shield(self._first_read)
        async with self._gate:
            # Asked again after each sleep: the limit may have changed while this turn waited.
            while (wait := self.delay(limit())) > 0:
                await self.sleep(wait)
            self.leave()
        return False

    def first_read_done(self, *, answered: bool) -> None:
        """The read that went alone is over; without an answer (lost, cancelled) the next read goes alone.

        :param answered: whether Kapso answered it.
        """
        first, self._first_read = self._first_read, None
        self._answered = self._answered or answered
        if first is not None and not first.done():
            first.set_result(None)


@dataclass
class SharedConnection:
    """What async hooks of one loop share for one connection id."""

    settings: KapsoConnectionSettings
    client: httpx.AsyncClient
    pacer: RequestPacer
    clock: KapsoClock = field(default_factory=KapsoClock)
    users: int = 0
    budget: WaitBudget = field(default_factory=WaitBudget)
    # (path, query) -> (when the answer arrived, the answer); and the reads in flight.
    _answers: dict[tuple[str, str], tuple[float, Answer | Exception]] = field(default_factory=dict)
    _in_flight: dict[tuple[str, str], asyncio.Future[Answer | Exception]] = field(default_factory=dict)

    async def coalesced(
        self,
        request: Request,
        send: Callable[[], Awaitable[Answer | Exception]],
        *,
        max_age: float,
    ) -> Answer | Exception:
        """The answer to a read: a recent identical one, one in flight, or a new one from ``send``."""
        key = (request.path, repr(sorted(request.query.items())))
        cached = self._answers.get(key)
        if cached is not None and time.monotonic() - cached[0] <= max_age:
            return cached[1]
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Answer | Exception] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            outcome = await send()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so that no "never retrieved" warning follows
            raise
        finally:
            self._in_flight.pop(key, None)
        # Only a success serves later reads: a failure (no answer, a 429, a 5xx) would otherwise answer the
        # retries meant to get past it, and end the wait after attempts that never reached Kapso.
        if not isinstance(outcome, Exception) and 200 <= outcome.status < 300:
            outcome = SharedAnswer.of(outcome)
            self._answers[key] = (time.monotonic(), outcome)
        future.set_result(outcome)
        # Forget what no reader can take any more, so the cache stays as small as the set of waits.
        for stale in [k for k, (at, _) in self._answers.items() if time.monotonic() - at > max_age]:
            del self._answers[stale]
        return outcome

    async def within_budget(
        self, limit: Callable[[], int | None], send: Callable[[], Awaitable[Answer | Exception]]
    ) -> Answer | Exception:
        """``send`` a waiting hook's read once the wait budget gives it its turn (:meth:`WaitBudget.take_turn`).

        :param limit: reads the key's limit as Kapso last reported it (the shared pacer's).
        """
        alone = await self.budget.take_turn(limit)
        answered = False
        try:
            outcome = await send()
            # A 5xx may come from a proxy in front of Kapso, without the rate-limit headers: it tells
            # nothing about the key. Kapso's own answers carry them; one that does not means a server
            # that states no limit, and reads are not held.
            answered = not isinstance(outcome, Exception) and (limit() is not None or outcome.status < 500)
            return outcome
        finally:
            if alone:
                self.budget.first_read_done(answered=answered)


# One registry per event loop: a client is bound to the loop that made it.
_REGISTRIES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedConnection]] = (
    weakref.WeakKeyDictionary()
)
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = weakref.WeakKeyDictionary()


async def acquire(conn_id: str, create: Callable[[], Awaitable[SharedConnection]]) -> SharedConnection:
    """The loop's shared state for ``conn_id``, made by ``create`` for the first user; counts one more user."""
    loop = asyncio.get_running_loop()
    registry = _REGISTRIES.setdefault(loop, {})
    lock = _LOCKS.setdefault(loop, {}).setdefault(conn_id, asyncio.Lock())
    # One lookup and one client for a thousand triggers starting at once: the others wait for the first.
    async with lock:
        shared = registry.get(conn_id)
        if shared is None:
            shared = registry[conn_id] = await create()
        shared.users += 1
        return shared


async def release(conn_id: str, shared: SharedConnection) -> None:
    """One user less; the last one closes the client and forgets the connection."""
    shared.users -= 1
    if shared.users > 0:
        return
    registry = _REGISTRIES.get(asyncio.get_running_loop(), {})
    if registry.get(conn_id) is shared:
        del registry[conn_id]
    await shared.client.aclose()


def users(conn_id: str) -> int:
    """How many hooks of the running loop share ``conn_id`` now (for tests and logs)."""
    shared = _REGISTRIES.get(asyncio.get_running_loop(), {}).get(conn_id)
    return 0 if shared is None else shared.users
