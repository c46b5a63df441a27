"""DAGs that only the broadcast operator tests run: batches, retries, refused recipients, timeouts, bad input."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoBroadcastOperator

_COMMON: dict[str, Any] = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    # The tests pass the simulator's ids through the run's conf.
    "params": {"config": "", "template": "", "recipients": []},
}
_IDS: dict[str, Any] = {
    "whatsapp_config_id": "{{ params.config }}",
    "whatsapp_template_id": "{{ params.template }}",
}
RECIPIENTS = [{"phone_number": f"+1555333{n:04d}", "template_parameters": [f"Customer {n}"]} for n in range(5)]

with DAG(dag_id="kapso_test_broadcast_batches", **_COMMON):
    KapsoBroadcastOperator(
        task_id="broadcast",
        name="Batches {{ run_id }}",
        recipients=RECIPIENTS,
        batch_size=2,
        wait_for_completion=True,
        poll_interval=0.01,
        retries=1,
        retry_delay=timedelta(0),
        **_IDS,
    )

with DAG(dag_id="kapso_test_broadcast_conf_recipients", **_COMMON):
    KapsoBroadcastOperator(
        task_id="broadcast",
        name="From conf {{ run_id }}",
        recipients="{{ params.recipients | tojson }}",
        batch_size="{{ 1 + 1 }}",
        tolerate_recipient_errors=1,
        wait_for_completion="{{ true }}",
        poll_interval=0.01,
        **_IDS,
    )

with DAG(dag_id="kapso_test_broadcast_timeout", **_COMMON):
    KapsoBroadcastOperator(
        task_id="broadcast",
        name="Timeout {{ run_id }}",
        recipients=RECIPIENTS,
        wait_for_completion=True,
        # A poll interval longer than the timeout: the first poll that is not final ends the wait.
        poll_interval=60,
        timeout=1,
        **_IDS,
    )

with DAG(dag_id="kapso_test_broadcast_bad_input", **_COMMON):
    KapsoBroadcastOperator(
        task_id="broadcast",
        name="Bad {{ run_id }}",
        recipients='["+15553330001", "not a number"]',
        retries=3,
        retry_delay=timedelta(0),
        **_IDS,
    )
