"""Wrap up a customer conversation: find it, mark the customer's last message read, assign it, end it.

The conversation is the most recently active one with a message from the customer in the last
``params.hours`` hours; ``params.user_id`` is the Kapso user who takes it (a UUID from your project's
members). Run it against real Kapso with a ``kapso_default`` connection holding your API key:
``airflow dags test kapso_conversations -c '{"user_id": "<uuid>"}'``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum

try:
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]
    from airflow.decorators import task  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoAssignConversationOperator

with DAG(
    dag_id="kapso_conversations",
    description="Pick a recent conversation, mark its last inbound message read, assign it and end it",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"user_id": "00000000-0000-0000-0000-000000000000", "hours": 24},
    tags=["kapso", "example"],
):
    # [START howto_hook_kapso_pick_conversation]
    @task
    def pick_conversation(hours: str) -> dict[str, str]:
        from airflow.providers.common.compat.sdk import AirflowSkipException

        from kapso_provider.hooks.kapso import KapsoHook

        hook = KapsoHook()
        since = (datetime.now(UTC) - timedelta(hours=int(hours))).isoformat()
        # Lists are lazy: pages are fetched only as far as this loop reads.
        for conversation in hook.list_conversations(status="active", last_active_after=since):
            inbound = [m for m in hook.list_messages(conversation["id"]) if m["direction"] == "inbound"]
            if inbound:
                # Kapso documents no order for message lists: pick the newest by its timestamp.
                last = max(inbound, key=lambda message: message["created_at"])
                return {"conversation_id": conversation["id"], "message_id": last["id"]}
        raise AirflowSkipException(f"No active conversation with a customer message in the last {hours} h")

    picked = pick_conversation(hours="{{ params.hours }}")
    # [END howto_hook_kapso_pick_conversation]

    # [START howto_hook_kapso_mark_as_read]
    @task
    def mark_read(message_id: str) -> dict[str, Any]:
        from kapso_provider.hooks.kapso import KapsoHook

        # Kapso's message id (not WhatsApp's wamid); the customer sees blue ticks, without a typing bubble.
        return KapsoHook().mark_message_as_read(message_id, typing_indicator=False)

    mark = mark_read(message_id="{{ ti.xcom_pull(task_ids='pick_conversation')['message_id'] }}")

    # [END howto_hook_kapso_mark_as_read]

    # [START howto_operator_kapso_assign_conversation]
    assign = KapsoAssignConversationOperator(
        task_id="assign_conversation",
        conversation_id="{{ ti.xcom_pull(task_ids='pick_conversation')['conversation_id'] }}",
        user_id="{{ params.user_id }}",
        notes="Wrapped up on {{ ds }}; follow up if the customer writes again.",
    )
    # [END howto_operator_kapso_assign_conversation]

    # [START howto_hook_kapso_end_conversation]
    @task
    def end_conversation(conversation_id: str) -> str:
        from kapso_provider.hooks.kapso import KapsoHook

        return str(KapsoHook().end_conversation(conversation_id)["status"])

    end = end_conversation(conversation_id="{{ ti.xcom_pull(task_ids='pick_conversation')['conversation_id'] }}")

    # [END howto_hook_kapso_end_conversation]

    picked >> mark >> assign >> end
