"""The ask operators in real DAG runs against the simulator: approve, reject, branch, timeouts, who may answer.

The person answering is played by the simulator (``reply_to_question``): the reply is armed before the run
and delivered once the question has been sent and the conversation read ``after_reads`` times, so a
deferrable task has already deferred when it arrives. Nothing depends on timing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators.kapso import KapsoApprovalOperator, KapsoAskOperator, KapsoBranchOnReplyOperator
from kapso_provider.utils.inbound import reply_option_id
from kapso_provider.utils.replies import option_ids
from tests._airflow import task_states, xcom_return_value
from tests._modes import IN_BOTH_MODES
from tests._openapi import assert_requests_valid, conversation_filters_file

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
MODES = ["worker", "deferrable"]
# The same DAGs on API v1 and on the current API.
pytestmark = pytest.mark.usefixtures("kapso_api")


def _reads(mode: str) -> int:
    """Listings before the reply arrives: past the execute() read, so a deferrable task meets it deferred."""
    return 2 if mode == "deferrable" else 1


def _outbound(kapso_server: KapsoServer) -> list[dict[str, Any]]:
    return [m for m in kapso_server.simulator.messages() if m["direction"] == "outbound"]


def _questions(kapso_server: KapsoServer) -> list[dict[str, Any]]:
    return [m for m in _outbound(kapso_server) if m["message_type"] == "interactive"]


def _texts(kapso_server: KapsoServer) -> list[str]:
    return [m["content"] for m in _outbound(kapso_server) if m["message_type"] == "text"]


def _assert_requests_valid(kapso_server: KapsoServer) -> None:
    assert_requests_valid(kapso_server.simulator.requests, files_for=conversation_filters_file)


def _success(dag_run: Any) -> None:
    assert str(dag_run.state) == "success", task_states(dag_run)


@IN_BOTH_MODES
@pytest.mark.parametrize("mode", MODES)
def test_ask_returns_the_tapped_option(mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    simulator.reply_to_question("Evening", phone_number=PHONE, after_reads=_reads(mode))
    dag_run = run_dag(f"kapso_test_ask_{mode}", run_conf={"phone_number": PHONE})
    answer = xcom_return_value(dag_run, "ask")
    assert answer is not None, task_states(dag_run)
    assert answer["option_id"] == "Evening"
    assert answer["option_title"] == "Evening"
    assert answer["answered_by"] == PHONE
    assert answer["timed_out"] is False
    assert str(reply_option_id(answer["message"])).startswith("kapso-ask:")
    assert answer["answered_at"] == answer["message"]["created_at"]
    assert json.loads(json.dumps(answer)) == answer
    (question, *_) = _questions(kapso_server)
    assert question["message_type_data"]["interactive_type"] == "button"
    _assert_requests_valid(kapso_server)


@pytest.mark.parametrize("mode", MODES)
def test_more_than_three_options_go_in_a_list(mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    kapso_server.simulator.reply_to_question("Store 3", phone_number=PHONE, after_reads=_reads(mode))
    dag_run = run_dag(f"kapso_test_ask_list_{mode}", run_conf={"phone_number": PHONE})
    _success(dag_run)
    answer = xcom_return_value(dag_run, "ask_list")
    assert (answer["option_id"], answer["option_title"]) == ("store-3", "Store 3")
    (question,) = _questions(kapso_server)
    assert question["message_type_data"]["interactive_type"] == "list"
    assert answer["message"]["message_type_data"]["interactive_type"] == "list"
    _assert_requests_valid(kapso_server)


@IN_BOTH_MODES
@pytest.mark.parametrize("dag_id", ["kapso_deployment_approval", "kapso_deployment_approval_in_worker"])
def test_approve_runs_the_deployment(dag_id: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    mode = "worker" if dag_id.endswith("in_worker") else "deferrable"
    kapso_server.simulator.reply_to_question("Deploy", phone_number=PHONE, after_reads=_reads(mode))
    dag_run = run_dag(dag_id, run_conf={"phone_number": PHONE, "version": "2.4.1"})
    _success(dag_run)
    states = task_states(dag_run)
    assert states["deploy"] == "success", states
    answer = xcom_return_value(dag_run, "approve_deployment")
    assert (answer["option_id"], answer["answered_by"]) == ("approve", PHONE)
    assert xcom_return_value(dag_run, "deploy").startswith("deployed registry.example.com/shop:2.4.1, approved by")
    (question,) = _questions(kapso_server)
    assert question["content"].startswith("Deploy shop 2.4.1 to production?")
    assert [b["title"] for b in question["message_type_data"]["buttons"]] == ["Deploy", "Cancel"]
    (confirmation,) = _texts(kapso_server)
    assert confirmation == f"Deploy: noted for shop 2.4.1 ({PHONE}, {answer['answered_at']})."
    _assert_requests_valid(kapso_server)


@pytest.mark.parametrize("dag_id", ["kapso_deployment_approval", "kapso_deployment_approval_in_worker"])
def test_reject_skips_the_deployment(dag_id: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    mode = "worker" if dag_id.endswith("in_worker") else "deferrable"
    kapso_server.simulator.reply_to_question("Cancel", phone_number=PHONE, after_reads=_reads(mode))
    dag_run = run_dag(dag_id, run_conf={"phone_number": PHONE})
    _success(dag_run)
    states = task_states(dag_run)
    assert states["approve_deployment"] == "success", states
    assert states["deploy"] == "skipped", states
    answer = xcom_return_value(dag_run, "approve_deployment")
    assert (answer["option_id"], answer["option_title"]) == ("reject", "Cancel")


@pytest.mark.parametrize("dag_id", ["kapso_technician_branch", "kapso_technician_branch_in_worker"])
def test_branch_runs_the_chosen_task_only(dag_id: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    mode = "worker" if dag_id.endswith("in_worker") else "deferrable"
    kapso_server.simulator.reply_to_question("Close the ticket", phone_number=PHONE, after_reads=_reads(mode))
    dag_run = run_dag(dag_id, run_conf={"technician": PHONE, "pump": "P-9"})
    _success(dag_run)
    states = task_states(dag_run)
    assert states["close_ticket"] == "success", states
    assert states["order_part"] == states["schedule_visit"] == "skipped", states
    assert xcom_return_value(dag_run, "ask_technician")["option_id"] == "close_ticket"
    (question,) = _questions(kapso_server)
    assert question["message_type_data"]["interactive_type"] == "list"  # descriptions only fit a list
    assert _texts(kapso_server) == [f"Thanks, {PHONE}: Close the ticket."]
    _assert_requests_valid(kapso_server)


def test_branch_on_a_typed_reply(run_dag: Any, kapso_server: KapsoServer) -> None:
    kapso_server.simulator.reply_to_question(text="  order a PART ", phone_number=PHONE, after_reads=2)
    dag_run = run_dag("kapso_technician_branch", run_conf={"technician": PHONE})
    _success(dag_run)
    states = task_states(dag_run)
    assert states["order_part"] == "success", states
    assert states["close_ticket"] == states["schedule_visit"] == "skipped", states
    answer = xcom_return_value(dag_run, "ask_technician")
    assert answer["message"]["message_type"] == "text"


@pytest.mark.parametrize("mode", MODES)
def test_timeout_takes_the_default_or_fails(mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    dag_run = run_dag(f"kapso_test_ask_timeout_{mode}", run_conf={"phone_number": PHONE})
    states = task_states(dag_run)
    assert states["with_default"] == "success", states
    answer = xcom_return_value(dag_run, "with_default")
    assert answer["timed_out"] is True
    assert (answer["option_id"], answer["answered_by"], answer["message"]) == ("No", None, None)
    assert _texts(kapso_server) == ["No answer: going with No (nobody (no answer in time))."]
    # No default: the task fails, without using its retries (a retry would meet the same deadline).
    assert states["without_default"] == "failed", states
    assert dag_run.get_task_instance("without_default").try_number == 1
    assert len(_questions(kapso_server)) == 2
    _assert_requests_valid(kapso_server)


@IN_BOTH_MODES
@pytest.mark.parametrize("mode", MODES)
def test_a_number_not_allowed_is_ignored(mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    manager = "+15559990000"
    manager_conversation = simulator.create_conversation(phone_number=manager)
    # The store's own number taps a button; only the manager may answer.
    simulator.reply_to_question("Yes", phone_number=PHONE, after_reads=_reads(mode))
    simulator.reply_to_question(
        text="no", phone_number=PHONE, after_reads=_reads(mode) + 1, into_conversation_id=manager_conversation["id"]
    )
    dag_run = run_dag(f"kapso_test_ask_allowed_{mode}", run_conf={"phone_number": PHONE, "allowed": manager})
    _success(dag_run)
    answer = xcom_return_value(dag_run, "ask")
    assert (answer["option_id"], answer["answered_by"]) == ("no", manager)
    tapped = [r for r in simulator.armed_replies() if r["choose"] == "Yes"]
    assert tapped[0]["state"] == "delivered"  # it was there to be read, and did not count
    _assert_requests_valid(kapso_server)


@pytest.mark.parametrize("mode", MODES)
def test_a_button_of_an_older_question_is_ignored(mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    simulator.reply_to_question("Morning", phone_number=PHONE)
    first = run_dag(f"kapso_test_ask_{mode}", run_conf={"phone_number": PHONE})
    assert xcom_return_value(first, "ask")["option_id"] == "Morning"
    (old_question,) = _questions(kapso_server)
    old_morning = old_question["message_type_data"]["buttons"][0]
    # Next run, same words, same titles: the person taps "Morning" on the old message, then answers the new one.
    simulator.reply_to_question(
        reply_option_id=old_morning["id"],
        reply_option_title=old_morning["title"],
        phone_number=PHONE,
        after_reads=_reads(mode),
    )
    simulator.reply_to_question("Evening", phone_number=PHONE, after_reads=_reads(mode) + 1)
    second = run_dag(f"kapso_test_ask_{mode}", run_conf={"phone_number": PHONE})
    _success(second)
    assert xcom_return_value(second, "ask")["option_id"] == "Evening"
    new_question = _questions(kapso_server)[1]
    assert old_morning["id"] not in {b["id"] for b in new_question["message_type_data"]["buttons"]}


@pytest.mark.parametrize("mode", MODES)
def test_reminder_is_sent_once(mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    # Answered only after the reminder (the second outbound message) went out.
    kapso_server.simulator.reply_to_question("Confirm", phone_number=PHONE, after_messages=2)
    dag_run = run_dag(f"kapso_test_ask_reminder_{mode}", run_conf={"phone_number": PHONE})
    _success(dag_run)
    answer = xcom_return_value(dag_run, "ask")
    assert answer["option_id"] == "Confirm"
    assert _texts(kapso_server) == [
        "Reminder: please confirm the delivery window.",
        f"Confirm by {PHONE} at {answer['answered_at']}",
    ]
    _assert_requests_valid(kapso_server)


@IN_BOTH_MODES
@pytest.mark.parametrize("mode", MODES)
def test_question_is_sent_once_across_a_retry(mode: str, run_dag: Any, kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE)
    simulator.reply_to_question("Refund", conversation_id=conversation["id"], after_reads=_reads(mode))
    dag_run = run_dag(f"kapso_test_ask_retry_{mode}", run_conf={"conversation_id": conversation["id"]})
    _success(dag_run)
    assert dag_run.get_task_instance("ask").try_number == 2
    assert xcom_return_value(dag_run, "ask")["option_id"] == "Refund"
    assert len(_questions(kapso_server)) == 1  # the retry found the question the first try sent
    assert _texts(kapso_server) == [f"Refund by {PHONE}"]  # and the confirmation the first try sent
    posts = [r for r in simulator.requests if r.method == "POST"]
    assert len(posts) == 2
    _assert_requests_valid(kapso_server)


def test_braces_in_the_confirmation_stay_text(run_dag: Any, kapso_server: KapsoServer) -> None:
    # A customer's "{smile}" (rendered in by Jinja) used to fail the task; "{option_id.__class__}" was evaluated.
    kapso_server.simulator.reply_to_question("Keep", phone_number=PHONE, after_reads=1)
    dag_run = run_dag("kapso_test_ask_braces", run_conf={"phone_number": PHONE, "note": "{smile}"})
    _success(dag_run)
    assert _texts(kapso_server) == [f"Keep: {{smile}} {{option_id.__class__}} {{0}} {PHONE}"]


class TestArguments:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"options": ["A", "B", "C", "D"], "interactive_type": "button"}, "reply buttons allow at most 3"),
            ({"options": [f"O{n}" for n in range(11)]}, "options: 11 given, WhatsApp allows 1 to 10"),
            ({"options": []}, "options: 0 given"),
            (
                {"options": ["A very long button title"], "interactive_type": "button"},
                "options[0].title: 24 characters, limit 20",
            ),
            ({"options": ["Yes"], "question": "x" * 1025}, "question: 1025 characters, limit 1024"),
            ({"options": ["Yes", "yes"]}, "options[1].id: 'yes' repeats options[0].id"),
            ({"options": ["Yes", "No"], "timeout": 5, "default_option": "Maybe"}, "default_option: 'Maybe'"),
            ({"options": ["Yes"], "default_option": "Yes"}, "default_option: only taken on timeout"),
            ({"options": ["Yes"], "reminder_after": 5}, "reminder_text: required"),
            ({"options": ["Yes"], "timeout": 0}, "timeout: 0 must be a positive number"),
            ({"options": ["Yes"], "allowed_numbers": ["call me"]}, "allowed_numbers[0]:"),
            ({"options": ["Yes"], "interactive_type": "carousel"}, "interactive_type: 'carousel'"),
        ],
    )
    def test_checked_at_parse_time(self, kwargs: dict[str, Any], expected: str) -> None:
        kwargs = {"question": "Q?", **kwargs}
        with pytest.raises(KapsoArgumentError, match=expected.replace("[", r"\[").replace("(", r"\(")):
            KapsoAskOperator(task_id="ask", phone_number=PHONE, **kwargs)

    def test_templates_are_checked_after_rendering_only(self) -> None:
        operator = KapsoAskOperator(
            task_id="ask", phone_number="{{ params.phone }}", question="{{ params.q }}", options="{{ params.options }}"
        )
        assert "options" in operator.template_fields
        assert "question" in operator.template_fields

    def test_approval_and_branch_labels_are_templated(self) -> None:
        approval = KapsoApprovalOperator(task_id="a", phone_number=PHONE, question="Go?", approve_label="{{ x }}")
        assert {"approve_label", "reject_label"} <= set(approval.template_fields)
        branch = KapsoBranchOnReplyOperator(task_id="b", phone_number=PHONE, question="Which?", branches={"A": "a"})
        assert "branches" in branch.template_fields

    def test_option_ids_are_unique_to_the_question(self) -> None:
        ids = option_ids("dag\x1frun\x1ftask\x1f-1", 3)
        assert len(set(ids)) == 3
        assert set(ids).isdisjoint(option_ids("dag\x1frun2\x1ftask\x1f-1", 3))
        assert ids == option_ids("dag\x1frun\x1ftask\x1f-1", 3)  # a retry asks with the same ids
