"""A deployment approved over WhatsApp: build, ask the release manager, deploy only if they approve.

``kapso_deployment_approval`` waits for the answer in the triggerer (no worker slot held);
``kapso_deployment_approval_in_worker`` is the same DAG waiting in its worker, for deployments without a
triggerer. Try it: ``airflow dags test kapso_deployment_approval -c '{"phone_number": "+1...",
"version": "2.4.0"}'`` and tap a button on the phone (or, against the simulator, ``POST
/__kapso_simulator__/replies`` with ``{"phone_number": "+1...", "choose": "Deploy"}``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoApprovalOperator


def deployment_approval(dag_id: str, *, deferrable: bool) -> Any:
    """The approval DAG; ``deferrable`` decides where the wait for the answer runs."""
    with DAG(
        dag_id=dag_id,
        description="Deploy a release once the release manager approves it on WhatsApp",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params={"phone_number": "+15551234567", "version": "2.4.0"},
        tags=["kapso", "example"],
    ) as dag:

        @task
        def build(version: str) -> str:
            return f"registry.example.com/shop:{version}"

        @task
        def deploy(image: str, approval: dict[str, Any]) -> str:
            # The approval's XCom says who approved and when, for the deployment log.
            return f"deployed {image}, approved by {approval['answered_by']} at {approval['answered_at']}"

        # [START howto_operator_kapso_approval]
        approve = KapsoApprovalOperator(
            task_id="approve_deployment",
            phone_number="{{ params.phone_number }}",
            question="Deploy shop {{ params.version }} to production? The build passed all checks.",
            approve_label="Deploy",
            reject_label="Cancel",
            # Reject: this task succeeds and the deployment below is skipped.
            timeout=timedelta(hours=4),  # no answer in 4 hours: the task fails with a clear message
            reminder_after=timedelta(hours=1),
            reminder_text="Still waiting: may shop {{ params.version }} go to production?",
            confirmation_text="{option_title}: noted for shop {{ params.version }} ({answered_by}, {answered_at}).",
            deferrable=deferrable,
            poke_interval=30,  # one read of the conversation every 30 s, well within Kapso's rate limit
        )
        # [END howto_operator_kapso_approval]

        image: Any = build("{{ params.version }}")
        image >> approve
        approval: Any = approve.output  # the answer, resolved from XCom when deploy runs
        deploy(image, approval)
    return dag


kapso_deployment_approval = deployment_approval("kapso_deployment_approval", deferrable=True)
kapso_deployment_approval_in_worker = deployment_approval("kapso_deployment_approval_in_worker", deferrable=False)
