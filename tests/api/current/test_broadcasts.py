"""Current API: broadcasts (create, recipients, send, schedule, cancel, stop, counters), through the hook."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError, KapsoUnsupportedError, KapsoValidationError

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator
    from tests.api.current.conftest import Refused


@pytest.fixture
def template_id(hook: KapsoHook, simulator: KapsoSimulator) -> str:
    """Meta's id of an approved template with two named parameters."""
    simulator.create_template("spring_sale", content="Hi {{first_name}}, use {{code}}")
    (template,) = hook.list_templates(name="spring_sale")
    return str(template["id"])


def _draft(hook: KapsoHook, template_id: str) -> dict[str, Any]:
    return hook.create_broadcast(name="Spring sale", whatsapp_template_id=template_id)


def test_create_add_send_and_read_the_counters(hook: KapsoHook, simulator: KapsoSimulator, template_id: str) -> None:
    draft = _draft(hook, template_id)
    assert draft["status"] == "draft"
    assert simulator.requests[-1].json == {
        "whatsapp_broadcast": {
            "name": "Spring sale",
            "phone_number_id": simulator.default_phone_number_id,
            "whatsapp_template_id": template_id,
        }
    }
    summary = hook.add_broadcast_recipients(
        draft["id"],
        [
            {"phone_number": "+1 555 123 0001", "template_parameters": {"first_name": "Ada", "code": "A1"}},
            {
                "phone_number": "+15551230002",
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "parameter_name": "first_name", "text": "Bo"},
                            {"type": "text", "parameter_name": "code", "text": "B2"},
                        ],
                    }
                ],
            },
        ],
    )
    assert summary == {"added": 2, "duplicates": 0, "errors": []}
    first = simulator.requests[-1].json["whatsapp_broadcast"]["recipients"][0]
    assert first == {
        "phone_number": "+15551230001",
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "first_name", "text": "Ada"},
                    {"type": "text", "parameter_name": "code", "text": "A1"},
                ],
            }
        ],
    }
    # Kapso skips recipients already added: a repeated batch adds nobody twice.
    again = hook.add_broadcast_recipients(
        draft["id"], [{"phone_number": "+15551230001", "template_parameters": {"first_name": "Ada", "code": "A1"}}]
    )
    assert again == {"added": 0, "duplicates": 1, "errors": []}
    started = hook.send_broadcast(draft["id"])
    assert started["id"] == draft["id"]
    for _ in range(20):
        record = hook.get_broadcast(draft["id"])
        if record["status"] in ("completed", "failed"):
            break
    assert record["status"] == "completed"
    assert (record["total_recipients"], record["sent_count"]) == (2, 2)
    statuses = [recipient["status"] for recipient in hook.list_broadcast_recipients(draft["id"])]
    assert statuses == ["sent", "sent"]


def test_schedule_cancel_clear_and_stop(hook: KapsoHook, simulator: KapsoSimulator, template_id: str) -> None:
    draft = _draft(hook, template_id)
    hook.add_broadcast_recipients(draft["id"], [{"phone_number": "+15551230001", "template_parameters": ["Ada", "A1"]}])
    positional = simulator.requests[-1].json["whatsapp_broadcast"]["recipients"][0]["components"]
    assert positional == [
        {"type": "body", "parameters": [{"type": "text", "text": "Ada"}, {"type": "text", "text": "A1"}]}
    ]
    when = datetime.now(UTC) + timedelta(days=1)
    scheduled = hook.schedule_broadcast(draft["id"], scheduled_at=when)
    assert scheduled["status"] == "scheduled"
    assert simulator.requests[-1].json == {"scheduled_at": when.isoformat().replace("+00:00", "Z")}
    assert hook.cancel_broadcast(draft["id"])["status"] == "draft"
    assert hook.clear_broadcast_recipients(draft["id"])["total_recipients"] == 0
    hook.add_broadcast_recipients(draft["id"], [{"phone_number": "+15551230001", "template_parameters": ["Ada", "A1"]}])
    hook.send_broadcast(draft["id"])
    stopped = hook.stop_broadcast(draft["id"])
    assert stopped["status"] in ("stopped", "completed")
    assert simulator.requests[-1].json == {"whatsapp_broadcast": {"status": "stopped"}}


def test_lists_by_number_and_status(hook: KapsoHook, simulator: KapsoSimulator, template_id: str) -> None:
    draft = _draft(hook, template_id)
    listed = list(hook.list_broadcasts(phone_number_id=simulator.default_phone_number_id, status="draft"))
    assert [record["id"] for record in listed] == [draft["id"]]
    assert simulator.requests[-1].query == {
        "phone_number_id": simulator.default_phone_number_id,
        "status": "draft",
        "page": "1",
        "per_page": "100",
    }


def test_kapso_refuses_an_unapproved_template(hook: KapsoHook, simulator: KapsoSimulator) -> None:
    simulator.create_template("pending_one", status="submitted")
    with pytest.raises(KapsoValidationError, match="only approved templates"):
        _draft(hook, simulator.create_template("draft_one", status="draft")["id"])


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda h: h.create_broadcast(name="x", whatsapp_template_id="1", whatsapp_config_id="cfg"),
            KapsoUnsupportedError,
            r"^whatsapp_config_id: only Kapso's API v1 takes it.*phone_number_id",
        ),
        (
            lambda h: list(h.list_broadcasts(whatsapp_template_id="t")),
            KapsoUnsupportedError,
            r"^whatsapp_template_id: only Kapso's API v1",
        ),
        (lambda h: list(h.list_broadcasts(status="done")), KapsoArgumentError, r"^status: must be one of draft"),
        (lambda h: h.get_broadcast("42"), KapsoArgumentError, r"^broadcast_id: must be a UUID"),
        (
            lambda h: h.add_broadcast_recipients(str(uuid.uuid4()), ["+15551230001"] * 1001),
            KapsoArgumentError,
            r"^recipients: 1001 in one request; Kapso takes 1 to 1000",
        ),
        (
            lambda h: h.add_broadcast_recipients(
                str(uuid.uuid4()), [{"phone_number": "+15551230001", "components": "x"}]
            ),
            KapsoArgumentError,
            r"^recipients\[0\]\.components: must be a non-empty list",
        ),
        (
            lambda h: h.add_broadcast_recipients(
                str(uuid.uuid4()), [{"phone_number": "+15551230001", "template_parameters": {"image": {"link": "x"}}}]
            ),
            KapsoArgumentError,
            r"^recipients\[0\]\.template_parameters\.image: must be text .* give media headers .* as 'components'",
        ),
        (
            lambda h: h.add_broadcast_recipients(str(uuid.uuid4()), [{"whatsapp_contact_id": "c-1"}]),
            KapsoArgumentError,
            r"^recipients\[0\]\.whatsapp_contact_id: must be a UUID",
        ),
        (
            lambda h: h.schedule_broadcast(str(uuid.uuid4()), scheduled_at="2030-01-01 09:00"),
            KapsoArgumentError,
            r"^scheduled_at: must include a time zone",
        ),
    ],
)
def test_bad_arguments_fail_before_any_request(
    refused: Refused, call: Any, error: type[Exception], message: str
) -> None:
    refused(call, error, message)
