"""KapsoAssignConversationOperator in DAG runs against the simulator, and the example DAG that uses it."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.operators.kapso import KapsoAssignConversationOperator
from tests._airflow import task_states, xcom_return_value
from tests._openapi import assert_requests_valid

if TYPE_CHECKING:
    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer


def _success(dag_run: Any) -> None:
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert set(states.values()) == {"success"}, states


# The same DAGs on API v1 and on the current API.
pytestmark = pytest.mark.usefixtures("kapso_api")


def _requests_are_valid(simulator: KapsoSimulator) -> list[tuple[str, str]]:
    """Check every request against its API's files; returns ``(method, path)`` of each, in order."""
    assert_requests_valid(simulator.requests)
    return [(request.method, request.path) for request in simulator.requests]


def _conversation(api: str, conversation_id: str) -> str:
    return f"/whatsapp_conversations/{conversation_id}" if api == "v1" else f"/whatsapp/conversations/{conversation_id}"


def _assignments(api: str, conversation_id: str) -> str:
    return _conversation(api, conversation_id) + ("/conversation_assignments" if api == "v1" else "/assignments")


class TestExampleDag:
    def test_wrap_up(self, run_dag: Any, kapso_server: KapsoServer, kapso_api: str) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation("+15550002222")
        simulator.deliver_inbound(conversation["id"], "Where is my parcel?")
        last = simulator.deliver_inbound(conversation["id"], "Thanks, it arrived!")
        # Listed first (the most recently active), but without a customer message: passed over.
        quiet = simulator.create_conversation("+15550001111")
        user_id = simulator.assignments.default_user_id

        dag_run = run_dag("kapso_conversations", run_conf={"user_id": user_id})

        _success(dag_run)
        # The id a message is read back by: Kapso's on API v1, WhatsApp's wamid on the current API.
        last_id = last["id"] if kapso_api == "v1" else last["whatsapp_message_id"]
        assert xcom_return_value(dag_run, "pick_conversation") == {
            "conversation_id": conversation["id"],
            "message_id": last_id,
        }
        # API v1 answers the message record, the current API the proxy's own answer.
        marked = xcom_return_value(dag_run, "mark_read")
        assert (marked["status"] == "read") if kapso_api == "v1" else (marked == {"success": True})
        assignment = xcom_return_value(dag_run, "assign_conversation")
        assert assignment["user_id"] == user_id
        assert assignment["notes"].startswith("Wrapped up on ")
        assert simulator.assignments.assignments(conversation["id"]) == [assignment]
        assert xcom_return_value(dag_run, "end_conversation") == "ended"
        states = {c["id"]: c["status"] for c in simulator.conversations()}
        assert states == {quiet["id"]: "active", conversation["id"]: "ended"}
        # Only the customer's newest message is marked read.
        assert [m["status"] for m in simulator.messages(conversation["id"])] == ["received", "read"]
        paths = _requests_are_valid(simulator)
        mark_read = (
            ("PATCH", f"/whatsapp_messages/{last['id']}/mark_as_read")
            if kapso_api == "v1"
            else ("POST", f"/{simulator.default_phone_number_id}/messages")
        )
        assert mark_read in paths
        assert ("POST", _assignments(kapso_api, conversation["id"])) in paths
        assert paths[-1] == ("PATCH", _conversation(kapso_api, conversation["id"]))

    def test_skips_without_customer_messages(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.create_conversation()
        dag_run = run_dag(
            "kapso_conversations", run_conf={"user_id": kapso_server.simulator.assignments.default_user_id}
        )
        states = task_states(dag_run)
        assert states["pick_conversation"] == "skipped", states
        assert {states[t] for t in ("mark_read", "assign_conversation", "end_conversation")} == {"skipped"}
        assert {method for method, _ in _requests_are_valid(kapso_server.simulator)} == {"GET"}


class TestAssignOperator:
    def test_assigns_and_returns_plain_json(self, run_dag: Any, kapso_server: KapsoServer, kapso_api: str) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation()
        user_id = simulator.assignments.default_user_id
        dag_run = run_dag(
            "kapso_test_assign",
            run_conf={"conversation_id": conversation["id"], "user_id": user_id, "notes": "VIP"},
        )
        _success(dag_run)
        record = xcom_return_value(dag_run, "assign")
        assert record == simulator.assignments.assignments(conversation["id"])[0]
        assert (record["user_id"], record["notes"], record["active"]) == (user_id, "VIP", True)
        base = _assignments(kapso_api, conversation["id"])
        assert _requests_are_valid(simulator) == [("GET", base), ("POST", base)]
        wrapper = "conversation_assignment" if kapso_api == "v1" else "assignment"
        assert simulator.requests[1].json == {wrapper: {"user_id": user_id, "notes": "VIP"}}

    def test_default_notes_are_rendered(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation()
        conf = {"conversation_id": conversation["id"], "user_id": simulator.assignments.default_user_id}
        dag_run = run_dag("kapso_test_assign", run_conf=conf)
        _success(dag_run)
        assert xcom_return_value(dag_run, "assign")["notes"].startswith("Assigned on 20")

    def test_already_assigned_to_the_user_returns_that_assignment(
        self, run_dag: Any, kapso_server: KapsoServer
    ) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation()
        simulator.assignments.assign(conversation["id"], notes="old shift", active=False)
        existing = simulator.assignments.assign(conversation["id"], notes="from the inbox")
        conf = {"conversation_id": conversation["id"], "user_id": existing["user_id"]}

        dag_run = run_dag("kapso_test_assign", run_conf=conf)

        _success(dag_run)
        assert xcom_return_value(dag_run, "assign") == existing
        assert len(simulator.assignments.assignments(conversation["id"])) == 2
        assert {method for method, _ in _requests_are_valid(simulator)} == {"GET"}

    def test_assigned_to_someone_else_fails(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation()
        simulator.assignments.assign(conversation["id"])
        other = simulator.assignments.add_user(name="Grace")["id"]

        dag_run = run_dag("kapso_test_assign", run_conf={"conversation_id": conversation["id"], "user_id": other})

        assert str(dag_run.state) == "failed"
        assert len(simulator.assignments.assignments(conversation["id"])) == 1
        assert [method for method, _ in _requests_are_valid(simulator)] == ["GET", "POST"]

    @pytest.mark.parametrize(
        "conf",
        [
            {"conversation_id": "c-1", "user_id": "grace@example.com"},
            {"conversation_id": " ", "user_id": str(uuid.UUID(int=1))},
        ],
    )
    def test_invalid_after_render_fails_without_request_or_retry(
        self, run_dag: Any, kapso_server: KapsoServer, conf: dict[str, str]
    ) -> None:
        dag_run = run_dag("kapso_test_assign_invalid_after_render", run_conf=conf)
        assert str(dag_run.state) == "failed"
        ti = dag_run.get_task_instance("assign")
        # AirflowFailException: no retry, although the task allows three.
        assert ti.try_number == 1
        assert kapso_server.simulator.requests == []


class TestParseTime:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"conversation_id": "c", "user_id": "grace"}, "user_id: must be the Kapso user's id (a UUID)"),
            ({"conversation_id": "", "user_id": str(uuid.UUID(int=1))}, "conversation_id: must be a non-empty"),
            ({"conversation_id": "c", "user_id": str(uuid.UUID(int=1)), "notes": 5}, "notes: must be a string"),
        ],
    )
    def test_static_arguments_are_checked(self, kwargs: dict[str, Any], expected: str) -> None:
        with pytest.raises(ValueError, match=re.escape(expected)):
            KapsoAssignConversationOperator(task_id="assign", **kwargs)

    def test_templated_arguments_wait_for_rendering(self) -> None:
        operator = KapsoAssignConversationOperator(
            task_id="assign", conversation_id="{{ params.c }}", user_id="{{ params.u }}", notes="{{ ds }}"
        )
        assert operator.user_id == "{{ params.u }}"

    def test_every_argument_is_templated(self) -> None:
        assert set(KapsoAssignConversationOperator.template_fields) == {
            "kapso_conn_id",
            "conversation_id",
            "user_id",
            "notes",
        }
        assert KapsoAssignConversationOperator.template_ext == ()
