"""The Kapso simulator over real HTTP on 127.0.0.1: lifecycle, auth, limits, recording, control, CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from tests.testing._support import JSON, PHONE, conversation_send, get, post

REPO_ROOT = Path(__file__).resolve().parents[2]
TEXT = {"message_type": "text", "content": "hi"}


# -- lifecycle ---------------------------------------------------------------------------------------------


def test_base_url_and_defaults():
    simulator = KapsoSimulator()
    assert simulator.api_key == "test-key"
    with pytest.raises(RuntimeError):
        _ = simulator.base_url
    simulator.start()
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/api/v1", simulator.base_url)
        assert simulator.running
        with pytest.raises(RuntimeError):
            simulator.start()
    finally:
        simulator.stop()
    simulator.stop()  # idempotent
    assert not simulator.running


def test_refuses_non_loopback_host():
    with pytest.raises(ValueError, match="loopback"):
        KapsoSimulator(host="192.0.2.1")


def test_stop_closes_pooled_connections():
    simulator = KapsoSimulator().start()
    session = requests.Session()
    url = f"{simulator.base_url}/whatsapp_configs"
    assert session.get(url, headers={"X-API-Key": "test-key"}).status_code == 200
    simulator.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url, headers={"X-API-Key": "test-key"}, timeout=1)


def test_keep_alive_reuses_one_connection(sim, http):
    for _ in range(3):
        response = http.get(f"{sim.base_url}/whatsapp_configs")
        assert response.status_code == 200
        assert int(response.headers["Content-Length"]) == len(response.content)
    peers = {request.headers["Host"] for request in sim.requests}
    assert len(peers) == 1


# -- auth and errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer secret-key"}])
def test_unauthorized(sim, headers):
    response = get(f"{sim.base_url}/whatsapp_conversations", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "Unauthorized"
    assert body["status"] == 401
    assert body["message"]
    assert "secret-key" not in response.text
    assert "wrong" not in response.text
    assert response.headers["Content-Type"].startswith("application/json")


def test_header_name_is_case_insensitive(sim):
    response = get(f"{sim.base_url}/whatsapp_configs", headers={"x-api-key": sim.api_key})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/unknown"),
        ("GET", "/api/v2/whatsapp_conversations"),
        ("DELETE", "/api/v1/whatsapp_conversations"),
        ("GET", "/"),
    ],
)
def test_unknown_paths_are_404_in_error_shape(sim, http, method, path):
    response = http.request(method, sim.url + path)
    assert response.status_code == 404
    assert set(response.json()) == {"error", "status", "message"}


def test_unknown_ids_are_404(sim, http):
    for path in (
        "/whatsapp_conversations/nope",
        "/whatsapp_conversations/nope/whatsapp_messages",
        "/whatsapp_templates/nope",
        "/whatsapp_configs/nope",
    ):
        response = http.get(sim.base_url + path)
        assert response.status_code == 404, path
        assert response.json()["status"] == 404
    response = conversation_send(http, sim, "nope", {"content": "hi"})
    assert response.status_code == 404
    assert sim.messages() == []


def test_invalid_json_body_is_400(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    response = http.post(
        f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert sim.requests[-1].json is None
    assert sim.requests[-1].body == b"{not json"


# -- recorded requests --------------------------------------------------------------------------------------


def test_requests_are_recorded_with_key_redacted_in_repr(sim, http):
    conversation = sim.create_conversation(phone_number=PHONE)
    conversation_send(http, sim, conversation["id"], TEXT, params={"x": "1"})
    get(f"{sim.control_url}/requests")
    (recorded,) = sim.requests
    assert recorded.method == "POST"
    assert recorded.path == f"/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
    assert recorded.full_path == f"/api/v1/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
    assert recorded.query == {"x": "1"}
    assert recorded.json == {"message": TEXT}
    assert json.loads(recorded.body) == {"message": TEXT}
    assert recorded.headers["x-api-key"] == "secret-key"
    assert "X-API-Key" in recorded.headers
    assert "secret-key" not in repr(recorded)
    assert "secret-key" not in json.dumps(recorded.to_json())


# -- rate limit and latency ---------------------------------------------------------------------------------


def test_rate_limit():
    with KapsoSimulator(rate_limit=3) as simulator, requests.Session() as session:
        session.headers["X-API-Key"] = simulator.api_key
        url = f"{simulator.base_url}/whatsapp_configs"
        answers = [session.get(url) for _ in range(4)]
        assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
        assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0", "0"]
        assert all(answer.headers["X-RateLimit-Limit"] == "3" for answer in answers)
        limited = answers[-1]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        body = limited.json()
        assert body["error"] == "Rate limit exceeded"
        assert body["status"] == 429
        assert body["message"]
        # Counted per key: another key has its own window.
        other = get(url, headers={"X-API-Key": "other"})
        assert other.status_code == 401
        assert other.headers["X-RateLimit-Remaining"] == "2"
        simulator.reset()
        assert session.get(url).status_code == 200


def test_rate_limit_window_resets():
    with KapsoSimulator(rate_limit=1, rate_limit_window=0.3) as simulator:
        url = f"{simulator.base_url}/whatsapp_configs"
        headers = {"X-API-Key": simulator.api_key}
        assert get(url, headers=headers).status_code == 200
        assert get(url, headers=headers).status_code == 429
        time.sleep(0.35)
        assert get(url, headers=headers).status_code == 200


def test_no_rate_limit_headers_when_unlimited(sim, http):
    response = http.get(f"{sim.base_url}/whatsapp_configs")
    assert "X-RateLimit-Limit" not in response.headers


def test_latency():
    with KapsoSimulator(latency=0.15) as simulator:
        started = time.monotonic()
        get(f"{simulator.base_url}/whatsapp_configs", headers={"X-API-Key": simulator.api_key})
        assert time.monotonic() - started >= 0.15
        started = time.monotonic()
        get(f"{simulator.control_url}/messages")
        assert time.monotonic() - started < 0.15


# -- reset --------------------------------------------------------------------------------------------------


def test_reset(sim, http, conversation):
    sim.add_whatsapp_config(name="Other")
    sim.create_template()
    conversation_send(http, sim, conversation["id"], TEXT)
    sim.add_fault("html_error", count=None)
    key, config_id = sim.api_key, sim.default_whatsapp_config_id
    sim.reset()
    assert sim.messages() == []
    assert sim.conversations() == []
    assert sim.requests == []
    assert sim.faults == []
    assert sim.api_key == key
    configs = http.get(f"{sim.base_url}/whatsapp_configs").json()["data"]
    assert [config["id"] for config in configs] == [config_id]
    assert http.get(f"{sim.base_url}/whatsapp_templates").json()["data"] == []


# -- control endpoints --------------------------------------------------------------------------------------


def test_control_endpoints(sim, http):
    control = sim.control_url
    created = post(f"{control}/conversations", json={"phone_number": PHONE})
    assert created.status_code == 201
    conversation = created.json()["data"]
    record = conversation_send(http, sim, conversation["id"], TEXT).json()["data"]

    listed = get(f"{control}/messages").json()["data"]
    assert [item["id"] for item in listed] == [record["id"]]
    assert get(f"{control}/messages", params={"conversation_id": "x"}).json()["data"] == []

    recorded = get(f"{control}/requests").json()["data"]
    assert len(recorded) == 1
    assert recorded[0]["headers"]["X-API-Key"] == "***"
    assert recorded[0]["json"] == {"message": TEXT}

    status = post(
        f"{control}/messages/{record['id']}/status",
        json={"status": "failed", "error_code": 131047, "error_message": "Re-engagement message"},
    )
    assert status.status_code == 200
    assert status.json()["data"]["metadata"]["error_code"] == 131047
    assert post(f"{control}/messages/nope/status", json={"status": "read"}).status_code == 404

    fault = post(f"{control}/faults", json={"kind": "html_error", "path": "configs", "count": 1})
    assert fault.status_code == 201
    assert fault.json()["data"]["kind"] == "html_error"
    assert get(f"{control}/faults").json()["data"][0]["path"] == "configs"
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 502
    assert post(f"{control}/faults", json={"kind": "nope"}).status_code == 400
    assert post(f"{control}/faults", json={"colour": "red"}).status_code == 400

    template = post(f"{control}/templates", json={"name": "t1"}).json()["data"]
    assert sim.create_template()["id"] != template["id"]
    inbound = post(f"{control}/conversations/{conversation['id']}/inbound", json={"content": "yo"})
    assert inbound.status_code == 201
    assert inbound.json()["data"]["direction"] == "inbound"

    assert post(f"{control}/reset", json={}).json() == {"data": {"reset": True}}
    assert sim.messages() == []
    assert get(f"{control}/nothing").status_code == 404
    assert post(f"{control}/conversations", data=b"[", headers=JSON).status_code == 400
    # Control traffic is never recorded nor asks for the API key.
    assert sim.requests == []


# -- CLI ----------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_serves_until_terminated():
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kapso_provider.testing",
            "--port",
            str(port),
            "--api-key",
            "cli-key",
            "--rate-limit",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        base_url = f"http://127.0.0.1:{port}/api/v1"
        assert base_url in first
        assert "cli-key" in second
        response = get(f"{base_url}/whatsapp_configs", headers={"X-API-Key": "cli-key"}, timeout=5)
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "50"
    finally:
        process.terminate()
        process.wait(timeout=5)
    assert process.returncode == 0


def test_cli_refuses_non_loopback_host():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "kapso_provider.testing", "--host", "0.0.0.0", "--port", "0"],  # noqa: S104 - the mistake refused
        capture_output=True,
        text=True,
        env=env,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr


# -- concurrency and addresses ------------------------------------------------------------------------------


def test_concurrent_sends_are_all_stored(sim):
    from concurrent.futures import ThreadPoolExecutor

    conversation = sim.create_conversation(phone_number=PHONE)

    def send(index: int) -> int:
        with requests.Session() as session:
            session.headers["X-API-Key"] = sim.api_key
            statuses = [
                conversation_send(session, sim, conversation["id"], {"content": f"{index}-{n}"}, timeout=5).status_code
                for n in range(5)
            ]
        return statuses.count(201)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(send, range(8))) == 40
    records = sim.messages()
    assert len(records) == 40
    assert len({record["id"] for record in records}) == 40
    stamps = [record["created_at"] for record in records]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 40


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        simulator = KapsoSimulator(host="::1").start()
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    try:
        assert simulator.base_url.startswith("http://[::1]:")
        assert get(f"{simulator.base_url}/whatsapp_configs", headers={"X-API-Key": "test-key"}).status_code == 200
    finally:
        simulator.stop()
