"""The simulator's HTTP control endpoints (``/__kapso_simulator__/...``), for tests in another process.

They call the simulator's public Python API and nothing else. A write (POST, PUT, PATCH, DELETE) must
say ``Content-Type: application/json``: a web page can post a form or plain text to 127.0.0.1 without the
browser asking first, but not JSON, so no page the user visits can inject faults or fake replies.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote

from kapso_provider.testing._errors import NotFoundError
from kapso_provider.testing._http import Response, error, json_response

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from kapso_provider.testing._current.platform_webhooks import PlatformWebhooksGroup
    from kapso_provider.testing._faults import Fault
    from kapso_provider.testing._recording import Headers, RecordedRequest
    from kapso_provider.testing._store import StatusChange

__all__ = ["CONTROL_PREFIX", "ControlSurface"]

#: Control endpoints live outside every API prefix, under a name Kapso cannot plausibly use.
CONTROL_PREFIX = "/__kapso_simulator__"
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PROGRESSION = ("delivery_delay", "read_delay", "delivery_error_code", "delivery_error_message", "status_sequence")
_SETTINGS = (
    "clock_offset",
    "strict",
    "latency",
    "rate_limit",
    "rate_limit_window",
    "service_window",
    "credits_exhausted",
)


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


class Controlled(Protocol):
    """The part of :class:`~kapso_provider.testing.KapsoSimulator` the control endpoints call."""

    delivery_delay: float | None
    read_delay: float | None
    clock_offset: float
    strict: bool
    service_window: bool
    credits_exhausted: bool
    latency: float
    rate_limit: int | None
    rate_limit_window: float
    delivery_error_code: int | None
    delivery_error_message: str | None

    @property
    def status_sequence(self) -> tuple[str, ...] | None: ...

    @property
    def requests(self) -> list[RecordedRequest]: ...

    @property
    def faults(self) -> list[Fault]: ...

    @property
    def messages(self) -> Callable[..., list[dict[str, Any]]]: ...
    @property
    def conversations(self) -> Callable[[], list[dict[str, Any]]]: ...
    @property
    def add_fault(self) -> Callable[..., None]: ...
    @property
    def clear_faults(self) -> Callable[[], None]: ...
    @property
    def create_conversation(self) -> Callable[..., dict[str, Any]]: ...
    @property
    def create_template(self) -> Callable[..., dict[str, Any]]: ...
    @property
    def reset(self) -> Callable[[], None]: ...
    @property
    def set_message_status(self) -> Callable[..., dict[str, Any]]: ...
    @property
    def schedule_status(self) -> Callable[..., StatusChange]: ...
    @property
    def pending_status_changes(self) -> Callable[[], list[StatusChange]]: ...
    @property
    def reply_to_question(self) -> Callable[..., dict[str, Any]]: ...
    @property
    def armed_replies(self) -> Callable[[], list[dict[str, Any]]]: ...
    @property
    def deliver_inbound_from(self) -> Callable[..., dict[str, Any]]: ...

    @property
    def stop_marketing(self) -> Callable[..., dict[str, Any]]: ...

    @property
    def resume_marketing(self) -> Callable[..., dict[str, Any]]: ...

    @property
    def webhooks(self) -> PlatformWebhooksGroup: ...

    @property
    def deliver_inbound(self) -> Callable[..., dict[str, Any]]: ...


class ControlSurface:
    """Answers the control endpoints of one simulator.

    :param simulator: the simulator they control.
    """

    def __init__(self, simulator: Controlled) -> None:
        self._simulator = simulator

    def answer(self, method: str, path: str, query: Mapping[str, str], headers: Headers, body: bytes) -> Response:
        """Answer one control request (server threads call this).

        :param method: HTTP method.
        :param path: the path below :data:`CONTROL_PREFIX`.
        :param query: query parameters.
        :param headers: request headers.
        :param body: the raw body.
        """
        if method in _WRITES and not _is_json(headers.get("Content-Type")):
            return error(
                415,
                "Content-Type: control writes must send application/json (a web page cannot, without asking first)",
            )
        try:
            payload: Any = json.loads(body) if body.strip() else {}
        except ValueError:
            return error(400, "body: is not valid JSON")
        if not isinstance(payload, dict):
            return error(400, "body: must be a JSON object")
        try:
            return self._dispatch(method, path.rstrip("/"), query, payload)
        except NotFoundError as exc:
            return error(404, str(exc))
        except (TypeError, ValueError) as exc:
            return error(400, str(exc))
        except Exception as exc:
            return error(500, f"Kapso simulator internal error: {type(exc).__name__}: {exc}")

    def _dispatch(self, method: str, path: str, query: Mapping[str, str], payload: dict[str, Any]) -> Response:
        sim = self._simulator
        if (method, path) == ("GET", "/requests"):
            return json_response(200, {"data": [request.to_json() for request in sim.requests]})
        if (method, path) == ("GET", "/messages"):
            return json_response(200, {"data": sim.messages(query.get("conversation_id"))})
        if (method, path) == ("GET", "/conversations"):
            return json_response(200, {"data": sim.conversations()})
        if (method, path) == ("GET", "/faults"):
            return json_response(200, {"data": [fault.to_json() for fault in sim.faults]})
        if (method, path) == ("POST", "/faults"):
            sim.add_fault(**payload)
            return json_response(201, {"data": sim.faults[-1].to_json()})
        if (method, path) == ("DELETE", "/faults"):
            sim.clear_faults()
            return json_response(200, {"data": []})
        if (method, path) == ("POST", "/conversations"):
            return json_response(201, {"data": sim.create_conversation(**payload)})
        if (method, path) == ("POST", "/templates"):
            return json_response(201, {"data": sim.create_template(**payload)})
        if (method, path) == ("POST", "/reset"):
            sim.reset()
            return json_response(200, {"data": {"reset": True}})
        if method == "POST" and (found := re.fullmatch(r"/messages/([^/]+)/status", path)):
            return json_response(200, {"data": sim.set_message_status(unquote(found[1]), **payload)})
        if method == "POST" and (found := re.fullmatch(r"/messages/([^/]+)/schedule", path)):
            change = sim.schedule_status(unquote(found[1]), **payload)
            return json_response(201, {"data": change.to_json()})
        if (method, path) == ("GET", "/progression"):
            return json_response(200, {"data": self._progression()})
        if (method, path) == ("POST", "/progression"):
            self._set(payload, _PROGRESSION)
            return json_response(200, {"data": self._progression()})
        if (method, path) == ("GET", "/settings"):
            return json_response(200, {"data": self._settings()})
        if (method, path) == ("POST", "/settings"):
            self._set(payload, _SETTINGS)
            return json_response(200, {"data": self._settings()})
        if (method, path) == ("POST", "/replies"):
            return json_response(201, {"data": sim.reply_to_question(**payload)})
        if (method, path) == ("GET", "/replies"):
            return json_response(200, {"data": sim.armed_replies()})
        if (method, path) == ("POST", "/inbound"):
            return json_response(201, {"data": sim.deliver_inbound_from(**payload)})
        if (method, path) == ("POST", "/marketing"):
            stopped = payload.pop("stopped", True)
            record = sim.stop_marketing(**payload) if stopped else sim.resume_marketing(**payload)
            return json_response(200, {"data": record})
        if (method, path) == ("GET", "/webhook_deliveries"):
            return json_response(200, {"data": sim.webhooks.deliveries()})
        if method == "POST" and (found := re.fullmatch(r"/conversations/([^/]+)/inbound", path)):
            return json_response(201, {"data": sim.deliver_inbound(unquote(found[1]), **payload)})
        return error(404, f"No control endpoint {method} {CONTROL_PREFIX}{path}")

    def _progression(self) -> dict[str, Any]:
        sim = self._simulator
        return {
            "delivery_delay": sim.delivery_delay,
            "read_delay": sim.read_delay,
            "delivery_error_code": sim.delivery_error_code,
            "delivery_error_message": sim.delivery_error_message,
            "status_sequence": None if sim.status_sequence is None else list(sim.status_sequence),
            "pending": [change.to_json() for change in sim.pending_status_changes()],
        }

    def _settings(self) -> dict[str, Any]:
        return {name: getattr(self._simulator, name) for name in _SETTINGS}

    def _set(self, payload: dict[str, Any], allowed: tuple[str, ...]) -> None:
        unknown = sorted(set(payload) - set(allowed))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        for name in allowed:
            if name in payload:
                setattr(self._simulator, name, payload[name])
