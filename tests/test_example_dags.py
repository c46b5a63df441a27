"""Every sending and waiting example DAG, with the same DAG code, on Kapso's API v1 and on its current API.

The ``kapso_api`` fixture runs each test twice: with the connection on API v1, then on the current API (the
WhatsApp Cloud API proxy and the Platform API). What a DAG does must not depend on it: the same tasks
succeed, the same messages are stored once each, and each task's XCom record names the message it sent.
Every request of every run is checked against the OpenAPI files of its generation. The tests of each
operator check the v1 bodies in detail; ``tests/api/current`` the current ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests._airflow import get_dag, task_states, xcom_return_value
from tests._openapi import assert_requests_valid, conversation_filters_file

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"


@pytest.fixture
def simulator(kapso_api: str, kapso_server: KapsoServer) -> Iterator[KapsoSimulator]:
    """The simulator behind the connection of this run's generation; its requests are checked at the end."""
    yield kapso_server.simulator
    assert_requests_valid(kapso_server.simulator.requests, files_for=conversation_filters_file)


def outbound(simulator: KapsoSimulator) -> list[dict[str, Any]]:
    return [message for message in simulator.messages() if message["direction"] == "outbound"]


def message_id_of(message: dict[str, Any], kapso_api: str) -> str:
    """The id a send's record names a stored message by: Kapso's id on v1, WhatsApp's ``wamid`` on the current API."""
    return str(message["whatsapp_message_id"] if kapso_api == "current" else message["id"])


def assert_success(dag_run: Any) -> dict[str, str]:
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    return states


def assert_records_are_the_stored_messages(
    dag_run: Any, simulator: KapsoSimulator, kapso_api: str, task_ids: list[str]
) -> None:
    """Each task returned the record of exactly one stored message, and nothing else was stored."""
    stored = {message_id_of(message, kapso_api): message for message in outbound(simulator)}
    assert len(stored) == len(task_ids)
    for task_id in task_ids:
        record = xcom_return_value(dag_run, task_id)
        assert record["id"] in stored, task_id
        assert record["direction"] == "outbound"
        assert record["phone_number"] == stored[record["id"]]["phone_number"] == PHONE


def test_send_then_react(run_dag: Any, simulator: KapsoSimulator, kapso_api: str) -> None:
    dag_run = run_dag("kapso_send_message")
    assert_success(dag_run)
    assert_records_are_the_stored_messages(dag_run, simulator, kapso_api, ["send_text", "react_to_text"])
    sent, reaction = (xcom_return_value(dag_run, task_id) for task_id in ("send_text", "react_to_text"))
    assert reaction["message_type"] == "reaction"
    (stored_reaction,) = [m for m in outbound(simulator) if m["message_type"] == "reaction"]
    assert stored_reaction["message_type_data"]["reacted_to_message_id"] == sent["whatsapp_message_id"]


def test_every_message_type(run_dag: Any, simulator: KapsoSimulator, kapso_api: str) -> None:
    dag_run = run_dag("kapso_message_types")
    task_ids = sorted(assert_success(dag_run))
    assert_records_are_the_stored_messages(dag_run, simulator, kapso_api, task_ids)
    types = {xcom_return_value(dag_run, task_id)["message_type"] for task_id in task_ids}
    assert types == {"text", "image", "video", "audio", "document", "location", "interactive", "template", "contacts"}


def test_mapped_fan_out(run_dag: Any, simulator: KapsoSimulator, kapso_api: str) -> None:
    dag_run = run_dag("kapso_fan_out")
    assert_success(dag_run)
    stored = {message_id_of(message, kapso_api) for message in outbound(simulator)}
    records = [
        xcom_return_value(dag_run, task, i) for task in ("notify_each_recipient", "send_each_message") for i in range(3)
    ]
    assert {record["id"] for record in records} == stored
    assert [record["phone_number"] for record in records[:3]] == ["+15551230001", "+15551230002", "+15551230003"]


def test_bulk_send(run_dag: Any, simulator: KapsoSimulator, kapso_api: str) -> None:
    dag_run = run_dag("kapso_bulk_send")
    assert_success(dag_run)
    stored = {message_id_of(message, kapso_api): message for message in outbound(simulator)}
    assert len(stored) == 26
    for task_id, count in (("announce_maintenance", 3), ("remind_appointments", 3), ("send_codes", 20)):
        summary = xcom_return_value(dag_run, task_id)
        assert (summary["total"], summary["sent"], summary["failed"]) == (count, count, 0)
        assert all(message_id in stored for message_id in summary["message_ids"])
    codes = xcom_return_value(dag_run, "send_codes")["message_ids"]
    assert [stored[i]["phone_number"] for i in codes] == [f"+1555124{n:04d}" for n in range(1, 21)]


def test_notifier(run_dag: Any, simulator: KapsoSimulator) -> None:
    dag_run = run_dag("kapso_notifier")
    # The DAG fails on purpose: its failure is what the notifier reports.
    assert task_states(dag_run) == {"fetch_rates": "success", "load_warehouse": "failed"}
    assert [m["message_type"] for m in outbound(simulator)] == ["text", "text", "text", "template"]


@pytest.mark.parametrize("mode", ["wait_delivered_poke", "wait_delivered_reschedule", "wait_read_deferrable"])
def test_message_status(
    run_dag: Any, simulator: KapsoSimulator, kapso_api: str, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    simulator.status_sequence = ["sent", "delivered", "read"]
    dag = get_dag("kapso_message_status")
    sensors = ("wait_delivered_poke", "wait_delivered_reschedule", "wait_read_deferrable")
    for task_id in sensors:
        monkeypatch.setattr(dag.get_task(task_id), "poke_interval", 0.05)
        monkeypatch.setattr(dag.get_task(task_id), "poll_interval", 0.05)
    dag_run = run_dag("kapso_message_status", mark_success_pattern="|".join(s for s in sensors if s != mode))
    assert_success(dag_run)
    record = xcom_return_value(dag_run, mode)
    assert record["id"] == xcom_return_value(dag_run, "send_reminder")["id"]
    assert record["status"] == ("read" if mode == "wait_read_deferrable" else "delivered")


def test_message_status_fails_with_whatsapps_error(
    run_dag: Any, simulator: KapsoSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator.status_sequence = ["sent", "failed"]
    simulator.delivery_error_code = 131026
    dag = get_dag("kapso_message_status")
    monkeypatch.setattr(dag.get_task("wait_delivered_poke"), "poke_interval", 0.05)
    dag_run = run_dag("kapso_message_status", mark_success_pattern="wait_delivered_reschedule|wait_read_deferrable")
    ti = dag_run.get_task_instance("wait_delivered_poke")
    assert str(ti.state) == "failed"
    assert ti.try_number == 1  # a failed message fails the wait at once, without retries


def test_wait_for_a_reply(run_dag: Any, simulator: KapsoSimulator) -> None:
    simulator.reply_to_question(text="yes please", phone_number=PHONE)
    dag_run = run_dag("kapso_inbound_wait_reply")
    assert_success(dag_run)
    assert xcom_return_value(dag_run, "answer_of") == "yes"
    assert [m["content"] for m in outbound(simulator)][-1] == "Thanks! We noted your answer: yes."


def test_reply_workflow_marks_read_then_answers(
    run_dag: Any, simulator: KapsoSimulator, kapso_api: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_dag("kapso_reply_workflow").get_task("wait_message"), "poke_interval", 0.1)
    inbound = simulator.deliver_inbound_from(PHONE, "Where is my order?", delay=2)
    dag_run = run_dag("kapso_reply_workflow")
    assert_success(dag_run)
    marks = [r for r in simulator.requests if "mark_as_read" in r.path or (r.json or {}).get("status") == "read"]
    assert len(marks) == 1
    (reply,) = outbound(simulator)
    assert reply["whatsapp_conversation_id"] == inbound["conversation_id"]


@pytest.mark.parametrize(
    ("dag_id", "conf", "choice", "chosen_task"),
    [
        ("kapso_deployment_approval", {"phone_number": PHONE, "version": "2.4.1"}, "Deploy", "deploy"),
        ("kapso_deployment_approval_in_worker", {"phone_number": PHONE, "version": "2.4.1"}, "Deploy", "deploy"),
        ("kapso_technician_branch", {"technician": PHONE, "pump": "P-9"}, "Close the ticket", "close_ticket"),
        ("kapso_technician_branch_in_worker", {"technician": PHONE, "pump": "P-9"}, "Close the ticket", "close_ticket"),
    ],
)
def test_ask_and_branch_on_the_answer(
    run_dag: Any, simulator: KapsoSimulator, dag_id: str, conf: dict[str, str], choice: str, chosen_task: str
) -> None:
    # A deferred wait reads once in the worker before it defers: the answer arrives after that read.
    simulator.reply_to_question(choice, phone_number=PHONE, after_reads=0 if dag_id.endswith("in_worker") else 1)
    dag_run = run_dag(dag_id, run_conf=conf)
    assert assert_success(dag_run)[chosen_task] == "success"


def test_the_current_apis_kinds(run_dag: Any, simulator: KapsoSimulator, kapso_api: str) -> None:
    dag_run = run_dag("kapso_current_api")
    states = task_states(dag_run)
    kapso_tasks = sorted(set(states) - {"write_report"})
    if kapso_api == "v1":
        # Every kind and field here exists only on the current API: each task fails at once, on its first try
        # (no retry can help), and nothing reaches Kapso.
        assert {states[task_id] for task_id in kapso_tasks} == {"failed", "upstream_failed"}
        assert all(dag_run.get_task_instance(task_id).try_number <= 1 for task_id in kapso_tasks)
        assert simulator.requests == []
        return
    assert_success(dag_run)
    senders = [task_id for task_id in kapso_tasks if task_id != "upload_report"]
    assert_records_are_the_stored_messages(dag_run, simulator, kapso_api, senders)
    media = xcom_return_value(dag_run, "upload_report")
    assert media["media_type"] == "document"
    report = [r for r in simulator.requests if (r.json or {}).get("type") == "document"]
    assert report[0].json["document"]["id"] == media["id"]
    (reply,) = [r for r in simulator.requests if "context" in (r.json or {})]
    assert reply.json["context"] == {"message_id": xcom_return_value(dag_run, "text_with_preview")["id"]}
