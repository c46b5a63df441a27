"""Triggers that wait on Kapso in Airflow's triggerer, without holding a worker slot.

The triggerer imports this module to rebuild a trigger from its serialized form, so the hook (and with it
``httpx``) is imported only when a trigger runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

# common.compat offers only BaseEventTrigger for triggers; BaseTrigger and TriggerEvent live in
# airflow.triggers.base on Airflow 2.11 and 3.x alike.
from airflow.triggers.base import BaseTrigger, TriggerEvent

try:
    from airflow.triggers.base import BaseEventTrigger
except ImportError:  # Airflow 2.11 has no event triggers (nor AssetWatcher); deferral still works.
    BaseEventTrigger = BaseTrigger  # type: ignore[misc,assignment]

from kapso_provider.arguments import parse_time as _parse_time
from kapso_provider.sensors._status import check_target_status, classify

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kapso_provider.hooks.kapso import KapsoAsyncHook

__all__ = [
    "InboundCursor",
    "KapsoAgentExecutionTrigger",
    "KapsoFlowExecutionTrigger",
    "KapsoInboundMessageTrigger",
    "KapsoMessageStatusTrigger",
    "KapsoReplyTrigger",
    "VariableCursorStore",
]


class KapsoMessageStatusTrigger(BaseTrigger):
    """Polls a message's status until it reaches ``target_status``, fails, or the deadline passes.

    It only reads (``GET`` the conversation's messages through
    :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook`, which waits out 429s and paces to the rate limit);
    it never sends. It yields exactly one event, a dict of plain JSON values:

    - ``status``: ``reached``, ``failed``, ``timeout`` or ``error``;
    - ``message``: the last message record read, or ``None``;
    - ``last_status``: the message's last status seen, or ``None``;
    - ``error``: for ``error``, what went wrong (an API error's text; never the API key);
    - ``message_id`` and ``conversation_id``: what was waited for.

    :param message_id: Kapso's id of the message, or its WhatsApp ``wamid``.
    :param conversation_id: the conversation the message is in.
    :param target_status: ``delivered`` or ``read`` (a ``read`` message satisfies ``delivered``).
    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp (seconds since the epoch), or ``None`` for never.
    :param last_status: the status the sensor saw before deferring, reported if no read succeeds.
    """

    def __init__(
        self,
        *,
        message_id: str,
        conversation_id: str,
        target_status: str = "delivered",
        kapso_conn_id: str = "kapso_default",
        poll_interval: float = 60.0,
        deadline: float | None = None,
        last_status: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.target_status = check_target_status(target_status)
        self.kapso_conn_id = kapso_conn_id
        if not poll_interval > 0:
            raise ValueError(f"poll_interval: {poll_interval!r} must be a positive number of seconds")
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.last_status = last_status

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and keyword arguments (strings, numbers and ``None`` only) to rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "message_id": self.message_id,
                "conversation_id": self.conversation_id,
                "target_status": self.target_status,
                "kapso_conn_id": self.kapso_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "last_status": self.last_status,
            },
        )

    def _event(
        self, status: str, *, message: dict[str, Any] | None, last_status: str | None, error: str | None = None
    ) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
            {
                "status": status,
                "message": message,
                "last_status": last_status,
                "error": error,
                "message_id": self.message_id,
                "conversation_id": self.conversation_id,
            }
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the message every ``poll_interval`` seconds and yield one event when the wait is over."""
        from kapso_provider.exceptions import KapsoAPIError, KapsoArgumentError, KapsoConfigurationError
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        hook = KapsoAsyncHook(kapso_conn_id=self.kapso_conn_id)
        last_status = self.last_status
        record: dict[str, Any] | None = None
        try:
            while True:
                try:
                    record = await hook.get_message(self.conversation_id, self.message_id)
                except (KapsoAPIError, KapsoConfigurationError, KapsoArgumentError) as exc:
                    # The hook already retried what can be retried (429s, transient failures of a read).
                    yield self._event("error", message=record, last_status=last_status, error=str(exc))
                    return
                status = record.get("status")
                last_status = status if isinstance(status, str) else None
                outcome = classify(record, self.target_status)
                if outcome != "waiting":
                    yield self._event(outcome, message=record, last_status=last_status)
                    return
                self.log.info(
                    "Kapso message %s is %s; waiting for %s", self.message_id, last_status, self.target_status
                )
                wait = self.poll_interval
                if self.deadline is not None:
                    remaining = self.deadline - time.time()
                    if remaining <= 0:
                        yield self._event("timeout", message=record, last_status=last_status)
                        return
                    # One last read right at the deadline, so a late delivery still counts.
                    wait = min(wait, remaining)
                await asyncio.sleep(wait)
        finally:
            await hook.aclose()


# -- inbound messages ---------------------------------------------------------------------------------------


def _format_time(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``: the form Kapso's records carry."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_since(since: object, *, field_name: str = "since") -> str | None:
    """``since`` as normalized ISO-8601 UTC text, or ``None``; raises ``ValueError`` naming the field."""
    if since is None:
        return None
    moment = since if isinstance(since, datetime) else _parse_time(since)
    if moment is None:
        raise ValueError(f"{field_name}: {since!r} is not an ISO-8601 date-time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _format_time(moment)


def compile_text_pattern(text_pattern: str | None, *, field_name: str = "text_pattern") -> re.Pattern[str] | None:
    """The compiled regular expression, or ``None``; raises ``ValueError`` naming the field."""
    if text_pattern is None:
        return None
    try:
        return re.compile(text_pattern)
    except re.error as exc:
        raise ValueError(f"{field_name}: {text_pattern!r} is not a valid regular expression ({exc})") from None


@dataclass
class InboundCursor:
    """How far an inbound-message wait has read: a high-water timestamp plus the ids read near it.

    Kapso has no change feed and documents no order for a conversation's messages, so "new" is decided by
    time and identity together:

    - ``since``: the latest ``created_at`` of any message already taken into account (inbound or outbound,
      matching the filters or not); it only moves forward, over messages read in ``created_at`` order;
    - ``seen``: message id -> ``created_at`` of every message read whose ``created_at`` lies within
      ``lookback`` of ``since``. Several messages can carry the very same timestamp, and one can become
      visible in Kapso's lists a little after a later one: the ids, not the timestamp alone, decide;
    - ``origin``: where the wait began; nothing created before it is ever new.

    A message is new when ``created_at >= max(origin, since - lookback)`` and its id is not in ``seen``.
    ``seen`` stays bounded: ids that fall out of the lookback window are dropped, since the window test
    alone then rejects them.

    :param since: the high-water mark.
    :param origin: the start of the wait.
    :param seen: ids read within the lookback window, with their ``created_at``.
    """

    since: datetime
    origin: datetime
    seen: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, since: str | None) -> InboundCursor:
        """A cursor that begins at ``since`` (ISO-8601), or now when ``None``."""
        moment = _parse_time(since) if since is not None else datetime.now(UTC)
        if moment is None:
            raise ValueError(f"since: {since!r} is not an ISO-8601 date-time")
        return cls(since=moment, origin=moment)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON, as stored in Airflow's asset state store."""
        return {"since": _format_time(self.since), "origin": _format_time(self.origin), "seen": dict(self.seen)}

    @classmethod
    def from_json(cls, value: Any) -> InboundCursor | None:
        """The cursor :meth:`to_json` wrote, or ``None`` for anything else (a first run, a foreign value)."""
        if not isinstance(value, dict):
            return None
        since, origin, seen = _parse_time(value.get("since")), _parse_time(value.get("origin")), value.get("seen")
        if since is None or origin is None or not isinstance(seen, dict):
            return None
        return cls(since=since, origin=origin, seen={str(key): str(stamp) for key, stamp in seen.items()})

    def window_start(self, lookback: float) -> datetime:
        """The earliest ``created_at`` (and conversation ``last_active_at``) that can still be new."""
        return max(self.origin, self.since - timedelta(seconds=lookback))

    def is_new(self, record: dict[str, Any], lookback: float) -> bool:
        """Whether a listed message has not been taken into account yet."""
        created_at = _parse_time(record.get("created_at"))
        return (
            created_at is not None
            and created_at >= self.window_start(lookback)
            and str(record.get("id")) not in self.seen
        )

    def advance(self, record: dict[str, Any], lookback: float) -> None:
        """Take ``record`` into account; called in ``(created_at, id)`` order."""
        created_at = _parse_time(record.get("created_at"))
        if created_at is None:
            return
        self.since = max(self.since, created_at)
        self.seen[str(record.get("id"))] = _format_time(created_at)
        floor = self.window_start(lookback)
        self.seen = {key: stamp for key, stamp in self.seen.items() if (_parse_time(stamp) or floor) >= floor}


def inbound_matches(record: dict[str, Any], pattern: re.Pattern[str] | None) -> bool:
    """Whether a message is one the wait is for: from the customer, and matching the text pattern if any."""
    if record.get("direction") != "inbound":
        return False
    if pattern is None:
        return True
    content = record.get("content")
    return isinstance(content, str) and pattern.search(content) is not None


def order_new(
    listed: list[tuple[dict[str, Any], dict[str, Any]]], cursor: InboundCursor, lookback: float
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The ``(message, conversation)`` pairs not yet taken into account, oldest first (ties by id)."""
    fresh = {str(message.get("id")): (message, conversation) for message, conversation in listed}
    new = [pair for pair in fresh.values() if cursor.is_new(pair[0], lookback)]
    # Sorting makes the order of a conversation's message list irrelevant: Kapso does not document it.
    return sorted(new, key=lambda pair: (_parse_time(pair[0].get("created_at")), str(pair[0].get("id"))))


def inbound_payload(message: dict[str, Any], conversation: dict[str, Any]) -> dict[str, Any]:
    """One inbound message as a trigger event's or an XCom's plain JSON."""
    return {
        "message": message,
        "message_id": message.get("id"),
        "conversation_id": conversation.get("id") or message.get("whatsapp_conversation_id"),
        "phone_number": conversation.get("phone_number") or message.get("phone_number"),
        "whatsapp_config_id": conversation.get("whatsapp_config_id") or message.get("whatsapp_config_id"),
    }


class _StateStore(Protocol):
    """The part of Airflow 3.3's per-asset state store (``AssetStateStoreAccessors``) the trigger uses."""

    async def aget(self, key: str, default: Any = None) -> Any: ...

    async def aset(self, key: str, value: Any) -> None: ...


class VariableCursorStore:
    """Keeps a trigger's cursor in an Airflow Variable: for triggerers that hand it no asset state store.

    Airflow 3.1 and 3.2 give event triggers no state of their own, but their triggerer serves Variable reads
    and writes (through its supervisor, to the metadata database), as Airflow 2's triggerer does directly.
    Those calls block, so they run in a worker thread: blocking the triggerer's event loop would stall every
    other trigger it runs.

    :param description: shown beside the Variable in Airflow's UI, so an operator knows what it is.
    """

    def __init__(self, *, description: str) -> None:
        self.description = description

    async def aget(self, key: str, default: Any = None) -> Any:
        from airflow.providers.common.compat.sdk import Variable
        from asgiref.sync import sync_to_async

        # Positional: Airflow 2 calls the default ``default_var``, the task SDK ``default``.
        value = await sync_to_async(Variable.get)(key, None, True)
        return default if value is None else value

    async def aset(self, key: str, value: Any) -> None:
        from airflow.providers.common.compat.sdk import Variable
        from asgiref.sync import sync_to_async

        await sync_to_async(Variable.set)(key, value, description=self.description, serialize_json=True)


class KapsoInboundMessageTrigger(BaseEventTrigger):
    """Yields one event per new WhatsApp message a customer sends, for ``AssetWatcher`` and deferral.

    Every ``poll_interval`` seconds it lists the conversations active since its cursor
    (``q[last_active_at_gteq]``, narrowed by ``whatsapp_config_id`` and ``phone_number``), reads their
    messages, and yields, oldest first, each inbound message it has not yielded before and whose text
    matches ``text_pattern``. It only reads (``GET``); it never marks anything read or sends. Requests go
    through :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook`, which paces them to Kapso's rate limit and
    waits out 429s.

    Each event's payload is plain JSON: ``message`` (Kapso's message record), ``message_id``,
    ``conversation_id``, ``phone_number`` and ``whatsapp_config_id``. In an ``AssetWatcher`` Airflow puts
    it in the asset event's ``extra["payload"]``.

    **The cursor** (:class:`InboundCursor`): the latest ``created_at`` read plus the ids read within
    ``lookback`` seconds of it, so messages sharing a timestamp, or showing up in Kapso's lists slightly
    late, are neither skipped nor repeated. A trigger is rebuilt from its serialized kwargs after a
    triggerer restart, so the cursor cannot live in the instance alone:

    - as an ``AssetWatcher`` on Airflow >= 3.3, the triggerer hands the trigger the asset's state store
      (``asset_state_store``, rows in the metadata database); the cursor is saved there under
      :attr:`cursor_key` right after each event is handed to the triggerer, and read back on start. A new
      instance continues exactly where the old one stopped: no message missed, none yielded twice;
    - as an ``AssetWatcher`` on Airflow 3.1 and 3.2 (no state store), or on 3.3 when one trigger serves
      watchers of several assets (the store then needs one asset named), the cursor is kept the same way
      in an Airflow Variable named :attr:`cursor_key` (see :class:`VariableCursorStore`); deleting the
      Variable makes the watcher start again from ``since`` or from now;
    - with ``single_event`` (what a deferred sensor uses) nothing is saved: the trigger yields once, and a
      restarted one reads the same messages from the same ``since``.

    Where no store can be reached at all (a trigger run in a bare event loop, outside a triggerer), the
    cursor lives in memory and a warning says so.

    The limits of the guarantee are in ``docs/inbound-messages.md``: a message that becomes visible more
    than ``lookback`` seconds after a later one was read is not seen, and a hard crash of the triggerer
    between handing an event over and Airflow storing it loses that event (the cursor is already saved).

    :param kapso_conn_id: the ``kapso`` connection id.
    :param whatsapp_config_id: only messages to this WhatsApp number (config id).
    :param phone_number: only messages from this customer number.
    :param text_pattern: only messages whose ``content`` matches this regular expression (``re.search``).
    :param since: ISO-8601 time to start from; ``None`` starts when the trigger first runs.
    :param poll_interval: seconds between two reads.
    :param lookback: seconds behind the cursor re-read on each poll for late-visible messages.
    :param single_event: yield one event with every message of the first poll that finds any, then stop
        (what :class:`~kapso_provider.sensors.kapso.KapsoInboundMessageSensor` defers with); its payload is
        ``{"status": "found", "messages": [...]}`` or ``{"status": "error", "error": ...}``.
    """

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        whatsapp_config_id: str | None = None,
        phone_number: str | None = None,
        text_pattern: str | None = None,
        since: str | None = None,
        poll_interval: float = 60.0,
        lookback: float = 5.0,
        single_event: bool = False,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
        if not poll_interval > 0:
            raise ValueError(f"poll_interval: {poll_interval!r} must be a positive number of seconds")
        if not lookback >= 0:
            raise ValueError(f"lookback: {lookback!r} must be zero or a positive number of seconds")
        self.kapso_conn_id = kapso_conn_id
        self.whatsapp_config_id = whatsapp_config_id
        self.phone_number = phone_number
        self.text_pattern = text_pattern
        self._pattern = compile_text_pattern(text_pattern)
        self.since = check_since(since)
        self.poll_interval = float(poll_interval)
        self.lookback = float(lookback)
        self.single_event = bool(single_event)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and constructor kwargs; never the cursor, which would change the watcher's identity."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kapso_conn_id": self.kapso_conn_id,
                "whatsapp_config_id": self.whatsapp_config_id,
                "phone_number": self.phone_number,
                "text_pattern": self.text_pattern,
                "since": self.since,
                "poll_interval": self.poll_interval,
                "lookback": self.lookback,
                "single_event": self.single_event,
            },
        )

    @property
    def cursor_key(self) -> str:
        """The state-store key of this trigger's cursor: one per filter set, so watchers of one asset differ."""
        identity = json.dumps(
            [self.kapso_conn_id, self.whatsapp_config_id, self.phone_number, self.text_pattern], sort_keys=True
        )
        return "kapso_inbound_cursor_" + hashlib.sha256(identity.encode()).hexdigest()[:16]

    def _state_store(self) -> _StateStore | None:
        """Where the cursor is kept between runs; ``None`` for a single-event wait, which restarts from ``since``."""
        if self.single_event:
            return None
        # Injected by Airflow >= 3.3's triggerer into AssetWatcher triggers; absent on earlier versions.
        store: _StateStore | None = getattr(self, "asset_state_store", None)
        return store if store is not None else self._variable_store()

    def _variable_store(self) -> VariableCursorStore:
        return VariableCursorStore(
            description=(
                f"Cursor of a KapsoInboundMessageTrigger (connection {self.kapso_conn_id!r}, whatsapp_config_id "
                f"{self.whatsapp_config_id!r}, phone_number {self.phone_number!r}, text_pattern "
                f"{self.text_pattern!r}). Deleting it makes the trigger start again from since or from now."
            )
        )

    async def _read_saved(self, store: _StateStore) -> tuple[Any, _StateStore | None]:
        """The saved cursor's JSON and the store to keep using; ``(None, None)`` when the store cannot be read."""
        try:
            return await store.aget(self.cursor_key), store
        except ValueError:
            if isinstance(store, VariableCursorStore):
                raise
            # Airflow runs one trigger for identical watchers of several assets, and its state store then
            # needs an asset to be named: a Variable is the one place left that outlives the trigger.
            self.log.info("This trigger watches several assets; its cursor is kept in a Variable")
            return await self._read_saved(self._variable_store())
        except Exception as exc:
            # Outside a triggerer (a bare event loop in a test, say) there may be no Variable backend to reach.
            self.log.warning("Cannot read the saved cursor (%s); it is kept in memory only", exc)
            return None, None

    async def _save(self, store: _StateStore | None, cursor: InboundCursor) -> bool:
        """Whether the cursor was saved; a failure is logged, never raised."""
        if store is None:
            return False
        try:
            # Shielded: a cancellation (the triggerer stopping) must not drop a save already begun.
            await asyncio.shield(store.aset(self.cursor_key, cursor.to_json()))
        except Exception as exc:
            # Failing the watcher would stop every later event; a lost save only risks repeats after a restart.
            self.log.warning("Cannot save the cursor (%s); a restart may yield recent messages again", exc)
            return False
        return True

    async def _load_cursor(self, store: _StateStore | None) -> tuple[InboundCursor, _StateStore | None]:
        """The saved cursor (a saved one wins over ``since``), or a new one; and the store to save it in."""
        if store is not None:
            saved, store = await self._read_saved(store)
            cursor = InboundCursor.from_json(saved)
            if cursor is not None:
                self.log.info("Resuming Kapso inbound messages after %s", _format_time(cursor.since))
                return cursor, store
        cursor = InboundCursor.start(self.since)
        # Saved at once, so a restart before the first message still starts from this moment. A store that
        # cannot take even this first save (no Variable backend outside a triggerer) is not tried again.
        if store is not None and not await self._save(store, cursor):
            self.log.warning("The cursor is kept in memory only: a restart starts again from since or from now")
            store = None
        return cursor, store

    async def _read(self, hook: Any, cursor: InboundCursor) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every message of the conversations active since the cursor's window, not yet taken into account."""
        listed: list[tuple[dict[str, Any], dict[str, Any]]] = []
        async for conversation in hook.list_conversations(
            whatsapp_config_id=self.whatsapp_config_id,
            phone_number=self.phone_number,
            last_active_after=_format_time(cursor.window_start(self.lookback)),
        ):
            async for message in hook.list_messages(conversation["id"]):
                listed.append((message, conversation))
        return order_new(listed, cursor, self.lookback)

    def _error_event(self, exc: Exception) -> TriggerEvent:
        return TriggerEvent({"status": "error", "error": str(exc), "messages": []})  # type: ignore[no-untyped-call]

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll Kapso and yield each new inbound message (or, with ``single_event``, one batch)."""
        from kapso_provider.exceptions import (
            KapsoAPIError,
            KapsoArgumentError,
            KapsoConfigurationError,
            KapsoRateLimitError,
            KapsoServerError,
        )
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        hook = KapsoAsyncHook(kapso_conn_id=self.kapso_conn_id)
        store = self._state_store()
        try:
            cursor, store = await self._load_cursor(store)
            while True:
                try:
                    new = await self._read(hook, cursor)
                except (KapsoRateLimitError, KapsoServerError) as exc:
                    # The hook has already retried; a watcher outlives a bad minute at Kapso.
                    if self.single_event:
                        yield self._error_event(exc)
                        return
                    self.log.warning("Reading Kapso inbound messages failed: %s; trying again next poll", exc)
                    new = None
                except (KapsoAPIError, KapsoConfigurationError, KapsoArgumentError) as exc:
                    if self.single_event:
                        yield self._error_event(exc)
                        return
                    raise
                if new is not None:
                    if self.single_event:
                        found = [inbound_payload(m, c) for m, c in new if inbound_matches(m, self._pattern)]
                        if found:
                            yield TriggerEvent({"status": "found", "messages": found})  # type: ignore[no-untyped-call]
                            return
                        # Nothing matched: skip what was read, so later polls ask Kapso about less.
                        for message, _ in new:
                            cursor.advance(message, self.lookback)
                    else:
                        unsaved = False
                        for message, conversation in new:
                            cursor.advance(message, self.lookback)
                            if inbound_matches(message, self._pattern):
                                yield TriggerEvent(inbound_payload(message, conversation))  # type: ignore[no-untyped-call]
                                # Saved as soon as the triggerer has taken the event: a restart from here on
                                # neither yields it again nor skips what follows.
                                await self._save(store, cursor)
                                unsaved = False
                            else:
                                unsaved = True
                        if unsaved:
                            await self._save(store, cursor)
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()


class _KapsoExecutionTrigger(BaseTrigger):
    """Polls one execution until a final status or the deadline, then yields exactly one event.

    The event is a dict of plain JSON values:

    - ``status``: ``completed``, ``failed`` (a final failure status such as ``failed`` or ``stopped``),
      ``timeout`` or ``error``;
    - ``execution``: the last execution record read, or ``None``;
    - ``last_status``: the execution's last status seen, or ``None``;
    - ``error``: for ``error``, what went wrong (Kapso's error text; never the API key);
    - ``kind``: ``agent`` or ``flow``, and the ids that were waited for.

    A 429 that outlasts the hook's own retries does not end the wait: the trigger waits ``Retry-After``
    (at least ``poll_interval``) and reads again, so a busy API key only slows the wait down.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        *,
        kapso_conn_id: str = "kapso_default",
        poll_interval: float = 30.0,
        deadline: float | None = None,
        last_status: str | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
        self.kapso_conn_id = kapso_conn_id
        if not poll_interval > 0:
            raise ValueError(f"poll_interval: {poll_interval!r} must be a positive number of seconds")
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.last_status = last_status

    def _ids(self) -> dict[str, Any]:
        raise NotImplementedError

    async def _read(self, hook: KapsoAsyncHook) -> dict[str, Any] | None:
        """One read of the execution; ``None`` while it cannot be seen yet."""
        raise NotImplementedError

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and keyword arguments (strings, numbers and ``None`` only) to rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self._ids(),
                "kapso_conn_id": self.kapso_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "last_status": self.last_status,
            },
        )

    def _event(
        self, status: str, *, execution: dict[str, Any] | None, last_status: str | None, error: str | None = None
    ) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
            {
                "status": status,
                "execution": execution,
                "last_status": last_status,
                "error": error,
                "kind": self.kind,
                **self._ids(),
            }
        )

    def _wait(self, seconds: float) -> float | None:
        """How long to sleep before the next read, or ``None`` when the deadline has passed."""
        if self.deadline is None:
            return seconds
        remaining = self.deadline - time.time()
        if remaining <= 0:
            return None
        # One last read right at the deadline, so an execution finishing late still counts.
        return min(seconds, remaining)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read the execution every ``poll_interval`` seconds and yield one event when the wait is over."""
        from kapso_provider.api.v1.agents import execution_outcome
        from kapso_provider.exceptions import (
            KapsoAPIError,
            KapsoArgumentError,
            KapsoConfigurationError,
            KapsoRateLimitError,
        )
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        hook = KapsoAsyncHook(kapso_conn_id=self.kapso_conn_id)
        last_status = self.last_status
        record: dict[str, Any] | None = None
        try:
            while True:
                interval = self.poll_interval
                try:
                    current = await self._read(hook)
                except KapsoRateLimitError as exc:
                    current = None
                    interval = max(interval, exc.retry_after or 0.0)
                    self.log.warning("Kapso rate limit reached while waiting; reading again in %.0f s", interval)
                except (KapsoAPIError, KapsoConfigurationError, KapsoArgumentError) as exc:
                    # The hook already retried what can be retried (transient failures of a read).
                    yield self._event("error", execution=record, last_status=last_status, error=str(exc))
                    return
                if current is not None:
                    record = current
                    status = record.get("status")
                    last_status = status if isinstance(status, str) else None
                    outcome = execution_outcome(self.kind, record)
                    if outcome != "running":
                        yield self._event(outcome, execution=record, last_status=last_status)
                        return
                    self.log.info("Kapso %s execution %s is %s", self.kind, record.get("id"), last_status)
                wait = self._wait(interval)
                if wait is None:
                    yield self._event("timeout", execution=record, last_status=last_status)
                    return
                await asyncio.sleep(wait)
        finally:
            await hook.aclose()


class KapsoAgentExecutionTrigger(_KapsoExecutionTrigger):
    """Waits for an agent execution to reach a final status: ``ended`` or ``handoff`` (completed),
    ``failed`` or ``stopped`` (failed). ``started``, ``running`` and ``paused`` keep it waiting.

    It reads ``GET /agents/{agent_id}/executions/{execution_id}`` only. Its one event is described in
    :class:`_KapsoExecutionTrigger`; it also carries ``agent_id`` and ``execution_id``.

    :param agent_id: the agent's id.
    :param execution_id: the execution's id.
    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp, or ``None`` for never.
    :param last_status: the status the operator saw before deferring, reported if no read succeeds.
    """

    kind = "agent"

    def __init__(self, *, agent_id: str, execution_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.agent_id = agent_id
        self.execution_id = execution_id

    def _ids(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "execution_id": self.execution_id}

    async def _read(self, hook: KapsoAsyncHook) -> dict[str, Any] | None:
        return await hook.get_agent_execution(self.agent_id, self.execution_id)


class KapsoFlowExecutionTrigger(_KapsoExecutionTrigger):
    """Waits for a flow execution to reach a final status: ``ended`` (completed) or ``failed``.
    ``running`` and ``waiting`` keep it waiting.

    A flow start answers a ``tracking_id``, not an execution id, so when ``execution_id`` is unknown the
    trigger first lists the flow's executions started since ``started_after`` and picks the one carrying
    ``tracking_id`` (it may take a few reads to appear: Kapso queues the start); afterwards it reads
    ``GET /flow_executions/{id}``. Its one event also carries ``flow_id``, ``tracking_id`` and
    ``execution_id``.

    :param flow_id: the flow's id.
    :param tracking_id: the ``tracking_id`` the start answered.
    :param execution_id: the execution's id when already known.
    :param started_after: ISO-8601 time before the start, to keep the list short.
    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp, or ``None`` for never.
    :param last_status: the status the operator saw before deferring, reported if no read succeeds.
    """

    kind = "flow"

    def __init__(
        self,
        *,
        flow_id: str,
        tracking_id: str | None = None,
        execution_id: str | None = None,
        started_after: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if tracking_id is None and execution_id is None:
            raise ValueError("tracking_id: give the start's tracking_id, or execution_id")
        self.flow_id = flow_id
        self.tracking_id = tracking_id
        self.execution_id = execution_id
        self.started_after = started_after

    def _ids(self) -> dict[str, Any]:
        return {
            "flow_id": self.flow_id,
            "tracking_id": self.tracking_id,
            "execution_id": self.execution_id,
            "started_after": self.started_after,
        }

    async def _read(self, hook: KapsoAsyncHook) -> dict[str, Any] | None:
        if self.execution_id is not None:
            return await hook.get_flow_execution(self.execution_id)
        assert self.tracking_id is not None  # the constructor refuses neither
        record = await hook.find_flow_execution(self.flow_id, self.tracking_id, started_after=self.started_after)
        if record is None:
            self.log.info("Kapso flow execution %s is queued; not listed yet", self.tracking_id)
            return None
        self.execution_id = str(record["id"])
        return record


# -- answers to a question ---------------------------------------------------------------------------------


class KapsoReplyTrigger(BaseTrigger):
    """Waits for the answer to a question an ask operator sent, and yields exactly one event.

    Every ``poll_interval`` seconds it lists the messages of the question's conversation (and, when other
    numbers may answer, of their conversations active since the question) and looks, oldest first, for
    the first inbound message created after the question that chooses one of its options (see
    ``kapso_provider._replies.ReplySpec``). Messages from numbers not allowed to answer, and those
    choosing nothing, are logged and skipped. Requests go through
    :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook`, which paces them to Kapso's rate limit and waits
    out 429s; a rate limit or server error that outlasts its retries only delays the next read.

    Nothing is kept between runs: a trigger rebuilt from :meth:`serialize` after a triggerer restart starts
    again from the question's ``created_at``, reads the same messages and finds the same first answer. The
    one write, the optional reminder, is sent once: a restarted trigger sees it in the conversation and
    does not send it again.

    Its one event is plain JSON: ``status`` (``answered``, ``timeout`` or ``error``), ``answer`` (for
    ``answered``: ``option_id``, ``option_title``, ``answered_by``, ``answered_at``, ``timed_out`` and
    the raw inbound ``message``), ``error`` (Kapso's error text; never the API key), and ``question``
    (``conversation_id``, ``message_id``, ``created_at``).

    :param conversation_id: the conversation the question was sent into.
    :param question_message_id: the question's Kapso message id.
    :param question_created_at: the question's ``created_at`` (ISO-8601): answers count from it.
    :param spec: what counts as an answer, as ``ReplySpec.to_json()`` (``kapso_provider._replies``) writes it.
    :param other_numbers: numbers, besides the conversation's own, whose conversations are read.
    :param whatsapp_config_id: the WhatsApp number the question went out from, to find those conversations.
    :param kapso_conn_id: the ``kapso`` connection id.
    :param poll_interval: seconds between two reads.
    :param deadline: when to give up, as a Unix timestamp, or ``None`` for never.
    :param reminder_at: when to send the reminder, as a Unix timestamp, or ``None``.
    :param reminder_text: the reminder's text.
    :param lookback: seconds behind the cursor re-read for messages that show up late.
    """

    def __init__(
        self,
        *,
        conversation_id: str,
        question_message_id: str,
        question_created_at: str,
        spec: dict[str, Any],
        other_numbers: list[str] | None = None,
        whatsapp_config_id: str | None = None,
        kapso_conn_id: str = "kapso_default",
        poll_interval: float = 30.0,
        deadline: float | None = None,
        reminder_at: float | None = None,
        reminder_text: str | None = None,
        lookback: float = 5.0,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
        from kapso_provider._replies import ReplySpec

        if not poll_interval > 0:
            raise ValueError(f"poll_interval: {poll_interval!r} must be a positive number of seconds")
        self.conversation_id = conversation_id
        self.question_message_id = question_message_id
        created_at = check_since(question_created_at, field_name="question_created_at")
        assert created_at is not None  # question_created_at is required
        self.question_created_at = created_at
        self.spec = ReplySpec.from_json(spec)
        self.other_numbers = list(other_numbers or [])
        self.whatsapp_config_id = whatsapp_config_id
        self.kapso_conn_id = kapso_conn_id
        self.poll_interval = float(poll_interval)
        self.deadline = None if deadline is None else float(deadline)
        self.reminder_at = None if reminder_at is None else float(reminder_at)
        self.reminder_text = reminder_text
        self.lookback = float(lookback)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The classpath and keyword arguments (plain JSON) to rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "conversation_id": self.conversation_id,
                "question_message_id": self.question_message_id,
                "question_created_at": self.question_created_at,
                "spec": self.spec.to_json(),
                "other_numbers": list(self.other_numbers),
                "whatsapp_config_id": self.whatsapp_config_id,
                "kapso_conn_id": self.kapso_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "reminder_at": self.reminder_at,
                "reminder_text": self.reminder_text,
                "lookback": self.lookback,
            },
        )

    def _event(self, status: str, *, answer: dict[str, Any] | None = None, error: str | None = None) -> TriggerEvent:
        return TriggerEvent(  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
            {
                "status": status,
                "answer": answer,
                "error": error,
                "question": {
                    "conversation_id": self.conversation_id,
                    "message_id": self.question_message_id,
                    "created_at": self.question_created_at,
                },
            }
        )

    async def _read(self, hook: KapsoAsyncHook, since: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """The messages of the question's conversation, then of the other allowed numbers' conversations."""
        own = {"id": self.conversation_id}
        listed = [(message, own) async for message in hook.list_messages(self.conversation_id)]
        for number in self.other_numbers:
            async for conversation in hook.list_conversations(
                phone_number=number, whatsapp_config_id=self.whatsapp_config_id, last_active_after=since
            ):
                if conversation.get("id") == self.conversation_id:
                    continue
                listed.extend([(message, conversation) async for message in hook.list_messages(conversation["id"])])
        return listed

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Read every ``poll_interval`` seconds until the answer, the deadline or an error."""
        from kapso_provider._replies import ReplyWatch
        from kapso_provider.exceptions import (
            KapsoAPIError,
            KapsoArgumentError,
            KapsoConfigurationError,
            KapsoRateLimitError,
            KapsoServerError,
        )
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        hook = KapsoAsyncHook(kapso_conn_id=self.kapso_conn_id)
        watch = ReplyWatch(
            spec=self.spec,
            question_created_at=self.question_created_at,
            lookback=self.lookback,
            reminder_text=self.reminder_text,
        )
        try:
            while True:
                try:
                    since = _format_time(watch.cursor.window_start(self.lookback))
                    answer = watch.take(await self._read(hook, since), self.log)
                    if answer is not None:
                        yield self._event("answered", answer=answer)
                        return
                    if watch.reminder_due(self.reminder_at, time.time()):
                        assert self.reminder_text is not None  # reminder_due checks it
                        await hook.send_message(
                            {"message_type": "text", "content": self.reminder_text},
                            conversation_id=self.conversation_id,
                        )
                        watch.reminder_sent = True
                        self.log.info("Sent the reminder into conversation %s", self.conversation_id)
                except (KapsoRateLimitError, KapsoServerError) as exc:
                    # The hook has already retried; a person may take hours to answer, a bad minute at
                    # Kapso must not end the wait.
                    self.log.warning("Reading the conversation failed: %s; trying again next poll", exc)
                except (KapsoAPIError, KapsoConfigurationError, KapsoArgumentError) as exc:
                    yield self._event("error", error=str(exc))
                    return
                now = time.time()
                if self.deadline is not None and now >= self.deadline:
                    yield self._event("timeout")
                    return
                wait = self.poll_interval
                for moment in (self.deadline, None if watch.reminder_sent else self.reminder_at):
                    if moment is not None and moment > now:
                        wait = min(wait, moment - now)
                await asyncio.sleep(max(wait, 0.0))
        finally:
            await hook.aclose()
