"""Simulator endpoints: template create, update, submit, edit on Meta, sync and sync status.

Written from ``openapi-whatsapp.yaml``, the only file defining these endpoints. Templates live in the
core's ``store.templates`` (listed, read and sent by the core), so a template created here can be sent
once the test approves it (:meth:`TemplateAdminGroup.review`). Components are stored and answered as an
array, as ``openapi-whatsapp.yaml`` defines them (``openapi.yaml`` calls them an object).

A sync is a job: it is ``queued`` when requested and moves one step on every ``sync_status`` read that
includes it (``running``, then its outcome), so a client polling it sees it progress and finish without
depending on time. When it succeeds, the templates the test put "on Meta" (:meth:`add_meta_template`)
are created or updated in the store, and the run counts them.
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from kapso_provider.testing._http import ApiError, Response, error, json_response
from kapso_provider.testing._resources._base import ResourceGroup, route
from kapso_provider.testing._store import NotFoundError
from kapso_provider.testing._validation import ValidationError, template_placeholders

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._resources._base import Route

__all__ = ["TemplateAdminGroup"]

_CATEGORIES = ("MARKETING", "UTILITY", "AUTHENTICATION")
_PARAMETER_FORMATS = ("NAMED", "POSITIONAL")
_COMPONENT_TYPES = ("HEADER", "BODY", "FOOTER", "BUTTONS")
_HEADER_FORMATS = ("TEXT", "IMAGE", "VIDEO", "DOCUMENT", "LOCATION")
_BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER")
# WhatsApp's rule for template names: lowercase letters, digits and underscores, at most 512 characters.
_TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
_META_EDITABLE = ("approved", "rejected", "disabled")
_SYNC_ACTIVE = ("queued", "running")
_SYNC_OUTCOMES = ("succeeded", "failed")
_TEMPLATE_ID = r"(?P<id>[^/]+)"


def _string(value: object, field: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise ValidationError(field, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(field, "must be a string")
    if not value.strip():
        raise ValidationError(field, "can't be blank")
    return value


def _choice(value: object, field: str, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise ValidationError(field, f"must be one of: {', '.join(choices)}")


def _components(value: object, field: str = "template.components") -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValidationError(field, "must be an array of component objects")
    if not value:
        raise ValidationError(field, "must have at least one component")
    bodies = 0
    for index, component in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(component, dict):
            raise ValidationError(where, "must be an object")
        kind = component.get("type")
        if kind is None:
            raise ValidationError(f"{where}.type", "is required")
        _choice(kind, f"{where}.type", _COMPONENT_TYPES)
        _choice(component.get("format"), f"{where}.format", _HEADER_FORMATS)
        _string(component.get("text"), f"{where}.text")
        if kind == "BODY":
            bodies += 1
            _string(component.get("text"), f"{where}.text", required=True)
        if kind == "BUTTONS":
            buttons = component.get("buttons")
            if not isinstance(buttons, list) or not buttons:
                raise ValidationError(f"{where}.buttons", "must be a non-empty array for a BUTTONS component")
            for button_index, button in enumerate(buttons):
                if not isinstance(button, dict):
                    raise ValidationError(f"{where}.buttons[{button_index}]", "must be an object")
                _choice(button.get("type"), f"{where}.buttons[{button_index}].type", _BUTTON_TYPES)
    if bodies != 1:
        # WhatsApp requires exactly one BODY in a template.
        raise ValidationError(field, "must have exactly one BODY component")
    return copy.deepcopy(value)


def _body_text(components: list[dict[str, Any]]) -> str:
    return next(str(component["text"]) for component in components if component.get("type") == "BODY")


def _check_parameters(components: list[dict[str, Any]], parameter_format: str) -> None:
    placeholders = [
        name
        for component in components
        if isinstance(component.get("text"), str)
        for name in template_placeholders(component["text"])
    ]
    if parameter_format == "POSITIONAL":
        named = [name for name in placeholders if not name.isdigit()]
        if named:
            raise ValidationError("template.components", f"POSITIONAL templates use {{{{1}}}}, got {{{{{named[0]}}}}}")
    else:
        numbered = [name for name in placeholders if name.isdigit()]
        if numbered:
            raise ValidationError("template.components", f"NAMED templates use {{{{name}}}}, got {{{{{numbered[0]}}}}}")


def _counts() -> dict[str, int]:
    return {"templates_synced": 0, "templates_created": 0, "templates_updated": 0, "templates_removed": 0}


class TemplateAdminGroup(ResourceGroup):
    """The simulator's template create, update, submit, edit on Meta, sync and sync status.

    Python control API for tests: :meth:`review` (Meta's verdict on a submitted template),
    :meth:`add_meta_template` (a template a sync will import), :meth:`fail_next_sync`,
    :attr:`sync_steps` (status reads a sync takes to finish; ``None``: it never finishes),
    :meth:`sync_runs` and :meth:`submissions`.
    """

    def __init__(self, simulator: Any) -> None:
        super().__init__(simulator)
        self._runs: dict[str, dict[str, Any]] = {}
        self._reads: dict[str, int] = {}
        self._outcomes: dict[str, tuple[str, str | None, str | None]] = {}
        self._meta_templates: list[dict[str, Any]] = []
        self._next_failure: tuple[str, str] | None = None
        self._submissions: list[dict[str, Any]] = []
        self.sync_steps: int | None = 2

    # -- control API ------------------------------------------------------------------------------------

    def review(self, template_id: str, status: str = "approved") -> dict[str, Any]:
        """Give Meta's verdict on a template: ``approved``, ``rejected`` or ``disabled``; returns the record.

        :param template_id: the template's id.
        :param status: the new status.
        :raises NotFoundError: for an unknown template.
        """
        if status not in ("approved", "rejected", "disabled", "submitted", "draft"):
            raise ValueError("status must be approved, rejected, disabled, submitted or draft")
        with self.lock:
            record = self._template(template_id)
            record["status"] = status
            record["updated_at"] = self.store.now()
            return copy.deepcopy(record)

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
        if category not in _CATEGORIES:
            raise ValueError(f"category must be one of {_CATEGORIES}")
        with self.lock:
            waba = business_account_id or self.store.configs[self.store.default_config_id]["business_account_id"]
            self._meta_templates.append(
                {
                    "name": name,
                    "language": language,
                    "content": content,
                    "category": category,
                    "status": status,
                    "business_account_id": waba,
                }
            )

    def fail_next_sync(
        self, error_class: str = "WhatsappApiError", error_message: str = "Invalid access token"
    ) -> None:
        """Make the next sync run requested end ``failed`` with this error.

        :param error_class: the run's ``error_class``.
        :param error_message: the run's ``error_message``.
        """
        with self.lock:
            self._next_failure = (error_class, error_message)

    def sync_runs(self) -> list[dict[str, Any]]:
        """Every sync run (copies), oldest first."""
        with self.lock:
            return copy.deepcopy(list(self._runs.values()))

    def submissions(self) -> list[dict[str, Any]]:
        """Every template submission received (template id and submission id), oldest first."""
        with self.lock:
            return copy.deepcopy(self._submissions)

    def reset(self) -> None:
        """Forget sync runs, Meta templates, submissions and planned failures; ``sync_steps`` back to 2."""
        self._runs.clear()
        self._reads.clear()
        self._outcomes.clear()
        self._meta_templates.clear()
        self._next_failure = None
        self._submissions.clear()
        self.sync_steps = 2

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Sync paths first, so that ``sync`` and ``sync_status`` are never taken for template ids."""
        return [
            route("POST", r"/whatsapp_templates/sync", self._sync),
            route("GET", r"/whatsapp_templates/sync_status", self._sync_status),
            route("POST", r"/whatsapp_templates", self._create),
            route("PATCH", rf"/whatsapp_templates/{_TEMPLATE_ID}", self._update),
            route("POST", rf"/whatsapp_templates/{_TEMPLATE_ID}/submit", self._submit),
            route("PATCH", rf"/whatsapp_templates/{_TEMPLATE_ID}/meta", self._edit_on_meta),
        ]

    # -- helpers ----------------------------------------------------------------------------------------

    def _template(self, template_id: str) -> dict[str, Any]:
        record = self.store.templates.get(template_id)
        if record is None:
            raise NotFoundError("Template", template_id)
        return record

    def _config_ids(self, config_id: object, customer_id: object, *, status: int) -> list[str]:
        """The configs a request names: one config, a customer's configs, or every config."""
        configs = self.store.configs
        if config_id is not None:
            if config_id not in configs:
                raise ApiError(error(status, "Production WhatsApp configuration not found"))
            return [str(config_id)]
        if customer_id is not None:
            owned = [key for key, config in configs.items() if config.get("customer_id") == customer_id]
            if not owned:
                raise ApiError(error(404, "Customer not found"))
            return owned
        return list(configs)

    @staticmethod
    def _owner(body: dict[str, Any]) -> tuple[str | None, str | None]:
        return (
            _string(body.get("whatsapp_config_id"), "whatsapp_config_id"),
            _string(body.get("customer_id"), "customer_id"),
        )

    # -- create, update, submit, edit on Meta ------------------------------------------------------------

    def _create(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        if not isinstance(body, dict):
            raise ValidationError("body", "must be a JSON object")
        template = body.get("template")
        if not isinstance(template, dict):
            raise ValidationError("template", "is required" if template is None else "must be an object")
        name = _string(template.get("name"), "template.name", required=True)
        assert name is not None
        if not _TEMPLATE_NAME.fullmatch(name):
            raise ValidationError("template.name", "may hold only lowercase letters, digits and underscores")
        language = _string(template.get("language_code"), "template.language_code", required=True)
        if template.get("category") is None:
            raise ValidationError("template.category", "is required")
        _choice(template.get("category"), "template.category", _CATEGORIES)
        _choice(template.get("parameter_format"), "template.parameter_format", _PARAMETER_FORMATS)
        if template.get("components") is None:
            raise ValidationError("template.components", "is required")
        components = _components(template["components"])
        parameter_format = template.get("parameter_format") or "POSITIONAL"
        _check_parameters(components, parameter_format)
        config_id, customer_id = self._owner(body)
        with self.lock:
            config_ids = self._config_ids(config_id, customer_id, status=422)
            wabas = {self.store.configs[key]["business_account_id"] for key in config_ids}
            if len(wabas) > 1:
                raise ValidationError(
                    "whatsapp_config_id", "configs of different Business Accounts cannot share a template"
                )
            waba = wabas.pop()
            for record in self.store.templates.values():
                if (record["name"], record["language_code"], record["business_account_id"]) == (name, language, waba):
                    raise ApiError(
                        json_response(422, {"error": "Invalid template", "errors": ["Name has already been taken"]})
                    )
            created = self.store.create_template(
                name=name,
                language=str(language),
                category=str(template["category"]),
                status="draft",
                content=_body_text(components),
                parameter_count=None,
                components=components,
                whatsapp_config_ids=config_ids,
            )
            self.store.templates[created["id"]]["parameter_format"] = parameter_format
            return json_response(201, {"data": copy.deepcopy(self.store.templates[created["id"]])})

    def _update(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._template(unquote(match["id"]))
            if not isinstance(body, dict) or not isinstance(body.get("template"), dict):
                raise ValidationError("template", "is required")
            changes = body["template"]
            if record["status"] != "draft":
                raise ApiError(json_response(422, {"error": "Only draft templates can be updated", "errors": []}))
            name = _string(changes.get("name"), "template.name")
            if name is not None and not _TEMPLATE_NAME.fullmatch(name):
                raise ValidationError("template.name", "may hold only lowercase letters, digits and underscores")
            language = _string(changes.get("language_code"), "template.language_code")
            _choice(changes.get("category"), "template.category", _CATEGORIES)
            _choice(changes.get("parameter_format"), "template.parameter_format", _PARAMETER_FORMATS)
            components = (
                _components(changes["components"]) if changes.get("components") is not None else record["components"]
            )
            parameter_format = changes.get("parameter_format") or record.get("parameter_format") or "POSITIONAL"
            _check_parameters(components, parameter_format)
            if name is not None:
                record["name"] = name
            if language is not None:
                record["language_code"] = language
            if changes.get("category") is not None:
                record["category"] = changes["category"]
            self._set_components(record, components)
            record["parameter_format"] = parameter_format
            record["updated_at"] = self.store.now()
            return json_response(200, {"data": copy.deepcopy(record)})

    def _set_components(self, record: dict[str, Any], components: list[dict[str, Any]]) -> None:
        record["components"] = copy.deepcopy(components)
        record["content"] = _body_text(components)
        record["parameter_count"] = len(template_placeholders(record["content"]))
        self.store.lenient_templates.discard(record["id"])

    def _submit(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        if body is not None and not isinstance(body, dict):
            raise ValidationError("body", "must be a JSON object")
        config_id, customer_id = self._owner(body or {})
        with self.lock:
            record = self._template(unquote(match["id"]))
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
            record["status"] = "submitted"
            record["updated_at"] = self.store.now()
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
                    "data": copy.deepcopy(record),
                },
            )

    def _edit_on_meta(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._template(unquote(match["id"]))
            if not isinstance(body, dict) or not isinstance(body.get("template"), dict):
                raise ValidationError("template", "is required")
            changes = body["template"]
            if record["status"] not in _META_EDITABLE:
                editable = ", ".join(_META_EDITABLE)
                text = f"Only {editable} templates can be edited on Meta, not {record['status']}"
                raise ApiError(json_response(422, {"error": text}))
            category = changes.get("category")
            _choice(category, "template.category", _CATEGORIES)
            if category is not None and category != record["category"] and record["status"] == "approved":
                raise ApiError(json_response(422, {"error": "Cannot edit the category of an approved template"}))
            ttl = changes.get("time_to_live")
            if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int)):
                raise ValidationError("template.time_to_live", "must be an integer")
            if changes.get("components") is not None:
                components = _components(changes["components"])
                _check_parameters(components, record.get("parameter_format") or "POSITIONAL")
                self._set_components(record, components)
            if category is not None:
                record["category"] = category
            if ttl is not None:
                record["metadata"]["time_to_live"] = ttl
            record["updated_at"] = self.store.now()
            return json_response(200, {"data": copy.deepcopy(record)})

    # -- sync -------------------------------------------------------------------------------------------

    def _sync(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        if body is not None and not isinstance(body, dict):
            raise ValidationError("body", "must be a JSON object")
        config_id, customer_id = self._owner(body or {})
        with self.lock:
            config_ids = self._config_ids(config_id, customer_id, status=404)
            by_waba: dict[str, list[str]] = {}
            for key in config_ids:
                by_waba.setdefault(self.store.configs[key]["business_account_id"], []).append(key)
            runs, enqueued, in_progress = [], 0, 0
            for waba, affected in by_waba.items():
                active = next(
                    (
                        run
                        for run in self._runs.values()
                        if run["business_account_id"] == waba and run["status"] in _SYNC_ACTIVE
                    ),
                    None,
                )
                if active is not None:
                    # One active sync per Business Account: Kapso answers the existing one.
                    in_progress += 1
                    runs.append(copy.deepcopy(active))
                    continue
                runs.append(self._new_run(waba, affected))
                enqueued += 1
            return json_response(
                202,
                {
                    "status": "queued",
                    "sync_requests": runs,
                    "summary": {
                        "total_requests": len(runs),
                        "jobs_enqueued": enqueued,
                        "already_in_progress": in_progress,
                    },
                },
            )

    def _new_run(self, waba: str, affected: list[str]) -> dict[str, Any]:
        anchor = self.store.configs[affected[0]]
        run: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "business_account_id": waba,
            "anchor_whatsapp_config_id": anchor["id"],
            "status": "queued",
            **_counts(),
            "queued_at": self.store.now(),
            "started_at": None,
            "finished_at": None,
            "job_id": f"job-{uuid.uuid4().hex[:12]}",
            "error_class": None,
            "error_message": None,
            "results": {},
            "affected_whatsapp_config_ids": list(affected),
            "anchor_whatsapp_config": copy.deepcopy(anchor),
        }
        failure = self._next_failure
        self._next_failure = None
        self._outcomes[run["id"]] = ("failed", *failure) if failure else ("succeeded", None, None)
        self._runs[run["id"]] = run
        self._reads[run["id"]] = 0
        return copy.deepcopy(run)

    def _advance(self, run: dict[str, Any]) -> None:
        """One status read of a run: it starts, then finishes once it has been read ``sync_steps`` times."""
        if run["status"] not in _SYNC_ACTIVE:
            return
        self._reads[run["id"]] += 1
        if run["started_at"] is None:
            run["status"] = "running"
            run["started_at"] = self.store.now()
        if self.sync_steps is None or self._reads[run["id"]] < self.sync_steps:
            return
        outcome, error_class, error_message = self._outcomes[run["id"]]
        if outcome == "succeeded":
            self._import(run)
        else:
            run["error_class"] = error_class
            run["error_message"] = error_message
        run["status"] = outcome
        run["finished_at"] = self.store.now()

    def _import(self, run: dict[str, Any]) -> None:
        """Create or update the store's templates from the Meta templates of the run's account."""
        waba = run["business_account_id"]
        totals = _counts()
        for meta in self._meta_templates:
            if meta["business_account_id"] != waba:
                continue
            existing = next(
                (
                    record
                    for record in self.store.templates.values()
                    if (record["name"], record["language_code"], record["business_account_id"])
                    == (meta["name"], meta["language"], waba)
                ),
                None,
            )
            if existing is None:
                self.store.create_template(
                    name=meta["name"],
                    language=meta["language"],
                    category=meta["category"],
                    status=meta["status"],
                    content=meta["content"],
                    parameter_count=None,
                    components=None,
                    whatsapp_config_ids=list(run["affected_whatsapp_config_ids"]),
                )
                totals["templates_created"] += 1
            else:
                existing.update(category=meta["category"], status=meta["status"], updated_at=self.store.now())
                self._set_components(existing, [{"type": "BODY", "text": meta["content"]}])
                totals["templates_updated"] += 1
            totals["templates_synced"] += 1
        run.update(totals)
        run["results"] = {config_id: dict(totals) for config_id in run["affected_whatsapp_config_ids"][:1]}

    def _sync_status(self, match: re.Match[str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            runs = sorted(self._runs.values(), key=lambda run: str(run["queued_at"]), reverse=True)
            raw_ids = query.get("sync_request_ids")
            if raw_ids:
                wanted = {value for value in raw_ids.split(",") if value}
                runs = [run for run in runs if run["id"] in wanted]
            else:
                # Without ids: the latest run of each Business Account.
                latest: dict[str, dict[str, Any]] = {}
                for run in runs:
                    latest.setdefault(run["business_account_id"], run)
                runs = list(latest.values())
            wabas: set[str] | None = None
            if query.get("business_account_id"):
                wabas = {query["business_account_id"]}
            config_id, customer_id = query.get("whatsapp_config_id"), query.get("customer_id")
            if config_id or customer_id:
                configs = self._config_ids(config_id or None, customer_id or None, status=404)
                named = {self.store.configs[key]["business_account_id"] for key in configs}
                wabas = named if wabas is None else wabas & named
            if wabas is not None:
                runs = [run for run in runs if run["business_account_id"] in wabas]
            for run in runs:
                self._advance(run)
            finished = [str(run["finished_at"]) for run in runs if run["finished_at"]]
            summary = {
                "total_requests": len(runs),
                **{status: sum(run["status"] == status for run in runs) for status in (*_SYNC_ACTIVE, *_SYNC_OUTCOMES)},
                "last_finished_at": max(finished) if finished else None,
                "templates_removed": sum(int(run["templates_removed"]) for run in runs),
            }
            return json_response(200, {"sync_requests": copy.deepcopy(runs), "summary": summary})
