"""Sending and reading messages on Kapso's current API through the hooks, against the simulator.

Every kind goes through the proxy's ``POST /{phone_number_id}/messages`` and comes back as the one message
record; a send whose answer was lost is found on the Platform API instead of being sent twice; the proxy's
in-flight 409 is waited out; 402 and 422 fail at once with WhatsApp's or Kapso's code. Every request a test
sends is checked against the current OpenAPI files when it ends.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.api.current.records import RECORD_FIELDS
from kapso_provider.arguments import parse_time
from kapso_provider.exceptions import (
    KapsoAPIError,
    KapsoArgumentError,
    KapsoNotFoundError,
    KapsoUnsupportedError,
    KapsoValidationError,
)
from kapso_provider.hooks.kapso import KapsoAsyncHook, KapsoHook, RetryPolicy
from kapso_provider.utils.message_status import failure_details
from kapso_provider.utils.replies import reply_option_id
from tests._openapi import assert_current_requests_valid
from tests.api.current._cases import CASES

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
QUICK = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, max_retry_after=2)


@pytest.fixture(autouse=True)
def _requests_are_valid(kapso_current_server: KapsoServer) -> Iterator[None]:
    yield
    assert_current_requests_valid(kapso_current_server.simulator.requests, at_least=0)


@pytest.fixture
def patient(kapso_current_server: KapsoServer) -> Iterator[KapsoHook]:
    """A hook that retries, with short waits."""
    hook = KapsoHook(retry_policy=QUICK)
    yield hook
    hook.close()


def sends(simulator: KapsoSimulator) -> list[Any]:
    return [r for r in simulator.requests if r.method == "POST" and r.full_path.endswith(("/messages", "_messages"))]


def stored(simulator: KapsoSimulator) -> list[dict[str, Any]]:
    return [message for message in simulator.messages() if message.get("direction") == "outbound"]


@pytest.mark.parametrize("kind", sorted(CASES))
def test_every_kind_is_sent_and_read_back_as_one_record(kind: str, hook: KapsoHook, simulator: KapsoSimulator) -> None:
    fields, expected = CASES[kind]
    record = hook.send_message(fields, phone_number=PHONE)
    (request,) = sends(simulator)
    assert request.full_path == f"/meta/whatsapp/v24.0/{simulator.default_phone_number_id}/messages"
    assert request.json == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "15551234567",
        **expected,
    }
    assert set(RECORD_FIELDS) <= set(record)
    assert record["id"] == record["whatsapp_message_id"]
    assert record["id"].startswith("wamid.")
    assert (record["phone_number"], record["direction"], record["status"]) == (PHONE, "outbound", "pending")
    assert record["message_type"] == expected["type"]
    # Dated on Kapso's clock when the send began, at or before the message's own time.
    assert parse_time(record["created_at"]) is not None
    read = hook.get_message("", record["id"])
    assert (read["id"], read["message_type"], read["direction"]) == (record["id"], expected["type"], "outbound")
    assert read["whatsapp"][expected["type"]] == expected[expected["type"]]
    assert read["created_at"] is not None


def test_a_marketing_template_goes_to_the_marketing_endpoint(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    template = {
        "message_type": "template",
        "template_name": "spring_sale",
        "template_language": "en",
        "marketing": True,
    }
    record = hook.send_message(template, phone_number=PHONE)
    (request,) = sends(simulator)
    assert request.full_path.endswith("/marketing_messages")
    assert "marketing" not in str(request.json)
    assert record["message_type"] == "template"


def test_a_conversation_is_sent_to_from_its_own_number(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    inbound = simulator.deliver_inbound_from(PHONE, "hello")
    conversation_id = inbound["whatsapp_conversation_id"]
    record = hook.send_message({"content": "hi back"}, conversation_id=conversation_id)
    (request,) = sends(simulator)
    assert request.json["to"] == "15551234567"
    assert record["phone_number"] == PHONE
    assert hook.get_message(conversation_id, record["id"])["whatsapp_conversation_id"] == conversation_id


def test_reply_context_and_callback_data_are_sent(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    inbound = simulator.deliver_inbound_from(PHONE, "hello")
    hook.send_message(
        {"content": "answering"},
        phone_number=PHONE,
        reply_to_message_id=inbound["whatsapp_message_id"],
        biz_opaque_callback_data="order-7",
    )
    (request,) = sends(simulator)
    assert request.json["context"] == {"message_id": inbound["whatsapp_message_id"]}
    assert request.json["biz_opaque_callback_data"] == "order-7"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(
            {"whatsapp_config_id": "0b9e1c6a-8a5f-4c1e-9a43-2f7e6c1d9b10"},
            "whatsapp_config_id: only Kapso's API v1 takes it",
            id="config",
        ),
        pytest.param({"customer_id": "c-1"}, "customer_id: only Kapso's API v1 takes it", id="customer"),
    ],
)
def test_v1_arguments_are_refused_before_any_request(
    hook: KapsoHook, simulator: KapsoSimulator, arguments: dict[str, str], expected: str
) -> None:
    with pytest.raises(KapsoUnsupportedError, match=expected):
        hook.send_message({"content": "hi"}, phone_number=PHONE, **arguments)
    assert simulator.requests == []


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param(
            {"biz_opaque_callback_data": "x" * 513}, "biz_opaque_callback_data: 513, limit 512", id="callback"
        ),
        pytest.param({"phone_number": "555-1234"}, "phone_number: '555-1234' has no '+'", id="local-number"),
    ],
)
def test_bad_arguments_are_refused_before_any_request(
    hook: KapsoHook, simulator: KapsoSimulator, arguments: dict[str, str], expected: str
) -> None:
    with pytest.raises(KapsoArgumentError, match=re.escape(expected)):
        hook.send_message({"content": "hi"}, **{"phone_number": PHONE, **arguments})
    assert simulator.requests == []


def test_a_message_in_flight_is_waited_out(patient: KapsoHook, simulator: KapsoSimulator) -> None:
    simulator.add_fault("in_flight", api="meta", method="POST", count=2)
    record = patient.send_message({"content": "queued"}, phone_number=PHONE)
    assert len(sends(simulator)) == 3
    assert [message["whatsapp_message_id"] for message in stored(simulator)] == [record["id"]]
    # Nothing of this send could be stored while every attempt was refused: nothing was read back.
    assert not [r for r in simulator.requests if r.api == "platform"]


def test_a_409_that_is_not_in_flight_fails_at_once(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    simulator.add_fault("server_error_before_store", api="meta", method="POST", status=409)
    with pytest.raises(KapsoAPIError) as caught:
        KapsoHook(retry_policy=QUICK).send_message({"content": "hi"}, phone_number=PHONE)
    assert caught.value.status == 409
    assert len(sends(simulator)) == 1


def test_credits_fail_at_once_with_the_code(patient: KapsoHook, simulator: KapsoSimulator) -> None:
    simulator.credits_exhausted = True
    template = {"message_type": "template", "template_name": "order_update", "template_language": "en"}
    with pytest.raises(KapsoAPIError) as caught:
        patient.send_message(template, phone_number=PHONE)
    assert caught.value.status == 402
    assert "(code insufficient_credits)" in caught.value.error_text
    assert len(sends(simulator)) == 1


def test_outside_the_window_fails_at_once_with_whatsapps_code(patient: KapsoHook, simulator: KapsoSimulator) -> None:
    simulator.service_window = True
    with pytest.raises(KapsoValidationError) as caught:
        patient.send_message({"content": "hi"}, phone_number=PHONE)
    assert caught.value.status == 422
    assert "WhatsApp error code 131047" in caught.value.error_text
    assert len(sends(simulator)) == 1


def test_a_stopped_contact_fails_at_once(patient: KapsoHook, simulator: KapsoSimulator) -> None:
    simulator.stop_marketing(PHONE)
    template = {
        "message_type": "template",
        "template_name": "spring_sale",
        "template_language": "en",
        "marketing": True,
    }
    with pytest.raises(KapsoValidationError, match=r"\(code marketing_preference_stopped\)"):
        patient.send_message(template, phone_number=PHONE)
    assert len(sends(simulator)) == 1


@pytest.mark.parametrize("fault", ["drop_after_store", "server_error_after_store", "malformed_json"])
def test_a_lost_answer_is_found_on_the_platform_api_not_sent_again(
    patient: KapsoHook, simulator: KapsoSimulator, fault: str
) -> None:
    simulator.add_fault(fault, api="meta", method="POST")
    record = patient.send_message({"content": "exactly once"}, phone_number=PHONE)
    assert len(sends(simulator)) == 1
    (message,) = stored(simulator)
    assert record["id"] == message["whatsapp_message_id"]
    assert record["status"] in ("pending", "sent")
    listed = [r for r in simulator.requests if r.api == "platform"]
    assert listed
    assert listed[0].query["direction"] == "outbound"
    assert listed[0].query["phone_number"] == "15551234567"


@pytest.mark.parametrize("fault", ["drop_before_store", "server_error_before_store"])
def test_a_send_that_was_not_stored_goes_again(patient: KapsoHook, simulator: KapsoSimulator, fault: str) -> None:
    simulator.add_fault(fault, api="meta", method="POST")
    record = patient.send_message({"content": "exactly once"}, phone_number=PHONE)
    assert len(sends(simulator)) == 2
    assert [message["whatsapp_message_id"] for message in stored(simulator)] == [record["id"]]


def test_in_flight_after_a_lost_answer_reads_back_before_sending_again(
    patient: KapsoHook, simulator: KapsoSimulator
) -> None:
    simulator.add_fault("drop_before_store", api="meta", method="POST")
    simulator.add_fault("in_flight", api="meta", method="POST")
    record = patient.send_message({"content": "careful"}, phone_number=PHONE)
    assert len(sends(simulator)) == 3
    assert [message["whatsapp_message_id"] for message in stored(simulator)] == [record["id"]]
    # Read back after the lost answer, and again after the 409: the send in flight might have been it.
    assert len([r for r in simulator.requests if r.api == "platform"]) == 2


def test_the_same_text_to_another_number_or_of_another_kind_is_not_taken(
    patient: KapsoHook, simulator: KapsoSimulator
) -> None:
    patient.send_message({"content": "same"}, phone_number="+155512345670")  # contains the digits of PHONE
    patient.send_message({"message_type": "image", "media_id": "1", "caption": "same"}, phone_number=PHONE)
    simulator.add_fault("drop_before_store", api="meta", method="POST")
    patient.send_message({"content": "same"}, phone_number=PHONE)
    assert (
        len([m for m in stored(simulator) if m.get("phone_number") == PHONE and m.get("message_type") == "text"]) == 1
    )


def test_a_task_retry_finds_the_earlier_tries_message(patient: KapsoHook, kapso_current_server: KapsoServer) -> None:
    since = datetime.now(UTC)
    record = patient.send_message({"content": "worker died after this"}, phone_number=PHONE)
    retry = KapsoHook(retry_policy=QUICK)
    found = retry.find_sent_message({"content": "worker died after this"}, since=since, phone_number=PHONE)
    assert found is not None
    assert found["id"] == record["id"]
    assert found["whatsapp_conversation_id"] is not None
    assert retry.find_sent_message({"content": "another text"}, since=since, phone_number=PHONE) is None
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert KapsoHook().find_sent_message({"content": "worker died after this"}, since=later, phone_number=PHONE) is None


def test_a_failed_message_carries_whatsapps_code_and_title(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    record = hook.send_message({"content": "doomed"}, phone_number=PHONE)
    simulator.set_message_status(record["id"], "failed", error_code=131026, error_message="Message undeliverable")
    read = hook.get_message("", record["id"])
    assert read["status"] == "failed"
    assert failure_details(read) == ("131026", "Message undeliverable")
    (request,) = [r for r in simulator.requests if r.method == "GET"]
    assert request.full_path.startswith("/platform/v1/whatsapp/messages/wamid.")


def test_a_message_of_another_conversation_is_not_found(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    record = hook.send_message({"content": "hi"}, phone_number=PHONE)
    with pytest.raises(KapsoNotFoundError, match="not '0b9e1c6a-8a5f-4c1e-9a43-2f7e6c1d9b10'"):
        hook.get_message("0b9e1c6a-8a5f-4c1e-9a43-2f7e6c1d9b10", record["id"])


def test_locate_message_finds_its_conversation(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    record = hook.send_message({"content": "hi"}, phone_number=PHONE)
    located = hook.locate_message(record["id"], phone_number=PHONE)
    assert located["message"]["id"] == record["id"]
    assert located["conversation"]["id"] == located["message"]["whatsapp_conversation_id"]
    with pytest.raises(KapsoNotFoundError):
        hook.locate_message(record["id"], phone_number="+15550009999")


def test_list_messages_reads_a_conversation_and_its_replies(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    sent = hook.send_message(
        {"message_type": "interactive", "body_text": "Pick", "buttons": [{"id": "opt-a", "title": "A"}]},
        phone_number=PHONE,
    )
    conversation_id = hook.get_message("", sent["id"])["whatsapp_conversation_id"]
    simulator.deliver_inbound_from(PHONE, "A", reply_option_id="opt-a")
    records = list(hook.list_messages(conversation_id))
    assert {record["direction"] for record in records} == {"inbound", "outbound"}
    (reply,) = [record for record in records if record["direction"] == "inbound"]
    assert reply_option_id(reply) == "opt-a"
    assert reply["phone_number"] == PHONE


def test_list_conversations_matches_the_number_exactly(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    simulator.deliver_inbound_from(PHONE, "one")
    simulator.deliver_inbound_from("+155512345670", "two")
    listed = list(hook.list_conversations(phone_number=PHONE))
    # The Platform API lists the digits; the record gives the number in international format, as v1 does.
    assert [conversation["phone_number"] for conversation in listed] == [PHONE]
    with pytest.raises(KapsoUnsupportedError, match="whatsapp_config_id"):
        list(hook.list_conversations(whatsapp_config_id="x"))


@pytest.mark.parametrize(("typing_indicator", "shown"), [(None, True), (True, True), (False, False)])
def test_mark_as_read_with_the_typing_indicator(
    hook: KapsoHook, simulator: KapsoSimulator, typing_indicator: bool | None, shown: bool
) -> None:
    inbound = simulator.deliver_inbound_from(PHONE, "hello")
    hook.mark_message_as_read(inbound["whatsapp_message_id"], typing_indicator=typing_indicator)
    (request,) = sends(simulator)
    assert request.json["status"] == "read"
    assert request.json["message_id"] == inbound["whatsapp_message_id"]
    assert ("typing_indicator" in request.json) is shown


def test_the_async_hook_sends_and_reads_alike(kapso_current_server: KapsoServer) -> None:
    async def run() -> tuple[dict[str, Any], dict[str, Any]]:
        hook = KapsoAsyncHook()
        try:
            record = await hook.send_message({"message_type": "sticker", "media_id": "9"}, phone_number=PHONE)
            return record, await hook.get_message("", record["id"])
        finally:
            await hook.aclose()

    record, read = asyncio.run(run())
    assert record["message_type"] == read["message_type"] == "sticker"
    assert read["id"] == record["id"]
