"""KapsoInboundMessageTrigger against the simulator: filters, 429s, reads only, and restarts.

The trigger is driven the way Airflow's triggerer drives it: a task iterates ``run()`` and takes each
event as it comes; a "restart" cancels that task and builds a new trigger from ``serialize()`` (through
JSON), handing it the same asset state store. The store here is a dict behind the two async methods of
Airflow 3.3's ``AssetStateStoreAccessors`` that the trigger uses (``aget``/``aset``); the real one keeps
the same JSON in the metadata database.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.triggers.kapso import InboundCursor, KapsoInboundMessageTrigger, VariableCursorStore
from tests._modes import IN_BOTH_MODES
from tests._openapi import assert_valid_request
from tests._triggers import GUARD_SECONDS as _GUARD_SECONDS
from tests._triggers import PHONE_A, PHONE_B, DictStateStore, Runner, conversation_lists, rebuilt, set_created_at
from tests._triggers import collect as _collect
from tests._triggers import iso as _iso
from tests._triggers import until as _until

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer


def _trigger(**kwargs: Any) -> KapsoInboundMessageTrigger:
    return KapsoInboundMessageTrigger(**{"poll_interval": 0.05, **kwargs})


def _one_poll(trigger: KapsoInboundMessageTrigger, kapso_server: KapsoServer) -> list[Any]:
    """Every event of the trigger's first two polls (the second one proves nothing more comes)."""

    async def go() -> list[Any]:
        runner = Runner(trigger, None)
        runner.start()
        await _until(lambda: conversation_lists(kapso_server) >= 2, runner)
        await runner.stop()
        return runner.events

    return asyncio.run(go())


class TestSerialize:
    def test_round_trip_through_json(self) -> None:
        trigger = KapsoInboundMessageTrigger(
            kapso_conn_id="kapso_other",
            whatsapp_config_id="cfg-1",
            phone_number=PHONE_A,
            text_pattern=r"(?i)help",
            since="2026-05-01T10:00:00+02:00",
            poll_interval=15,
            lookback=2,
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "kapso_provider.triggers.kapso.KapsoInboundMessageTrigger"
        assert kwargs == {
            "kapso_conn_id": "kapso_other",
            "whatsapp_config_id": "cfg-1",
            "phone_number": PHONE_A,
            "text_pattern": r"(?i)help",
            "since": "2026-05-01T08:00:00.000000Z",  # normalized to UTC
            "poll_interval": 15.0,
            "lookback": 2.0,
            "single_event": False,
        }
        assert json.loads(json.dumps(kwargs)) == kwargs
        assert rebuilt(trigger).serialize() == (classpath, kwargs)
        assert rebuilt(trigger).cursor_key == trigger.cursor_key

    def test_is_an_event_trigger_where_airflow_has_them(self) -> None:
        try:
            from airflow.triggers.base import BaseEventTrigger
        except ImportError:  # Airflow 2.11: no event triggers, the class is a plain trigger there
            from airflow.triggers.base import BaseTrigger as BaseEventTrigger  # type: ignore[assignment]
        assert isinstance(_trigger(), BaseEventTrigger)

    def test_running_never_changes_the_kwargs(self, kapso_server: KapsoServer) -> None:
        # A watcher's identity is the hash of its kwargs: the cursor must live elsewhere.
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE_A)
        trigger = _trigger(since=_iso(datetime.now(UTC)))
        before = trigger.serialize()
        kapso_server.simulator.deliver_inbound(conversation["id"], "hello")
        _collect(trigger, 1, DictStateStore())
        assert trigger.serialize() == before
        assert kapso_server.api_key not in json.dumps(before)

    @pytest.mark.parametrize(
        ("kwargs", "field_name"),
        [
            ({"poll_interval": 0}, "poll_interval"),
            ({"lookback": -1}, "lookback"),
            ({"text_pattern": "(unclosed"}, "text_pattern"),
            ({"since": "yesterday"}, "since"),
        ],
    )
    def test_bad_arguments_name_the_field(self, kwargs: dict[str, Any], field_name: str) -> None:
        with pytest.raises(ValueError, match=f"^{field_name}:"):
            KapsoInboundMessageTrigger(**kwargs)

    def test_watchers_with_other_filters_use_other_keys(self) -> None:
        keys = {
            _trigger().cursor_key,
            _trigger(phone_number=PHONE_A).cursor_key,
            _trigger(text_pattern="help").cursor_key,
            _trigger(whatsapp_config_id="cfg").cursor_key,
        }
        assert len(keys) == 4


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["a-help", "b-help", "a-thanks", "other-config"]),
        ({"phone_number": PHONE_A}, ["a-help", "a-thanks", "other-config"]),
        ({"text_pattern": r"(?i)\bhelp\b"}, ["a-help", "b-help"]),
        ({"phone_number": PHONE_B, "text_pattern": "help"}, ["b-help"]),
        ({"whatsapp_config_id": "OTHER"}, ["other-config"]),
    ],
)
@IN_BOTH_MODES
def test_filters_and_only_inbound_since_the_start(
    filters: dict[str, Any], expected: list[str], kapso_server: KapsoServer
) -> None:
    simulator = kapso_server.simulator
    other_config = simulator.add_whatsapp_config(phone_number="+15559990000")["id"]
    if filters.get("whatsapp_config_id") == "OTHER":
        filters = {**filters, "whatsapp_config_id": other_config}
    a = simulator.create_conversation(phone_number=PHONE_A)
    b = simulator.create_conversation(phone_number=PHONE_B)
    c = simulator.create_conversation(phone_number=PHONE_A, whatsapp_config_id=other_config)
    simulator.deliver_inbound(a["id"], "old help, before the start")
    since = simulator._store.now()
    simulator.deliver_inbound(a["id"], "a-help: HELP please")
    simulator._store.store_outbound(a["id"], {"message_type": "text", "content": "help (our own outbound)"})
    simulator.deliver_inbound(b["id"], "b-help: I need help")
    simulator.deliver_inbound(a["id"], "a-thanks")
    simulator.deliver_inbound(c["id"], "other-config")

    events = _one_poll(_trigger(since=since, **filters), kapso_server)

    assert [event["message"]["content"].split(":")[0] for event in events] == expected
    # The simulator's own records say where each message is; strict answers do not.
    stored = {record["id"]: record for record in simulator.messages()}
    for event in events:
        assert json.loads(json.dumps(event)) == event
        message = stored[event["message"]["id"]]
        assert message["direction"] == "inbound"
        assert event["message_id"] == message["id"]
        assert event["conversation_id"] == message["whatsapp_conversation_id"]
        assert event["phone_number"] == message["phone_number"]
        assert event["whatsapp_config_id"] == message["whatsapp_config_id"]
    # Reads only, each valid against the file that defines its filters (q[phone_number_eq] is only there).
    requests = simulator.requests
    assert {r.method for r in requests} == {"GET"}
    lists = [r for r in requests if r.path == "/whatsapp_conversations"]
    for request in lists:
        assert request.query["q[last_active_at_gteq]"] >= since[:19]
        assert request.query.get("q[phone_number_eq]") == filters.get("phone_number")
        assert request.query.get("q[whatsapp_config_id_eq]") == filters.get("whatsapp_config_id")
        assert_valid_request("GET", request.path, request.query, None, files=("openapi-whatsapp.yaml",))
    for request in requests:
        if request.path.endswith("/whatsapp_messages"):
            assert_valid_request("GET", request.path, request.query, None)


def test_only_conversations_active_since_the_cursor_are_read(kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    quiet = simulator.create_conversation(phone_number=PHONE_B)
    simulator.deliver_inbound(quiet["id"], "long ago")
    since = simulator._store.now()
    busy = simulator.create_conversation(phone_number=PHONE_A)
    simulator.deliver_inbound(busy["id"], "now")

    events = _one_poll(_trigger(since=since), kapso_server)

    assert [event["message"]["content"] for event in events] == ["now"]
    read = {r.path for r in simulator.requests if r.path.endswith("/whatsapp_messages")}
    assert read == {f"/whatsapp_conversations/{busy['id']}/whatsapp_messages"}


def test_honours_a_429_through_the_hook(kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE_A)
    since = simulator._store.now()
    simulator.deliver_inbound(conversation["id"], "hello")
    simulator.add_fault("rate_limit", method="GET", path="/whatsapp_conversations$", retry_after=1)

    (event,) = _collect(_trigger(since=since), 1)

    assert event["message"]["content"] == "hello"
    first, second = simulator.requests[:2]
    # The first list met the 429 and was repeated after Retry-After.
    assert (first.path, second.path) == ("/whatsapp_conversations", "/whatsapp_conversations")
    assert second.received_at - first.received_at >= 1.0
    assert simulator.faults == []


def test_restart_neither_misses_nor_repeats(kapso_server: KapsoServer) -> None:
    """Messages before, during and after a restart, some sharing one timestamp, each yielded exactly once."""
    simulator = kapso_server.simulator
    a = simulator.create_conversation(phone_number=PHONE_A)
    b = simulator.create_conversation(phone_number=PHONE_B)
    store = DictStateStore()
    first = _trigger(text_pattern="^msg")  # since=None: starts when it first runs, saved in the store

    async def scenario() -> tuple[list[Any], list[Any]]:
        runner = Runner(first, store)
        runner.start()
        await _until(lambda: first.cursor_key in store.values and conversation_lists(kapso_server) >= 1, runner)
        # Before the restart: two messages with the same timestamp, in two conversations, and one that the
        # text pattern leaves out.
        m1 = simulator.deliver_inbound(a["id"], "msg 1")
        m2 = simulator.deliver_inbound(b["id"], "msg 2")
        set_created_at(kapso_server, m2["id"], m1["created_at"])
        simulator.deliver_inbound(a["id"], "not for us")
        await _until(lambda: len(runner.events) >= 2, runner)
        await runner.stop()  # the triggerer stops

        # During the restart: one more message at that very timestamp (seen late), and a new one.
        m3 = simulator.deliver_inbound(b["id"], "msg 3")
        set_created_at(kapso_server, m3["id"], m1["created_at"])
        simulator.deliver_inbound(a["id"], "msg 4")

        second = rebuilt(first)  # a new instance, from the serialized kwargs only
        lists_before = conversation_lists(kapso_server)
        rerun = Runner(second, store)
        rerun.start()
        await _until(lambda: len(rerun.events) >= 2, rerun)
        # After the restart: one more, once the new trigger has polled at least once.
        await _until(lambda: conversation_lists(kapso_server) > lists_before, rerun)
        simulator.deliver_inbound(b["id"], "msg 5")
        await _until(lambda: len(rerun.events) >= 3, rerun)
        # Two more polls with nothing new: nothing is yielded again.
        polled = conversation_lists(kapso_server)
        await _until(lambda: conversation_lists(kapso_server) >= polled + 2, rerun)
        await rerun.stop()
        return runner.events, rerun.events

    before, after = asyncio.run(scenario())

    assert sorted(event["message"]["content"] for event in before) == ["msg 1", "msg 2"]
    assert [event["message"]["content"] for event in after] == ["msg 3", "msg 4", "msg 5"]
    ids = [event["message_id"] for event in before + after]
    assert len(ids) == len(set(ids)) == 5
    cursor = InboundCursor.from_json(store.values[first.cursor_key])
    assert cursor is not None
    assert cursor.since == max(
        datetime.fromisoformat(m["created_at"].replace("Z", "+00:00")) for m in simulator.messages()
    )
    assert {r.method for r in simulator.requests} == {"GET"}


class SeveralAssetsStore(DictStateStore):
    """Airflow 3.3's accessors for a trigger shared by watchers of two assets: no single asset to use."""

    async def aget(self, key: str, default: Any = None) -> Any:
        raise ValueError("Task has 2 concrete inlets and outlets")

    async def aset(self, key: str, value: Any) -> None:
        raise ValueError("Task has 2 concrete inlets and outlets")


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> DictStateStore:
    """Airflow Variables as the trigger's :class:`VariableCursorStore` sees them, over a dict per test.

    Outside a triggerer no Variable backend answers on 3.x, while 2.11 would write to the session's DB and
    carry one test's cursor into the next. The real store is exercised in a real triggerer by
    ``test_kapso_inbound_triggerer.py``; here only the trigger's choice of store is under test.
    """
    fake = DictStateStore()
    monkeypatch.setattr(VariableCursorStore, "aget", lambda self, key, default=None: fake.aget(key, default))
    monkeypatch.setattr(VariableCursorStore, "aset", lambda self, key, value: fake.aset(key, value))
    return fake


@pytest.mark.parametrize("asset_store", [None, SeveralAssetsStore()], ids=["no state store", "several assets"])
def test_without_a_usable_state_store_the_cursor_goes_to_a_variable(
    kapso_server: KapsoServer, variables: DictStateStore, asset_store: DictStateStore | None
) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE_A)
    since = simulator._store.now()
    simulator.deliver_inbound(conversation["id"], "one")
    simulator.deliver_inbound(conversation["id"], "two")
    trigger = _trigger(since=since)

    events = _collect(trigger, 2, asset_store)

    assert [event["message"]["content"] for event in events] == ["one", "two"]
    cursor = InboundCursor.from_json(variables.values[trigger.cursor_key])
    assert cursor is not None
    assert set(cursor.seen) == {event["message_id"] for event in events}
    # The start, then once after each event.
    assert variables.writes == 3


def test_a_variable_store_that_cannot_be_reached_leaves_the_cursor_in_memory(
    kapso_server: KapsoServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[str] = []

    async def unreachable(self: VariableCursorStore, key: str, value: Any) -> None:
        calls.append(key)
        raise RuntimeError("no Variable backend here")

    monkeypatch.setattr(VariableCursorStore, "aset", unreachable)
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE_A)
    since = simulator._store.now()
    simulator.deliver_inbound(conversation["id"], "one")
    simulator.deliver_inbound(conversation["id"], "two")

    with caplog.at_level("WARNING"):
        events = _collect(_trigger(since=since), 2)

    assert [event["message"]["content"] for event in events] == ["one", "two"]
    assert len(calls) == 1, "after the first failed save the store is not tried again"
    # Airflow 2 logs through logging, the task SDK of 3.x through structlog to the console.
    assert "kept in memory only" in caplog.text + "".join(capsys.readouterr())


def test_without_a_state_store_a_rebuilt_trigger_starts_from_since(kapso_server: KapsoServer) -> None:
    # What a deferred sensor relies on: the same since gives the same messages after a restart.
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE_A)
    since = simulator._store.now()
    simulator.deliver_inbound(conversation["id"], "hello")
    trigger = _trigger(since=since, single_event=True)

    async def run(t: KapsoInboundMessageTrigger) -> list[Any]:
        return [event.payload async for event in t.run()]

    (event,) = asyncio.run(run(trigger))
    (again,) = asyncio.run(run(rebuilt(trigger)))
    assert event == again
    assert event["status"] == "found"
    assert [found["message"]["content"] for found in event["messages"]] == ["hello"]


def test_single_event_waits_for_a_match(kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE_A)
    since = simulator._store.now()
    simulator.deliver_inbound(conversation["id"], "something else")

    async def scenario() -> list[Any]:
        runner = Runner(_trigger(since=since, single_event=True, text_pattern="(?i)yes"), None)
        runner.start()
        await _until(lambda: conversation_lists(kapso_server) >= 2, runner)
        assert runner.events == []
        simulator.deliver_inbound(conversation["id"], "Yes please")
        simulator.deliver_inbound(conversation["id"], "YES!")
        assert runner.task is not None
        await asyncio.wait_for(runner.task, _GUARD_SECONDS)  # it ends by itself after its one event
        return runner.events

    (event,) = asyncio.run(scenario())
    assert event["status"] == "found"
    assert [found["message"]["content"] for found in event["messages"]] == ["Yes please", "YES!"]


def test_wrong_key(kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAPSO_DEFAULT",
        json.dumps({"conn_type": "kapso", "host": kapso_server.base_url, "password": "wrong-key"}),
    )

    async def run(t: KapsoInboundMessageTrigger) -> list[Any]:
        return [event.payload async for event in t.run()]

    # Deferred (single event): an error event the sensor turns into a task failure.
    (event,) = asyncio.run(run(_trigger(single_event=True)))
    assert event["status"] == "error"
    assert "HTTP 401" in event["error"]
    assert kapso_server.api_key not in event["error"]
    # Watching: a wrong key is not transient, so the trigger fails instead of polling forever.
    from kapso_provider.exceptions import KapsoAPIError

    with pytest.raises(KapsoAPIError, match="HTTP 401") as info:
        asyncio.run(run(_trigger()))
    assert kapso_server.api_key not in str(info.value)


def test_cursor_keeps_only_ids_within_the_lookback() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    cursor = InboundCursor.start(_iso(start))
    for second in range(10):
        cursor.advance({"id": f"m{second}", "created_at": _iso(start + timedelta(seconds=second))}, 2.0)
    assert sorted(cursor.seen) == ["m7", "m8", "m9"]
    assert cursor.is_new({"id": "late", "created_at": _iso(start + timedelta(seconds=7))}, 2.0)
    assert not cursor.is_new({"id": "m8", "created_at": _iso(start + timedelta(seconds=8))}, 2.0)
    assert not cursor.is_new({"id": "old", "created_at": _iso(start + timedelta(seconds=6))}, 2.0)
    assert InboundCursor.from_json(json.loads(json.dumps(cursor.to_json()))) == cursor
    assert InboundCursor.from_json({"since": "x"}) is None
    assert re.fullmatch(r"kapso_inbound_cursor_[0-9a-f]{16}", _trigger().cursor_key)


def _airflow_has_asset_watchers() -> bool:
    try:
        from airflow.sdk import AssetWatcher  # noqa: F401
    except ImportError:
        return False
    return True


def _example_watcher() -> tuple[str, str, dict[str, Any]]:
    """The example AssetWatcher's name, trigger classpath and kwargs, as the serialized DAG holds them."""
    from tests._airflow import get_dag

    try:
        from airflow.serialization.serialized_objects import DagSerialization  # Airflow >= 3.3
    except ImportError:
        from airflow.serialization.serialized_objects import (  # type: ignore[attr-defined,assignment]
            SerializedDAG as DagSerialization,
        )

    dag = get_dag("kapso_inbound_reply")
    serialized = DagSerialization.to_dict(dag)  # what the scheduler and the triggerer read

    def watchers(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, dict):
            found = list(node["watchers"]) if isinstance(node.get("watchers"), list) else []
            return found + [w for value in node.values() for w in watchers(value)]
        if isinstance(node, list):
            return [w for value in node for w in watchers(value)]
        return []

    (watcher,) = watchers(serialized)
    classpath, kwargs = watcher["trigger"]["classpath"], watcher["trigger"]["kwargs"]
    if isinstance(kwargs, dict) and "__type" in kwargs:  # Airflow 3.1 wraps the kwargs in its own encoding
        from airflow.serialization.serialized_objects import BaseSerialization

        kwargs = BaseSerialization.deserialize(kwargs)
    return watcher["name"], classpath, kwargs


def test_asset_watcher_example_dag(airflow_db: Any) -> None:
    """On Airflow 3 the example DAG is scheduled on a watched asset whose trigger serializes; not on 2.11."""
    from tests._airflow import _dag_bag, get_dag

    get_dag("kapso_inbound_wait_reply")  # parses the folder and fails on any import error
    if not _airflow_has_asset_watchers():
        # Airflow 2.11: the file imports cleanly and defines only the sensor DAG.
        assert "kapso_inbound_reply" not in _dag_bag().dag_ids
        return
    watcher_name, classpath, kwargs = _example_watcher()
    assert watcher_name == "kapso_inbound_support"
    assert classpath == "kapso_provider.triggers.kapso.KapsoInboundMessageTrigger"
    module, _, name = classpath.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**kwargs)  # as the triggerer rebuilds it
    assert isinstance(trigger, KapsoInboundMessageTrigger)
    assert trigger.serialize() == (classpath, kwargs)
    assert kwargs["text_pattern"] == r"(?i)\b(help|support|agent)\b"
    assert kwargs["since"] is None
    assert kwargs["single_event"] is False


@pytest.mark.usefixtures("kapso_api")
def test_asset_watcher_events_run_the_reply_dag(
    run_dag: Any, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trigger's real events, stored as Airflow stores a watcher's events, drive the example DAG.

    Covered for real: the trigger polling the simulator, Airflow's own ``AssetManager.register_asset_change``
    turning each payload into an asset event exactly as ``Trigger.submit_event`` does, and the DAG run
    reading them through ``triggering_asset_events`` and replying. Not covered here: the triggerer
    process itself and the scheduler queueing the run (the run is started by ``dag.test()``, with the
    events attached as the consumed events the scheduler would attach).
    """
    from tests._airflow import _dag_bag, get_dag, task_states, xcom_return_value

    if not _airflow_has_asset_watchers():
        get_dag("kapso_inbound_wait_reply")  # the file parsed without errors
        assert "kapso_inbound_reply" not in _dag_bag().dag_ids
        return
    from airflow.assets.manager import AssetManager
    from airflow.models import dagrun as dagrun_module
    from airflow.models.asset import AssetModel
    from sqlalchemy import select

    simulator = kapso_server.simulator
    a = simulator.create_conversation(phone_number=PHONE_A)
    b = simulator.create_conversation(phone_number=PHONE_B)
    since = simulator._store.now()
    simulator.deliver_inbound(a["id"], "help please")
    simulator.deliver_inbound(a["id"], "just saying hi")  # left out by the example's text pattern
    simulator.deliver_inbound(b["id"], "I need SUPPORT")
    simulator.deliver_inbound(a["id"], "agent?")
    # The example's own trigger, rebuilt from its serialized kwargs, only faster and starting before the messages.
    _, _, kwargs = _example_watcher()
    trigger = _trigger(**{**kwargs, "since": since, "poll_interval": 0.05})
    payloads = _collect(trigger, 3, DictStateStore())
    assert [p["text"] for p in payloads] == ["help please", "I need SUPPORT", "agent?"]

    original = dagrun_module.get_or_create_dagrun

    def with_asset_events(*, dag: Any, session: Any, **kwargs: Any) -> Any:
        dag_run = original(dag=dag, session=session, **kwargs)
        asset = session.scalar(select(AssetModel).where(AssetModel.name == "kapso_inbound_messages"))
        assert asset is not None, "dag.test() did not register the watched asset"
        for payload in payloads:
            event = AssetManager.register_asset_change(
                asset=asset, extra={"from_trigger": True, "payload": payload}, session=session
            )
            assert event is not None
            dag_run.consumed_asset_events.append(event)
        session.flush()
        return dag_run

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", with_asset_events)
    requests_before = len(simulator.requests)
    dag_run = run_dag("kapso_inbound_reply")

    assert str(dag_run.state) == "success", task_states(dag_run)
    # One reply per conversation, however many of its messages the run's events hold.
    assert xcom_return_value(dag_run, "conversations_to_answer") == [a["id"], b["id"]]
    posts = [r for r in simulator.requests[requests_before:] if r.method == "POST"]
    assert len(posts) == 2
    replied = [m for m in simulator.messages() if m["direction"] == "outbound"]
    assert sorted(m["whatsapp_conversation_id"] for m in replied) == sorted(c["id"] for c in (a, b))
