"""One task per WhatsApp message type that Kapso's send endpoint supports, all to one phone number."""

from __future__ import annotations

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSendMessageOperator

with DAG(
    dag_id="kapso_message_types",
    description="Every message type through KapsoSendMessageOperator",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"phone_number": "+15551234567"},
    default_args={"phone_number": "{{ params.phone_number }}"},
    tags=["kapso", "example"],
):
    # [START howto_operator_kapso_text]
    KapsoSendMessageOperator(task_id="text", content="Your report for {{ ds }} is ready.")
    # [END howto_operator_kapso_text]

    # [START howto_operator_kapso_image]
    KapsoSendMessageOperator(
        task_id="image",
        message_type="image",
        media_url="https://example.com/charts/{{ ds }}.png",
        caption="Sales for {{ ds }}",
    )
    # [END howto_operator_kapso_image]

    # [START howto_operator_kapso_video]
    KapsoSendMessageOperator(
        task_id="video",
        message_type="video",
        media_url="https://example.com/videos/welcome.mp4",
        caption="Welcome aboard",
    )
    # [END howto_operator_kapso_video]

    # [START howto_operator_kapso_audio]
    KapsoSendMessageOperator(task_id="audio", message_type="audio", media_url="https://example.com/audio/note.ogg")
    # [END howto_operator_kapso_audio]

    # [START howto_operator_kapso_document]
    KapsoSendMessageOperator(
        task_id="document",
        message_type="document",
        media_url="https://example.com/invoices/{{ ds_nodash }}.pdf",
        filename="invoice-{{ ds_nodash }}.pdf",
        caption="Your invoice",
    )
    # [END howto_operator_kapso_document]

    # [START howto_operator_kapso_location]
    KapsoSendMessageOperator(
        task_id="location",
        message_type="location",
        latitude=37.7749,
        longitude=-122.4194,
        location_name="Pickup point",
        location_address="1 Market St, San Francisco",
    )
    # [END howto_operator_kapso_location]

    # [START howto_operator_kapso_buttons]
    KapsoSendMessageOperator(
        task_id="buttons",
        message_type="interactive",
        interactive_type="button",
        body_text="Confirm your delivery slot for {{ ds }}?",
        footer_text="Reply by tapping a button",
        buttons=[{"id": "confirm", "title": "Confirm"}, {"id": "reschedule", "title": "Reschedule"}],
    )
    # [END howto_operator_kapso_buttons]

    # [START howto_operator_kapso_list]
    KapsoSendMessageOperator(
        task_id="list",
        message_type="interactive",
        interactive_type="list",
        header_text="Delivery options",
        body_text="Pick a time window for tomorrow.",
        list_button_text="Choose a slot",
        sections=[
            {
                "title": "Morning",
                "rows": [
                    {"id": "slot_9", "title": "9:00-11:00"},
                    {"id": "slot_11", "title": "11:00-13:00", "description": "Busiest window"},
                ],
            },
            {"title": "Afternoon", "rows": [{"id": "slot_15", "title": "15:00-17:00"}]},
        ],
    )
    # [END howto_operator_kapso_list]

    # [START howto_operator_kapso_template]
    KapsoSendMessageOperator(
        task_id="template",
        message_type="template",
        template_name="order_update",
        template_language="en_US",
        template_params=["Ada", "{{ ds }}"],
    )
    # [END howto_operator_kapso_template]

    # [START howto_operator_kapso_contacts]
    KapsoSendMessageOperator(
        task_id="contacts",
        message_type="contacts",
        contacts=[
            {
                "name": {"formatted_name": "Support Desk", "first_name": "Support"},
                "phones": [{"phone": "+15557654321", "type": "WORK"}],
                "emails": [{"email": "support@example.com", "type": "WORK"}],
            }
        ],
    )
    # [END howto_operator_kapso_contacts]

    # [START howto_operator_kapso_message_dict]
    KapsoSendMessageOperator(
        task_id="whole_message",
        message={"message_type": "text", "content": "Sent as one message object for {{ ds }}"},
    )
    # [END howto_operator_kapso_message_dict]
