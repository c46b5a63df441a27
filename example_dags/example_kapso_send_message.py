"""Send a WhatsApp text, then react to it with the record the first task pushed to XCom.

Run it with ``airflow dags test kapso_send_message -c '{"phone_number": "+1..."}'``: against the Kapso
simulator or real Kapso, wherever the ``kapso_default`` connection points (the README's first steps show
both). From a clone of the repository, ``make demo`` runs it against the simulator.
"""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSendMessageOperator

with DAG(
    dag_id="kapso_send_message",
    description="Send a WhatsApp text through Kapso and react to it",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"phone_number": "+15551234567", "customer_name": "Ada"},
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_send_text]
    send_text = KapsoSendMessageOperator(
        task_id="send_text",
        phone_number="{{ params.phone_number }}",
        content="Hi {{ params.customer_name }}, your order for {{ ds }} has shipped.",
    )
    # [END howto_operator_kapso_send_text]

    # [START howto_operator_kapso_react]
    react = KapsoSendMessageOperator(
        task_id="react_to_text",
        phone_number="{{ params.phone_number }}",
        message_type="reaction",
        reaction_emoji="\N{PACKAGE}",
        # The record that send_text returned is its XCom: react to exactly that message.
        reacted_to_message_id="{{ ti.xcom_pull(task_ids='send_text')['whatsapp_message_id'] }}",
    )
    # [END howto_operator_kapso_react]

    send_text >> react
