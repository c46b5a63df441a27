"""The message kinds and fields only Kapso's current API sends, one task each, to one phone number.

The connection must speak the current API (extra ``api: current``, or the host ``https://api.kapso.ai``, with
``phone_number_id``; see ``docs/connection.md``). On an API v1 connection every Kapso task here fails at once,
before any request, saying the kind or field exists only on the current API. A report written by the first
task is uploaded to WhatsApp and sent by its media id. Run it with
``airflow dags test kapso_current_api -c '{"phone_number": "+1..."}'``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSendMessageOperator, KapsoUploadMediaOperator

with DAG(
    dag_id="kapso_current_api",
    description="Every message kind only Kapso's current API sends",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"phone_number": "+15551234567"},
    default_args={"phone_number": "{{ params.phone_number }}"},
    tags=["kapso", "example"],
):

    @task
    def write_report(ds: str | None = None) -> str:
        # A report this DAG produced; on a real deployment, a file in shared storage the next task can read.
        path = Path(tempfile.mkdtemp()) / f"sales-{ds}.pdf"
        path.write_bytes(b"%PDF-1.4\n% the day's sales\n")
        return str(path)

    # [START howto_operator_kapso_upload_media]
    upload = KapsoUploadMediaOperator(task_id="upload_report", file_path=write_report())
    send_report = KapsoSendMessageOperator(
        task_id="send_report",
        message_type="document",
        media_id="{{ ti.xcom_pull(task_ids='upload_report')['id'] }}",
        filename="sales-{{ ds }}.pdf",
        caption="Sales for {{ ds }}",
    )
    upload >> send_report
    # [END howto_operator_kapso_upload_media]

    # [START howto_operator_kapso_text_preview]
    tracking = KapsoSendMessageOperator(
        task_id="text_with_preview",
        content="Track your order: https://example.com/orders/{{ ds_nodash }}",
        preview_url=True,
        biz_opaque_callback_data="order-{{ ds_nodash }}",  # echoed in Kapso's status webhooks
    )
    follow_up = KapsoSendMessageOperator(
        task_id="reply_in_thread",
        content="It ships tomorrow.",
        # Shown quoted above this message: the wamid of the one it answers.
        reply_to_message_id="{{ ti.xcom_pull(task_ids='text_with_preview')['whatsapp_message_id'] }}",
    )
    tracking >> follow_up
    # [END howto_operator_kapso_text_preview]

    # [START howto_operator_kapso_voice_note]
    KapsoSendMessageOperator(
        task_id="voice_note",
        message_type="audio",
        media_url="https://example.com/audio/greeting.ogg",  # OGG with the OPUS codec
        voice=True,
    )
    # [END howto_operator_kapso_voice_note]

    # [START howto_operator_kapso_sticker]
    KapsoSendMessageOperator(
        task_id="sticker", message_type="sticker", media_url="https://example.com/stickers/thanks.webp"
    )
    # [END howto_operator_kapso_sticker]

    # [START howto_operator_kapso_cta_url]
    KapsoSendMessageOperator(
        task_id="cta_url",
        message_type="interactive",
        interactive_type="cta_url",
        body_text="Your invoice for {{ ds }} is ready.",
        button_text="Open invoice",
        button_url="https://example.com/invoices/{{ ds_nodash }}",
    )
    # [END howto_operator_kapso_cta_url]

    # [START howto_operator_kapso_flow]
    KapsoSendMessageOperator(
        task_id="flow",
        message_type="interactive",
        interactive_type="flow",
        body_text="Book your next visit in a minute.",
        flow_name="appointment_booking",
        flow_cta="Book now",
        flow_token="visit-{{ ds_nodash }}",  # noqa: S106 - an id of yours, sent back with the answers
        flow_screen="PICK_DAY",
        flow_data={"first_day": "{{ ds }}"},
    )
    # [END howto_operator_kapso_flow]

    # [START howto_operator_kapso_location_request]
    KapsoSendMessageOperator(
        task_id="location_request",
        message_type="interactive",
        interactive_type="location_request_message",
        body_text="Where should the courier go? Share your location.",
    )
    # [END howto_operator_kapso_location_request]

    # [START howto_operator_kapso_products]
    KapsoSendMessageOperator(
        task_id="product",
        message_type="interactive",
        interactive_type="product",
        body_text="Back in stock!",
        catalog_id="1234567890",
        product_retailer_id="SKU-42",
    )
    KapsoSendMessageOperator(
        task_id="product_list",
        message_type="interactive",
        interactive_type="product_list",
        header_text="This week's picks",
        body_text="Tap a product to see it.",
        catalog_id="1234567890",
        sections=[
            {"title": "Coffee", "product_retailer_ids": ["SKU-42", "SKU-43"]},
            {"title": "Tea", "product_retailer_ids": ["SKU-77"]},
        ],
    )
    KapsoSendMessageOperator(
        task_id="catalog",
        message_type="interactive",
        interactive_type="catalog_message",
        body_text="Browse the whole shop without leaving WhatsApp.",
        thumbnail_product_retailer_id="SKU-42",
    )
    # [END howto_operator_kapso_products]

    # [START howto_operator_kapso_template_buttons]
    KapsoSendMessageOperator(
        task_id="template_with_buttons",
        message_type="template",
        template_name="order_shipped",
        template_language="en_US",
        template_params={"order": "ORD-{{ ds_nodash }}"},  # named parameters
        header_type="image",
        header_params="https://example.com/boxes/{{ ds_nodash }}.png",
        button_url_params={"0": "ORD-{{ ds_nodash }}"},  # the dynamic end of the "Track" button's URL
        button_payloads={"1": "stop-updates"},  # what the quick reply button sends back
    )
    KapsoSendMessageOperator(
        task_id="marketing_template",
        message_type="template",
        template_name="spring_sale",
        template_language="en",
        marketing=True,  # through Kapso's marketing messages endpoint
    )
    # [END howto_operator_kapso_template_buttons]

    # [START howto_operator_kapso_cloud_api_body]
    KapsoSendMessageOperator(
        task_id="carousel",
        # A whole WhatsApp Cloud API body: any kind the proxy sends, here a carousel of two cards.
        message={
            "type": "interactive",
            "interactive": {
                "type": "carousel",
                "body": {"text": "Two ways to spend your Sunday"},
                "action": {
                    "cards": [
                        {
                            "card_index": index,
                            "header": {"type": "image", "image": {"link": f"https://example.com/cards/{index}.png"}},
                            "action": {
                                "name": "cta_url",
                                "parameters": {"display_text": "Book", "url": f"https://example.com/book/{index}"},
                            },
                        }
                        for index in range(2)
                    ]
                },
            },
        },
    )
    # [END howto_operator_kapso_cloud_api_body]
