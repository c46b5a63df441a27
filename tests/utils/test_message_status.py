"""Which message a status wait reads, from a send's record: only documented fields are required."""

from __future__ import annotations

from typing import Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.utils.message_status import MessageRef, message_ref


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # Kapso's documented record (WhatsappMessage): the customer's number, no conversation.
        ({"id": "m", "phone_number": "+1555"}, MessageRef("m", None, "+1555")),
        ({"whatsapp_message_id": "wamid.1", "phone_number": "+1555"}, MessageRef("wamid.1", None, "+1555")),
        # The conversation, where the record carries it, saves the lookup.
        (
            {"id": "m", "whatsapp_conversation_id": "c", "phone_number": "+1555"},
            MessageRef("m", "c", "+1555"),
        ),
        ({"id": "m", "whatsapp_conversation_id": "c"}, MessageRef("m", "c", None)),
    ],
)
def test_message_ref(record: dict[str, Any], expected: MessageRef) -> None:
    assert message_ref(record) == expected


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"phone_number": "+1555"}, "no 'id' or 'whatsapp_message_id'"),
        ({"id": "m"}, "neither 'whatsapp_conversation_id' nor 'phone_number'"),
        ({"id": "m", "phone_number": ""}, "neither"),
        (["m"], "got list"),
    ],
)
def test_unusable_records_name_the_field(record: Any, problem: str) -> None:
    with pytest.raises(KapsoArgumentError, match=f"^message: .*{problem}"):
        message_ref(record)
