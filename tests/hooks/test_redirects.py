"""Neither hook follows a redirect: the API key and the message never reach the host a ``Location`` names.

A loopback server answers every request with a 3xx pointing at a second loopback server on another port.
Before the fix ``requests`` followed it with ``X-API-Key`` (it strips only ``Authorization``), turned a
``POST`` into a ``GET`` on 301-303 and returned the other host's JSON as the send record; ``httpx`` reported
"answer is not JSON".
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoRedirectError
from kapso_provider.hooks.kapso import KapsoAsyncHook, KapsoHook, RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

KEY = "redirect-test-key-4f1b"
PHONE = "+15551234567"
CONVERSATION = "11111111-2222-3333-4444-555555555555"


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 that records every request and answers as ``answer`` says."""

    answer: Callable[[BaseHTTPRequestHandler], tuple[int, dict[str, str], bytes]]
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def __enter__(self) -> LoopbackServer:
        recorded, answer = self.requests, self.answer

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorded.append((self.command, self.path, dict(self.headers)))
                status, headers, body = answer(self)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any  # noqa: N815 - http.server names them

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.server_address[1]


@pytest.fixture
def other_host() -> Iterator[LoopbackServer]:
    """The server a redirect points at: it would answer a plausible send record."""
    record = json.dumps({"data": {"id": "not-sent", "status": "sent", "message_type": "text"}}).encode()
    with LoopbackServer(lambda handler: (200, {"Content-Type": "application/json"}, record)) as server:
        yield server


@pytest.fixture(params=[301, 302, 303, 307, 308])
def redirecting(
    request: pytest.FixtureRequest, other_host: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoopbackServer]:
    """The connection's host: it redirects every request to ``other_host``, keeping the path."""
    status: int = request.param

    def redirect(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        return status, {"Location": f"http://127.0.0.1:{other_host.port}{handler.path}"}, b""

    with LoopbackServer(redirect) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": f"http://127.0.0.1:{server.port}/api/v1", "password": KEY}),
        )
        yield server


POLICY = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.02)


def _sync(call: str) -> Any:
    hook = KapsoHook(retry_policy=POLICY)
    try:
        if call == "read":
            return hook.get_conversation(CONVERSATION)
        return hook.send_message({"content": "hi"}, phone_number=PHONE)
    finally:
        hook.close()


def _async(call: str) -> Any:
    async def main() -> Any:
        hook = KapsoAsyncHook(retry_policy=POLICY)
        try:
            if call == "read":
                return await hook.get_conversation(CONVERSATION)
            return await hook.send_message({"content": "hi"}, phone_number=PHONE)
        finally:
            await hook.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("driver", [_sync, _async], ids=["sync", "async"])
@pytest.mark.parametrize("call", ["read", "send"])
def test_a_redirect_is_a_definite_error_and_nothing_reaches_the_other_host(
    redirecting: LoopbackServer, other_host: LoopbackServer, driver: Callable[[str], Any], call: str
) -> None:
    with pytest.raises(KapsoRedirectError) as info:
        driver(call)
    status = info.value.status
    assert status in (301, 302, 303, 307, 308)
    text = str(info.value)
    assert f"HTTP {status}" in text
    assert f"http://127.0.0.1:{other_host.port}" in text
    assert KEY not in text
    # Nothing went to the other host, and the redirect was neither retried nor reconciled: one request only.
    assert other_host.requests == []
    assert [method for method, _, _ in redirecting.requests] == ["GET" if call == "read" else "POST"]


def test_the_redirect_text_never_repeats_the_location_beyond_its_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    location = "https://user:secret@elsewhere.example:8443/path?token=abc"

    def redirect(handler: BaseHTTPRequestHandler) -> tuple[int, dict[str, str], bytes]:
        return 307, {"Location": location}, b""

    with LoopbackServer(redirect) as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": f"http://127.0.0.1:{server.port}/api/v1", "password": KEY}),
        )
        with pytest.raises(KapsoRedirectError) as info:
            _sync("read")
    text = str(info.value)
    assert "https://elsewhere.example:8443" in text
    for hidden in ("secret", "user", "token=abc", "/path"):
        assert hidden not in text
