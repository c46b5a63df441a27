"""Send a WhatsApp text, then wait until WhatsApp confirms it: by poking, by rescheduling, or deferred.

The three sensors show the three ways to wait for the same message; a real DAG picks one. Run it against
the local simulator (``python -m kapso_provider.testing --delivery-delay 2 --read-delay 5`` moves every
message to ``delivered`` and ``read`` on its own), or against real Kapso with a ``kapso_default``
connection: ``airflow dags test kapso_message_status -c '{"phone_number": "+1..."}'``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSendMessageOperator
from kapso_provider.sensors.kapso import KapsoMessageStatusSensor

with DAG(
    dag_id="kapso_message_status",
    description="Send a WhatsApp text through Kapso and wait until it is delivered",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"phone_number": "+15551234567"},
    tags=["kapso", "example"],
):
    send = KapsoSendMessageOperator(
        task_id="send_reminder",
        phone_number="{{ params.phone_number }}",
        content="Your appointment is tomorrow at 10:00. Reply YES to confirm.",
    )

    # [START howto_sensor_kapso_message_status_poke]
    wait_poke = KapsoMessageStatusSensor(
        task_id="wait_delivered_poke",
        # The record the send returned: its id at run time, and its conversation (found from its
        # phone_number when the record names none).
        message=send.output,
        poke_interval=10,
        timeout=timedelta(minutes=10).total_seconds(),
    )
    # [END howto_sensor_kapso_message_status_poke]

    # [START howto_sensor_kapso_message_status_reschedule]
    wait_reschedule = KapsoMessageStatusSensor(
        task_id="wait_delivered_reschedule",
        message=send.output,
        mode="reschedule",  # frees the worker slot between two reads
        poke_interval=60,
        timeout=timedelta(hours=1).total_seconds(),
    )
    # [END howto_sensor_kapso_message_status_reschedule]

    # [START howto_sensor_kapso_message_status_deferrable]
    wait_read = KapsoMessageStatusSensor(
        task_id="wait_read_deferrable",
        message=send.output,
        target_status="read",  # read receipts can be off: give such a wait a timeout you can live with
        deferrable=True,  # waits in the triggerer, holding no worker slot
        poll_interval=30,
        timeout=timedelta(hours=6).total_seconds(),
    )
    # [END howto_sensor_kapso_message_status_deferrable]

    send >> [wait_poke, wait_reschedule, wait_read]
