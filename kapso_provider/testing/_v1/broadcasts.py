"""Simulator endpoints: broadcasts and their recipients (``/whatsapp_broadcasts``, ``openapi-platform.yaml``).

Nothing runs in the background. A sent broadcast moves on when it is read: every ``GET`` of the broadcast
settles the next :attr:`BroadcastsGroup.recipients_per_read` pending recipients (all of them by default),
each with the outcome a test chose for its number (:meth:`BroadcastsGroup.set_outcome`) or
:attr:`BroadcastsGroup.default_outcome`. Once no recipient is pending the broadcast is ``completed``. So a
test knows exactly what each poll sees, however fast or slow the machine is.
"""

from __future__ import annotations

import copy
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, ValidationError
from kapso_provider.testing._http import first, int_param, json_response, paginate, unprocessable
from kapso_provider.testing._routing import ResourceGroup, Route, route
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._http import Response
    from kapso_provider.testing._store import Store

#: ``maxItems`` of ``recipients`` in ``POST /whatsapp_broadcasts/{id}/recipients``.
MAX_RECIPIENTS_PER_REQUEST = 1000
#: Outcomes a recipient can be given: ``sent`` (no receipt), ``delivered``, ``read``, ``responded`` (each
#: implying the ones before), or ``failed``.
OUTCOMES = ("sent", "delivered", "read", "responded", "failed")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BROADCAST = "/whatsapp_broadcasts/{broadcast_id}"


@dataclass(frozen=True)
class Outcome:
    """What happens to one recipient once the broadcast reaches it.

    :param status: one of :data:`OUTCOMES`.
    :param error_message: for ``failed``, the text in ``error_message``.
    :param error_code: for ``failed``, WhatsApp's code, kept in ``error_details.error_code``.
    """

    status: str
    error_message: str | None = None
    error_code: str | None = None


class BroadcastsGroup(ResourceGroup):
    """The simulator's broadcasts and their recipients, reached as ``simulator.broadcasts``.

    Create a config and an approved template linked to it (``simulator.create_template(...)``), then drive
    the API; read the state back with :meth:`broadcasts` and :meth:`recipients`.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._broadcasts: dict[str, dict[str, Any]] = {}
        self._recipients: dict[str, list[dict[str, Any]]] = {}
        self._outcomes: dict[str, Outcome] = {}
        self._contacts: dict[str, str] = {}
        self._recipients_per_read: int | None = None
        self._default_outcome = Outcome("delivered")
        self._fail_sends = False
        self._doomed: set[str] = set()

    # -- control API ------------------------------------------------------------------------------------

    @property
    def recipients_per_read(self) -> int | None:
        """Pending recipients settled by each read of a sending broadcast; ``None``: all at the first read."""
        return self._recipients_per_read

    @recipients_per_read.setter
    def recipients_per_read(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError("recipients_per_read must be an int >= 1 or None")
        with self.lock:
            self._recipients_per_read = value

    @property
    def default_outcome(self) -> str:
        """The outcome of recipients without one of their own (``delivered`` unless changed)."""
        return self._default_outcome.status

    @default_outcome.setter
    def default_outcome(self, value: str) -> None:
        if value not in OUTCOMES:
            raise ValueError(f"default_outcome must be one of {', '.join(OUTCOMES)}")
        with self.lock:
            self._default_outcome = Outcome(value)

    @property
    def fail_sends(self) -> bool:
        """When ``True``, broadcasts sent from now on turn ``failed`` at their first read, as when Kapso's
        send job gives up; their recipients stay ``pending``."""
        return self._fail_sends

    @fail_sends.setter
    def fail_sends(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise ValueError("fail_sends must be a bool")
        with self.lock:
            self._fail_sends = value

    def set_outcome(
        self, phone_number: str, status: str, *, error_message: str | None = None, error_code: str | None = None
    ) -> None:
        """Decide what happens to ``phone_number`` in every broadcast that reaches it from now on.

        :param phone_number: the number in any notation (compared by digits).
        :param status: one of :data:`OUTCOMES`.
        :param error_message: for ``failed`` (default ``"Message failed to send"``).
        :param error_code: for ``failed``, e.g. ``"131047"``.
        """
        if status not in OUTCOMES:
            raise ValueError(f"status must be one of {', '.join(OUTCOMES)}")
        if status == "failed" and error_message is None:
            error_message = "Message failed to send"
        with self.lock:
            self._outcomes[normalize_phone(phone_number)] = Outcome(status, error_message, error_code)

    def add_contact(self, whatsapp_contact_id: str, phone_number: str) -> None:
        """Let recipients given by ``whatsapp_contact_id`` resolve to ``phone_number``.

        The simulator's broadcasts know no other contacts: an unknown contact id is a refused recipient.
        """
        with self.lock:
            self._contacts[whatsapp_contact_id] = normalize_phone(phone_number)

    def fail(self, broadcast_id: str) -> dict[str, Any]:
        """Turn a broadcast ``failed``, as when Kapso's send job gives up; returns the record.

        :raises NotFoundError: for an unknown broadcast.
        """
        with self.lock:
            record = self._broadcast(broadcast_id)
            stamp = self.store.now()
            record.update(status="failed", completed_at=stamp, updated_at=stamp)
            return self._render(record)

    def broadcasts(self) -> list[dict[str, Any]]:
        """Every broadcast as the API shows it (copies, counts included), in creation order."""
        with self.lock:
            return [self._render(record) for record in self._broadcasts.values()]

    def recipients(self, broadcast_id: str) -> list[dict[str, Any]]:
        """The recipients of a broadcast (copies), in the order they were added.

        :raises NotFoundError: for an unknown broadcast.
        """
        with self.lock:
            self._broadcast(broadcast_id)
            return copy.deepcopy(self._recipients[broadcast_id])

    def reset(self) -> None:
        self._broadcasts.clear()
        self._recipients.clear()
        self._outcomes.clear()
        self._contacts.clear()
        self._recipients_per_read = None
        self._default_outcome = Outcome("delivered")
        self._fail_sends = False
        self._doomed.clear()

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            route("GET", "/whatsapp_broadcasts", self._list),
            route("POST", "/whatsapp_broadcasts", self._create),
            route("GET", _BROADCAST, self._get),
            route("GET", _BROADCAST + "/recipients", self._list_recipients),
            route("POST", _BROADCAST + "/recipients", self._add_recipients),
            route("POST", _BROADCAST + "/send", self._send),
        ]

    # -- state helpers (call under the lock) ------------------------------------------------------------

    def _broadcast(self, broadcast_id: str) -> dict[str, Any]:
        record = self._broadcasts.get(broadcast_id)
        if record is None:
            raise NotFoundError("Broadcast", broadcast_id)
        return record

    def _render(self, record: dict[str, Any]) -> dict[str, Any]:
        """A ``WhatsappBroadcast``: the stored fields plus counts computed from the recipients."""
        recipients = self._recipients[record["id"]]
        sent = sum(1 for r in recipients if r["status"] == "sent")
        failed = sum(1 for r in recipients if r["status"] == "failed")
        delivered = sum(1 for r in recipients if r["delivered_at"] is not None)
        read = sum(1 for r in recipients if r["read_at"] is not None)
        responded = sum(1 for r in recipients if r["responded_at"] is not None)
        total = len(recipients)
        stats = {
            "total": total,
            "sent": sent,
            "failed": failed,
            "delivered": delivered,
            "read": read,
            "responded": responded,
            "pending": total - sent - failed,
        }
        rendered = copy.deepcopy(record)
        rendered.update(
            total_recipients=total,
            sent_count=sent,
            failed_count=failed,
            delivered_count=delivered,
            read_count=read,
            responded_count=responded,
            pending_count=stats["pending"],
            response_rate=round(100.0 * responded / total, 1) if total else 0.0,
            stats=stats,
        )
        return rendered

    def _settle(self, record: dict[str, Any]) -> None:
        """One read of a sending broadcast: the next pending recipients get their outcome."""
        if record["status"] != "sending":
            return
        if record["id"] in self._doomed:
            stamp = self.store.now()
            record.update(status="failed", completed_at=stamp, updated_at=stamp)
            return
        pending = [r for r in self._recipients[record["id"]] if r["status"] == "pending"]
        batch = pending if self._recipients_per_read is None else pending[: self._recipients_per_read]
        for recipient in batch:
            stamp = self.store.now()
            outcome = self._outcomes.get(recipient["phone_number"], self._default_outcome)
            if outcome.status == "failed":
                recipient.update(status="failed", failed_at=stamp, error_message=outcome.error_message)
                if outcome.error_code is not None:
                    recipient["error_details"] = {"error_code": outcome.error_code}
            else:
                reached = OUTCOMES.index(outcome.status)
                recipient.update(status="sent", sent_at=stamp)
                for level, field in ((1, "delivered_at"), (2, "read_at"), (3, "responded_at")):
                    if reached >= level:
                        recipient[field] = stamp
            recipient["updated_at"] = stamp
        if len(batch) == len(pending):
            stamp = self.store.now()
            record.update(status="completed", completed_at=stamp, updated_at=stamp)
        elif batch:
            record["updated_at"] = self.store.now()

    # -- endpoints --------------------------------------------------------------------------------------

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        config_id = first(query, "q[whatsapp_config_id_eq]")
        template_id = first(query, "q[whatsapp_template_id_eq]")
        for name, value in (("q[whatsapp_config_id_eq]", config_id), ("q[whatsapp_template_id_eq]", template_id)):
            if value is not None and not _UUID.fullmatch(value):
                raise ValidationError(name, "must be a UUID")
        int_param(query, "page", 1, 1, None)
        int_param(query, "per_page", 20, 1, 100)
        with self.lock:
            records = [
                self._render(record)
                for record in self._broadcasts.values()
                if (config_id is None or record["whatsapp_config_id"] == config_id)
                and (template_id is None or record["whatsapp_template"]["id"] == template_id)
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
        with self.lock:
            try:
                config = self.store.config(fields["whatsapp_config_id"])
            except NotFoundError:
                raise unprocessable("WhatsApp configuration not found") from None
            if config.get("kind") != "production":
                raise unprocessable("WhatsApp config must be production")
            try:
                template = self.store.templates.get(fields["whatsapp_template_id"])
            except NotFoundError:
                raise unprocessable("Template not found") from None
            if template["status"] != "approved":
                raise unprocessable(f"Template is {template['status']}; only approved templates can be broadcast")
            if config["id"] not in template["whatsapp_config_ids"]:
                raise unprocessable("Template not linked to config")
            stamp = self.store.now()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "name": fields["name"],
                "status": "draft",
                "started_at": None,
                "completed_at": None,
                "created_at": stamp,
                "updated_at": stamp,
                "whatsapp_config_id": config["id"],
                "whatsapp_template": {
                    key: template[key] for key in ("id", "name", "language_code", "category", "status")
                },
            }
            self._broadcasts[record["id"]] = record
            self._recipients[record["id"]] = []
            return json_response(201, {"data": self._render(record)})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._broadcast(params["broadcast_id"])
            self._settle(record)
            return json_response(200, {"data": self._render(record)})

    def _list_recipients(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            self._broadcast(params["broadcast_id"])
            recipients = copy.deepcopy(self._recipients[params["broadcast_id"]])
        return paginate(recipients, query)

    def _recipient_problem(self, index: int, item: Any, template: Mapping[str, Any]) -> tuple[str | None, str | None]:
        """``(digits, None)`` for an acceptable recipient, ``(None, error text)`` for a refused one."""
        label = f"Recipient {index}"
        if not isinstance(item, dict):
            return None, f"{label}: must be an object"
        phone = item.get("phone_number")
        contact_id = item.get("whatsapp_contact_id")
        if phone is None and contact_id is None:
            return None, f"{label}: phone_number or whatsapp_contact_id is required"
        if phone is not None:
            if not isinstance(phone, str):
                return None, f"{label}: invalid phone number format"
            digits = normalize_phone(phone)
            if not 7 <= len(digits) <= 15 or re.search(r"[^\d\s()+.-]", phone):
                return None, f"{label}: invalid phone number format"
        else:
            if not isinstance(contact_id, str) or contact_id not in self._contacts:
                return None, f"{label}: WhatsApp contact not found"
            digits = self._contacts[contact_id]
        parameters = item.get("template_parameters")
        if parameters is not None:
            if isinstance(parameters, list):
                if not all(isinstance(value, str) for value in parameters):
                    return None, f"{label}: template parameters invalid - positional parameters must be strings"
                given = len(parameters)
            elif isinstance(parameters, dict):
                given = len([key for key in parameters if not key.startswith("header_")])
            else:
                return None, f"{label}: template parameters invalid - must be an array or an object"
        else:
            given = 0
        if self.store.templates.checks_parameters(template["id"]) and given != template["parameter_count"]:
            return None, (
                f"{label}: template parameters invalid - Template requires {template['parameter_count']} "
                f"parameters but {given} provided"
            )
        return digits, None

    def _add_recipients(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        recipients = body.get("recipients") if isinstance(body, dict) else None
        if not isinstance(recipients, list):
            raise unprocessable("Recipients array is required")
        if len(recipients) > MAX_RECIPIENTS_PER_REQUEST:
            raise unprocessable(f"Cannot add more than {MAX_RECIPIENTS_PER_REQUEST} recipients per request")
        with self.lock:
            record = self._broadcast(params["broadcast_id"])
            if record["status"] != "draft":
                raise unprocessable(f"Cannot add recipients to broadcast in {record['status']} status")
            try:
                template = self.store.templates.get(record["whatsapp_template"]["id"])
            except NotFoundError:
                template = {"id": "", "parameter_count": 0}
            stored = self._recipients[record["id"]]
            known = {recipient["phone_number"] for recipient in stored}
            added = duplicates = 0
            errors: list[str] = []
            # The files do not say how errors count recipients: from 1, like a person reading the list.
            for index, item in enumerate(recipients, start=1):
                digits, problem = self._recipient_problem(index, item, template)
                if problem is not None or digits is None:
                    errors.append(problem or f"Recipient {index}: invalid")
                    continue
                if digits in known:
                    duplicates += 1
                    continue
                known.add(digits)
                stamp = self.store.now()
                stored.append(
                    {
                        "id": str(uuid.uuid4()),
                        "phone_number": digits,
                        "status": "pending",
                        "sent_at": None,
                        "failed_at": None,
                        "delivered_at": None,
                        "read_at": None,
                        "responded_at": None,
                        "error_message": None,
                        "error_details": None,
                        "template_parameters": copy.deepcopy(item.get("template_parameters") or []),
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
                added += 1
            if added:
                record["updated_at"] = self.store.now()
        return json_response(201, {"data": {"added": added, "duplicates": duplicates, "errors": errors}})

    def _send(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._broadcast(params["broadcast_id"])
            status = record["status"]
            if status == "sending":
                raise unprocessable("Broadcast is already sending")
            if status == "completed":
                raise unprocessable("Broadcast already completed")
            if status != "draft":
                raise unprocessable(f"Broadcast is {status}")
            if not self._recipients[record["id"]]:
                raise unprocessable("Broadcast has no recipients")
            stamp = self.store.now()
            record.update(status="sending", started_at=stamp, updated_at=stamp)
            if self._fail_sends:
                self._doomed.add(record["id"])
            return json_response(202, {"data": {"id": record["id"], "status": "sending", "started_at": stamp}})
