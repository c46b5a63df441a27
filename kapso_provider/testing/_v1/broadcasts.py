"""v1 endpoints: broadcasts and their recipients (``/whatsapp_broadcasts``, ``openapi-platform.yaml``).

The broadcasts themselves, their progression and the controls tests drive them with are the book's
(``_broadcasts.py``, ``simulator.broadcasts``); this module is v1's view of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._broadcasts import MAX_RECIPIENTS_PER_REQUEST, v1_view
from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._http import first, int_param, json_response, paginate, unprocessable
from kapso_provider.testing._routing import ResourceGroup, Route, route
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._broadcasts import BroadcastBook
    from kapso_provider.testing._http import Response

__all__ = ["BroadcastsGroup", "recipient_number"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BROADCAST = "/whatsapp_broadcasts/{broadcast_id}"
_RECIPIENT_FIELDS = (
    "id",
    "phone_number",
    "status",
    "sent_at",
    "failed_at",
    "delivered_at",
    "read_at",
    "responded_at",
    "error_message",
    "error_details",
    "template_parameters",
    "created_at",
    "updated_at",
)


def recipient_number(book: BroadcastBook, label: str, item: Any) -> tuple[str | None, str | None]:
    """``(digits, None)`` for a recipient's number (or contact id), ``(None, error text)`` for a refused one.

    :param book: the broadcasts, for the contacts tests declared.
    :param label: how errors name the recipient (``Recipient 3``).
    :param item: the recipient as sent.
    """
    if not isinstance(item, dict):
        return None, f"{label}: must be an object"
    phone = item.get("phone_number")
    contact_id = item.get("whatsapp_contact_id")
    if phone is None and contact_id is None:
        return None, f"{label}: phone_number or whatsapp_contact_id is required"
    if phone is not None:
        digits = normalize_phone(phone) if isinstance(phone, str) else ""
        if not 7 <= len(digits) <= 15 or re.search(r"[^\d\s()+.-]", str(phone)):
            return None, f"{label}: invalid phone number format"
        return digits, None
    digits = book.contact_number(contact_id) or ""
    return (digits, None) if digits else (None, f"{label}: WhatsApp contact not found")


class BroadcastsGroup(ResourceGroup):
    """v1's broadcast endpoints.

    :param book: the broadcasts.
    """

    def __init__(self, book: BroadcastBook) -> None:
        super().__init__(book.store)
        self._book = book

    def routes(self) -> list[Route]:
        """Broadcasts: list, create, get, recipients (list, add), send."""
        return [
            route("GET", "/whatsapp_broadcasts", self._list),
            route("POST", "/whatsapp_broadcasts", self._create),
            route("GET", _BROADCAST, self._get),
            route("GET", _BROADCAST + "/recipients", self._list_recipients),
            route("POST", _BROADCAST + "/recipients", self._add_recipients),
            route("POST", _BROADCAST + "/send", self._send),
        ]

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config_id = first(query, "q[whatsapp_config_id_eq]")
        template_id = first(query, "q[whatsapp_template_id_eq]")
        for name, value in (("q[whatsapp_config_id_eq]", config_id), ("q[whatsapp_template_id_eq]", template_id)):
            if value is not None and not _UUID.fullmatch(value):
                raise ValidationError(name, "must be a UUID")
        int_param(query, "page", 1, 1, None)
        int_param(query, "per_page", 20, 1, 100)
        records = [
            v1_view(record)
            for record in self._book.records()
            if (config_id is None or record["whatsapp_config_id"] == config_id)
            and (template_id is None or record["template"]["id"] == template_id)
        ]
        # "Returns broadcasts ordered by most recent first"; creation stamps are strictly increasing.
        records.sort(key=lambda record: str(record["created_at"]), reverse=True)
        return paginate(records, query)

    def _create(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        if not isinstance(body, dict) or not isinstance(body.get("whatsapp_broadcast"), dict):
            raise ValidationError("whatsapp_broadcast", "is required and must be an object")
        fields = body["whatsapp_broadcast"]
        unknown = sorted(set(fields) - {"name", "whatsapp_config_id", "whatsapp_template_id"})
        if unknown:
            raise ValidationError(f"whatsapp_broadcast.{unknown[0]}", "is not a broadcast field")
        for name in ("name", "whatsapp_config_id", "whatsapp_template_id"):
            value = fields.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ValidationError(f"whatsapp_broadcast.{name}", "is required and must be a non-empty string")
        record = self._book.create(
            name=fields["name"], config_id=fields["whatsapp_config_id"], template_id=fields["whatsapp_template_id"]
        )
        return json_response(201, {"data": v1_view(record)})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": v1_view(self._book.read(params["broadcast_id"]))})

    def _list_recipients(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        views = []
        for recipient in self._book.recipients(params["broadcast_id"]):
            view = {key: recipient.get(key) for key in _RECIPIENT_FIELDS}
            view["template_parameters"] = recipient.get("template_parameters") or []
            views.append(view)
        return paginate(views, query)

    def _parameters_problem(self, label: str, item: dict[str, Any], template: dict[str, Any]) -> str | None:
        parameters = item.get("template_parameters")
        if parameters is None:
            given = 0
        elif isinstance(parameters, list):
            if not all(isinstance(value, str) for value in parameters):
                return f"{label}: template parameters invalid - positional parameters must be strings"
            given = len(parameters)
        elif isinstance(parameters, dict):
            given = len([key for key in parameters if not key.startswith("header_")])
        else:
            return f"{label}: template parameters invalid - must be an array or an object"
        if self.store.templates.checks_parameters(template["id"]) and given != template["parameter_count"]:
            return (
                f"{label}: template parameters invalid - Template requires {template['parameter_count']} "
                f"parameters but {given} provided"
            )
        return None

    def _add_recipients(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        recipients = body.get("recipients") if isinstance(body, dict) else None
        if not isinstance(recipients, list):
            raise unprocessable("Recipients array is required")
        if len(recipients) > MAX_RECIPIENTS_PER_REQUEST:
            raise unprocessable(f"Cannot add more than {MAX_RECIPIENTS_PER_REQUEST} recipients per request")
        template = self._book.render(params["broadcast_id"])["template"]
        accepted: list[tuple[str, dict[str, Any]]] = []
        errors: list[str] = []
        # The files do not say how errors count recipients: from 1, like a person reading the list.
        for index, item in enumerate(recipients, start=1):
            label = f"Recipient {index}"
            digits, problem = recipient_number(self._book, label, item)
            problem = problem or self._parameters_problem(label, item, template)
            if problem is not None or digits is None:
                errors.append(problem or f"{label}: invalid")
                continue
            accepted.append((digits, {"template_parameters": item.get("template_parameters") or []}))
        counts = self._book.add_recipients(params["broadcast_id"], accepted)
        return json_response(201, {"data": {**counts, "errors": errors}})

    def _send(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        record = self._book.send(params["broadcast_id"])
        return json_response(
            202, {"data": {"id": record["id"], "status": "sending", "started_at": record["started_at"]}}
        )
