"""WhatsApp alerts from task and DAG callbacks with KapsoNotifier.

A flaky task fails once and then succeeds (a retry alert, then a success alert), a second task fails for
good (a failure alert with the exception and the log link), and the failed run sends a template message,
which reaches the on-call phone even outside WhatsApp's 24-hour customer-service window.

Run it against the local simulator in the tests, or against real Kapso with a ``kapso_default`` connection
holding your API key and an approved ``pipeline_alert`` template:
``airflow dags test kapso_notifier -c '{"on_call_phone": "+1..."}'``.
"""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from kapso_provider.notifications.kapso import KapsoNotifier

with DAG(
    dag_id="kapso_notifier",
    description="WhatsApp alerts on retry, success and failure of tasks and of the DAG run",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"on_call_phone": "+15551234567"},
    # [START howto_notifier_kapso_dag_failure_template]
    # The run failed: a template message, because nobody may have written to the number in 24 hours.
    on_failure_callback=KapsoNotifier(
        phone_number="{{ params.on_call_phone }}",
        message_type="template",
        template_name="pipeline_alert",
        template_language="en_US",
        template_params=["{{ dag.dag_id }}", "{{ run_id }}", "{{ reason }}"],
    ),
    # [END howto_notifier_kapso_dag_failure_template]
    tags=["kapso", "example"],
):
    # [START howto_notifier_kapso_task_retry_success]
    @task(
        retries=1,
        retry_delay=pendulum.duration(seconds=0),
        on_retry_callback=KapsoNotifier(
            phone_number="{{ params.on_call_phone }}",
            content="{{ ti.task_id }} try {{ ti.try_number }} failed, retrying: {{ exception }}",
        ),
        on_success_callback=KapsoNotifier(
            phone_number="{{ params.on_call_phone }}",
            content="{{ ti.task_id }} succeeded for {{ ds }} after {{ ti.try_number }} tries",
        ),
    )
    def fetch_rates(ti: Any = None) -> dict[str, float]:
        if ti.try_number == 1:
            raise ConnectionError("rates API timed out")  # on purpose: the first try always fails
        return {"EUR": 1.08}

    # [END howto_notifier_kapso_task_retry_success]

    # [START howto_notifier_kapso_task_failure]
    @task(
        retries=0,
        on_failure_callback=KapsoNotifier(
            phone_number="{{ params.on_call_phone }}",
            content=(
                "{{ ti.task_id }} failed in {{ dag.dag_id }} ({{ run_id }}): {{ exception }}\nLog: {{ ti.log_url }}"
            ),
        ),
    )
    def load_warehouse() -> None:
        raise RuntimeError("warehouse is read-only, rates not loaded")  # on purpose: the alert's subject

    # [END howto_notifier_kapso_task_failure]

    fetch_rates() >> load_warehouse()
