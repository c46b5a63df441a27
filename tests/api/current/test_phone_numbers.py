"""Current API: the project's phone numbers and their health check, through the hook."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoUnsupportedError
from kapso_provider.hooks.kapso import KapsoHook
from tests._openapi import assert_current_requests_valid

if TYPE_CHECKING:
    from kapso_provider.testing import KapsoSimulator
    from tests.api.current.conftest import Refused


def test_lists_and_reads_the_numbers(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    (number,) = hook.list_phone_numbers(business_account_id=simulator.default_business_account_id)
    assert number["phone_number_id"] == simulator.default_phone_number_id
    assert number["internal_id"] == simulator.default_whatsapp_config_id
    assert simulator.requests[-1].query == {
        "business_account_id": simulator.default_business_account_id,
        "page": "1",
        "per_page": "100",
    }
    # Without an id: the connection's number.
    assert hook.get_phone_number()["quality_rating"] == "GREEN"
    assert simulator.requests[-1].path == f"/whatsapp/phone_numbers/{simulator.default_phone_number_id}"


def test_health_of_the_connections_number_and_of_another(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    assert hook.get_phone_number_health()["status"] == "healthy"
    other = simulator.add_whatsapp_config(name="Support", phone_number="+15550001111")
    simulator.platform.set_config_health(other["id"], "unhealthy")
    report = hook.get_phone_number_health(other["phone_number_id"])
    # Not healthy is an answer, not an error.
    assert report["status"] == "unhealthy"
    assert simulator.requests[-1].path == f"/whatsapp/phone_numbers/{other['phone_number_id']}/health"
    with pytest.raises(KapsoNotFoundError):
        hook.get_phone_number_health("999999999999999")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda h: list(h.list_phone_numbers(customer_id="acme")), KapsoArgumentError, r"^customer_id: must be a UUID"),
        (
            lambda h: list(h.list_phone_numbers(messaging_enabled="yes")),
            KapsoArgumentError,
            r"^messaging_enabled: must",
        ),
        (lambda h: h.get_whatsapp_config_health("cfg"), KapsoUnsupportedError, r"^get_whatsapp_config_health: Kapso's"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    refused: Refused, call: Any, error: type[Exception], message: str
) -> None:
    refused(call, error, message)


def _connection(monkeypatch: pytest.MonkeyPatch, simulator: KapsoSimulator, **changes: Any) -> None:
    """``kapso_default`` on the current API, with ``changes`` to its password or extras (``None`` drops one)."""
    extra = {"api": "current", "phone_number_id": simulator.default_phone_number_id}
    extra.update({name: value for name, value in changes.items() if name != "password"})
    connection = {
        "conn_type": "kapso",
        "host": simulator.url,
        "password": changes.get("password", simulator.api_key),
        "extra": {name: value for name, value in extra.items() if value is not None},
    }
    monkeypatch.setenv("AIRFLOW_CONN_KAPSO_DEFAULT", json.dumps(connection))


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({}, "/platform/v1/whatsapp/phone_numbers/{phone_number_id}/health"),
        # Without a number of its own the connection proves the key with one list read.
        ({"phone_number_id": None}, "/platform/v1/whatsapp/phone_numbers"),
    ],
)
def test_connection_test_reads_the_numbers_health_and_sends_nothing(
    simulator: KapsoSimulator, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], path: str
) -> None:
    _connection(monkeypatch, simulator, **changes)
    ok, text = KapsoHook().test_connection()
    assert ok, text
    assert simulator.url in text
    (request,) = simulator.requests
    assert (request.method, request.full_path.split("?")[0]) == (
        "GET",
        path.format(phone_number_id=simulator.default_phone_number_id),
    )
    assert simulator.messages() == []
    assert_current_requests_valid(simulator.requests)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"password": "sk-wrong-key-987"}, "the API key was refused"),
        ({"phone_number_id": "999999999999999"}, "the phone number id '999999999999999'"),
    ],
)
def test_connection_test_says_whether_the_key_or_the_number_failed(
    simulator: KapsoSimulator, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], says: str
) -> None:
    _connection(monkeypatch, simulator, **changes)
    ok, text = KapsoHook().test_connection()
    assert not ok
    assert says in text
    assert "sk-wrong-key-987" not in text
    assert simulator.messages() == []
