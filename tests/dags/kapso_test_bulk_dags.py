"""DAGs that only the bulk operator tests run: retries, bad input, tolerated failures, early stop."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoBulkSendMessageOperator

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}
RECIPIENTS = [{"phone_number": f"+1555777{n:04d}", "name": f"Customer {n}"} for n in range(12)]

with DAG(dag_id="kapso_test_bulk_retry", **_COMMON):
    KapsoBulkSendMessageOperator(
        task_id="bulk",
        recipients=RECIPIENTS,
        content="Hello ${name}, this is the {{ ds }} newsletter.",
        max_concurrency=4,
        retries=1,
        retry_delay=timedelta(0),
    )

with DAG(dag_id="kapso_test_bulk_tolerate", **_COMMON):
    KapsoBulkSendMessageOperator(
        task_id="bulk",
        recipients=RECIPIENTS,
        content="Hello ${name}",
        max_concurrency=4,
        tolerate_failures=1,
    )

with DAG(dag_id="kapso_test_bulk_stop_early", **_COMMON):
    KapsoBulkSendMessageOperator(
        task_id="bulk",
        recipients=[f"+1555888{n:04d}" for n in range(40)],
        content="Hello",
        max_concurrency=2,
        max_consecutive_failures=3,
    )

with DAG(dag_id="kapso_test_bulk_bad_rendered_input", params={"extra": "+1 not a number"}, **_COMMON):
    KapsoBulkSendMessageOperator(
        task_id="bulk",
        recipients='["+15559990001", "+15559990002", "{{ params.extra }}"]',
        content="Hello",
        retries=3,
    )

with DAG(dag_id="kapso_test_bulk_file", params={"path": "", "results": ""}, **_COMMON):
    KapsoBulkSendMessageOperator(
        task_id="bulk",
        recipients_file="{{ params.path }}",
        results_file="{{ params.results }}",
        message_type="template",
        template_name="appointment_reminder",
        template_language="en_US",
        template_params={"name": "${name}", "when": "${when}"},
    )
