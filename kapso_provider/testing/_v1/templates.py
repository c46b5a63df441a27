"""v1 endpoints: every template endpoint (list, get, send, create, update, submit, edit on Meta, sync).

Templates live in the store's :class:`~kapso_provider.testing._templates.TemplateBook`, which the current
API's ``/{waba_id}/message_templates`` reads too. Components are stored and answered as an array, as
``openapi-whatsapp.yaml`` defines them (``openapi.yaml`` calls them an object). A template created here
can be sent once the test approves it (:meth:`TemplateAdminGroup.review`); syncs are jobs
(``template_sync.py``).
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._http import ApiError, Response, error, first, json_response, paginate
from kapso_provider.testing._routing import ResourceGroup, object_field, route
from kapso_provider.testing._templates import TEMPLATE_CATEGORIES
from kapso_provider.testing._v1.configs import resolve_config
from kapso_provider.testing._v1.template_rules import (
    check_components,
    check_placeholder_style,
    choice,
    render_template,
    string_field,
)
from kapso_provider.testing._v1.template_sync import TemplateSync
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._inbound_replies import ReplyScheduler
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

__all__ = ["TemplateAdminGroup"]

_PARAMETER_FORMATS = ("NAMED", "POSITIONAL")
# WhatsApp's rule for template names: lowercase letters, digits and underscores, at most 512 characters.
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_META_EDITABLE = ("approved", "rejected", "disabled")
_TEMPLATE = "/whatsapp_templates/{template_id}"


class TemplateAdminGroup(ResourceGroup):
    """Every v1 template endpoint, reached as ``simulator.template_admin``.

    Python control API for tests: :meth:`review` (Meta's verdict on a submitted template),
    :meth:`add_meta_template` (a template a sync will import), :meth:`fail_next_sync`,
    :attr:`sync_steps` (status reads a sync takes to finish; ``None``: it never finishes),
    :meth:`sync_runs` and :meth:`submissions`.

    :param store: the simulator's store.
    :param replies: the armed replies, told about every template send.
    """

    def __init__(self, store: Store, replies: ReplyScheduler) -> None:
        super().__init__(store)
        self._replies = replies
        self._sync = TemplateSync(store)
        self._submissions: list[dict[str, Any]] = []
        #: Template id -> reads of it through the proxy since its review started.
        self._reviews: dict[str, int] = {}
        self.review_reads: int | None = 1
        self.review_verdict = "approved"

    # -- control API ------------------------------------------------------------------------------------

    def review(self, template_id: str, status: str = "approved") -> dict[str, Any]:
        """Give Meta's verdict on a template: ``approved``, ``rejected`` or ``disabled``; returns the record.

        :param template_id: the template's id.
        :param status: the new status.
        :raises NotFoundError: for an unknown template.
        """
        if status not in ("approved", "rejected", "disabled", "submitted", "draft"):
            raise ValueError("status must be approved, rejected, disabled, submitted or draft")
        return self.store.templates.update(template_id, status=status)

    def add_meta_template(
        self,
        name: str,
        language: str = "en_US",
        *,
        content: str = "Hello from Meta!",
        category: str = "UTILITY",
        status: str = "approved",
        business_account_id: str | None = None,
    ) -> None:
        """Put a template "on Meta" for the next successful sync of its Business Account to import.

        :param name: template name.
        :param language: language code.
        :param content: body text.
        :param category: its category.
        :param status: its review status on Meta.
        :param business_account_id: its WABA (the default config's when ``None``).
        """
        with self.lock:
            self._sync.add_meta_template(
                name=name,
                language=language,
                content=content,
                category=category,
                status=status,
                business_account_id=business_account_id,
            )

    def fail_next_sync(
        self, error_class: str = "WhatsappApiError", error_message: str = "Invalid access token"
    ) -> None:
        """Make the next sync run requested end ``failed`` with this error.

        :param error_class: the run's ``error_class``.
        :param error_message: the run's ``error_message``.
        """
        with self.lock:
            self._sync.fail_next(error_class, error_message)

    @property
    def sync_steps(self) -> int | None:
        """Status reads a sync run takes to finish (2 by default); ``None``: it never finishes."""
        return self._sync.steps

    @sync_steps.setter
    def sync_steps(self, value: int | None) -> None:
        with self.lock:
            self._sync.steps = value

    @property
    def review_reads(self) -> int | None:
        """Reads (through the proxy's template list or get) a template created or updated there stays
        ``PENDING`` before Meta's verdict (:attr:`review_verdict`) shows; ``None``: it stays pending."""
        return self._review_reads

    @review_reads.setter
    def review_reads(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError("review_reads must be an integer >= 0 or None")
        self._review_reads = value

    @property
    def review_verdict(self) -> str:
        """Meta's verdict on templates created or updated through the proxy: ``approved`` or ``rejected``."""
        return self._review_verdict

    @review_verdict.setter
    def review_verdict(self, value: str) -> None:
        if value not in ("approved", "rejected"):
            raise ValueError("review_verdict must be 'approved' or 'rejected'")
        self._review_verdict = value

    def start_review(self, template_id: str) -> dict[str, Any]:
        """Send a template to Meta's review: it is ``submitted`` (``PENDING``) until read often enough.

        :param template_id: the template's id.
        """
        with self.lock:
            self._reviews[template_id] = 0
            record = self.store.templates.update(template_id, status="submitted")
        return self.on_read([template_id])[0] if self._review_reads == 0 else record

    def on_read(self, template_ids: list[str]) -> list[dict[str, Any]]:
        """One read of these templates through the proxy: reviews in progress move towards the verdict.

        :param template_ids: the templates read.
        :returns: the templates as they now are.
        """
        with self.lock:
            for template_id in template_ids:
                if template_id not in self._reviews:
                    continue
                self._reviews[template_id] += 1
                if self._review_reads is not None and self._reviews[template_id] >= self._review_reads:
                    del self._reviews[template_id]
                    self.store.templates.update(template_id, status=self._review_verdict)
            return [self.store.templates.get(template_id) for template_id in template_ids]

    def sync_runs(self) -> list[dict[str, Any]]:
        """Every sync run (copies), oldest first."""
        with self.lock:
            return self._sync.runs()

    def submissions(self) -> list[dict[str, Any]]:
        """Every template submission received (template id and submission id), oldest first."""
        with self.lock:
            return [dict(submission) for submission in self._submissions]

    def reset(self) -> None:
        """Forget sync runs, Meta templates, submissions, reviews and planned failures; settings back to their
        defaults (``sync_steps`` 2, ``review_reads`` 1, ``review_verdict`` approved)."""
        self._sync.reset()
        self._submissions.clear()
        self._reviews.clear()
        self.review_reads = 1
        self.review_verdict = "approved"

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Sync paths first, so that ``sync`` and ``sync_status`` are never taken for template ids."""
        return [
            route("POST", "/whatsapp_templates/sync", self._request_sync),
            route("GET", "/whatsapp_templates/sync_status", self._sync_status),
            route("GET", "/whatsapp_templates", self._list),
            route("POST", "/whatsapp_templates", self._create),
            route("GET", _TEMPLATE, self._get),
            route("PATCH", _TEMPLATE, self._update),
            route("POST", _TEMPLATE + "/send_template", self._send),
            route("POST", _TEMPLATE + "/submit", self._submit),
            route("PATCH", _TEMPLATE + "/meta", self._edit_on_meta),
        ]

    # -- helpers ----------------------------------------------------------------------------------------

    def _config_ids(self, config_id: object, customer_id: object, *, status: int) -> list[str]:
        """The configs a request names: one config, a customer's configs, or every config."""
        configs = self.store.configs()
        if config_id is not None:
            if config_id not in {config["id"] for config in configs}:
                raise ApiError(error(status, "Production WhatsApp configuration not found"))
            return [str(config_id)]
        if customer_id is not None:
            owned = [config["id"] for config in configs if config.get("customer_id") == customer_id]
            if not owned:
                raise ApiError(error(404, "Customer not found"))
            return owned
        return [config["id"] for config in configs]

    def _wabas(self, config_ids: list[str]) -> set[str]:
        return {self.store.config(key)["business_account_id"] for key in config_ids}

    @staticmethod
    def _owner(body: dict[str, Any]) -> tuple[str | None, str | None]:
        return (
            string_field(body.get("whatsapp_config_id"), "whatsapp_config_id"),
            string_field(body.get("customer_id"), "customer_id"),
        )

    # -- list, get, send --------------------------------------------------------------------------------

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        name = first(query, "q[name_cont]")
        language = first(query, "q[language_code_eq]")
        category = first(query, "q[category_eq]")
        status = first(query, "q[status_eq]")
        waba = first(query, "q[business_account_id_eq]", "business_account_id")
        config_id = first(query, "q[whatsapp_config_id_eq]", "whatsapp_config_id")
        selected = [
            template
            for template in self.store.templates.all()
            if (name is None or name.lower() in template["name"].lower())
            and (language is None or template["language_code"] == language)
            and (category is None or template["category"] == category)
            and (status is None or template["status"] == status)
            and (waba is None or template["business_account_id"] == waba)
            and (config_id is None or config_id in template["whatsapp_config_ids"])
        ]
        return paginate(selected, query)

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self.store.templates.get(params["template_id"])})

    def _send(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        template = self.store.templates.get(params["template_id"])
        request = body.get("template") if isinstance(body, dict) else None
        if not isinstance(request, dict):
            raise ValidationError("template", "is required" if request is None else "must be an object")
        phone = request.get("phone_number")
        if not isinstance(phone, str) or not normalize_phone(phone):
            raise ValidationError("template.phone_number", "is required" if phone is None else "is invalid")
        rendered, template_params = render_template(
            template,
            request.get("template_parameters"),
            "template.template_parameters",
            checked=self.store.templates.checks_parameters(template["id"]),
        )
        header_type = request.get("header_type")
        if header_type is not None and header_type not in ("text", "image", "video", "document"):
            raise ValidationError("template.header_type", "must be one of: text, image, video, document")
        if request.get("whatsapp_config_id") is None and request.get("customer_id") is None:
            config_id = template["whatsapp_config_ids"][0]
        else:
            config_id = resolve_config(self.store, request.get("whatsapp_config_id"), request.get("customer_id"))
            if config_id not in template["whatsapp_config_ids"]:
                raise ApiError(
                    error(
                        422,
                        "template: is not available on this WhatsApp configuration",
                        error="WhatsApp configuration not found",
                    )
                )
        message: dict[str, Any] = {
            "message_type": "template",
            "content": rendered,
            "template_name": template["name"],
            "template_language": template["language_code"],
            "template_params": template_params,
            "template_id": template["id"],
        }
        for key in ("header_type", "header_params", "header_filename"):
            if request.get(key) is not None:
                message[key] = request[key]
        with self.lock:
            conversation = self.store.find_or_create_conversation(phone, config_id)
            record = self.store.store_outbound(conversation["id"], message)
        self._replies.on_outbound(record)
        return json_response(
            200,
            {
                "status": "success",
                "message": "Template message sent successfully",
                "template_id": template["id"],
                "template_name": template["name"],
                "response": {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": phone, "wa_id": normalize_phone(phone)}],
                    "messages": [{"id": record["whatsapp_message_id"], "message_status": "accepted"}],
                },
            },
        )

    # -- create, update, submit, edit on Meta ------------------------------------------------------------

    def _create(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        template = object_field(body, "template")
        name = string_field(template.get("name"), "template.name", required=True)
        assert name is not None
        if not _TEMPLATE_NAME.fullmatch(name):
            raise ValidationError("template.name", "may hold only lowercase letters, digits and underscores")
        language = string_field(template.get("language_code"), "template.language_code", required=True)
        if template.get("category") is None:
            raise ValidationError("template.category", "is required")
        choice(template.get("category"), "template.category", TEMPLATE_CATEGORIES)
        choice(template.get("parameter_format"), "template.parameter_format", _PARAMETER_FORMATS)
        if template.get("components") is None:
            raise ValidationError("template.components", "is required")
        components = check_components(template["components"])
        parameter_format = template.get("parameter_format") or "POSITIONAL"
        check_placeholder_style(components, parameter_format)
        config_id, customer_id = self._owner(body)
        with self.lock:
            config_ids = self._config_ids(config_id, customer_id, status=422)
            wabas = self._wabas(config_ids)
            if len(wabas) > 1:
                raise ValidationError(
                    "whatsapp_config_id", "configs of different Business Accounts cannot share a template"
                )
            if self.store.templates.find(name, language, wabas.pop()) is not None:
                raise ApiError(
                    json_response(422, {"error": "Invalid template", "errors": ["Name has already been taken"]})
                )
            created = self.store.templates.create(
                name=name,
                language=str(language),
                category=str(template["category"]),
                status="draft",
                content=next(str(part["text"]) for part in components if part.get("type") == "BODY"),
                parameter_count=None,
                components=components,
                whatsapp_config_ids=config_ids,
                parameter_format=parameter_format,
            )
        return json_response(201, {"data": created})

    def _update(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self.store.templates.get(params["template_id"])
            if not isinstance(body, dict) or not isinstance(body.get("template"), dict):
                raise ValidationError("template", "is required")
            changes = body["template"]
            if record["status"] != "draft":
                raise ApiError(json_response(422, {"error": "Only draft templates can be updated", "errors": []}))
            name = string_field(changes.get("name"), "template.name")
            if name is not None and not _TEMPLATE_NAME.fullmatch(name):
                raise ValidationError("template.name", "may hold only lowercase letters, digits and underscores")
            language = string_field(changes.get("language_code"), "template.language_code")
            choice(changes.get("category"), "template.category", TEMPLATE_CATEGORIES)
            choice(changes.get("parameter_format"), "template.parameter_format", _PARAMETER_FORMATS)
            components = (
                check_components(changes["components"])
                if changes.get("components") is not None
                else record["components"]
            )
            parameter_format = changes.get("parameter_format") or record.get("parameter_format") or "POSITIONAL"
            check_placeholder_style(components, parameter_format)
            fields: dict[str, Any] = {"components": components, "parameter_format": parameter_format}
            if name is not None:
                fields["name"] = name
            if language is not None:
                fields["language_code"] = language
            if changes.get("category") is not None:
                fields["category"] = changes["category"]
            return json_response(200, {"data": self.store.templates.update(record["id"], **fields)})

    def _submit(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        if body is not None and not isinstance(body, dict):
            raise ValidationError("body", "must be a JSON object")
        config_id, customer_id = self._owner(body or {})
        with self.lock:
            record = self.store.templates.get(params["template_id"])
            if config_id is not None or customer_id is not None:
                self._config_ids(config_id, customer_id, status=422)
            if record["status"] != "draft":
                raise ApiError(
                    json_response(
                        422,
                        {
                            "status": "error",
                            "message": "Failed to submit template",
                            "error": "Only draft templates can be submitted",
                        },
                    )
                )
            record = self.store.templates.update(record["id"], status="submitted")
            submission_id = str(uuid.uuid4().int)[:15]
            self._submissions.append({"template_id": record["id"], "submission_id": submission_id})
        return json_response(
            200,
            {
                "status": "success",
                "message": "Template submitted successfully",
                "template_id": record["id"],
                "template_name": record["name"],
                "submission_id": submission_id,
                "data": record,
            },
        )

    def _edit_on_meta(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self.store.templates.get(params["template_id"])
            if not isinstance(body, dict) or not isinstance(body.get("template"), dict):
                raise ValidationError("template", "is required")
            changes = body["template"]
            if record["status"] not in _META_EDITABLE:
                editable = ", ".join(_META_EDITABLE)
                text = f"Only {editable} templates can be edited on Meta, not {record['status']}"
                raise ApiError(json_response(422, {"error": text}))
            category = changes.get("category")
            choice(category, "template.category", TEMPLATE_CATEGORIES)
            if category is not None and category != record["category"] and record["status"] == "approved":
                raise ApiError(json_response(422, {"error": "Cannot edit the category of an approved template"}))
            ttl = changes.get("time_to_live")
            if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
                raise ValidationError("template.time_to_live", "must be an integer")
            fields: dict[str, Any] = {}
            if changes.get("components") is not None:
                components = check_components(changes["components"])
                check_placeholder_style(components, record.get("parameter_format") or "POSITIONAL")
                fields["components"] = components
            if category is not None:
                fields["category"] = category
            if ttl is not None:
                fields["metadata"] = {**record["metadata"], "time_to_live": ttl}
            return json_response(200, {"data": self.store.templates.update(record["id"], **fields)})

    # -- sync -------------------------------------------------------------------------------------------

    def _request_sync(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        if body is not None and not isinstance(body, dict):
            raise ValidationError("body", "must be a JSON object")
        config_id, customer_id = self._owner(body or {})
        with self.lock:
            config_ids = self._config_ids(config_id, customer_id, status=404)
            return json_response(202, self._sync.request(config_ids))

    def _sync_status(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            wabas: set[str] | None = None
            if query.get("business_account_id"):
                wabas = {query["business_account_id"]}
            config_id, customer_id = query.get("whatsapp_config_id"), query.get("customer_id")
            if config_id or customer_id:
                named = self._wabas(self._config_ids(config_id or None, customer_id or None, status=404))
                wabas = named if wabas is None else wabas & named
            return json_response(200, self._sync.status(query, wabas))
