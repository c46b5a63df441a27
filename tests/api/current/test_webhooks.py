"""Current API: webhooks of both scopes (register, list, read, update, test, delete) and the delivery log,
through the hook, with a real receiver on 127.0.0.1 that checks Kapso's signature."""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoUnsupportedError
from kapso_provider.webhooks import SIGNATURE_HEADER, verify_signature

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator
    from tests.api.current.conftest import Refused

SECRET = "wh-secret-" + uuid.uuid4().hex


class Receiver(ThreadingHTTPServer):
    """Takes deliveries on 127.0.0.1 and keeps each one's raw body and headers."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[bytes, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.deliveries.append((body, dict(self.headers.items())))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/kapso"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_register_test_audit_and_delete_a_number_webhook(
    hook: KapsoHook, simulator: KapsoSimulator, receiver: Receiver
) -> None:
    number = simulator.default_phone_number_id
    made = hook.create_webhook(
        url=receiver.url,
        events=["whatsapp.message.received"],
        phone_number_id=number,
        secret_key=SECRET,
        headers={"Authorization": "Bearer receiver-token"},
    )
    create = simulator.requests[-1]
    assert create.path == f"/whatsapp/phone_numbers/{number}/webhooks"
    assert create.json["whatsapp_webhook"]["secret_key"] == SECRET
    # The record a DAG gets back keeps no secret.
    assert made["secret_key"] == "***"
    assert made["headers"] == {"Authorization": "***"}
    assert SECRET not in repr(made)
    assert [w["id"] for w in hook.list_webhooks(phone_number_id=number)] == [made["id"]]
    assert hook.get_webhook(made["id"])["secret_key"] == "***"

    assert hook.send_webhook_test(made["id"]) == {"success": True}
    ((body, headers),) = receiver.deliveries
    verify_signature(body, headers[SIGNATURE_HEADER], SECRET)
    (delivery,) = hook.list_webhook_deliveries(webhook_id=made["id"], period="24h")
    assert (delivery["event"], delivery["status"], delivery["response_status"]) == (
        "whatsapp.message.received",
        "delivered",
        204,
    )

    paused = hook.update_webhook(made["id"], phone_number_id=number, active=False)
    assert paused["active"] is False
    assert simulator.requests[-1].json == {"whatsapp_webhook": {"active": False}}
    assert [w["id"] for w in hook.list_webhooks(phone_number_id=number, active=False)] == [made["id"]]
    assert hook.delete_webhook(made["id"], phone_number_id=number) is None
    with pytest.raises(KapsoNotFoundError):
        hook.get_webhook(made["id"])


def test_a_project_webhook_takes_project_events(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    made = hook.create_webhook(url="https://example.com/kapso", events=["whatsapp.phone_number.created"])
    assert simulator.requests[-1].path == "/whatsapp/webhooks"
    assert made["phone_number_id"] is None
    assert [w["id"] for w in hook.list_webhooks(kind="kapso")] == [made["id"]]


def test_a_failed_delivery_shows_in_the_log(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    made = hook.create_webhook(
        url="http://127.0.0.1:9/nobody-listens",
        events=["whatsapp.message.received"],
        phone_number_id=simulator.default_phone_number_id,
        secret_key=SECRET,
    )
    hook.send_webhook_test(made["id"], event_type="whatsapp.message.received")
    assert [d["status"] for d in hook.list_webhook_deliveries(errors_only=True)] == ["failed"]
    assert simulator.requests[-1].query == {"errors_only": "true", "limit": "100"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"url": "ftp://example.com"}, r"^url: must be an absolute https:// URL"),
        ({"url": "http://example.com/hook"}, r"^url: .* is plain http"),
        ({"events": []}, r"^events: a 'kapso' webhook needs at least one event"),
        ({"events": ["whatsapp.message.received"]}, r"^events: 'whatsapp\.message\.received' reaches number-scoped"),
        ({"kind": "meta", "events": []}, r"^kind: a 'meta' webhook forwards one number's payloads"),
        ({"buffer_window_seconds": 61}, r"^buffer_window_seconds: must be a whole number from 1 to 60"),
        ({"inactivity_minutes": 0}, r"^inactivity_minutes: must be a whole number from 1 to 1440"),
        ({"payload_version": "v3"}, r"^payload_version: must be one of v1, v2"),
        ({"phone_number_id": "100015550000000"}, r"^secret_key: a number-scoped webhook needs one"),
    ],
)
def test_a_bad_registration_fails_before_any_request(
    hook: KapsoHook, simulator: KapsoSimulator, arguments: dict[str, Any], message: str
) -> None:
    registration: dict[str, Any] = {"url": "https://example.com/kapso", "events": ["whatsapp.phone_number.created"]}
    with pytest.raises(KapsoArgumentError, match=message):
        hook.create_webhook(**{**registration, **arguments})
    assert simulator.requests == []


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.update_webhook(str(uuid.uuid4())), r"^update_webhook: give at least one field"),
        (lambda h: list(h.list_webhooks(active=True)), r"^active: the project's webhook list has no such filter"),
        (lambda h: list(h.list_webhook_deliveries(period="1y")), r"^period: must be one of 24h, 7d, 30d"),
        (lambda h: h.get_webhook("webhook-1"), r"^webhook_id: must be a UUID"),
    ],
)
def test_bad_arguments_fail_before_any_request(refused: Refused, call: Any, message: str) -> None:
    refused(call, KapsoArgumentError, message)


def test_api_v1_has_no_webhook_endpoints(kapso_server: object) -> None:
    from kapso_provider.hooks.kapso import KapsoHook as Hook

    hook = Hook()
    try:
        with pytest.raises(KapsoUnsupportedError, match=r"^list_webhooks: Kapso's API v1 has no such operation; it "):
            list(hook.list_webhooks())
    finally:
        hook.close()
