"""DAGs that only the notifier tests run: a shared notifier, conversation sends, failed and adapted sends."""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from kapso_provider.notifications.kapso import KapsoNotifier

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}

# One notifier object for every task of the DAG: each call must render its own task's values, never an
# earlier call's.
_each_task_done = KapsoNotifier(
    conversation_id="{{ params.conversation_id }}",
    content="{{ ti.task_id }} done in {{ run_id }}",
)

with DAG(
    dag_id="kapso_test_notifier_conversation",
    params={"conversation_id": "set-by-the-test"},
    default_args={"on_success_callback": _each_task_done},
    on_success_callback=KapsoNotifier(
        conversation_id="{{ params.conversation_id }}",
        message_type="interactive",
        interactive_type="button",
        body_text="{{ dag.dag_id }} finished ({{ reason }}). Rerun tonight?",
        buttons=[{"id": "rerun-{{ ds_nodash }}", "title": "Rerun"}, {"id": "skip", "title": "Skip"}],
    ),
    **_COMMON,
):

    @task
    def first() -> None:
        pass

    @task
    def second() -> None:
        pass

    first() >> second()


def _fails() -> None:
    raise RuntimeError("the task's own failure")


def _succeeds() -> None:
    pass


with DAG(
    dag_id="kapso_test_notifier_not_sent",
    params={"unusable_phone": "call me maybe"},
    **_COMMON,
):
    # Each task's notification cannot be sent, each for another reason; the task's own state must stand.
    task(
        task_id="unknown_conversation",
        on_failure_callback=KapsoNotifier(conversation_id="no-such-conversation", content="{{ ti.task_id }}"),
    )(_fails)()
    task(
        task_id="unknown_sender",
        on_failure_callback=KapsoNotifier(
            phone_number="+15551234567", whatsapp_config_id="no-such-config", content="{{ ti.task_id }}"
        ),
    )(_fails)()
    task(
        task_id="unusable_phone",
        on_success_callback=KapsoNotifier(phone_number="{{ params.unusable_phone }}", content="{{ ti.task_id }}"),
    )(_succeeds)()
    task(
        task_id="misspelt_variable",
        on_success_callback=KapsoNotifier(phone_number="+15551234567", content="{{ tii.task_id }} done"),
    )(_succeeds)()


with DAG(
    dag_id="kapso_test_notifier_adapted",
    # Runtime text WhatsApp would refuse: too long for a text, line breaks and tabs in template parameters.
    params={"details": "line one\nline two\twith a tab" + " and more" * 600},
    **_COMMON,
):
    task(
        task_id="report",
        on_success_callback=[
            KapsoNotifier(phone_number="+15551234567", content="{{ ti.task_id }}: {{ params.details }}"),
            KapsoNotifier(
                phone_number="+15551234567",
                message_type="template",
                template_name="pipeline_alert",
                template_language="en_US",
                template_params=["{{ ti.task_id }}", "{{ params.details[:40] }}"],
            ),
        ],
    )(_succeeds)()
