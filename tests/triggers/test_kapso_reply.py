"""KapsoReplyTrigger against the simulator: the answer, who may give it, timeouts, and triggerer restarts.

A restart is played as the triggerer does it: the running trigger is cancelled, and a new one is built
from ``serialize()`` after a round trip through JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.triggers.kapso import KapsoReplyTrigger
from kapso_provider.utils.replies import ReplySpec, digits, option_ids
from tests._openapi import assert_requests_valid, conversation_filters_file
from tests._triggers import rebuilt

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
OTHER = "+15557654321"
_GUARD_SECONDS = 60.0
IDS = option_ids("dag\x1frun\x1fask\x1f-1", 2)


def _spec(**overrides: Any) -> dict[str, Any]:
    spec = ReplySpec(
        option_ids=tuple(IDS),
        option_keys=("approve", "reject"),
        option_titles=("Approve", "Reject"),
        accept_text=False,
        allowed_numbers=(digits(PHONE),),
    ).to_json()
    spec.update(overrides)
    return spec


def _ask(kapso_server: KapsoServer) -> dict[str, Any]:
    """Send the question the trigger waits on, as the operator would."""
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE)
    from kapso_provider.hooks.kapso import KapsoHook

    hook = KapsoHook()
    try:
        record = hook.send_message(
            {
                "message_type": "interactive",
                "interactive_type": "button",
                "body_text": "Approve?",
                "buttons": [{"id": IDS[0], "title": "Approve"}, {"id": IDS[1], "title": "Reject"}],
            },
            conversation_id=conversation["id"],
        )
    finally:
        hook.close()
    # The current API's answer to a send names no conversation; the operator knows the one it sent into.
    return {**record, "whatsapp_conversation_id": conversation["id"]}


def _trigger(question: dict[str, Any], **kwargs: Any) -> KapsoReplyTrigger:
    arguments: dict[str, Any] = {
        "conversation_id": question["whatsapp_conversation_id"],
        "question_message_id": question["id"],
        "question_created_at": question["created_at"],
        "spec": _spec(),
        "poll_interval": 0.05,
        "lookback": 0.0,
        **kwargs,
    }
    return KapsoReplyTrigger(**arguments)


def _message_lists(kapso_server: KapsoServer) -> int:
    # API v1 lists a conversation's messages; the current API's Platform API lists them across conversations.
    return sum(
        1
        for r in kapso_server.simulator.requests
        if r.path.endswith(("/whatsapp_messages", "/whatsapp/messages")) and r.method == "GET"
    )


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _GUARD_SECONDS  # a guard against a hung test only
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.01)


def _first_event(trigger: KapsoReplyTrigger) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async for event in trigger.run():
            payload: dict[str, Any] = event.payload
            return payload
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(go(), _GUARD_SECONDS))


def _run_then_stop(trigger: KapsoReplyTrigger, until: Callable[[], bool]) -> list[dict[str, Any]]:
    """Run the trigger until ``until`` holds, then cancel it as a stopping triggerer does."""
    events: list[dict[str, Any]] = []

    async def go() -> None:
        async def consume() -> None:
            async for event in trigger.run():
                events.append(event.payload)

        task = asyncio.create_task(consume())
        await _until(lambda: until() or task.done())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(go())
    return events


def _assert_requests_valid(kapso_server: KapsoServer) -> None:
    assert_requests_valid(kapso_server.simulator.requests, files_for=conversation_filters_file)


class TestSerialization:
    def test_round_trip_through_json(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        trigger = _trigger(question, deadline=time.time() + 60, reminder_at=time.time() + 5, reminder_text="Hello?")
        classpath, kwargs = trigger.serialize()
        assert json.loads(json.dumps(kwargs)) == kwargs
        assert rebuilt(trigger).serialize() == (classpath, kwargs)
        assert kapso_server.api_key not in json.dumps(kwargs)

    @pytest.mark.parametrize(
        ("kwargs", "field_name"),
        [({"poll_interval": 0}, "poll_interval"), ({"question_created_at": "yesterday"}, "question_created_at")],
    )
    def test_bad_arguments_name_the_field(
        self, kapso_server: KapsoServer, kwargs: dict[str, Any], field_name: str
    ) -> None:
        question = _ask(kapso_server)
        with pytest.raises(ValueError, match=field_name):
            _trigger(question, **kwargs)


class TestAnswers:
    def test_the_tap_on_this_questions_button(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        simulator = kapso_server.simulator
        conversation_id = question["whatsapp_conversation_id"]
        simulator.deliver_inbound(conversation_id, "Reject?")  # a text, and accept_text is off
        simulator.deliver_inbound(
            conversation_id, reply_option_id="kapso-ask:0000000000000000:1", reply_option_title="Reject"
        )
        simulator.deliver_inbound(conversation_id, reply_option_id=IDS[1], reply_option_title="Reject")
        simulator.deliver_inbound(conversation_id, reply_option_id=IDS[0], reply_option_title="Approve")
        event = _first_event(_trigger(question))
        assert event["status"] == "answered"
        answer = event["answer"]
        assert (answer["option_id"], answer["option_title"], answer["answered_by"]) == ("reject", "Reject", PHONE)
        assert answer["message"]["message_type_data"] == {
            "interactive_type": "button",
            "reply_option_id": IDS[1],
            "reply_option_title": "Reject",
        }
        assert event["question"]["message_id"] == question["id"]
        assert {r.method for r in simulator.requests if r.path != "/whatsapp_conversations/" + conversation_id} == {
            "GET",
            "POST",
        }
        _assert_requests_valid(kapso_server)

    def test_a_typed_title_counts_when_accepted(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        kapso_server.simulator.deliver_inbound(question["whatsapp_conversation_id"], " APPROVE ")
        event = _first_event(_trigger(question, spec=_spec(accept_text=True)))
        assert event["answer"]["option_id"] == "approve"

    def test_messages_from_before_the_question_do_not_count(self, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation(phone_number=PHONE)
        simulator.deliver_inbound(conversation["id"], reply_option_id=IDS[0], reply_option_title="Approve")
        question = _ask(kapso_server)
        event = _first_event(_trigger(question, deadline=time.time() + 0.3))
        assert event["status"] == "timeout"

    def test_other_allowed_numbers_answer_from_their_own_conversation(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        simulator = kapso_server.simulator
        other = simulator.create_conversation(phone_number=OTHER)
        simulator.deliver_inbound(
            question["whatsapp_conversation_id"], reply_option_id=IDS[0], reply_option_title="Approve"
        )
        simulator.deliver_inbound(other["id"], reply_option_id=IDS[1], reply_option_title="Reject")
        trigger = _trigger(question, spec=_spec(allowed_numbers=[OTHER]), other_numbers=[OTHER])
        event = _first_event(trigger)
        assert (event["answer"]["option_id"], event["answer"]["answered_by"]) == ("reject", OTHER)
        _assert_requests_valid(kapso_server)

    def test_timeout(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        event = _first_event(_trigger(question, deadline=time.time() - 1))
        assert (event["status"], event["answer"]) == ("timeout", None)

    def test_an_api_error_ends_the_wait_with_its_text(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        event = _first_event(_trigger({**question, "whatsapp_conversation_id": "no-such-conversation"}))
        assert event["status"] == "error"
        assert "no-such-conversation" in event["error"]
        assert kapso_server.api_key not in event["error"]


# A restart, on API v1 and on the current API alike.
@pytest.mark.usefixtures("kapso_api")
class TestTriggererRestart:
    def test_an_answer_given_while_stopped_is_found_by_the_rebuilt_trigger(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        simulator = kapso_server.simulator
        conversation_id = question["whatsapp_conversation_id"]
        first = _trigger(question)
        assert _run_then_stop(first, lambda: _message_lists(kapso_server) >= 2) == []
        # While the triggerer is down: a stale tap, then the answer, then a later change of mind.
        simulator.deliver_inbound(
            conversation_id, reply_option_id=option_ids("older", 2)[0], reply_option_title="Approve"
        )
        simulator.deliver_inbound(conversation_id, reply_option_id=IDS[1], reply_option_title="Reject")
        simulator.deliver_inbound(conversation_id, reply_option_id=IDS[0], reply_option_title="Approve")
        event = _first_event(rebuilt(first))
        assert event["answer"]["option_id"] == "reject"
        # Rebuilt again (a restart after the event was handed over): the same first answer, not the later one.
        again = _first_event(rebuilt(first))
        assert again["answer"] == event["answer"]

    def test_the_reminder_is_not_sent_again_after_a_restart(self, kapso_server: KapsoServer) -> None:
        question = _ask(kapso_server)
        simulator = kapso_server.simulator
        reminder = "Please answer: approve or reject?"

        def reminders() -> int:
            return sum(1 for m in simulator.messages() if m["direction"] == "outbound" and m["content"] == reminder)

        first = _trigger(question, reminder_at=time.time() - 1, reminder_text=reminder)
        _run_then_stop(first, lambda: reminders() >= 1)
        lists_before = _message_lists(kapso_server)
        events: list[dict[str, Any]] = []

        async def go() -> None:
            async def consume() -> None:
                async for event in rebuilt(first).run():
                    events.append(event.payload)

            task = asyncio.create_task(consume())
            # Two reads by the rebuilt trigger, the reminder long due, before anyone answers.
            await _until(lambda: _message_lists(kapso_server) >= lists_before + 2 or task.done())
            simulator.deliver_inbound(
                question["whatsapp_conversation_id"], reply_option_id=IDS[0], reply_option_title="Approve"
            )
            await asyncio.wait_for(task, _GUARD_SECONDS)

        asyncio.run(go())
        assert [event["answer"]["option_id"] for event in events] == ["approve"]
        assert reminders() == 1
        _assert_requests_valid(kapso_server)
