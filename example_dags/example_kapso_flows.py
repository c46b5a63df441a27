"""Run a Kapso flow for one customer with variables from the DAG run, and wait until it ends.

API v1 only: Kapso's current API files hold no flow executions. The flow needs an active API trigger in
Kapso. Run it against real Kapso with a ``kapso_default``
connection: ``airflow dags test kapso_flows -c '{"flow_id": "...", "phone_number": "+1..."}'``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoRunFlowOperator

with DAG(
    dag_id="kapso_flows",
    description="Start a Kapso flow for a customer and wait for it to end",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"flow_id": "00000000-0000-4000-8000-000000000000", "phone_number": "+15551234567", "name": "Ada"},
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_run_flow]
    onboarding = KapsoRunFlowOperator(
        task_id="run_onboarding_flow",
        flow_id="{{ params.flow_id }}",
        phone_number="{{ params.phone_number }}",  # required by Kapso to start a flow
        variables={"name": "{{ params.name }}", "signup_date": "{{ ds }}"},
        context={"source": "airflow", "dag_run": "{{ run_id }}"},
        poll_interval=30,
        timeout=timedelta(hours=1),
    )
    # [END howto_operator_kapso_run_flow]

    # [START howto_operator_kapso_run_flow_deferrable]
    survey = KapsoRunFlowOperator(
        task_id="run_survey_flow_deferred",
        flow_id="{{ params.flow_id }}",
        phone_number="{{ params.phone_number }}",
        # The onboarding flow's final status, from the execution record the first task returned.
        variables={"onboarded": "{{ ti.xcom_pull(task_ids='run_onboarding_flow')['status'] }}"},
        deferrable=True,  # waits in the triggerer, holding no worker slot
        poll_interval=60,
        timeout=timedelta(days=1),  # a flow waiting for the customer's answers can take long
    )
    # [END howto_operator_kapso_run_flow_deferrable]

    onboarding >> survey
