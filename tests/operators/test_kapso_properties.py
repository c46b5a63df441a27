"""Property-based tests of the operator's argument handling and of what reaches Kapso.

- Any combination of the operator's recipient and message arguments either builds the operator or raises
  :class:`~kapso_provider.exceptions.KapsoInvalidMessageError` naming the fields at fault; nothing else.
- Whatever message the hook is given, either it is refused before any request (the simulator records
  none) or the simulator stores it with a 201, and the body it received is valid against Kapso's files.

The message strategies and the schema checks come from ``tests/test_models_properties.py``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapso_provider.exceptions import KapsoAPIError, KapsoInvalidMessageError
from kapso_provider.models import parse_message
from kapso_provider.operators.kapso import MESSAGE_FIELDS, RECIPIENT_FIELDS, KapsoSendMessageOperator
from kapso_provider.recipients import check_recipient
from tests._message_strategies import (
    JSON_VALUES,
    MESSAGES,
    NEAR_VALID_BY_TYPE,
    NEAR_VALID_MESSAGES,
    PHONE_NUMBERS,
    PROPERTY_SETTINGS,
    WRONG_TYPES,
    Schemas,
    assert_problems_name_fields,
    short_text,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

PHONE = "+15551234567"
CONN_ID = "kapso_props"
TEMPLATED = "{{ params.value }}"

# --- Strategies ---------------------------------------------------------------------------------------

_IDS = st.sampled_from(["conv-1", "2f1c0a9e-6b1d-4e8a-9a59-3f7b2d1c0e11"]) | short_text(min_size=1)
_VALID_PHONES = st.sampled_from([PHONE, "15551234567", "+1 (555) 123-4567", "+44 20 7946 0958"])
#: Recipient arguments: mostly one well-formed recipient (so that the message checks, which come after the
#: recipient's, are reached), then any mix of the four, of any type.
RECIPIENTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.fixed_dictionaries({"phone_number": _VALID_PHONES}, optional={"whatsapp_config_id": _IDS, "customer_id": _IDS}),
    st.fixed_dictionaries({"conversation_id": _IDS}),
    st.fixed_dictionaries({"phone_number": PHONE_NUMBERS}),
    st.fixed_dictionaries(
        {},
        optional={
            name: st.none() | _IDS | PHONE_NUMBERS | WRONG_TYPES | st.sampled_from(["", " ", TEMPLATED])
            for name in RECIPIENT_FIELDS
        },
    ),
)


def _as_field_arguments(message: Any) -> dict[str, Any]:
    # Keys that are not operator arguments would go to BaseOperator, which refuses them with its own
    # TypeError: the operator's signature, not the provider's checks, handles those.
    if not isinstance(message, dict):
        return {}
    return {key: value for key, value in message.items() if key in MESSAGE_FIELDS}


#: Ways of giving the message: field by field, whole as a dict, as a JSON string, as garbage, or both.
MESSAGE_ARGUMENTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    NEAR_VALID_MESSAGES.map(_as_field_arguments),
    MESSAGES.map(lambda message: {"message": message}),
    st.builds(
        lambda message, ensure_ascii: {"message": json.dumps(message, ensure_ascii=ensure_ascii)},
        NEAR_VALID_MESSAGES,
        st.booleans(),
    ),
    # Not JSON, JSON that is not an object, and values of a wrong type.
    st.one_of(short_text(), JSON_VALUES.map(json.dumps), WRONG_TYPES, st.just(TEMPLATED)).map(
        lambda message: {"message": message}
    ),
    st.builds(
        lambda message, fields: {"message": message, **fields}, MESSAGES, NEAR_VALID_MESSAGES.map(_as_field_arguments)
    ),
    # A templated field defers every message check to run time.
    NEAR_VALID_MESSAGES.map(lambda message: {**_as_field_arguments(message), "content": TEMPLATED}),
)


def _decoded(message: Any) -> Any:
    """The message argument as the operator reads it, to know which keys an error line may name."""
    if isinstance(message, str):
        try:
            return json.loads(message)
        except ValueError:
            return None
    return message


#: What the hook is given, per message type (each gets its share of examples) and any message at all.
SENT_BY_KIND: dict[str, st.SearchStrategy[Any]] = {**NEAR_VALID_BY_TYPE, "any": MESSAGES}


# --- Fixtures -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def props_server() -> Iterator[Any]:
    """One simulator for every example of a test (the ``kapso_server`` fixture is per test, far too slow
    for hundreds of examples), with the ``kapso_props`` connection pointing at it; examples call reset()."""
    from kapso_provider.testing import KapsoSimulator

    simulator = KapsoSimulator(api_key="props-key", host="127.0.0.1", port=0)
    simulator.start()
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(
                f"AIRFLOW_CONN_{CONN_ID.upper()}",
                json.dumps({"conn_type": "kapso", "host": simulator.base_url, "password": simulator.api_key}),
            )
            yield simulator
    finally:
        simulator.stop()


@pytest.fixture(scope="module")
def props_hook(props_server: Any) -> Iterator[Any]:
    from kapso_provider.hooks.kapso import KapsoHook

    hook = KapsoHook(kapso_conn_id=CONN_ID)
    try:
        yield hook
    finally:
        hook.close()


# --- Properties ---------------------------------------------------------------------------------------


@settings(PROPERTY_SETTINGS, max_examples=200)
@given(recipient=RECIPIENTS, message=MESSAGE_ARGUMENTS)
def test_operator_arguments_build_the_operator_or_are_refused_by_field(
    schemas: Schemas, recipient: dict[str, Any], message: dict[str, Any]
) -> None:
    kwargs = {**recipient, **message}
    try:
        operator = KapsoSendMessageOperator(task_id="t", **kwargs)
    except KapsoInvalidMessageError as error:
        named = {**kwargs, "message": _decoded(kwargs.get("message"))}
        assert_problems_name_fields(error.problems, named, RECIPIENT_FIELDS, whole_message_head=True)
        return

    if TEMPLATED in json.dumps(kwargs, default=repr):
        return  # checked after rendering, at run time
    # Built from final values: what execute() checks again must pass, and the body must be valid.
    recipient_arguments = {name: getattr(operator, name) for name in RECIPIENT_FIELDS}
    check_recipient(**recipient_arguments)
    parsed = parse_message(operator.message_object())
    if recipient_arguments["phone_number"] is not None:
        body = parsed.to_body(phone_number=recipient_arguments["phone_number"])
        schemas.check_phone_send(body)
    else:
        body = parsed.to_body()
    schemas.check_conversation_send(body)


@pytest.mark.parametrize("kind", sorted(SENT_BY_KIND))
@settings(PROPERTY_SETTINGS, max_examples=25)
@given(data=st.data(), via=st.sampled_from(["phone_number", "conversation_id"]))
def test_nothing_invalid_reaches_the_server(
    props_server: Any, props_hook: Any, schemas: Schemas, kind: str, data: st.DataObject, via: str
) -> None:
    message = data.draw(SENT_BY_KIND[kind], label="message")
    props_server.reset()
    if via == "phone_number":
        recipient = {"phone_number": PHONE}
    else:
        # A conversation send requires `content` in both files, even for non-text types.
        recipient = {"conversation_id": props_server.create_conversation(PHONE)["id"]}

    try:
        record = props_hook.send_message(message, **recipient)
    except KapsoInvalidMessageError as error:
        assert props_server.requests == [], "a refused message still reached the server"
        assert_problems_name_fields(error.problems, message)
        return
    except KapsoAPIError as error:
        raise AssertionError(f"the models accepted a message the simulator refused: {error}") from error

    # One request, answered 201 with the stored record (a 422 would have raised KapsoValidationError).
    (request,) = props_server.requests
    assert request.method == "POST"
    assert [stored["id"] for stored in props_server.messages()] == [record["id"]]
    if via == "phone_number":
        schemas.check_phone_send(request.json)
    schemas.check_conversation_send(request.json)
