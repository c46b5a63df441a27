"""KapsoMessageStatusTrigger against the simulator: its one event, its serialized form, 429s, no sends."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.triggers.kapso import KapsoMessageStatusTrigger
from tests._modes import IN_BOTH_MODES
from tests._triggers import rebuilt

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"


def _sent_message(kapso_server: KapsoServer) -> dict[str, Any]:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE)
    return simulator._store.store_outbound(conversation["id"], {"message_type": "text", "content": "hi"})


def _trigger(record: dict[str, Any], **kwargs: Any) -> KapsoMessageStatusTrigger:
    arguments: dict[str, Any] = {
        "message_id": record["id"],
        "conversation_id": record["whatsapp_conversation_id"],
        "poll_interval": 0.05,
        **kwargs,
    }
    return KapsoMessageStatusTrigger(**arguments)


def _events(trigger: KapsoMessageStatusTrigger) -> list[dict[str, Any]]:
    """Every event the trigger yields (it must yield exactly one), as the triggerer would see them."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


class TestSerialize:
    @pytest.mark.parametrize("deadline", [None, 1_900_000_000.5])
    def test_round_trip_through_json(self, deadline: float | None) -> None:
        trigger = KapsoMessageStatusTrigger(
            message_id="wamid.abc",
            conversation_id="c-1",
            target_status="read",
            kapso_conn_id="kapso_other",
            poll_interval=15,
            deadline=deadline,
            last_status="delivered",
        )
        classpath, kwargs = trigger.serialize()
        assert classpath == "kapso_provider.triggers.kapso.KapsoMessageStatusTrigger"
        assert json.loads(json.dumps(kwargs)) == kwargs
        assert all(value is None or isinstance(value, str | int | float) for value in kwargs.values())
        assert rebuilt(trigger).serialize() == (classpath, kwargs)
        assert kwargs == {
            "message_id": "wamid.abc",
            "conversation_id": "c-1",
            "target_status": "read",
            "kapso_conn_id": "kapso_other",
            "poll_interval": 15.0,
            "deadline": deadline,
            "last_status": "delivered",
        }

    def test_kwargs_never_hold_the_api_key(self, kapso_server: KapsoServer) -> None:
        _, kwargs = _trigger(_sent_message(kapso_server)).serialize()
        assert kapso_server.api_key not in json.dumps(kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "field_name"),
        [({"target_status": "sent"}, "target_status"), ({"poll_interval": 0}, "poll_interval")],
    )
    def test_bad_arguments_name_the_field(self, kwargs: dict[str, Any], field_name: str) -> None:
        with pytest.raises(KapsoArgumentError, match=f"^{field_name}:"):
            KapsoMessageStatusTrigger(message_id="m", conversation_id="c", **kwargs)


@pytest.mark.parametrize(
    ("target", "sequence", "expected", "last_status"),
    [
        ("delivered", ["sent", "sent", "delivered"], "reached", "delivered"),
        ("delivered", ["sent", "read"], "reached", "read"),  # read satisfies delivered
        ("read", ["sent", "delivered", "read"], "reached", "read"),
        ("read", ["sent", "delivered", "failed"], "failed", "failed"),
        ("delivered", ["failed"], "failed", "failed"),
    ],
)
@IN_BOTH_MODES
def test_polls_until_the_outcome(
    target: str, sequence: list[str], expected: str, last_status: str, kapso_server: KapsoServer
) -> None:
    simulator = kapso_server.simulator
    simulator.status_sequence = sequence
    simulator.delivery_error_code = 131026
    simulator.delivery_error_message = "Message undeliverable"
    record = _sent_message(kapso_server)

    (event,) = _events(rebuilt(_trigger(record, target_status=target)))

    assert event["status"] == expected
    assert event["last_status"] == last_status
    assert event["message"]["id"] == record["id"]
    assert event["message"]["status"] == last_status
    assert event["error"] is None
    assert (event["message_id"], event["conversation_id"]) == (record["id"], record["whatsapp_conversation_id"])
    if expected == "failed":
        assert event["message"]["metadata"]["error_code"] == 131026
    # One read per step of the sequence until the outcome, and only reads: a trigger never sends.
    assert [r.method for r in simulator.requests] == ["GET"] * min(len(sequence), sequence.index(last_status) + 1)
    assert json.loads(json.dumps(event)) == event


def test_finds_the_message_by_wamid(kapso_server: KapsoServer) -> None:
    record = _sent_message(kapso_server)
    kapso_server.simulator.set_message_status(record["id"], "delivered")
    (event,) = _events(_trigger(record, message_id=record["whatsapp_message_id"]))
    assert event["status"] == "reached"
    assert event["message"]["id"] == record["id"]


@pytest.mark.parametrize("last_status", [None, "sent"])
def test_timeout_reports_the_last_status(last_status: str | None, kapso_server: KapsoServer) -> None:
    record = _sent_message(kapso_server)  # stays "sent": no sequence, no delay
    (event,) = _events(_trigger(record, deadline=time.time() + 0.3, last_status=last_status))
    assert event["status"] == "timeout"
    assert event["last_status"] == "sent"
    assert event["message"]["status"] == "sent"
    assert {r.method for r in kapso_server.simulator.requests} == {"GET"}


def test_deadline_in_the_past_still_reads_once(kapso_server: KapsoServer) -> None:
    record = _sent_message(kapso_server)
    kapso_server.simulator.set_message_status(record["id"], "delivered")
    # A late start (the triggerer was busy) must not turn a delivered message into a timeout.
    (event,) = _events(_trigger(record, deadline=time.time() - 10))
    assert event["status"] == "reached"


def test_honours_a_429_through_the_hook(kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    record = _sent_message(kapso_server)
    simulator.set_message_status(record["id"], "delivered")
    simulator.add_fault("rate_limit", method="GET", retry_after=1)

    (event,) = _events(_trigger(record))

    assert event["status"] == "reached"
    # The first read met the 429 and was repeated after Retry-After: two GETs, nothing else.
    assert [(r.method, r.path) for r in simulator.requests] == [
        ("GET", f"/whatsapp_conversations/{record['whatsapp_conversation_id']}/whatsapp_messages")
    ] * 2
    assert simulator.faults == []


@pytest.mark.parametrize(
    ("arrange", "error_text"),
    [
        ("unknown_conversation", "Conversation not found"),
        ("unknown_message", "is not in conversation"),
        ("wrong_key", "HTTP 401"),
    ],
)
def test_errors_become_an_error_event(
    arrange: str, error_text: str, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _sent_message(kapso_server)
    if arrange == "unknown_conversation":
        record = {**record, "whatsapp_conversation_id": "no-such-conversation"}
    elif arrange == "unknown_message":
        record = {**record, "id": "no-such-message"}
    else:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": kapso_server.base_url, "password": "wrong-key"}),
        )
    (event,) = _events(_trigger(record))
    assert event["status"] == "error"
    assert error_text in event["error"]
    assert event["message"] is None
    assert kapso_server.api_key not in event["error"]
    assert {r.method for r in kapso_server.simulator.requests} == {"GET"}
