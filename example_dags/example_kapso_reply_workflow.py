"""Answer a customer the way a person would: read their message, show "typing...", then reply.

The DAG waits for the customer's next message, marks it read (blue ticks) with a typing indicator while the
answer is prepared, then answers in the same conversation. The same code runs on Kapso's API v1 and on its
current API: the message record's ``id`` is the one the connection's API marks as read (Kapso's id on v1,
WhatsApp's ``wamid`` on the current API). Run it with
``airflow dags test kapso_reply_workflow -c '{"phone_number": "+1..."}'``.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoMarkAsReadOperator, KapsoSendMessageOperator
from kapso_provider.sensors.kapso import KapsoInboundMessageSensor

with DAG(
    dag_id="kapso_reply_workflow",
    description="Mark a customer's WhatsApp message read, show typing, answer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"phone_number": "+15551234567"},
    render_template_as_native_obj=True,
    tags=["kapso", "example"],
):
    wait_message = KapsoInboundMessageSensor(
        task_id="wait_message",
        phone_number="{{ params.phone_number }}",
        since="{{ data_interval_start.isoformat() }}",
        mode="reschedule",
        poke_interval=30,
        timeout=timedelta(hours=1).total_seconds(),
    )

    # [START howto_operator_kapso_mark_as_read]
    mark_read = KapsoMarkAsReadOperator(
        task_id="mark_read",
        # The first message the sensor found; its record's id is what the connection's API marks read.
        message_id="{{ ti.xcom_pull(task_ids='wait_message')[0]['message_id'] }}",
        typing_indicator=True,  # "typing..." until the reply arrives, or about 25 seconds
    )
    # [END howto_operator_kapso_mark_as_read]

    reply = KapsoSendMessageOperator(
        task_id="reply",
        conversation_id="{{ ti.xcom_pull(task_ids='wait_message')[0]['conversation_id'] }}",
        content="Thanks for your message! Your order ships tomorrow.",
    )

    wait_message >> mark_read >> reply
