"""The current API's views of the store's records: Meta-shaped messages with ``kapso`` extensions, and
conversations.

One record serves every generation. A message sent through the proxy keeps the body it was sent with; one
sent through v1 or delivered inbound is shown in Meta's shape derived from its v1 fields, the way Kapso's
own list examples show them (``openapi-whatsapp.yaml``, ``GET /{phone_number_id}/messages``).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._current.meta_rules import LOCATION_FIELDS
from kapso_provider.testing._validation import MEDIA_TYPES, normalize_phone

if TYPE_CHECKING:
    from kapso_provider.testing._store import Store

__all__ = ["conversation_view", "kapso_status", "message_view", "status_events", "unix_seconds"]

#: v1's statuses as the current API names them: an inbound message Kapso received is ``delivered``
#: there (the files' inbound examples), and ``received`` is not in its enum.
_STATUS = {"pending": "pending", "sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


def unix_seconds(stamp: str) -> str:
    """An ISO timestamp as Meta's ``timestamp``: whole Unix seconds, as a string.

    :param stamp: ``2024-01-15T12:34:56.123456Z``.
    """
    return str(int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()))


def kapso_status(record: dict[str, Any]) -> str:
    """The record's status in the current API's enum (``received`` -> ``delivered``).

    :param record: a message record.
    """
    return _STATUS.get(str(record["status"]), "delivered")


def _meta_from_v1(record: dict[str, Any]) -> tuple[str, Any]:
    """``(type, payload)`` of a message stored through v1 or delivered inbound."""
    kind = str(record["message_type"])
    data = record.get("message_type_data") or {}
    if kind == "text":
        return "text", {"body": str(data.get("text", record.get("content") or ""))}
    if kind in MEDIA_TYPES:
        media: dict[str, Any] = {}
        if record.get("media_url"):
            media["link"] = record["media_url"]
        for key in ("caption", "filename"):
            if data.get(key) is not None and not (kind == "audio" and key == "caption"):
                media[key] = data[key]
        if data.get("media_id"):
            media["id"] = data["media_id"]
        return kind, media
    if kind == "location":
        return "location", {meta: data[v1] for meta, v1 in LOCATION_FIELDS.items() if data.get(v1) is not None}
    if kind == "template":
        params = data.get("template_params") or record.get("metadata", {}).get("template_params") or []
        if isinstance(params, dict):
            parameters = [{"type": "text", "parameter_name": name, "text": value} for name, value in params.items()]
        else:
            parameters = [{"type": "text", "text": value} for value in params]
        template: dict[str, Any] = {
            "name": data.get("template_name"),
            "language": {"code": data.get("template_language")},
        }
        if parameters:
            template["components"] = [{"type": "body", "parameters": parameters}]
        return "template", template
    if kind == "reaction":
        return "reaction", {"message_id": data.get("reacted_to_message_id"), "emoji": data.get("reaction_emoji")}
    if kind == "contacts":
        return "contacts", copy.deepcopy(data.get("contacts") or [])
    if kind == "interactive":
        return "interactive", _interactive_from_v1(record, data)
    return kind, copy.deepcopy(data)


def _interactive_from_v1(record: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    if data.get("reply_option_id") is not None:
        # A tap on a reply button or list row: Meta's inbound shape.
        reply_type = "list_reply" if data.get("interactive_type") == "list" else "button_reply"
        return {
            reply_type: {"id": data["reply_option_id"], "title": data.get("reply_option_title")},
            "type": reply_type,
        }
    interactive: dict[str, Any] = {"type": data.get("interactive_type"), "body": {"text": data.get("body_text", "")}}
    if data.get("header_text"):
        interactive["header"] = {"type": "text", "text": data["header_text"]}
    if data.get("footer_text"):
        interactive["footer"] = {"text": data["footer_text"]}
    if data.get("interactive_type") == "list":
        interactive["action"] = {
            "button": data.get("list_button_text") or "Options",
            "sections": data.get("sections", []),
        }
    else:
        buttons = [{"type": "reply", "reply": {"id": b["id"], "title": b["title"]}} for b in data.get("buttons", [])]
        interactive["action"] = {"buttons": buttons}
    return interactive


def _kapso(store: Store, record: dict[str, Any], api: str, conversation: dict[str, Any]) -> dict[str, Any]:
    kind = str(record["message_type"])
    has_media = kind in (*MEDIA_TYPES, "sticker") and bool(record.get("media_url") or record["message_type_data"])
    kapso: dict[str, Any] = {
        "direction": record["direction"],
        "status": kapso_status(record),
        # The proxy's processing enum ends in completed, the Platform's in processed.
        "processing_status": "completed" if api == "meta" else "processed",
        "phone_number": "+" + normalize_phone(record["phone_number"]),
        "has_media": has_media,
        "whatsapp_conversation_id": record["whatsapp_conversation_id"],
        "contact_name": conversation.get("contact_name"),
        "content": record.get("content"),
        "message_type_data": copy.deepcopy(record.get("message_type_data") or {}),
    }
    if record.get("media_url"):
        kapso["media_url"] = record["media_url"]
    if api == "platform":
        kapso["origin"] = "cloud_api"
        kapso["phone_number_id"] = store.config(record["whatsapp_config_id"])["phone_number_id"]
        kapso["statuses"] = status_events(store, record)
    return kapso


def status_events(store: Store, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The message's status history as Meta's status events (``MessageStatusEvent``), oldest first.

    Only what WhatsApp reports for an outbound message: ``sent``, ``delivered``, ``read``, ``failed``; a
    failure carries ``errors: [{code, title, message}]``.

    :param store: the store.
    :param record: an outbound message record.
    """
    if record["direction"] != "outbound":
        return []
    events = []
    for event in store.status_history(record["id"]):
        if event["status"] not in ("sent", "delivered", "read", "failed"):
            continue
        status: dict[str, Any] = {
            "id": record["whatsapp_message_id"],
            "status": event["status"],
            "timestamp": unix_seconds(event["timestamp"]),
            "recipient_id": normalize_phone(record["phone_number"]),
        }
        if event["status"] == "failed":
            code = event.get("error_code", 131000)
            text = event.get("error_message") or "Something went wrong"
            status["errors"] = [{"code": code, "title": text, "message": text, "error_data": {"details": text}}]
        events.append(status)
    return events


def message_view(
    store: Store, record: dict[str, Any], *, api: str, kapso_fields: frozenset[str] | None = None
) -> dict[str, Any]:
    """A message as the current API shows it.

    :param store: the store.
    :param record: the message record.
    :param api: ``meta`` (the proxy) or ``platform``.
    :param kapso_fields: the proxy's ``fields=kapso(...)``: ``None`` leaves ``kapso`` out, an empty set
        gives all of it, a set gives those fields.
    """
    meta = store.meta_of(record["id"])
    if meta is not None:
        kind, payload = str(meta["type"]), copy.deepcopy(meta.get(str(meta["type"])))
    else:
        kind, payload = _meta_from_v1(record)
    digits = normalize_phone(record["phone_number"])
    view: dict[str, Any] = {"id": record["whatsapp_message_id"], "timestamp": unix_seconds(record["created_at"])}
    view["type"] = kind
    view["to" if record["direction"] == "outbound" else "from"] = digits
    if meta is not None and isinstance(meta.get("context"), dict) and meta["context"].get("message_id"):
        view["context"] = {"id": meta["context"]["message_id"]}
    view[kind] = payload
    if api == "platform" or kapso_fields is not None:
        conversation = store.conversation(record["whatsapp_conversation_id"])
        kapso = _kapso(store, record, api, conversation)
        if kapso_fields:
            kapso = {name: value for name, value in kapso.items() if name in kapso_fields}
        if api == "meta":
            # The proxy's file is OpenAPI 3.1 yet marks null with 3.0's `nullable`, which 3.1 ignores: a
            # field without a value is left out rather than null.
            kapso = {name: value for name, value in kapso.items() if value is not None}
        view["kapso"] = kapso
    return view


def conversation_view(store: Store, conversation: dict[str, Any], *, api: str) -> dict[str, Any]:
    """A conversation as the current API shows it (both files' ``WhatsappConversation``).

    :param store: the store.
    :param conversation: the conversation record.
    :param api: ``meta`` (the proxy, which also names the config) or ``platform``.
    """
    config = store.config(conversation["whatsapp_config_id"])
    view: dict[str, Any] = {
        "id": conversation["id"],
        "phone_number": normalize_phone(conversation["phone_number"]),
        "status": conversation["status"],
        "last_active_at": conversation["last_active_at"],
        "created_at": conversation["created_at"],
        "updated_at": conversation["updated_at"],
        "metadata": {},
        "phone_number_id": config["phone_number_id"],
    }
    if api == "meta":
        view["whatsapp_config_id"] = conversation["whatsapp_config_id"]
    messages = store.list_messages(conversation["id"])
    last = messages[-1] if messages else None
    inbound = [m["created_at"] for m in messages if m["direction"] == "inbound"]
    outbound = [m["created_at"] for m in messages if m["direction"] == "outbound"]
    statistics = {
        "contact_name": conversation.get("contact_name"),
        "messages_count": len(messages),
        "last_message_id": last["whatsapp_message_id"] if last else None,
        "last_message_type": last["message_type"] if last else None,
        "last_message_timestamp": last["created_at"] if last else None,
        "last_message_text": last["content"] if last and last["message_type"] == "text" else None,
        "last_inbound_at": max(inbound) if inbound else None,
        "last_outbound_at": max(outbound) if outbound else None,
    }
    # Both files type the timestamps as plain strings (the proxy's `nullable` is 3.0 syntax in a 3.1 file):
    # a statistic without a value is left out rather than null.
    view["kapso"] = {name: value for name, value in statistics.items() if value is not None}
    return view
