"""Send one message design to many recipients from one task: a literal list, an XCom and a JSON-lines file.

Run it against the local simulator with the test suite, or against real Kapso with a ``kapso_default``
connection holding your API key (the numbers below are placeholders: change them first).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoBulkSendMessageOperator

with DAG(
    dag_id="kapso_bulk_send",
    description="KapsoBulkSendMessageOperator from a list, from an upstream task and from a file",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_bulk_list]
    announce = KapsoBulkSendMessageOperator(
        task_id="announce_maintenance",
        recipients=["+15551230001", "+15551230002", "+15551230003"],
        content="The {{ ds }} maintenance window starts at 22:00 UTC.",
    )
    # [END howto_operator_kapso_bulk_list]

    # [START howto_operator_kapso_bulk_xcom]
    @task
    def todays_appointments() -> list[dict[str, Any]]:
        # In a real DAG this reads a database; each dict names the recipient and fills the placeholders.
        return [
            {"phone_number": "+15551230001", "name": "Ada", "time": "09:30"},
            {"phone_number": "+15551230002", "name": "Grace", "time": "11:00"},
            {"phone_number": "+15551230003", "name": "Linus", "time": "15:45"},
        ]

    remind = KapsoBulkSendMessageOperator(
        task_id="remind_appointments",
        recipients=todays_appointments(),
        # A template reaches customers outside the 24-hour window; ${name} fills per recipient.
        message_type="template",
        template_name="appointment_reminder",
        template_language="en_US",
        template_params=["${name}", "{{ ds }} ${time}"],
        max_concurrency=4,
        max_requests_per_minute=600,
    )
    # [END howto_operator_kapso_bulk_xcom]

    # [START howto_operator_kapso_bulk_file]
    @task
    def export_recipients() -> str:
        # Large audiences travel as a file path, not as XCom: the operator reads the file line by line.
        path = Path(tempfile.mkdtemp(prefix="kapso-bulk-")) / "recipients.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for number in range(1, 21):
                handle.write(json.dumps({"phone_number": f"+1555124{number:04d}", "code": f"K{number:03d}"}) + "\n")
        return str(path)

    send_codes = KapsoBulkSendMessageOperator(
        task_id="send_codes",
        recipients_file=export_recipients(),
        content="Your voucher code is ${code}.",
        max_concurrency=8,
        # One bad number in a large list should not fail the whole task: tolerate up to 1%.
        tolerate_failures=0.01,
        progress_interval=5,
    )
    # [END howto_operator_kapso_bulk_file]

    announce >> remind >> send_codes
