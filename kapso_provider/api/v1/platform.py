"""API v1: WhatsApp configs (list, get, health), customers, projects."""

from __future__ import annotations

from typing import Any

from kapso_provider.api._unsupported import refuse_on_v1
from kapso_provider.exceptions import KapsoArgumentError, KapsoServerError
from kapso_provider.transport.flows import MAX_PAGE_SIZE, Call, Pager, data_object, nothing, numbered_pages
from kapso_provider.transport.wire import Request
from kapso_provider.validation import optional_string, path_segment, require_text

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = (
    "create_customer",
    "delete_customer",
    "get_customer",
    "get_project",
    "get_whatsapp_config",
    "get_phone_number_health",
    "get_whatsapp_config_health",
    "list_customers",
    "list_whatsapp_configs",
    "update_customer",
)


def _customer_path(customer_id: str) -> str:
    return f"/customers/{path_segment('customer_id', customer_id)}"


def health_report(body: Any, request: Request) -> dict[str, Any]:
    """A health check's answer: the report itself (``status``, ``checks``...), not inside ``data``."""
    if not isinstance(body, dict) or "status" not in body:
        raise KapsoServerError(
            status=None, method=request.method, path=request.path, error_text="answer is not a health report"
        )
    return body


# -- WhatsApp configs --


def list_whatsapp_configs(
    *,
    business_account_id: str | None = None,
    name_contains: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's WhatsApp configs (business numbers) matching every given filter.

    ``GET /whatsapp_configs``, defined in ``openapi-whatsapp.yaml`` only.

    :param business_account_id: the WhatsApp Business Account id (``q[business_account_id_eq]``).
    :param name_contains: part of the config's name (``q[name_cont]``).
    :param created_after: ISO-8601 time; created at or after it (``q[created_at_gteq]``).
    :param created_before: ISO-8601 time; created at or before it (``q[created_at_lteq]``).
    :param per_page: records per request, 1 to 100.
    """
    filters = {
        "q[business_account_id_eq]": business_account_id,
        "q[name_cont]": name_contains,
        "q[created_at_gteq]": created_after,
        "q[created_at_lteq]": created_before,
    }
    return numbered_pages("/whatsapp_configs", filters, per_page=per_page)


def get_whatsapp_config(whatsapp_config_id: str) -> Call[dict[str, Any]]:
    """Return one WhatsApp config (``GET /whatsapp_configs/{id}``).

    :param whatsapp_config_id: the config's id.
    """
    path = f"/whatsapp_configs/{path_segment('whatsapp_config_id', whatsapp_config_id)}"
    return Call(Request("GET", path), data_object)


def get_whatsapp_config_health(whatsapp_config_id: str) -> Call[dict[str, Any]]:
    """Run Kapso's health check of a WhatsApp config (``GET /whatsapp_configs/{id}/health``).

    Unlike the other endpoints, this one answers with the report itself, not inside ``data``:
    ``{"status": "healthy" | "degraded" | "unhealthy" | "error", "checks": {...}, "timestamp": ...}``.
    A config that is not healthy is an answer, not an error: read ``status``.

    :param whatsapp_config_id: the config's id.
    :returns: the health report.
    """
    path = f"/whatsapp_configs/{path_segment('whatsapp_config_id', whatsapp_config_id)}/health"
    return Call(Request("GET", path), health_report)


def get_phone_number_health(
    phone_number_id: str | None = None, *, whatsapp_config_id: str | None = None
) -> Call[dict[str, Any]]:
    """Run Kapso's health check of the sending number; the name both API generations share.

    API v1 checks a WhatsApp config (``GET /whatsapp_configs/{id}/health``): give ``whatsapp_config_id``.
    The report is :meth:`get_whatsapp_config_health`'s.

    :param phone_number_id: current API only (give ``whatsapp_config_id``).
    :param whatsapp_config_id: the config to check.
    :raises KapsoArgumentError: no ``whatsapp_config_id``, before any request.
    """
    refuse_on_v1(phone_number_id=phone_number_id)
    if whatsapp_config_id is None:
        raise KapsoArgumentError("whatsapp_config_id: API v1 checks a WhatsApp config; give its id")
    return get_whatsapp_config_health(whatsapp_config_id)


# -- customers --


def new_customer(*, name: object, external_customer_id: object) -> dict[str, Any]:
    """The ``customer`` object of a create, on both generations: both fields, non-empty text.

    :raises KapsoArgumentError: naming the field, before any request.
    """
    return {
        "name": require_text("name", name),
        "external_customer_id": require_text("external_customer_id", external_customer_id),
    }


def customer_changes(*, name: object, external_customer_id: object) -> dict[str, Any]:
    """The ``customer`` object of an update, on both generations: the given fields only.

    :raises KapsoArgumentError: nothing to change, or a field of the wrong type, before any request.
    """
    changes = {
        key: value
        for key, value in (
            ("name", optional_string("name", name)),
            ("external_customer_id", optional_string("external_customer_id", external_customer_id)),
        )
        if value is not None
    }
    if not changes:
        raise KapsoArgumentError("update_customer: give at least one of name, external_customer_id")
    return changes


def list_customers(
    *,
    name_contains: str | None = None,
    external_customer_id: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's customers matching every given filter, fetching pages as the caller iterates.

    ``openapi.yaml`` also lists ``q[created_at_gteq]``/``q[created_at_lteq]`` for this endpoint;
    ``openapi-platform.yaml``, the file dedicated to customers, does not, so they are not offered.

    :param name_contains: part of the customer's name (``q[name_cont]``).
    :param external_customer_id: your own id of the customer (``q[external_customer_id_eq]``).
    :param per_page: records per request, 1 to 100.
    """
    filters = {"q[name_cont]": name_contains, "q[external_customer_id_eq]": external_customer_id}
    return numbered_pages("/customers", filters, per_page=per_page)


def get_customer(customer_id: str) -> Call[dict[str, Any]]:
    """Return one customer (``GET /customers/{id}``).

    :param customer_id: the customer's id.
    """
    return Call(Request("GET", _customer_path(customer_id)), data_object)


def create_customer(*, name: str, external_customer_id: str) -> Call[dict[str, Any]]:
    """Create a customer, a business that connects its own WhatsApp number (``POST /customers``).

    ``openapi-platform.yaml`` files this operation under a wrong path
    (``POST /whatsapp_configs/{whatsapp_config_id}/display_name_requests/{id}``); the path here is
    ``openapi.yaml``'s, the only file with a ``POST /customers``. That file requires
    ``external_customer_id`` (the platform file's misfiled copy does not), so it is required here too.
    Not retried after an ambiguous failure: the first attempt may have created the customer.

    :param name: the customer's name.
    :param external_customer_id: your own id for the customer.
    :returns: the customer record.
    """
    customer = new_customer(name=name, external_customer_id=external_customer_id)
    return Call(Request("POST", "/customers", json={"customer": customer}), data_object)


def update_customer(
    customer_id: str,
    *,
    name: str | None = None,
    external_customer_id: str | None = None,
) -> Call[dict[str, Any]]:
    """Change a customer's name or external id (``PATCH /customers/{id}``); only given fields are sent.

    Setting values is idempotent, so an ambiguous failure is retried.

    :param customer_id: the customer's id.
    :param name: the new name.
    :param external_customer_id: the new external id.
    :returns: the updated customer record.
    :raises KapsoArgumentError: nothing to change, or a field of the wrong type.
    """
    changes = customer_changes(name=name, external_customer_id=external_customer_id)
    request = Request("PATCH", _customer_path(customer_id), json={"customer": changes}, retry_ambiguous=True)
    return Call(request, data_object)


def delete_customer(customer_id: str) -> Call[None]:
    """Delete a customer and the data Kapso keeps for it (``DELETE /customers/{id}``, answered 204).

    Not retried after an ambiguous failure: a second attempt would find nothing to delete and fail
    with a 404 that hides the first attempt's success.

    :param customer_id: the customer's id.
    :raises KapsoNotFoundError: no such customer.
    """
    return Call(Request("DELETE", _customer_path(customer_id)), nothing)


# -- projects --


def get_project(project_id: str) -> Call[dict[str, Any]]:
    """Return one project (``GET /projects/{id}``, ``openapi.yaml`` only).

    The file's ``Project`` schema is a dangling reference, so the record's fields are not documented;
    it is returned as Kapso sends it.

    :param project_id: the project's id.
    """
    return Call(Request("GET", f"/projects/{path_segment('project_id', project_id)}"), data_object)
