"""The Platform API's customers (``/platform/v1/customers``): list, create, get, update, delete.

The customers are v1's (``simulator.platform``): one made here is read on ``/api/v1/customers`` and the other
way round. The current file differs from v1's in three ways, served here: the list is most recent first and
filters with ``name_contains``, ``external_customer_id``, ``created_after`` and ``created_before``; a create
requires only ``name``; ``external_customer_id`` may be ``null``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.testing._http import Response, first, json_response, paginate
from kapso_provider.testing._routing import ResourceGroup, route
from kapso_provider.testing._v1.platform import customer_fields, query_moment

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._v1.platform import PlatformGroup

__all__ = ["PlatformCustomersGroup"]

_CUSTOMER = "/customers/{customer_id}"
#: The field the current file lets be ``null``.
_NULLABLE = ("external_customer_id",)


class PlatformCustomersGroup(ResourceGroup):
    """Platform customers.

    :param platform: v1's platform group, which keeps the customers.
    """

    def __init__(self, platform: PlatformGroup) -> None:
        super().__init__(platform.store)
        self._platform = platform

    def routes(self) -> list[Route]:
        """Customers: list, create, get, update, delete."""
        return [
            route("GET", "/customers", self._list),
            route("POST", "/customers", self._create),
            route("GET", _CUSTOMER, self._get),
            route("PATCH", _CUSTOMER, self._update),
            route("DELETE", _CUSTOMER, self._delete),
        ]

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        selected = self._platform.select_customers(
            name_contains=first(query, "name_contains"),
            external_customer_id=first(query, "external_customer_id"),
            created_after=query_moment(query, "created_after"),
            created_before=query_moment(query, "created_before"),
        )
        # "Returns customers in your project, most recent first" (the file).
        return paginate(selected[::-1], query)

    def _create(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = customer_fields(body, required=("name",), nullable=_NULLABLE)
        return json_response(201, {"data": self._platform.create_customer(fields)})

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._platform.customer(params["customer_id"])})

    def _update(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            self._platform.customer(params["customer_id"])
            record = self._platform.update_customer(
                params["customer_id"], customer_fields(body, required=(), nullable=_NULLABLE)
            )
        return json_response(200, {"data": record})

    def _delete(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        self._platform.delete_customer(params["customer_id"])
        return Response(204, b"")
