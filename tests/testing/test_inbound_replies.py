"""The simulator playing the person who answers: interactive replies, delayed delivery, armed replies."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
import requests

from tests.testing._support import PHONE

if TYPE_CHECKING:
    from kapso_provider.testing import KapsoSimulator

_GUARD_SECONDS = 30.0
QUESTION = {
    "message": {
        "message_type": "interactive",
        "interactive_type": "button",
        "content": "Deploy?",
        "body_text": "Deploy?",
        "buttons": [{"id": "yes-1", "title": "Deploy"}, {"id": "no-1", "title": "Cancel"}],
    }
}


def _until(condition: Any) -> None:
    deadline = time.monotonic() + _GUARD_SECONDS  # a guard against a hung test only
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.01)


def _send(sim: KapsoSimulator, conversation_id: str) -> dict[str, Any]:
    response = requests.post(
        f"{sim.base_url}/whatsapp_conversations/{conversation_id}/whatsapp_messages",
        json=QUESTION,
        headers={"X-API-Key": sim.api_key},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


def _inbound(sim: KapsoSimulator) -> list[dict[str, Any]]:
    return [m for m in sim.messages() if m["direction"] == "inbound"]


def test_a_tap_is_an_interactive_message_with_the_option(sim: KapsoSimulator) -> None:
    conversation = sim.create_conversation(phone_number=PHONE)
    record = sim.deliver_inbound(conversation["id"], reply_option_id="yes-1", reply_option_title="Deploy")
    assert (record["message_type"], record["content"], record["direction"]) == ("interactive", "Deploy", "inbound")
    assert record["message_type_data"] == {
        "interactive_type": "button",
        "reply_option_id": "yes-1",
        "reply_option_title": "Deploy",
    }


def test_delivery_after_a_delay(sim: KapsoSimulator) -> None:
    conversation = sim.create_conversation(phone_number=PHONE)
    scheduled = sim.deliver_inbound(conversation["id"], "later", delay=0.05)
    assert scheduled == {"scheduled": True, "conversation_id": conversation["id"], "delay": 0.05}
    _until(lambda: len(_inbound(sim)) == 1)
    assert _inbound(sim)[0]["content"] == "later"
    with pytest.raises(Exception, match="no-such"):
        sim.deliver_inbound("no-such", "x", delay=1)


def test_an_armed_reply_answers_the_next_question(sim: KapsoSimulator) -> None:
    conversation = sim.create_conversation(phone_number=PHONE)
    armed = sim.reply_to_question("cancel", phone_number=PHONE)
    assert armed["state"] == "armed"
    assert _inbound(sim) == []
    question = _send(sim, conversation["id"])
    (reply,) = _inbound(sim)
    assert reply["message_type_data"]["reply_option_id"] == "no-1"
    assert reply["created_at"] >= question["created_at"]
    assert sim.armed_replies()[0]["state"] == "delivered"


def test_an_armed_reply_can_wait_for_reads(sim: KapsoSimulator) -> None:
    conversation = sim.create_conversation(phone_number=PHONE)
    sim.reply_to_question(1, conversation_id=conversation["id"], after_reads=2)
    _send(sim, conversation["id"])
    url = f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages"

    def inbound_listed() -> list[dict[str, Any]]:
        data = requests.get(url, headers={"X-API-Key": sim.api_key}, timeout=10).json()["data"]
        return [m for m in data if m["direction"] == "inbound"]

    assert inbound_listed() == []
    (reply,) = inbound_listed()  # delivered before the second read is answered
    assert reply["message_type_data"]["reply_option_title"] == "Cancel"


def test_control_endpoint_arms_a_reply(sim: KapsoSimulator) -> None:
    conversation = sim.create_conversation(phone_number=PHONE)
    response = requests.post(f"{sim.control_url}/replies", json={"phone_number": PHONE, "text": "yes"}, timeout=10)
    assert response.status_code == 201, response.text
    _send(sim, conversation["id"])
    assert [m["content"] for m in _inbound(sim)] == ["yes"]
    listed = requests.get(f"{sim.control_url}/replies", timeout=10).json()["data"]
    assert listed[0]["state"] == "delivered"
    bad = requests.post(f"{sim.control_url}/replies", json={"phone_number": PHONE}, timeout=10)
    assert bad.status_code == 400
    assert "exactly one of choose, text or reply_option_id" in bad.text


def test_an_unknown_choice_is_reported(sim: KapsoSimulator) -> None:
    conversation = sim.create_conversation(phone_number=PHONE)
    sim.reply_to_question("Maybe", conversation_id=conversation["id"])
    _send(sim, conversation["id"])
    (armed,) = sim.armed_replies()
    assert armed["state"] == "failed"
    assert "choose: 'Maybe' is none of the question's options" in armed["error"]
    assert _inbound(sim) == []
