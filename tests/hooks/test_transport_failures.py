"""What a request that got no answer, or a wrong one, turns into: never a possible send when Kapso never saw it.

A TLS handshake that fails and a proxy that is down both mean the request never reached Kapso, so a send is
neither reconciled (no reads that would fail the same way) nor reported as "may have been delivered". A
host given without a scheme says that ``https://`` was assumed; a base URL without ``/api/v1`` and a
missing connection say what to do. Ids made of dots, which both HTTP clients collapse into another path,
are refused; a proxy's credentials never show in a ``repr``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoServerError
from kapso_provider.hooks.kapso import KapsoAsyncHook, KapsoHook, RetryPolicy, parse_connection

if TYPE_CHECKING:
    from collections.abc import Callable

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
POLICY = RetryPolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.02)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _connect(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KAPSO_DEFAULT", json.dumps({"conn_type": "kapso", **fields}))


def _send_sync() -> Any:
    hook = KapsoHook(retry_policy=POLICY)
    try:
        return hook.send_message({"content": "hi"}, phone_number=PHONE)
    finally:
        hook.close()


def _send_async() -> Any:
    async def main() -> Any:
        hook = KapsoAsyncHook(retry_policy=POLICY)
        try:
            return await hook.send_message({"content": "hi"}, phone_number=PHONE)
        finally:
            await hook.aclose()

    return asyncio.run(main())


DRIVERS = pytest.mark.parametrize("send", [_send_sync, _send_async], ids=["sync", "async"])


@DRIVERS
def test_a_failed_tls_handshake_is_never_a_possible_send(
    kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch, send: Callable[[], Any]
) -> None:
    # The simulator speaks plain http; a host without a scheme makes the hook assume https.
    _connect(monkeypatch, host=f"127.0.0.1:{kapso_server.simulator.port}/api/v1", password=kapso_server.api_key)
    with pytest.raises(KapsoServerError) as info:
        send()
    assert info.value.may_have_been_processed is False
    text = str(info.value)
    assert "TLS handshake failed" in text
    assert "never reached Kapso" in text
    assert "https:// was assumed" in text
    assert "may still have been delivered" not in text
    assert kapso_server.api_key not in text
    # Retried like any request that never left (attempts), never reconciled by reading back.
    assert kapso_server.simulator.requests == []


@DRIVERS
def test_a_proxy_that_is_down_is_never_a_possible_send(
    kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch, send: Callable[[], Any]
) -> None:
    proxy = f"http://proxyuser:proxy-secret-77@127.0.0.1:{_closed_port()}"
    _connect(monkeypatch, host="https://app.kapso.example/api/v1", password="k", extra={"proxy": proxy})
    with pytest.raises(KapsoServerError) as info:
        send()
    assert info.value.may_have_been_processed is False
    text = str(info.value)
    assert "proxy" in text
    assert "never reached Kapso" in text
    assert "proxy-secret-77" not in text
    assert "proxyuser" not in text


def test_a_read_that_lost_its_answer_is_not_called_a_possible_send(
    kapso_server: KapsoServer,
) -> None:
    conversation = kapso_server.simulator.create_conversation(phone_number=PHONE)
    kapso_server.simulator.add_fault("drop_before_store", method="GET", count=5)
    with pytest.raises(KapsoServerError) as info:
        KapsoHook(retry_policy=POLICY).get_conversation(conversation["id"])
    assert "connection lost" in str(info.value)
    assert "delivered" not in str(info.value)


def test_a_base_url_without_api_v1_suggests_it(kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    base = kapso_server.base_url.removesuffix("/api/v1")
    _connect(monkeypatch, host=base, password=kapso_server.api_key)
    with pytest.raises(KapsoNotFoundError) as info:
        KapsoHook(retry_policy=POLICY).list_conversations().__next__()
    assert f"The connection's base URL {base} does not end in /api/v1" in str(info.value)


def test_a_missing_connection_says_how_to_create_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    monkeypatch.delenv("AIRFLOW_CONN_KAPSO_NOWHERE", raising=False)
    for run in (
        lambda: KapsoHook("kapso_nowhere").settings,
        lambda: asyncio.run(KapsoAsyncHook("kapso_nowhere").get_settings()),
    ):
        with pytest.raises(AirflowNotFoundException, match=r"airflow connections add kapso_nowhere --conn-type kapso"):
            run()


@pytest.mark.parametrize("dots", [".", "..", "..."])
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda hook, value: hook.send_message({"content": "hi"}, conversation_id=value), "conversation_id"),
        (lambda hook, value: hook.delete_customer(value), "customer_id"),
        (lambda hook, value: hook.get_template(value), "template_id"),
        (lambda hook, value: hook.get_contact_note("+15551234567", value), "note_id"),
    ],
)
def test_an_id_made_of_dots_is_refused_before_any_request(
    kapso_server: KapsoServer, call: Callable[[KapsoHook, str], Any], field: str, dots: str
) -> None:
    with pytest.raises(KapsoArgumentError, match=rf"^{field}: .* is not an id"):
        call(KapsoHook(), dots)
    assert kapso_server.simulator.requests == []


def test_a_proxy_password_never_shows_in_a_repr(kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = "https://proxyuser:proxy-secret-77@proxy.example:3128"
    settings = parse_connection("c", host=None, password="key-123", extra={"proxy": proxy})
    assert settings.proxy == proxy
    _connect(monkeypatch, host=kapso_server.base_url, password=kapso_server.api_key, extra={"proxy": proxy})
    hook = KapsoAsyncHook()
    asyncio.run(hook.get_settings())
    for shown in (repr(settings), str(settings), repr(hook), repr(KapsoHook())):
        assert "proxy-secret-77" not in shown
        assert "proxyuser" not in shown
        assert "key-123" not in shown
    assert "proxy.example:3128" in repr(settings)
