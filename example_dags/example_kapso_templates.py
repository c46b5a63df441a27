"""Nightly template maintenance: sync WhatsApp templates from Meta into Kapso, then list the approved ones.

Run it against the local simulator, or against real Kapso with a ``kapso_default`` connection holding your
API key: ``airflow dags test kapso_templates``.
"""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSyncTemplatesOperator

with DAG(
    dag_id="kapso_templates",
    description="Sync WhatsApp templates from Meta every night, then list the approved ones",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_sync_templates]
    sync_templates = KapsoSyncTemplatesOperator(
        task_id="sync_templates",
        # Without whatsapp_config_id or customer_id, every production number of the project is synced.
        poll_interval=15,
        timeout=900,
    )
    # [END howto_operator_kapso_sync_templates]

    # [START howto_hook_kapso_list_templates]
    @task
    def approved_templates() -> list[dict[str, Any]]:
        from kapso_provider.hooks.kapso import KapsoHook

        hook = KapsoHook()
        # list_templates reads every page lazily; keep only what downstream tasks need in XCom.
        return [
            {"id": template["id"], "name": template["name"], "language_code": template["language_code"]}
            for template in hook.list_templates(status="approved")
        ]

    # [END howto_hook_kapso_list_templates]

    sync_templates >> approved_templates()
