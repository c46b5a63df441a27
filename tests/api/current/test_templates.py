"""Current API: templates of a WhatsApp Business Account through the proxy, through the hook."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoUnsupportedError

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator
    from tests.api.current.conftest import Refused

BODY = [{"type": "BODY", "text": "Hi {{1}}, your order {{2}} shipped.", "example": {"body_text": [["Ada", "42"]]}}]


def _create(hook: KapsoHook, name: str = "order_shipped", **changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"language_code": "en_US", "category": "UTILITY", "components": BODY, **changes}
    return hook.create_template(name, **arguments)


def test_create_read_update_delete(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    made = _create(hook)
    assert made["status"] == "PENDING"
    waba = simulator.default_business_account_id
    create = simulator.requests[0]
    assert (create.method, create.path) == ("POST", f"/{waba}/message_templates")
    assert create.json == {"name": "order_shipped", "language": "en_US", "category": "UTILITY", "components": BODY}
    read = hook.get_template(made["id"])
    assert (read["name"], read["language"], read["category"]) == ("order_shipped", "en_US", "UTILITY")
    assert simulator.requests[-1].path == f"/{waba}/message_templates/{made['id']}"
    changed = [{"type": "BODY", "text": "Hello {{1}}, order {{2}} is on its way.", "example": BODY[0]["example"]}]
    assert hook.update_template(made["id"], components=changed) == {"success": True}
    update = simulator.requests[-1]
    assert (update.query, update.json) == ({"hsm_id": made["id"]}, {"components": changed})
    assert hook.get_template(made["id"])["components"][0]["text"].startswith("Hello")
    assert hook.delete_template(name="order_shipped") == {"success": True}
    assert simulator.requests[-1].query == {"name": "order_shipped"}
    with pytest.raises(KapsoNotFoundError):
        hook.get_template(made["id"])


def test_lists_with_filters_in_the_proxys_names(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    _create(hook, "order_shipped")
    _create(hook, "order_shipped", language_code="es")
    _create(hook, "welcome", category="MARKETING")
    listed = list(hook.list_templates(name="order_shipped", language_code="es"))
    assert [(t["name"], t["language"]) for t in listed] == [("order_shipped", "es")]
    assert simulator.requests[-1].query == {"name": "order_shipped", "language": "es", "limit": "100"}
    # Any case: the proxy's enum is upper case.
    list(hook.list_templates(status="approved"))
    assert simulator.requests[-1].query["status"] == "APPROVED"
    assert [t["name"] for t in hook.list_templates(category="MARKETING")] == ["welcome"]


def test_a_full_page_says_more_exist(
    hook: KapsoHook, simulator: KapsoSimulator, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    for name in ("a_one", "b_two", "c_three"):
        _create(hook, name)
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        listed = list(hook.list_templates(per_page=2))
    # Airflow 3 logs through structlog to the terminal, Airflow 2 through logging: read both.
    logs = caplog.text + "".join(capfd.readouterr())
    # One request: the file declares no cursor parameter for this list.
    assert len(listed) == 2
    assert [r.path for r in simulator.requests if r.method == "GET"] == [
        f"/{simulator.default_business_account_id}/message_templates"
    ]
    assert "says more exist" in logs
    assert "narrow the filters" in logs


def test_a_task_names_another_business_account(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    with pytest.raises(KapsoNotFoundError, match="HTTP 404"):
        list(hook.list_templates(business_account_id="999000999"))
    assert simulator.requests[0].path == "/999000999/message_templates"


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda h: _create(h, "Order Shipped"),
            KapsoArgumentError,
            r"^name: 'Order Shipped' is not a WhatsApp template",
        ),
        (lambda h: _create(h, category="PROMO"), KapsoArgumentError, r"^category: must be one of"),
        (lambda h: _create(h, components=[]), KapsoArgumentError, r"^components: must be a non-empty list"),
        (lambda h: _create(h, whatsapp_config_id="cfg"), KapsoUnsupportedError, r"^whatsapp_config_id: only .* API v1"),
        (lambda h: h.update_template("1", name="new_name"), KapsoUnsupportedError, r"^name: WhatsApp never changes"),
        (lambda h: h.update_template("1"), KapsoArgumentError, r"^template: give at least one of category"),
        (lambda h: h.delete_template(), KapsoArgumentError, r"^delete_template: give name"),
        (lambda h: list(h.list_templates(status="draft")), KapsoArgumentError, r"^status: .*API v1 statuses"),
        (lambda h: h.submit_template("1"), KapsoUnsupportedError, r"^submit_template: Kapso's current API has no"),
        (lambda h: h.sync_templates(), KapsoUnsupportedError, r"^sync_templates: Kapso's current API has no"),
    ],
)
def test_bad_arguments_fail_before_any_request(
    refused: Refused, call: Any, error: type[Exception], message: str
) -> None:
    refused(call, error, message)


def test_without_a_business_account_the_error_says_where_to_set_it(
    hook: KapsoHook, simulator: KapsoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    connection = json.loads(os.environ["AIRFLOW_CONN_KAPSO_DEFAULT"])
    del connection["extra"]["business_account_id"]
    monkeypatch.setenv("AIRFLOW_CONN_KAPSO_DEFAULT", json.dumps(connection))
    from kapso_provider.hooks.kapso import KapsoHook as Hook

    fresh = Hook()
    try:
        with pytest.raises(KapsoArgumentError, match=r"^business_account_id: templates belong to a WhatsApp Business"):
            list(fresh.list_templates())
    finally:
        fresh.close()
    assert simulator.requests == []
