"""API v1 contacts and their notes.

Both files define these endpoints alike, except the contact list: ``openapi-whatsapp.yaml`` (newer, more
specific for WhatsApp, followed here) declares its ``q[...]`` filters, ``openapi.yaml`` only the paging.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
    nothing,
    numbered_pages,
)
from kapso_provider.transport.sending import window_start
from kapso_provider.transport.wire import Request
from kapso_provider.validation import (
    check_text,
    is_uuid,
    path_segment,
    phone_digits_problem,
    phone_number_problem,
    raise_problems,
    require_aware_datetime,
)

if TYPE_CHECKING:
    from datetime import datetime

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_contact",
    "create_contact_note",
    "delete_contact_note",
    "find_contact_note",
    "get_contact",
    "get_contact_note",
    "list_contact_notes",
    "list_contacts",
    "update_contact",
    "update_contact_note",
)
# A phone number as people write it: what is neither a uuid nor this is taken as an id as given.
_PHONE_LIKE = re.compile(r"\+?[0-9 ().-]+")


def contact_identifier(contact: str) -> str:
    """The ``{identifier}`` path value for a contact given by its Kapso id or its phone number.

    The files take either in the path: "Contact ID (UUID) or phone number", e.g. ``1234567890``. A phone
    number is sent as its digits, the form of the contact's ``wa_id`` ("normalized phone number"), so
    ``+1 (555) 123-4567`` finds the contact whose ``wa_id`` is ``15551234567``.

    :param contact: a contact id, or a phone number in international format.
    :raises KapsoArgumentError: for an empty value or a number with too few or too many digits.
    """
    if not isinstance(contact, str) or not contact.strip():
        raise KapsoArgumentError(f"contact: must be a contact id or a phone number, got {contact!r}")
    value = contact.strip()
    if is_uuid(value) or not _PHONE_LIKE.fullmatch(value):
        return value
    problem = phone_digits_problem(value)
    if problem:
        raise KapsoArgumentError(f"contact: {problem}")
    return re.sub(r"\D", "", value)


def _contact_path(contact: str) -> str:
    return f"/whatsapp_contacts/{path_segment('contact', contact_identifier(contact))}"


def _note_path(contact: str, note_id: str) -> str:
    return f"{_contact_path(contact)}/notes/{path_segment('note_id', note_id)}"


def _check_metadata(problems: list[str], field: str, metadata: object) -> None:
    if metadata is not None and not isinstance(metadata, Mapping):
        problems.append(f"{field}: must be an object (a mapping), got {type(metadata).__name__}")


def _query_bool(value: bool) -> str:
    # The files declare these filters boolean; a query string carries JSON's spelling, not Python's.
    return "true" if value else "false"


def _note_fields(content: str | None, name: str | None, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    fields = {"name": name, "content": content, "metadata": dict(metadata) if metadata is not None else None}
    return {key: value for key, value in fields.items() if value is not None}


# Every endpoint taking ``contact`` accepts a contact id or a phone number (see contact_identifier).


def list_contacts(
    *,
    customer_id: str | None = None,
    external_customer_id: str | None = None,
    has_customer: bool | None = None,
    profile_name: str | None = None,
    phone_number: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's contacts matching every given filter, fetching one page at a time.

    :param customer_id: the customer the contacts belong to (``q[customer_id_eq]``).
    :param external_customer_id: that customer's id in your system (``q[customer_external_customer_id_eq]``).
    :param has_customer: ``False`` for sandbox contacts only (``q[customer_id_null]``), ``True`` for
        contacts with a customer only (``q[customer_id_not_null]``).
    :param profile_name: part of the WhatsApp profile name, any case (``q[profile_name_cont]``).
    :param phone_number: part of the phone number (``q[wa_id_cont]``); only its digits are sent.
    :param created_after: ISO-8601 time; created at or after it (``q[created_at_gteq]``).
    :param created_before: ISO-8601 time; created at or before it (``q[created_at_lteq]``).
    :param per_page: records per request, 1 to 100.
    :raises KapsoArgumentError: for a filter value the API cannot take, before any request.
    """
    problems: list[str] = []
    for field, value in (
        ("customer_id", customer_id),
        ("external_customer_id", external_customer_id),
        ("profile_name", profile_name),
        ("created_after", created_after),
        ("created_before", created_before),
    ):
        check_text(problems, field, value)
    digits = None
    if phone_number is not None:
        digits = re.sub(r"\D", "", phone_number) if isinstance(phone_number, str) else ""
        if not digits:
            problems.append(f"phone_number: must hold at least one digit, got {phone_number!r}")
    if has_customer is not None and not isinstance(has_customer, bool):
        problems.append(f"has_customer: must be True, False or None, got {has_customer!r}")
    raise_problems(problems)
    filters = {
        "q[customer_id_eq]": customer_id,
        "q[customer_external_customer_id_eq]": external_customer_id,
        "q[customer_id_not_null]": _query_bool(True) if has_customer is True else None,
        "q[customer_id_null]": _query_bool(True) if has_customer is False else None,
        "q[profile_name_cont]": profile_name,
        "q[wa_id_cont]": digits,
        "q[created_at_gteq]": created_after,
        "q[created_at_lteq]": created_before,
    }
    return numbered_pages("/whatsapp_contacts", filters, per_page=per_page)


def get_contact(contact: str) -> Call[dict[str, Any]]:
    """Return one contact record (``GET /whatsapp_contacts/{identifier}``).

    :param contact: the contact's id or phone number.
    """
    return Call(Request("GET", _contact_path(contact)), data_object)


def create_contact(
    phone_number: str,
    *,
    profile_name: str | None = None,
    customer_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Create a contact (``POST /whatsapp_contacts``) and return its record.

    Kapso refuses a second contact with the same number (422).

    :param phone_number: the contact's WhatsApp number in international format; sent as its digits,
        the contact's ``wa_id``.
    :param profile_name: the contact's name.
    :param customer_id: the customer the contact belongs to.
    :param metadata: free-form data kept with the contact.
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    problems: list[str] = []
    problem = phone_number_problem(phone_number)
    if problem:
        problems.append(f"phone_number: {problem}")
    check_text(problems, "profile_name", profile_name)
    check_text(problems, "customer_id", customer_id)
    _check_metadata(problems, "metadata", metadata)
    raise_problems(problems)
    contact: dict[str, Any] = {"wa_id": re.sub(r"\D", "", phone_number)}
    if profile_name is not None:
        contact["profile_name"] = profile_name
    if customer_id is not None:
        contact["customer_id"] = customer_id
    if metadata is not None:
        contact["metadata"] = dict(metadata)
    return Call(Request("POST", "/whatsapp_contacts", json={"contact": contact}), data_object)


def update_contact(
    contact: str,
    *,
    profile_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Change a contact's name or metadata (``PATCH /whatsapp_contacts/{identifier}``); returns the record.

    :param contact: the contact's id or phone number.
    :param profile_name: the new name.
    :param metadata: the new metadata object.
    :raises KapsoArgumentError: for a bad argument or when nothing is to change, before any request.
    """
    problems: list[str] = []
    check_text(problems, "profile_name", profile_name)
    _check_metadata(problems, "metadata", metadata)
    if profile_name is None and metadata is None:
        problems.append("contact: give profile_name or metadata to change")
    raise_problems(problems)
    changes: dict[str, Any] = {}
    if profile_name is not None:
        changes["profile_name"] = profile_name
    if metadata is not None:
        changes["metadata"] = dict(metadata)
    return Call(Request("PATCH", _contact_path(contact), json={"contact": changes}), data_object)


# -- notes --


def list_contact_notes(contact: str, *, per_page: int = MAX_PAGE_SIZE) -> Pager[dict[str, Any]]:
    """Yield every note of a contact, fetching one page at a time.

    :param contact: the contact's id or phone number.
    :param per_page: records per request, 1 to 100.
    """
    return numbered_pages(f"{_contact_path(contact)}/notes", per_page=per_page)


def get_contact_note(contact: str, note_id: str) -> Call[dict[str, Any]]:
    """Return one note of a contact.

    :param contact: the contact's id or phone number.
    :param note_id: the note's id.
    """
    return Call(Request("GET", _note_path(contact, note_id)), data_object)


def new_note(content: str | None, name: str | None, metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``note`` object of a new note, checked.

    :raises KapsoArgumentError: naming every bad argument.
    """
    problems: list[str] = []
    if content is None:
        problems.append("content: is required")
    check_text(problems, "content", content)
    check_text(problems, "name", name)
    _check_metadata(problems, "metadata", metadata)
    raise_problems(problems)
    return _note_fields(content, name, metadata)


def create_contact_note(
    contact: str,
    *,
    content: str,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Add a note to a contact (``POST /whatsapp_contacts/{identifier}/notes``) and return it.

    Not retried after an ambiguous failure (a second note would be a duplicate): :meth:`find_contact_note`
    tells whether it was stored.

    :param contact: the contact's id or phone number.
    :param content: the note's text.
    :param name: an optional title.
    :param metadata: free-form data kept with the note.
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    body = {"note": new_note(content, name, metadata)}
    return Call(Request("POST", f"{_contact_path(contact)}/notes", json=body), data_object)


def find_contact_note(
    contact: str,
    *,
    content: str,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    since: datetime,
) -> Flow[dict[str, Any] | None]:
    """A note of the contact with this content, name and metadata created at or after ``since``, or ``None``.

    This is how a task retry finds the note an earlier try stored: Kapso takes no idempotency key for a
    note. ``since`` is placed on Kapso's clock (measured from the ``Date`` header of its answers) less the
    retry policy's ``clock_skew``. Every page of the contact's notes is read.

    :param contact: the contact's id or phone number.
    :param content: the note's text.
    :param name: its title, if it has one.
    :param metadata: its metadata, if it has any (a note without metadata matches ``None`` and ``{}``).
    :param since: when the earlier try began, on this machine's clock (timezone-aware).
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    new_note(content, name, metadata)
    began = require_aware_datetime("since", since)
    listing = list_contact_notes(contact)
    expected = (content, name, dict(metadata or {}))

    def same(note: Mapping[str, Any]) -> bool:
        return (note.get("content"), note.get("name"), note.get("metadata") or {}) == expected

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        notes = yield from collect(context, listing)
        # Placed after the first answer, whose Date header tells Kapso's clock.
        window = window_start(context, began)
        for note in notes:
            created_at = parse_time(note.get("created_at"))
            if created_at is not None and created_at >= window and same(note):
                return note
        return None

    return Flow(run)


def update_contact_note(
    contact: str,
    note_id: str,
    *,
    content: str | None = None,
    name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Change a note's text, title or metadata and return the note.

    :param contact: the contact's id or phone number.
    :param note_id: the note's id.
    :param content: the new text.
    :param name: the new title.
    :param metadata: the new metadata object.
    :raises KapsoArgumentError: for a bad argument or when nothing is to change, before any request.
    """
    problems: list[str] = []
    check_text(problems, "content", content)
    check_text(problems, "name", name)
    _check_metadata(problems, "metadata", metadata)
    changes = _note_fields(content, name, metadata)
    if not changes and not problems:
        problems.append("note: give content, name or metadata to change")
    raise_problems(problems)
    return Call(Request("PATCH", _note_path(contact, note_id), json={"note": changes}), data_object)


def delete_contact_note(contact: str, note_id: str) -> Call[None]:
    """Delete a note of a contact (Kapso answers ``204 No Content``).

    :param contact: the contact's id or phone number.
    :param note_id: the note's id.
    :raises KapsoNotFoundError: the contact or the note does not exist.
    """
    return Call(Request("DELETE", _note_path(contact, note_id)), nothing)
