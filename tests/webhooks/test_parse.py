"""Reading a signed body: batches, malformed bodies, and event names the unsigned headers cannot change."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from kapso_provider.webhooks import KapsoWebhookPayloadError, KapsoWebhookVerifier, parse_events
from tests._webhooks import SECRET, body_of, signed_headers

# Payload version 2 bodies name no event of their own (Kapso's documented message and conversation events).
INBOUND = {
    "message": {"id": "wamid.1", "type": "text", "text": {"body": "hi"}, "kapso": {"direction": "inbound"}},
    "conversation": {"id": "conv-1", "status": "active"},
    "phone_number_id": "123",
}
DELIVERED = {
    "message": {"id": "wamid.2", "type": "text", "kapso": {"direction": "outbound", "status": "delivered"}},
    "conversation": {"id": "conv-1", "status": "active"},
    "phone_number_id": "123",
}
ENDED = {"conversation": {"id": "conv-1", "status": "ended"}, "phone_number_id": "123"}
INACTIVE = {
    "conversation": {"id": "conv-1", "status": "active"},
    "since_message": {"id": "m", "direction": "inbound"},
    "inactivity": {"minutes": 60},
    "phone_number_id": "123",
}
WORKFLOW_FAILED = {"event": "workflow.execution.failed", "workflow_execution_id": "e-1", "status": "failed"}


def _verify(payload: Any, **headers: str) -> Any:
    body = payload if isinstance(payload, bytes) else body_of(payload)
    return KapsoWebhookVerifier(secret=SECRET).verify(body, signed_headers(body, **headers))


@pytest.mark.parametrize("shape", ["array", "data", "events", "envelope"])
def test_batches(shape: str) -> None:
    items = [
        {"event": "whatsapp.message.received", "message": {"id": "m-1", "content": "one"}},
        {"message": {"id": "m-2", "content": "two"}},  # no name of its own: the batch's applies
    ]
    payload: Any = {
        "array": items,
        "data": {"type": "whatsapp.message.received", "data": items},
        "events": {"type": "whatsapp.message.received", "events": items},
        "envelope": {"type": "whatsapp.message.received", "batch": True, "data": items, "batch_info": {"size": 2}},
    }[shape]
    delivery = _verify(payload, **{"X-Webhook-Batch": "true", "X-Webhook-Event": "whatsapp.message.received"})
    assert delivery.batch is True
    assert [event.data["message"]["id"] for event in delivery.events] == ["m-1", "m-2"]
    assert {event.name for event in delivery.events} == {"whatsapp.message.received"}
    assert delivery.mismatches == ()


def test_batch_header_false_means_one_event() -> None:
    delivery = _verify({"data": [1, 2]}, **{"X-Webhook-Batch": "false"})
    assert len(delivery.events) == 1


def test_body_that_says_batch_is_a_batch_without_the_header() -> None:
    # X-Webhook-Batch is unsigned: dropping it from a replayed batch must not turn the envelope into one event.
    envelope = {"type": "whatsapp.message.received", "batch": True, "data": [INBOUND, INBOUND]}
    delivery = _verify(envelope, **{"X-Webhook-Event": "whatsapp.message.received"})
    assert delivery.batch is True
    assert [event.data for event in delivery.events] == [INBOUND, INBOUND]
    assert delivery.mismatches == ("X-Webhook-Batch is not 'true', but the signed body is a batch: read as one",)


@pytest.mark.parametrize(
    ("body", "batch", "text"),
    [
        (b"not json", False, "not JSON"),
        (b"\xff\xfe{", False, "not JSON"),
        (b"[]", False, "JSON object"),
        (b'{"data": "x"}', True, "array of event objects"),
        (b"[1, 2]", True, "array of event objects"),
        (b'{"batch": true, "data": [1]}', False, "array of event objects"),
    ],
)
def test_malformed_signed_bodies(body: bytes, batch: bool, text: str) -> None:
    with pytest.raises(KapsoWebhookPayloadError, match=text):
        parse_events(body, batch=batch)


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_body_is_a_payload_error(opener: str) -> None:
    # A signed body nested 100,000 levels deep made json.loads raise RecursionError, which no handler expected.
    closer = "]" if opener == "[" else "}"
    body = (opener * 100_000 + "1" + closer * 100_000).encode()
    verifier = KapsoWebhookVerifier(secret=SECRET)
    with pytest.raises(KapsoWebhookPayloadError, match="nests its JSON too deeply"):
        verifier.verify(body, signed_headers(body))
    assert len(verifier.idempotency_store) == 0  # type: ignore[arg-type]


def test_name_in_the_body_wins_over_the_header() -> None:
    delivery = _verify(WORKFLOW_FAILED, **{"X-Webhook-Event": "workflow.execution.handoff"})
    (event,) = delivery.events
    assert (event.name, event.name_signed) == ("workflow.execution.failed", True)
    assert delivery.event_name == "workflow.execution.failed"
    assert delivery.header_event_name == "workflow.execution.handoff"
    assert delivery.mismatches == (
        "X-Webhook-Event 'workflow.execution.handoff' differs from the signed body's "
        "'workflow.execution.failed': read as 'workflow.execution.failed'",
    )


def test_batch_type_wins_over_the_header() -> None:
    envelope = {"type": "whatsapp.message.received", "batch": True, "data": [INBOUND]}
    delivery = _verify(envelope, **{"X-Webhook-Batch": "true", "X-Webhook-Event": "whatsapp.message.failed"})
    assert [(event.name, event.name_signed) for event in delivery.events] == [("whatsapp.message.received", True)]
    assert len(delivery.mismatches) == 1
    assert "differs from the signed batch's 'whatsapp.message.received'" in delivery.mismatches[0]


@pytest.mark.parametrize(
    ("payload", "header"),
    [
        (INBOUND, "whatsapp.message.received"),
        (DELIVERED, "whatsapp.message.delivered"),
        (ENDED, "whatsapp.conversation.ended"),
        (INACTIVE, "whatsapp.conversation.inactive"),
        ({"conversation": {"id": "c", "status": "active"}}, "whatsapp.conversation.created"),
        ({"phone_number_id": "123", "project": {"id": "p"}}, "whatsapp.phone_number.created"),
    ],
)
def test_header_that_agrees_is_taken_as_unsigned(payload: dict[str, Any], header: str) -> None:
    delivery = _verify(payload, **{"X-Webhook-Event": header})
    assert [(event.name, event.name_signed) for event in delivery.events] == [(header, False)]
    assert delivery.mismatches == ()


@pytest.mark.parametrize(
    ("payload", "header", "name", "text"),
    [
        # A message's direction settles received against the outbound events.
        (INBOUND, "whatsapp.message.sent", "whatsapp.message.received", "body's inbound"),
        (
            DELIVERED,
            "whatsapp.message.received",
            "whatsapp.message.delivered",
            "body's outbound",
        ),
        (INBOUND, "whatsapp.conversation.ended", "whatsapp.message.received", "does not name a message event"),
        (DELIVERED, "whatsapp.phone_number.created", "whatsapp.message.delivered", "does not name a message event"),
    ],
)
def test_header_the_body_overrules(payload: dict[str, Any], header: str, name: str, text: str) -> None:
    delivery = _verify(payload, **{"X-Webhook-Event": header})
    assert [(event.name, event.name_signed) for event in delivery.events] == [(name, True)]
    assert delivery.event_name == name
    (mismatch,) = delivery.mismatches
    assert text in mismatch
    assert f"read as {name!r}" in mismatch


@pytest.mark.parametrize(
    ("payload", "header", "text"),
    [
        (DELIVERED, "whatsapp.message.read", "status 'delivered'"),
        (ENDED, "whatsapp.message.received", "holds no message"),
        (ENDED, "whatsapp.conversation.created", "status 'ended'"),
        (INACTIVE, "whatsapp.conversation.ended", "has the inactivity"),
        (ENDED, "whatsapp.conversation.inactive", "lacks the inactivity"),
        ({"phone_number_id": "123"}, "whatsapp.conversation.created", "holds no conversation"),
        (ENDED, "whatsapp.phone_number.created", "holds a conversation"),
    ],
)
def test_header_the_body_contradicts_is_flagged(payload: dict[str, Any], header: str, text: str) -> None:
    # Where the body cannot say which event it is, the header's name stays, unsigned, and the conflict shows.
    delivery = _verify(payload, **{"X-Webhook-Event": header})
    assert [(event.name, event.name_signed) for event in delivery.events] == [(header, False)]
    assert any(text in mismatch for mismatch in delivery.mismatches), delivery.mismatches


def test_mismatches_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="kapso_provider.webhooks"):
        _verify(INBOUND, **{"X-Webhook-Event": "whatsapp.message.sent"})
    (record,) = caplog.records
    assert "contradict its signed body" in record.getMessage()
    assert "hi" not in record.getMessage()  # the message text stays out of the log


def test_without_a_header_the_body_names_what_it_can() -> None:
    assert [event.name for event in _verify(INBOUND).events] == ["whatsapp.message.received"]
    assert [event.name for event in _verify(INACTIVE).events] == ["whatsapp.conversation.inactive"]
    assert [event.name for event in _verify(ENDED).events] == [None]


def test_batch_items_are_checked_one_by_one() -> None:
    delivery = _verify(
        [INBOUND, DELIVERED], **{"X-Webhook-Batch": "true", "X-Webhook-Event": "whatsapp.message.received"}
    )
    assert [(event.name, event.name_signed) for event in delivery.events] == [
        ("whatsapp.message.received", False),
        ("whatsapp.message.delivered", True),
    ]
    (mismatch,) = delivery.mismatches
    assert mismatch.startswith("event 1: ")


def test_reading_does_not_change_the_data() -> None:
    body = body_of(INBOUND)
    (event,) = parse_events(body, batch=False, event_name="whatsapp.message.sent")
    assert event.data == json.loads(body)
