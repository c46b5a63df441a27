"""The WhatsApp Cloud API proxy's messages: send, mark as read, marketing send, list, get one.

Paths below ``/meta/whatsapp/v24.0``, keyed on the business number's ``phone_number_id``. A message sent
here lands in the same store as a v1 send: v1 and the Platform API list it too.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._current.cursor import cursor_page, query_time
from kapso_provider.testing._current.meta_rules import check_mark_read, check_marketing, check_send, v1_fields
from kapso_provider.testing._current.render import kapso_status, message_view
from kapso_provider.testing._errors import NotFoundError, ValidationError
from kapso_provider.testing._http import ApiError, Response, json_response
from kapso_provider.testing._policy import WINDOW_TEXT
from kapso_provider.testing._routing import ResourceGroup, route
from kapso_provider.testing._styles import META
from kapso_provider.testing._validation import normalize_phone, template_placeholders

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._inbound_replies import ReplyScheduler
    from kapso_provider.testing._policy import Policy
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

__all__ = ["MetaMessagesGroup", "kapso_fields"]

_KAPSO = re.compile(r"kapso\(([^)]*)\)")
_NUMBER = "/{phone_number_id}"


def kapso_fields(query: Mapping[str, str]) -> frozenset[str] | None:
    """The ``kapso`` fields a ``fields=kapso(...)`` query asks for: ``None`` without it, empty for all.

    :param query: the request's query.
    """
    found = _KAPSO.search(query.get("fields") or "")
    if found is None:
        return None
    return frozenset(name.strip() for name in found[1].split(",") if name.strip())


def meta_error(status: int, code: int, message: str, *, subcode: int | None = None) -> ApiError:
    """A Meta error answer with its WhatsApp ``code``.

    :param status: HTTP status.
    :param code: Meta's error code (131047, 132000, ...).
    :param message: its text.
    :param subcode: ``error_subcode``, when Meta gives one.
    """
    body = META.body(status, message, code=code)
    if subcode is not None:
        body["error"]["error_subcode"] = subcode
    return ApiError(json_response(status, body))


class MetaMessagesGroup(ResourceGroup):
    """The proxy's message endpoints.

    :param store: the simulator's store.
    :param policy: the business rules (24-hour window, marketing opt-outs, credits).
    :param replies: the armed replies, told about every send and listing.
    """

    def __init__(self, store: Store, policy: Policy, replies: ReplyScheduler) -> None:
        super().__init__(store)
        self._policy = policy
        self._replies = replies

    def routes(self) -> list[Route]:
        """Sends, mark as read, marketing sends, list and get."""
        return [
            route("POST", _NUMBER + "/messages", self._send),
            route("POST", _NUMBER + "/marketing_messages", self._send_marketing),
            route("GET", _NUMBER + "/messages", self._list),
            route("GET", _NUMBER + "/messages/{message_id}", self._get),
        ]

    # -- sends ------------------------------------------------------------------------------------------

    def _send(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        if isinstance(body, dict) and "status" in body and "type" not in body:
            return self._mark_read(config, check_mark_read(body))
        return self._deliver(config, check_send(body), marketing=False)

    def _send_marketing(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        return self._deliver(config, check_marketing(body), marketing=True)

    def _deliver(self, config: dict[str, Any], message: dict[str, Any], *, marketing: bool) -> Response:
        to = str(message["to"])
        account = message.get("messaging_account_id") or message.get("paid_messaging_account_id")
        if account is not None and account != config["business_account_id"]:
            text = "Messaging account does not match this WhatsApp phone number"
            raise ApiError(json_response(422, {"error": text, "code": "messaging_account_mismatch"}))
        if message["type"] == "template":
            marketing = self._check_template(config, message["template"]) or marketing
            if self._policy.credits_exhausted:
                raise ApiError(
                    json_response(
                        402,
                        {
                            "error": "Your Kapso balance doesn't cover Meta's fee for this message.",
                            "code": "insufficient_credits",
                            "billing_url": f"https://app.kapso.ai/projects/{self.store.project_id}/billing",
                        },
                    )
                )
            if marketing and self._policy.marketing_stopped(to, config["id"]):
                text = "Contact stopped marketing messages on this WhatsApp number"
                raise ApiError(json_response(422, {"error": text, "code": "marketing_preference_stopped"}))
        elif not self._policy.window_open(to, config["id"]):
            raise meta_error(422, 131047, WINDOW_TEXT, subcode=131047)
        fields = v1_fields(message)
        meta = {
            key: message[key]
            for key in ("type", str(message["type"]), "context", "biz_opaque_callback_data")
            if key in message
        }
        with self.lock:
            conversation = self.store.find_or_create_conversation(to, config["id"])
            record = self.store.add_message(
                conversation["id"],
                direction="outbound",
                message_type=fields["message_type"],
                content=fields["content"],
                type_data=fields["type_data"],
                metadata=fields["metadata"],
                media_url=fields["media_url"],
                meta=meta,
            )
        self._replies.on_outbound(record)
        return json_response(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": normalize_phone(to)}],
                "messages": [{"id": record["whatsapp_message_id"], "message_status": "accepted"}],
            },
        )

    def _check_template(self, config: dict[str, Any], template: dict[str, Any]) -> bool:
        """Hold a template send to the template Kapso knows; returns whether it is a marketing template.

        A template the simulator does not know (the test never created it) is sent as given.
        """
        name, language = str(template["name"]), str(template["language"]["code"])
        known = self.store.templates.find(name, language, config["business_account_id"])
        if known is None:
            return False
        if known["status"] != "approved":
            raise meta_error(422, 132001, f"Template {name} ({language}) is {known['status']}, not approved")
        if self.store.templates.checks_parameters(known["id"]):
            given = [
                parameter
                for component in template.get("components") or []
                if component.get("type") == "body"
                for parameter in component.get("parameters") or []
            ]
            placeholders = template_placeholders(known["content"])
            if known["parameter_format"] == "NAMED":
                names = {str(parameter.get("parameter_name")) for parameter in given}
                missing = [placeholder for placeholder in placeholders if placeholder not in names]
                if missing:
                    text = f"Missing template parameters: {', '.join(missing)}"
                    raise meta_error(422, 132000, f"(#132000) Number of parameters does not match. {text}")
            elif len(given) != known["parameter_count"]:
                text = f"Template requires {known['parameter_count']} parameters, but {len(given)} were provided"
                raise meta_error(422, 132000, f"(#132000) Number of parameters does not match. {text}")
        return bool(known["category"] == "MARKETING")

    def _mark_read(self, config: dict[str, Any], request: dict[str, Any]) -> Response:
        try:
            record = self.store.message(str(request["message_id"]))
        except NotFoundError:
            raise meta_error(404, 100, "Message not found") from None
        if record["whatsapp_config_id"] != config["id"] or record["direction"] != "inbound":
            raise meta_error(400, 100, "(#100) message_id: only an inbound message of this number can be marked read")
        if record["status"] != "read":
            self.store.set_message_status(record["id"], "read")
        # Meta answers {"success": true}; the file documents only SendMessageResponse here (kapso-api-notes.md).
        return json_response(200, {"success": True})

    # -- reads ------------------------------------------------------------------------------------------

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        direction, status = query.get("direction"), query.get("status")
        if direction not in (None, "", "inbound", "outbound"):
            raise ValidationError("direction", "must be inbound or outbound", status=400)
        if status not in (None, "", "pending", "sent", "delivered", "read", "failed"):
            raise ValidationError("status", "must be one of: pending, sent, delivered, read, failed", status=400)
        since, until = query_time(query, "since"), query_time(query, "until")
        records = [
            record
            for record in self.store.list_messages()
            if record["whatsapp_config_id"] == config["id"]
            and (not query.get("conversation_id") or record["whatsapp_conversation_id"] == query["conversation_id"])
            and (not direction or record["direction"] == direction)
        ]
        self.store.advance_on_read([record["id"] for record in records])
        for conversation_id in {record["whatsapp_conversation_id"] for record in records}:
            self._replies.on_listing(conversation_id)
        records = [self.store.message(record["id"]) for record in records]
        records = [
            record
            for record in records
            if (not status or kapso_status(record) == status)
            and (since is None or record["created_at"] >= since)
            and (until is None or record["created_at"] <= until)
        ]
        records.sort(key=lambda record: (record["created_at"], record["id"]), reverse=True)
        page, paging = cursor_page(records, query, lambda record: (record["created_at"], record["id"]), links=False)
        fields = kapso_fields(query)
        return json_response(
            200,
            {
                "data": [message_view(self.store, record, api="meta", kapso_fields=fields) for record in page],
                "paging": paging,
            },
        )

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        try:
            record = self.store.message(params["message_id"])
        except NotFoundError:
            raise meta_error(404, 404, "Message not found") from None
        if record["whatsapp_config_id"] != config["id"]:
            raise meta_error(404, 404, "Message not found")
        self.store.advance_on_read([record["id"]])
        record = self.store.message(record["id"])
        return json_response(200, message_view(self.store, record, api="meta", kapso_fields=kapso_fields(query)))
