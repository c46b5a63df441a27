"""API v1: the customers' messages since a moment, for the inbound waits.

API v1 lists messages per conversation only, so this reads the conversations active since the moment
(``q[last_active_at_gteq]``) and then each one's messages: one request for the conversations, and one per
conversation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.api._unsupported import refuse_on_v1
from kapso_provider.api.v1.messages import list_conversations, list_messages
from kapso_provider.transport.flows import FlowContext, Item, ListingSteps, Pager, collect
from kapso_provider.validation import iso_datetime

if TYPE_CHECKING:
    from datetime import datetime

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = ("list_inbound_messages",)


def list_inbound_messages(
    *,
    since: str | datetime,
    whatsapp_config_id: str | None = None,
    phone_number: str | None = None,
    phone_number_id: str | None = None,
) -> Pager[dict[str, Any]]:
    """Yield each message a customer sent in the conversations active at or after ``since``, as
    ``{"message", "conversation"}``: Kapso's message record and the conversation record it was listed in.

    Messages older than ``since`` in those conversations are yielded too (the order of a conversation's
    messages is not documented): the caller's cursor tells them apart.

    :param since: ISO-8601 time with its zone, or an aware datetime.
    :param whatsapp_config_id: only conversations of this WhatsApp number (config id).
    :param phone_number: only this customer's conversations.
    :param phone_number_id: current API only (give ``whatsapp_config_id``).
    """
    refuse_on_v1(phone_number_id=phone_number_id)
    conversations = list_conversations(
        whatsapp_config_id=whatsapp_config_id, phone_number=phone_number, last_active_after=iso_datetime("since", since)
    )

    def run(context: FlowContext) -> ListingSteps[dict[str, Any]]:
        for conversation in (yield from collect(context, conversations)):
            for message in (yield from collect(context, list_messages(conversation["id"]))):
                if message.get("direction") == "inbound":
                    yield Item({"message": message, "conversation": conversation})

    return Pager(run)
