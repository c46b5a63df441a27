"""API v1 messages and conversations: send (exactly once), find a lost send, list and read, template sends.

Sends go to ``POST /whatsapp_conversations/{id}/whatsapp_messages`` (into a conversation) or ``POST
/whatsapp_messages`` (to a phone number, which finds or opens the conversation). v1 has no endpoint that
reads one message: a message is found by listing its conversation, and a lost send by listing the
recipient's conversations and their messages.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoArgumentError, KapsoNotFoundError
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Flow,
    FlowContext,
    ListingSteps,
    Pager,
    Steps,
    collect,
    data_object,
    numbered_pages,
    scan,
    take,
    whole_object,
)
from kapso_provider.transport.sending import SendPlan, find_sent, send
from kapso_provider.transport.wire import Request
from kapso_provider.validation import normalized_phone, path_segment

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.models import KapsoMessage

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "check_connection",
    "find_sent_message",
    "get_conversation",
    "get_message",
    "list_conversations",
    "list_messages",
    "locate_message",
    "send_message",
    "send_template",
)


def _conversation_path(conversation_id: str) -> str:
    return f"/whatsapp_conversations/{path_segment('conversation_id', conversation_id)}"


def _messages_path(conversation_id: str) -> str:
    return f"{_conversation_path(conversation_id)}/whatsapp_messages"


def _parse_time(value: Mapping[str, Any]) -> datetime | None:
    from kapso_provider.arguments import parse_time

    return parse_time(value.get("created_at"))


def _record_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    return value if isinstance(value, str) else None


def plan_send(
    message: KapsoMessage | Mapping[str, Any],
    *,
    conversation_id: str | None,
    phone_number: str | None,
    whatsapp_config_id: str | None,
    customer_id: str | None,
) -> SendPlan:
    """Check a send's message and recipient (no I/O) and describe how it is sent and found again."""
    from kapso_provider.models import parse_message
    from kapso_provider.recipients import check_recipient

    check_recipient(
        conversation_id=conversation_id,
        phone_number=phone_number,
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
    )
    parsed = parse_message(message)
    expected = parsed.to_message_object()
    if phone_number is not None:
        # One spelling for one person: "+1 (555) 123-0001" goes out, and is looked for, as "+15551230001".
        phone_number = normalized_phone(phone_number)
    if conversation_id is not None:
        request = Request("POST", _messages_path(conversation_id), json=parsed.to_body())
        describe = "the conversation"
    else:
        request = Request(
            "POST",
            "/whatsapp_messages",
            params={"whatsapp_config_id": whatsapp_config_id, "customer_id": customer_id},
            json=parsed.to_body(phone_number=phone_number),
        )
        describe = "the conversation"

    def matches(record: Mapping[str, Any]) -> bool:
        return (
            record.get("direction") == "outbound"
            and record.get("message_type") == expected["message_type"]
            and record.get("content") == expected["content"]
        )

    def candidates() -> Pager[dict[str, Any]]:
        return _recipient_messages(
            conversation_id=conversation_id,
            phone_number=phone_number,
            whatsapp_config_id=whatsapp_config_id,
            customer_id=customer_id,
        )

    return SendPlan(
        request=request,
        read=data_object,
        matches=matches,
        candidates=candidates,
        created_at=_parse_time,
        record_id=_record_id,
        describe=describe,
    )


def _recipient_messages(
    *,
    conversation_id: str | None,
    phone_number: str | None,
    whatsapp_config_id: str | None,
    customer_id: str | None,
) -> Pager[dict[str, Any]]:
    """The messages where a send to this recipient would be stored: up to the reconciliation budget each."""

    def run(context: FlowContext) -> ListingSteps[dict[str, Any]]:
        if conversation_id is not None:
            conversation_ids = [conversation_id]
        else:
            listed = list_conversations(
                phone_number=phone_number, whatsapp_config_id=whatsapp_config_id, customer_id=customer_id
            )
            conversation_ids = [record["id"] for record in (yield from collect(context, listed))]
        for candidate in conversation_ids:
            try:
                yield from take(context, list_messages(candidate), limit=context.policy.reconcile_max_messages)
            except KapsoNotFoundError:
                continue  # the conversation does not exist, so nothing was stored in it

    return Pager(run)


def send_message(
    message: KapsoMessage | Mapping[str, Any],
    *,
    conversation_id: str | None = None,
    phone_number: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
) -> Flow[dict[str, Any]]:
    """Send one WhatsApp message and return Kapso's message record.

    Exactly one of ``conversation_id`` and ``phone_number`` names the recipient. The message is checked
    against WhatsApp's limits before any request is made. A send whose answer was lost is never repeated
    blindly: Kapso is read back first and a stored message that is provably this send's is returned instead
    (``docs/reliability.md``).

    :param message: a model from :mod:`kapso_provider.models`, or the v1 ``message`` object as a dict.
    :param conversation_id: send into this conversation
        (``POST /whatsapp_conversations/{id}/whatsapp_messages``).
    :param phone_number: send to this number in international format (``POST /whatsapp_messages``),
        which finds or opens the conversation.
    :param whatsapp_config_id: with ``phone_number``, the WhatsApp number to send from.
    :param customer_id: with ``phone_number``, the customer whose WhatsApp number to send from.
    :raises KapsoInvalidMessageError: the message or the recipient arguments break a rule.
    """
    plan = plan_send(
        message,
        conversation_id=conversation_id,
        phone_number=phone_number,
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
    )
    return Flow(lambda context: send(context, plan))


def find_sent_message(
    message: KapsoMessage | Mapping[str, Any],
    *,
    since: datetime,
    conversation_id: str | None = None,
    phone_number: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
) -> Flow[dict[str, Any] | None]:
    """Look for the stored record of ``message`` sent to the recipient at or after ``since``.

    This is how a send whose answer was lost, or a task retry after a worker died, is told apart from a send
    that never happened: Kapso takes no idempotency key. A record counts when it is outbound, of the same
    type and content, and stored at or after ``since`` placed on Kapso's clock (measured from the ``Date``
    header of its answers) less the retry policy's ``clock_skew``; and when no other send of this hook
    claimed it already. At most ``reconcile_max_messages`` messages of each conversation are read.

    :param message: the message that was sent, as a model or a dict.
    :param since: when the first attempt to send it began, on this machine's clock (timezone-aware).
    :param conversation_id: the conversation it went to; or else
    :param phone_number: the number it went to, whose conversations are searched (optionally narrowed
        by ``whatsapp_config_id`` or ``customer_id``).
    :param whatsapp_config_id: with ``phone_number``, narrows the conversations searched.
    :param customer_id: with ``phone_number``, narrows the conversations searched.
    :returns: the stored record, or ``None`` when no such message exists (or no conversation does).
    """
    if not isinstance(since, datetime) or since.tzinfo is None:
        raise KapsoArgumentError(f"since: must be a timezone-aware datetime, got {since!r}")
    plan = plan_send(
        message,
        conversation_id=conversation_id,
        phone_number=phone_number,
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
    )
    return Flow(lambda context: find_sent(context, plan, since=since))


def send_template(
    template_id: str,
    *,
    phone_number: str,
    template_parameters: list[str] | Mapping[str, str] | None = None,
    header_type: str | None = None,
    header_params: str | None = None,
    header_filename: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    button_url_params: Mapping[str, str] | None = None,
) -> Call[dict[str, Any]]:
    """Send an approved template by its Kapso id (``POST /whatsapp_templates/{id}/send_template``).

    Kapso answers this endpoint with a summary of the send, not a message record; it is returned as is.
    Not reconciled: the summary names no message to look for, so an ambiguous failure is raised.

    :param template_id: the template's Kapso id.
    :param phone_number: the recipient in international format.
    :param template_parameters: positional values (a list) or named values (a mapping).
    :param header_type: ``text``, ``image``, ``video`` or ``document``.
    :param header_params: header text, or the media URL for a media header.
    :param header_filename: file name of a document header.
    :param whatsapp_config_id: the WhatsApp number to send from.
    :param customer_id: the customer whose WhatsApp number to send from.
    :param button_url_params: values of dynamic URL buttons, by button index.
    """
    from kapso_provider.recipients import check_template_send

    template = check_template_send(
        phone_number=phone_number,
        template_parameters=template_parameters,
        header_type=header_type,
        header_params=header_params,
        header_filename=header_filename,
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
        button_url_params=button_url_params,
    )
    path = f"/whatsapp_templates/{path_segment('template_id', template_id)}/send_template"
    return Call(Request("POST", path, json={"template": template}), whole_object)


def list_messages(conversation_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    """Yield every message of a conversation, page by page. Kapso documents no order for this list.

    :param conversation_id: the conversation's id.
    :param per_page: records per request, 1 to 100.
    """
    return numbered_pages(_messages_path(conversation_id), per_page=per_page)


def _is_message(record: Mapping[str, Any], message_id: str) -> bool:
    """Whether a listed record is the message ``message_id`` (Kapso's id or WhatsApp's ``wamid``)."""
    return message_id in (record.get("id"), record.get("whatsapp_message_id"))


def get_message(conversation_id: str, message_id: str) -> Flow[dict[str, Any]]:
    """Return one message of a conversation, found by Kapso's id or by WhatsApp's ``wamid``.

    Kapso v1 has no endpoint that reads one message, so this lists the conversation's messages (page by
    page, stopping at the match). Its ``status`` tells how far delivery got: ``sent``, ``delivered``,
    ``read`` or ``failed``.

    :param conversation_id: the conversation the message is in.
    :param message_id: the message's ``id`` or its ``whatsapp_message_id``.
    :raises KapsoNotFoundError: the conversation does not exist or holds no such message.
    """
    listing = list_messages(conversation_id)

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        found = yield from scan(context, listing, lambda record: _is_message(record, message_id))
        if found is None:
            raise KapsoNotFoundError(
                status=None,
                method="GET",
                path=_messages_path(conversation_id),
                error_text=f"message {message_id!r} is not in conversation {conversation_id!r}",
            )
        return found

    return Flow(run)


def locate_message(
    message_id: str, *, phone_number: str, whatsapp_config_id: str | None = None
) -> Flow[dict[str, Any]]:
    """Find a message, and the conversation holding it, from the customer's number.

    Kapso's message record documents the customer's ``phone_number`` but not the conversation
    (``WhatsappMessage`` in both OpenAPI files has no ``whatsapp_conversation_id``), so this lists the
    number's conversations (``q[phone_number_eq]``) and reads each one's messages until the id appears.

    :param message_id: the message's ``id`` or its ``whatsapp_message_id``.
    :param phone_number: the customer's number, as the message record carries it.
    :param whatsapp_config_id: narrows the conversations to one WhatsApp number.
    :returns: ``{"conversation": <conversation record>, "message": <message record>}``.
    :raises KapsoNotFoundError: no conversation of the number holds the message.
    """
    from kapso_provider.validation import require_text

    require_text("message_id", message_id)
    require_text("phone_number", phone_number)
    conversations = list_conversations(phone_number=phone_number, whatsapp_config_id=whatsapp_config_id)

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        for conversation in (yield from collect(context, conversations)):
            found = yield from scan(context, list_messages(conversation["id"]), lambda r: _is_message(r, message_id))
            if found is not None:
                return {"conversation": conversation, "message": found}
        raise KapsoNotFoundError(
            status=None,
            method="GET",
            path="/whatsapp_conversations",
            error_text=f"no conversation of that phone number holds message {message_id!r}",
        )

    return Flow(run)


def list_conversations(
    *,
    phone_number: str | None = None,
    status: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    last_active_after: str | None = None,
    last_active_before: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's conversations matching every given filter, page by page.

    :param phone_number: the customer's number (``q[phone_number_eq]``).
    :param status: ``active`` or ``ended`` (``q[status_eq]``).
    :param whatsapp_config_id: the WhatsApp number they run on (``q[whatsapp_config_id_eq]``).
    :param customer_id: the customer owning that number (``q[whatsapp_config_customer_id_eq]``).
    :param last_active_after: ISO-8601 time; active at or after it (``q[last_active_at_gteq]``).
    :param last_active_before: ISO-8601 time; active at or before it (``q[last_active_at_lteq]``).
    :param per_page: records per request, 1 to 100.
    """
    filters = {
        "q[phone_number_eq]": phone_number,
        "q[status_eq]": status,
        "q[whatsapp_config_id_eq]": whatsapp_config_id,
        "q[whatsapp_config_customer_id_eq]": customer_id,
        "q[last_active_at_gteq]": last_active_after,
        "q[last_active_at_lteq]": last_active_before,
    }
    return numbered_pages("/whatsapp_conversations", filters, per_page=per_page)


def get_conversation(conversation_id: str) -> Call[dict[str, Any]]:
    """Return one conversation record.

    :param conversation_id: the conversation's id.
    """
    return Call(Request("GET", _conversation_path(conversation_id)), data_object)


def check_connection() -> Call[dict[str, Any]]:
    """The cheapest read that proves the key: one WhatsApp config (``GET /whatsapp_configs``)."""
    return Call(Request("GET", "/whatsapp_configs", params={"page": 1, "per_page": 1}), whole_object)
