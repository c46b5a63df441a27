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
from kapso_provider.testing._routing import ResourceGroup, route

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store
    from kapso_provider.testing._v1.configs import ConfigsGroup


def _customer_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationError("body", "must be a JSON object")
    customer = body.get("customer")
    if customer is None:
        raise ValidationError("customer", "is required")
    if not isinstance(customer, dict):
        raise ValidationError("customer", "must be an object")
    return customer


def _text(customer: dict[str, Any], name: str) -> str | None:
    """A customer field's value when given (a non-blank string), ``None`` when absent."""
    if name not in customer:
        return None
    value = customer[name]
    if not isinstance(value, str):
        raise ValidationError(f"customer.{name}", "must be a string")
    if not value.strip():
        raise ValidationError(f"customer.{name}", "can't be blank")
    return value


def _required_text(customer: dict[str, Any], name: str) -> str:
    value = _text(customer, name)
    if value is None:
        raise ValidationError(f"customer.{name}", "is required")
    return value


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

    def _create_customer(self, name: str, external_customer_id: str, customer_id: str | None) -> dict[str, Any]:
        stamp = self.store.now()
        record = {
            "id": customer_id or str(uuid.uuid4()),
            "name": name,
            "external_customer_id": external_customer_id,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self._customers[record["id"]] = record
        return copy.deepcopy(record)

    def _customer(self, customer_id: str) -> dict[str, Any]:
        record = self._customers.get(customer_id)
        if record is None:
            raise NotFoundError("Customer", customer_id)
        return record

    # -- handlers ---------------------------------------------------------------------------------------

    def _list_customers(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        name = first(query, "q[name_cont]")
        external = first(query, "q[external_customer_id_eq]")
        # openapi.yaml documents the created_at bounds (openapi-platform.yaml does not): answer them too.
        bounds = {
            key: parse_time(value, key)
            for key in ("q[created_at_gteq]", "q[created_at_lteq]")
            if (value := query.get(key))
        }
        with self.lock:
            selected = []
            for record in self._customers.values():
                created = parse_time(record["created_at"], "created_at")
                if name is not None and name.lower() not in record["name"].lower():
                    continue
                if external is not None and record["external_customer_id"] != external:
                    continue
                if "q[created_at_gteq]" in bounds and created < bounds["q[created_at_gteq]"]:
                    continue
                if "q[created_at_lteq]" in bounds and created > bounds["q[created_at_lteq]"]:
                    continue
                selected.append(copy.deepcopy(record))
        return paginate(selected, query)

    def _create_customer_answer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = _customer_body(body)
        name = _required_text(fields, "name")
        # openapi.yaml, the one file with POST /customers at the right path, requires both fields.
        external = _required_text(fields, "external_customer_id")
        with self.lock:
            return json_response(201, {"data": self._create_customer(name, external, None)})

    def _get_customer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            return json_response(200, {"data": copy.deepcopy(self._customer(params["id"]))})

    def _update_customer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            record = self._customer(params["id"])
            fields = _customer_body(body)
            changes = {
                key: value for key in ("name", "external_customer_id") if (value := _text(fields, key)) is not None
            }
            record.update(changes)
            record["updated_at"] = self.store.now()
            return json_response(200, {"data": copy.deepcopy(record)})

    def _delete_customer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        with self.lock:
            customer_id = params["id"]
            self._customer(customer_id)
            del self._customers[customer_id]
        # 204 No Content, as both files document: no body at all.
        return Response(204, b"")

    def _get_project(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        project_id = params["id"]
        with self.lock:
            if project_id != self._project["id"]:
                raise NotFoundError("Project", project_id)
            return json_response(200, {"data": copy.deepcopy(self._project)})
