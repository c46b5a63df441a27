"""Current API: a conversation's status (end, reactivate) and its assignments, through the hook."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from kapso_provider.exceptions import (
    KapsoArgumentError,
    KapsoNotFoundError,
    KapsoValidationError,
)

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator


class TestConversationStatus:
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
        assert simulator.conversations()[0]["status"] == expected
        patch = simulator.requests[0]
        assert (patch.method, patch.path) == ("PATCH", f"/whatsapp/conversations/{conversation['id']}")
        assert patch.json == {"whatsapp_conversation": {"status": expected}}

    def test_an_id_that_is_not_a_uuid_is_refused(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        with pytest.raises(KapsoArgumentError, match=r"^conversation_id: must be a UUID"):
            hook.end_conversation("../whatsapp/contacts")
        assert simulator.requests == []

    def test_unknown_conversation(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="HTTP 404"):
            hook.end_conversation(str(uuid.uuid4()))


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
