"""The Platform API's messages, conversations and assignments (``/platform/v1/whatsapp/...``).

Messages across every conversation and number, newest first with cursors; one message by ``wamid`` with
``kapso.status`` and ``kapso.statuses`` (Meta's status events, errors included). Conversations and their
assignments are the same records v1 and the proxy show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.testing._current.cursor import cursor_page, query_time
from kapso_provider.testing._current.render import conversation_view, kapso_status, message_view
from kapso_provider.testing._errors import NotFoundError, ValidationError
from kapso_provider.testing._http import Response, int_param, json_response, paginate
from kapso_provider.testing._routing import ResourceGroup, object_field, route
from kapso_provider.testing._store import CONVERSATION_STATUSES
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._inbound_replies import ReplyScheduler
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store
    from kapso_provider.testing._v1.assignments import AssignmentsGroup

__all__ = ["PlatformMessagesGroup"]

_CONVERSATION = "/whatsapp/conversations/{conversation_id}"


def _choice(query: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    value = query.get(name) or None
    if value is not None and value not in choices:
        raise ValidationError(name, f"must be one of: {', '.join(choices)}", status=400)
    return value


def _matches_number(record_phone: str, wanted: str | None) -> bool:
    # The files call the phone_number filters a partial match: digits contained in the number.
    return wanted is None or normalize_phone(wanted) in normalize_phone(record_phone)


class PlatformMessagesGroup(ResourceGroup):
    """Platform messages, conversations and assignments.

    :param store: the simulator's store.
    :param assignments: the assignments group, which keeps the assignments and their rules.
    :param replies: the armed replies, told about every listing.
    """

    def __init__(self, store: Store, assignments: AssignmentsGroup, replies: ReplyScheduler) -> None:
        super().__init__(store)
        self._assignments = assignments
        self._replies = replies

    def routes(self) -> list[Route]:
        """Messages (list, get), conversations (list, get, update), assignments (list, create, get, update)."""
        return [
            route("GET", "/whatsapp/messages", self._list_messages),
            route("GET", "/whatsapp/messages/{message_id}", self._get_message),
            route("GET", "/whatsapp/conversations", self._list_conversations),
            route("GET", _CONVERSATION, self._get_conversation),
            route("PATCH", _CONVERSATION, self._update_conversation),
            route("GET", _CONVERSATION + "/assignments", self._list_assignments),
            route("POST", _CONVERSATION + "/assignments", self._create_assignment),
            route("GET", _CONVERSATION + "/assignments/{id}", self._get_assignment),
            route("PATCH", _CONVERSATION + "/assignments/{id}", self._update_assignment),
        ]

    def _config_id(self, query: Mapping[str, str]) -> str | None:
        pnid = query.get("phone_number_id")
        return self.store.config_by_phone_number_id(pnid)["id"] if pnid else None

    # -- messages ---------------------------------------------------------------------------------------

    def _list_messages(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config_id = self._config_id(query)
        direction = _choice(query, "direction", ("inbound", "outbound"))
        status = _choice(query, "status", ("pending", "sent", "delivered", "read", "failed"))
        has_media = _choice(query, "has_media", ("true", "false"))
        kind, phone = query.get("message_type") or None, query.get("phone_number") or None
        if query.get("business_scoped_user_id"):
            # The simulator keeps people by phone number; a BSUID matches nobody.
            records: list[dict[str, Any]] = []
        else:
            records = [
                record
                for record in self.store.list_messages()
                if (config_id is None or record["whatsapp_config_id"] == config_id)
                and (not query.get("conversation_id") or record["whatsapp_conversation_id"] == query["conversation_id"])
                and _matches_number(record["phone_number"], phone)
                and (direction is None or record["direction"] == direction)
                and (kind is None or record["message_type"] == kind)
                and (has_media is None or bool(record.get("media_url")) is (has_media == "true"))
            ]
        self.store.advance_on_read([record["id"] for record in records])
        for conversation_id in {record["whatsapp_conversation_id"] for record in records}:
            self._replies.on_listing(conversation_id)
        fresh = [self.store.message(record["id"]) for record in records]
        fresh = [record for record in fresh if status is None or kapso_status(record) == status]
        fresh.sort(key=lambda record: (record["created_at"], record["id"]), reverse=True)
        page, paging = cursor_page(fresh, query, lambda record: (record["created_at"], record["id"]))
        views = [message_view(self.store, record, api="platform") for record in page]
        return json_response(200, {"data": views, "paging": paging})

    def _get_message(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        record = self.store.message(params["message_id"])
        if record["whatsapp_message_id"] != params["message_id"]:
            # The path takes WhatsApp's id (wamid), not Kapso's.
            raise NotFoundError("Message", params["message_id"])
        self.store.advance_on_read([record["id"]])
        return json_response(200, {"data": message_view(self.store, self.store.message(record["id"]), api="platform")})

    # -- conversations ----------------------------------------------------------------------------------

    def _list_conversations(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config_id = self._config_id(query)
        status = _choice(query, "status", CONVERSATION_STATUSES)
        assigned, unassigned = query.get("assigned_user_id") or None, _choice(query, "unassigned", ("true", "false"))
        if assigned and unassigned:
            raise ValidationError("unassigned", "cannot be combined with assigned_user_id")
        bounds = {
            name: query_time(query, name)
            for name in ("created_after", "created_before", "last_active_after", "last_active_before")
        }
        selected = [
            conversation
            for conversation in self.store.conversations()
            if (config_id is None or conversation["whatsapp_config_id"] == config_id)
            and _matches_number(conversation["phone_number"], query.get("phone_number") or None)
            and (status is None or conversation["status"] == status)
            and (assigned is None or self._assignments.active_assignee(conversation["id"]) == assigned)
            and (unassigned != "true" or self._assignments.active_assignee(conversation["id"]) is None)
            and (bounds["created_after"] is None or conversation["created_at"] >= bounds["created_after"])
            and (bounds["created_before"] is None or conversation["created_at"] <= bounds["created_before"])
            and (bounds["last_active_after"] is None or conversation["last_active_at"] >= bounds["last_active_after"])
            and (bounds["last_active_before"] is None or conversation["last_active_at"] <= bounds["last_active_before"])
        ]
        selected.sort(key=lambda item: (item["last_active_at"], item["id"]), reverse=True)
        page, paging = cursor_page(
            selected, query, lambda item: (item["last_active_at"], item["id"]), columns=("last_active_at", "id")
        )
        views = [conversation_view(self.store, item, api="platform") for item in page]
        return json_response(200, {"data": views, "paging": paging})

    def _get_conversation(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        conversation = self.store.conversation(params["conversation_id"])
        return json_response(200, {"data": conversation_view(self.store, conversation, api="platform")})

    def _update_conversation(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = params["conversation_id"]
        self.store.conversation(conversation_id)
        status = object_field(body, "whatsapp_conversation").get("status")
        if status not in CONVERSATION_STATUSES:
            raise ValidationError("whatsapp_conversation.status", "must be one of: active, ended")
        conversation = self.store.set_conversation_status(conversation_id, status)
        return json_response(200, {"data": conversation_view(self.store, conversation, api="platform")})

    # -- assignments ------------------------------------------------------------------------------------

    def _list_assignments(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        conversation_id = params["conversation_id"]
        self.store.conversation(conversation_id)
        int_param(query, "page", 1, 1, None)
        return paginate(self._assignments.assignments(conversation_id), query)

    def _create_assignment(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "assignment")
        record = self._assignments.add_assignment(params["conversation_id"], fields, "assignment")
        return json_response(201, {"data": record})

    def _get_assignment(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._assignments.assignment(params["conversation_id"], params["id"])})

    def _update_assignment(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "assignment")
        record = self._assignments.change_assignment(params["conversation_id"], params["id"], fields, "assignment")
        return json_response(200, {"data": record})
