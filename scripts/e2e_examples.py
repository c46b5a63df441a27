"""The example DAGs in a real deployment: five runs side by side, each task's XCom against the simulator.

Shared by ``scripts/e2e.py`` (LocalExecutor) and ``scripts/e2e_distributed.py`` (CeleryExecutor): what the
examples must do does not depend on where their tasks run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from e2e_harness import Api, Deployment, Run, Steps, Stored, check, control, trigger, wait_parsed, wait_runs

RUN_TIMEOUT = 240.0

# Each DAG run talks to its own phone numbers where the example lets us choose, so the checks below can
# tell the runs' messages apart although the runs go concurrently.
SEND_PHONE = "+15550100001"
STATUS_PHONE = "+15550100002"
ON_CALL_PHONE = "+15550100003"
FAN_OUT_PHONES = ["+15551230001", "+15551230002", "+15551230003"]
BULK_FILE_RECIPIENTS = 20
# One step per listing of the conversation: the three sensors' first reads all see "sent" whatever order
# they run in, with one read to spare for a slow machine (so the deferrable one really defers to the
# triggerer and the reschedule one really reschedules); later reads see delivered, then read.
STATUS_SEQUENCE = ["sent", "sent", "sent", "sent", "delivered", "read"]


def example_runs() -> list[Run]:
    """Fresh runs of the five examples, with the conf that gives each its own numbers."""
    return [
        Run("kapso_send_message", {"phone_number": SEND_PHONE, "customer_name": "Grace"}, "success"),
        Run("kapso_message_status", {"phone_number": STATUS_PHONE}, "success"),
        # The example fails its second task on purpose (the failure alert's subject): the run fails.
        Run("kapso_notifier", {"on_call_phone": ON_CALL_PHONE}, "failed"),
        Run("kapso_fan_out", {}, "success"),
        Run("kapso_bulk_send", {}, "success"),
    ]


def start_examples(dep: Deployment, api: Api, runs: list[Run], steps: Steps) -> None:
    """Wait until the examples are parsed, then trigger every run (they go concurrently)."""
    with steps.step(f"REST: wait for the {len(runs)} example DAGs to be parsed"):
        wait_parsed(dep, api, [run.dag_id for run in runs])
    with steps.step(f"REST: unpause and trigger {len(runs)} example runs"):
        # Set before the first send: the sequence applies to messages sent afterwards.
        control(dep, "POST", "/progression", {"status_sequence": STATUS_SEQUENCE})
        for run in runs:
            trigger(api, run)


def finish_examples(dep: Deployment, api: Api, runs: list[Run], steps: Steps) -> None:
    """Wait for the example runs, each with its own deadline, and check the state each ended in."""
    with steps.step("example runs: all finished"):
        wait_runs(dep, api, runs, steps, RUN_TIMEOUT)


def verify_examples(api: Api, runs: list[Run], stored: Stored) -> set[str]:
    """Check every example task's XCom against the simulator; returns the stored message ids accounted for."""
    by_dag = {run.dag_id: run for run in runs}
    accounted: set[str] = set()

    def record(dag_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        value: dict[str, Any] = api.xcom(dag_id, by_dag[dag_id].run_id, task_id, map_index)
        check(isinstance(value, dict), f"{dag_id}.{task_id}[{map_index}] XCom is not a record: {value!r}")
        message = stored.get(value.get("id"), f"{dag_id}.{task_id}[{map_index}] XCom id")
        check(
            value.get("whatsapp_message_id") == message["whatsapp_message_id"],
            f"{dag_id}.{task_id}: wamid {value.get('whatsapp_message_id')} != stored {message}",
        )
        accounted.add(message["id"])
        return value

    verify_send_message(by_dag["kapso_send_message"], record, stored)
    verify_message_status(by_dag["kapso_message_status"], record, stored)
    verify_fan_out(by_dag["kapso_fan_out"], record, stored)
    verify_bulk(by_dag["kapso_bulk_send"], api, stored, accounted)
    verify_notifier(by_dag["kapso_notifier"], api, stored, accounted)
    return accounted


def check_all_accounted(stored: Stored, accounted: set[str]) -> None:
    extra = sorted(set(stored.messages) - accounted)
    check(not extra, f"the simulator stored messages no task accounts for: {[stored.messages[i] for i in extra]}")
    print(f"    {len(accounted)} stored messages, each matched to an XCom record or a notifier alert", flush=True)


Record = Callable[..., dict[str, Any]]


def verify_send_message(run: Run, record: Record, stored: Stored) -> None:
    text = record(run.dag_id, "send_text")
    message = stored.messages[text["id"]]
    check(message["phone_number"] == SEND_PHONE, f"send_text went to {message['phone_number']}")
    expected = f"Hi Grace, your order for {run.ds} has shipped."
    check(message["content"] == expected == text.get("content"), f"send_text content: {message} / {text}")
    reaction = record(run.dag_id, "react_to_text")
    body = stored.data(reaction["id"])
    check(stored.messages[reaction["id"]]["message_type"] == "reaction", f"react_to_text: {reaction}")
    # The second task reacted to exactly the message whose record the first one pushed to XCom.
    check(
        body.get("reacted_to_message_id") == text["whatsapp_message_id"],
        f"react_to_text does not name {text['whatsapp_message_id']}: {body}",
    )


def verify_message_status(run: Run, record: Record, stored: Stored) -> None:
    sent = record(run.dag_id, "send_reminder")
    check(stored.messages[sent["id"]]["phone_number"] == STATUS_PHONE, f"send_reminder: {sent}")
    for task_id, allowed in (
        ("wait_delivered_poke", ("delivered", "read")),
        ("wait_delivered_reschedule", ("delivered", "read")),
        ("wait_read_deferrable", ("read",)),
    ):
        seen = record(run.dag_id, task_id)
        check(seen["id"] == sent["id"], f"{task_id} watched {seen['id']}, not {sent['id']}")
        check(seen.get("status") in allowed, f"{task_id} returned status {seen.get('status')}")
    check(stored.messages[sent["id"]]["status"] == "read", f"stored status {stored.messages[sent['id']]['status']}")
    check(
        "deferred" in run.seen.get("wait_read_deferrable", set()),
        f"wait_read_deferrable never deferred to the triggerer; states seen: {run.seen.get('wait_read_deferrable')}",
    )
    check(
        "up_for_reschedule" in run.seen.get("wait_delivered_reschedule", set()),
        f"wait_delivered_reschedule never rescheduled; states seen: {run.seen.get('wait_delivered_reschedule')}",
    )


def verify_fan_out(run: Run, record: Record, stored: Stored) -> None:
    content = f"The {run.ds} maintenance window starts at 22:00 UTC."
    for index, phone in enumerate(FAN_OUT_PHONES):
        message = stored.messages[record(run.dag_id, "notify_each_recipient", index)["id"]]
        check((message["phone_number"], message["content"]) == (phone, content), f"notify[{index}]: {message}")
    expected = [("text", "Step 1: download the app"), ("image", "step2.png"), ("document", "guide.pdf")]
    for index, (message_type, needle) in enumerate(expected):
        message = stored.messages[record(run.dag_id, "send_each_message", index)["id"]]
        check(message["phone_number"] == FAN_OUT_PHONES[0], f"send_each_message[{index}]: {message}")
        check(message["message_type"] == message_type, f"send_each_message[{index}] type: {message}")
        check(needle in json.dumps(message), f"send_each_message[{index}] lacks {needle!r}: {message}")


def verify_bulk(run: Run, api: Api, stored: Stored, accounted: set[str]) -> None:
    def summary(task_id: str, total: int) -> list[dict[str, Any]]:
        value = api.xcom(run.dag_id, run.run_id, task_id)
        counts = {key: value.get(key) for key in ("total", "sent", "already_sent", "failed", "not_attempted")}
        check(
            counts == {"total": total, "sent": total, "already_sent": 0, "failed": 0, "not_attempted": 0},
            f"{task_id} summary: {value}",
        )
        ids = value.get("message_ids") or []
        check(len(ids) == total and len(set(ids)) == total, f"{task_id} message_ids: {ids}")
        messages = [stored.get(message_id, f"{task_id} message id") for message_id in ids]
        accounted.update(message["id"] for message in messages)
        return messages

    content = f"The {run.ds} maintenance window starts at 22:00 UTC."
    for message, phone in zip(summary("announce_maintenance", 3), FAN_OUT_PHONES, strict=True):
        check((message["phone_number"], message["content"]) == (phone, content), f"announce: {message}")
    people = [("Ada", "09:30"), ("Grace", "11:00"), ("Linus", "15:45")]
    for message, phone, (name, at) in zip(summary("remind_appointments", 3), FAN_OUT_PHONES, people, strict=True):
        body = stored.data(message["id"])
        check(message["phone_number"] == phone and message["message_type"] == "template", f"remind: {message}")
        check(body.get("template_name") == "appointment_reminder", f"remind template: {body}")
        check(body.get("template_params") == [name, f"{run.ds} {at}"], f"remind params: {body}")
    for number, message in enumerate(summary("send_codes", BULK_FILE_RECIPIENTS), start=1):
        expected = (f"+1555124{number:04d}", f"Your voucher code is K{number:03d}.")
        check((message["phone_number"], message["content"]) == expected, f"send_codes[{number}]: {message}")


def verify_notifier(run: Run, api: Api, stored: Stored, accounted: set[str]) -> None:
    instances = {ti["task_id"]: ti for ti in api.task_instances(run.dag_id, run.run_id)}
    states = {task_id: ti.get("state") for task_id, ti in instances.items()}
    check(states == {"fetch_rates": "success", "load_warehouse": "failed"}, f"notifier task states: {states}")
    check(instances["fetch_rates"].get("try_number") == 2, f"fetch_rates tries: {instances['fetch_rates']}")
    alerts = stored.to(ON_CALL_PHONE)
    texts = [m["content"] for m in alerts if m["message_type"] == "text"]
    templates = [stored.data(m["id"]) for m in alerts if m["message_type"] == "template"]
    check(len(alerts) == 4 and len(texts) == 3, f"expected 3 task alerts and 1 run alert, got {alerts}")
    # The exception reaches a callback's context in some Airflow versions and deployments, not in others.
    retry = [t for t in texts if t.startswith("fetch_rates try 1 failed, retrying: ")]
    success = [t for t in texts if t == f"fetch_rates succeeded for {run.ds} after 2 tries"]
    failure = [t for t in texts if t.startswith(f"load_warehouse failed in kapso_notifier ({run.run_id}): ")]
    check(len(retry) == len(success) == len(failure) == 1, f"task alerts: {texts}")
    check("\nLog: http://127.0.0.1" in failure[0], f"failure alert has no log link: {failure[0]!r}")
    (template,) = templates
    check(
        template.get("template_name") == "pipeline_alert"
        and template.get("template_params", [None])[:2] == ["kapso_notifier", run.run_id],
        f"run failure alert: {template}",
    )
    accounted.update(m["id"] for m in alerts)
    print(f"    notifier alerts: {[*texts, json.dumps(template.get('template_params'))]}")
