"""The current APIs share v1's pipeline: rate limit, faults, the key, control endpoints, each answering in
its own API's error style."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from tests.testing._support import PHONE, TIMEOUT, answer_errors, post

if TYPE_CHECKING:
    from collections.abc import Iterator

PROXY = "current/openapi-whatsapp.yaml"
PLATFORM = "current/openapi-platform.yaml"
TEXT = {"messaging_product": "whatsapp", "to": PHONE, "type": "text", "text": {"body": "hi"}}


def read(sim: KapsoSimulator, api: str) -> requests.Response:
    url = {
        "v1": f"{sim.base_url}/whatsapp_configs",
        "meta": f"{sim.meta_url}/{sim.default_phone_number_id}/messages",
        "platform": f"{sim.platform_url}/whatsapp/messages",
    }[api]
    return requests.get(url, headers={"X-API-Key": sim.api_key}, timeout=TIMEOUT, allow_redirects=False)


@pytest.fixture
def limited() -> Iterator[KapsoSimulator]:
    with KapsoSimulator(api_key="secret-key", rate_limit=2) as simulator:
        yield simulator


def test_one_rate_limit_per_key_across_the_apis(limited: KapsoSimulator) -> None:
    first, second = read(limited, "meta"), read(limited, "platform")
    assert [first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]] == ["1", "0"]
    meta, platform, v1 = read(limited, "meta"), read(limited, "platform"), read(limited, "v1")
    assert [answer.status_code for answer in (meta, platform, v1)] == [429, 429, 429]
    assert all(int(answer.headers["Retry-After"]) >= 1 for answer in (meta, platform, v1))
    assert meta.json()["error"]["code"] == 4
    assert platform.json() == {"error": platform.json()["error"]}
    assert "Retry after" in platform.json()["error"]
    assert v1.json()["error"] == "Rate limit exceeded"


@pytest.mark.parametrize(
    ("kind", "status"),
    [("server_error_before_store", 500), ("html_error", 502), ("rate_limit", 429), ("redirect", 307)],
)
@pytest.mark.parametrize("api", ["meta", "platform"])
def test_faults_reach_the_current_apis_in_their_style(sim: KapsoSimulator, kind: str, status: int, api: str) -> None:
    sim.add_fault(kind, api=api, location="/elsewhere" if kind == "redirect" else None)
    answer = read(sim, api)
    assert answer.status_code == status
    if kind == "server_error_before_store":
        assert isinstance(answer.json()["error"], dict if api == "meta" else str)
    # A rule for one API leaves the others alone.
    assert read(sim, "v1").status_code == 200


def test_a_send_dropped_after_store_is_stored(sim: KapsoSimulator) -> None:
    sim.add_fault("drop_after_store", api="meta", path="/messages")
    url = f"{sim.meta_url}/{sim.default_phone_number_id}/messages"
    with pytest.raises(requests.ConnectionError):
        requests.post(url, json=TEXT, headers={"X-API-Key": sim.api_key}, timeout=TIMEOUT)
    (stored,) = sim.messages()
    assert stored["content"] == "hi"


def test_recorded_requests_name_their_api(sim: KapsoSimulator) -> None:
    for api in ("v1", "meta", "platform"):
        read(sim, api)
    assert [(request.api, request.path) for request in sim.requests] == [
        ("v1", "/whatsapp_configs"),
        ("meta", f"/{sim.default_phone_number_id}/messages"),
        ("platform", "/whatsapp/messages"),
    ]


@pytest.mark.parametrize("api", ["meta", "platform"])
def test_unauthorized_in_each_style(sim: KapsoSimulator, api: str) -> None:
    url = {
        "meta": f"{sim.meta_url}/{sim.default_phone_number_id}/messages",
        "platform": f"{sim.platform_url}/whatsapp/messages",
    }
    answer = requests.get(url[api], headers={"X-API-Key": "wrong"}, timeout=TIMEOUT)
    assert answer.status_code == 401
    assert answer_errors(PROXY if api == "meta" else PLATFORM, answer) == []


def test_control_endpoints_of_the_current_api(sim: KapsoSimulator) -> None:
    control = sim.control_url
    inbound = post(f"{control}/inbound", json={"phone_number": PHONE, "content": "yes please"})
    assert inbound.status_code == 201
    assert inbound.json()["data"]["direction"] == "inbound"
    stopped = post(f"{control}/marketing", json={"phone_number": PHONE})
    assert stopped.json()["data"]["status"] == "stopped"
    resumed = post(f"{control}/marketing", json={"phone_number": PHONE, "stopped": False})
    assert resumed.json()["data"]["status"] == "resumed"
    settings = post(f"{control}/settings", json={"service_window": True, "credits_exhausted": True})
    assert (sim.service_window, sim.credits_exhausted) == (True, True)
    assert settings.json()["data"]["service_window"] is True
    deliveries = requests.get(f"{control}/webhook_deliveries", timeout=TIMEOUT)
    assert deliveries.json() == {"data": []}


@pytest.mark.parametrize(
    ("name", "value"), [("service_window", "yes"), ("credits_exhausted", 1), ("health_rate_limit", (5,))]
)
def test_business_settings_refuse_bad_values(sim: KapsoSimulator, name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        setattr(sim, name, value)


def test_reset_forgets_the_current_apis_state(sim: KapsoSimulator) -> None:
    sim.stop_marketing(PHONE)
    sim.service_window = True
    sim.media.add_remote("https://files.example/a.pdf")
    sim.agent_runs.steps = ["failed"]
    sim.template_admin.review_reads = None
    sim.reset()
    assert (sim.service_window, sim.credits_exhausted) == (False, False)
    assert sim.media.all() == []
    assert sim.agent_runs.steps == ("running", "completed")
    assert sim.template_admin.review_reads == 1
    assert sim.webhooks.webhooks() == []
