"""Ask a Kapso agent mode for a report and hand its answer to the next task (Kapso's current API only: API v1
has no agent runs; its agent executions are in ``example_kapso_agents.py``).

The run waits in the triggerer; a tool call the agent wants approved keeps it waiting until someone approves
or rejects it in Kapso (or with the hook's ``approve_agent_run``). Run it against real Kapso with a
``kapso_default`` connection on the current API: ``airflow dags test kapso_agent_runs``.
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

from kapso_provider.operators.kapso import KapsoRunAgentOperator

with DAG(
    dag_id="kapso_agent_runs",
    description="Ask a Kapso agent mode for a report and use its answer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"mode": "general"},
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_run_agent_mode]
    weekly_report = KapsoRunAgentOperator(
        task_id="weekly_report",
        mode="{{ params.mode }}",
        message="Summarise last week's WhatsApp conversations: volume, top questions, unanswered ones.",
        # Kept on the run and echoed in Kapso's kapso_agent.run.* webhooks.
        metadata={"dag_run": "{{ run_id }}"},
        deferrable=True,
        poll_interval=30,
        timeout=timedelta(hours=2),
    )
    # [END howto_operator_kapso_run_agent_mode]

    @task
    def report_text(run: Any) -> str:
        # A completed run carries the agent's answer in its result.
        return str((run.get("result") or {}).get("content") or "")

    report_text(weekly_report.output)
