"""DAGs that only the operator tests run: templating edge cases and failures."""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoSendMessageOperator

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}

with DAG(
    dag_id="kapso_test_templating",
    params={
        "phone_number": "+15551234567",
        "conn_id": "kapso_default",
        # Rendering happens once: this text must reach Kapso exactly as written.
        "literal": "{{ not rendered twice }}",
    },
    **_COMMON,
):
    KapsoSendMessageOperator(
        task_id="nested",
        kapso_conn_id="{{ params.conn_id }}",
        phone_number="{{ params.phone_number }}",
        message_type="interactive",
        interactive_type="button",
        body_text="Literal: {{ params.literal }}",
        buttons=[{"id": "yes-{{ ds_nodash }}", "title": "Yes"}, {"id": "no", "title": "No {{ 1 + 1 }}"}],
    )
    KapsoSendMessageOperator(
        task_id="json_message",
        phone_number="{{ params.phone_number }}",
        message='{"message_type": "text", "content": "JSON for {{ ds }}"}',
    )
    KapsoSendMessageOperator(
        task_id="no_xcom",
        phone_number="{{ params.phone_number }}",
        content="not pushed",
        do_xcom_push=False,
    )

with DAG(dag_id="kapso_test_invalid_after_render", params={"repeat": 4097}, **_COMMON):
    # Valid at parse time (the value is a template), too long once rendered: must fail before any request.
    KapsoSendMessageOperator(
        task_id="too_long",
        phone_number="+15551234567",
        content="{{ 'x' * params.repeat }}",
        retries=3,
        retry_delay=pendulum.duration(seconds=0),
    )

with DAG(dag_id="kapso_test_unknown_conversation", **_COMMON):
    KapsoSendMessageOperator(task_id="send", conversation_id="no-such-conversation", content="hello")


class _CrashAfterSendOperator(KapsoSendMessageOperator):
    """Stands in for a worker that dies after Kapso stored the message, before Airflow saw success."""

    def execute(self, context: Any) -> dict[str, Any]:
        record = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError(f"worker died after Kapso stored message {record['id']}")
        return record


with DAG(dag_id="kapso_test_retry_after_crash", params={"conversation_id": "set-by-the-test"}, **_COMMON):
    recipients: list[dict[str, Any]] = [
        {"phone_number": "+15551234567"},
        {"conversation_id": "{{ params.conversation_id }}"},
    ]
    for recipient in recipients:
        _CrashAfterSendOperator(
            task_id="to_phone" if "phone_number" in recipient else "to_conversation",
            content="Your parcel is out for delivery",
            retries=2,
            retry_delay=pendulum.duration(seconds=0),
            **recipient,
        )
