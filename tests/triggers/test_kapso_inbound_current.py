"""KapsoInboundMessageTrigger and KapsoInboundMessageSensor on Kapso's current API, against the simulator.

One listing of the Platform API's inbound messages per poll (API v1 reads a conversation list and each
conversation's messages); the payload has the same keys on both generations; a restart neither misses nor
repeats a message, even with several messages in one second (Meta's timestamps have no fraction).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.sensors.kapso import KapsoInboundMessageSensor
from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger, VariableCursorStore
from tests._openapi import assert_current_requests_valid
from tests._triggers import PHONE_A, PHONE_B, DictStateStore, Runner, collect, iso, rebuilt, set_created_at, until

if TYPE_CHECKING:
    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer

#: The keys of every inbound payload, on both API generations.
PAYLOAD_KEYS = {
    "message",
    "message_id",
    "wamid",
    "conversation_id",
    "phone_number",
    "whatsapp_config_id",
    "phone_number_id",
    "text",
    "reply_id",
}


@pytest.fixture(autouse=True)
def variables(monkeypatch: pytest.MonkeyPatch) -> DictStateStore:
    """Airflow Variables over a dict per test (see ``test_kapso_inbound.py``)."""
    fake = DictStateStore()
    monkeypatch.setattr(VariableCursorStore, "aget", lambda self, key, default=None: fake.aget(key, default))
    monkeypatch.setattr(VariableCursorStore, "aset", lambda self, key, value: fake.aset(key, value))
    return fake


@pytest.fixture
def simulator(kapso_current_server: KapsoServer) -> KapsoSimulator:
    return kapso_current_server.simulator


def _polls(simulator: KapsoSimulator) -> int:
    """How many times the inbound messages were listed: one per poll on the current API."""
    return sum(1 for r in simulator.requests if r.api == "platform" and r.path == "/whatsapp/messages")


def _earlier(seconds: float) -> str:
    return iso(datetime.now(UTC) - timedelta(seconds=seconds))


def _trigger(**kwargs: Any) -> KapsoInboundMessageTrigger:
    return KapsoInboundMessageTrigger(**{"poll_interval": 0.05, **kwargs})


def _two_polls(trigger: KapsoInboundMessageTrigger, simulator: KapsoSimulator) -> list[Any]:
    async def go() -> list[Any]:
        runner = Runner(trigger, None)
        runner.start()
        await until(lambda: _polls(simulator) >= 2, runner)
        await runner.stop()
        return runner.events

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, ["a-help", "b-help", "a-tap", "other-number"]),
        ({"phone_number": PHONE_A}, ["a-help", "a-tap", "other-number"]),
        ({"text_pattern": r"(?i)\bhelp\b"}, ["a-help", "b-help"]),
        ({"phone_number_id": "OTHER"}, ["other-number"]),
    ],
)
def test_one_listing_per_poll_and_the_same_payload_keys(
    simulator: KapsoSimulator, filters: dict[str, Any], expected: list[str]
) -> None:
    other = simulator.add_whatsapp_config(name="Support", phone_number="+15559990000")
    if filters.get("phone_number_id") == "OTHER":
        filters = {**filters, "phone_number_id": other["phone_number_id"]}
    a = simulator.create_conversation(PHONE_A)
    b = simulator.create_conversation(PHONE_B)
    c = simulator.create_conversation(PHONE_A, other["id"])
    simulator.deliver_inbound(a["id"], "a-help: HELP please")
    simulator.deliver_inbound(b["id"], "b-help: I need help")
    simulator.deliver_inbound(a["id"], "a-tap", reply_option_id="kapso-ask:x:0", reply_option_title="a-tap")
    simulator.deliver_inbound(c["id"], "other-number")

    events = _two_polls(_trigger(since=_earlier(60), **filters), simulator)

    assert [event["text"].split(":")[0] for event in events] == expected
    for event in events:
        assert set(event) == PAYLOAD_KEYS
        assert event["message_id"] == event["wamid"] == event["message"]["id"]
        assert event["phone_number"] == event["message"]["phone_number"]
        assert event["whatsapp_config_id"] is None
        assert event["phone_number_id"] in (simulator.default_phone_number_id, other["phone_number_id"])
    replies = {event["text"]: event["reply_id"] for event in events}
    assert replies.get("a-tap", "kapso-ask:x:0") == "kapso-ask:x:0"
    assert {reply for text, reply in replies.items() if text != "a-tap"} <= {None}
    # Each poll is one request, of inbound messages only, and it only reads.
    assert {r.method for r in simulator.requests} == {"GET"}
    assert {r.path for r in simulator.requests} == {"/whatsapp/messages"}
    assert all(r.query["direction"] == "inbound" for r in simulator.requests)
    assert_current_requests_valid(simulator.requests)


def test_the_payload_keys_are_api_v1s_too(kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(PHONE_A)
    simulator.deliver_inbound(conversation["id"], "hello")
    (event,) = collect(_trigger(since=_earlier(60)), 1)
    assert set(event) == PAYLOAD_KEYS
    assert (event["text"], event["phone_number_id"], event["reply_id"]) == ("hello", None, None)
    assert event["whatsapp_config_id"] == simulator.default_whatsapp_config_id


def test_reading_stops_at_the_first_message_older_than_the_cursor(
    kapso_current_server: KapsoServer, simulator: KapsoSimulator
) -> None:
    conversation = simulator.create_conversation(PHONE_A)
    long_ago = _earlier(30)
    for index in range(150):
        old = simulator.deliver_inbound(conversation["id"], f"old {index}")
        set_created_at(kapso_current_server, old["id"], long_ago)
    since = _earlier(10)
    simulator.deliver_inbound(conversation["id"], "new")

    events = _two_polls(_trigger(since=since), simulator)

    # 151 messages stored, newest first: the first page of 100 holds "new" and then an older one, which ends
    # the reading: no poll asks for a second page.
    assert [event["text"] for event in events] == ["new"]
    assert all("after" not in r.query for r in simulator.requests)


def test_restart_neither_misses_nor_repeats(simulator: KapsoSimulator) -> None:
    """Messages before, during and after a restart, most of them in the same second, each yielded once."""
    a = simulator.create_conversation(PHONE_A)
    b = simulator.create_conversation(PHONE_B)
    store = DictStateStore()
    first = _trigger(text_pattern="^msg", since=_earlier(1))

    async def scenario() -> tuple[list[Any], list[Any]]:
        runner = Runner(first, store)
        runner.start()
        await until(lambda: first.cursor_key in store.values and _polls(simulator) >= 1, runner)
        simulator.deliver_inbound(a["id"], "msg 1")
        simulator.deliver_inbound(b["id"], "msg 2")
        simulator.deliver_inbound(a["id"], "not for us")
        await until(lambda: len(runner.events) >= 2, runner)
        await runner.stop()

        simulator.deliver_inbound(b["id"], "msg 3")
        simulator.deliver_inbound(a["id"], "msg 4")
        second = rebuilt(first)
        polled = _polls(simulator)
        rerun = Runner(second, store)
        rerun.start()
        await until(lambda: len(rerun.events) >= 2, rerun)
        await until(lambda: _polls(simulator) > polled, rerun)
        simulator.deliver_inbound(b["id"], "msg 5")
        await until(lambda: len(rerun.events) >= 3, rerun)
        polled = _polls(simulator)
        await until(lambda: _polls(simulator) >= polled + 2, rerun)
        await rerun.stop()
        return runner.events, rerun.events

    before, after = asyncio.run(scenario())

    assert sorted(event["text"] for event in before) == ["msg 1", "msg 2"]
    assert [event["text"] for event in after] == ["msg 3", "msg 4", "msg 5"]
    ids = [event["message_id"] for event in before + after]
    assert len(ids) == len(set(ids)) == 5
    assert_current_requests_valid(simulator.requests)


def test_the_sensor_returns_the_messages_since_the_start(simulator: KapsoSimulator) -> None:
    conversation = simulator.create_conversation(PHONE_A)
    since = _earlier(60)
    sensor = KapsoInboundMessageSensor(task_id="wait", since=since, text_pattern="(?i)yes")
    try:
        assert sensor.poke({}).is_done is False
        simulator.deliver_inbound(conversation["id"], "Yes please")
        found = sensor.poke({})
    finally:
        sensor.close_hook()
    assert found.is_done is True
    assert isinstance(found.xcom_value, list)
    (payload,) = found.xcom_value
    assert set(payload) == PAYLOAD_KEYS
    assert (payload["text"], payload["conversation_id"]) == ("Yes please", conversation["id"])
    assert_current_requests_valid(simulator.requests)


def test_a_number_that_native_rendering_made_an_int_still_filters(simulator: KapsoSimulator) -> None:
    """Airflow 2.11's ``render_template_as_native_obj`` turns ``"+15551234567"`` into ``15551234567``."""
    for phone in (PHONE_A, PHONE_B):
        simulator.deliver_inbound(simulator.create_conversation(phone)["id"], f"from {phone}")
    sensor = KapsoInboundMessageSensor(task_id="wait", since=_earlier(60), phone_number=PHONE_A)
    sensor.phone_number = int(PHONE_A)  # type: ignore[assignment]  # what the render hands over
    try:
        found = sensor.poke({})
    finally:
        sensor.close_hook()
    assert isinstance(found.xcom_value, list)
    assert [payload["text"] for payload in found.xcom_value] == [f"from {PHONE_A}"]
    assert_current_requests_valid(simulator.requests)


def test_api_v1_filters_are_refused_on_the_current_api(simulator: KapsoSimulator) -> None:
    (event,) = collect(_trigger(since=_earlier(60), whatsapp_config_id="cfg", single_event=True), 1)
    assert event["status"] == "error"
    assert "whatsapp_config_id: only Kapso's API v1 takes it" in event["error"]
    assert simulator.requests == []
