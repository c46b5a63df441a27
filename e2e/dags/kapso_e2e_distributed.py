"""DAGs of ``make e2e-distributed`` that are not examples: each is one scenario of a CeleryExecutor deployment.

``scripts/e2e_distributed.py`` triggers them over REST and checks what the simulator stored; they only make
sense against its simulator (the numbers are test numbers).

- ``kapso_e2e_bulk_mapped``: a bulk send split over mapped tasks, enough of them, each long enough, that
  both Celery workers take some.
- ``kapso_e2e_send_retry``: one send with retries; the script holds Kapso's answer, kills the worker
  running it, and checks that the retry, on the other worker, finds the stored message instead of sending
  it again.
- ``kapso_e2e_deferred_waits``: a deferrable status sensor and a deferrable question, both waiting in the
  triggerer while the script restarts it.
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

from kapso_provider.operators.kapso import KapsoAskOperator, KapsoBulkSendMessageOperator, KapsoSendMessageOperator
from kapso_provider.sensors.kapso import KapsoMessageStatusSensor

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG(
    dag_id="kapso_e2e_bulk_mapped",
    description="A bulk send split over mapped tasks that the Celery workers share",
    schedule=None,
    start_date=START,
    catchup=False,
    # The script that triggers the run passes its chunks of recipients, and checks them against Kapso.
    params={"chunks": [["+15552000000", "+15552000001"], ["+15552001000", "+15552001001"]]},
    tags=["kapso", "e2e"],
):

    @task
    def recipient_chunks(params: dict[str, Any] | None = None) -> list[list[str]]:
        return list((params or {})["chunks"])

    KapsoBulkSendMessageOperator.partial(
        task_id="send_chunk",
        content="Distributed bulk send of {{ ds }}.",
        max_concurrency=2,
        # About two seconds of sending per chunk: a worker that finished its chunks does not take them all.
        max_requests_per_minute=150,
    ).expand(recipients=recipient_chunks())

with DAG(
    dag_id="kapso_e2e_send_retry",
    description="One send whose worker dies mid-request; the retry must not send it again",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"phone_number": "+15550300001"},
    tags=["kapso", "e2e"],
):
    KapsoSendMessageOperator(
        task_id="send_once",
        phone_number="{{ params.phone_number }}",
        content="Your order {{ run_id }} has shipped.",
        retries=2,
        retry_delay=timedelta(seconds=1),
    )

with DAG(
    dag_id="kapso_e2e_deferred_waits",
    description="A status wait and a question deferred to the triggerer across its restart",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"status_phone": "+15550400001", "ask_phone": "+15550400002"},
    tags=["kapso", "e2e"],
):
    send = KapsoSendMessageOperator(
        task_id="send_notice",
        phone_number="{{ params.status_phone }}",
        content="Your parcel is out for delivery.",
    )
    send >> KapsoMessageStatusSensor(
        task_id="wait_delivered",
        message=send.output,
        deferrable=True,
        poll_interval=2,
        timeout=600,
    )
    KapsoAskOperator(
        task_id="ask_slot",
        phone_number="{{ params.ask_phone }}",
        question="Which delivery slot suits you?",
        options={"morning": "Morning", "evening": "Evening"},
        deferrable=True,
        poke_interval=2,
        timeout=timedelta(minutes=10),
    )
