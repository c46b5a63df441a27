"""Current API: customers, the businesses that connect their own WhatsApp numbers (Platform API).

``/platform/v1/customers`` has API v1's five operations under the same names and arguments, with the same
``customer`` request bodies. A record has API v1's fields (``id``, ``name``, ``external_customer_id``,
``created_at``, ``updated_at``), so it is returned as Kapso sends it; the one difference is that the current
file lets ``external_customer_id`` be ``null`` (a customer made without one, e.g. in Kapso's dashboard),
where API v1's file types it a string. The ids are UUIDs (the file's ``format: uuid``), checked before any
request. A customer's WhatsApp numbers are listed by ``list_phone_numbers(customer_id=...)``.
"""

from __future__ import annotations

from typing import Any

from kapso_provider.api.current._wire import platform_path
from kapso_provider.api.v1.platform import customer_changes, new_customer
from kapso_provider.transport.flows import MAX_PAGE_SIZE, Call, Pager, data_object, nothing, numbered_pages
from kapso_provider.transport.wire import Request
from kapso_provider.validation import check_text, raise_problems, require_uuid

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = ("create_customer", "delete_customer", "get_customer", "list_customers", "update_customer")


def _customer_path(customer_id: str) -> str:
    return platform_path("customers", ("customer_id", require_uuid("customer_id", customer_id)))


def list_customers(
    *,
    name_contains: str | None = None,
    external_customer_id: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's customers matching every given filter, most recent first (``GET /customers``).

    :param name_contains: part of the customer's name (``name_contains``).
    :param external_customer_id: your own id of the customer (``external_customer_id``).
    :param per_page: records per request, 1 to 100.
    :raises KapsoArgumentError: for a filter that is not text, before any request.
    """
    problems: list[str] = []
    check_text(problems, "name_contains", name_contains)
    check_text(problems, "external_customer_id", external_customer_id)
    raise_problems(problems)
    filters = {"name_contains": name_contains, "external_customer_id": external_customer_id}
    return numbered_pages(platform_path("customers"), filters, per_page=per_page)


def get_customer(customer_id: str) -> Call[dict[str, Any]]:
    """Return one customer (``GET /customers/{customer_id}``).

    :param customer_id: the customer's id (a UUID).
    :raises KapsoNotFoundError: no such customer.
    """
    return Call(Request("GET", _customer_path(customer_id)), data_object)


def create_customer(*, name: str, external_customer_id: str) -> Call[dict[str, Any]]:
    """Create a customer (``POST /customers``) and return its record.

    The current file requires only ``name``; ``external_customer_id`` stays required here, as on API v1, so
    that a DAG finds its customer again by your own id (``list_customers(external_customer_id=...)``).
    Not retried after an ambiguous failure: the first attempt may have created the customer.

    :param name: the customer's name.
    :param external_customer_id: your own id for the customer.
    :raises KapsoArgumentError: naming the field, before any request.
    """
    customer = new_customer(name=name, external_customer_id=external_customer_id)
    return Call(Request("POST", platform_path("customers"), json={"customer": customer}), data_object)


def update_customer(
    customer_id: str,
    *,
    name: str | None = None,
    external_customer_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Change a customer's name or external id (``PATCH /customers/{customer_id}``), as on API v1: only the
    given fields are sent, and an ambiguous failure is retried (setting values is idempotent).

    :param customer_id: the customer's id (a UUID).
    :param name: the new name.
    :param external_customer_id: the new external id.
    :returns: the updated customer record.
    :raises KapsoArgumentError: nothing to change, a field of the wrong type or an id that is no UUID.
    """
    changes = customer_changes(name=name, external_customer_id=external_customer_id)
    request = Request("PATCH", _customer_path(customer_id), json={"customer": changes}, retry_ambiguous=True)
    return Call(request, data_object)


def delete_customer(customer_id: str) -> Call[None]:
    """Delete a customer (``DELETE /customers/{customer_id}``, answered 204); like API v1's, not retried after
    an ambiguous failure, whose second attempt's 404 would hide the first one's success.

    :param customer_id: the customer's id (a UUID).
    :raises KapsoNotFoundError: no such customer.
    """
    return Call(Request("DELETE", _customer_path(customer_id)), nothing)
