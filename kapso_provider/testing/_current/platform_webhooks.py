"""The Platform API's webhooks: project and phone-number scope CRUD, test deliveries and the delivery log.

A test delivery (``POST .../{webhook_id}/test``) is really sent when the webhook's URL is on a loopback host
(a receiver the test runs on 127.0.0.1), signed as Kapso signs (HMAC-SHA256 of the raw body with the
webhook's secret, hex, in ``X-Webhook-Signature``); any other URL is logged as failed, never contacted.
The files do not define a test payload: the simulator sends ``{"event", "test": true, "phone_number_id",
"created_at"}``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kapso_provider.testing._current.cursor import cursor_page
from kapso_provider.testing._errors import NotFoundError, RuleError, ValidationError
from kapso_provider.testing._http import Response, json_response, paginate
from kapso_provider.testing._loopback import is_loopback
from kapso_provider.testing._routing import ResourceGroup, object_field, route

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

__all__ = ["NUMBER_EVENTS", "PROJECT_EVENTS", "PlatformWebhooksGroup"]

#: Events of a phone number's webhooks, and of the project's (Kapso's webhook docs, NOTES.md §8).
NUMBER_EVENTS = (
    "whatsapp.message.received",
    "whatsapp.message.sent",
    "whatsapp.message.delivered",
    "whatsapp.message.read",
    "whatsapp.message.failed",
    "whatsapp.conversation.created",
    "whatsapp.conversation.ended",
    "whatsapp.conversation.inactive",
)
PROJECT_EVENTS = (
    "whatsapp.phone_number.created",
    "whatsapp.phone_number.deleted",
    "workflow.execution.handoff",
    "workflow.execution.failed",
    "project.event",
)
_PROJECT = "/whatsapp/webhooks/{webhook_id}"
_NUMBER = "/whatsapp/phone_numbers/{phone_number_id}/webhooks"
_SETTINGS = ("active", "buffer_enabled", "buffer_window_seconds", "max_buffer_size", "inactivity_minutes", "headers")


class PlatformWebhooksGroup(ResourceGroup):
    """Webhooks of both scopes and their deliveries; reached for tests through :meth:`webhooks` and
    :meth:`deliveries` (``simulator.webhooks``).

    :param store: the simulator's store.
    """

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._deliveries: list[dict[str, Any]] = []

    # -- controls for tests -----------------------------------------------------------------------------

    def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook (copies, secrets included), in creation order."""
        with self.lock:
            return copy.deepcopy(list(self._webhooks.values()))

    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery attempted (copies), oldest first, as the log shows it plus what was sent:
        ``body`` (text), ``headers`` and ``error`` (why nothing was received, or ``None``)."""
        with self.lock:
            return [
                {key.lstrip("_"): copy.deepcopy(value) for key, value in delivery.items()}
                for delivery in self._deliveries
            ]

    def reset(self) -> None:
        """Forget every webhook and delivery."""
        self._webhooks.clear()
        self._deliveries.clear()

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Project and phone-number webhooks, their test, and the delivery log."""
        return [
            route("GET", "/whatsapp/webhooks", self._list_project),
            route("POST", "/whatsapp/webhooks", self._create_project),
            route("GET", _PROJECT, self._get),
            route("PATCH", _PROJECT, self._update),
            route("DELETE", _PROJECT, self._delete),
            route("POST", _PROJECT + "/test", self._test),
            route("GET", _NUMBER, self._list_number),
            route("POST", _NUMBER, self._create_number),
            route("GET", _NUMBER + "/{webhook_id}", self._get),
            route("PATCH", _NUMBER + "/{webhook_id}", self._update),
            route("DELETE", _NUMBER + "/{webhook_id}", self._delete),
            route("GET", "/webhook_deliveries", self._list_deliveries),
        ]

    # -- rules ------------------------------------------------------------------------------------------

    def _checked(self, fields: dict[str, Any], *, phone_number_id: str | None, creating: bool) -> dict[str, Any]:
        where = "whatsapp_webhook"
        url = fields.get("url")
        well_formed = (
            isinstance(url, str) and urlsplit(url).scheme in ("http", "https") and bool(urlsplit(url).hostname)
        )
        if (creating or "url" in fields) and not well_formed:
            raise ValidationError(f"{where}.url", "must be an http(s) URL")
        kind = fields.get("kind", "kapso" if creating else None)
        if kind is not None and kind not in ("kapso", "meta"):
            raise ValidationError(f"{where}.kind", "must be kapso or meta")
        secret = fields.get("secret_key")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ValidationError(f"{where}.secret_key", "must be a non-empty string")
        events = fields.get("events")
        if events is not None and (not isinstance(events, list) or not all(isinstance(e, str) for e in events)):
            raise ValidationError(f"{where}.events", "must be an array of event names")
        allowed = NUMBER_EVENTS if phone_number_id else PROJECT_EVENTS
        unknown = [event for event in events or [] if event not in allowed]
        if unknown and kind != "meta":
            raise ValidationError(
                f"{where}.events", f"{unknown[0]!r} is not an event of this scope; one of {', '.join(allowed)}"
            )
        if creating and kind == "kapso" and not events:
            raise ValidationError(f"{where}.events", "is required and must not be empty for a kapso webhook")
        return fields

    def _record(self, fields: dict[str, Any], phone_number_id: str | None) -> dict[str, Any]:
        stamp = self.store.now()
        kind = fields.get("kind", "kapso")
        record: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "url": fields["url"],
            "kind": kind,
            # Meta decides what a meta webhook receives: its events are normalized to an empty list.
            "events": [] if kind == "meta" else list(fields.get("events") or []),
            "active": fields.get("active", True),
            "created_at": stamp,
            "updated_at": stamp,
            "project_id": self.store.project_id,
            "phone_number_id": phone_number_id,
            "secret_key": fields.get("secret_key"),
            "buffer_events": list(fields.get("buffer_events") or []),
            "payload_version": None if kind == "meta" else fields.get("payload_version") or "v2",
        }
        record.update({key: fields.get(key) for key in _SETTINGS if key != "active"})
        record["buffer_window_seconds"] = record["buffer_window_seconds"] or 5
        return record

    def _webhook(self, webhook_id: str, phone_number_id: str | None) -> dict[str, Any]:
        record = self._webhooks.get(webhook_id)
        if record is None or (phone_number_id is not None and record["phone_number_id"] != phone_number_id):
            raise NotFoundError("Webhook", webhook_id)
        return record

    # -- handlers ---------------------------------------------------------------------------------------

    def _listing(self, query: Mapping[str, str], records: list[dict[str, Any]]) -> Response:
        kind, active = query.get("kind"), query.get("active")
        selected = [
            copy.deepcopy(record)
            for record in records
            if (not kind or record["kind"] == kind)
            and (active in (None, "") or record["active"] is (active == "true"))
            and (not query.get("url_contains") or query["url_contains"] in record["url"])
        ]
        return paginate(selected, query)

    def _list_project(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            return self._listing(query, list(self._webhooks.values()))

    def _list_number(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        pnid = self.store.config_by_phone_number_id(params["phone_number_id"])["phone_number_id"]
        with self.lock:
            return self._listing(query, [r for r in self._webhooks.values() if r["phone_number_id"] == pnid])

    def _create_project(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "whatsapp_webhook")
        pnid = fields.get("phone_number_id")
        if pnid is not None:
            pnid = self.store.config_by_phone_number_id(str(pnid))["phone_number_id"]
        if fields.get("kind") == "meta" and pnid is None:
            raise ValidationError("whatsapp_webhook.phone_number_id", "is required for a meta webhook")
        return self._create(self._checked(fields, phone_number_id=pnid, creating=True), pnid)

    def _create_number(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        pnid = self.store.config_by_phone_number_id(params["phone_number_id"])["phone_number_id"]
        fields = self._checked(object_field(body, "whatsapp_webhook"), phone_number_id=pnid, creating=True)
        if fields.get("secret_key") is None:
            raise ValidationError("whatsapp_webhook.secret_key", "is required")
        return self._create(fields, pnid)

    def _create(self, fields: dict[str, Any], pnid: str | None) -> Response:
        with self.lock:
            record = self._record(fields, pnid)
            self._webhooks[record["id"]] = record
            return json_response(201, {"data": copy.deepcopy(record)})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            return json_response(
                200, {"data": copy.deepcopy(self._webhook(params["webhook_id"], params.get("phone_number_id")))}
            )

    def _update(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "whatsapp_webhook")
        with self.lock:
            record = self._webhook(params["webhook_id"], params.get("phone_number_id"))
            self._checked(fields, phone_number_id=record["phone_number_id"], creating=False)
            for key in ("url", "kind", "secret_key", "events", "buffer_events", "payload_version", *_SETTINGS):
                if key in fields:
                    record[key] = copy.deepcopy(fields[key])
            if record["kind"] == "meta":
                record["events"] = []
            record["updated_at"] = self.store.now()
            return json_response(200, {"data": copy.deepcopy(record)})

    def _delete(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._webhook(params["webhook_id"], params.get("phone_number_id"))
            del self._webhooks[record["id"]]
        return Response(204, b"")

    def _test(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        if body is not None and not isinstance(body, dict):
            raise ValidationError("body", "must be a JSON object")
        with self.lock:
            record = copy.deepcopy(self._webhook(params["webhook_id"], None))
        event = (body or {}).get("event_type") or (
            record["events"][0] if record["events"] else "whatsapp.message.received"
        )
        if record["events"] and event not in record["events"]:
            raise RuleError(422, f"event_type {event!r} is not one the webhook is configured to receive")
        self._deliver(record, str(event))
        return json_response(200, {"data": {"success": True}})

    def _deliver(self, webhook: dict[str, Any], event: str) -> None:
        stamp = self.store.now()
        payload = {"event": event, "test": True, "phone_number_id": webhook["phone_number_id"], "created_at": stamp}
        raw = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Event": event,
            "X-Idempotency-Key": str(uuid.uuid4()),
            "X-Webhook-Payload-Version": webhook["payload_version"] or "v2",
            **{str(k): str(v) for k, v in (webhook.get("headers") or {}).items()},
        }
        if webhook.get("secret_key"):
            headers["X-Webhook-Signature"] = hmac.new(webhook["secret_key"].encode(), raw, hashlib.sha256).hexdigest()
        status, error = self._post(webhook["url"], raw, headers)
        delivered = status is not None and 200 <= status < 300
        config_id = None
        if webhook["phone_number_id"]:
            config_id = self.store.config_by_phone_number_id(webhook["phone_number_id"])["id"]
        with self.lock:
            self._deliveries.append(
                {
                    "id": str(uuid.uuid4()),
                    "event": event,
                    "status": "delivered" if delivered else "failed",
                    "response_status": status,
                    "delivered_at": self.store.now() if delivered else None,
                    "failed_at": None if delivered else self.store.now(),
                    "last_attempt_at": stamp,
                    "attempt_count": 1,
                    "created_at": stamp,
                    "webhook_id": webhook["id"],
                    "webhook_url": webhook["url"],
                    "whatsapp_config_id": config_id,
                    "phone_number_id": webhook["phone_number_id"],
                    "conversation_phone_number": None,
                    # Kept for tests, not shown by the API:
                    "_body": raw.decode(),
                    "_headers": headers,
                    "_error": error,
                }
            )

    @staticmethod
    def _post(url: str, raw: bytes, headers: dict[str, str]) -> tuple[int | None, str | None]:
        if not is_loopback(urlsplit(url).hostname or ""):
            return None, "not delivered: the simulator delivers to loopback URLs only"
        request = urllib.request.Request(url, data=raw, headers=headers, method="POST")  # noqa: S310 - loopback only
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
                return int(answer.status), None
        except urllib.error.HTTPError as exc:
            return int(exc.code), None
        except OSError as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _list_deliveries(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        status, event, webhook_id = query.get("status"), query.get("event"), query.get("webhook_id")
        if status not in (None, "", "pending", "delivered", "failed"):
            raise ValidationError("status", "must be pending, delivered or failed", status=400)
        if query.get("period") not in (None, "", "24h", "7d", "30d"):
            raise ValidationError("period", "must be 24h, 7d or 30d", status=400)
        with self.lock:
            selected = [
                {key: value for key, value in delivery.items() if not key.startswith("_")}
                for delivery in self._deliveries
                if (not status or delivery["status"] == status)
                and (not event or delivery["event"] == event)
                and (not webhook_id or delivery["webhook_id"] == webhook_id)
                and (query.get("errors_only") != "true" or delivery["status"] == "failed")
            ]
        selected.sort(key=lambda item: (item["created_at"], item["id"]), reverse=True)
        page, paging = cursor_page(selected, query, lambda item: (item["created_at"], item["id"]))
        return json_response(200, {"data": page, "paging": paging})
