"""Sample bodies of every Kapso webhook event, in payload versions 2 and 1, shaped as Kapso's docs show them.

Version 2 follows docs.kapso.ai's event types, message events and project webhooks pages (Meta-shaped
messages with ``kapso`` facts, ``phone_number_id`` at the top level). Version 1 follows the legacy page
(``whatsapp_config`` nested, ``message_type``/``content``, ``message.origin``) with the message and
conversation fields of API v1's records; Kapso shows no complete version 1 body.
"""

from __future__ import annotations

from typing import Any

PNID = "106540352242922"
PHONE = "+15551234567"
WAMID = "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQUY5"
CONVERSATION = "0d9c2b7e-5f0a-4c4e-9a43-1f2de8b3c001"
KAPSO_MESSAGE = "7b1e8c52-0a4f-4d8e-b1b3-2f6e4c9d0a11"
CONFIG = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def _conversation(status: str = "active", **extra: Any) -> dict[str, Any]:
    return {
        "id": CONVERSATION,
        "phone_number": PHONE,
        "status": status,
        "last_active_at": "2025-10-28T14:25:01Z",
        "created_at": "2025-10-28T13:40:00Z",
        "updated_at": "2025-10-28T14:25:01Z",
        "metadata": {},
        "phone_number_id": PNID,
        **extra,
    }


def v2_message(kind: str, body: dict[str, Any], *, direction: str, status: str, **kapso: Any) -> dict[str, Any]:
    """A version 2 message event body: a Meta-shaped message of type ``kind`` with Kapso's facts."""
    message: dict[str, Any] = {"id": WAMID, "timestamp": "1730092800", "type": kind, kind: body}
    if direction == "inbound":
        message["from"] = PHONE.lstrip("+")
    else:
        message["to"] = PHONE.lstrip("+")
    message["kapso"] = {
        "direction": direction,
        "status": status,
        "processing_status": "pending" if direction == "inbound" else "completed",
        "origin": "cloud_api",
        "has_media": False,
        **kapso,
    }
    return {
        "message": message,
        "conversation": _conversation(kapso={"contact_name": "Ada", "messages_count": 3}),
        "is_new_conversation": False,
        "phone_number_id": PNID,
    }


def v1_message(kind: str, content: str, *, direction: str, status: str, **extra: Any) -> dict[str, Any]:
    """A version 1 message event body."""
    return {
        "message": {
            "id": KAPSO_MESSAGE,
            "message_type": kind,
            "content": content,
            "direction": direction,
            "status": status,
            "origin": "cloud_api",
            "whatsapp_message_id": WAMID,
            "phone_number": PHONE,
            "created_at": "2025-10-28T14:25:01Z",
            **extra,
        },
        "conversation": {**_v1_conversation()},
        "whatsapp_config": {"id": CONFIG, "phone_number_id": PNID, "display_phone_number": "+1 555 000 0000"},
    }


def _v1_conversation(status: str = "active") -> dict[str, Any]:
    return {"id": CONVERSATION, "phone_number": PHONE, "status": status, "whatsapp_config_id": CONFIG}


TEXT = "Is my order shipped?"
OUTBOUND = "Your order ships today"
FAILED_STATUSES = [
    {"id": WAMID, "status": "sent", "timestamp": "1730093100", "recipient_id": PHONE.lstrip("+")},
    {
        "id": WAMID,
        "status": "failed",
        "timestamp": "1730093200",
        "recipient_id": PHONE.lstrip("+"),
        "errors": [{"code": 131047, "title": "Re-engagement message"}],
    },
]

# (event name, version 2 body, version 1 body): the same event in both payload versions.
MESSAGE_EVENTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "whatsapp.message.received",
        v2_message("text", {"body": TEXT}, direction="inbound", status="received", content=TEXT),
        v1_message("text", TEXT, direction="inbound", status="received"),
    ),
    (
        "whatsapp.message.sent",
        v2_message("text", {"body": OUTBOUND}, direction="outbound", status="sent"),
        v1_message("text", OUTBOUND, direction="outbound", status="sent"),
    ),
    (
        "whatsapp.message.delivered",
        v2_message("text", {"body": OUTBOUND}, direction="outbound", status="delivered"),
        v1_message("text", OUTBOUND, direction="outbound", status="delivered"),
    ),
    (
        "whatsapp.message.read",
        v2_message("text", {"body": OUTBOUND}, direction="outbound", status="read"),
        v1_message("text", OUTBOUND, direction="outbound", status="read"),
    ),
    (
        "whatsapp.message.failed",
        v2_message("text", {"body": OUTBOUND}, direction="outbound", status="failed", statuses=FAILED_STATUSES),
        v1_message("text", OUTBOUND, direction="outbound", status="failed"),
    ),
]


def _interactive_reply(kind: str, option_id: str, title: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A tapped reply button or list row (``kind``), as version 2 and version 1 bodies."""
    v2 = v2_message(
        "interactive", {"type": kind, kind: {"id": option_id, "title": title}}, direction="inbound", status="received"
    )
    data = {"reply_option_id": option_id, "reply_option_title": title}
    return v2, v1_message("interactive", title, direction="inbound", status="received", message_type_data=data)


# An inbound reply in each shape it can take: (what, version 2 body, version 1 body or None, text, reply id).
REPLIES: list[tuple[str, dict[str, Any], dict[str, Any] | None, str | None, str | None]] = [
    ("reply button", *_interactive_reply("button_reply", "order-yes", "Yes"), "Yes", "order-yes"),
    ("list row", *_interactive_reply("list_reply", "slot-3", "Friday 10:00"), "Friday 10:00", "slot-3"),
    (
        "template quick reply",
        v2_message("button", {"text": "Stop promotions", "payload": "STOP"}, direction="inbound", status="received"),
        None,
        "Stop promotions",
        "STOP",
    ),
    (
        "image caption",
        v2_message(
            "image",
            {"id": "media-1", "caption": "the broken part"},
            direction="inbound",
            status="received",
            has_media=True,
            media_url="https://api.kapso.ai/media/1",
        ),
        v1_message("image", "the broken part", direction="inbound", status="received"),
        "the broken part",
        None,
    ),
    (
        "reaction",
        v2_message("reaction", {"message_id": WAMID, "emoji": "👍"}, direction="inbound", status="received"),
        None,
        None,
        None,
    ),
]

# (event name, version 2 body, version 1 body): conversation events.
CONVERSATION_EVENTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "whatsapp.conversation.created",
        {"conversation": _conversation(), "phone_number_id": PNID},
        {"conversation": _v1_conversation(), "whatsapp_config": {"id": CONFIG, "phone_number_id": PNID}},
    ),
    (
        "whatsapp.conversation.ended",
        {"conversation": _conversation("ended"), "phone_number_id": PNID},
        {"conversation": _v1_conversation("ended"), "whatsapp_config": {"id": CONFIG, "phone_number_id": PNID}},
    ),
    (
        "whatsapp.conversation.inactive",
        {
            "conversation": _conversation(),
            "since_message": {"id": "m-anchor", "whatsapp_message_id": WAMID, "direction": "inbound"},
            "inactivity": {"minutes": 60},
            "phone_number_id": PNID,
        },
        {
            "conversation": _v1_conversation(),
            "since_message": {"id": "m-anchor", "whatsapp_message_id": WAMID, "direction": "inbound"},
            "inactivity": {"minutes": 60},
            "whatsapp_config": {"id": CONFIG, "phone_number_id": PNID},
        },
    ),
]

PROJECT = {"id": "990e8400-e29b-41d4-a716-446655440004"}
CUSTOMER = {"id": "880e8400-e29b-41d4-a716-446655440003"}
EXECUTION = {
    "occurred_at": "2025-12-08T12:00:00Z",
    "project_id": PROJECT["id"],
    "workflow_id": "880e8400-e29b-41d4-a716-446655440001",
    "workflow_execution_id": "770e8400-e29b-41d4-a716-446655440002",
    "tracking_id": "track-abc123",
    "channel": "whatsapp",
    "whatsapp_conversation_id": CONVERSATION,
}

# (event name, payload version, body, expected view): project-scope events.
PROJECT_EVENTS: list[tuple[str, int, dict[str, Any], dict[str, Any]]] = [
    (
        "whatsapp.phone_number.created",
        2,
        {"phone_number_id": PNID, "project": PROJECT, "customer": CUSTOMER},
        {"phone_number_id": PNID},
    ),
    (
        "whatsapp.phone_number.deleted",
        2,
        {"phone_number_id": PNID, "project": PROJECT, "customer": CUSTOMER},
        {"phone_number_id": PNID},
    ),
    (
        "whatsapp.config.created",
        1,
        {"whatsapp_config": {"id": CONFIG, "phone_number_id": PNID}, "project": PROJECT, "customer": CUSTOMER},
        {"phone_number_id": PNID},
    ),
    (
        "workflow.execution.handoff",
        2,
        {
            "event": "workflow.execution.handoff",
            **EXECUTION,
            "status": "handoff",
            "handoff": {"reason": "asked for a person", "source": "agent_tool"},
        },
        {"conversation_id": CONVERSATION, "status": "handoff"},
    ),
    (
        "workflow.execution.failed",
        2,
        {"event": "workflow.execution.failed", **EXECUTION, "status": "failed", "error": {"message": "timed out"}},
        {"conversation_id": CONVERSATION, "status": "failed"},
    ),
    (
        # Kapso shows no body for project.event; the fields of the event as emitted (POST /events) are assumed.
        "project.event",
        2,
        {
            "name": "conversation.csat_scored",
            "occurred_at": "2026-06-27T14:30:00Z",
            "conversation_id": CONVERSATION,
            "properties": {"score": 4},
        },
        {"conversation_id": CONVERSATION},
    ),
    (
        # Named by the Agent API file (kapso_agent.run.*), with no body anywhere: read as Kapso sends it.
        "kapso_agent.run.completed",
        2,
        {"run": {"id": "run-1", "status": "completed"}},
        {},
    ),
]
