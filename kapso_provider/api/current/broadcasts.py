"""Current API: broadcasts (Platform API, ``/platform/v1/whatsapp/broadcasts``; alpha in Kapso's docs).

As on API v1, a broadcast is a draft campaign of one approved template sent from one number; recipients are
added in batches of at most ``MAX_RECIPIENTS_PER_REQUEST`` (Kapso skips duplicates), then one request starts
the send, which Kapso runs asynchronously. Here the number is a WhatsApp phone number id, the template is
Meta's template id, a recipient's parameters are Meta's template ``components``, and a broadcast can also be
scheduled, cancelled (while scheduled), stopped (while sending) and emptied of recipients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kapso_provider.api._unsupported import refuse_on_current
from kapso_provider.api.current._calls import contextual
from kapso_provider.api.current._wire import platform_path, sender
from kapso_provider.api.v1.broadcasts import check_broadcast_recipient, checked_batch
from kapso_provider.arguments import parse_time
from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Flow,
    FlowContext,
    Pager,
    Steps,
    collect,
    data_object,
    numbered_pages,
)
from kapso_provider.transport.sending import window_start
from kapso_provider.transport.wire import Request
from kapso_provider.validation import (
    check_choice,
    check_text,
    iso_datetime,
    normalized_phone,
    raise_problems,
    require_aware_datetime,
    require_uuid,
)

if TYPE_CHECKING:
    from datetime import datetime

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "add_broadcast_recipients",
    "cancel_broadcast",
    "clear_broadcast_recipients",
    "create_broadcast",
    "find_broadcast",
    "get_broadcast",
    "list_broadcast_recipients",
    "list_broadcasts",
    "schedule_broadcast",
    "send_broadcast",
    "stop_broadcast",
)

#: The ``status`` values of a broadcast. ``draft`` takes recipients, the send and the schedule; ``copying``
#: is a duplicate still copying its recipients; ``completed``, ``failed`` and ``stopped`` are final.
BROADCAST_STATUSES = ("draft", "scheduled", "copying", "sending", "stopped", "completed", "failed")
FINAL_BROADCAST_STATUSES = frozenset({"completed", "failed", "stopped"})
#: The ``type`` of a recipient's template component (lower case, as the file's enum has it).
COMPONENT_TYPES = ("header", "body", "button")


def _broadcast_path(broadcast_id: str | None = None, action: str | None = None) -> str:
    segments: list[tuple[str, str] | str] = ["whatsapp", "broadcasts"]
    if broadcast_id is not None:
        # The file declares broadcast ids ``format: uuid``.
        segments.append(("broadcast_id", require_uuid("broadcast_id", broadcast_id)))
    if action is not None:
        segments.append(action)
    return platform_path(*segments)


def _parameters_as_components(parameters: list[str] | dict[str, Any], where: str) -> list[dict[str, Any]]:
    """API v1's ``template_parameters`` as Meta's body component: a list is positional, a mapping named."""
    if isinstance(parameters, list):
        values = [{"type": "text", "text": value} for value in parameters]
    else:
        values = []
        for name, value in parameters.items():
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise KapsoArgumentError(
                    f"{where}.template_parameters.{name}: must be text (or a number) on Kapso's current API, got "
                    f"{type(value).__name__}; give media headers and buttons as 'components'"
                )
            values.append({"type": "text", "parameter_name": name, "text": str(value)})
    return [{"type": "body", "parameters": values}]


def _check_components(components: object, where: str) -> list[dict[str, Any]]:
    if isinstance(components, str | bytes) or not isinstance(components, Sequence) or not components:
        raise KapsoArgumentError(f"{where}.components: must be a non-empty list of Meta template components")
    problems: list[str] = []
    checked = []
    for index, component in enumerate(components):
        field = f"{where}.components[{index}]"
        if not isinstance(component, Mapping):
            problems.append(f"{field}: must be an object, got {type(component).__name__}")
            continue
        if component.get("type") is None:
            problems.append(f"{field}.type: is required ({', '.join(COMPONENT_TYPES)})")
        check_choice(problems, f"{field}.type", component.get("type"), COMPONENT_TYPES)
        parameters = component.get("parameters")
        if parameters is not None and (isinstance(parameters, str) or not isinstance(parameters, Sequence)):
            problems.append(f"{field}.parameters: must be a list of parameter objects")
        checked.append(dict(component))
    raise_problems(problems)
    return checked


def check_recipient(value: object, where: str) -> dict[str, Any]:
    """One recipient as a DAG gives it, checked for either generation; errors name ``where`` and the field.

    :param value: a phone number, or a mapping with ``phone_number`` and/or ``whatsapp_contact_id`` and
        either ``template_parameters`` (a list of positional values or a mapping of named ones) or
        ``components`` (Meta's template components; the current API only).
    :param where: how errors name the recipient (``recipients[3]``, ``people.jsonl line 4``).
    :returns: the recipient's fields, as given.
    :raises KapsoArgumentError: listing every problem.
    """
    components = None
    if isinstance(value, Mapping) and "components" in value:
        if value.get("template_parameters") is not None:
            raise KapsoArgumentError(f"{where}: give template_parameters or components, not both")
        components = _check_components(value["components"], where)
        value = {key: item for key, item in value.items() if key != "components"}
    recipient = check_broadcast_recipient(value, where)
    if components is not None:
        recipient["components"] = components
    return recipient


def broadcast_recipient(value: object, where: str) -> dict[str, Any]:
    """One recipient as the current API's add-recipients body takes it (see :func:`check_recipient`).

    ``template_parameters`` become Meta's body component (a list positional, a mapping named); the phone
    number is sent in E.164 with its ``+``.

    :raises KapsoArgumentError: listing every problem.
    """
    recipient = check_recipient(value, where)
    if recipient.get("whatsapp_contact_id") is not None:
        require_uuid(f"{where}.whatsapp_contact_id", recipient["whatsapp_contact_id"])
    if "phone_number" in recipient:
        # E.164 in the file ("+14155550123" in its examples).
        recipient["phone_number"] = normalized_phone(recipient["phone_number"])
    parameters = recipient.pop("template_parameters", None)
    if parameters is not None:
        recipient["components"] = _parameters_as_components(parameters, where)
    return recipient


def list_broadcasts(
    *,
    whatsapp_config_id: str | None = None,
    whatsapp_template_id: str | None = None,
    phone_number_id: str | None = None,
    status: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's broadcasts matching every given filter, page by page.

    :param whatsapp_config_id: API v1 only; refused here (use ``phone_number_id``).
    :param whatsapp_template_id: API v1 only (the file declares no template filter here); refused.
    :param phone_number_id: only broadcasts sent from this WhatsApp phone number id.
    :param status: only broadcasts in this status (``draft``, ``scheduled``, ``sending``, ``completed``...).
    :param per_page: records per request, 1 to 100.
    :raises KapsoArgumentError: for a filter value Kapso cannot take, before any request.
    """
    refuse_on_current(
        "phone_number_id (the sending number) or status",
        whatsapp_config_id=whatsapp_config_id,
        whatsapp_template_id=whatsapp_template_id,
    )
    problems: list[str] = []
    check_text(problems, "phone_number_id", phone_number_id)
    check_choice(problems, "status", status, BROADCAST_STATUSES)
    raise_problems(problems)
    filters = {"phone_number_id": phone_number_id, "status": status}
    return numbered_pages(_broadcast_path(), filters, per_page=per_page)


def get_broadcast(broadcast_id: str) -> Call[dict[str, Any]]:
    """Return one broadcast with its progress: ``status``, ``total_recipients`` and the ``*_count`` counters
    (``sent``, ``failed``, ``delivered``, ``read``, ``responded``, ``pending``, ``suppressed``).

    :param broadcast_id: the broadcast's id (a UUID).
    """
    return Call(Request("GET", _broadcast_path(broadcast_id)), data_object)


def create_broadcast(
    *,
    name: str,
    whatsapp_template_id: str,
    whatsapp_config_id: str | None = None,
    phone_number_id: str | None = None,
) -> Flow[dict[str, Any]]:
    """Create a draft broadcast and return its record (``POST /whatsapp/broadcasts``).

    Not retried after an ambiguous failure: a repeated create makes a second draft (list the broadcasts to
    find the first).

    :param name: the campaign's name.
    :param whatsapp_template_id: Meta's id of an approved template (the file also takes Kapso's template
        UUID, "legacy compatibility only").
    :param whatsapp_config_id: API v1 only; refused here (use ``phone_number_id``).
    :param phone_number_id: the WhatsApp phone number id to send from; the connection's by default.
    :raises KapsoArgumentError: for an empty argument, before any request.
    """
    refuse_on_current("phone_number_id, the number to send from", whatsapp_config_id=whatsapp_config_id)
    problems: list[str] = []
    check_text(problems, "name", name, required=True)
    check_text(problems, "whatsapp_template_id", whatsapp_template_id, required=True)
    raise_problems(problems)

    def build(context: FlowContext) -> Request:
        broadcast = {
            "name": name,
            "phone_number_id": sender(context, phone_number_id),
            "whatsapp_template_id": whatsapp_template_id,
        }
        return Request("POST", _broadcast_path(), json={"whatsapp_broadcast": broadcast})

    return contextual(build, data_object)


def find_broadcast(
    *,
    name: str,
    whatsapp_template_id: str,
    since: datetime,
    whatsapp_config_id: str | None = None,
    phone_number_id: str | None = None,
) -> Flow[dict[str, Any] | None]:
    """The newest broadcast of this name and template from this number created at or after ``since``, or ``None``.

    How a task retry, or a create whose answer was lost, finds the broadcast an earlier attempt made (Kapso
    takes no idempotency key): the number's broadcasts are listed (every page) and told apart by name,
    template (``whatsapp_template.id`` or ``.meta_template_id``) and creation time, ``since`` placed on Kapso's
    clock less the retry policy's ``clock_skew``.

    :param name: the broadcast's name.
    :param whatsapp_template_id: the template it sends (Meta's id, or Kapso's UUID).
    :param since: when the earlier attempt began, on this machine's clock (timezone-aware).
    :param whatsapp_config_id: API v1 only; give ``phone_number_id``.
    :param phone_number_id: the WhatsApp number it sends from; the connection's by default.
    :raises KapsoArgumentError: for an empty argument or a naive ``since``, before any request.
    """
    refuse_on_current("phone_number_id, the number the broadcast sends from", whatsapp_config_id=whatsapp_config_id)
    problems: list[str] = []
    check_text(problems, "name", name, required=True)
    check_text(problems, "whatsapp_template_id", whatsapp_template_id, required=True)
    raise_problems(problems)
    began = require_aware_datetime("since", since)

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        listing = list_broadcasts(phone_number_id=sender(context, phone_number_id))
        records = yield from collect(context, listing)
        # Placed after the first answer, whose Date header tells Kapso's clock.
        newest: dict[str, Any] | None = None
        newest_at = window_start(context, began)
        for record in records:
            template = record.get("whatsapp_template") or {}
            created_at = parse_time(record.get("created_at"))
            if (
                record.get("name") == name
                and whatsapp_template_id in (template.get("id"), template.get("meta_template_id"))
                and created_at is not None
                and created_at >= newest_at
            ):
                newest, newest_at = record, created_at
        return newest

    return Flow(run)


def add_broadcast_recipients(broadcast_id: str, recipients: Sequence[str | Mapping[str, Any]]) -> Call[dict[str, Any]]:
    """Add one batch of recipients to a draft broadcast with one request; return Kapso's summary.

    The summary is ``{"added": n, "duplicates": n, "errors": ["Recipient 3: ...", ...]}``: Kapso adds the valid
    recipients of a batch, skips those already in the broadcast and lists the others, so a 201 can still
    carry refused recipients.

    :param broadcast_id: the draft broadcast's id (a UUID).
    :param recipients: 1 to ``MAX_RECIPIENTS_PER_REQUEST`` recipients: phone numbers, or dicts with
        ``phone_number`` (or ``whatsapp_contact_id``) and optionally ``template_parameters`` (positional list
        or named mapping) or ``components`` (Meta's template components).
    :raises KapsoArgumentError: for an empty or too large batch or a malformed recipient, naming its index,
        before any request.
    """
    checked = checked_batch(recipients, broadcast_recipient)
    # Not repeated after an ambiguous failure, as on API v1: the file says duplicates are skipped but not what
    # makes two recipients duplicates; the broadcast service reads the recipients back instead.
    body = {"whatsapp_broadcast": {"recipients": checked}}
    return Call(Request("POST", _broadcast_path(broadcast_id, "recipients"), json=body), data_object)


def list_broadcast_recipients(broadcast_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    """Yield every recipient of a broadcast with its delivery status, page by page.

    Each record has ``phone_number`` (digits, no ``+``), ``status`` (``pending``, ``sent``, ``failed``,
    ``suppressed``: the contact stopped marketing messages, nothing was sent), the ``*_at`` times and, for a
    failure, ``error_message`` and ``error_details`` (Meta's ``code``...).

    :param broadcast_id: the broadcast's id (a UUID).
    :param per_page: records per request, 1 to 100.
    """
    return numbered_pages(_broadcast_path(broadcast_id, "recipients"), per_page=per_page)


def clear_broadcast_recipients(broadcast_id: str) -> Call[dict[str, Any]]:
    """Remove every recipient of a draft or scheduled broadcast; a scheduled one returns to ``draft``.

    Emptying is idempotent, so an ambiguous failure is retried.

    :param broadcast_id: the broadcast's id (a UUID).
    :returns: the broadcast record.
    """
    req = Request("DELETE", _broadcast_path(broadcast_id, "recipients"), retry_ambiguous=True)
    return Call(req, data_object)


def send_broadcast(broadcast_id: str) -> Call[dict[str, Any]]:
    """Start sending a draft broadcast now; return ``{"id", "status", "started_at", ...}`` (Kapso answers 202).

    Kapso sends asynchronously: poll :meth:`get_broadcast` for the counters. Not retried after an ambiguous
    failure: read the broadcast's ``status`` to learn whether it left ``draft``.

    :param broadcast_id: the draft broadcast's id (a UUID).
    """
    return Call(Request("POST", _broadcast_path(broadcast_id, "send")), data_object)


def schedule_broadcast(broadcast_id: str, *, scheduled_at: str | datetime) -> Call[dict[str, Any]]:
    """Schedule a draft broadcast for later (``POST .../schedule``, answered 202); current API only.

    :param broadcast_id: the draft broadcast's id (a UUID).
    :param scheduled_at: when to send, in the future: an aware datetime or ISO-8601 text with its zone.
    :raises KapsoArgumentError: for a time without a zone, before any request.
    """
    if scheduled_at is None:
        raise KapsoArgumentError("scheduled_at: is required")
    when = iso_datetime("scheduled_at", scheduled_at)
    return Call(Request("POST", _broadcast_path(broadcast_id, "schedule"), json={"scheduled_at": when}), data_object)


def cancel_broadcast(broadcast_id: str) -> Call[dict[str, Any]]:
    """Cancel a scheduled broadcast: it returns to ``draft`` (``POST .../cancel``); current API only.

    :param broadcast_id: the scheduled broadcast's id (a UUID).
    """
    # Not retried after an ambiguous failure: a second cancel of a broadcast back in draft is refused (422).
    return Call(Request("POST", _broadcast_path(broadcast_id, "cancel")), data_object)


def stop_broadcast(broadcast_id: str) -> Call[dict[str, Any]]:
    """Stop a broadcast while it sends (``PATCH /whatsapp/broadcasts/{id}`` with status ``stopped``).

    Recipients not reached yet stay unsent; ``stopped`` is final. Setting a status is idempotent, so an
    ambiguous failure is retried. Current API only.

    :param broadcast_id: the broadcast's id (a UUID).
    :returns: the broadcast record.
    """
    body = {"whatsapp_broadcast": {"status": "stopped"}}
    return Call(Request("PATCH", _broadcast_path(broadcast_id), json=body, retry_ambiguous=True), data_object)
