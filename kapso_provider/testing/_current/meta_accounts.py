"""The WhatsApp Cloud API proxy's account endpoints: templates of a Business Account, its phone numbers,
one phone number, a number's conversations, and media upload.

Templates are the store's (v1 lists them too). One created or updated here is ``PENDING`` and turns
``APPROVED`` or ``REJECTED`` after ``simulator.template_admin.review_reads`` reads, with
``review_verdict``, the way v1's syncs progress.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._current.cursor import cursor_page, query_time
from kapso_provider.testing._current.media import multipart_parts
from kapso_provider.testing._current.meta_messages import meta_error
from kapso_provider.testing._current.render import conversation_view
from kapso_provider.testing._errors import NotFoundError, ValidationError
from kapso_provider.testing._http import Response, json_response
from kapso_provider.testing._routing import ResourceGroup, route
from kapso_provider.testing._templates import TEMPLATE_CATEGORIES
from kapso_provider.testing._v1.template_rules import check_components, check_placeholder_style
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kapso_provider.testing._current.media import MediaBook
    from kapso_provider.testing._recording import RecordedRequest
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store
    from kapso_provider.testing._v1.templates import TemplateAdminGroup

__all__ = ["MetaAccountsGroup", "phone_number_summary"]

_NAME = re.compile(r"[a-z0-9_]{1,512}")
#: v1's review statuses as Meta shows them; the proxy's enum has these three only.
_META_STATUS = {"approved": "APPROVED", "rejected": "REJECTED", "draft": "PENDING", "submitted": "PENDING"}
_WABA = "/{business_account_id}"
_NUMBER = "/{phone_number_id}"


def phone_number_summary(config: dict[str, Any]) -> dict[str, Any]:
    """A business number as Meta's Graph API shows it (``PhoneNumberSummary``).

    :param config: its config record.
    """
    return {
        "id": config["phone_number_id"],
        "verified_name": config["name"],
        "display_phone_number": config["display_phone_number"],
        "quality_rating": "GREEN",
        "code_verification_status": "VERIFIED",
        "is_official_business_account": False,
        "name_status": "APPROVED",
        "platform_type": "CLOUD_API",
        "throughput": {"level": "STANDARD"},
        "account_mode": "SANDBOX" if config["kind"] == "sandbox" else "LIVE",
        "messaging_limit_tier": "TIER_1K",
    }


def _refuse(field: str, problem: str) -> ValidationError:
    return ValidationError(field, problem, status=400)


class MetaAccountsGroup(ResourceGroup):
    """The proxy's templates, phone numbers, conversations and media upload.

    :param store: the simulator's store.
    :param templates: the templates group, which keeps the review settings.
    :param media: the uploaded media.
    :param assignee: the active assignee of a conversation (for the conversation filters), or ``None``.
    """

    def __init__(
        self,
        store: Store,
        templates: TemplateAdminGroup,
        media: MediaBook,
        assignee: Callable[[str], str | None],
    ) -> None:
        super().__init__(store)
        self._templates = templates
        self._media = media
        self._assignee = assignee

    def routes(self) -> list[Route]:
        """Templates, phone numbers, conversations, media; the bare ``/{phone_number_id}`` last."""
        return [
            route("GET", _WABA + "/message_templates", self._list_templates),
            route("POST", _WABA + "/message_templates", self._save_template),
            route("DELETE", _WABA + "/message_templates", self._delete_template),
            route("GET", _WABA + "/message_templates/{template_id}", self._get_template),
            route("GET", _WABA + "/phone_numbers", self._list_numbers),
            route("GET", _NUMBER + "/conversations", self._list_conversations),
            route("GET", _NUMBER + "/conversations/{conversation_id}", self._get_conversation),
            route("POST", _NUMBER + "/media", self._upload, raw_body=True),
            route("GET", _NUMBER, self._get_number, documented_as=("/{phone_number_id}",)),
        ]

    # -- templates --------------------------------------------------------------------------------------

    def _account(self, waba: str) -> list[dict[str, Any]]:
        configs = [config for config in self.store.configs() if config["business_account_id"] == waba]
        if not configs:
            raise NotFoundError("Business Account", waba)
        return configs

    def _view(self, template: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.store.templates.meta_id(template["id"]),
            "name": template["name"],
            "language": template["language_code"],
            "status": _META_STATUS[template["status"]],
            "category": template["category"],
            "components": template["components"],
        }

    def _shown(self, waba: str) -> list[dict[str, Any]]:
        # Disabled and removed templates have no status in the proxy's enum: it does not show them.
        ids = [
            template["id"]
            for template in self.store.templates.all()
            if template["business_account_id"] == waba and template["status"] in _META_STATUS
        ]
        return self._templates.on_read(ids)

    def _list_templates(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        self._account(params["business_account_id"])
        status, category = query.get("status"), query.get("category")
        if status not in (None, "", "APPROVED", "PENDING", "REJECTED"):
            raise _refuse("status", "must be one of: APPROVED, PENDING, REJECTED")
        if category not in (None, "", *TEMPLATE_CATEGORIES):
            raise _refuse("category", f"must be one of: {', '.join(TEMPLATE_CATEGORIES)}")
        views = [
            view
            for view in map(self._view, self._shown(params["business_account_id"]))
            if (not query.get("name") or view["name"] == query["name"])
            and (not status or view["status"] == status)
            and (not category or view["category"] == category)
            and (not query.get("language") or view["language"] == query["language"])
        ]
        views.sort(key=lambda view: (view["name"], view["id"]))
        page, paging = cursor_page(views, query, lambda view: (view["id"],), columns=("id",), links=False)
        return json_response(200, {"data": page, "paging": paging})

    def _get_template(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        self._account(params["business_account_id"])
        template = self.store.templates.by_meta_id(params["template_id"])
        if template["business_account_id"] != params["business_account_id"] or template["status"] not in _META_STATUS:
            raise NotFoundError("Template", params["template_id"])
        return json_response(200, self._view(self._templates.on_read([template["id"]])[0]))

    def _save_template(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        waba = params["business_account_id"]
        configs = self._account(waba)
        if not isinstance(body, dict):
            raise _refuse("body", "must be a JSON object")
        if query.get("hsm_id"):
            return self._update_template(waba, query["hsm_id"], body)
        for field in ("name", "language", "category", "components"):
            if body.get(field) is None:
                raise _refuse(field, "is required to create a template")
        name = str(body["name"])
        if not _NAME.fullmatch(name):
            raise _refuse("name", "may hold only lowercase letters, digits and underscores")
        if body["category"] not in TEMPLATE_CATEGORIES:
            raise _refuse("category", f"must be one of: {', '.join(TEMPLATE_CATEGORIES)}")
        parameter_format = body.get("parameter_format", "POSITIONAL")
        if parameter_format not in ("NAMED", "POSITIONAL"):
            raise _refuse("parameter_format", "must be NAMED or POSITIONAL")
        components = self._components(body["components"], parameter_format)
        if self.store.templates.find(name, str(body["language"]), waba) is not None:
            raise meta_error(400, 100, f"(#100) Message template {name} ({body['language']}) already exists")
        created = self.store.templates.create(
            name=name,
            language=str(body["language"]),
            category=str(body["category"]),
            status="draft",
            content=next(str(part["text"]) for part in components if part.get("type") == "BODY"),
            parameter_count=None,
            components=components,
            whatsapp_config_ids=[config["id"] for config in configs],
            parameter_format=parameter_format,
        )
        reviewed = self._templates.start_review(created["id"])
        view = self._view(reviewed)
        return json_response(200, {"id": view["id"], "status": view["status"], "category": view["category"]})

    def _update_template(self, waba: str, hsm_id: str, body: dict[str, Any]) -> Response:
        template = self.store.templates.by_meta_id(hsm_id)
        if template["business_account_id"] != waba:
            raise NotFoundError("Template", hsm_id)
        changes: dict[str, Any] = {}
        if body.get("category") is not None:
            if body["category"] not in TEMPLATE_CATEGORIES:
                raise _refuse("category", f"must be one of: {', '.join(TEMPLATE_CATEGORIES)}")
            changes["category"] = body["category"]
        if body.get("components") is not None:
            changes["components"] = self._components(body["components"], template["parameter_format"])
        self.store.templates.update(template["id"], **changes)
        self._templates.start_review(template["id"])
        return json_response(200, {"success": True})

    @staticmethod
    def _components(value: object, parameter_format: str) -> list[dict[str, Any]]:
        try:
            components = check_components(value, "components")
            check_placeholder_style(components, parameter_format)
        except ValidationError as exc:
            raise _refuse(exc.field.removeprefix("template."), exc.problem) from None
        return components

    def _delete_template(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        waba = params["business_account_id"]
        self._account(waba)
        name, hsm_id = query.get("name"), query.get("hsm_id")
        if not name and not hsm_id:
            raise _refuse("name", "or hsm_id is required to say which template to delete")
        doomed = [
            template["id"]
            for template in self.store.templates.all()
            if template["business_account_id"] == waba
            and (not name or template["name"] == name)
            and (not hsm_id or self.store.templates.meta_id(template["id"]) == hsm_id)
        ]
        if not doomed:
            raise NotFoundError("Template", name or str(hsm_id))
        for template_id in doomed:
            self.store.templates.delete(template_id)
        return json_response(200, {"success": True})

    # -- phone numbers ----------------------------------------------------------------------------------

    def _list_numbers(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        configs = self._account(params["business_account_id"])
        return json_response(200, {"data": [phone_number_summary(config) for config in configs]})

    def _get_number(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, phone_number_summary(self.store.config_by_phone_number_id(params["phone_number_id"])))

    # -- conversations ----------------------------------------------------------------------------------

    def _list_conversations(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        status = query.get("status")
        if status not in (None, "", "active", "ended"):
            raise _refuse("status", "must be active or ended")
        assigned, unassigned = query.get("assigned_user_id"), query.get("unassigned")
        if assigned and unassigned:
            raise ValidationError("unassigned", "cannot be combined with assigned_user_id", status=422)
        if unassigned not in (None, "", "true", "false"):
            raise _refuse("unassigned", "must be true or false")
        phone = normalize_phone(query.get("phone_number") or "")
        since, until = query_time(query, "last_active_since"), query_time(query, "last_active_until")
        selected = [
            conversation
            for conversation in self.store.conversations()
            if conversation["whatsapp_config_id"] == config["id"]
            and (not status or conversation["status"] == status)
            and (not phone or normalize_phone(conversation["phone_number"]) == phone)
            and (not assigned or self._assignee(conversation["id"]) == assigned)
            and (unassigned != "true" or self._assignee(conversation["id"]) is None)
            and (not since or conversation["last_active_at"] >= since)
            and (not until or conversation["last_active_at"] <= until)
        ]
        selected.sort(key=lambda item: (item["last_active_at"], item["id"]), reverse=True)
        page, paging = cursor_page(
            selected,
            query,
            lambda item: (item["last_active_at"], item["id"]),
            columns=("last_active_at", "id"),
            links=False,
        )
        return json_response(
            200, {"data": [conversation_view(self.store, item, api="meta") for item in page], "paging": paging}
        )

    def _get_conversation(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        conversation = self.store.conversation(params["conversation_id"])
        if conversation["whatsapp_config_id"] != config["id"]:
            raise NotFoundError("Conversation", params["conversation_id"])
        return json_response(200, conversation_view(self.store, conversation, api="meta"))

    # -- media ------------------------------------------------------------------------------------------

    def _upload(self, params: Mapping[str, str], query: Mapping[str, str], body: RecordedRequest) -> Response:
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        parts = multipart_parts(str(body.headers.get("Content-Type") or ""), body.body)
        product = parts.get("messaging_product")
        if product is None or product[1].decode(errors="replace").strip() != "whatsapp":
            raise _refuse("messaging_product", 'must be "whatsapp"')
        if "file" not in parts:
            raise _refuse("file", "is required")
        headers, content = parts["file"]
        filename = headers.get("filename") or "file"
        mime_type = (parts.get("type", ({}, b""))[1].decode().strip() or headers.get("content-type", "")).split(";")[0]
        with self.lock:
            media = self._media.upload(
                phone_number_id=config["phone_number_id"],
                filename=filename,
                mime_type=mime_type.strip(),
                content=content,
            )
        return json_response(200, {"id": media["id"]})
