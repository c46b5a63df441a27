"""DAGs that only the ask-operator tests run: one per behaviour, waiting in the worker and in the triggerer."""

from __future__ import annotations

from typing import Any

import pendulum

try:
    from airflow.sdk import DAG
except ImportError:  # Airflow 2.11
    from airflow import DAG  # type: ignore[attr-defined,no-redef]

from kapso_provider.operators.kapso import KapsoAskOperator

_COMMON: dict[str, Any] = {"schedule": None, "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"), "catchup": False}
# Short waits keep the tests quick; nothing asserts on them.
_FAST: dict[str, Any] = {"poke_interval": 0.05, "lookback": 0.0}


class _CrashAfterAnswerAskOperator(KapsoAskOperator):
    """Stands in for a worker that dies after the answer came, before Airflow recorded success."""

    def _on_answer(self, context: Any, answer: dict[str, Any]) -> dict[str, Any]:
        if context["ti"].try_number == 1:
            raise RuntimeError("worker died after the answer came")
        return super()._on_answer(context, answer)


for _mode in ("worker", "deferrable"):
    _deferrable = _mode == "deferrable"
    with DAG(dag_id=f"kapso_test_ask_{_mode}", params={"phone_number": "+15551234567"}, **_COMMON):
        KapsoAskOperator(
            task_id="ask",
            phone_number="{{ params.phone_number }}",
            question="Which shift can you take on {{ ds }}?",
            options=["Morning", "Evening"],
            accept_text=True,
            timeout=30,
            deferrable=_deferrable,
            **_FAST,
        )
    with DAG(dag_id=f"kapso_test_ask_list_{_mode}", params={"phone_number": "+15551234567"}, **_COMMON):
        KapsoAskOperator(
            task_id="ask_list",
            phone_number="{{ params.phone_number }}",
            question="Which store?",
            options=[{"id": f"store-{n}", "title": f"Store {n}"} for n in range(1, 6)],
            timeout=30,
            deferrable=_deferrable,
            **_FAST,
        )

    with DAG(
        dag_id=f"kapso_test_ask_allowed_{_mode}",
        params={"phone_number": "+15551234567", "allowed": "+15559990000"},
        **_COMMON,
    ):
        KapsoAskOperator(
            task_id="ask",
            phone_number="{{ params.phone_number }}",
            question="Open the store early?",
            options={"yes": "Yes", "no": "No"},
            accept_text=True,
            allowed_numbers="{{ params.allowed }}",
            timeout=30,
            deferrable=_deferrable,
            **_FAST,
        )

    with DAG(dag_id=f"kapso_test_ask_timeout_{_mode}", params={"phone_number": "+15551234567"}, **_COMMON):
        KapsoAskOperator(
            task_id="with_default",
            phone_number="{{ params.phone_number }}",
            question="Restock aisle 4?",
            options=["Yes", "No"],
            timeout=0.5,
            default_option="No",
            confirmation_text="No answer: going with {option_title} ({answered_by}).",
            deferrable=_deferrable,
            **_FAST,
        )
        KapsoAskOperator(
            task_id="without_default",
            phone_number="{{ params.phone_number }}",
            question="Restock aisle 5?",
            options=["Yes", "No"],
            timeout=0.5,
            retries=2,
            retry_delay=pendulum.duration(seconds=0),
            deferrable=_deferrable,
            **_FAST,
        )

    with DAG(dag_id=f"kapso_test_ask_reminder_{_mode}", params={"phone_number": "+15551234567"}, **_COMMON):
        KapsoAskOperator(
            task_id="ask",
            phone_number="{{ params.phone_number }}",
            question="Confirm the delivery window?",
            options=["Confirm", "Move it"],
            timeout=30,
            reminder_after=0.2,
            reminder_text="Reminder: please confirm the delivery window.",
            confirmation_text="{option_title} by {answered_by} at {answered_at}",
            deferrable=_deferrable,
            **_FAST,
        )

    with DAG(dag_id=f"kapso_test_ask_retry_{_mode}", params={"conversation_id": "set-by-the-test"}, **_COMMON):
        _CrashAfterAnswerAskOperator(
            task_id="ask",
            conversation_id="{{ params.conversation_id }}",
            question="Approve the refund?",
            options=["Refund", "Decline"],
            timeout=30,
            confirmation_text="{option_title} by {answered_by}",
            retries=1,
            retry_delay=pendulum.duration(seconds=0),
            deferrable=_deferrable,
            **_FAST,
        )

# The customer's own text reaches the confirmation through a template: its braces are text, never placeholders.
with DAG(dag_id="kapso_test_ask_braces", params={"phone_number": "+15551234567", "note": "{smile}"}, **_COMMON):
    KapsoAskOperator(
        task_id="ask",
        phone_number="{{ params.phone_number }}",
        question="Keep the note?",
        options=["Keep", "Drop"],
        timeout=30,
        confirmation_text="{option_title}: {{ params.note }} {option_id.__class__} {0} {answered_by}",
        **_FAST,
    )
