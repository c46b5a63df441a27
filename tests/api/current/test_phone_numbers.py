"""Current API: the project's phone numbers and their health check, through the hook."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoUnsupportedError

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
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
