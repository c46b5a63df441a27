"""DAGs that only the template and contact note operator tests run: templating, waiting and failures."""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoCreateContactNoteOperator, KapsoSyncTemplatesOperator

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}

with DAG(dag_id="kapso_test_sync_templates", params={"config_id": "", "wait": True}, **_COMMON):
    # Every argument rendered from params, the booleans and numbers included.
    KapsoSyncTemplatesOperator(
        task_id="sync",
        whatsapp_config_id="{{ params.config_id }}",
        wait_for_completion="{{ params.wait }}",
        poll_interval="{{ 0 }}",
        timeout="{{ 60 }}",
    )

with DAG(dag_id="kapso_test_contact_note", params={"contact": "+15551234567", "campaign": "spring"}, **_COMMON):
    KapsoCreateContactNoteOperator(
        task_id="note",
        contact="{{ params.contact }}",
        content="Campaign {{ params.campaign }} reached this contact.",
        name="{{ params.campaign | title }}",
        metadata={"campaign": "{{ params.campaign }}"},
        retries=3,
        retry_delay=pendulum.duration(seconds=0),
    )
