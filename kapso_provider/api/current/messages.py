"""Kapso's current API: sending (the proxy), reading messages back (the Platform API), the connection check.

The rest of sending and waiting (every message kind, reconciliation, one message by ``wamid``) is defined
here under the names of :mod:`kapso_provider.api.v1.messages`.
"""

from __future__ import annotations

from typing import Any

from kapso_provider.api.current._wire import platform_path
from kapso_provider.exceptions import KapsoAPIError, KapsoAuthenticationError, KapsoNotFoundError
from kapso_provider.transport.flows import Flow, FlowContext, Steps, request, whole_object
from kapso_provider.transport.wire import Request

#: The endpoints this module defines, by the name both hooks expose them under.
ENDPOINTS = ("check_connection",)


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
