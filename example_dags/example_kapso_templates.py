"""Template maintenance: templates kept in version control published to WhatsApp, or a nightly sync from Meta.

``kapso_templates_from_git`` (Kapso's current API) makes the WhatsApp Business Account hold the templates
this repository defines and waits for WhatsApp's review. ``kapso_templates`` syncs templates from Meta into
Kapso and lists the approved ones: API v1 only, since on the current API Kapso keeps its copy in step itself.
Run them against the local simulator, or against real Kapso with a ``kapso_default`` connection holding your
API key: ``airflow dags test kapso_templates_from_git``.
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

# [START howto_operator_kapso_publish_templates]
# In your repository these live beside the DAG, e.g. one JSON file per template under templates/, loaded here
# with json.loads(path.read_text()): a change to one is reviewed like any code change, then published.
TEMPLATES: list[dict[str, Any]] = [
    {
        "name": "order_shipped",
        "language_code": "en_US",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, your order {{2}} is on its way.",
                "example": {"body_text": [["Ada", "A-1042"]]},
            }
        ],
    },
    {
        "name": "order_shipped",
        "language_code": "es",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Hola {{1}}, tu pedido {{2}} va en camino.",
                "example": {"body_text": [["Ada", "A-1042"]]},
            }
        ],
    },
]

with DAG(
    dag_id="kapso_templates_from_git",
    description="Publish the templates this repository defines to WhatsApp and wait for WhatsApp's review",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kapso", "example"],
):
    KapsoSyncTemplatesOperator(
        task_id="publish_templates",
        templates=TEMPLATES,
        # The connection's business_account_id is the default; give another here to publish elsewhere.
        poll_interval=60,
        timeout=24 * 3600,
    )
# [END howto_operator_kapso_publish_templates]
