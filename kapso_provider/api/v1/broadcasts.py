"""API v1 broadcasts and their recipients (``/whatsapp_broadcasts``, ``openapi-platform.yaml``).

A broadcast is a draft campaign tied to one WhatsApp config and one approved template; recipients are
added to the draft in batches of at most ``MAX_RECIPIENTS_PER_REQUEST``, then one request starts the
send, which Kapso runs asynchronously. Only ``openapi-platform.yaml`` defines these endpoints. It has no
endpoint to schedule a broadcast for later, to delete one or to remove a recipient, so neither has this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

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
    check_text,
    path_segment,
    phone_number_problem,
    raise_problems,
    require_aware_datetime,
)

if TYPE_CHECKING:
    from datetime import datetime

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "add_broadcast_recipients",
    "create_broadcast",
    "find_broadcast",
    "get_broadcast",
    "list_broadcast_recipients",
    "list_broadcasts",
    "send_broadcast",
)

#: ``maxItems`` of the ``recipients`` array of ``POST /whatsapp_broadcasts/{id}/recipients``; the
#: operation's description ("up to 1,000 recipients per request") and its 422 example agree.
MAX_RECIPIENTS_PER_REQUEST = 1000
#: The ``status`` values of ``WhatsappBroadcast``. ``draft`` takes recipients and the send; the send moves
#: it to ``sending``; ``completed`` and ``failed`` are final.
BROADCAST_STATUSES = ("draft", "sending", "completed", "failed")
FINAL_BROADCAST_STATUSES = frozenset({"completed", "failed"})
_RECIPIENT_KEYS = frozenset({"phone_number", "whatsapp_contact_id", "template_parameters"})


def broadcasts_path(broadcast_id: str | None = None, action: str | None = None) -> str:
    """``/whatsapp_broadcasts``, ``/whatsapp_broadcasts/{id}`` or ``/whatsapp_broadcasts/{id}/{action}``."""
    path = "/whatsapp_broadcasts"
    if broadcast_id is not None:
        path += f"/{path_segment('broadcast_id', broadcast_id)}"
    if action is not None:
        path += f"/{action}"
    return path


def template_parameters_problem(value: object) -> str | None:
    """Why ``value`` is not a ``template_parameters`` the files allow, or ``None`` when it is.

    ``WhatsappBroadcastRecipientInput.template_parameters`` is ``oneOf`` an array of strings (positional) or
    an object (named; ``additionalProperties: true``, so any JSON values, media header keys included).
    """
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            return "an object's keys must be parameter names (strings)"
        return None
    if isinstance(value, list | tuple):
        if not all(isinstance(item, str) for item in value):
            return "a list must hold strings only (positional parameters)"
        return None
    return f"must be a list of strings or an object of named values, got {type(value).__name__}"


def check_broadcast_recipient(value: object, where: str) -> dict[str, Any]:
    """One recipient as ``WhatsappBroadcastRecipientInput``, checked; errors name ``where`` and the field.

    :param value: a phone number, or a mapping with ``phone_number`` and/or ``whatsapp_contact_id`` and
        optionally ``template_parameters``.
    :param where: how errors name the recipient (``recipients[3]``, ``people.jsonl line 4``).
    :raises KapsoArgumentError: listing every problem.
    """
    if isinstance(value, str):
        value = {"phone_number": value}
    if not isinstance(value, Mapping):
        raise KapsoArgumentError(
            [f"{where}: expected a phone number or a dict with phone_number, got {type(value).__name__}"]
        )
    problems = []
    unknown = sorted(str(key) for key in value if key not in _RECIPIENT_KEYS)
    if unknown:
        problems.append(
            f"{where}: unknown field(s) {', '.join(unknown)}; a broadcast recipient takes "
            f"{', '.join(sorted(_RECIPIENT_KEYS))}"
        )
    phone_number = value.get("phone_number")
    contact_id = value.get("whatsapp_contact_id")
    if phone_number is None and contact_id is None:
        problems.append(f"{where}: give phone_number or whatsapp_contact_id")
    if phone_number is not None:
        problem = phone_number_problem(phone_number)
        if problem:
            problems.append(f"{where}.phone_number: {problem}")
    if contact_id is not None and (not isinstance(contact_id, str) or not contact_id.strip()):
        problems.append(f"{where}.whatsapp_contact_id: must be a non-empty string, got {contact_id!r}")
    parameters = value.get("template_parameters")
    if parameters is not None:
        problem = template_parameters_problem(parameters)
        if problem:
            problems.append(f"{where}.template_parameters: {problem}")
    if problems:
        raise KapsoArgumentError(problems)
    recipient: dict[str, Any] = {}
    if phone_number is not None:
        recipient["phone_number"] = phone_number
    if contact_id is not None:
        recipient["whatsapp_contact_id"] = contact_id
    if parameters is not None:
        recipient["template_parameters"] = (
            dict(parameters) if isinstance(parameters, Mapping) else [str(item) for item in parameters]
        )
    return recipient


# Writes are never repeated after an ambiguous failure (the transport's rule): Kapso takes no idempotency
# key here either, and a repeated create makes a second draft. kapso_provider.services.broadcasts shows how
# to reconcile instead.


def list_broadcasts(
    *,
    whatsapp_config_id: str | None = None,
    whatsapp_template_id: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's broadcasts matching every given filter, page by page, most recent first.

    :param whatsapp_config_id: only broadcasts from this WhatsApp config (``q[whatsapp_config_id_eq]``).
    :param whatsapp_template_id: only broadcasts of this template (``q[whatsapp_template_id_eq]``).
    :param per_page: records per request, 1 to 100.
    """
    filters = {
        "q[whatsapp_config_id_eq]": whatsapp_config_id,
        "q[whatsapp_template_id_eq]": whatsapp_template_id,
    }
    return numbered_pages(broadcasts_path(), filters, per_page=per_page)


def get_broadcast(broadcast_id: str) -> Call[dict[str, Any]]:
    """Return one broadcast with its progress: ``status``, ``total_recipients``, the ``*_count`` fields.

    :param broadcast_id: the broadcast's id.
    """
    return Call(Request("GET", broadcasts_path(broadcast_id)), data_object)


def check_broadcast(name: object, whatsapp_config_id: object, whatsapp_template_id: object) -> None:
    """Check what names a broadcast: its name, config and template, each a non-empty string.

    :raises KapsoArgumentError: naming every field at fault.
    """
    problems: list[str] = []
    for field, value in (
        ("name", name),
        ("whatsapp_config_id", whatsapp_config_id),
        ("whatsapp_template_id", whatsapp_template_id),
    ):
        check_text(problems, field, value, required=True)
    raise_problems(problems)


def create_broadcast(*, name: str, whatsapp_config_id: str, whatsapp_template_id: str) -> Call[dict[str, Any]]:
    """Create a draft broadcast and return its record (``POST /whatsapp_broadcasts``).

    Kapso requires a production config and an approved template linked to it (a 422 otherwise).

    :param name: the campaign's name.
    :param whatsapp_config_id: the WhatsApp config (business number) to send from.
    :param whatsapp_template_id: the template's Kapso id.
    :raises KapsoArgumentError: for an empty argument, before any request.
    """
    check_broadcast(name, whatsapp_config_id, whatsapp_template_id)
    body = {
        "whatsapp_broadcast": {
            "name": name,
            "whatsapp_config_id": whatsapp_config_id,
            "whatsapp_template_id": whatsapp_template_id,
        }
    }
    return Call(Request("POST", broadcasts_path(), json=body), data_object)


def find_broadcast(
    *, name: str, whatsapp_config_id: str, whatsapp_template_id: str, since: datetime
) -> Flow[dict[str, Any] | None]:
    """The newest broadcast of this name, config and template created at or after ``since``, or ``None``.

    This is how a task retry, or a create whose answer was lost, finds the broadcast an earlier attempt
    made: Kapso takes no idempotency key for a broadcast, and a broadcast has no field of the caller's to
    tag it with, so its name, config, template and creation time tell it from the others. ``since`` is
    placed on Kapso's clock (measured from the ``Date`` header of its answers) less the retry policy's
    ``clock_skew``. Every page of the config's and template's broadcasts is read: the list is documented
    as most recent first, but that order is not relied on.

    :param name: the broadcast's name.
    :param whatsapp_config_id: the WhatsApp config it sends from.
    :param whatsapp_template_id: the template it sends.
    :param since: when the earlier attempt began, on this machine's clock (timezone-aware).
    :raises KapsoArgumentError: for an empty argument or a naive ``since``, before any request.
    """
    check_broadcast(name, whatsapp_config_id, whatsapp_template_id)
    began = require_aware_datetime("since", since)
    listing = list_broadcasts(whatsapp_config_id=whatsapp_config_id, whatsapp_template_id=whatsapp_template_id)

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        records = yield from collect(context, listing)
        # Placed after the first answer, whose Date header tells Kapso's clock.
        window = window_start(context, began)
        newest: dict[str, Any] | None = None
        newest_at = window
        for record in records:
            created_at = parse_time(record.get("created_at"))
            if record.get("name") == name and created_at is not None and created_at >= newest_at:
                newest, newest_at = record, created_at
        return newest

    return Flow(run)


def add_broadcast_recipients(broadcast_id: str, recipients: Sequence[str | Mapping[str, Any]]) -> Call[dict[str, Any]]:
    """Add one batch of recipients to a draft broadcast with one request; return Kapso's summary.

    The summary is ``{"added": n, "duplicates": n, "errors": ["Recipient 3: ...", ...]}``: Kapso adds the
    valid recipients of a batch and lists the others, so a 201 can still carry refused recipients.

    :param broadcast_id: the draft broadcast's id.
    :param recipients: 1 to ``MAX_RECIPIENTS_PER_REQUEST`` recipients: phone numbers, or dicts with
        ``phone_number`` (or ``whatsapp_contact_id``) and optionally ``template_parameters`` (a list of
        strings for positional parameters, or an object of named values).
    :raises KapsoArgumentError: for an empty or too large batch or a malformed recipient, naming
        its index, before any request.
    """
    if isinstance(recipients, str | bytes) or not isinstance(recipients, Sequence):
        raise KapsoArgumentError([f"recipients: expected a list, got {type(recipients).__name__}"])
    if not 1 <= len(recipients) <= MAX_RECIPIENTS_PER_REQUEST:
        raise KapsoArgumentError(
            [
                f"recipients: {len(recipients)} in one request; Kapso takes 1 to "
                f"{MAX_RECIPIENTS_PER_REQUEST} per request (split them into batches)"
            ]
        )
    problems: list[str] = []
    checked = []
    for index, value in enumerate(recipients):
        try:
            checked.append(check_broadcast_recipient(value, f"recipients[{index}]"))
        except KapsoArgumentError as exc:
            problems.extend(exc.problems)
    if problems:
        raise KapsoArgumentError(problems)
    return Call(Request("POST", broadcasts_path(broadcast_id, "recipients"), json={"recipients": checked}), data_object)


def list_broadcast_recipients(broadcast_id: str, *, per_page: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    """Yield every recipient of a broadcast with its delivery status, page by page.

    Each record has ``phone_number`` (digits, no ``+``), ``status`` (``pending``, ``sent``, ``failed``),
    the ``*_at`` times and, for a failure, ``error_message`` and ``error_details``.

    :param broadcast_id: the broadcast's id.
    :param per_page: records per request, 1 to 100.
    """
    return numbered_pages(broadcasts_path(broadcast_id, "recipients"), per_page=per_page)


def send_broadcast(broadcast_id: str) -> Call[dict[str, Any]]:
    """Start sending a draft broadcast that has recipients; return ``{"id", "status", "started_at"}``.

    Kapso sends asynchronously: poll :meth:`get_broadcast` for progress. A broadcast that is not a draft
    any more (already sending or done) answers 422.

    :param broadcast_id: the draft broadcast's id.
    """
    # The operation declares no request body, so none is sent.
    return Call(Request("POST", broadcasts_path(broadcast_id, "send")), data_object)
