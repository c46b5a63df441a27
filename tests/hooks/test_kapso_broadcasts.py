"""KapsoHook's broadcast methods against the simulator, every request checked against the OpenAPI files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.api.v1.broadcasts import MAX_RECIPIENTS_PER_REQUEST
from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError, KapsoValidationError
from kapso_provider.hooks.kapso import KapsoHook
from tests._openapi import assert_requests_valid

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing.pytest_plugin import KapsoServer


@pytest.fixture
def hook(kapso_server: KapsoServer) -> Iterator[KapsoHook]:
    hook = KapsoHook()
    yield hook
    hook.close()
    # Every request any test here made is valid in every file that defines its operation.
    assert_requests_valid(kapso_server.simulator.requests)


@pytest.fixture
def template(kapso_server: KapsoServer) -> dict[str, Any]:
    return kapso_server.simulator.create_template("july_promo", category="MARKETING", content="Hi {{1}}, use {{2}}")


def _create(hook: KapsoHook, kapso_server: KapsoServer, template: dict[str, Any], name: str = "July") -> dict[str, Any]:
    return hook.create_broadcast(
        name=name,
        whatsapp_config_id=kapso_server.simulator.default_whatsapp_config_id,
        whatsapp_template_id=template["id"],
    )


class TestCreateAndGet:
    def test_create_returns_a_draft_and_get_reads_it(
        self, hook: KapsoHook, kapso_server: KapsoServer, template: dict[str, Any]
    ) -> None:
        created = _create(hook, kapso_server, template)
        assert created["status"] == "draft"
        assert created["whatsapp_template"]["id"] == template["id"]
        assert (created["total_recipients"], created["pending_count"]) == (0, 0)
        assert hook.get_broadcast(created["id"]) == created
        post = kapso_server.simulator.requests[0]
        assert post.json == {
            "whatsapp_broadcast": {
                "name": "July",
                "whatsapp_config_id": kapso_server.simulator.default_whatsapp_config_id,
                "whatsapp_template_id": template["id"],
            }
        }

    def test_unknown_broadcast_is_not_found(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError):
            hook.get_broadcast("5f6a7b8c-9d0e-1f2a-3b4c-5d6e7f8a9b0c")

    @pytest.mark.parametrize("field", ["name", "whatsapp_config_id", "whatsapp_template_id"])
    def test_empty_argument_fails_before_any_request(
        self, hook: KapsoHook, kapso_server: KapsoServer, field: str
    ) -> None:
        arguments = {"name": "x", "whatsapp_config_id": "c", "whatsapp_template_id": "t", field: " "}
        with pytest.raises(KapsoArgumentError, match=field):
            hook.create_broadcast(**arguments)
        assert kapso_server.simulator.requests == []

    def test_template_not_linked_to_the_config_is_refused(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        other = kapso_server.simulator.add_whatsapp_config()
        template = kapso_server.simulator.create_template("other", whatsapp_config_ids=[other["id"]])
        with pytest.raises(KapsoValidationError, match="Template not linked to config"):
            _create(hook, kapso_server, template)


class TestList:
    def test_lists_every_page_with_filters(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        first = simulator.create_template("first")
        second = simulator.create_template("second")
        ids = [_create(hook, kapso_server, first, name=f"B{n}")["id"] for n in range(5)]
        _create(hook, kapso_server, second, name="other")

        listed = list(
            hook.list_broadcasts(
                whatsapp_config_id=simulator.default_whatsapp_config_id, whatsapp_template_id=first["id"], per_page=2
            )
        )
        # Kapso lists the most recent first.
        assert [record["id"] for record in listed] == ids[::-1]
        pages = [r.query for r in simulator.requests if r.method == "GET"]
        assert [page["page"] for page in pages] == ["1", "2", "3"]
        assert all(page["q[whatsapp_template_id_eq]"] == first["id"] for page in pages)
        assert len(list(hook.list_broadcasts())) == 6


class TestRecipients:
    def test_add_then_list_with_positional_and_named_parameters(
        self, hook: KapsoHook, kapso_server: KapsoServer
    ) -> None:
        named = kapso_server.simulator.create_template("named", content="Hi {{name}}")
        broadcast = _create(hook, kapso_server, named)
        answer = hook.add_broadcast_recipients(
            broadcast["id"],
            [
                {"phone_number": "+1 415 555 0123", "template_parameters": {"name": "Alicia"}},
                {"phone_number": "+14155550124", "template_parameters": {"name": "Bob"}},
            ],
        )
        assert answer == {"added": 2, "duplicates": 0, "errors": []}
        listed = list(hook.list_broadcast_recipients(broadcast["id"], per_page=1))
        assert [(r["phone_number"], r["status"]) for r in listed] == [
            ("14155550123", "pending"),
            ("14155550124", "pending"),
        ]
        assert hook.get_broadcast(broadcast["id"])["total_recipients"] == 2

    def test_kapso_reports_duplicates_and_refused_recipients(
        self, hook: KapsoHook, kapso_server: KapsoServer, template: dict[str, Any]
    ) -> None:
        broadcast = _create(hook, kapso_server, template)
        hook.add_broadcast_recipients(
            broadcast["id"], [{"phone_number": "+14155550123", "template_parameters": ["A", "B"]}]
        )
        answer = hook.add_broadcast_recipients(
            broadcast["id"],
            [
                {"phone_number": "+14155550123", "template_parameters": ["A", "B"]},
                {"phone_number": "+14155550199", "template_parameters": ["only one"]},
            ],
        )
        assert (answer["added"], answer["duplicates"]) == (0, 1)
        assert answer["errors"] == [
            "Recipient 2: template parameters invalid - Template requires 2 parameters but 1 provided"
        ]

    @pytest.mark.parametrize(
        ("recipients", "problem"),
        [
            ([], "0 in one request"),
            (["+14155550123"] * (MAX_RECIPIENTS_PER_REQUEST + 1), "1001 in one request"),
            (["12"], r"recipients\[0\].phone_number"),
            ([{"name": "no number"}], r"recipients\[0\]: unknown field"),
            ([{"phone_number": "+14155550123", "template_parameters": [1, 2]}], "template_parameters"),
            ([{"template_parameters": ["a"]}], "phone_number or whatsapp_contact_id"),
        ],
        ids=["empty", "over-the-limit", "bad-number", "unknown-field", "non-string-parameters", "no-recipient"],
    )
    def test_bad_batch_fails_before_any_request(
        self, hook: KapsoHook, kapso_server: KapsoServer, recipients: list[Any], problem: str
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=problem):
            hook.add_broadcast_recipients("5f6a7b8c-9d0e-1f2a-3b4c-5d6e7f8a9b0c", recipients)
        assert kapso_server.simulator.requests == []

    def test_a_full_batch_of_the_limit_is_accepted(
        self, hook: KapsoHook, kapso_server: KapsoServer, template: dict[str, Any]
    ) -> None:
        broadcast = _create(hook, kapso_server, template)
        batch = [
            {"phone_number": f"+1415{n:07d}", "template_parameters": ["A", "B"]}
            for n in range(MAX_RECIPIENTS_PER_REQUEST)
        ]
        assert hook.add_broadcast_recipients(broadcast["id"], batch)["added"] == MAX_RECIPIENTS_PER_REQUEST

    def test_contact_ids_are_accepted(
        self, hook: KapsoHook, kapso_server: KapsoServer, template: dict[str, Any]
    ) -> None:
        contact_id = "3a4b5c6d-7e8f-9a0b-1c2d-3e4f5a6b7c8d"
        kapso_server.simulator.broadcasts.add_contact(contact_id, "+14155550100")
        broadcast = _create(hook, kapso_server, template)
        answer = hook.add_broadcast_recipients(
            broadcast["id"], [{"whatsapp_contact_id": contact_id, "template_parameters": ["A", "B"]}]
        )
        assert answer["added"] == 1
        (recipient,) = hook.list_broadcast_recipients(broadcast["id"])
        assert recipient["phone_number"] == "14155550100"


class TestSend:
    def test_send_starts_the_broadcast_and_refuses_a_second_send(
        self, hook: KapsoHook, kapso_server: KapsoServer, template: dict[str, Any]
    ) -> None:
        broadcast = _create(hook, kapso_server, template)
        hook.add_broadcast_recipients(
            broadcast["id"], [{"phone_number": "+14155550123", "template_parameters": ["A", "B"]}]
        )
        answer = hook.send_broadcast(broadcast["id"])
        assert (answer["id"], answer["status"]) == (broadcast["id"], "sending")
        assert answer["started_at"]
        send = kapso_server.simulator.requests[-1]
        assert (send.method, send.path, send.json) == ("POST", f"/whatsapp_broadcasts/{broadcast['id']}/send", None)
        with pytest.raises(KapsoValidationError, match="already"):
            hook.send_broadcast(broadcast["id"])
        # The simulator settles every recipient at the next read by default.
        record = hook.get_broadcast(broadcast["id"])
        assert (record["status"], record["sent_count"], record["delivered_count"], record["pending_count"]) == (
            "completed",
            1,
            1,
            0,
        )
        with pytest.raises(KapsoValidationError, match="Cannot add recipients to broadcast in completed status"):
            hook.add_broadcast_recipients(broadcast["id"], ["+14155550124"])

    def test_a_broadcast_without_recipients_is_not_sent(
        self, hook: KapsoHook, kapso_server: KapsoServer, template: dict[str, Any]
    ) -> None:
        broadcast = _create(hook, kapso_server, template)
        with pytest.raises(KapsoValidationError, match="no recipients"):
            hook.send_broadcast(broadcast["id"])

    def test_ids_are_quoted_into_one_path_segment(self, hook: KapsoHook, kapso_server: KapsoServer) -> None:
        with pytest.raises(KapsoNotFoundError):
            hook.get_broadcast("../whatsapp_configs")
        assert kapso_server.simulator.requests[-1].path == "/whatsapp_broadcasts/..%2Fwhatsapp_configs"
