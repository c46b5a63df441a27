"""Fault injection over real HTTP: each kind, matching, counts, probabilities."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from kapso_provider.testing import Fault, FaultKind, KapsoSimulator
from tests.testing._support import PHONE, TIMEOUT, conversation_send, get, phone_send, post

REPO_ROOT = Path(__file__).resolve().parents[2]
TEXT = {"message_type": "text", "content": "hi"}


# -- faults -------------------------------------------------------------------------------------------------


def test_fault_rate_limit(sim, http, conversation):
    sim.add_fault("rate_limit", retry_after=7)
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"] == "Rate limit exceeded"
    assert sim.messages() == []
    assert conversation_send(http, sim, conversation["id"], TEXT).status_code == 201


def test_fault_server_error_before_store(sim, http, conversation):
    sim.add_fault(FaultKind.SERVER_ERROR_BEFORE_STORE, status=503)
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 503
    assert response.json()["status"] == 503
    assert sim.messages() == []


def test_fault_server_error_after_store(sim, http, conversation):
    sim.add_fault("server_error_after_store")
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 500
    assert set(response.json()) == {"error", "status", "message"}
    assert len(sim.messages()) == 1


def test_fault_drop_before_store(sim, http, conversation):
    sim.add_fault("drop_before_store")
    with pytest.raises(requests.ConnectionError):
        conversation_send(http, sim, conversation["id"], TEXT)
    assert sim.messages() == []
    assert len(sim.requests) == 1
    assert conversation_send(http, sim, conversation["id"], TEXT).status_code == 201


def test_fault_drop_after_store(sim, http, conversation):
    sim.add_fault("drop_after_store")
    with pytest.raises(requests.ConnectionError):
        conversation_send(http, sim, conversation["id"], TEXT)
    assert len(sim.messages()) == 1


def test_fault_slow_after_store(sim, http, conversation):
    sim.add_fault("slow_after_store", delay=2.0)
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        conversation_send(http, sim, conversation["id"], TEXT, timeout=0.2)
    assert time.monotonic() - started < 1.5
    assert len(sim.messages()) == 1
    # The pool discards the timed-out connection; the next request gets a fresh one.
    assert conversation_send(http, sim, conversation["id"], TEXT, timeout=1).status_code == 201


def test_fault_slow_after_store_answers_late(sim, http, conversation):
    sim.add_fault("slow_after_store", delay=0.2)
    started = time.monotonic()
    response = conversation_send(http, sim, conversation["id"], TEXT, timeout=2)
    assert response.status_code == 201
    assert time.monotonic() - started >= 0.2


def test_fault_malformed_json(sim, http, conversation):
    sim.add_fault("malformed_json", method="POST")
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith("application/json")
    with pytest.raises(requests.JSONDecodeError):
        response.json()
    assert len(sim.messages()) == 1
    response = http.get(f"{sim.base_url}/whatsapp_configs")
    assert response.status_code == 200
    response.json()


def test_fault_html_error(sim, http, conversation):
    sim.add_fault("html_error")
    response = conversation_send(http, sim, conversation["id"], TEXT)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text
    assert sim.messages() == []


def test_fault_on_read_behaves_the_same_before_or_after(sim, http):
    for kind in ("server_error_before_store", "server_error_after_store"):
        sim.add_fault(kind, method="GET", path="whatsapp_configs")
        assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 500


def test_fault_count_and_matching(sim, http, conversation):
    sim.add_fault(
        "server_error_before_store", method="POST", path=r"^/whatsapp_conversations/[^/]+/whatsapp_messages$", count=2
    )
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 200
    assert phone_send(http, sim, {"phone_number": PHONE, "content": "x"}).status_code == 201
    statuses = [conversation_send(http, sim, conversation["id"], TEXT).status_code for _ in range(3)]
    assert statuses == [500, 500, 201]
    assert sim.faults == []


def test_fault_count_none_is_permanent(sim, http):
    sim.add_fault("html_error", path="/whatsapp_configs", count=None)
    assert [http.get(f"{sim.base_url}/whatsapp_configs").status_code for _ in range(3)] == [502] * 3
    sim.clear_faults()
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 200


def test_first_matching_fault_wins(sim, http):
    sim.add_fault("html_error", path="configs")
    sim.add_fault("rate_limit", path="configs")
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 502
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 429
    assert http.get(f"{sim.base_url}/whatsapp_configs").status_code == 200


def fault_pattern(seed: int) -> list[int]:
    with KapsoSimulator(seed=seed) as simulator, requests.Session() as session:
        session.headers["X-API-Key"] = simulator.api_key
        simulator.add_fault("server_error_before_store", probability=0.3)
        return [session.get(f"{simulator.base_url}/whatsapp_configs").status_code for _ in range(40)]


def test_fault_probability_is_seeded():
    first = fault_pattern(7)
    assert first == fault_pattern(7)
    failures = first.count(500)
    assert 4 <= failures <= 20
    assert set(first) == {200, 500}


def test_fault_validation():
    simulator = KapsoSimulator()
    with pytest.raises(ValueError, match=r"meteor_strike"):
        simulator.add_fault("meteor_strike")
    with pytest.raises(ValueError, match="probability"):
        simulator.add_fault("html_error", probability=1.5)
    with pytest.raises(ValueError, match="count"):
        simulator.add_fault("html_error", count=0)
    assert Fault(FaultKind("rate_limit")).kind is FaultKind.RATE_LIMIT
    assert FaultKind("drop_after_store") is FaultKind.DROP_AFTER_STORE
    assert isinstance(FaultKind.DROP_AFTER_STORE, str)


def test_faults_do_not_touch_control_endpoints(sim):
    sim.add_fault("html_error", count=None)
    assert get(f"{sim.control_url}/messages").status_code == 200


# -- redirect -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_fault_redirect_answers_without_processing(sim, http, conversation, status, method):
    with KapsoSimulator(api_key="elsewhere") as other:
        target = f"{other.base_url}/whatsapp_messages"
        sim.add_fault("redirect", status=status, location=target)
        url = f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
        response = http.request(method, url, json={"message": TEXT}, allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code == status
        assert response.headers["Location"] == target
        assert response.headers["Content-Type"].startswith("text/html")
        assert sim.messages() == []
        assert other.requests == []
    assert sim.faults == []


def test_fault_redirect_defaults_to_307_and_takes_a_path(sim, http):
    sim.add_fault("redirect", location="/api/v1/whatsapp_configs", path="whatsapp_templates")
    response = http.get(f"{sim.base_url}/whatsapp_templates", allow_redirects=False)
    assert (response.status_code, response.headers["Location"]) == (307, "/api/v1/whatsapp_configs")


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({}, "location is required"),
        ({"location": "https://example.com/api/v1"}, "loopback"),
        ({"location": "ftp://127.0.0.1/x"}, "loopback"),
        ({"location": "//evil.example/x"}, "loopback"),
        ({"location": "/x", "status": 200}, "status of a redirect"),
    ],
)
def test_fault_redirect_refusals(sim, rule, error):
    with pytest.raises(ValueError, match=error):
        sim.add_fault("redirect", **rule)


def test_location_belongs_to_redirects_only(sim):
    with pytest.raises(ValueError, match="only for redirect"):
        sim.add_fault("html_error", location="/x")


def test_fault_redirect_over_the_control_endpoint(sim, http):
    rule = {"kind": "redirect", "status": 308, "location": "http://127.0.0.1:9/x", "path": "whatsapp_configs"}
    added = post(f"{sim.control_url}/faults", json=rule)
    assert added.status_code == 201
    assert added.json()["data"]["location"] == "http://127.0.0.1:9/x"
    response = http.get(f"{sim.base_url}/whatsapp_configs", allow_redirects=False)
    assert (response.status_code, response.headers["Location"]) == (308, "http://127.0.0.1:9/x")
    refused = post(f"{sim.control_url}/faults", json={"kind": "redirect", "location": "http://example.com"})
    assert refused.status_code == 400
