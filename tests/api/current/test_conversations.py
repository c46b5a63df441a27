"""Current API: conversations (cursor list, read, end, reactivate) and assignments, through both hooks."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import (
    KapsoArgumentError,
    KapsoNotFoundError,
    KapsoUnsupportedError,
    KapsoValidationError,
)
from kapso_provider.hooks.kapso import KapsoAsyncHook

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator


class TestConversations:
    def test_lists_every_page_with_the_cursor(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        created = [simulator.create_conversation(f"+1555123{index:04d}")["id"] for index in range(5)]
        listed = [record["id"] for record in hook.list_conversations(per_page=2)]
        assert sorted(listed) == sorted(created)
        pages = [r for r in simulator.requests if r.path == "/whatsapp/conversations"]
        assert len(pages) == 3
        assert [r.query.get("limit") for r in pages] == ["2", "2", "2"]
        assert "after" not in pages[0].query
        assert all(r.query.get("after") for r in pages[1:])

    def test_phone_number_is_exact_although_kapso_matches_part_of_it(
        self, hook: KapsoHook, simulator: KapsoSimulator
    ) -> None:
        wanted = simulator.create_conversation("+15551230001")
        simulator.create_conversation("+15551230001999")  # contains the digits: Kapso's partial match finds it
        listed = list(hook.list_conversations(phone_number="+1 (555) 123-0001"))
        assert [record["id"] for record in listed] == [wanted["id"]]
        assert simulator.requests[0].query["phone_number"] == "15551230001"

    def test_filters_reach_kapso_in_its_names(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        ended = simulator.create_conversation(status="ended")
        simulator.create_conversation("+15559870000")
        listed = hook.list_conversations(
            status="ended",
            phone_number_id=simulator.default_phone_number_id,
            last_active_after="2000-01-01T00:00:00Z",
        )
        assert [record["id"] for record in listed] == [ended["id"]]
        assert simulator.requests[0].query == {
            "status": "ended",
            "phone_number_id": simulator.default_phone_number_id,
            "last_active_after": "2000-01-01T00:00:00Z",
            "limit": "100",
        }

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"whatsapp_config_id": "cfg"}, r"^whatsapp_config_id: only Kapso's API v1 takes it.*phone_number_id"),
            ({"customer_id": "c"}, r"^customer_id: only Kapso's API v1 takes it"),
        ],
    )
    def test_v1_filters_are_refused(
        self, hook: KapsoHook, simulator: KapsoSimulator, arguments: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(KapsoUnsupportedError, match=message):
            list(hook.list_conversations(**arguments))
        assert simulator.requests == []

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({"status": "closed"}, r"^status: must be one of active, ended"),
            ({"phone_number": "call me"}, r"^phone_number: must hold digits"),
            ({"last_active_after": "2024-01-01T00:00:00"}, r"^last_active_after: must include a time zone"),
            ({"per_page": 0}, r"^per_page: 0 is outside 1\.\.100"),
        ],
    )
    def test_bad_filters_fail_before_any_request(
        self, hook: KapsoHook, simulator: KapsoSimulator, arguments: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=message):
            list(hook.list_conversations(**arguments))
        assert simulator.requests == []

    @pytest.mark.parametrize(
        ("method", "initial", "expected"),
        [("end_conversation", "active", "ended"), ("reactivate_conversation", "ended", "active")],
    )
    def test_status_changes_with_one_patch(
        self, hook: KapsoHook, simulator: KapsoSimulator, method: str, initial: str, expected: str
    ) -> None:
        conversation = simulator.create_conversation(status=initial)
        record = getattr(hook, method)(conversation["id"])
        assert (record["id"], record["status"]) == (conversation["id"], expected)
        assert hook.get_conversation(conversation["id"])["status"] == expected
        patch = simulator.requests[0]
        assert (patch.method, patch.path) == ("PATCH", f"/whatsapp/conversations/{conversation['id']}")
        assert patch.json == {"whatsapp_conversation": {"status": expected}}

    def test_an_id_that_is_not_a_uuid_is_refused(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        with pytest.raises(KapsoArgumentError, match=r"^conversation_id: must be a UUID"):
            hook.get_conversation("../whatsapp/contacts")
        assert simulator.requests == []

    def test_unknown_conversation(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="HTTP 404"):
            hook.end_conversation(str(uuid.uuid4()))

    def test_the_async_hook_lists_alike(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        created = [simulator.create_conversation(f"+1555222{index:04d}")["id"] for index in range(3)]

        async def listed() -> list[str]:
            async_hook = KapsoAsyncHook()
            try:
                return [record["id"] async for record in async_hook.list_conversations(per_page=2)]
            finally:
                await async_hook.aclose()

        assert sorted(asyncio.run(listed())) == sorted(created)


class TestAssignments:
    def test_assign_read_list_and_unassign(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        user = simulator.assignments.default_user_id
        made = hook.create_assignment(conversation["id"], user_id=user, notes="VIP")
        assert (made["user_id"], made["active"], made["notes"]) == (user, True, "VIP")
        assert simulator.requests[0].json == {"assignment": {"user_id": user, "notes": "VIP"}}
        assert hook.get_assignment(conversation["id"], made["id"])["notes"] == "VIP"
        off = hook.update_assignment(conversation["id"], made["id"], active=False)
        assert off["active"] is False
        assert simulator.requests[-1].json == {"assignment": {"active": False}}
        assert [(a["id"], a["active"]) for a in hook.list_assignments(conversation["id"])] == [(made["id"], False)]
        # One store: API v1 sees the same assignment.
        assert simulator.assignments.assignments(conversation["id"])[0]["active"] is False

    def test_a_second_assignment_is_kapsos_422(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        user = simulator.assignments.default_user_id
        hook.create_assignment(conversation["id"], user_id=user)
        with pytest.raises(KapsoValidationError, match="already assigned"):
            hook.create_assignment(conversation["id"], user_id=user)

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda h, c: h.create_assignment(c, user_id="someone@example.com"), r"^user_id: must be a UUID"),
            (lambda h, c: h.update_assignment(c, str(uuid.uuid4())), r"^update_assignment: give at least one"),
            (lambda h, c: h.get_assignment(c, "1"), r"^assignment_id: must be a UUID"),
        ],
    )
    def test_bad_arguments_fail_before_any_request(
        self, hook: KapsoHook, simulator: KapsoSimulator, call: object, message: str
    ) -> None:
        conversation = simulator.create_conversation()
        with pytest.raises(KapsoArgumentError, match=message):
            call(hook, conversation["id"])  # type: ignore[operator]
        assert simulator.requests == []
