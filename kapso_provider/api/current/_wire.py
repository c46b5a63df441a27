"""What every endpoint of Kapso's current APIs shares: the two path prefixes, cursor listings, the sender.

The connection's base URL is the host (``https://api.kapso.ai``); the WhatsApp Cloud API proxy answers below
:data:`PROXY` and the Platform API below :data:`PLATFORM`, so every path here starts with one of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.transport.flows import (
    MAX_PAGE_SIZE,
    FlowContext,
    Item,
    ListingSteps,
    Pager,
    check_page_size,
    data_list,
)
from kapso_provider.transport.flows import request as send_request
from kapso_provider.transport.wire import Request
from kapso_provider.validation import path_segment

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

#: The WhatsApp Cloud API proxy's prefix (``servers`` of ``openapi-whatsapp.yaml``).
PROXY = "/meta/whatsapp/v24.0"
#: The Platform API's prefix (``servers`` of ``openapi-platform.yaml`` and ``openapi-kapso-agent.yaml``).
PLATFORM = "/platform/v1"


def proxy_path(*segments: tuple[str, str] | str) -> str:
    """A proxy path: literal parts as strings, ids as ``(argument name, value)`` pairs (checked, quoted)."""
    return PROXY + _joined(segments)


def platform_path(*segments: tuple[str, str] | str) -> str:
    """A Platform API path, built like :func:`proxy_path`."""
    return PLATFORM + _joined(segments)


def _joined(segments: tuple[tuple[str, str] | str, ...]) -> str:
    parts = [part if isinstance(part, str) else path_segment(*part) for part in segments]
    return "".join(f"/{part}" for part in parts)


def sender(context: FlowContext, phone_number_id: str | None) -> str:
    """The WhatsApp phone number id to act as: the task's, else the connection's default.

    :raises KapsoArgumentError: neither names one.
    """
    chosen = phone_number_id if phone_number_id is not None else context.phone_number_id
    if not chosen:
        raise KapsoArgumentError(
            "phone_number_id: Kapso's current API sends from a WhatsApp phone number id; give phone_number_id on "
            "the task, or set the connection's extra 'phone_number_id'"
        )
    return chosen


def business_account(context: FlowContext, business_account_id: str | None) -> str:
    """The WhatsApp Business Account id to act on: the task's, else the connection's.

    :raises KapsoArgumentError: neither names one.
    """
    chosen = business_account_id if business_account_id is not None else context.business_account_id
    if not chosen:
        raise KapsoArgumentError(
            "business_account_id: templates belong to a WhatsApp Business Account; give business_account_id, or "
            "set the connection's extra 'business_account_id'"
        )
    return chosen


def cursor_pages(
    path: str | Callable[[FlowContext], str],
    params: Mapping[str, Any] | None = None,
    *,
    limit: int = MAX_PAGE_SIZE,
) -> Pager[Any]:
    """Every record of a cursor listing (``limit``/``after``), one request per page as the caller reads.

    The Platform API answers ``paging: {cursors: {before, after}, next}`` where ``next`` is the cursor of the
    next page (absent or null on the last one); the proxy answers ``paging: {cursors: {before, after}}``
    only, so there a page shorter than ``limit`` is the last.

    :param path: the listing's path, or a function of the context that returns it (for paths that hold
        the connection's phone number id).
    :param params: filters sent with every page; ``None`` values are left out.
    :param limit: records per request, 1 to 100.
    """
    check_page_size("limit", limit)

    def run(context: FlowContext) -> ListingSteps[Any]:
        where = path(context) if callable(path) else path
        after: str | None = None
        while True:
            req = Request("GET", where, params={**(params or {}), "limit": limit, "after": after})
            body = yield from send_request(context, req)
            records = data_list(body, req)
            for record in records:
                yield Item(record)
            paging = body.get("paging") or {}
            if "next" in paging:
                after = paging.get("next") or None
            else:
                after = (paging.get("cursors") or {}).get("after") if len(records) >= limit else None
            if not after or not records:
                return

    return Pager(run)
