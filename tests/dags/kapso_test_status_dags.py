"""DAGs that only the status-wait tests run: a deferred wait whose trigger fails, with a failure notifier."""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.notifications.kapso import KapsoNotifier
from kapso_provider.operators.kapso import KapsoSendMessageOperator
from kapso_provider.sensors.kapso import KapsoMessageStatusSensor

with DAG(
    dag_id="kapso_test_deferred_failure",
    params={"phone_number": "+15551234567"},
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
):
    send = KapsoSendMessageOperator(task_id="send", phone_number="{{ params.phone_number }}", content="Hello")
    wait = KapsoMessageStatusSensor(
        task_id="wait",
        message=send.output,
        deferrable=True,
        poll_interval=0.05,
        timeout=60,
        on_failure_callback=KapsoNotifier(
            phone_number="{{ params.phone_number }}", content="{{ ti.task_id }} failed in {{ run_id }}"
        ),
    )
    send >> wait
