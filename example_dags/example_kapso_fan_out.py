"""Dynamic task mapping: one message to several recipients, and several messages to one recipient."""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSendMessageOperator

with DAG(
    dag_id="kapso_fan_out",
    description="Mapped KapsoSendMessageOperator over recipients and over message arguments",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_mapped_recipients]
    KapsoSendMessageOperator.partial(
        task_id="notify_each_recipient",
        content="The {{ ds }} maintenance window starts at 22:00 UTC.",
    ).expand(phone_number=["+15551230001", "+15551230002", "+15551230003"])
    # [END howto_operator_kapso_mapped_recipients]

    # [START howto_operator_kapso_mapped_messages]
    KapsoSendMessageOperator.partial(task_id="send_each_message", phone_number="+15551230001").expand_kwargs(
        [
            {"content": "Step 1: download the app"},
            {"message_type": "image", "media_url": "https://example.com/step2.png", "caption": "Step 2: sign in"},
            {"message_type": "document", "media_url": "https://example.com/guide.pdf", "filename": "guide.pdf"},
        ]
    )
    # [END howto_operator_kapso_mapped_messages]
