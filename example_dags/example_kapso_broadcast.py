"""Run a Kapso WhatsApp broadcast: one approved template to an audience, sent by Kapso, followed to the end.

Run it against the local simulator with the test suite, or against real Kapso with a ``kapso_default``
connection holding your API key, and change the phone numbers first. On API v1 trigger it with your
production WhatsApp config id and the id of an approved template linked to it as ``whatsapp_config_id`` and
``whatsapp_template_id`` (the defaults below are placeholders). On Kapso's current API give Meta's template
id as ``whatsapp_template_id`` and an empty ``whatsapp_config_id``: the broadcast goes out from
``phone_number_id``, or from the connection's phone number when that is empty too.
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

from kapso_provider.operators.kapso import KapsoBroadcastOperator, KapsoPhoneNumberHealthOperator

with DAG(
    dag_id="kapso_broadcast",
    description="KapsoBroadcastOperator: send and wait, and a draft from a file",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "whatsapp_config_id": "4a5b6c7d-8e9f-0a1b-2c3d-4e5f6a7b8c9d",
        "phone_number_id": "",
        "whatsapp_template_id": "7a8b9c0d-1e2f-3a4b-5c6d-7e8f9a0b1c2d",
    },
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_phone_number_health]
    # Stop here, before any recipient is added, when the number cannot send: blocked, limited, a token that
    # expired, a quality rating that fell to RED.
    check_sender = KapsoPhoneNumberHealthOperator(
        task_id="check_sender",
        whatsapp_config_id="{{ params.whatsapp_config_id }}",
        phone_number_id="{{ params.phone_number_id }}",
        min_quality_rating="YELLOW",
    )
    # [END howto_operator_kapso_phone_number_health]

    # [START howto_operator_kapso_broadcast]
    @task
    def july_audience() -> list[dict[str, Any]]:
        # In a real DAG this reads a CRM; the values fill the template's {{1}} and {{2}}.
        return [
            {"phone_number": "+15551230001", "template_parameters": ["Ada", "JULY25"]},
            {"phone_number": "+15551230002", "template_parameters": ["Grace", "JULY25"]},
            {"phone_number": "+15551230003", "template_parameters": ["Linus", "JULY30"]},
        ]

    july_promo = KapsoBroadcastOperator(
        task_id="july_promo",
        # One name per run: a retry finds this run's broadcast by its name instead of creating another.
        name="July promo {{ ds }}",
        # The sending number: a config on API v1, a phone number id on the current API (empty: not used).
        whatsapp_config_id="{{ params.whatsapp_config_id }}",
        phone_number_id="{{ params.phone_number_id }}",
        whatsapp_template_id="{{ params.whatsapp_template_id }}",
        recipients=july_audience(),
        wait_for_completion=True,
        poll_interval=60,
        timeout=6 * 3600,
    )
    # [END howto_operator_kapso_broadcast]

    # [START howto_operator_kapso_broadcast_draft]
    @task
    def export_audience() -> str:
        # Large audiences travel as a JSON-lines file; the operator reads it line by line.
        path = Path(tempfile.mkdtemp(prefix="kapso-broadcast-")) / "audience.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for number in range(1, 2501):
                parameters = [f"Customer {number}", f"AUG{number:04d}"]
                handle.write(json.dumps({"phone_number": f"+1555200{number:04d}", "template_parameters": parameters}))
                handle.write("\n")
        return str(path)

    august_draft = KapsoBroadcastOperator(
        task_id="august_draft",
        name="August promo {{ ds }} (draft)",
        whatsapp_config_id="{{ params.whatsapp_config_id }}",
        phone_number_id="{{ params.phone_number_id }}",
        whatsapp_template_id="{{ params.whatsapp_template_id }}",
        recipients_file=export_audience(),
        # Leave a draft for someone to review and send from Kapso's dashboard.
        send=False,
    )
    # [END howto_operator_kapso_broadcast_draft]

    check_sender >> july_promo >> august_draft
