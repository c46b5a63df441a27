"""Kapso's current webhooks (payload version 2) and the legacy ones (version 1): one typed view of each event."""

from __future__ import annotations

from typing import Any

import pytest

from kapso_provider.webhooks import KapsoWebhookDelivery, KapsoWebhookEvent, KapsoWebhookVerifier
from tests._webhooks import SECRET, body_of, kapso_headers
from tests.webhooks._payloads import (
    CONVERSATION,
    CONVERSATION_EVENTS,
    KAPSO_MESSAGE,
    MESSAGE_EVENTS,
    PHONE,
    PNID,
    PROJECT_EVENTS,
    REPLIES,
    TEXT,
    WAMID,
    v2_message,
)

VIEW_FIELDS = (
    "phone_number_id",
    "conversation_id",
    "message_id",
    "wamid",
    "direction",
    "message_type",
    "sender",
    "text",
    "reply_id",
    "status",
)


def _deliver(payload: Any, event: str | None, version: str | None = None, **extra: str) -> KapsoWebhookDelivery:
    """One signed delivery as Kapso sends it, verified."""
    body = body_of(payload)
    headers = kapso_headers(body, event=event, **extra)
    if version is not None:
        headers["X-Webhook-Payload-Version"] = version
    return KapsoWebhookVerifier(secret=SECRET).verify(body, headers)


def _only_event(delivery: KapsoWebhookDelivery) -> KapsoWebhookEvent:
    assert delivery.mismatches == ()
    (event,) = delivery.events
    return event


@pytest.mark.parametrize(("name", "v2", "v1"), MESSAGE_EVENTS, ids=[case[0] for case in MESSAGE_EVENTS])
def test_message_events_read_the_same_in_both_versions(name: str, v2: dict[str, Any], v1: dict[str, Any]) -> None:
    views = []
    for version, payload in [(2, v2), (1, v1)]:
        delivery = _deliver(payload, name, f"v{version}")
        event = _only_event(delivery)
        assert (event.name, event.payload_version, delivery.payload_version) == (name, version, version)
        assert event.data == payload
        views.append(event.to_json())
    inbound = name == "whatsapp.message.received"
    expected = {
        "event": name,
        "phone_number_id": PNID,
        "conversation_id": CONVERSATION,
        "wamid": WAMID,
        "direction": "inbound" if inbound else "outbound",
        "message_type": "text",
        "sender": PHONE if inbound else None,
        "text": TEXT if inbound else "Your order ships today",
        "reply_id": None,
        "status": name.removeprefix("whatsapp.message."),
    }
    assert views[0] == {**expected, "payload_version": 2, "message_id": WAMID}
    assert views[1] == {**expected, "payload_version": 1, "message_id": KAPSO_MESSAGE}


@pytest.mark.parametrize(("what", "v2", "v1", "text", "reply_id"), REPLIES, ids=[case[0] for case in REPLIES])
def test_replies(
    what: str, v2: dict[str, Any], v1: dict[str, Any] | None, text: str | None, reply_id: str | None
) -> None:
    for version, payload in [(2, v2), (1, v1)]:
        if payload is None:
            continue  # API v1 has no such message
        event = _only_event(_deliver(payload, "whatsapp.message.received", f"v{version}"))
        assert (event.text, event.reply_id, event.sender) == (text, reply_id, PHONE)


@pytest.mark.parametrize(("name", "v2", "v1"), CONVERSATION_EVENTS, ids=[case[0] for case in CONVERSATION_EVENTS])
def test_conversation_events(name: str, v2: dict[str, Any], v1: dict[str, Any]) -> None:
    for version, payload in [(2, v2), (1, v1)]:
        event = _only_event(_deliver(payload, name, f"v{version}"))
        assert (event.name, event.payload_version) == (name, version)
        view = event.to_json()
        assert view["phone_number_id"] == PNID
        assert view["conversation_id"] == CONVERSATION
        assert view["status"] == ("ended" if name.endswith("ended") else "active")
        assert {key for key in VIEW_FIELDS if view[key] is not None} == {"phone_number_id", "conversation_id", "status"}


@pytest.mark.parametrize(
    ("name", "version", "payload", "expected"), PROJECT_EVENTS, ids=[case[0] for case in PROJECT_EVENTS]
)
def test_project_events(name: str, version: int, payload: dict[str, Any], expected: dict[str, Any]) -> None:
    event = _only_event(_deliver(payload, name, f"v{version}"))
    assert (event.name, event.payload_version) == (name, version)
    assert event.name_signed is ("event" in payload)  # the workflow events name themselves in the body
    view = event.to_json()
    assert {key: view[key] for key in VIEW_FIELDS if view[key] is not None} == expected


def test_batch_of_version_2() -> None:
    first = v2_message("text", {"body": "one"}, direction="inbound", status="received")
    second = v2_message("text", {"body": "two"}, direction="inbound", status="received")
    second["message"]["id"] = "wamid.2"
    envelope = {
        "type": "whatsapp.message.received",
        "batch": True,
        "data": [first, second],
        "batch_info": {"size": 2, "window_ms": 5000, "conversation_id": CONVERSATION},
    }
    delivery = _deliver(envelope, "whatsapp.message.received", "v2", **{"X-Webhook-Batch": "true", "X-Batch-Size": "2"})
    assert (delivery.batch, delivery.mismatches, delivery.payload_version) == (True, (), 2)
    assert [(event.name, event.name_signed, event.wamid, event.text) for event in delivery.events] == [
        ("whatsapp.message.received", True, WAMID, "one"),
        ("whatsapp.message.received", True, "wamid.2", "two"),
    ]


def test_sender_without_a_phone_number() -> None:
    # Kapso: "Do not assume phone_number, from, to, or wa_id are always present" (business-scoped user ids).
    payload = v2_message("text", {"body": "hi"}, direction="inbound", status="received")
    del payload["message"]["from"]
    payload["message"]["from_user_id"] = "US.13491208655302741918"
    del payload["conversation"]["phone_number"]
    assert _only_event(_deliver(payload, "whatsapp.message.received")).sender == "US.13491208655302741918"


@pytest.mark.parametrize(
    ("payload", "header", "version", "text"),
    [
        (MESSAGE_EVENTS[0][1], "v1", 2, "says 1, the signed body is version 2: read as 2"),
        (MESSAGE_EVENTS[0][2], "v2", 1, "says 2, the signed body is version 1: read as 1"),
        (MESSAGE_EVENTS[0][1], "v3", 2, "'v3' is not a payload version this provider reads"),
        ({"event": "workflow.execution.failed"}, "v3", 2, "'v3' is not a payload version this provider reads"),
    ],
)
def test_version_header_the_body_contradicts(payload: dict[str, Any], header: str, version: int, text: str) -> None:
    delivery = _deliver(payload, None, header)
    assert [event.payload_version for event in delivery.events] == [version]
    (mismatch,) = delivery.mismatches
    assert text in mismatch


@pytest.mark.parametrize(("header", "version"), [(None, 2), ("v1", 1), ("V2", 2), ("1", 1)])
def test_version_of_a_body_that_shows_none(header: str | None, version: int) -> None:
    # Workflow events look the same in both versions: the header decides, and Kapso's default is 2.
    delivery = _deliver(PROJECT_EVENTS[4][2], None, header)
    assert [event.payload_version for event in delivery.events] == [version]
    assert delivery.mismatches == ()


def test_view_of_a_body_kapso_never_sends() -> None:
    # Wrong types where strings belong: the view says None rather than failing in the handler.
    event = KapsoWebhookEvent("whatsapp.message.received", {"message": {"id": 5, "kapso": "x", "text": []}})
    assert event.to_json() == {"event": "whatsapp.message.received", "payload_version": 2} | dict.fromkeys(VIEW_FIELDS)


EVERY_EVENT = [
    *(
        (name, f"v{version}", body)
        for name, v2, v1 in MESSAGE_EVENTS + CONVERSATION_EVENTS
        for version, body in [(2, v2), (1, v1)]
    ),
    *((name, f"v{version}", body) for name, version, body, _ in PROJECT_EVENTS),
]


@pytest.mark.parametrize(("name", "version", "payload"), EVERY_EVENT, ids=[f"{c[0]}-{c[1]}" for c in EVERY_EVENT])
def test_every_event_is_handled_once(name: str, version: str, payload: dict[str, Any]) -> None:
    verifier = KapsoWebhookVerifier(secret=SECRET)
    body = body_of(payload)
    headers = {**kapso_headers(body, event=name), "X-Webhook-Payload-Version": version}
    verifier.release(verifier.verify(body, headers))  # the handler failed
    with verifier.receive(body, headers) as retry:  # Kapso's retry is handled
        assert retry.duplicate is False
    assert verifier.verify(body, headers).duplicate is True  # a retry after a lost answer
    replay = {**kapso_headers(body, event=name), "X-Webhook-Payload-Version": version}
    assert verifier.verify(body, replay).duplicate is True  # a replay under a fresh key
