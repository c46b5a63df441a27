"""Campaign bookkeeping: send a template to each recipient, then note on each contact what was sent.

API v1 only: Kapso's current API has no contact notes. Run it against the local simulator, or against real
Kapso with a ``kapso_default`` connection holding your
API key: ``airflow dags test kapso_contact_notes -c '{"recipients": ["+1..."]}'``.
"""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoCreateContactNoteOperator, KapsoSendMessageOperator

RECIPIENTS = ["+15551230001", "+15551230002"]


# [START howto_operator_kapso_contact_note_arguments]
def _note_for(record: dict[str, Any]) -> dict[str, Any]:
    """The note arguments for one message record that the send pushed to XCom."""
    return {
        "contact": record["phone_number"],
        "content": f"Spring campaign: template sent as message {record['id']} ({record['status']}).",
        "metadata": {"campaign": "spring_offer", "message_id": record["id"]},
    }


# [END howto_operator_kapso_contact_note_arguments]


with DAG(
    dag_id="kapso_contact_notes",
    description="Send a campaign template to each recipient and note it on each contact",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["kapso", "example"],
):
    send_offer = KapsoSendMessageOperator.partial(
        task_id="send_offer",
        message_type="template",
        template_name="spring_offer",
        template_language="en_US",
    ).expand(phone_number=RECIPIENTS)

    # [START howto_operator_kapso_contact_note]
    note_offer = KapsoCreateContactNoteOperator.partial(task_id="note_offer", name="Spring campaign").expand_kwargs(
        # One note per send: the contact is the number the message went to, a phone number or a contact id.
        send_offer.output.map(_note_for)
    )
    # [END howto_operator_kapso_contact_note]

    # [START howto_operator_kapso_contact_note_static]
    note_opt_out = KapsoCreateContactNoteOperator(
        task_id="note_opt_out",
        contact="+15551230002",
        content="Asked on {{ ds }} to receive no more marketing messages.",
        name="Opt-out",
    )
    # [END howto_operator_kapso_contact_note_static]

    note_offer >> note_opt_out
