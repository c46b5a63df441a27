"""v1 endpoints: broadcasts and their recipients (``/whatsapp_broadcasts``, ``openapi-platform.yaml``).

The broadcasts themselves, their progression and the controls tests drive them with are the book's
(``_broadcasts.py``, ``simulator.broadcasts``); this module is v1's view of them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._broadcasts import MAX_RECIPIENTS_PER_REQUEST, RECIPIENT_FIELDS, v1_view
from kapso_provider.testing._errors import ValidationError
from kapso_provider.testing._http import first, int_param, json_response, paginate, unprocessable
from kapso_provider.testing._routing import ResourceGroup, Route, route
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kapso_provider.testing._broadcasts import BroadcastBook
    from kapso_provider.testing._http import Response

__all__ = ["BroadcastsGroup", "add_batch", "recipient_number"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BROADCAST = "/whatsapp_broadcasts/{broadcast_id}"


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


def add_batch(
    book: BroadcastBook,
    broadcast_id: str,
    recipients: object,
    problem: Callable[[str, dict[str, Any], dict[str, Any]], str | None],
    kept: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    allow_empty: bool = False,
) -> dict[str, Any]:
    """Add a request's batch of recipients: the acceptable ones go in (duplicates skipped), every refused
    one is reported as ``"Recipient <n>: <why>"``, counting from 1 (the files do not say; like a person).

    :param book: the broadcasts.
    :param broadcast_id: the broadcast.
    :param recipients: the batch as sent.
    :param problem: what is wrong with one recipient's parameters for the template, or ``None``.
    :param kept: the fields of an accepted recipient to keep beside its number.
    :param allow_empty: take an empty batch (v1 does; the Platform file requires one recipient at least).
    :returns: ``{"added", "duplicates", "errors"}``.
    :raises RuleError: 422 for a batch that is not an array of at most 1,000 (nor empty, unless allowed).
    """
    if not isinstance(recipients, list) or not (recipients or allow_empty):
        raise unprocessable("Recipients array is required")
    if len(recipients) > MAX_RECIPIENTS_PER_REQUEST:
        raise unprocessable(f"Cannot add more than {MAX_RECIPIENTS_PER_REQUEST} recipients per request")
    template = book.render(broadcast_id)["template"]
    accepted: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    for index, item in enumerate(recipients, start=1):
        label = f"Recipient {index}"
        digits, refusal = recipient_number(book, label, item)
        refusal = refusal or problem(label, item, template)
        if refusal is not None or digits is None:
            errors.append(refusal or f"{label}: invalid")
            continue
        accepted.append((digits, kept(item)))
    return {**book.add_recipients(broadcast_id, accepted), "errors": errors}


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
            view = {key: recipient.get(key) for key in RECIPIENT_FIELDS}
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

        def kept(item: dict[str, Any]) -> dict[str, Any]:
            return {"template_parameters": item.get("template_parameters") or []}

        result = add_batch(
            self._book, params["broadcast_id"], recipients, self._parameters_problem, kept, allow_empty=True
        )
        return json_response(201, {"data": result})

    def _send(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        record = self._book.send(params["broadcast_id"])
        return json_response(
            202, {"data": {"id": record["id"], "status": "sending", "started_at": record["started_at"]}}
        )
