"""v1 endpoints: customers and the project of the API key.

Config health is answered by the configs group (``_v1/configs.py``); :meth:`PlatformGroup.set_config_health`
stays here, where tests have always called it.
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError, ValidationError
from kapso_provider.testing._http import Response, first, json_response, paginate, parse_time
from kapso_provider.testing._routing import ResourceGroup, object_field, route

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store
    from kapso_provider.testing._v1.configs import ConfigsGroup


def customer_fields(body: Any, *, required: tuple[str, ...], nullable: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of a request's ``customer`` object that it gives, checked as Kapso checks them.

    :param body: the request's JSON body.
    :param required: the fields it must give.
    :param nullable: the fields that may be ``null`` (the current API's ``external_customer_id``).
    :raises ValidationError: 422, naming the field.
    """
    customer = object_field(body, "customer")
    fields: dict[str, Any] = {}
    for name in ("name", "external_customer_id"):
        if name not in customer or (customer[name] is None and name in nullable):
            if name in required:
                raise ValidationError(f"customer.{name}", "is required")
            if name in customer:
                fields[name] = None
            continue
        value = customer[name]
        if not isinstance(value, str):
            raise ValidationError(f"customer.{name}", "must be a string")
        if not value.strip():
            raise ValidationError(f"customer.{name}", "can't be blank")
        fields[name] = value
    return fields


def query_moment(query: Mapping[str, str], name: str) -> datetime | None:
    """A date-time filter of the query, or ``None`` when not given.

    :raises ValidationError: a value that is no ISO 8601 date-time with a zone, naming the parameter.
    """
    value = query.get(name)
    return parse_time(value, name) if value else None


def _v1_view(record: dict[str, Any]) -> dict[str, Any]:
    # API v1's file types external_customer_id a string: a customer made without one (current API) leaves it out.
    return {key: value for key, value in record.items() if value is not None}


class PlatformGroup(ResourceGroup):
    """The simulator's customers and the project of its API key.

    Every config is ``healthy`` until a test says otherwise (:meth:`set_config_health`). Customers start
    empty (:meth:`add_customer` seeds one). The project is the one the simulator's API key belongs to; any
    other project id is answered 404.

    :param store: the simulator's store.
    :param configs: the configs group, which keeps the health settings.
    """

    def __init__(self, store: Store, configs: ConfigsGroup) -> None:
        super().__init__(store)
        self._configs = configs
        self._customers: dict[str, dict[str, Any]] = {}
        stamp = self.store.now()
        self._project: dict[str, Any] = {
            "id": self.store.project_id,
            "name": "Simulator project",
            "created_at": stamp,
            "updated_at": stamp,
        }

    # -- Python control API -----------------------------------------------------------------------------

    @property
    def project_id(self) -> str:
        """Id of the project the simulator's API key belongs to."""
        return str(self._project["id"])

    def project(self) -> dict[str, Any]:
        """The project record (a copy), as ``GET /projects/{id}`` answers it."""
        with self.lock:
            return copy.deepcopy(self._project)

    def set_config_health(self, whatsapp_config_id: str, status: str) -> None:
        """Make the health check of one config report ``status`` from now on (the configs group keeps it).

        :param whatsapp_config_id: the config.
        :param status: ``healthy``, ``degraded``, ``unhealthy`` or ``error``.
        """
        self._configs.set_config_health(whatsapp_config_id, status)

    def add_customer(
        self, name: str = "Acme Corporation", external_customer_id: str = "CUS-1", *, customer_id: str | None = None
    ) -> dict[str, Any]:
        """Seed a customer and return its record.

        :param name: its name.
        :param external_customer_id: your own id for it.
        :param customer_id: its id (a new UUID when ``None``).
        :raises ValueError: for an id that exists already.
        """
        with self.lock:
            if customer_id is not None and customer_id in self._customers:
                raise ValueError(f"a customer with id {customer_id!r} exists already")
            return self._create_customer(name, external_customer_id, customer_id)

    def customers(self) -> list[dict[str, Any]]:
        """Customer records (copies), in creation order."""
        with self.lock:
            return copy.deepcopy(list(self._customers.values()))

    def reset(self) -> None:
        """Forget customers; the project stays."""
        self._customers.clear()

    # -- customers, as both generations' routes change them (each takes the lock) -------------------------

    def create_customer(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create a customer from checked fields (:func:`customer_fields`); returns a copy of its record."""
        with self.lock:
            return self._create_customer(fields["name"], fields.get("external_customer_id"), None)

    def customer(self, customer_id: str) -> dict[str, Any]:
        """A copy of one customer's record.

        :raises NotFoundError: no such customer.
        """
        with self.lock:
            return copy.deepcopy(self._customer(customer_id))

    def update_customer(self, customer_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Apply checked changes (:func:`customer_fields`) to a customer; returns a copy of its record."""
        with self.lock:
            record = self._customer(customer_id)
            record.update(changes)
            record["updated_at"] = self.store.now()
            return copy.deepcopy(record)

    def delete_customer(self, customer_id: str) -> None:
        """Delete a customer alone: configs that name it keep their ``customer_id``."""
        with self.lock:
            self._customer(customer_id)
            del self._customers[customer_id]

    def select_customers(
        self,
        *,
        name_contains: str | None,
        external_customer_id: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
    ) -> list[dict[str, Any]]:
        """Copies of the customers matching every filter given (``None``: not filtered), in creation order.

        :param name_contains: part of the name, any case.
        :param external_customer_id: the exact external id.
        :param created_after: created at or after it.
        :param created_before: created at or before it.
        """
        with self.lock:
            selected = []
            for record in self._customers.values():
                created = parse_time(record["created_at"], "created_at")
                if name_contains is not None and name_contains.lower() not in record["name"].lower():
                    continue
                if external_customer_id is not None and record["external_customer_id"] != external_customer_id:
                    continue
                if (created_after is not None and created < created_after) or (
                    created_before is not None and created > created_before
                ):
                    continue
                selected.append(copy.deepcopy(record))
            return selected

    # -- routes -----------------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Customers (list, create, get, update, delete) and ``GET /projects/{id}``."""
        customer = "/customers/{id}"
        return [
            route("GET", "/customers", self._list_customers),
            route("POST", "/customers", self._create_customer_answer),
            route("GET", customer, self._get_customer),
            route("PATCH", customer, self._update_customer),
            route("DELETE", customer, self._delete_customer),
            route("GET", "/projects/{id}", self._get_project),
        ]

    # -- helpers (callers hold the lock) ----------------------------------------------------------------

    def _create_customer(self, name: str, external_customer_id: str | None, customer_id: str | None) -> dict[str, Any]:
        stamp = self.store.now()
        new_id = customer_id or str(uuid.uuid4())
        record: dict[str, Any] = {
            "id": new_id,
            "name": name,
            "external_customer_id": external_customer_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self._customers[new_id] = record
        return copy.deepcopy(record)

    def _customer(self, customer_id: str) -> dict[str, Any]:
        record = self._customers.get(customer_id)
        if record is None:
            raise NotFoundError("Customer", customer_id)
        return record

    # -- handlers ---------------------------------------------------------------------------------------

    def _list_customers(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        # openapi.yaml documents the created_at bounds (openapi-platform.yaml does not): answer them too.
        selected = self.select_customers(
            name_contains=first(query, "q[name_cont]"),
            external_customer_id=first(query, "q[external_customer_id_eq]"),
            created_after=query_moment(query, "q[created_at_gteq]"),
            created_before=query_moment(query, "q[created_at_lteq]"),
        )
        return paginate([_v1_view(record) for record in selected], query)

    def _create_customer_answer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        # openapi.yaml, the one file with POST /customers at the right path, requires both fields.
        fields = customer_fields(body, required=("name", "external_customer_id"))
        return json_response(201, {"data": _v1_view(self.create_customer(fields))})

    def _get_customer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": _v1_view(self.customer(params["id"]))})

    def _update_customer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            self._customer(params["id"])
            record = self.update_customer(params["id"], customer_fields(body, required=()))
        return json_response(200, {"data": _v1_view(record)})

    def _delete_customer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        self.delete_customer(params["id"])
        # 204 No Content, as both files document: no body at all.
        return Response(204, b"")

    def _get_project(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        project_id = params["id"]
        with self.lock:
            if project_id != self._project["id"]:
                raise NotFoundError("Project", project_id)
            return json_response(200, {"data": copy.deepcopy(self._project)})
