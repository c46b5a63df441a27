"""Kapso's clock: the offset a test gives it, every timestamp written on it, and the ``Date`` of every answer.

Provider code that measures the offset between a worker and Kapso reads the ``Date`` header, so every
answer carries one (errors, 429s and fault answers included), in RFC 7231's IMF-fixdate form.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from kapso_provider.testing.__main__ import _parser
from tests.testing._support import JSON, PHONE, TIMEOUT, raw_exchange

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT")
SLACK = 5.0


def kapso_time(sim: KapsoSimulator) -> float:
    return time.time() + sim.clock_offset


def assert_near(stamp: str, expected: float) -> None:
    seconds = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    assert abs(seconds - expected) < SLACK, (stamp, expected)


def assert_date(headers: Any, expected: float) -> None:
    assert IMF_FIXDATE.fullmatch(headers["Date"]), headers["Date"]
    assert abs(parsedate_to_datetime(headers["Date"]).timestamp() - expected) < SLACK


@pytest.fixture(params=[-600.0, -300.0, 300.0, 600.0], ids=lambda offset: f"{offset:+.0f}s")
def shifted(request: pytest.FixtureRequest) -> Iterator[KapsoSimulator]:
    with KapsoSimulator(api_key="secret-key", clock_offset=request.param, rate_limit=3) as simulator:
        yield simulator


def _raw(sim: KapsoSimulator, payload: bytes) -> dict[str, str]:
    head = raw_exchange(sim, payload)[1].split(b"\r\n\r\n", 1)[0].decode()
    return dict(line.split(": ", 1) for line in head.split("\r\n")[1:])


def _fault(kind: str, **rule: Any) -> Callable[[KapsoSimulator], requests.Response]:
    def call(sim: KapsoSimulator) -> requests.Response:
        sim.add_fault(kind, path="whatsapp_configs", **rule)
        return requests.get(f"{sim.base_url}/whatsapp_configs", headers={"X-API-Key": sim.api_key}, timeout=5)

    return call


ANSWERS: dict[str, Callable[[KapsoSimulator], Any]] = {
    "ok": lambda sim: requests.get(f"{sim.base_url}/whatsapp_configs", headers={"X-API-Key": sim.api_key}, timeout=5),
    "unauthorized": lambda sim: requests.get(f"{sim.base_url}/whatsapp_configs", timeout=TIMEOUT),
    "no-route": lambda sim: requests.get(f"{sim.base_url}/nothing", headers={"X-API-Key": sim.api_key}, timeout=5),
    "outside-api": lambda sim: requests.get(f"{sim.url}/elsewhere", timeout=TIMEOUT),
    "invalid": lambda sim: requests.post(
        f"{sim.base_url}/whatsapp_messages",
        json={"message": {"content": 1}},
        headers={"X-API-Key": sim.api_key},
        timeout=5,
    ),
    "server-error": _fault("server_error_before_store"),
    "server-error-after": _fault("server_error_after_store"),
    "html": _fault("html_error"),
    "malformed": _fault("malformed_json"),
    "rate-limit-fault": _fault("rate_limit"),
    "redirect": _fault("redirect", location="/api/v1/whatsapp_configs"),
    "control": lambda sim: requests.get(f"{sim.control_url}/faults", timeout=TIMEOUT),
    "control-415": lambda sim: requests.post(f"{sim.control_url}/reset", data=b"{}", timeout=TIMEOUT),
    "foreign-host": lambda sim: requests.get(
        f"{sim.base_url}/whatsapp_configs", headers={"Host": "evil.example"}, timeout=5
    ),
    "bad-frame": lambda sim: _raw(sim, b"POST /api/v1/x HTTP/1.1\r\nContent-Length: no\r\n\r\n"),
    "bad-request-line": lambda sim: _raw(sim, b"NONSENSE\r\n\r\n"),
    "bad-version": lambda sim: _raw(sim, b"GET / HTTP/9.9\r\n\r\n"),
    "unknown-method": lambda sim: _raw(sim, b"BREW /pot HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
}


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_every_answer_carries_date_on_kapsos_clock(shifted: KapsoSimulator, answer: str) -> None:
    response = ANSWERS[answer](shifted)
    headers = response if isinstance(response, dict) else response.headers
    assert_date(headers, kapso_time(shifted))


def test_a_429_of_the_rate_limit_carries_date(shifted: KapsoSimulator) -> None:
    for _ in range(3):
        requests.get(f"{shifted.base_url}/whatsapp_configs", headers={"X-API-Key": shifted.api_key}, timeout=5)
    limited = requests.get(f"{shifted.base_url}/whatsapp_configs", headers={"X-API-Key": shifted.api_key}, timeout=5)
    assert limited.status_code == 429
    assert_date(limited.headers, kapso_time(shifted))


def test_records_are_stamped_on_kapsos_clock(shifted: KapsoSimulator, http: requests.Session) -> None:
    http.headers["X-API-Key"] = shifted.api_key
    sent = http.post(
        f"{shifted.base_url}/whatsapp_messages", json={"message": {"phone_number": PHONE, "content": "hi"}}
    )
    record = sent.json()["data"]
    now = kapso_time(shifted)
    assert_near(record["created_at"], now)
    assert_near(record["updated_at"], now)
    (conversation,) = shifted.conversations()
    for field in ("created_at", "updated_at", "last_active_at"):
        assert_near(conversation[field], now)
    inbound = shifted.deliver_inbound(conversation["id"], "thanks")
    assert_near(inbound["created_at"], now)
    assert_near(shifted.set_message_status(record["id"], "delivered")["updated_at"], now)
    template = shifted.create_template("clocked")
    assert_near(template["created_at"], now)
    change = shifted.schedule_status(record["id"], "read", after=30)
    assert_near(change.to_json()["due_at"], now + 30)


@pytest.mark.parametrize("how", ["python", "control"])
def test_the_offset_changes_while_running(sim: KapsoSimulator, how: str) -> None:
    before = sim.create_conversation(phone_number=PHONE)
    assert_near(before["created_at"], time.time())
    if how == "python":
        sim.clock_offset = -300
    else:
        answer = requests.post(f"{sim.control_url}/settings", json={"clock_offset": -300}, timeout=TIMEOUT)
        assert answer.status_code == 200
        assert answer.json()["data"]["clock_offset"] == -300
    assert sim.clock_offset == -300
    # Stamps follow the new clock at once, even though it went back.
    after = sim.create_conversation(phone_number="+15557654321")
    assert_near(after["created_at"], time.time() - 300)
    assert_date(requests.get(f"{sim.control_url}/settings", timeout=TIMEOUT).headers, time.time() - 300)


@pytest.mark.parametrize("bad", ["soon", float("nan"), float("inf"), True, None])
def test_a_bad_offset_is_refused(sim: KapsoSimulator, bad: Any) -> None:
    with pytest.raises(ValueError, match="clock_offset"):
        sim.clock_offset = bad
    with pytest.raises(ValueError, match="clock_offset"):
        KapsoSimulator(clock_offset=bad)
    refused = requests.post(f"{sim.control_url}/settings", json={"clock_offset": str(bad)}, timeout=TIMEOUT)
    assert refused.status_code == 400


def test_settings_over_http(sim: KapsoSimulator) -> None:
    assert requests.get(f"{sim.control_url}/settings", timeout=TIMEOUT).json()["data"] == {
        "clock_offset": 0.0,
        "strict": False,
        "latency": 0.0,
        "rate_limit": None,
        "rate_limit_window": 60.0,
        "service_window": False,
        "credits_exhausted": False,
    }
    changed = requests.post(f"{sim.control_url}/settings", json={"rate_limit": 5}, headers=JSON, timeout=TIMEOUT)
    assert changed.json()["data"]["rate_limit"] == sim.rate_limit == 5
    unknown = requests.post(f"{sim.control_url}/settings", json={"colour": "red"}, timeout=TIMEOUT)
    assert unknown.status_code == 400


def test_cli_options() -> None:
    assert _parser().parse_args(["--clock-offset", "-300"]).clock_offset == -300.0
    assert _parser().parse_args([]).clock_offset == 0.0
    assert _parser().parse_args(["--strict"]).strict is True
    assert _parser().parse_args([]).strict is False


class TestSeeding:
    """A message "sent earlier", as another task or an earlier run would have left it."""

    def test_sent_ago_is_on_kapsos_clock(self, shifted: KapsoSimulator) -> None:
        newer = shifted.store_outbound(phone_number=PHONE, message={"content": "from this task"})
        older = shifted.store_outbound(phone_number=PHONE, message={"content": "from another task"}, sent_ago=100)
        assert_near(older["created_at"], kapso_time(shifted) - 100)
        assert older["whatsapp_conversation_id"] == newer["whatsapp_conversation_id"]
        assert (older["direction"], older["status"]) == ("outbound", "sent")
        assert older["whatsapp_message_id"].startswith("wamid.")
        # The conversation's activity does not move back, and the list stays newest first.
        (record,) = shifted.conversations()
        assert record["last_active_at"] == newer["created_at"]
        listed = requests.get(
            f"{shifted.base_url}/whatsapp_conversations/{record['id']}/whatsapp_messages",
            headers={"X-API-Key": shifted.api_key},
            timeout=TIMEOUT,
        ).json()["data"]
        assert [item["content"] for item in listed] == ["from this task", "from another task"]

    def test_into_a_conversation_with_any_message(self, sim: KapsoSimulator, conversation: dict[str, Any]) -> None:
        record = sim.store_outbound(
            conversation["id"],
            {"message_type": "image", "media_url": "https://x.test/a.png", "caption": "chart"},
            sent_ago=30,
        )
        assert (record["message_type"], record["content"]) == ("image", "[Image] chart")
        assert sim.requests == []

    @pytest.mark.parametrize(
        ("arguments", "error"),
        [
            ({}, "exactly one of conversation_id or phone_number"),
            ({"conversation_id": "x", "phone_number": PHONE}, "exactly one"),
            ({"phone_number": PHONE, "sent_ago": -1}, "sent_ago"),
            ({"phone_number": PHONE, "message": {"message_type": "image"}}, "message.media_url"),
        ],
    )
    def test_refusals(self, sim: KapsoSimulator, arguments: dict[str, Any], error: str) -> None:
        with pytest.raises(ValueError, match=error):
            sim.store_outbound(**arguments)

    def test_message_times(self, sim: KapsoSimulator) -> None:
        record = sim.store_outbound(phone_number=PHONE)
        changed = sim.set_message_times(record["whatsapp_message_id"], "2030-01-01T00:00:00.000000Z")
        assert (changed["created_at"], changed["updated_at"]) == ("2030-01-01T00:00:00.000000Z",) * 2
        assert sim.messages()[0]["created_at"] == "2030-01-01T00:00:00.000000Z"
