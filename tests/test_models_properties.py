"""Property-based tests of the message models: any input is either sent as a valid body or refused by field.

For every generated input, :func:`~kapso_provider.models.parse_message` either

- returns a model whose conversation-send body is valid against the conversation send of both
  ``openapi.yaml`` and ``openapi-whatsapp.yaml``, and whose phone-send body is valid against
  ``POST /whatsapp_messages`` of ``openapi-whatsapp.yaml``, or
- raises :class:`~kapso_provider.exceptions.KapsoInvalidMessageError` whose every line starts with the
  path of the field at fault,

and no other exception escapes. The inputs are mostly near-valid messages of each type with sizes around
each limit of :mod:`kapso_provider.models`, mutated with wrong types, unknown keys, ``None`` values and
unicode (emoji, astral characters, odd whitespace), plus arbitrary JSON-like values.

The strategies live in ``tests/_message_strategies.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.models import KapsoMessage, parse_message
from tests._message_strategies import (
    INPUTS_BY_KIND,
    NEAR_VALID_BY_TYPE,
    NEAR_VALID_MESSAGES,
    PHONE_NUMBERS,
    PROPERTY_SETTINGS,
    Schemas,
    assert_problems_name_fields,
)


def parse_or_problems(data: Any) -> KapsoMessage | list[str]:
    """The model, or the problem lines; any other exception escapes and fails the property."""
    try:
        return parse_message(data)
    except KapsoInvalidMessageError as error:
        return error.problems


def phone_body_or_problems(message: KapsoMessage, phone_number: Any) -> dict[str, Any] | list[str]:
    try:
        return message.to_body(phone_number=phone_number)
    except KapsoInvalidMessageError as error:
        return error.problems


def assert_json_safe(body: dict[str, Any]) -> None:
    # requests encodes with allow_nan=False: a NaN or a non-JSON type would fail at send time instead.
    assert json.loads(json.dumps(body, allow_nan=False)) == body


def check_message(schemas: Schemas, data: Any, phone_number: Any) -> bool:
    """The property itself; returns whether ``data`` was accepted."""
    outcome = parse_or_problems(data)
    if isinstance(outcome, list):
        assert_problems_name_fields(outcome, data)
        return False

    body = outcome.to_body()
    assert_json_safe(body)
    schemas.check_conversation_send(body)

    phone_outcome = phone_body_or_problems(outcome, phone_number)
    if isinstance(phone_outcome, list):
        assert [line.split(":")[0] for line in phone_outcome] == ["phone_number"], phone_outcome
        return True
    assert_json_safe(phone_outcome)
    schemas.check_phone_send(phone_outcome)
    # The phone send is the conversation send plus the number, nothing else.
    assert phone_outcome["message"] == {"phone_number": phone_number, **body["message"]}
    return True


@pytest.mark.parametrize("kind", sorted(INPUTS_BY_KIND))
@settings(PROPERTY_SETTINGS, max_examples=50)
@given(data=st.data())
def test_any_message_becomes_a_valid_body_or_is_refused_by_field(
    schemas: Schemas, kind: str, data: st.DataObject
) -> None:
    message = data.draw(INPUTS_BY_KIND[kind], label="message")
    phone_number = data.draw(PHONE_NUMBERS, label="phone_number")
    check_message(schemas, message, phone_number)


@settings(PROPERTY_SETTINGS, max_examples=100)
@given(data=NEAR_VALID_MESSAGES)
def test_a_sent_message_object_parses_back_to_itself(data: dict[str, Any]) -> None:
    # The operator and the simulator both re-read message objects: what the models send must be a message
    # they accept, unchanged (the content summary, once filled in, stays).
    outcome = parse_or_problems(data)
    if isinstance(outcome, list):
        return
    sent = outcome.to_message_object()
    assert parse_message(sent).to_message_object() == sent


@pytest.mark.parametrize("kind", sorted(NEAR_VALID_BY_TYPE))
def test_strategies_reach_both_outcomes(kind: str) -> None:
    # A generator whose examples were all refused (or all accepted) would make the properties above vacuous
    # for its message type.
    outcomes: set[bool] = set()

    @settings(PROPERTY_SETTINGS, max_examples=40)
    @given(data=NEAR_VALID_BY_TYPE[kind])
    def collect(data: dict[str, Any]) -> None:
        outcomes.add(isinstance(parse_or_problems(data), KapsoMessage))

    collect()
    assert outcomes == {True, False}
