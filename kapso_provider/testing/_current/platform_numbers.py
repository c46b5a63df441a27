"""The Platform API's phone numbers (list, get, health check) and media ingest from a URL.

The phone numbers are v1's WhatsApp configs seen by their Meta ``phone_number_id``; their health is the one
a test set with ``simulator.platform.set_config_health``. The health check has its own rate limit, per
project as the file says: 5 requests a second and 60 a minute, with ``X-Health-RateLimit-*`` headers on
every answer and 429 with ``Retry-After`` over it.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._current.cursor import query_time
from kapso_provider.testing._errors import RuleError, ValidationError
from kapso_provider.testing._http import Response, int_param, json_response, paginate
from kapso_provider.testing._routing import ResourceGroup, object_field, route

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kapso_provider.testing._current.media import MediaBook
    from kapso_provider.testing._routing import Route
    from kapso_provider.testing._store import Store
    from kapso_provider.testing._v1.configs import ConfigsGroup

__all__ = ["HealthLimiter", "PlatformNumbersGroup"]

_NUMBER = "/whatsapp/phone_numbers/{phone_number_id}"


class HealthLimiter:
    """Fixed one-second and one-minute windows for the health check.

    :param per_second: requests allowed each second.
    :param per_minute: requests allowed each minute.
    """

    def __init__(self, per_second: int = 5, per_minute: int = 60) -> None:
        self._lock = threading.Lock()
        self.per_second = per_second
        self.per_minute = per_minute
        self._windows: dict[float, tuple[float, int]] = {}

    def count(self) -> tuple[dict[str, str], int | None]:
        """Count one check; returns the headers and, when over a limit, ``Retry-After`` seconds."""
        now = time.monotonic()
        headers: dict[str, str] = {}
        retry_after: int | None = None
        with self._lock:
            for span, limit, name in ((1.0, self.per_second, "Second"), (60.0, self.per_minute, "Minute")):
                start, used = self._windows.get(span, (now, 0))
                if now - start >= span:
                    start, used = now, 0
                used += 1
                self._windows[span] = (start, used)
                headers[f"X-Health-RateLimit-{name}-Limit"] = str(limit)
                headers[f"X-Health-RateLimit-{name}-Remaining"] = str(max(0, limit - used))
                if used > limit:
                    retry_after = max(retry_after or 0, max(1, math.ceil(start + span - now)))
        return headers, retry_after

    def clear(self) -> None:
        """Forget the windows."""
        with self._lock:
            self._windows.clear()


class PlatformNumbersGroup(ResourceGroup):
    """Platform phone numbers, their health, and media ingest.

    :param store: the simulator's store.
    :param configs: the configs group, which keeps the health settings and writes the reports.
    :param media: the media book.
    """

    def __init__(self, store: Store, configs: ConfigsGroup, media: MediaBook) -> None:
        super().__init__(store)
        self._configs = configs
        self._media = media
        self.health_limiter = HealthLimiter()

    def reset(self) -> None:
        """Forget the health windows."""
        self.health_limiter.clear()

    def routes(self) -> list[Route]:
        """Phone numbers (list, get, health) and ``POST /whatsapp/media``."""
        return [
            route("GET", "/whatsapp/phone_numbers", self._list),
            route("GET", _NUMBER, self._get),
            route("GET", _NUMBER + "/health", self._health),
            route("POST", "/whatsapp/media", self._ingest),
        ]

    def _view(self, config: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": config["phone_number_id"],
            "internal_id": config["id"],
            "phone_number_id": config["phone_number_id"],
            "name": config["name"],
            "business_account_id": config["business_account_id"],
            "is_coexistence": config["is_coexistence"],
            "inbound_processing_enabled": config["inbound_processing_enabled"],
            "calls_enabled": config["calls_enabled"],
            "webhook_verified_at": config["webhook_verified_at"],
            "created_at": config["created_at"],
            "updated_at": config["updated_at"],
            "customer_id": config.get("customer_id"),
            "display_name": config["display_name"],
            "display_phone_number": config["display_phone_number"],
            "display_phone_number_normalized": config["display_phone_number_normalized"],
            "verified_name": config["name"],
            "quality_rating": "GREEN",
            "code_verification_status": "VERIFIED",
            "name_status": "APPROVED",
            "status": "CONNECTED",
            "throughput_tier": "TIER_10K" if config["kind"] == "production" else None,
            "is_official_business_account": False,
            "is_pin_enabled": False,
        }

    def _list(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        after, before = query_time(query, "created_after"), query_time(query, "created_before")
        name = (query.get("name_contains") or "").lower()
        if query.get("messaging_enabled") not in (None, "", "true", "false"):
            raise ValidationError("messaging_enabled", "must be true or false", status=400)
        int_param(query, "page", 1, 1, None)
        selected = [
            self._view(config)
            for config in self.store.configs()
            if (not query.get("phone_number_id") or config["phone_number_id"] == query["phone_number_id"])
            and (not query.get("business_account_id") or config["business_account_id"] == query["business_account_id"])
            and (not query.get("customer_id") or config.get("customer_id") == query["customer_id"])
            and (not name or name in config["name"].lower())
            and (after is None or config["created_at"] >= after)
            and (before is None or config["created_at"] <= before)
            and query.get("messaging_enabled") != "false"
        ]
        return paginate(selected, query)

    def _get(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        return json_response(200, {"data": self._view(self.store.config_by_phone_number_id(params["phone_number_id"]))})

    def _health(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        headers, retry_after = self.health_limiter.count()
        if retry_after is not None:
            text = f"Health check rate limit exceeded. Retry after {retry_after} seconds."
            return json_response(429, {"error": text}, headers={**headers, "Retry-After": str(retry_after)})
        config = self.store.config_by_phone_number_id(params["phone_number_id"])
        report = self._configs.health_report(config["id"])
        if report.get("checks"):
            connected = report["status"] != "unhealthy"
            status = "CONNECTED" if connected else "DISCONNECTED"
            report["checks"]["phone_number_connection"] = {"passed": connected, "details": {"status": status}}
        return json_response(200, report, headers=headers)

    def _ingest(self, params: Mapping[str, str], query: Mapping[str, str], body: Any) -> Response:
        fields = object_field(body, "media_ingest")
        pnid, source = fields.get("phone_number_id"), fields.get("source")
        if not isinstance(pnid, str) or not pnid:
            raise ValidationError("media_ingest.phone_number_id", "is required", status=400)
        if not isinstance(source, str) or not source.lower().startswith(("http://", "https://")):
            raise ValidationError("media_ingest.source", "must be an http(s) URL", status=400)
        delivery = fields.get("delivery", "meta_media")
        if delivery not in ("meta_media", "meta_resumable_asset"):
            raise ValidationError("media_ingest.delivery", "must be meta_media or meta_resumable_asset", status=400)
        self.store.config_by_phone_number_id(pnid)
        with self.lock:
            try:
                data = self._media.ingest(phone_number_id=pnid, url=source, delivery=str(delivery))
            except KeyError:
                raise RuleError(
                    422, f"Could not fetch {source}: the simulator only knows files a test declared"
                ) from None
        return json_response(200, {"data": data})
