"""The simulator's status progression: sent -> delivered -> read (or failed), by delay, script or schedule.

Delays of 0 (due at once) and of an hour (never due within a test) keep every case free of sleeps.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from kapso_provider.testing.__main__ import _parser
from tests.testing._support import PHONE, TIMEOUT

HOUR = 3600.0


def _send(sim: KapsoSimulator, content: str = "hi") -> dict[str, Any]:
    response = requests.post(
        f"{sim.base_url}/whatsapp_messages",
        headers={"X-API-Key": sim.api_key},
        json={"message": {"phone_number": PHONE, "content": content, "message_type": "text"}},
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()["data"]
    assert record["status"] == "sent"  # the send's own answer is always "sent"
    return record


def _listed_status(sim: KapsoSimulator, record: dict[str, Any]) -> str:
    response = requests.get(
        f"{sim.base_url}/whatsapp_conversations/{record['whatsapp_conversation_id']}/whatsapp_messages",
        headers={"X-API-Key": sim.api_key},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    (listed,) = [message for message in response.json()["data"] if message["id"] == record["id"]]
    return str(listed["status"])


def _control(sim: KapsoSimulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{sim.control_url}{path}", timeout=TIMEOUT, **kwargs)


class TestDelays:
    @pytest.mark.parametrize(
        ("delivery_delay", "read_delay", "expected"),
        [
            (None, None, "sent"),  # the default: WhatsApp never confirms
            (None, 0.0, "sent"),  # read needs delivery first
            (HOUR, 0.0, "sent"),
            (0.0, None, "delivered"),  # read receipts off
            (0.0, HOUR, "delivered"),
            (0.0, 0.0, "read"),
        ],
    )
    def test_status_after_the_delays(
        self, sim: KapsoSimulator, delivery_delay: float | None, read_delay: float | None, expected: str
    ) -> None:
        sim.delivery_delay = delivery_delay
        sim.read_delay = read_delay
        record = _send(sim)
        assert _listed_status(sim, record) == expected
        assert sim.messages()[0]["status"] == expected

    def test_constructor_options(self) -> None:
        with KapsoSimulator(delivery_delay=0, read_delay=HOUR) as simulator:
            record = _send(simulator)
            assert _listed_status(simulator, record) == "delivered"
            (pending,) = simulator.pending_status_changes()
            assert (pending.message_id, pending.status) == (record["id"], "read")

    def test_failure_instead_of_delivery_carries_the_whatsapp_error(self, sim: KapsoSimulator) -> None:
        sim.delivery_delay = 0
        sim.read_delay = 0
        sim.delivery_error_code = 131047
        sim.delivery_error_message = "Re-engagement message"
        record = _send(sim)
        assert _listed_status(sim, record) == "failed"
        (stored,) = sim.messages()
        assert stored["metadata"] == {"error_code": 131047, "error_message": "Re-engagement message"}

    def test_settings_apply_to_later_sends_only(self, sim: KapsoSimulator) -> None:
        before = _send(sim, "before")
        sim.delivery_delay = 0
        after = _send(sim, "after")
        assert _listed_status(sim, before) == "sent"
        assert _listed_status(sim, after) == "delivered"

    def test_updated_at_is_when_the_change_was_due(self, sim: KapsoSimulator) -> None:
        record = _send(sim)
        change = sim.schedule_status(record["id"], "delivered", after=0)
        (stored,) = sim.messages()
        assert stored["updated_at"] == change.to_json()["due_at"]

    @pytest.mark.parametrize("bad", [-1, float("nan"), "soon", True])
    def test_bad_delays_are_refused(self, sim: KapsoSimulator, bad: Any) -> None:
        with pytest.raises(ValueError, match="delivery_delay"):
            sim.delivery_delay = bad
        with pytest.raises(ValueError, match="read_delay"):
            KapsoSimulator(read_delay=bad)


class TestStatusSequence:
    def test_one_step_per_listing_then_stays(self, sim: KapsoSimulator) -> None:
        sim.status_sequence = ["sent", "delivered", "read"]
        record = _send(sim)
        assert [_listed_status(sim, record) for _ in range(5)] == ["sent", "delivered", "read", "read", "read"]

    def test_inspecting_from_python_is_not_a_listing(self, sim: KapsoSimulator) -> None:
        sim.status_sequence = ["sent", "delivered"]
        record = _send(sim)
        assert [m["status"] for m in sim.messages()] == ["sent"]
        assert sim.messages()[0]["status"] == "sent"
        assert _listed_status(sim, record) == "sent"
        assert _listed_status(sim, record) == "delivered"

    def test_failed_step_carries_the_error_and_is_final(self, sim: KapsoSimulator) -> None:
        sim.status_sequence = ["sent", "failed", "read"]
        sim.delivery_error_code = 131026
        sim.delivery_error_message = "Message undeliverable"
        record = _send(sim)
        assert [_listed_status(sim, record) for _ in range(3)] == ["sent", "failed", "failed"]
        assert sim.messages()[0]["metadata"]["error_code"] == 131026

    def test_only_the_listed_conversation_advances(self, sim: KapsoSimulator) -> None:
        sim.status_sequence = ["sent", "delivered"]
        first = _send(sim)
        other = requests.post(
            f"{sim.base_url}/whatsapp_messages",
            headers={"X-API-Key": sim.api_key},
            json={"message": {"phone_number": "+15557654321", "content": "x", "message_type": "text"}},
            timeout=TIMEOUT,
        ).json()["data"]
        _listed_status(sim, first)
        assert _listed_status(sim, first) == "delivered"
        assert _listed_status(sim, other) == "sent"

    @pytest.mark.parametrize("bad", [[], "sent", ["sent", "seen"]])
    def test_bad_sequences_are_refused(self, sim: KapsoSimulator, bad: Any) -> None:
        with pytest.raises(ValueError, match="status_sequence"):
            sim.status_sequence = bad


class TestSchedule:
    def test_due_and_pending_changes(self, sim: KapsoSimulator) -> None:
        record = _send(sim)
        sim.schedule_status(record["id"], "delivered", after=0)
        sim.schedule_status(record["whatsapp_message_id"], "read", after=HOUR)  # by wamid too
        assert _listed_status(sim, record) == "delivered"
        assert [change.status for change in sim.pending_status_changes()] == ["read"]

    def test_failure_with_code(self, sim: KapsoSimulator) -> None:
        record = _send(sim)
        sim.schedule_status(record["id"], "failed", after=0, error_code=131047, error_message="window closed")
        sim.schedule_status(record["id"], "read", after=0)  # nothing follows a failure
        assert _listed_status(sim, record) == "failed"
        assert sim.messages()[0]["metadata"] == {"error_code": 131047, "error_message": "window closed"}

    def test_set_message_status_cancels_what_was_scheduled(self, sim: KapsoSimulator) -> None:
        sim.status_sequence = ["sent", "read"]
        sim.delivery_delay = HOUR
        record = _send(sim)
        sim.set_message_status(record["id"], "delivered")
        assert sim.pending_status_changes() == []
        assert [_listed_status(sim, record) for _ in range(2)] == ["delivered", "delivered"]

    def test_reset_forgets_schedules_and_keeps_settings(self, sim: KapsoSimulator) -> None:
        sim.delivery_delay = HOUR
        _send(sim)
        sim.reset()
        assert sim.pending_status_changes() == []
        assert sim.delivery_delay == HOUR

    @pytest.mark.parametrize(
        ("message_id", "kwargs", "error"),
        [("unknown", {"status": "read"}, KeyError), (None, {"status": "seen"}, ValueError)],
    )
    def test_bad_schedules_are_refused(
        self, sim: KapsoSimulator, message_id: str | None, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        record_id = message_id or _send(sim)["id"]
        with pytest.raises(error):
            sim.schedule_status(record_id, **kwargs)


class TestControlSurface:
    def test_progression_settings_over_http(self, sim: KapsoSimulator) -> None:
        response = _control(
            sim,
            "POST",
            "/progression",
            json={"delivery_delay": 0, "read_delay": HOUR, "status_sequence": None, "delivery_error_code": None},
        )
        assert response.status_code == 200, response.text
        assert sim.delivery_delay == 0
        record = _send(sim)
        data = _control(sim, "GET", "/progression").json()["data"]
        assert data["delivery_delay"] == 0
        assert data["read_delay"] == HOUR
        assert [(change["message_id"], change["status"]) for change in data["pending"]] == [(record["id"], "read")]

    def test_schedule_over_http(self, sim: KapsoSimulator) -> None:
        record = _send(sim)
        response = _control(
            sim,
            "POST",
            f"/messages/{record['id']}/schedule",
            json={"status": "failed", "after": 0, "error_code": 131047, "error_message": "closed"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["data"]["status"] == "failed"
        assert _listed_status(sim, record) == "failed"

    @pytest.mark.parametrize(
        ("path", "body", "status"),
        [
            ("/progression", {"delivery_delay": -1}, 400),
            ("/progression", {"latency": 1}, 400),
            ("/messages/unknown/schedule", {"status": "read"}, 404),
        ],
    )
    def test_bad_requests(self, sim: KapsoSimulator, path: str, body: dict[str, Any], status: int) -> None:
        response = _control(sim, "POST", path, json=body)
        assert response.status_code == status, response.text


class TestCli:
    def test_delay_options(self) -> None:
        args = _parser().parse_args(["--delivery-delay", "2", "--read-delay", "5"])
        assert (args.delivery_delay, args.read_delay) == (2.0, 5.0)
        assert _parser().parse_args([]).delivery_delay is None
