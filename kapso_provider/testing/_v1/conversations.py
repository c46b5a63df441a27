"""v1 endpoints: conversations, their messages, and the two sends (into a conversation, to a number)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._http import (
    ApiError,
    Response,
    error,
    first,
    json_response,
    paginate,
    parse_time,
    unprocessable,
)
from kapso_provider.testing._policy import WINDOW_TEXT
from kapso_provider.testing._routing import ResourceGroup, object_field, route
from kapso_provider.testing._store import CONVERSATION_STATUSES
from kapso_provider.testing._v1.configs import resolve_config
from kapso_provider.testing._v1.template_rules import render_template
from kapso_provider.testing._validation import normalize_phone, validate_message

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._inbound_replies import ReplyScheduler
    from kapso_provider.testing._policy import Policy
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

__all__ = ["ConversationsGroup"]

_CONVERSATION = "/whatsapp_conversations/{conversation_id}"


class ConversationsGroup(ResourceGroup):
    """Conversations (list, get, end or reactivate), their messages, and sends.

    Message lists are answered newest first; the files leave the order open, so a client must not depend
    on it. Conversation lists are ordered by ``last_active_at``, newest first.

    :param store: the simulator's store.
    :param replies: the armed replies, told about every send and every listing of messages.
    :param policy: the business rules (the 24-hour window).
    """

    def __init__(self, store: Store, replies: ReplyScheduler, policy: Policy) -> None:
        super().__init__(store)
        self._replies = replies
        self._policy = policy

    def routes(self) -> list[Route]:
        """Conversations, their messages, and the phone-number send."""
        return [
            route("GET", "/whatsapp_conversations", self._list_conversations),
            route("GET", _CONVERSATION, self._get_conversation),
            route("PATCH", _CONVERSATION, self._update_conversation),
            route("GET", _CONVERSATION + "/whatsapp_messages", self._list_messages),
            route("POST", _CONVERSATION + "/whatsapp_messages", self._send_in_conversation),
            route("POST", "/whatsapp_messages", self._send_to_phone),
        ]

    def _list_conversations(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        phone = first(query, "q[phone_number_eq]", "phone_number")
        status = first(query, "q[status_eq]", "status")
        config_id = first(query, "q[whatsapp_config_id_eq]", "whatsapp_config_id")
        customer_id = first(query, "q[whatsapp_config_customer_id_eq]", "customer_id")
        if status is not None and status not in CONVERSATION_STATUSES:
            raise ValidationError("q[status_eq]", "must be one of: active, ended")
        bounds = {
            name: parse_time(value, name)
            for name in ("q[last_active_at_gteq]", "q[last_active_at_lteq]")
            if (value := query.get(name))
        }
        owners = {config["id"]: config.get("customer_id") for config in self.store.configs()}
        selected = []
        for conversation in self.store.conversations():
            if phone is not None and normalize_phone(conversation["phone_number"]) != normalize_phone(phone):
                continue
            if status is not None and conversation["status"] != status:
                continue
            if config_id is not None and conversation["whatsapp_config_id"] != config_id:
                continue
            if customer_id is not None and owners.get(conversation["whatsapp_config_id"]) != customer_id:
                continue
            active = parse_time(conversation["last_active_at"], "last_active_at")
            if "q[last_active_at_gteq]" in bounds and active < bounds["q[last_active_at_gteq]"]:
                continue
            if "q[last_active_at_lteq]" in bounds and active > bounds["q[last_active_at_lteq]"]:
                continue
            selected.append(conversation)
        selected.sort(key=lambda conversation: str(conversation["last_active_at"]), reverse=True)
        return paginate(selected, query)

    def _get_conversation(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self.store.conversation(params["conversation_id"])})

    def _update_conversation(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = params["conversation_id"]
        self.store.conversation(conversation_id)
        status = object_field(body, "whatsapp_conversation").get("status")
        if status not in CONVERSATION_STATUSES:
            raise ValidationError("whatsapp_conversation.status", "must be one of: active, ended")
        return json_response(200, {"data": self.store.set_conversation_status(conversation_id, status)})

    def _list_messages(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = params["conversation_id"]
        self.store.conversation(conversation_id)
        self.store.advance_on_listing(conversation_id)
        self._replies.on_listing(conversation_id)
        # Newest first, as a chat history API usually pages; the files do not say, see NOTES.md. By time, so
        # that a message seeded "sent earlier" takes its place; equal times keep the newest stored first.
        newest_stored_first = reversed(self.store.list_messages(conversation_id))
        records = sorted(newest_stored_first, key=lambda record: str(record["created_at"]), reverse=True)
        return paginate(records, query)

    def _check_template(self, message: dict[str, Any], config_id: str, phone_number: str) -> None:
        """Hold a template message to the template's parameters, as the template send does, and any other
        message to the 24-hour window when it is enforced.

        Kapso finds the template by name and language in the sending number's Business Account. A template
        the simulator does not know (never created by the test) is sent as given: its parameters are unknown.
        """
        if message.get("message_type") != "template":
            if not self._policy.window_open(phone_number, config_id):
                raise unprocessable(WINDOW_TEXT)
            return
        waba = self.store.config(config_id)["business_account_id"]
        template = self.store.templates.find(message["template_name"], message["template_language"], waba)
        if template is not None:
            checked = self.store.templates.checks_parameters(template["id"])
            render_template(template, message.get("template_params"), "message.template_params", checked=checked)

    def _send_in_conversation(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = params["conversation_id"]
        conversation = self.store.conversation(conversation_id)
        message = validate_message(body, require_content=True)
        self._check_template(message, conversation["whatsapp_config_id"], conversation["phone_number"])
        record = self.store.store_outbound(conversation_id, message)
        self._replies.on_outbound(record)
        return json_response(201, {"data": record})

    def _send_to_phone(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        message = body.get("message") if isinstance(body, dict) else None
        if isinstance(message, dict):
            phone = message.get("phone_number") or query.get("phone_number")
            if phone in (None, ""):
                # openapi-whatsapp.yaml documents a 400 (not a 422) for this one case.
                raise ApiError(error(400, "message.phone_number: is required", error="Phone number is required"))
        message = validate_message(body, require_content=False)
        phone = message.get("phone_number") or query.get("phone_number")
        if not isinstance(phone, str) or not normalize_phone(phone):
            raise ValidationError("message.phone_number", "is not a valid phone number")
        top = body if isinstance(body, dict) else {}
        config_id = resolve_config(
            self.store,
            query.get("whatsapp_config_id") or top.get("whatsapp_config_id"),
            query.get("customer_id") or top.get("customer_id"),
        )
        self._check_template(message, config_id, phone)
        with self.lock:
            conversation = self.store.find_or_create_conversation(phone, config_id)
            record = self.store.store_outbound(conversation["id"], message)
        self._replies.on_outbound(record)
        return json_response(201, {"data": record})
