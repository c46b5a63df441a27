"""DAGs that only the inbound-sensor tests run: one wait for a customer's reply per sensor mode."""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.sensors.kapso import KapsoInboundMessageSensor

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}

for _mode in ("poke", "reschedule", "deferrable"):
    with DAG(
        dag_id=f"kapso_test_inbound_{_mode}",
        params={"phone_number": "set-by-the-test", "pattern": "(?i)yes"},
        **_COMMON,
    ):
        # since is left out: messages count from the DAG run's start.
        KapsoInboundMessageSensor(
            task_id="wait_reply",
            phone_number="{{ params.phone_number }}",
            text_pattern="{{ params.pattern }}",
            mode="poke" if _mode == "deferrable" else _mode,
            deferrable=_mode == "deferrable",
            poke_interval=0.05,
            poll_interval=0.05,
            timeout=120,
        )
