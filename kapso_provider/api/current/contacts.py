"""Current API: contacts (list, read, create, update, erase) and their marketing preferences (Platform API).

``/platform/v1/whatsapp/contacts`` takes a contact by its Kapso id, its phone number or its business-scoped
user id (BSUID) in the path, like API v1's ``/whatsapp_contacts``. The list pages with cursors (its
``page``/``per_page`` are deprecated in the file and capped at 5,000 records). Contact notes exist only on API
v1; erasing a contact and reading its marketing preferences only here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kapso_provider.api.current._calls import query_flag, single_page
from kapso_provider.api.current._wire import cursor_pages, platform_path, sender
from kapso_provider.api.v1.contacts import check_contact_filters, contact_identifier
from kapso_provider.exceptions import KapsoNotFoundError
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    Call,
    Flow,
    FlowContext,
    Pager,
    Steps,
    check_page_size,
    data_object,
    nothing,
    request,
)
from kapso_provider.transport.wire import Request
from kapso_provider.validation import (
    check_text,
    is_uuid,
    iso_datetime,
    phone_number_problem,
    raise_problems,
)

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_contact",
    "erase_contact",
    "get_contact",
    "get_marketing_preference",
    "list_contacts",
    "list_marketing_preferences",
    "update_contact",
)


# The 404 text that means "no preference recorded" rather than "no such contact or number" (the file's words).
_NO_PREFERENCE = "Marketing preference not found"


def _contact_path(contact: str, *rest: tuple[str, str] | str) -> str:
    return platform_path("whatsapp", "contacts", ("contact", contact_identifier(contact)), *rest)


def _check_metadata(problems: list[str], metadata: object) -> None:
    if metadata is not None and not isinstance(metadata, Mapping):
        problems.append(f"metadata: must be an object (a mapping), got {type(metadata).__name__}")


def _check_customer_id(problems: list[str], customer_id: object) -> None:
    # The file declares the contact's customer_id ``format: uuid`` (API v1 a plain string).
    if customer_id is not None and not is_uuid(customer_id):
        problems.append(f"customer_id: must be a UUID (Kapso's id of the customer), got {customer_id!r}")


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
    """Yield the project's contacts matching every given filter (``GET /whatsapp/contacts``, cursor paging).

    :param customer_id: the customer the contacts belong to.
    :param external_customer_id: that customer's id in your system (``customer_external_id``).
    :param has_customer: ``True`` for contacts with a customer only, ``False`` for those without.
    :param profile_name: part of the WhatsApp profile name (``profile_name_contains``).
    :param phone_number: part of the phone number (``wa_id_contains``); only its digits are sent.
    :param created_after: ISO-8601 time with its zone; created after it.
    :param created_before: ISO-8601 time with its zone; created before it.
    :param per_page: records per request (the ``limit`` of a page), 1 to 100.
    :raises KapsoArgumentError: for a filter value Kapso cannot take, before any request.
    """
    problems: list[str] = []
    digits = check_contact_filters(
        problems, customer_id, external_customer_id, has_customer, profile_name, phone_number
    )
    raise_problems(problems)
    check_page_size("per_page", per_page)
    filters = {
        "customer_id": customer_id,
        "customer_external_id": external_customer_id,
        "has_customer": query_flag(has_customer),
        "profile_name_contains": profile_name,
        "wa_id_contains": digits,
        "created_after": iso_datetime("created_after", created_after),
        "created_before": iso_datetime("created_before", created_before),
    }
    return cursor_pages(platform_path("whatsapp", "contacts"), filters, limit=per_page)


def get_contact(contact: str) -> Call[dict[str, Any]]:
    """Return one contact record (``GET /whatsapp/contacts/{identifier}``).

    :param contact: the contact's id, phone number or business-scoped user id.
    """
    return Call(Request("GET", _contact_path(contact)), data_object)


def create_contact(
    phone_number: str,
    *,
    profile_name: str | None = None,
    customer_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Create a contact (``POST /whatsapp/contacts``) and return its record.

    Not retried after an ambiguous failure: read the contact back by its number to learn whether it exists.

    :param phone_number: the contact's WhatsApp number in international format; sent as its digits, the
        contact's ``wa_id`` (as on API v1).
    :param profile_name: the contact's name.
    :param customer_id: the customer the contact belongs to (a UUID).
    :param metadata: free-form data kept with the contact.
    :raises KapsoArgumentError: naming every bad argument, before any request.
    """
    problems: list[str] = []
    problem = phone_number_problem(phone_number)
    if problem:
        problems.append(f"phone_number: {problem}")
    check_text(problems, "profile_name", profile_name)
    _check_customer_id(problems, customer_id)
    _check_metadata(problems, metadata)
    raise_problems(problems)
    fields = {"wa_id": re.sub(r"\D", "", phone_number), "profile_name": profile_name, "customer_id": customer_id}
    contact: dict[str, Any] = {key: value for key, value in fields.items() if value is not None}
    if metadata is not None:
        contact["metadata"] = dict(metadata)
    return Call(Request("POST", platform_path("whatsapp", "contacts"), json={"contact": contact}), data_object)


def update_contact(
    contact: str,
    *,
    profile_name: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Call[dict[str, Any]]:
    """Change a contact's name or metadata (``PATCH /whatsapp/contacts/{identifier}``); returns the record.

    Setting values is idempotent, so an ambiguous failure is retried.

    :param contact: the contact's id, phone number or business-scoped user id.
    :param profile_name: the new name.
    :param metadata: the new metadata object.
    :raises KapsoArgumentError: for a bad argument or when nothing is to change, before any request.
    """
    problems: list[str] = []
    check_text(problems, "profile_name", profile_name)
    _check_metadata(problems, metadata)
    if profile_name is None and metadata is None:
        problems.append("contact: give profile_name or metadata to change")
    raise_problems(problems)
    changes: dict[str, Any] = {}
    if profile_name is not None:
        changes["profile_name"] = profile_name
    if metadata is not None:
        changes["metadata"] = dict(metadata)
    req = Request("PATCH", _contact_path(contact), json={"contact": changes}, retry_ambiguous=True)
    return Call(req, data_object)


def erase_contact(contact: str) -> Call[None]:
    """Erase a contact with its conversations, messages and media (``DELETE /whatsapp/contacts/{identifier}``).

    Kapso answers ``204`` when the erasure is queued and carries it out asynchronously; it cannot be undone.
    Not retried after an ambiguous failure (a second attempt could answer 404 and hide the first one's
    success): read the contact back to learn whether it is gone.

    :param contact: the contact's id, phone number or business-scoped user id.
    :raises KapsoNotFoundError: no such contact.
    """
    return Call(Request("DELETE", _contact_path(contact)), nothing)


def list_marketing_preferences(contact: str) -> Pager[dict[str, Any]]:
    """Yield a contact's marketing preference on each of the project's numbers where it stopped or resumed.

    ``GET /whatsapp/contacts/{identifier}/marketing_preferences``: one request (the file declares no paging).
    Each record has ``phone_number_id``, ``status`` (``stopped`` or ``resumed``), ``marketing_allowed``,
    ``source`` and ``last_event_at``. Read-only: only the contact changes it, inside WhatsApp.

    :param contact: the contact's id or phone number.
    """
    return single_page(Request("GET", _contact_path(contact, "marketing_preferences")))


def get_marketing_preference(contact: str, *, phone_number_id: str | None = None) -> Flow[dict[str, Any] | None]:
    """A contact's marketing preference on one WhatsApp number, or ``None`` when none is recorded.

    ``GET /whatsapp/contacts/{identifier}/marketing_preferences/{phone_number_id}``. ``marketing_allowed`` is
    ``False`` when the contact stopped marketing messages from that number: a marketing template to them then
    fails with ``marketing_preference_stopped``. The file says a 404 "Marketing preference not found" means
    the contact never stopped nor resumed them there (subscribed): that is ``None``. A 404 for an unknown
    contact or number is raised.

    :param contact: the contact's id or phone number.
    :param phone_number_id: the WhatsApp phone number id; the connection's by default.
    :raises KapsoNotFoundError: no such contact, or no such number in the project.
    """
    identifier = ("contact", contact_identifier(contact))

    def run(context: FlowContext) -> Steps[dict[str, Any] | None]:
        number = ("phone_number_id", sender(context, phone_number_id))
        req = Request("GET", platform_path("whatsapp", "contacts", identifier, "marketing_preferences", number))
        try:
            body = yield from request(context, req)
        except KapsoNotFoundError as exc:
            if _NO_PREFERENCE in exc.error_text:
                return None
            raise
        return data_object(body, req)

    return Flow(run)
