"""Current API: the project's WhatsApp phone numbers and their health check (Platform API).

A phone number here is what API v1 calls a WhatsApp config, keyed by Meta's phone number id instead of
Kapso's config UUID (which the records still carry as ``internal_id``). API v1's ``list_whatsapp_configs``,
``get_whatsapp_config`` and ``get_whatsapp_config_health`` stay v1-only; these are current-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.api._unsupported import refuse_on_current
from kapso_provider.api.current._calls import contextual, query_flag
from kapso_provider.api.current._wire import platform_path, sender
from kapso_provider.api.v1.platform import health_report
from kapso_provider.transport.flows import MAX_PAGE_SIZE, Flow, FlowContext, Pager, data_object, numbered_pages
from kapso_provider.transport.wire import Request
from kapso_provider.validation import check_text, iso_datetime, optional_bool, raise_problems, require_uuid

if TYPE_CHECKING:
    from collections.abc import Callable

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = ("get_phone_number", "get_phone_number_health", "list_phone_numbers")

#: The overall ``status`` values of a health report; only ``healthy`` means every check passed.
HEALTH_STATUSES = ("healthy", "degraded", "unhealthy", "error")


def _number_request(phone_number_id: str | None, *rest: str) -> Callable[[FlowContext], Request]:
    def build(context: FlowContext) -> Request:
        number = ("phone_number_id", sender(context, phone_number_id))
        return Request("GET", platform_path("whatsapp", "phone_numbers", number, *rest))

    return build


def list_phone_numbers(
    *,
    business_account_id: str | None = None,
    customer_id: str | None = None,
    messaging_enabled: bool | None = None,
    name_contains: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    per_page: int = MAX_PAGE_SIZE,
) -> Pager[dict[str, Any]]:
    """Yield the project's WhatsApp phone numbers matching every given filter (``GET /whatsapp/phone_numbers``).

    Each record has ``phone_number_id``, ``name``, ``business_account_id``, ``display_phone_number``,
    ``quality_rating`` (``GREEN``, ``YELLOW``, ``RED``), ``status`` (``CONNECTED``...), ``throughput_tier`` and
    ``internal_id`` (API v1's WhatsApp config id).

    :param business_account_id: only the numbers of this WhatsApp Business Account.
    :param customer_id: only the numbers of this customer (a UUID).
    :param messaging_enabled: only numbers that can (``True``) or cannot (``False``) send.
    :param name_contains: part of the number's label.
    :param created_after: ISO-8601 time with its zone.
    :param created_before: ISO-8601 time with its zone.
    :param per_page: records per request, 1 to 100.
    :raises KapsoArgumentError: for a filter value Kapso cannot take, before any request.
    """
    problems: list[str] = []
    check_text(problems, "business_account_id", business_account_id)
    check_text(problems, "name_contains", name_contains)
    raise_problems(problems)
    filters = {
        "business_account_id": business_account_id,
        "customer_id": None if customer_id is None else require_uuid("customer_id", customer_id),
        "messaging_enabled": query_flag(optional_bool("messaging_enabled", messaging_enabled)),
        "name_contains": name_contains,
        "created_after": iso_datetime("created_after", created_after),
        "created_before": iso_datetime("created_before", created_before),
    }
    return numbered_pages(platform_path("whatsapp", "phone_numbers"), filters, per_page=per_page)


def get_phone_number(phone_number_id: str | None = None) -> Flow[dict[str, Any]]:
    """Return one phone number's record (``GET /whatsapp/phone_numbers/{phone_number_id}``).

    :param phone_number_id: the WhatsApp phone number id; the connection's by default.
    """
    return contextual(_number_request(phone_number_id), data_object)


def get_phone_number_health(
    phone_number_id: str | None = None, *, whatsapp_config_id: str | None = None
) -> Flow[dict[str, Any]]:
    """Run Kapso's health check of a phone number (``GET /whatsapp/phone_numbers/{phone_number_id}/health``).

    The answer is the report itself: ``status`` (``healthy``, ``degraded``, ``unhealthy`` or ``error``),
    ``timestamp`` and ``checks`` (``phone_number_access``, ``phone_number_connection``, ``messaging_health``,
    ``webhook_subscription``, ``webhook_verified``, ``token_validity``; each with ``passed`` and
    ``details``). A number that is not healthy is an answer, not an error: read ``status``. Kapso caches a
    report for 3 minutes and allows 5 checks a second and 60 a minute per project (429 beyond).

    :param phone_number_id: the WhatsApp phone number id; the connection's by default.
    :param whatsapp_config_id: API v1 only (give ``phone_number_id``).
    """
    refuse_on_current("phone_number_id, the WhatsApp number to check", whatsapp_config_id=whatsapp_config_id)
    return contextual(_number_request(phone_number_id, "health"), health_report)
