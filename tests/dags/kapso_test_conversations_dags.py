"""DAGs that only the assignment operator tests run: assignment from the run's conf, retries, bad input."""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoAssignConversationOperator

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}

with DAG(dag_id="kapso_test_assign", **_COMMON):
    # Every argument comes from the run's conf; a failure is final (no retry) so tests see it at once.
    KapsoAssignConversationOperator(
        task_id="assign",
        kapso_conn_id="{{ dag_run.conf.get('conn_id', 'kapso_default') }}",
        conversation_id="{{ dag_run.conf['conversation_id'] }}",
        user_id="{{ dag_run.conf['user_id'] }}",
        notes="{{ dag_run.conf.get('notes', 'Assigned on ' ~ ds) }}",
        retries=0,
    )

with DAG(dag_id="kapso_test_assign_invalid_after_render", **_COMMON):
    # Valid at parse time (templates), not a UUID once rendered: fails before any request, without retries.
    KapsoAssignConversationOperator(
        task_id="assign",
        conversation_id="{{ dag_run.conf['conversation_id'] }}",
        user_id="{{ dag_run.conf['user_id'] }}",
        retries=3,
        retry_delay=pendulum.duration(seconds=0),
    )
