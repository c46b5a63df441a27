"""KapsoHook: conversation end and reactivate, mark as read, conversation assignments, against the simulator.

Every request a test makes is checked against the OpenAPI files that define it.
"""

from __future__ import annotations

import itertools
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import (
    KapsoArgumentError,
    KapsoNotFoundError,
    KapsoValidationError,
)
from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy
from tests._openapi import assert_requests_valid

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer


@pytest.fixture
def hook(kapso_server: KapsoServer) -> Iterator[KapsoHook]:
    hook = KapsoHook(retry_policy=RetryPolicy(max_attempts=1))
    yield hook
    hook.close()
    # Whatever a test did, each request it sent is valid in every file that defines its operation.
    assert_requests_valid(kapso_server.simulator.requests)


@pytest.fixture
def simulator(kapso_server: KapsoServer) -> KapsoSimulator:
    return kapso_server.simulator


class TestConversationStatus:
    @pytest.mark.parametrize(
        ("method", "initial", "expected"),
        [("end_conversation", "active", "ended"), ("reactivate_conversation", "ended", "active")],
    )
    def test_changes_status(
        self, hook: KapsoHook, simulator: KapsoSimulator, method: str, initial: str, expected: str
    ) -> None:
        conversation = simulator.create_conversation(status=initial)
        record = getattr(hook, method)(conversation["id"])
        assert record["id"] == conversation["id"]
        assert record["status"] == expected
        assert simulator.conversations()[0]["status"] == expected
        (request,) = simulator.requests
        assert (request.method, request.path) == ("PATCH", f"/whatsapp_conversations/{conversation['id']}")
        assert request.json == {"whatsapp_conversation": {"status": expected}}

    def test_round_trip(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        hook.end_conversation(conversation["id"])
        assert [c["id"] for c in hook.list_conversations(status="ended")] == [conversation["id"]]
        hook.reactivate_conversation(conversation["id"])
        assert hook.get_conversation(conversation["id"])["status"] == "active"

    @pytest.mark.parametrize("method", ["end_conversation", "reactivate_conversation"])
    def test_unknown_conversation(self, hook: KapsoHook, method: str) -> None:
        with pytest.raises(KapsoNotFoundError, match="HTTP 404"):
            getattr(hook, method)(str(uuid.uuid4()))

    def test_id_is_one_path_segment(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        with pytest.raises(KapsoNotFoundError):
            hook.end_conversation("../whatsapp_messages")
        assert simulator.requests[0].path == "/whatsapp_conversations/..%2Fwhatsapp_messages"


class TestMarkAsRead:
    def test_marks_inbound_message_read(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        inbound = simulator.deliver_inbound(conversation["id"], "Is my order on its way?")
        assert inbound["status"] == "received"

        record = hook.mark_message_as_read(inbound["id"])

        assert (record["id"], record["direction"], record["status"]) == (inbound["id"], "inbound", "read")
        assert simulator.messages(conversation["id"])[0]["status"] == "read"
        (request,) = simulator.requests
        assert (request.method, request.path) == ("PATCH", f"/whatsapp_messages/{inbound['id']}/mark_as_read")
        assert request.query == {}
        assert request.json is None

    @pytest.mark.parametrize(("typing_indicator", "sent"), [(True, "true"), (False, "false")])
    def test_typing_indicator(
        self, hook: KapsoHook, simulator: KapsoSimulator, typing_indicator: bool, sent: str
    ) -> None:
        inbound = simulator.deliver_inbound(simulator.create_conversation()["id"])
        hook.mark_message_as_read(inbound["id"], typing_indicator=typing_indicator)
        assert simulator.requests[0].query == {"typing_indicator": sent}

    def test_twice_is_harmless(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        inbound = simulator.deliver_inbound(simulator.create_conversation()["id"])
        first = hook.mark_message_as_read(inbound["id"])
        assert hook.mark_message_as_read(inbound["id"]) == first

    def test_outbound_message_is_refused(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        sent = hook.send_message({"message_type": "text", "content": "hi"}, conversation_id=conversation["id"])
        with pytest.raises(KapsoValidationError, match="Only inbound messages"):
            hook.mark_message_as_read(sent["id"])
        assert simulator.messages(conversation["id"])[0]["status"] == "sent"

    def test_unknown_message(self, hook: KapsoHook) -> None:
        with pytest.raises(KapsoNotFoundError, match="HTTP 404"):
            hook.mark_message_as_read(str(uuid.uuid4()))

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"message_id": "wamid.HBgLMTU1NTEyMzQ1NjcVAgASGBQzQQ=="}, "message_id: must be a UUID"),
            ({"message_id": ""}, "message_id: must be a UUID"),
            ({"message_id": str(uuid.uuid4()), "typing_indicator": "yes"}, "typing_indicator: must be true or false"),
        ],
    )
    def test_bad_input_fails_before_any_request(
        self, hook: KapsoHook, simulator: KapsoSimulator, kwargs: dict[str, Any], match: str
    ) -> None:
        with pytest.raises(KapsoArgumentError, match=match):
            hook.mark_message_as_read(**kwargs)
        assert simulator.requests == []


class TestAssignments:
    def test_create_list_update(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        first_user = simulator.assignments.default_user_id
        second_user = simulator.assignments.add_user(name="Grace")["id"]

        created = hook.create_assignment(conversation["id"], user_id=first_user, notes="VIP customer")
        assert created["user_id"] == first_user
        assert created["active"] is True
        assert created["notes"] == "VIP customer"
        assert created["created_by_user_id"] is None
        assert list(hook.list_assignments(conversation["id"])) == [created]

        handed_over = hook.update_assignment(conversation["id"], created["id"], user_id=second_user, notes="Escalated")
        assert (handed_over["id"], handed_over["user_id"], handed_over["notes"]) == (
            created["id"],
            second_user,
            "Escalated",
        )
        closed = hook.update_assignment(conversation["id"], created["id"], active=False)
        assert closed["active"] is False
        assert simulator.assignments.assignments(conversation["id"]) == [closed]

        bodies = [(r.method, r.json) for r in simulator.requests if r.method != "GET"]
        assert bodies == [
            ("POST", {"conversation_assignment": {"user_id": first_user, "notes": "VIP customer"}}),
            ("PATCH", {"conversation_assignment": {"user_id": second_user, "notes": "Escalated"}}),
            ("PATCH", {"conversation_assignment": {"active": False}}),
        ]

    def test_notes_left_out_when_none(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        record = hook.create_assignment(conversation["id"], user_id=simulator.assignments.default_user_id)
        assert record["notes"] is None
        assert simulator.requests[0].json == {
            "conversation_assignment": {"user_id": simulator.assignments.default_user_id}
        }

    def test_list_is_lazy_and_reads_every_page(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        for index in range(5):
            simulator.assignments.assign(conversation["id"], notes=f"shift {index}", active=False)

        records = hook.list_assignments(conversation["id"], per_page=2)
        assert simulator.requests == []  # nothing is fetched before iterating
        assert [record["notes"] for record in itertools.islice(records, 1)] == ["shift 0"]
        assert len(simulator.requests) == 1
        assert [record["notes"] for record in records] == [f"shift {index}" for index in range(1, 5)]
        assert [request.query["page"] for request in simulator.requests] == ["1", "2", "3"]
        assert {request.query["per_page"] for request in simulator.requests} == {"2"}

    def test_second_active_assignment_is_refused(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        simulator.assignments.assign(conversation["id"])
        other = simulator.assignments.add_user()["id"]
        with pytest.raises(KapsoValidationError, match="already assigned"):
            hook.create_assignment(conversation["id"], user_id=other)

    def test_user_outside_the_project(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        with pytest.raises(KapsoNotFoundError, match="User not found"):
            hook.create_assignment(conversation["id"], user_id=str(uuid.uuid4()))

    @pytest.mark.parametrize(
        "call",
        [
            lambda hook, cid: list(hook.list_assignments(cid)),
            lambda hook, cid: hook.create_assignment(cid, user_id=str(uuid.uuid4())),
            lambda hook, cid: hook.update_assignment(cid, str(uuid.uuid4()), notes="x"),
        ],
        ids=["list", "create", "update"],
    )
    def test_unknown_conversation(self, hook: KapsoHook, call: Any) -> None:
        with pytest.raises(KapsoNotFoundError, match="Conversation not found"):
            call(hook, str(uuid.uuid4()))

    def test_unknown_assignment(self, hook: KapsoHook, simulator: KapsoSimulator) -> None:
        conversation = simulator.create_conversation()
        with pytest.raises(KapsoNotFoundError, match="Assignment not found"):
            hook.update_assignment(conversation["id"], str(uuid.uuid4()), active=False)

    @pytest.mark.parametrize(
        ("method", "kwargs", "match"),
        [
            ("create_assignment", {"user_id": "grace@example.com"}, "user_id: must be a UUID"),
            ("create_assignment", {"user_id": None}, "user_id: must be a UUID"),
            ("create_assignment", {"user_id": str(uuid.UUID(int=1)), "notes": 7}, "notes: must be a string"),
            ("update_assignment", {}, "give at least one of user_id, notes, active"),
            ("update_assignment", {"user_id": "grace"}, "user_id: must be a UUID"),
            ("update_assignment", {"active": "no"}, "active: must be true or false"),
        ],
    )
    def test_bad_input_fails_before_any_request(
        self, hook: KapsoHook, simulator: KapsoSimulator, method: str, kwargs: dict[str, Any], match: str
    ) -> None:
        args = ["conversation"] if method == "create_assignment" else ["conversation", "assignment"]
        with pytest.raises(KapsoArgumentError, match=match):
            getattr(hook, method)(*args, **kwargs)
        assert simulator.requests == []
