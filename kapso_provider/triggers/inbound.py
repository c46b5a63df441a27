"""The inbound-message trigger: each new WhatsApp message a customer sends, for ``AssetWatcher`` and deferral."""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from airflow.triggers.base import TriggerEvent

from kapso_provider.exceptions import KapsoRateLimitError, KapsoServerError
from kapso_provider.triggers.base import KapsoBaseTrigger, error_text
from kapso_provider.utils.inbound import (
    InboundCursor,
    check_since,
    compile_text_pattern,
    format_time,
    inbound_matches,
    inbound_payload,
    order_new,
)
from kapso_provider.validation import seconds

try:
    from airflow.triggers.base import BaseEventTrigger
except ImportError:  # Airflow 2.11 has no event triggers (nor AssetWatcher); deferral still works.
    from airflow.triggers.base import BaseTrigger as BaseEventTrigger  # type: ignore[assignment]

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kapso_provider.hooks.kapso import KapsoAsyncHook

__all__ = ["KapsoInboundMessageTrigger", "VariableCursorStore"]

Listed = list[tuple[dict[str, Any], dict[str, Any]]]


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


class KapsoInboundMessageTrigger(KapsoBaseTrigger, BaseEventTrigger):
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
        ``{"status": "found", "messages": [...]}`` or ``{"status": "error", "error": ...}``. Any failure
        then ends the wait with the error event, so the deferred task fails with its failure callbacks.
    """

    # Never the cursor: it would change the watcher's identity.
    serialized_fields: ClassVar[tuple[str, ...]] = (
        "kapso_conn_id",
        "whatsapp_config_id",
        "phone_number",
        "text_pattern",
        "since",
        "poll_interval",
        "lookback",
        "single_event",
    )

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
        super().__init__(kapso_conn_id=kapso_conn_id)
        self.poll_interval = seconds("poll_interval", poll_interval)
        self.lookback = seconds("lookback", lookback, zero_allowed=True)
        self.whatsapp_config_id = whatsapp_config_id
        self.phone_number = phone_number
        self.text_pattern = text_pattern
        self._pattern = compile_text_pattern(text_pattern)
        self.since = check_since(since)
        self.single_event = bool(single_event)

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
                self.log.info("Resuming Kapso inbound messages after %s", format_time(cursor.since))
                return cursor, store
        cursor = InboundCursor.start(self.since)
        # Saved at once, so a restart before the first message still starts from this moment. A store that
        # cannot take even this first save (no Variable backend outside a triggerer) is not tried again.
        if store is not None and not await self._save(store, cursor):
            self.log.warning("The cursor is kept in memory only: a restart starts again from since or from now")
            store = None
        return cursor, store

    async def _read(self, hook: KapsoAsyncHook, cursor: InboundCursor) -> Listed:
        """Every message of the conversations active since the cursor's window, not yet taken into account."""
        listed: list[tuple[dict[str, Any], dict[str, Any]]] = []
        async for conversation in hook.list_conversations(
            whatsapp_config_id=self.whatsapp_config_id,
            phone_number=self.phone_number,
            last_active_after=format_time(cursor.window_start(self.lookback)),
        ):
            async for message in hook.list_messages(conversation["id"]):
                listed.append((message, conversation))
        return order_new(listed, cursor, self.lookback)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll Kapso and yield each new inbound message (or, with ``single_event``, one batch)."""
        if self.single_event:
            async for event in self._run_once():
                yield event
            return
        hook = self.new_hook()
        try:
            cursor, store = await self._load_cursor(self._state_store())
            while True:
                try:
                    new = await self._read(hook, cursor)
                except (KapsoRateLimitError, KapsoServerError) as exc:
                    # The hook has already retried; a watcher outlives a bad minute at Kapso.
                    self.log.warning("Reading Kapso inbound messages failed: %s; trying again next poll", exc)
                    new = []
                unsaved = False
                for message, conversation in new:
                    cursor.advance(message, self.lookback)
                    if inbound_matches(message, self._pattern):
                        yield self.event_of(inbound_payload(message, conversation))
                        # Saved as soon as the triggerer has taken the event: a restart from here on neither
                        # yields it again nor skips what follows.
                        await self._save(store, cursor)
                        unsaved = False
                    else:
                        unsaved = True
                if unsaved:
                    await self._save(store, cursor)
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()

    async def _run_once(self) -> AsyncIterator[TriggerEvent]:
        """One event: every matching message of the first poll that finds any, or the error that ended the wait."""
        hook = self.new_hook()
        try:
            cursor = InboundCursor.start(self.since)
            while True:
                try:
                    new = await self._read(hook, cursor)
                except Exception as exc:
                    self.log.warning("Reading Kapso inbound messages failed: %s", error_text(exc))
                    yield self.event("error", error=error_text(exc), messages=[])
                    return
                found = [inbound_payload(m, c) for m, c in new if inbound_matches(m, self._pattern)]
                if found:
                    yield self.event("found", messages=found)
                    return
                # Nothing matched: skip what was read, so later polls ask Kapso about less.
                for message, _ in new:
                    cursor.advance(message, self.lookback)
                await asyncio.sleep(self.poll_interval)
        finally:
            await hook.aclose()

    @staticmethod
    def event_of(payload: dict[str, Any]) -> TriggerEvent:
        """An asset watcher's event: the message itself, which Airflow puts in the asset event's extra."""
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]  # untyped in Airflow 3.x
