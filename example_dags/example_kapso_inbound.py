"""DAGs that run when a customer writes on WhatsApp: an AssetWatcher (Airflow 3) and a mid-run wait (all versions).

``kapso_inbound_reply`` (Airflow 3 only) is scheduled on an asset that a
:class:`~kapso_provider.triggers.kapso.KapsoInboundMessageTrigger` watches from the triggerer: each new
inbound message becomes an asset event, and each run answers the conversations its events came from.
On Airflow 2.11, which has no ``AssetWatcher``, the file defines only the second DAG.

``kapso_inbound_wait_reply`` asks a question, waits with
:class:`~kapso_provider.sensors.kapso.KapsoInboundMessageSensor` until the customer answers it, and
thanks them: ``airflow dags test kapso_inbound_wait_reply -c '{"phone_number": "+1..."}'``.
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

from kapso_provider.operators.kapso import KapsoSendMessageOperator
from kapso_provider.sensors.kapso import KapsoInboundMessageSensor
from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger

try:
    from airflow.sdk import Asset, AssetWatcher
except ImportError:  # Airflow 2.11: no event-driven scheduling, so no watcher DAG below
    AssetWatcher = None  # type: ignore[misc,assignment]

if AssetWatcher is not None:
    # [START howto_trigger_kapso_inbound_asset_watcher]
    kapso_inbound = Asset(
        "kapso_inbound_messages",
        watchers=[
            AssetWatcher(
                name="kapso_inbound_support",
                trigger=KapsoInboundMessageTrigger(
                    # Only messages asking for help; the others do not start a run.
                    text_pattern=r"(?i)\b(help|support|agent)\b",
                    # Each poll costs one request on the current API; on API v1 one list request plus one per
                    # active conversation.
                    poll_interval=30,
                ),
            )
        ],
    )

    with DAG(
        dag_id="kapso_inbound_reply",
        description="Answer every WhatsApp message that asks for help",
        schedule=[kapso_inbound],
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["kapso", "example"],
    ):

        @task
        def conversations_to_answer(*, triggering_asset_events: Any = None) -> list[str]:
            # One run can hold several events (messages arriving close together): answer each conversation once.
            conversation_ids: list[str] = []
            for event in triggering_asset_events[kapso_inbound]:
                payload = event.extra["payload"]
                if payload["conversation_id"] not in conversation_ids:
                    conversation_ids.append(payload["conversation_id"])
            return conversation_ids

        KapsoSendMessageOperator.partial(
            task_id="reply",
            content="Thanks for writing! Someone from our team will answer here shortly.",
        ).expand(conversation_id=conversations_to_answer())
    # [END howto_trigger_kapso_inbound_asset_watcher]

with DAG(
    dag_id="kapso_inbound_wait_reply",
    description="Ask a customer a question on WhatsApp and wait for the answer",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"phone_number": "+15551234567"},
    tags=["kapso", "example"],
):
    ask = KapsoSendMessageOperator(
        task_id="ask",
        phone_number="{{ params.phone_number }}",
        content="Can we deliver your order tomorrow? Reply YES or NO.",
    )

    # [START howto_sensor_kapso_inbound]
    wait_reply = KapsoInboundMessageSensor(
        task_id="wait_reply",
        phone_number="{{ params.phone_number }}",
        text_pattern=r"(?i)^\s*(yes|no)\b",
        # Only answers written after the question count.
        since="{{ ti.xcom_pull(task_ids='ask')['created_at'] }}",
        mode="reschedule",  # frees the worker slot between two reads
        poke_interval=60,
        timeout=timedelta(hours=24).total_seconds(),
    )
    # [END howto_sensor_kapso_inbound]

    @task
    def answer_of(replies: Any) -> str:
        # The sensor returns every matching message since the question, oldest first: the first one counts.
        # "text" is the message's text on both API generations (the full record is under "message").
        return "yes" if replies[0]["text"].strip().lower().startswith("yes") else "no"

    thank = KapsoSendMessageOperator(
        task_id="thank",
        phone_number="{{ params.phone_number }}",
        content="Thanks! We noted your answer: {{ ti.xcom_pull(task_ids='answer_of') }}.",
    )

    ask >> wait_reply
    answer_of(wait_reply.output) >> thank
