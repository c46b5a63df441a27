"""A field technician decides on WhatsApp what happens next: the DAG follows the option they choose.

``kapso_technician_branch`` waits in the triggerer; ``kapso_technician_branch_in_worker`` waits in its
worker. Try it: ``airflow dags test kapso_technician_branch -c '{"technician": "+1...", "pump": "P-7"}'``.
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

from kapso_provider.operators.kapso import KapsoBranchOnReplyOperator


def technician_branch(dag_id: str, *, deferrable: bool) -> Any:
    """The branch DAG; ``deferrable`` decides where the wait for the answer runs."""
    with DAG(
        dag_id=dag_id,
        description="Let the technician on site choose the next step for a failed pump",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params={"technician": "+15551234567", "pump": "P-7"},
        tags=["kapso", "example"],
    ) as dag:

        @task
        def order_part(pump: str) -> str:
            return f"part ordered for {pump}"

        @task
        def schedule_visit(pump: str) -> str:
            return f"visit scheduled for {pump}"

        @task
        def close_ticket(pump: str) -> str:
            return f"ticket closed for {pump}"

        # [START howto_operator_kapso_branch_on_reply]
        choose = KapsoBranchOnReplyOperator(
            task_id="ask_technician",
            phone_number="{{ params.technician }}",
            question="Pump {{ params.pump }} failed its pressure check. What should happen next?",
            # Each option is a downstream task: the chosen one runs, the others are skipped. Descriptions
            # only fit in a list, so this question is sent as a list message.
            branches=[
                {"task_id": "order_part", "title": "Order a part", "description": "The seal needs replacing"},
                {
                    "task_id": "schedule_visit",
                    "title": "Schedule a visit",
                    "description": "Needs a second pair of hands",
                },
                {"task_id": "close_ticket", "title": "Close the ticket", "description": "A false alarm"},
            ],
            accept_text=True,  # typing "close the ticket" counts as well as tapping it
            timeout=timedelta(hours=8),
            default_option="schedule_visit",  # nobody answered in 8 hours: send someone
            confirmation_text="Thanks, {answered_by}: {option_title}.",
            deferrable=deferrable,
            poke_interval=30,
        )
        choose >> [
            order_part("{{ params.pump }}"),
            schedule_visit("{{ params.pump }}"),
            close_ticket("{{ params.pump }}"),
        ]
        # [END howto_operator_kapso_branch_on_reply]
    return dag


kapso_technician_branch = technician_branch("kapso_technician_branch", deferrable=True)
kapso_technician_branch_in_worker = technician_branch("kapso_technician_branch_in_worker", deferrable=False)
