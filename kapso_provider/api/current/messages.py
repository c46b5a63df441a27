"""Kapso's current API: sending through the WhatsApp Cloud API proxy, reading back through the Platform API.

A send is ``POST /meta/whatsapp/v24.0/{phone_number_id}/messages`` (``/marketing_messages`` for a marketing
template) with Meta's body, rendered from the neutral message models (:mod:`.bodies`). The proxy takes no
idempotency key either, so a send whose answer was lost is looked for before it goes again, among the
recipient's outbound messages the Platform API lists (``GET /platform/v1/whatsapp/messages`` filtered by the
sender's phone number id, the recipient and ``direction=outbound``, newest first); :mod:`.matching` decides
which one is this send's. The proxy's 409 "another message is already in-flight for this conversation" is
waited out and the send tried again (``SendPlan.busy``); 402 ``insufficient_credits``, 422 with a WhatsApp
error code and ``marketing_preference_stopped`` fail at once with the code and Kapso's text.

One message is read by its ``wamid`` (``GET /platform/v1/whatsapp/messages/{wamid}``, with ``kapso.status``
and its status history). Every message comes back as the provider's one record (:mod:`.records`). Each
definition has the name and parameters of :mod:`kapso_provider.api.v1.messages`; a v1-only argument
(``whatsapp_config_id``, ``customer_id``) is refused before any request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.api._unsupported import refuse_on_current
from kapso_provider.api.current._calls import mapped
from kapso_provider.api.current._wire import cursor_pages, platform_path, proxy_path, sender
from kapso_provider.api.current.records import conversation_record, message_record, phone_digits, sent_record
from kapso_provider.exceptions import (
    KapsoAPIError,
    KapsoArgumentError,
    KapsoAuthenticationError,
    KapsoConflictError,
    KapsoInvalidMessageError,
    KapsoNotFoundError,
)
from kapso_provider.models._limits import CALLBACK_DATA_MAX_CHARS
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Flow,
    FlowContext,
    Pager,
    Steps,
    data_object,
    request,
    whole_object,
)
from kapso_provider.transport.sending import SendPlan, find_sent, send
from kapso_provider.transport.wire import Request
from kapso_provider.validation import (
    check_choice,
    optional_bool,
    raise_problems,
    require_text,
    require_uuid,
)

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
    "mark_message_as_read",
    "send_message",
)

_SEND_FROM = "phone_number_id, the WhatsApp number to send from (or the connection's extra 'phone_number_id')"
_CONVERSATION_STATUSES = ("active", "ended")


# -- reading --------------------------------------------------------------------------------------------------


def _conversation_path(conversation_id: str) -> str:
    return platform_path(
        "whatsapp", "conversations", ("conversation_id", require_uuid("conversation_id", conversation_id))
    )


def get_conversation(conversation_id: str) -> Call[dict[str, Any]]:
    """Return one conversation record (``GET /platform/v1/whatsapp/conversations/{id}``).

    :param conversation_id: the conversation's id.
    """
    return Call(
        Request("GET", _conversation_path(conversation_id)),
        lambda body, req: conversation_record(data_object(body, req)),
    )


def list_conversations(
    *,
    phone_number: str | None = None,
    status: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    last_active_after: str | None = None,
    last_active_before: str | None = None,
    phone_number_id: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's conversations matching every given filter (``GET /platform/v1/whatsapp/conversations``).

    :param phone_number: the customer's number; the API matches part of it, so each record is checked digit
        for digit.
    :param status: ``active`` or ``ended``.
    :param whatsapp_config_id: API v1 only; give ``phone_number_id``.
    :param customer_id: API v1 only.
    :param last_active_after: ISO-8601 time; active after it.
    :param last_active_before: ISO-8601 time; active before it.
    :param phone_number_id: the WhatsApp number they run on (current API only).
    :param per_page: records per request, 1 to 100.
    """
    refuse_on_current(
        "phone_number_id, the WhatsApp number the conversations run on",
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
    )
    problems: list[str] = []
    check_choice(problems, "status", status, _CONVERSATION_STATUSES)
    raise_problems(problems)
    digits = phone_digits(phone_number) if phone_number is not None else None
    filters = {
        "phone_number_id": phone_number_id,
        "phone_number": digits,
        "status": status,
        "last_active_after": last_active_after,
        "last_active_before": last_active_before,
    }
    listing = cursor_pages(platform_path("whatsapp", "conversations"), filters, limit=per_page)

    def kept(record: dict[str, Any]) -> dict[str, Any] | None:
        if digits is not None and phone_digits(record.get("phone_number")) != digits:
            return None  # a number that merely contains the digits asked for
        return conversation_record(record)

    return mapped(listing, kept)


def _messages_listing(filters: Mapping[str, Any], *, limit: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    return mapped(cursor_pages(platform_path("whatsapp", "messages"), filters, limit=limit), message_record)


def list_messages(conversation_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    """Yield every message of a conversation, newest first (``GET /platform/v1/whatsapp/messages``).

    :param conversation_id: the conversation's id.
    :param per_page: records per request, 1 to 100.
    """
    return _messages_listing({"conversation_id": require_uuid("conversation_id", conversation_id)}, limit=per_page)


def get_message(conversation_id: str, message_id: str) -> Flow[dict[str, Any]]:
    """Return one message, read by WhatsApp's ``wamid`` (``GET /platform/v1/whatsapp/messages/{wamid}``).

    The record's ``status`` is Kapso's (``pending``, ``sent``, ``delivered``, ``read``, ``failed``); a
    failed message carries WhatsApp's ``errors`` from its status history.

    :param conversation_id: the conversation the message is in; checked against the message's own.
    :param message_id: the message's ``wamid`` (its ``id`` on the current API).
    :raises KapsoNotFoundError: no such message, or it is in another conversation.
    """
    path = platform_path("whatsapp", "messages", ("message_id", message_id))

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        req = Request("GET", path)
        record = message_record(data_object((yield from request(context, req)), req))
        held_by = record.get("whatsapp_conversation_id")
        if conversation_id and held_by and held_by != conversation_id:
            raise KapsoNotFoundError(
                status=None,
                method="GET",
                path=path,
                error_text=f"message {message_id!r} is in conversation {held_by!r}, not {conversation_id!r}",
            )
        return record

    return Flow(run)


def locate_message(
    message_id: str, *, phone_number: str, whatsapp_config_id: str | None = None
) -> Flow[dict[str, Any]]:
    """Find a message, and the conversation holding it: the message by ``wamid``, then its conversation.

    :param message_id: the message's ``wamid``.
    :param phone_number: the customer's number; checked against the message's.
    :param whatsapp_config_id: API v1 only.
    :returns: ``{"conversation": <conversation record>, "message": <message record>}``.
    :raises KapsoNotFoundError: no such message, or it is another number's.
    """
    refuse_on_current("nothing: a message is read by its wamid", whatsapp_config_id=whatsapp_config_id)
    require_text("phone_number", phone_number)
    reading = get_message("", message_id)

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        record = yield from reading.steps(context)
        held_by = record.get("whatsapp_conversation_id")
        if phone_digits(record.get("phone_number")) != phone_digits(phone_number) or not isinstance(held_by, str):
            raise KapsoNotFoundError(
                status=None,
                method="GET",
                path=platform_path("whatsapp", "messages", ("message_id", message_id)),
                error_text=f"message {message_id!r} is not one of that phone number's conversations",
            )
        conversation = yield from get_conversation(held_by).steps(context)
        return {"conversation": conversation, "message": record}

    return Flow(run)


# -- mark as read -------------------------------------------------------------------------------------------


def mark_message_as_read(
    message_id: str, *, typing_indicator: bool | None = None, phone_number_id: str | None = None
) -> Flow[dict[str, Any]]:
    """Mark an inbound message as read, and show the customer a typing indicator.

    ``POST /meta/whatsapp/v24.0/{phone_number_id}/messages`` with ``status: read``. The indicator shows
    until the next message or about 25 seconds; like API v1, it is shown unless ``typing_indicator`` is
    ``False``. Marking twice is harmless, so an ambiguous failure is retried.

    :param message_id: the inbound message's ``wamid``.
    :param typing_indicator: whether WhatsApp shows a typing indicator; ``None`` shows it, as v1 does.
    :param phone_number_id: the WhatsApp number the message came to (default: the connection's).
    :returns: the proxy's answer.
    """
    require_text("message_id", message_id)
    optional_bool("typing_indicator", typing_indicator)
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing_indicator is not False:
        body["typing_indicator"] = {"type": "text"}

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        number = sender(context, phone_number_id)
        req = Request("POST", proxy_path(("phone_number_id", number), "messages"), json=body, retry_ambiguous=True)
        return whole_object((yield from request(context, req)), req)

    return Flow(run)


# -- sending ------------------------------------------------------------------------------------------------


def _is_in_flight(exc: KapsoAPIError) -> bool:
    # The proxy's MessageInFlightError carries only its text; the other 409 (thread ownership) names a code.
    text = exc.error_text.lower()
    return isinstance(exc, KapsoConflictError) and ("in-flight" in text or "in flight" in text)


def _checked_send(
    message: KapsoMessage | Mapping[str, Any],
    *,
    conversation_id: str | None,
    phone_number: str | None,
    whatsapp_config_id: str | None,
    customer_id: str | None,
    phone_number_id: str | None,
    reply_to_message_id: str | None = None,
    biz_opaque_callback_data: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """The checked Meta body of a send (without recipient) and whether it goes to ``/marketing_messages``."""
    from kapso_provider.api.current.bodies import meta_body
    from kapso_provider.models import TemplateMessage, parse_message
    from kapso_provider.recipients import check_recipient

    refuse_on_current(_SEND_FROM, whatsapp_config_id=whatsapp_config_id, customer_id=customer_id)
    check_recipient(conversation_id=conversation_id, phone_number=phone_number, phone_number_id=phone_number_id)
    parsed = parse_message(message)
    body = {"messaging_product": "whatsapp", "recipient_type": "individual", **meta_body(parsed)}
    marketing = isinstance(parsed, TemplateMessage) and bool(parsed.marketing)
    problems: list[str] = []
    if reply_to_message_id is not None:
        require_text("reply_to_message_id", reply_to_message_id)
        if "context" in body:
            problems.append("reply_to_message_id: the message's body has a context already; give one of the two")
        elif marketing:
            problems.append("reply_to_message_id: a marketing template cannot reply to a message")
        body["context"] = {"message_id": reply_to_message_id}
    if biz_opaque_callback_data is not None:
        if not isinstance(biz_opaque_callback_data, str) or len(biz_opaque_callback_data) > CALLBACK_DATA_MAX_CHARS:
            size = len(biz_opaque_callback_data) if isinstance(biz_opaque_callback_data, str) else "not a string"
            problems.append(f"biz_opaque_callback_data: {size}, limit {CALLBACK_DATA_MAX_CHARS} characters")
        elif "biz_opaque_callback_data" in body:
            problems.append("biz_opaque_callback_data: the message's body has one already; give one of the two")
        body["biz_opaque_callback_data"] = biz_opaque_callback_data
    if problems:
        raise KapsoInvalidMessageError(problems)
    return body, marketing


def _recipient(
    context: FlowContext, conversation_id: str | None, phone_number: str | None, phone_number_id: str | None
) -> Steps[tuple[str, str]]:
    """``(sender's phone number id, recipient's number)``: a conversation's own, else the given ones."""
    if conversation_id is None:
        assert phone_number is not None  # check_recipient made sure one of the two is there
        return sender(context, phone_number_id), phone_number
    conversation = yield from get_conversation(conversation_id).steps(context)
    number = conversation.get("phone_number")
    if not number:
        raise KapsoArgumentError(
            f"conversation_id: conversation {conversation_id!r} has no phone number (a contact known only by a "
            "business-scoped user id); send by phone_number instead"
        )
    own_sender = conversation.get("phone_number_id")
    if own_sender and phone_number_id is not None and own_sender != phone_number_id:
        raise KapsoArgumentError(
            f"phone_number_id: {phone_number_id!r} differs from the WhatsApp number of conversation "
            f"{conversation_id!r}; leave phone_number_id out to send into the conversation"
        )
    return (own_sender or sender(context, phone_number_id)), str(number)


def _plan(body: dict[str, Any], marketing: bool, number_id: str, phone_number: str) -> SendPlan:
    from kapso_provider.api.current.matching import same_message
    from kapso_provider.arguments import parse_time

    to = "+" + phone_digits(phone_number)
    full_body = {**body, "to": phone_digits(phone_number)}
    endpoint = "marketing_messages" if marketing else "messages"
    # The Platform API matches part of the number: digits only, so "+1..." and "1..." both contain it.
    filters = {"phone_number_id": number_id, "phone_number": phone_digits(phone_number), "direction": "outbound"}
    return SendPlan(
        request=Request("POST", proxy_path(("phone_number_id", number_id), endpoint), json=full_body),
        read=lambda answer, req: sent_record(answer, req, body=full_body, phone_number=to, phone_number_id=number_id),
        matches=lambda record: same_message(record, body, to),
        candidates=lambda: _messages_listing(filters),
        created_at=lambda record: parse_time(record.get("created_at")),
        record_id=lambda record: record.get("id") if isinstance(record.get("id"), str) else None,
        describe="the recipient's outbound messages",
        busy=_is_in_flight,
    )


def send_message(
    message: KapsoMessage | Mapping[str, Any],
    *,
    conversation_id: str | None = None,
    phone_number: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    phone_number_id: str | None = None,
    reply_to_message_id: str | None = None,
    biz_opaque_callback_data: str | None = None,
) -> Flow[dict[str, Any]]:
    """Send one WhatsApp message through the proxy and return the message record.

    Exactly one of ``conversation_id`` and ``phone_number`` names the recipient; a conversation is read
    first for its number and its WhatsApp number. The message is rendered into Meta's body and checked
    against WhatsApp's limits before any request. A send whose answer was lost is looked for among the
    recipient's outbound messages before it goes again (``docs/reliability.md``).

    :param message: a model of :mod:`kapso_provider.models`, its fields as a dict, or a whole WhatsApp Cloud
        API body (a dict with ``type``).
    :param conversation_id: send to this conversation's customer, from its WhatsApp number.
    :param phone_number: send to this number in international format.
    :param whatsapp_config_id: API v1 only; give ``phone_number_id``.
    :param customer_id: API v1 only.
    :param phone_number_id: the WhatsApp number to send from (default: the connection's).
    :param reply_to_message_id: the ``wamid`` this message replies to (shown quoted).
    :param biz_opaque_callback_data: up to 512 characters of yours, echoed in status webhooks.
    :raises KapsoInvalidMessageError: the message or the recipient breaks a rule.
    :raises KapsoUnsupportedError: an argument only API v1 takes.
    """
    body, marketing = _checked_send(
        message,
        conversation_id=conversation_id,
        phone_number=phone_number,
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
        phone_number_id=phone_number_id,
        reply_to_message_id=reply_to_message_id,
        biz_opaque_callback_data=biz_opaque_callback_data,
    )

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        started = datetime.now(UTC)
        number_id, to = yield from _recipient(context, conversation_id, phone_number, phone_number_id)
        record = yield from send(context, _plan(body, marketing, number_id, to))
        if record.get("created_at") is None:
            # The proxy's answer states no time. The earliest time Kapso's clock can have shown when the send
            # began is at or before the message's own: "replies since this message" miss none.
            moment = context.clock.earliest_kapso_time(started)
            record["created_at"] = moment.isoformat().replace("+00:00", "Z") if moment is not None else None
        return record

    return Flow(run)


def find_sent_message(
    message: KapsoMessage | Mapping[str, Any],
    *,
    since: datetime,
    conversation_id: str | None = None,
    phone_number: str | None = None,
    whatsapp_config_id: str | None = None,
    customer_id: str | None = None,
    phone_number_id: str | None = None,
) -> Flow[dict[str, Any] | None]:
    """Look for the stored record of ``message`` sent to the recipient at or after ``since``.

    How a task retry after a worker died tells a message that went from one that never did: the recipient's
    outbound messages from the sender's number are read, newest first (at most ``reconcile_max_messages``),
    and one counts when it has the same type and content (:mod:`.matching`), was stored at or after
    ``since`` placed on Kapso's clock less the policy's ``clock_skew``, and no other send of this hook
    claimed it already.

    :param message: the message that was sent, as a model or a dict.
    :param since: when the first attempt to send it began, on this machine's clock (timezone-aware).
    :param conversation_id: the conversation it went to; or else
    :param phone_number: the number it went to.
    :param whatsapp_config_id: API v1 only.
    :param customer_id: API v1 only.
    :param phone_number_id: the WhatsApp number it went from (default: the connection's).
    :returns: the stored record, or ``None`` when no such message exists.
    """
    if not isinstance(since, datetime) or since.tzinfo is None:
        raise KapsoArgumentError(f"since: must be a timezone-aware datetime, got {since!r}")
    body, marketing = _checked_send(
        message,
        conversation_id=conversation_id,
        phone_number=phone_number,
        whatsapp_config_id=whatsapp_config_id,
        customer_id=customer_id,
        phone_number_id=phone_number_id,
    )

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        number_id, to = yield from _recipient(context, conversation_id, phone_number, phone_number_id)
        return (yield from find_sent(context, _plan(body, marketing, number_id, to), since=since))

    return Flow(run)


# -- the connection check -----------------------------------------------------------------------------------


def check_connection() -> Flow[dict[str, Any]]:
    """The cheapest read that proves the key and the phone number: the number's health check.

    ``GET /platform/v1/whatsapp/phone_numbers/{phone_number_id}/health`` for the connection's phone number
    id (one list read of the project's numbers when the connection names none). A refused key and an unknown
    phone number id fail with a text that says which of the two it was.
    """

    def run(context: FlowContext) -> Steps[dict[str, Any]]:
        if context.phone_number_id is None:
            req = Request("GET", platform_path("whatsapp", "phone_numbers"), params={"per_page": 1})
        else:
            req = Request(
                "GET",
                platform_path("whatsapp", "phone_numbers", ("phone_number_id", context.phone_number_id), "health"),
            )
        try:
            return whole_object((yield from request(context, req)), req)
        except KapsoAuthenticationError as exc:
            raise _explained(exc, "the API key was refused (check the connection's password)") from None
        except KapsoNotFoundError as exc:
            raise _explained(
                exc,
                f"the phone number id {context.phone_number_id!r} of the connection's extra 'phone_number_id' is "
                "not a number of this key's project",
            ) from None

    return Flow(run)


def _explained(exc: KapsoAPIError, what: str) -> KapsoAPIError:
    return type(exc)(status=exc.status, method=exc.method, path=exc.path, error_text=f"{what}: {exc.error_text}")
