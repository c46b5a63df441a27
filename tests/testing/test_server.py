"""The simulator's HTTP layer against what a web page in the user's browser could do to it.

A page cannot read the simulator's answers, but it can send it requests: plain-text or form posts (no
preflight), and, through a DNS name it controls that resolves to 127.0.0.1 (DNS rebinding), any request at
all, with its own name in ``Host``. Every test here speaks raw HTTP to a real server on 127.0.0.1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from kapso_provider.testing._server import Server
from tests.testing._support import JSON, PHONE, TIMEOUT, raw_exchange

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example", "10.0.0.1", "localhost:x", "[::2]"]
)
@pytest.mark.parametrize("path", ["/api/v1/whatsapp_configs", "/__kapso_simulator__/messages"])
def test_a_foreign_host_is_refused(sim: KapsoSimulator, host: str, path: str) -> None:
    response = requests.get(
        sim.url + path,
        headers={"Host": host.format(port=sim.port), "X-API-Key": sim.api_key},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert "loopback" in response.json()["message"]
    assert response.headers["Connection"] == "close"


@pytest.mark.parametrize("host", ["localhost", "localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "127.0.0.2"])
def test_loopback_hosts_are_served(sim: KapsoSimulator, host: str) -> None:
    response = requests.get(
        sim.base_url + "/whatsapp_configs",
        headers={"Host": host.format(port=sim.port), "X-API-Key": sim.api_key},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200


def test_a_forbidden_request_changes_nothing(sim: KapsoSimulator) -> None:
    response = requests.post(
        f"{sim.control_url}/faults",
        json={"kind": "html_error"},
        headers={"Host": "rebound.example"},
        timeout=TIMEOUT,
    )
    assert response.status_code == 403
    assert sim.faults == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {"Content-Type": "multipart/form-data; boundary=x"},
        {"Content-Type": "application/jsonp"},
    ],
    ids=["none", "text", "form", "multipart", "lookalike"],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/faults", b'{"kind": "html_error"}'),
        ("POST", "/reset", b"{}"),
        ("POST", "/replies", b'{"phone_number": "+15551234567", "text": "yes"}'),
        ("DELETE", "/faults", b""),
    ],
)
def test_control_writes_must_be_json(
    sim: KapsoSimulator, headers: dict[str, str], method: str, path: str, body: bytes
) -> None:
    sim.add_fault("html_error", path="never-matched")
    response = requests.request(method, sim.control_url + path, data=body, headers=headers, timeout=TIMEOUT)
    assert response.status_code == 415
    assert "application/json" in response.json()["message"]
    assert [fault.path for fault in sim.faults] == ["never-matched"]
    assert sim.armed_replies() == []


def test_control_writes_in_json_are_served(sim: KapsoSimulator) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    added = requests.post(f"{sim.control_url}/faults", data=b'{"kind": "html_error"}', headers=headers, timeout=5)
    assert added.status_code == 201
    cleared = requests.delete(f"{sim.control_url}/faults", headers=JSON, timeout=TIMEOUT)
    assert cleared.status_code == 200
    assert sim.faults == []
    # Reads need no content type.
    assert requests.get(f"{sim.control_url}/faults", timeout=TIMEOUT).status_code == 200


@pytest.fixture
def small() -> Iterator[KapsoSimulator]:
    with KapsoSimulator(api_key="secret-key", max_body_bytes=1024) as simulator:
        yield simulator


def send_body(sim: KapsoSimulator, path: str, *, chunks: list[bytes] | None = None, length: int | None = None) -> int:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {sim.api_key}\r\n"
    head += "Content-Type: application/json\r\n"
    if chunks is not None:
        payload = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
        head += "Transfer-Encoding: chunked\r\n"
    else:
        payload = b"x" * (length or 0)
        head += f"Content-Length: {length}\r\n"
    status, _ = raw_exchange(sim, head.encode() + b"Connection: close\r\n\r\n" + payload)
    return status


@pytest.mark.parametrize("path", ["/api/v1/whatsapp_messages", "/__kapso_simulator__/conversations"])
def test_every_body_is_capped(small: KapsoSimulator, path: str) -> None:
    assert send_body(small, path, length=1025) == 413
    # Chunked: refused as soon as the chunks add up to more than the cap, whatever their number.
    assert send_body(small, path, chunks=[b" " * 600, b" " * 600]) == 413
    assert send_body(small, path, chunks=[b" " * 1000] * 50) == 413


def test_a_chunked_body_under_the_cap_is_read(small: KapsoSimulator) -> None:
    body = b'{"phone_number": "%s"}' % PHONE.encode()
    assert send_body(small, "/__kapso_simulator__/conversations", chunks=[body[:10], body[10:]]) == 201
    assert [conversation["phone_number"] for conversation in small.conversations()] == [PHONE]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /api/v1/whatsapp_messages HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /api/v1/whatsapp_messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/v1/whatsapp_messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ten\r\n\r\n",
    ],
    ids=["bad-chunk-size", "negative-length", "non-numeric-length"],
)
def test_a_malformed_body_frame_is_400(sim: KapsoSimulator, request_bytes: bytes) -> None:
    status, answer = raw_exchange(sim, request_bytes)
    assert status == 400
    assert b"Connection: close" in answer


@pytest.mark.parametrize(
    ("exc", "printed"),
    [
        (ConnectionResetError(104, "reset by peer"), False),
        (BrokenPipeError(32, "broken pipe"), False),
        (ValueError("a bug"), True),
    ],
    ids=["reset", "broken-pipe", "bug"],
)
def test_only_a_real_error_of_a_handler_prints_its_traceback(
    sim: KapsoSimulator, capsys: pytest.CaptureFixture[str], exc: Exception, printed: bool
) -> None:
    # Clients hang up on purpose under the dropped-connection faults; a traceback for each hid real ones.
    server = Server(("127.0.0.1", 0), sim)
    try:
        try:
            raise exc
        except Exception:
            server.handle_error(None, ("127.0.0.1", 40000))
    finally:
        server.server_close()
    assert ("Traceback" in capsys.readouterr().err) is printed
