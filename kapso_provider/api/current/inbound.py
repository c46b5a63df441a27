"""Current API: the customers' messages since a moment, across every conversation, for the inbound waits.

One listing of the Platform API (``GET /platform/v1/whatsapp/messages?direction=inbound``, newest first,
cursor paging) answers what API v1 needs a conversation list and one message list per conversation for:
a poll is usually one request. The listing has no time filter, so reading stops at the first message older
than ``since``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.api._unsupported import refuse_on_current
from kapso_provider.api.current._wire import cursor_pages, platform_path
from kapso_provider.api.current.records import message_record, phone_digits
from kapso_provider.arguments import parse_time
from kapso_provider.transport.flows import FlowContext, Item, ListingSteps, Pager, scan
from kapso_provider.validation import iso_datetime, optional_string

if TYPE_CHECKING:
    from datetime import datetime

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = ("list_inbound_messages",)


def _conversation_of(record: dict[str, Any]) -> dict[str, Any]:
    """What a message record says of its conversation: the Platform API lists no conversation beside it."""
    return {
        "id": record.get("whatsapp_conversation_id"),
        "phone_number": record.get("phone_number"),
        "phone_number_id": record.get("phone_number_id"),
    }


def _customer_digits(phone_number: object) -> str | None:
    if phone_number is None:
        return None
    if isinstance(phone_number, int) and not isinstance(phone_number, bool):
        # Airflow 2's native rendering (render_template_as_native_obj) reads "+15551234567" as the number
        # 15551234567, whose digits are still the whole international number (API v1 sends it as it is).
        return str(phone_number)
    return phone_digits(optional_string("phone_number", phone_number))


def list_inbound_messages(
    *,
    since: str | datetime,
    whatsapp_config_id: str | None = None,
    phone_number: str | None = None,
    phone_number_id: str | None = None,
) -> Pager[dict[str, Any]]:
    """Yield each message a customer sent at or after ``since``, oldest first, as ``{"message", "conversation"}``.

    ``message`` is the provider's message record (:func:`~kapso_provider.api.current.records.message_record`:
    ``id`` is the ``wamid``, ``created_at`` Meta's timestamp, to the second); ``conversation`` names the
    conversation (``id``, ``phone_number``, ``phone_number_id``) as the message does.

    :param since: ISO-8601 time with its zone, or an aware datetime; older messages end the reading.
    :param whatsapp_config_id: API v1 only; give ``phone_number_id``.
    :param phone_number: only this customer's messages (the Platform API matches part of a number, so each
        record is checked digit for digit).
    :param phone_number_id: only messages to this WhatsApp number of the project (all of them by default).
    """
    refuse_on_current("phone_number_id, the WhatsApp number written to", whatsapp_config_id=whatsapp_config_id)
    start = parse_time(iso_datetime("since", since))
    if start is not None:
        # Meta's timestamps are whole seconds: a message of since's own second is not older than since.
        start = start.replace(microsecond=0)
    digits = _customer_digits(phone_number)
    filters = {"direction": "inbound", "phone_number_id": phone_number_id, "phone_number": digits or None}
    listing = cursor_pages(platform_path("whatsapp", "messages"), filters)

    def is_older(raw: dict[str, Any]) -> bool:
        created_at = parse_time(message_record(raw).get("created_at"))
        return created_at is not None and start is not None and created_at < start

    def run(context: FlowContext) -> ListingSteps[dict[str, Any]]:
        newest_first: list[dict[str, Any]] = []

        def keep(raw: dict[str, Any]) -> bool:
            # Newest first: the first record older than ``since`` ends the reading (no request for more pages).
            if is_older(raw):
                return True
            newest_first.append(message_record(raw))
            return False

        yield from scan(context, listing, keep)
        # Oldest first, the order in which they arrived: Meta's timestamps are whole seconds, so within one
        # second the listing's order is the only one there is.
        for record in reversed(newest_first):
            if digits is None or phone_digits(record.get("phone_number")) == digits:
                yield Item({"message": record, "conversation": _conversation_of(record)})

    return Pager(run)
