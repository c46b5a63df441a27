"""KapsoAsyncHook against the simulator: the sync hook's rules, awaited.

Exactly-once sends under every fault kind, rate limits, error classes and texts, reading one message,
connection handling and the API key's absence from logs and errors. Where both hooks share a rule, the
case runs on both and compares.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from kapso_provider.exceptions import (
    KapsoAuthenticationError,
    KapsoConfigurationError,
    KapsoInvalidMessageError,
    KapsoNotFoundError,
    KapsoRateLimitError,
    KapsoServerError,
    KapsoValidationError,
)
from kapso_provider.hooks.kapso import KapsoAsyncHook, KapsoHook, RetryPolicy
from kapso_provider.pacing import RequestPacer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
FAST = RetryPolicy(backoff_initial=0.01, backoff_max=0.05, rate_limit_window=1.0)
T = TypeVar("T")


def _run(make: Callable[[KapsoAsyncHook], Awaitable[T]], **policy: Any) -> T:
    """Run one coroutine on a fresh hook, closing its client afterwards, as a trigger would."""

    async def main() -> T:
        hook = KapsoAsyncHook(retry_policy=RetryPolicy(**{**FAST.__dict__, **policy}))
        try:
            return await make(hook)
        finally:
            await hook.aclose()

    return asyncio.run(main())


def _posts(kapso_server: KapsoServer) -> int:
    return sum(1 for r in kapso_server.simulator.requests if r.method == "POST")


def _set_timeout(kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch, timeout: float) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_KAPSO_DEFAULT",
        json.dumps(
            {
                "conn_type": "kapso",
                "host": kapso_server.base_url,
                "password": kapso_server.api_key,
                "extra": {"timeout": timeout},
            }
        ),
    )


class TestSendExactlyOnce:
    """Whatever goes wrong, one send call leaves exactly one message at Kapso, and returns its record."""

    @pytest.mark.parametrize(
        "fault",
        [
            "server_error_before_store",
            "server_error_after_store",
            "drop_before_store",
            "drop_after_store",
            "slow_after_store",
            "malformed_json",
            "html_error",
            "rate_limit",
        ],
    )
    @pytest.mark.parametrize("recipient", ["phone_number", "conversation_id"])
    def test_one_message_whatever_the_fault(
        self, fault: str, recipient: str, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        simulator = kapso_server.simulator
        # Short enough that slow_after_store's answer comes after the hook gave up on it.
        _set_timeout(kapso_server, monkeypatch, 0.5)
        target: dict[str, str] = (
            {"phone_number": PHONE}
            if recipient == "phone_number"
            else {"conversation_id": simulator.create_conversation(phone_number=PHONE)["id"]}
        )
        simulator.add_fault(fault, method="POST", delay=1.0 if fault == "slow_after_store" else None)

        record = _run(lambda hook: hook.send_message({"content": "exactly once"}, **target))

        stored = simulator.messages()
        assert [message["id"] for message in stored] == [record["id"]]
        assert record["content"] == "exactly once"
        assert record["status"] == "sent"

    def test_ambiguous_failure_then_nothing_stored_sends_again(self, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        # Kapso answered 500 before storing: the read-back finds nothing, so the message goes again, once.
        simulator.add_fault("server_error_before_store", method="POST", count=2)
        _run(lambda hook: hook.send_message({"content": "hi"}, phone_number=PHONE))
        assert len(simulator.messages()) == 1
        assert _posts(kapso_server) == 3

    def test_gives_up_after_max_attempts_and_sends_nothing_twice(self, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        simulator.add_fault("server_error_before_store", method="POST", count=None)
        with pytest.raises(KapsoServerError, match="HTTP 500"):
            _run(lambda hook: hook.send_message({"content": "hi"}, phone_number=PHONE), max_attempts=3)
        assert simulator.messages() == []
        assert _posts(kapso_server) == 3

    def test_invalid_message_is_refused_before_any_request(self, kapso_server: KapsoServer) -> None:
        with pytest.raises(KapsoInvalidMessageError):
            _run(lambda hook: hook.send_message({"message_type": "text"}, phone_number=PHONE))
        assert kapso_server.simulator.requests == []

    def test_same_body_as_the_sync_hook(self, kapso_server: KapsoServer) -> None:
        message = {"message_type": "image", "media_url": "https://example.com/a.png", "caption": "look"}
        KapsoHook().send_message(message, phone_number=PHONE, whatsapp_config_id=None)
        _run(lambda hook: hook.send_message(message, phone_number=PHONE))
        sync_request, async_request = kapso_server.simulator.requests
        assert (sync_request.path, sync_request.query, sync_request.json) == (
            async_request.path,
            async_request.query,
            async_request.json,
        )


class TestRequestRules:
    def test_waits_for_retry_after(self, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        kapso_server.simulator.add_fault("rate_limit", method="GET", retry_after=1)
        got = _run(lambda hook: hook.get_conversation(conversation["id"]))
        assert got["id"] == conversation["id"]
        assert len(kapso_server.simulator.requests) == 2

    def test_retry_after_beyond_the_bound_fails_at_once(self, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.add_fault("rate_limit", method="POST", retry_after=30)
        with pytest.raises(KapsoRateLimitError) as info:
            _run(lambda hook: hook.send_message({"content": "hi"}, phone_number=PHONE), max_retry_after=5)
        assert info.value.retry_after == 30
        assert info.value.status == 429
        assert "Rate limit exceeded" in info.value.error_text
        assert kapso_server.simulator.messages() == []

    @pytest.mark.parametrize(
        ("kind", "error_class", "status", "text"),
        [
            ("unknown_conversation", KapsoNotFoundError, 404, "Conversation not found"),
            ("wrong_key", KapsoAuthenticationError, 401, "Missing or invalid API key"),
            ("content_missing", KapsoValidationError, 422, "message.content"),
        ],
    )
    def test_error_classes_match_the_sync_hook(
        self,
        kind: str,
        error_class: type[Exception],
        status: int,
        text: str,
        kapso_server: KapsoServer,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        if kind == "wrong_key":
            monkeypatch.setenv(
                "AIRFLOW_CONN_KAPSO_DEFAULT",
                json.dumps({"conn_type": "kapso", "host": kapso_server.base_url, "password": "wrong-key"}),
            )
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        conversation_id = "no-such-conversation" if kind == "unknown_conversation" else conversation["id"]
        # A conversation send without content is a 422 at Kapso (content is required there).
        body = {"message": {"message_type": "text"}}
        path = f"/whatsapp_conversations/{conversation_id}/whatsapp_messages"
        errors = []
        with pytest.raises(error_class) as sync_info:
            KapsoHook(retry_policy=FAST).request("POST", path, json=body)
        errors.append(sync_info.value)
        with pytest.raises(error_class) as async_info:
            _run(lambda hook: hook.request("POST", path, json=body))
        errors.append(async_info.value)
        for error in errors:
            assert type(error) is error_class
            assert error.status == status  # type: ignore[attr-defined]
            assert text in str(error)
        assert str(errors[0]) == str(errors[1])

    @pytest.mark.parametrize("fault", ["html_error", "malformed_json", "server_error_before_store"])
    def test_reads_ride_out_failures(self, fault: str, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        kapso_server.simulator.add_fault(fault, method="GET")
        got = _run(lambda hook: hook.get_conversation(conversation["id"]))
        assert got["id"] == conversation["id"]
        assert len(kapso_server.simulator.requests) == 2

    def test_html_error_text_is_kept_readable(self, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.add_fault("html_error", method="GET", count=None)
        with pytest.raises(KapsoServerError, match="502 Bad Gateway") as info:
            _run(lambda hook: hook.get_conversation("c-1"), max_attempts=2)
        assert info.value.status == 502

    def test_connection_refused_is_unsent(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": f"http://127.0.0.1:{closed_port}/api/v1", "password": "k"}),
        )
        with pytest.raises(KapsoServerError, match="could not connect") as info:
            _run(lambda hook: hook.send_message({"content": "hi"}, phone_number=PHONE), max_attempts=2)
        assert info.value.may_have_been_processed is False

    def test_paces_to_the_rate_limit(self, kapso_server: KapsoServer) -> None:
        # 5 requests per 0.5 s window, 12 reads: without pacing the 6th and the 11th meet a 429.
        simulator = kapso_server.simulator
        simulator.rate_limit = 5
        simulator.rate_limit_window = 0.5
        conversation = simulator.create_conversation(phone_number=PHONE)

        async def reads(hook: KapsoAsyncHook) -> None:
            for _ in range(12):
                await hook.get_conversation(conversation["id"])

        async def main() -> None:
            hook = KapsoAsyncHook(retry_policy=FAST, pacer=RequestPacer(window=0.5))
            try:
                await reads(hook)
            finally:
                await hook.aclose()

        asyncio.run(main())
        assert len(simulator.requests) == 12, "a request met the rate limit"


class TestPagesAndMessages:
    @pytest.mark.parametrize("hook_kind", ["sync", "async"])
    @pytest.mark.parametrize("id_field", ["id", "whatsapp_message_id"])
    def test_get_message_by_either_id_across_pages(
        self, hook_kind: str, id_field: str, kapso_server: KapsoServer
    ) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation(phone_number=PHONE)
        records = [
            simulator._store.store_outbound(conversation["id"], {"message_type": "text", "content": f"m{i}"})
            for i in range(5)
        ]
        oldest = records[0]  # listed last (newest first), on the last page with per_page=2
        simulator.set_message_status(oldest["id"], "delivered")
        if hook_kind == "sync":
            found = KapsoHook().get_message(conversation["id"], oldest[id_field])
        else:
            found = _run(lambda hook: hook.get_message(conversation["id"], oldest[id_field]))
        assert found["id"] == oldest["id"]
        assert found["status"] == "delivered"

    @pytest.mark.parametrize("hook_kind", ["sync", "async"])
    def test_get_message_absent_names_both_ids(self, hook_kind: str, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)

        def read() -> dict[str, Any]:
            if hook_kind == "sync":
                return KapsoHook().get_message(conversation["id"], "no-such-message")
            return _run(lambda hook: hook.get_message(conversation["id"], "no-such-message"))

        with pytest.raises(KapsoNotFoundError) as info:
            read()
        assert "no-such-message" in str(info.value)
        assert conversation["id"] in str(info.value)

    def test_paginate_reads_every_page(self, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation(phone_number=PHONE)
        for i in range(5):
            simulator._store.store_outbound(conversation["id"], {"message_type": "text", "content": f"m{i}"})

        async def listed(hook: KapsoAsyncHook) -> list[str]:
            return [record["content"] async for record in hook.list_messages(conversation["id"], per_page=2)]

        assert sorted(_run(listed)) == [f"m{i}" for i in range(5)]
        assert [r.query["page"] for r in simulator.requests] == ["1", "2", "3"]

    def test_list_conversations_filters(self, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        wanted = simulator.create_conversation(phone_number=PHONE)
        simulator.create_conversation(phone_number="+15557654321")

        async def listed(hook: KapsoAsyncHook) -> list[str]:
            return [record["id"] async for record in hook.list_conversations(phone_number=PHONE)]

        assert _run(listed) == [wanted["id"]]

    def test_bad_page_size_is_refused(self, kapso_server: KapsoServer) -> None:
        async def listed(hook: KapsoAsyncHook) -> list[Any]:
            return [record async for record in hook.paginate("/whatsapp_conversations", per_page=101)]

        with pytest.raises(ValueError, match="per_page"):
            _run(listed)


class TestConnection:
    def test_no_io_until_used(self) -> None:
        # No such connection: nothing fails until the first request.
        hook = KapsoAsyncHook(kapso_conn_id="kapso_does_not_exist")
        assert hook.kapso_conn_id == "kapso_does_not_exist"

    @pytest.mark.parametrize("name", ["api_key", "token", "password"])
    def test_refuses_credential_arguments(self, name: str) -> None:
        credentials: dict[str, Any] = {name: "sk-should-not-appear"}
        with pytest.raises(KapsoConfigurationError, match=f"does not take {name}") as info:
            KapsoAsyncHook(**credentials)
        assert "sk-should-not-appear" not in str(info.value)

    def test_parsed_once_and_one_client_per_hook(self, kapso_server: KapsoServer) -> None:
        async def main() -> tuple[bool, bool, str]:
            hook = KapsoAsyncHook()
            try:
                first, second = await hook.get_settings(), await hook.get_settings()
                client = await hook.get_client()
                return first is second, client is await hook.get_client(), first.base_url
            finally:
                await hook.aclose()

        same_settings, same_client, base_url = asyncio.run(main())
        assert same_settings
        assert same_client
        assert base_url == kapso_server.base_url

    def test_plain_http_to_a_remote_host_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": "http://kapso.example.com/api/v1", "password": "k"}),
        )
        with pytest.raises(KapsoConfigurationError, match="plain http://"):
            _run(lambda hook: hook.get_conversation("c-1"))

    def test_aclose_is_idempotent(self, kapso_server: KapsoServer) -> None:
        async def main() -> None:
            hook = KapsoAsyncHook()
            await hook.get_conversation(kapso_server.simulator.create_conversation(phone_number=PHONE)["id"])
            await hook.aclose()
            await hook.aclose()

        asyncio.run(main())


def test_api_key_never_in_logs_or_errors(
    kapso_server: KapsoServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    simulator = kapso_server.simulator
    errors: list[str] = []
    # Every path that logs or raises: retries, a reconciliation, a 429, an error answer.
    simulator.add_fault("rate_limit", method="POST", retry_after=1)
    simulator.add_fault("drop_after_store", method="POST")
    simulator.add_fault("html_error", method="GET")
    _run(lambda hook: hook.send_message({"content": "hi"}, phone_number=PHONE))
    try:
        _run(lambda hook: hook.get_conversation("no-such-conversation"))
    except KapsoNotFoundError as exc:
        errors.append(repr(exc) + str(exc))

    out, err = capfd.readouterr()
    logs = caplog.text + out + err
    assert "Kapso API POST /whatsapp_messages" in logs, "DEBUG level did not reach the hook"
    assert "reading the conversation back" in logs
    assert errors
    assert kapso_server.api_key not in logs
    assert all(kapso_server.api_key not in text for text in errors)
