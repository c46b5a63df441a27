"""DAGs that only the agent and flow operator tests run: every mode with short polls, retries, bad input."""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoRunAgentOperator, KapsoRunFlowOperator

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}
# Polls of a hundredth of a second: the simulator moves executions one step per read, not on a clock.
_FAST: dict[str, Any] = {"poll_interval": 0.01, "timeout": 30}
# Per mode: what the operator is told about waiting.
MODES: dict[str, dict[str, Any]] = {
    "wait": {"wait_for_completion": True, "deferrable": False},
    "deferrable": {"wait_for_completion": True, "deferrable": True},
    "no_wait": {"wait_for_completion": False},
}

with DAG(
    dag_id="kapso_test_run_agent",
    params={"agent_id": "set-by-the-test", "phone_number": "+15551234567", "topic": "order A-1"},
    **_COMMON,
):
    for mode, settings in MODES.items():
        KapsoRunAgentOperator(
            task_id=mode,
            agent_id="{{ params.agent_id }}",
            message="Help with {{ params.topic }}",
            phone_number="{{ params.phone_number }}",
            **settings,
            **_FAST,
        )

with DAG(
    dag_id="kapso_test_run_flow",
    params={"flow_id": "set-by-the-test", "phone_number": "+15551234567", "name": "Ada"},
    **_COMMON,
):
    for mode, settings in MODES.items():
        KapsoRunFlowOperator(
            task_id=mode,
            flow_id="{{ params.flow_id }}",
            phone_number="{{ params.phone_number }}",
            variables={"name": "{{ params.name }}", "count": 3},
            context='{"source": "{{ dag.dag_id }}"}',
            **settings,
            **_FAST,
        )

with DAG(dag_id="kapso_test_agent_timeout", params={"agent_id": "set-by-the-test"}, **_COMMON):
    for deferrable in (False, True):
        KapsoRunAgentOperator(
            task_id="deferred" if deferrable else "wait",
            agent_id="{{ params.agent_id }}",
            message="Never finishes",
            deferrable=deferrable,
            poll_interval=0.05,
            timeout=0.3,
        )


# The tests make Kapso store the first start and lose its answer (the simulator's drop_after_store fault), as
# when a worker dies after Kapso accepted the start: the first try fails, the retry looks before starting.
with DAG(
    dag_id="kapso_test_run_retry",
    params={"agent_id": "set-by-the-test", "flow_id": "set-by-the-test"},
    **_COMMON,
):
    for phone_number in ("+15551234567", None):
        KapsoRunAgentOperator(
            task_id="agent_with_phone" if phone_number else "agent_without_phone",
            agent_id="{{ params.agent_id }}",
            message="Where is my parcel?",
            phone_number=phone_number,
            retries=2,
            retry_delay=pendulum.duration(seconds=0),
            **_FAST,
        )
    KapsoRunFlowOperator(
        task_id="flow",
        flow_id="{{ params.flow_id }}",
        phone_number="+15551234567",
        retries=2,
        retry_delay=pendulum.duration(seconds=0),
        **_FAST,
    )

with DAG(
    dag_id="kapso_test_run_invalid",
    params={"agent_id": "a-1", "flow_id": "not-a-uuid", "message": "", "phone": "5551234567"},
    **_COMMON,
):
    # Valid at parse time (templates), invalid once rendered: must fail before any request, without retries.
    _retries: dict[str, Any] = {"retries": 3, "retry_delay": pendulum.duration(seconds=0)}
    KapsoRunAgentOperator(
        task_id="blank_message", agent_id="{{ params.agent_id }}", message="{{ params.message }}", **_retries
    )
    KapsoRunAgentOperator(
        task_id="bad_config_id", agent_id="a-1", message="hi", whatsapp_config_id="{{ params.phone }}", **_retries
    )
    KapsoRunFlowOperator(task_id="bad_flow_id", flow_id="{{ params.flow_id }}", phone_number="+15551234567", **_retries)
    KapsoRunFlowOperator(
        task_id="bad_phone",
        flow_id="8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44",
        phone_number="{{ params.phone }}",
        **_retries,
    )
    KapsoRunFlowOperator(
        task_id="bad_variables",
        flow_id="8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44",
        phone_number="+15551234567",
        variables="{{ params.phone }} is not JSON",
        **_retries,
    )
