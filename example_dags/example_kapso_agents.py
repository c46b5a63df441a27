"""Run a Kapso AI agent for one customer and use its outcome: wait in the worker, in the triggerer, or not at all.

The three tasks show the three ways to run the same agent; a real DAG picks one. API v1 only: Kapso's current
API has no agent executions (its agent runs are in ``example_kapso_agent_runs.py``). Run it against real Kapso
with a ``kapso_default`` connection:
``airflow dags test kapso_agents -c '{"agent_id": "...", "phone_number": "+1..."}'``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoRunAgentOperator

with DAG(
    dag_id="kapso_agents",
    description="Start a Kapso AI agent's execution and wait for its outcome",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"agent_id": "your-agent-id", "phone_number": "+15551234567", "order_id": "A-1042"},
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_run_agent]
    qualify = KapsoRunAgentOperator(
        task_id="qualify_lead",
        agent_id="{{ params.agent_id }}",
        message="A customer asked about order {{ params.order_id }}; find out what they need.",
        phone_number="{{ params.phone_number }}",
        poll_interval=30,
        timeout=timedelta(hours=2),  # an agent that waits for the customer's replies can stay paused
        retries=2,  # a retry with phone_number continues the execution an earlier try started
    )
    # [END howto_operator_kapso_run_agent]

    # [START howto_operator_kapso_run_agent_deferrable]
    follow_up = KapsoRunAgentOperator(
        task_id="follow_up_deferred",
        agent_id="{{ params.agent_id }}",
        # A structured message: type user_input (what a customer would write) or payload.
        message={"type": "user_input", "content": {"text": "Follow up on order {{ params.order_id }}"}},
        phone_number="{{ params.phone_number }}",
        deferrable=True,  # waits in the triggerer, holding no worker slot
        poll_interval=60,
        timeout=timedelta(hours=12),
    )
    # [END howto_operator_kapso_run_agent_deferrable]

    # [START howto_operator_kapso_run_agent_no_wait]
    start_only = KapsoRunAgentOperator(
        task_id="start_agent",
        agent_id="{{ params.agent_id }}",
        message="Say hello to the new customer.",
        phone_number="{{ params.phone_number }}",
        wait_for_completion=False,  # returns the execution record Kapso answered the start with
    )
    # [END howto_operator_kapso_run_agent_no_wait]

    qualify >> follow_up >> start_only
