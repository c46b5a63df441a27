"""The hook's retry rules: what is retried, what is reconciled, what fails at once.

Every case runs against the simulator's fault injection and counts what reached the server, so a rule
that sent a message twice or lost one shows up as a wrong count.
"""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import (
    KapsoAuthenticationError,
    KapsoConflictError,
    KapsoNotFoundError,
    KapsoRateLimitError,
    KapsoServerError,
    KapsoValidationError,
)
from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
# Short pauses so the suite stays fast; the rules are the same as with the defaults.
FAST = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, rate_limit_window=1.0)


def _posts(kapso_server: KapsoServer, path: str = "/whatsapp_messages") -> int:
    return sum(1 for r in kapso_server.simulator.requests if r.method == "POST" and r.path.endswith(path))


def _hook(**policy: Any) -> KapsoHook:
    return KapsoHook(retry_policy=RetryPolicy(**{**FAST.__dict__, **policy}))


class TestRateLimit:
    def test_waits_for_retry_after_then_sends_once(self, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.add_fault("rate_limit", path="/whatsapp_messages", retry_after=1)
        record = _hook().send_message({"content": "hi"}, phone_number=PHONE)
        assert [m["id"] for m in kapso_server.simulator.messages()] == [record["id"]]
        assert _posts(kapso_server) == 2

    def test_retry_after_beyond_the_bound_fails_at_once(self, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.add_fault("rate_limit", path="/whatsapp_messages", retry_after=30)
        with pytest.raises(KapsoRateLimitError) as info:
            _hook(max_retry_after=5).send_message({"content": "hi"}, phone_number=PHONE)
        assert info.value.retry_after == 30
        assert _posts(kapso_server) == 1
        assert kapso_server.simulator.messages() == []

    def test_reads_are_retried_too(self, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        kapso_server.simulator.add_fault("rate_limit", method="GET", retry_after=1)
        assert _hook().get_conversation(conversation["id"])["id"] == conversation["id"]

    def test_paces_a_steady_sender(self, kapso_server: KapsoServer) -> None:
        # 10 requests per 1 s window, 25 sends: without pacing the 11th and the 21st meet a 429.
        kapso_server.simulator.rate_limit = 10
        kapso_server.simulator.rate_limit_window = 1.0
        hook = _hook()
        for i in range(25):
            hook.send_message({"content": f"update {i}"}, phone_number=PHONE)
        assert len(kapso_server.simulator.messages()) == 25
        rejected = _posts(kapso_server) - 25
        assert rejected == 0, f"{rejected} requests met the rate limit"


class TestNeverReachedKapso:
    def test_connection_refused_is_retried_then_reported(
        self, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_CLOSED",
            json.dumps({"conn_type": "kapso", "host": f"http://127.0.0.1:{closed_port}/api/v1", "password": "k"}),
        )
        hook = KapsoHook(kapso_conn_id="kapso_closed", retry_policy=RetryPolicy(**{**FAST.__dict__, "max_attempts": 3}))
        attempts: list[float] = []
        monkeypatch.setattr(hook, "_sleep", attempts.append)
        with pytest.raises(KapsoServerError) as info:
            hook.send_message({"content": "hi"}, phone_number=PHONE)
        assert info.value.may_have_been_processed is False
        assert "could not connect" in str(info.value)
        assert len(attempts) == 2  # three attempts, two pauses
        assert all(0 < wait <= FAST.backoff_max for wait in attempts)


class TestAmbiguousFailures:
    @pytest.mark.parametrize("kind", ["server_error_before_store", "drop_before_store", "html_error"])
    def test_read_is_retried(self, kapso_server: KapsoServer, kind: str) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        kapso_server.simulator.add_fault(kind, method="GET", count=2)
        assert _hook().get_conversation(conversation["id"])["id"] == conversation["id"]
        assert len(kapso_server.simulator.requests) == 3

    @pytest.mark.parametrize(
        "kind", ["server_error_after_store", "drop_after_store", "slow_after_store", "malformed_json"]
    )
    @pytest.mark.parametrize("recipient", ["conversation", "phone"])
    def test_stored_send_is_found_not_repeated(
        self, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch, kind: str, recipient: str
    ) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps(
                {
                    "conn_type": "kapso",
                    "host": kapso_server.base_url,
                    "password": kapso_server.api_key,
                    "extra": {"timeout": 0.5},
                }
            ),
        )
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        # An older identical message must not be mistaken for this send.
        kapso_server.simulator.deliver_inbound(conversation["id"], content="hello")
        target = {"conversation_id": conversation["id"]} if recipient == "conversation" else {"phone_number": PHONE}
        kapso_server.simulator.add_fault(kind, method="POST", delay=1.0)

        record = _hook().send_message({"content": "hello"}, **target)

        outbound = [m for m in kapso_server.simulator.messages() if m["direction"] == "outbound"]
        assert [m["id"] for m in outbound] == [record["id"]]
        assert record["content"] == "hello"
        assert _posts(kapso_server, "whatsapp_messages") == 1

    @pytest.mark.parametrize("kind", ["server_error_before_store", "drop_before_store", "html_error"])
    def test_unstored_send_is_sent_again_once(self, kapso_server: KapsoServer, kind: str) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        kapso_server.simulator.add_fault(kind, method="POST")
        record = _hook().send_message({"content": "hello"}, conversation_id=conversation["id"])
        assert [m["id"] for m in kapso_server.simulator.messages()] == [record["id"]]
        assert _posts(kapso_server, "whatsapp_messages") == 2

    def test_unknown_conversation_means_not_sent(self, kapso_server: KapsoServer) -> None:
        # A first send to a new number: the failed attempt created nothing, so the search finds no conversation.
        kapso_server.simulator.add_fault("drop_before_store", method="POST")
        record = _hook().send_message({"content": "welcome"}, phone_number="+15559876543")
        assert [m["id"] for m in kapso_server.simulator.messages()] == [record["id"]]
        assert _posts(kapso_server) == 2
        searches = [r for r in kapso_server.simulator.requests if r.path == "/whatsapp_conversations"]
        assert searches
        assert searches[0].query["q[phone_number_eq]"] == "+15559876543"

    def test_budget_spent_raises_with_nothing_sent(self, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        kapso_server.simulator.add_fault("server_error_before_store", method="POST", count=None)
        with pytest.raises(KapsoServerError) as info:
            _hook(max_attempts=3).send_message({"content": "hello"}, conversation_id=conversation["id"])
        assert info.value.status == 500
        assert _posts(kapso_server, "whatsapp_messages") == 3
        assert kapso_server.simulator.messages() == []


class TestDefiniteErrors:
    @pytest.mark.parametrize(
        ("status", "error_class"),
        [
            (400, KapsoValidationError),
            (401, KapsoAuthenticationError),
            (403, KapsoAuthenticationError),
            (404, KapsoNotFoundError),
            (409, KapsoConflictError),
            (422, KapsoValidationError),
        ],
    )
    def test_raise_at_once(self, kapso_server: KapsoServer, status: int, error_class: type[Exception]) -> None:
        kapso_server.simulator.add_fault("server_error_before_store", method="POST", status=status)
        with pytest.raises(error_class):
            _hook().send_message({"content": "hi"}, phone_number=PHONE)
        assert _posts(kapso_server) == 1
        assert kapso_server.simulator.messages() == []
