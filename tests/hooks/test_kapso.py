from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import (
    KapsoAPIError,
    KapsoAuthenticationError,
    KapsoConfigurationError,
    KapsoInvalidMessageError,
    KapsoNotFoundError,
    KapsoRateLimitError,
    KapsoServerError,
    KapsoValidationError,
)
from kapso_provider.get_provider_info import DEFAULT_BASE_URL, DEFAULT_TIMEOUT_SECONDS
from kapso_provider.hooks.kapso import (
    BaseHookArguments,
    KapsoConnectionSettings,
    KapsoHook,
    RetryPolicy,
    parse_connection,
)
from tests._message_cases import OUTSIDE
from tests._openapi import assert_requests_valid, conversation_filters_file
from tests._typed import keyword_parameters, typed_arguments

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
# No retries: these tests look at what one failed exchange turns into.
SINGLE_ATTEMPT = RetryPolicy(max_attempts=1)


def _conn_env(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: Any) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "kapso", **fields}))


class TestParseConnection:
    @pytest.mark.parametrize(
        ("host", "port", "expected"),
        [
            (None, None, DEFAULT_BASE_URL),
            ("", None, DEFAULT_BASE_URL),
            ("http://127.0.0.1:8080/api/v1/", None, "http://127.0.0.1:8080/api/v1"),
            ("http://localhost:9/api/v1", None, "http://localhost:9/api/v1"),
            ("http://[::1]:9/api/v1", None, "http://[::1]:9/api/v1"),
            ("https://kapso.internal.example/api/v1", None, "https://kapso.internal.example/api/v1"),
            ("app.kapso.ai", None, "https://app.kapso.ai/api/v1"),
            ("app.kapso.ai", 8443, "https://app.kapso.ai:8443/api/v1"),
            ("eu.kapso.example/custom/v1", None, "https://eu.kapso.example/custom/v1"),
        ],
    )
    def test_base_url(self, host: str | None, port: int | None, expected: str) -> None:
        settings = parse_connection("c", host=host, password="k", extra={}, port=port)
        assert settings.base_url == expected

    def test_defaults_and_extras(self) -> None:
        assert parse_connection("c", host=None, password="k", extra={}).timeout == DEFAULT_TIMEOUT_SECONDS
        settings = parse_connection(
            "c", host=None, password="k", extra={"timeout": "2.5", "proxy": "https://proxy.example:3128"}
        )
        assert (settings.timeout, settings.proxy) == (2.5, "https://proxy.example:3128")
        # Airflow 2 forms store custom fields with a prefix.
        assert parse_connection("c", host=None, password="k", extra={"extra__kapso__timeout": 7}).timeout == 7

    @pytest.mark.parametrize(
        ("host", "password", "extra", "expected"),
        [
            (None, None, {}, "Connection 'my_conn' has no API key"),
            (None, "", {}, "has no API key"),
            ("http://10.0.0.5/api/v1", "sk-secret-42", {}, "plain http:// is allowed only to loopback hosts"),
            ("http://app.kapso.ai/api/v1", "sk-secret-42", {}, "got 'app.kapso.ai'; use https://"),
            ("ftp://app.kapso.ai/api/v1", "sk-secret-42", {}, "host must be an http(s) URL"),
            ("https://user:pw@app.kapso.ai/api/v1", "sk-secret-42", {}, "must not carry credentials"),
            (
                None,
                "sk-secret-42",
                {"timeout": "soon"},
                "extra 'timeout' must be a positive number of seconds, got 'soon'",
            ),
            (None, "sk-secret-42", {"timeout": 0}, "extra 'timeout' must be a positive number"),
            (None, "sk-secret-42", {"proxy": "socks"}, "extra 'proxy' must be an http(s) URL"),
            (
                None,
                "sk-secret-42",
                {"X-Tenant": "a"},
                "unknown extra field(s) X-Tenant; allowed: api, business_account_id, phone_number_id, proxy, timeout",
            ),
        ],
    )
    def test_refuses(self, host: str | None, password: str | None, extra: dict[str, Any], expected: str) -> None:
        with pytest.raises(KapsoConfigurationError) as info:
            parse_connection("my_conn", host=host, password=password, extra=extra)
        assert expected in str(info.value)
        if password:
            assert password not in str(info.value)

    def test_key_never_in_repr(self) -> None:
        settings = KapsoConnectionSettings(base_url=DEFAULT_BASE_URL, api_key="sk-very-secret-123")
        assert "sk-very-secret-123" not in repr(settings)


class TestHookConstruction:
    def test_init_does_no_io(self) -> None:
        # The connection does not exist: only first use may find that out.
        hook = KapsoHook(kapso_conn_id="kapso_missing_connection")
        assert "settings" not in hook.__dict__
        assert "session" not in hook.__dict__

    @pytest.mark.parametrize("argument", ["api_key", "token", "password"])
    def test_refuses_key_argument(self, argument: str) -> None:
        arguments: dict[str, Any] = {argument: "sk-123"}
        with pytest.raises(KapsoConfigurationError, match=f"does not take {argument}: store the API key"):
            KapsoHook(**arguments)

    def test_the_typed_airflow_arguments_are_this_airflows(self) -> None:
        from airflow.providers.common.compat.sdk import BaseHook

        assert typed_arguments(BaseHookArguments) == keyword_parameters(BaseHook.__init__)

    def test_airflow_s_logger_name_is_passed_on(self) -> None:
        # Airflow puts its own prefix in front (``airflow.task.hooks.`` on 3.x).
        assert KapsoHook(logger_name="kapso.alerts").log.name.endswith(".kapso.alerts")
        assert KapsoHook().log.name.endswith(".KapsoHook")

    def test_session_built_once(self, kapso_server: KapsoServer) -> None:
        hook = KapsoHook()
        assert hook.session is hook.session
        assert hook.session.headers["X-API-Key"] == kapso_server.api_key


class TestSendMessage:
    def test_to_conversation(self, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        record = KapsoHook().send_message({"content": "Hello"}, conversation_id=conversation["id"])

        stored = kapso_server.simulator.messages(conversation_id=conversation["id"])
        assert [message["id"] for message in stored] == [record["id"]]
        assert record == stored[0]
        assert record["status"] == "sent"
        assert record["whatsapp_message_id"].startswith("wamid.")
        (request,) = kapso_server.simulator.requests
        assert (request.method, request.path) == (
            "POST",
            f"/whatsapp_conversations/{conversation['id']}/whatsapp_messages",
        )
        assert request.json == {"message": {"message_type": "text", "content": "Hello"}}

    def test_to_phone_number_with_sender(self, kapso_server: KapsoServer) -> None:
        config_id = kapso_server.simulator.add_whatsapp_config()["id"]
        record = KapsoHook().send_message(
            {"message_type": "text", "content": "Hi"}, phone_number=PHONE, whatsapp_config_id=config_id
        )
        (request,) = kapso_server.simulator.requests
        assert (request.method, request.path) == ("POST", "/whatsapp_messages")
        assert request.query["whatsapp_config_id"] == config_id
        assert request.json["message"]["phone_number"] == PHONE
        assert record["phone_number"] == PHONE

    def test_only_credential_is_the_api_key_header(self, kapso_server: KapsoServer) -> None:
        KapsoHook().send_message({"content": "Hi"}, phone_number=PHONE)
        (request,) = kapso_server.simulator.requests
        headers = {name.lower(): value for name, value in request.headers.items()}
        assert headers["x-api-key"] == kapso_server.api_key
        assert "authorization" not in headers
        assert kapso_server.api_key not in json.dumps(request.json)

    @pytest.mark.parametrize(
        ("message", "recipient", "expected"),
        [
            ({"content": "x" * 4097}, {"phone_number": PHONE}, "content: 4097 characters, limit 4096"),
            ({"content": "hi"}, {}, "give exactly one of conversation_id or phone_number"),
            ({"content": "hi"}, {"phone_number": PHONE, "conversation_id": "c"}, "exactly one of"),
            ({"content": "hi"}, {"phone_number": "12"}, "phone_number: 2 digits, expected 7..15"),
            ({"content": "hi"}, {"conversation_id": "c", "customer_id": "x"}, "only with phone_number"),
        ],
    )
    def test_bad_input_sends_nothing(
        self, kapso_server: KapsoServer, message: dict[str, Any], recipient: dict[str, Any], expected: str
    ) -> None:
        with pytest.raises(KapsoInvalidMessageError) as info:
            KapsoHook().send_message(message, **recipient)
        assert expected in str(info.value)
        assert kapso_server.simulator.requests == []

    @pytest.mark.parametrize(("message", "expected"), OUTSIDE)
    def test_every_limit_stops_the_send(self, kapso_server: KapsoServer, message: Any, expected: str) -> None:
        # The models' own table of limits, each broken once: the hook must refuse before any request.
        with pytest.raises(KapsoInvalidMessageError) as info:
            KapsoHook().send_message(message, phone_number=PHONE)
        assert expected in info.value.problems
        assert kapso_server.simulator.requests == []


class TestErrors:
    def test_wrong_key(self, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> None:
        _conn_env(monkeypatch, "kapso_wrong", host=kapso_server.base_url, password="sk-wrong-key-987")
        with pytest.raises(KapsoAuthenticationError) as info:
            KapsoHook(kapso_conn_id="kapso_wrong").send_message({"content": "hi"}, phone_number=PHONE)
        error = info.value
        assert error.status == 401
        assert (error.method, error.path) == ("POST", "/whatsapp_messages")
        assert "sk-wrong-key-987" not in str(error)
        assert "Unauthorized" in error.error_text

    def test_not_found(self, kapso_server: KapsoServer) -> None:
        with pytest.raises(KapsoNotFoundError) as info:
            KapsoHook().send_message({"content": "hi"}, conversation_id="missing")
        assert info.value.status == 404
        assert "/whatsapp_conversations/missing/whatsapp_messages" in str(info.value)

    def test_validation_error_carries_kapso_text(self, kapso_server: KapsoServer) -> None:
        # Bypass the models on purpose to see what Kapso's own 422 looks like to a caller.
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        with pytest.raises(KapsoValidationError) as info:
            KapsoHook().request(
                "POST",
                f"/whatsapp_conversations/{conversation['id']}/whatsapp_messages",
                json={"message": {"message_type": "text"}},
            )
        assert info.value.status == 422
        assert "content" in info.value.error_text

    def test_rate_limited(self, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.add_fault("rate_limit", path="/whatsapp_messages")
        with pytest.raises(KapsoRateLimitError) as info:
            KapsoHook(retry_policy=SINGLE_ATTEMPT).send_message({"content": "hi"}, phone_number=PHONE)
        assert info.value.status == 429
        assert info.value.retry_after is not None
        assert info.value.retry_after >= 1
        assert "Rate limit exceeded" in info.value.error_text

    @pytest.mark.parametrize(
        ("kind", "status", "text"),
        [
            ("server_error_before_store", 500, ""),
            ("html_error", 502, ""),
            ("malformed_json", None, "answer is not JSON"),
            ("drop_before_store", None, "request failed: ConnectionError (connection lost"),
        ],
    )
    def test_no_usable_answer(self, kapso_server: KapsoServer, kind: str, status: int | None, text: str) -> None:
        kapso_server.simulator.add_fault(kind, path="/whatsapp_messages")
        with pytest.raises(KapsoServerError) as info:
            KapsoHook(retry_policy=SINGLE_ATTEMPT).send_message({"content": "hi"}, phone_number=PHONE)
        if status is not None:
            assert info.value.status == status
        assert text in info.value.error_text
        assert len(str(info.value)) < 1000

    def test_timeout_says_send_may_have_happened(
        self, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        _conn_env(
            monkeypatch, "kapso_fast", host=kapso_server.base_url, password=kapso_server.api_key, extra={"timeout": 0.2}
        )
        kapso_server.simulator.add_fault("slow_after_store", path="/whatsapp_messages", delay=1.0)
        with pytest.raises(KapsoServerError) as info:
            KapsoHook(kapso_conn_id="kapso_fast", retry_policy=SINGLE_ATTEMPT).send_message(
                {"content": "hi"}, phone_number=PHONE
            )
        assert "no answer within 0.2 s" in str(info.value)
        assert "may still have been delivered" in str(info.value)
        assert len(kapso_server.simulator.messages()) == 1

    def test_every_error_is_a_kapso_api_error(self) -> None:
        for error_class in (KapsoAuthenticationError, KapsoNotFoundError, KapsoRateLimitError, KapsoServerError):
            assert issubclass(error_class, KapsoAPIError)


class TestReads:
    def test_list_messages_is_lazy_and_complete(self, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
        hook = KapsoHook()
        sent = {hook.send_message({"content": f"m{i}"}, conversation_id=conversation["id"])["id"] for i in range(5)}
        before = len(kapso_server.simulator.requests)

        pages = hook.list_messages(conversation["id"], per_page=2)
        assert len(kapso_server.simulator.requests) == before  # nothing fetched until iterated
        first = next(pages)
        assert len(kapso_server.simulator.requests) == before + 1
        listed = {first["id"], *(message["id"] for message in pages)}
        assert listed == sent
        page_requests = kapso_server.simulator.requests[before:]
        assert [request.query.get("page") for request in page_requests] == ["1", "2", "3"]

    def test_list_and_get_conversations(self, kapso_server: KapsoServer) -> None:
        first = kapso_server.simulator.create_conversation(phone_number=PHONE)
        kapso_server.simulator.create_conversation(phone_number="+15550000002")
        hook = KapsoHook()
        assert {c["id"] for c in hook.list_conversations()} >= {first["id"]}
        assert [c["id"] for c in hook.list_conversations(phone_number=PHONE)] == [first["id"]]
        assert hook.get_conversation(first["id"])["id"] == first["id"]
        with pytest.raises(ValueError, match=r"per_page: 101 is outside 1\.\.100"):
            next(hook.list_conversations(per_page=101))

    @pytest.mark.parametrize("id_field", ["id", "whatsapp_message_id"])
    def test_locate_message_from_the_phone_number(self, id_field: str, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        simulator.create_conversation(phone_number=PHONE)  # the number's other conversation, without it
        second_number = simulator.add_whatsapp_config()
        holder = simulator.create_conversation(phone_number=PHONE, whatsapp_config_id=second_number["id"])
        hook = KapsoHook()
        sent = hook.send_message({"content": "where am I?"}, conversation_id=holder["id"])

        found = hook.locate_message(sent[id_field], phone_number=PHONE)

        assert found["conversation"]["id"] == holder["id"]
        assert found["message"]["id"] == sent["id"]
        with pytest.raises(KapsoNotFoundError, match="no conversation of that phone number holds message 'nope'"):
            hook.locate_message("nope", phone_number=PHONE)
        assert_requests_valid(simulator.requests, files_for=conversation_filters_file)

    def test_send_template(self, kapso_server: KapsoServer) -> None:
        template = kapso_server.simulator.create_template(name="order_update", language="en_US")
        answer = KapsoHook().send_template(template["id"], phone_number=PHONE, template_parameters=["Ada", "today"])
        assert isinstance(answer, dict)
        (request,) = kapso_server.simulator.requests
        assert request.path == f"/whatsapp_templates/{template['id']}/send_template"
        assert request.json == {"template": {"phone_number": PHONE, "template_parameters": ["Ada", "today"]}}

    def test_send_template_checks_input(self, kapso_server: KapsoServer) -> None:
        with pytest.raises(KapsoInvalidMessageError, match="header_filename: only with header_type 'document'"):
            KapsoHook().send_template("t", phone_number=PHONE, header_type="image", header_filename="a.pdf")
        assert kapso_server.simulator.requests == []


class TestConnectionTest:
    def test_success_is_read_only(self, kapso_server: KapsoServer) -> None:
        ok, text = KapsoHook().test_connection()
        assert ok, text
        assert kapso_server.base_url in text
        assert [request.method for request in kapso_server.simulator.requests] == ["GET"]
        assert kapso_server.simulator.messages() == []

    def test_wrong_key(self, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> None:
        _conn_env(monkeypatch, "kapso_wrong", host=kapso_server.base_url, password="sk-wrong-key-987")
        ok, text = KapsoHook(kapso_conn_id="kapso_wrong").test_connection()
        assert not ok
        assert "HTTP 401" in text
        assert "sk-wrong-key-987" not in text

    def test_airflow_cli(self, kapso_server: KapsoServer) -> None:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "connections", "test", "kapso_default"],
            capture_output=True,
            text=True,
            env={**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "Connection success" in result.stdout
        assert kapso_server.api_key not in result.stdout + result.stderr
