"""What the webhook tests share: Kapso's signature computed independently, and an endpoint on 127.0.0.1.

``KapsoDeliveries`` plays Kapso: it posts signed bodies with Kapso's headers to a real HTTP endpoint and
retries a delivery with the same idempotency key, as Kapso does after an answer other than 200.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import urllib.error
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

SECRET = "whsec-very-secret-value-123"


def body_of(payload: Any) -> bytes:
    """A body as Kapso sends it: compact JSON."""
    return json.dumps(payload, separators=(",", ":")).encode()


def signed_headers(body: bytes, *, secret: str = SECRET, **extra: str) -> dict[str, str]:
    """``X-Webhook-Signature`` (hex HMAC-SHA256 of the raw body, computed here, not by the module) plus ``extra``."""
    return {"X-Webhook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), **extra}


def kapso_headers(body: bytes, *, event: str | None, key: str | None = None, **extra: str) -> dict[str, str]:
    """The headers of one Kapso delivery of ``body``: signature, event name and idempotency key."""
    headers = signed_headers(body, **extra)
    if event is not None:
        headers["X-Webhook-Event"] = event
    headers["X-Idempotency-Key"] = key or str(uuid.uuid4())
    return headers


class WebhookEndpoint:
    """A real HTTP server on 127.0.0.1 whose ``POST /`` answers with ``handle(raw_body, headers)``'s status."""

    def __init__(self, handle: Callable[[bytes, Mapping[str, str]], int]) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw_body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = endpoint.handle(raw_body, dict(self.headers.items()))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.handle = handle
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        # A short poll interval: shutdown() waits for the serving loop to notice, up to one interval.
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def __enter__(self) -> WebhookEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


def post(url: str, body: bytes, headers: Mapping[str, str]) -> int:
    """POST ``body`` with ``headers``; the HTTP status of the answer."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


class KapsoDeliveries:
    """Kapso's side: each delivery gets an idempotency key; :meth:`retry` sends it again with the same key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sent: list[tuple[bytes, dict[str, str]]] = []

    def deliver(self, payload: Any, *, event: str | None, **extra: str) -> int:
        """Post ``payload`` as a new delivery; the endpoint's HTTP status."""
        body = body_of(payload)
        headers = kapso_headers(body, event=event, **extra)
        self.sent.append((body, headers))
        return post(self.url, body, headers)

    def retry(self, index: int = -1) -> int:
        """Post delivery ``index`` again, byte for byte, with its idempotency key."""
        body, headers = self.sent[index]
        return post(self.url, body, headers)
