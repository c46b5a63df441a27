"""Tell a customer that their order has shipped, through the ``kapso_whatsapp`` connection."""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSendMessageOperator

with DAG(
    dag_id="order_shipped",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"phone_number": "+15551234567", "order_id": "A-1001"},
):
    KapsoSendMessageOperator(
        task_id="tell_customer",
        kapso_conn_id="kapso_whatsapp",
        phone_number="{{ params.phone_number }}",
        content="Your order {{ params.order_id }} has shipped.",
    )
