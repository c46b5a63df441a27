"""Broadcasts and their recipients: one book that v1's ``/whatsapp_broadcasts`` and the Platform API's
``/whatsapp/broadcasts`` both show, reached from tests as ``simulator.broadcasts``.

Nothing runs in the background. A sending broadcast moves on when it is read: every read settles the next
:attr:`BroadcastBook.recipients_per_read` pending recipients (all of them by default), each with the outcome
a test chose for its number (:meth:`BroadcastBook.set_outcome`) or :attr:`BroadcastBook.default_outcome`.
Once no recipient is pending the broadcast is ``completed``. A scheduled broadcast starts sending at the
first read after its ``scheduled_at`` (Kapso's clock). So a test knows exactly what each poll sees, however
fast or slow the machine is.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, RuleError
from kapso_provider.testing._validation import normalize_phone

if TYPE_CHECKING:
    from kapso_provider.testing._store import Store

__all__ = ["MAX_RECIPIENTS_PER_REQUEST", "OUTCOMES", "RECIPIENT_FIELDS", "BroadcastBook", "Outcome", "v1_view"]

#: The fields of a recipient that both API generations show (v1 adds ``template_parameters``, the Platform
#: API ``template_components``).
RECIPIENT_FIELDS = (
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
    "created_at",
    "updated_at",
)

#: ``maxItems`` of a recipients batch, in both generations' files.
MAX_RECIPIENTS_PER_REQUEST = 1000
#: Outcomes a recipient can be given: ``sent`` (no receipt), ``delivered``, ``read``, ``responded`` (each
#: implying the ones before), or ``failed``.
OUTCOMES = ("sent", "delivered", "read", "responded", "failed")


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


def v1_view(record: dict[str, Any]) -> dict[str, Any]:
    """A broadcast as v1 shows it (``WhatsappBroadcast`` of ``openapi-platform.yaml``): its fields plus counts.

    :param record: a broadcast as :meth:`BroadcastBook.render` returns it.
    """
    counts = record["counts"]
    total, responded = counts["total"], counts["responded"]
    template = record["template"]
    return {
        "id": record["id"],
        "name": record["name"],
        "status": record["status"],
        "started_at": record["started_at"],
        "completed_at": record["completed_at"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "whatsapp_config_id": record["whatsapp_config_id"],
        "whatsapp_template": {key: template[key] for key in ("id", "name", "language_code", "category", "status")},
        "total_recipients": total,
        "sent_count": counts["sent"],
        "failed_count": counts["failed"],
        "delivered_count": counts["delivered"],
        "read_count": counts["read"],
        "responded_count": responded,
        "pending_count": counts["pending"],
        "response_rate": round(100.0 * responded / total, 1) if total else 0.0,
        "stats": {key: counts[key] for key in ("total", "sent", "failed", "delivered", "read", "responded", "pending")},
    }


class BroadcastBook:
    """The simulator's broadcasts, their recipients and the controls tests drive them with.

    :param store: the simulator's store (configs and templates).
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock = store.lock
        self._broadcasts: dict[str, dict[str, Any]] = {}
        self._recipients: dict[str, list[dict[str, Any]]] = {}
        self._outcomes: dict[str, Outcome] = {}
        self._contacts: dict[str, str] = {}
        self._recipients_per_read: int | None = None
        self._default_outcome = Outcome("delivered")
        self._fail_sends = False
        self._doomed: set[str] = set()

    # -- controls for tests -----------------------------------------------------------------------------

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

    def contact_number(self, whatsapp_contact_id: object) -> str | None:
        """The digits a recipient's ``whatsapp_contact_id`` resolves to, or ``None``.

        :param whatsapp_contact_id: the id a request gave.
        """
        with self.lock:
            return self._contacts.get(whatsapp_contact_id) if isinstance(whatsapp_contact_id, str) else None

    def fail(self, broadcast_id: str) -> dict[str, Any]:
        """Turn a broadcast ``failed``, as when Kapso's send job gives up; returns the record.

        :raises NotFoundError: for an unknown broadcast.
        """
        with self.lock:
            record = self._broadcast(broadcast_id)
            stamp = self.store.now()
            record.update(status="failed", completed_at=stamp, updated_at=stamp)
            return v1_view(self.render(record["id"]))

    def broadcasts(self) -> list[dict[str, Any]]:
        """Every broadcast as v1 shows it (copies, counts included), in creation order, without settling any."""
        with self.lock:
            return [v1_view(record) for record in self.records()]

    def records(self) -> list[dict[str, Any]]:
        """Every broadcast as :meth:`render` gives it, in creation order, without settling any."""
        with self.lock:
            return [self.render(broadcast_id) for broadcast_id in self._broadcasts]

    def recipients(self, broadcast_id: str) -> list[dict[str, Any]]:
        """The recipients of a broadcast (copies), in the order they were added.

        :raises NotFoundError: for an unknown broadcast.
        """
        with self.lock:
            self._broadcast(broadcast_id)
            return copy.deepcopy(self._recipients[broadcast_id])

    def reset(self) -> None:
        """Forget every broadcast and control."""
        with self.lock:
            self._broadcasts.clear()
            self._recipients.clear()
            self._outcomes.clear()
            self._contacts.clear()
            self._recipients_per_read = None
            self._default_outcome = Outcome("delivered")
            self._fail_sends = False
            self._doomed.clear()

    # -- the rules both API generations follow ----------------------------------------------------------

    def create(self, *, name: str, config_id: str, template_id: str) -> dict[str, Any]:
        """A new draft broadcast of an approved template from a production number.

        :raises RuleError: 422 for an unknown or sandbox number, an unknown, unapproved or unlinked template.
        """
        with self.lock:
            try:
                config = self.store.config(config_id)
            except NotFoundError:
                raise RuleError(422, "WhatsApp configuration not found") from None
            if config.get("kind") != "production":
                raise RuleError(422, "WhatsApp config must be production")
            try:
                template = self.store.templates.get(template_id)
            except NotFoundError:
                raise RuleError(422, "Template not found") from None
            if template["status"] != "approved":
                raise RuleError(422, f"Template is {template['status']}; only approved templates can be broadcast")
            if config["id"] not in template["whatsapp_config_ids"]:
                raise RuleError(422, "Template not linked to config")
            stamp = self.store.now()
            record: dict[str, Any] = {
                "id": str(uuid.uuid4()),
                "name": name,
                "status": "draft",
                "scheduled_at": None,
                "started_at": None,
                "stopped_at": None,
                "completed_at": None,
                "created_at": stamp,
                "updated_at": stamp,
                "whatsapp_config_id": config["id"],
                # As it was when the broadcast was made: the broadcast keeps it even if it changes later.
                "template": template,
            }
            self._broadcasts[record["id"]] = record
            self._recipients[record["id"]] = []
            return self.render(record["id"])

    def read(self, broadcast_id: str) -> dict[str, Any]:
        """One read of a broadcast through an API: it moves on (see the module), then is returned.

        :raises NotFoundError: for an unknown broadcast.
        """
        with self.lock:
            self._settle(self._broadcast(broadcast_id))
            return self.render(broadcast_id)

    def render(self, broadcast_id: str) -> dict[str, Any]:
        """The stored broadcast with its counts (``total``, ``sent``, ``failed``, ``delivered``, ``read``,
        ``responded``, ``pending``, ``suppressed``) under ``counts``; a copy.

        :raises NotFoundError: for an unknown broadcast.
        """
        with self.lock:
            record = copy.deepcopy(self._broadcast(broadcast_id))
            recipients = self._recipients[broadcast_id]
            counts = {
                "total": len(recipients),
                **{status: sum(r["status"] == status for r in recipients) for status in ("sent", "failed", "pending")},
                "suppressed": sum(r["status"] == "suppressed" for r in recipients),
                "delivered": sum(r["delivered_at"] is not None for r in recipients),
                "read": sum(r["read_at"] is not None for r in recipients),
                "responded": sum(r["responded_at"] is not None for r in recipients),
            }
            record["counts"] = counts
            return record

    def add_recipients(self, broadcast_id: str, accepted: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
        """Add the recipients a request's batch accepted, skipping numbers the broadcast has already.

        :param broadcast_id: the broadcast.
        :param accepted: ``(digits, extra fields)`` of each acceptable recipient, in order.
        :returns: ``{"added", "duplicates"}``.
        :raises RuleError: 422 unless the broadcast is a draft.
        """
        with self.lock:
            record = self._broadcast(broadcast_id)
            if record["status"] != "draft":
                raise RuleError(422, f"Cannot add recipients to broadcast in {record['status']} status")
            stored = self._recipients[broadcast_id]
            known = {recipient["phone_number"] for recipient in stored}
            added = duplicates = 0
            for digits, extra in accepted:
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
                        **copy.deepcopy(extra),
                        "created_at": stamp,
                        "updated_at": stamp,
                    }
                )
                added += 1
            if added:
                record["updated_at"] = self.store.now()
            return {"added": added, "duplicates": duplicates}

    def clear_recipients(self, broadcast_id: str) -> dict[str, Any]:
        """Remove every recipient of a draft or scheduled broadcast (a scheduled one returns to draft).

        :raises RuleError: 422 for a broadcast that is neither.
        """
        with self.lock:
            record = self._broadcast(broadcast_id)
            if record["status"] not in ("draft", "scheduled"):
                raise RuleError(422, f"Cannot remove recipients from broadcast in {record['status']} status")
            self._recipients[broadcast_id].clear()
            record.update(status="draft", scheduled_at=None, updated_at=self.store.now())
            return self.render(broadcast_id)

    def send(self, broadcast_id: str) -> dict[str, Any]:
        """Start sending a draft broadcast with recipients; returns it.

        :raises RuleError: 422 for a broadcast that is not a draft or has no recipients.
        """
        with self.lock:
            record = self._startable(broadcast_id)
            stamp = self.store.now()
            record.update(status="sending", started_at=stamp, updated_at=stamp)
            if self._fail_sends:
                self._doomed.add(record["id"])
            return self.render(broadcast_id)

    def schedule(self, broadcast_id: str, scheduled_at: str) -> dict[str, Any]:
        """Schedule a draft broadcast with recipients to start at ``scheduled_at`` (Kapso's clock).

        :raises RuleError: 422 for a time not in the future, or a broadcast that cannot start.
        """
        with self.lock:
            record = self._startable(broadcast_id)
            if scheduled_at <= self.store.now():
                raise RuleError(422, "scheduled_at must be in the future")
            record.update(status="scheduled", scheduled_at=scheduled_at, updated_at=self.store.now())
            return self.render(broadcast_id)

    def cancel(self, broadcast_id: str) -> dict[str, Any]:
        """Return a scheduled broadcast to draft.

        :raises RuleError: 422 unless the broadcast is scheduled.
        """
        with self.lock:
            record = self._broadcast(broadcast_id)
            if record["status"] != "scheduled":
                raise RuleError(422, f"Only scheduled broadcasts can be cancelled, not {record['status']} ones")
            record.update(status="draft", scheduled_at=None, updated_at=self.store.now())
            return self.render(broadcast_id)

    def stop(self, broadcast_id: str) -> dict[str, Any]:
        """Stop a sending broadcast: its pending recipients are not sent to.

        :raises RuleError: 422 unless the broadcast is sending.
        """
        with self.lock:
            record = self._broadcast(broadcast_id)
            if record["status"] != "sending":
                raise RuleError(422, f"Only sending broadcasts can be stopped, not {record['status']} ones")
            stamp = self.store.now()
            record.update(status="stopped", stopped_at=stamp, updated_at=stamp)
            return self.render(broadcast_id)

    # -- internals (callers hold the lock) --------------------------------------------------------------

    def _broadcast(self, broadcast_id: str) -> dict[str, Any]:
        record = self._broadcasts.get(broadcast_id)
        if record is None:
            raise NotFoundError("Broadcast", broadcast_id)
        return record

    def _startable(self, broadcast_id: str) -> dict[str, Any]:
        record = self._broadcast(broadcast_id)
        status = record["status"]
        if status == "sending":
            raise RuleError(422, "Broadcast is already sending")
        if status == "completed":
            raise RuleError(422, "Broadcast already completed")
        if status != "draft":
            raise RuleError(422, f"Broadcast is {status}")
        if not self._recipients[record["id"]]:
            raise RuleError(422, "Broadcast has no recipients")
        return record

    def _settle(self, record: dict[str, Any]) -> None:
        """One read: a due schedule starts, then the next pending recipients of a sending one get their outcome."""
        if record["status"] == "scheduled" and record["scheduled_at"] <= self.store.now():
            record.update(status="sending", started_at=self.store.now())
            if self._fail_sends:
                self._doomed.add(record["id"])
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
