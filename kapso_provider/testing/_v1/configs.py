"""v1 endpoints: WhatsApp configs (the business numbers) and their health check.

The current API shows the same records as phone numbers; their health setting lives here for both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import NotFoundError
from kapso_provider.testing._http import ApiError, Response, config_not_found, first, json_response, paginate
from kapso_provider.testing._routing import ResourceGroup, route

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store

__all__ = ["HEALTH_STATUSES", "ConfigsGroup", "resolve_config"]

#: The overall statuses of a health report, as ``openapi-whatsapp.yaml`` lists them.
HEALTH_STATUSES = ("healthy", "degraded", "unhealthy", "error")


def resolve_config(store: Store, config_id: object, customer_id: object) -> str:
    """The config a send names: by id, by owning customer, or the default one.

    :param store: the simulator's store.
    :param config_id: ``whatsapp_config_id`` of the request, if any.
    :param customer_id: ``customer_id`` of the request, if any.
    :raises ApiError: 422 "WhatsApp configuration not found" for an unknown one.
    """
    if config_id not in (None, ""):
        if isinstance(config_id, str):
            try:
                return str(store.config(config_id)["id"])
            except NotFoundError:
                pass
        raise ApiError(config_not_found())
    if customer_id not in (None, ""):
        for record in store.configs():
            if record.get("customer_id") == customer_id:
                return str(record["id"])
        raise ApiError(config_not_found())
    return store.default_config_id


class ConfigsGroup(ResourceGroup):
    """WhatsApp configs (list, get) and their health, healthy until a test says otherwise."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._health: dict[str, str] = {}

    def set_config_health(self, whatsapp_config_id: str, status: str) -> None:
        """Make the health check of one config report ``status`` from now on.

        :param whatsapp_config_id: the config.
        :param status: ``healthy``, ``degraded`` (webhook checks fail), ``unhealthy`` (phone number access
            fails) or ``error`` (the check itself failed).
        :raises KeyError: for an unknown config.
        :raises ValueError: for another status.
        """
        if status not in HEALTH_STATUSES:
            raise ValueError(f"status must be one of {HEALTH_STATUSES}")
        with self.lock:
            self.store.config(whatsapp_config_id)
            self._health[whatsapp_config_id] = status

    def health_status(self, whatsapp_config_id: str) -> str:
        """The health a test chose for a config (``healthy`` by default).

        :param whatsapp_config_id: the config.
        """
        with self.lock:
            return self._health.get(whatsapp_config_id, "healthy")

    def reset(self) -> None:
        """Every config healthy again."""
        self._health.clear()

    def routes(self) -> list[Route]:
        """Config list, get and health."""
        return [
            route("GET", "/whatsapp_configs", self._list),
            route("GET", "/whatsapp_configs/{id}", self._get),
            route("GET", "/whatsapp_configs/{id}/health", self._health_answer),
        ]

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        waba = first(query, "q[business_account_id_eq]", "business_account_id")
        name = first(query, "q[name_cont]")
        selected = [
            config
            for config in self.store.configs()
            if (waba is None or config["business_account_id"] == waba)
            and (name is None or name.lower() in config["name"].lower())
        ]
        return paginate(selected, query)

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self.store.config(params["id"])})

    def _health_answer(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        # The report is the body itself, not wrapped in "data" (both files agree).
        return json_response(200, self.health_report(params["id"]))

    def health_report(self, config_id: str) -> dict[str, Any]:
        """The health check of a config as the test set it (v1's and the Platform API's report).

        :param config_id: the config.
        :raises NotFoundError: for an unknown config.
        """
        config = self.store.config(config_id)
        status = self.health_status(config_id)
        stamp = self.store.now()
        if status == "error":
            return {"status": "error", "error": "Health check failed: WhatsApp API unavailable", "timestamp": stamp}
        phone_ok = status != "unhealthy"
        webhooks_ok = status == "healthy"
        phone_check: dict[str, Any] = {
            "passed": phone_ok,
            "details": {
                "verified_name": config["name"],
                "display_phone_number": config["display_phone_number"],
                "quality_rating": "GREEN",
                "id": config["phone_number_id"],
            },
        }
        if not phone_ok:
            phone_check = {"passed": False, "details": {}, "error": "Phone number not accessible with this token"}
        subscription: dict[str, Any] = {
            "passed": webhooks_ok,
            "details": {
                "app_id": "123456789",
                "subscribed": webhooks_ok,
                "subscribed_fields": ["messages", "message_deliveries"] if webhooks_ok else [],
            },
        }
        if not webhooks_ok:
            subscription["error"] = "App is not subscribed to the WhatsApp Business Account"
        return {
            "status": status,
            "checks": {
                "phone_number_access": phone_check,
                "messaging_health": {
                    "passed": phone_ok,
                    "overall_status": "AVAILABLE" if phone_ok else "BLOCKED",
                    "details": {"can_send_message": "AVAILABLE" if phone_ok else "BLOCKED", "entities": []},
                },
                "webhook_subscription": subscription,
                "webhook_verified": {
                    "passed": webhooks_ok,
                    "details": {"verified_at": config["webhook_verified_at"]} if webhooks_ok else {},
                },
            },
            "timestamp": stamp,
        }
