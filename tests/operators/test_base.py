"""What every Kapso operator shares: Airflow's arguments typed, the API key refused, mapping of every field."""

from __future__ import annotations

import inspect
from typing import Any

import pendulum
import pytest

from kapso_provider.arguments import MESSAGE_FIELDS, RECIPIENT_FIELDS
from kapso_provider.exceptions import KapsoConfigurationError
from kapso_provider.notifications.kapso import KapsoNotifier
from kapso_provider.operators._base import BaseOperatorArguments, KapsoOperatorArguments
from kapso_provider.operators.ask import AskArguments, _KapsoAskBase
from kapso_provider.operators.kapso import (
    KapsoAskOperator,
    KapsoAssignConversationOperator,
    KapsoBroadcastOperator,
    KapsoBulkSendMessageOperator,
    KapsoCreateContactNoteOperator,
    KapsoRunAgentOperator,
    KapsoRunFlowOperator,
    KapsoSendMessageOperator,
    KapsoSyncTemplatesOperator,
)
from tests._typed import keyword_parameters, typed_arguments

PHONE = "+15551234567"
UUID = "8d0f5f59-9d53-4b8e-9b1c-3f0c7a1e2b44"

# Each public constructor of the area with the least it needs to build.
CONSTRUCTORS: dict[str, Any] = {
    "send": lambda **kw: KapsoSendMessageOperator(task_id="t", phone_number=PHONE, content="hi", **kw),
    "bulk": lambda **kw: KapsoBulkSendMessageOperator(task_id="t", recipients=[PHONE], content="hi", **kw),
    "broadcast": lambda **kw: KapsoBroadcastOperator(
        task_id="t", name="n", whatsapp_config_id="c", whatsapp_template_id="t", recipients=[PHONE], **kw
    ),
    "sync": lambda **kw: KapsoSyncTemplatesOperator(task_id="t", **kw),
    "note": lambda **kw: KapsoCreateContactNoteOperator(task_id="t", contact=PHONE, content="hi", **kw),
    "assign": lambda **kw: KapsoAssignConversationOperator(task_id="t", conversation_id="c", user_id=UUID, **kw),
    "agent": lambda **kw: KapsoRunAgentOperator(task_id="t", agent_id="a", message="hi", **kw),
    "flow": lambda **kw: KapsoRunFlowOperator(task_id="t", flow_id=UUID, phone_number=PHONE, **kw),
    "ask": lambda **kw: KapsoAskOperator(task_id="t", question="Ship?", phone_number=PHONE, options=["Yes"], **kw),
    "notifier": lambda **kw: KapsoNotifier(phone_number=PHONE, content="hi", **kw),
}


def _base_operator() -> Any:
    try:
        from airflow.sdk import BaseOperator
    except ImportError:  # Airflow 2.11
        from airflow.models.baseoperator import BaseOperator  # type: ignore[no-redef]
    return BaseOperator


def test_every_airflow_operator_argument_is_typed() -> None:
    """A type checker refuses what the TypedDict lacks: it must hold every argument of this Airflow's BaseOperator."""
    parameters = inspect.signature(_base_operator().__init__).parameters
    arguments = {name for name, p in parameters.items() if name != "self" and p.kind is p.KEYWORD_ONLY}
    assert arguments <= set(BaseOperatorArguments.__annotations__)


def test_the_typed_ask_arguments_are_the_ask_base_s() -> None:
    """What a type checker reads for the three ask operators is what their shared base takes, name and type."""
    assert typed_arguments(AskArguments, besides=KapsoOperatorArguments) == keyword_parameters(_KapsoAskBase.__init__)


@pytest.mark.parametrize("constructor", sorted(CONSTRUCTORS))
@pytest.mark.parametrize("name", ["api_key", "token"])
def test_an_api_key_argument_points_at_the_connection(constructor: str, name: str) -> None:
    with pytest.raises(KapsoConfigurationError) as info:
        CONSTRUCTORS[constructor](**{name: "key-123", "kapso_conn_id": "kapso_alerts"})
    text = str(info.value)
    assert f"does not take {name}: store the API key in the password of connection 'kapso_alerts'" in text
    assert "key-123" not in text


@pytest.mark.parametrize("constructor", sorted(CONSTRUCTORS))
def test_every_constructor_builds_with_its_least(constructor: str) -> None:
    assert CONSTRUCTORS[constructor]().kapso_conn_id == "kapso_default"


def _dag() -> Any:
    try:
        from airflow.sdk import DAG
    except ImportError:  # Airflow 2.11
        from airflow import DAG  # type: ignore[attr-defined,no-redef]
    return DAG(dag_id="kapso_mapping", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))


@pytest.mark.parametrize("name", [*RECIPIENT_FIELDS, "message", *MESSAGE_FIELDS])
def test_every_message_and_recipient_field_can_be_mapped_and_defaulted(name: str) -> None:
    """Airflow learns these names from the signatures: ``expand()`` and ``default_args`` must accept each."""
    # Templated, so that no combination is checked before rendering.
    others: dict[str, Any] = {"phone_number": "{{ params.p }}", "content": "{{ params.c }}"}
    others.pop(name, None)
    with _dag():
        KapsoSendMessageOperator.partial(task_id="mapped", **others).expand(**{name: ["{{ params.a }}", "b"]})
        operator = KapsoSendMessageOperator(task_id="defaulted", default_args={name: "{{ params.a }}"}, **others)
    assert getattr(operator, name) == "{{ params.a }}"


def test_an_unknown_notifier_argument_names_the_closest_ones() -> None:
    with pytest.raises(TypeError, match=r"'contnet' \(did you mean 'context' or 'content'\?\)"):
        KapsoNotifier(phone_number=PHONE, contnet="hi")  # type: ignore[call-arg]
