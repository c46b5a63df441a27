"""The Platform API's broadcasts (``/platform/v1/whatsapp/broadcasts``): the same broadcasts v1 shows.

Create from a business number (``phone_number_id``) and an approved template; add recipients with Meta's
template ``components`` (up to 1,000 a call, duplicates skipped); send (202) or schedule; cancel a
schedule; stop a sending one; clear the recipients. Progress is the book's: one step per read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.testing._broadcasts import RECIPIENT_FIELDS
from kapso_provider.testing._current.cursor import query_time
from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._http import Response, int_param, json_response, paginate
from kapso_provider.testing._routing import ResourceGroup, object_field, route
from kapso_provider.testing._v1.broadcasts import add_batch

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._broadcasts import BroadcastBook
    from kapso_provider.testing._routing import Route

__all__ = ["PlatformBroadcastsGroup"]

_BROADCAST = "/whatsapp/broadcasts/{broadcast_id}"
_STATUSES = ("draft", "scheduled", "copying", "sending", "stopped", "completed", "failed")


class PlatformBroadcastsGroup(ResourceGroup):
    """Platform broadcasts.

    :param book: the broadcasts.
    """

    def __init__(self, book: BroadcastBook) -> None:
        super().__init__(book.store)
        self._book = book

    def routes(self) -> list[Route]:
        """Broadcasts: list, create, get, update, recipients (list, add, clear), send, schedule, cancel."""
        return [
            route("GET", "/whatsapp/broadcasts", self._list),
            route("POST", "/whatsapp/broadcasts", self._create),
            route("GET", _BROADCAST, self._get),
            route("PATCH", _BROADCAST, self._update),
            route("GET", _BROADCAST + "/recipients", self._list_recipients),
            route("POST", _BROADCAST + "/recipients", self._add_recipients),
            route("DELETE", _BROADCAST + "/recipients", self._clear_recipients),
            route("POST", _BROADCAST + "/send", self._send),
            route("POST", _BROADCAST + "/schedule", self._schedule),
            route("POST", _BROADCAST + "/cancel", self._cancel),
        ]

    def _view(self, record: dict[str, Any]) -> dict[str, Any]:
        counts, template = record["counts"], record["template"]
        total, responded = counts["total"], counts["responded"]
        view = {key: record[key] for key in ("id", "name", "status", "created_at", "updated_at")}
        for key in ("scheduled_at", "started_at", "stopped_at", "completed_at"):
            view[key] = record[key]
        view.update(
            {f"{key}_count": counts[key] for key in ("sent", "failed", "delivered", "read", "pending", "suppressed")},
            responded_count=responded,
            response_rate=round(100.0 * responded / total, 1) if total else 0.0,
            total_recipients=total,
            phone_number_id=self.store.config(record["whatsapp_config_id"])["phone_number_id"],
            whatsapp_template={
                "id": template["id"],
                "meta_template_id": self.store.templates.meta_id(template["id"]),
                "name": template["name"],
                "language_code": template["language_code"],
                "category": template["category"],
                "status": template["status"],
                "components": template["components"],
            },
        )
        return view

    @staticmethod
    def _progress(record: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "status", "scheduled_at", "started_at", "stopped_at", "completed_at")
        return {"data": {key: record[key] for key in keys}}

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        status = query.get("status") or None
        if status is not None and status not in _STATUSES:
            raise ValidationError("status", f"must be one of: {', '.join(_STATUSES)}", status=400)
        after, before = query_time(query, "created_after"), query_time(query, "created_before")
        int_param(query, "page", 1, 1, None)
        views = [
            self._view(record)
            for record in self._book.records()
            if (status is None or record["status"] == status)
            and (after is None or record["created_at"] >= after)
            and (before is None or record["created_at"] <= before)
        ]
        pnid = query.get("phone_number_id")
        views = [view for view in views if not pnid or view["phone_number_id"] == pnid]
        # "Get broadcast campaigns, most recent first."
        views.sort(key=lambda view: str(view["created_at"]), reverse=True)
        return paginate(views, query)

    def _create(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "whatsapp_broadcast")
        for name in ("name", "phone_number_id", "whatsapp_template_id"):
            value = fields.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"whatsapp_broadcast.{name}", "is required and must be a non-empty string")
        config = self.store.config_by_phone_number_id(fields["phone_number_id"])
        record = self._book.create(
            name=fields["name"], config_id=config["id"], template_id=fields["whatsapp_template_id"]
        )
        return json_response(201, {"data": self._view(record)})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._view(self._book.read(params["broadcast_id"]))})

    def _update(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        status = object_field(body, "whatsapp_broadcast").get("status")
        if status == "stopped":
            record = self._book.stop(params["broadcast_id"])
        elif status == "draft":
            record = self._book.cancel(params["broadcast_id"])
        else:
            raise ValidationError("whatsapp_broadcast.status", "must be stopped or draft")
        return json_response(200, {"data": self._view(record)})

    def _list_recipients(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        views = []
        for recipient in self._book.recipients(params["broadcast_id"]):
            view = {key: recipient.get(key) for key in RECIPIENT_FIELDS}
            view["template_components"] = recipient.get("template_components") or []
            views.append(view)
        return paginate(views, query)

    def _components_problem(self, label: str, item: dict[str, Any], template: dict[str, Any]) -> str | None:
        components = item.get("components", [])
        if not isinstance(components, list) or not all(isinstance(part, dict) for part in components):
            return f"{label}: components must be an array of objects"
        for part in components:
            if part.get("type") not in ("header", "body", "button"):
                return f"{label}: component type must be header, body or button"
        given = sum(len(part.get("parameters") or []) for part in components if part["type"] == "body")
        if self.store.templates.checks_parameters(template["id"]) and given != template["parameter_count"]:
            needed = template["parameter_count"]
            return f"{label}: template parameters invalid - requires {needed} parameters but got {given}"
        return None

    def _add_recipients(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        recipients = object_field(body, "whatsapp_broadcast").get("recipients")

        def kept(item: dict[str, Any]) -> dict[str, Any]:
            return {"template_components": item.get("components") or []}

        result = add_batch(self._book, params["broadcast_id"], recipients, self._components_problem, kept)
        return json_response(201, {"data": result})

    def _clear_recipients(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._view(self._book.clear_recipients(params["broadcast_id"]))})

    def _send(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(202, self._progress(self._book.send(params["broadcast_id"])))

    def _schedule(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("scheduled_at"), str):
            raise ValidationError("scheduled_at", "is required (ISO 8601 with a time zone)")
        when = query_time({"scheduled_at": body["scheduled_at"]}, "scheduled_at")
        assert when is not None
        return json_response(202, self._progress(self._book.schedule(params["broadcast_id"], when)))

    def _cancel(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, self._progress(self._book.cancel(params["broadcast_id"])))
