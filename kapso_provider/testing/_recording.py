"""What the simulator keeps of every request it receives, for tests to inspect."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["API_KEY_HEADER", "Headers", "RecordedRequest"]

API_KEY_HEADER = "X-API-Key"
_REDACTED = "***"


class Headers(dict[str, str]):
    """Request headers as sent, looked up case-insensitively (``headers["x-api-key"]`` works)."""

    def _key(self, name: str) -> str:
        lowered = name.lower()
        for key in self:
            if key.lower() == lowered:
                return key
        return name

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(self._key(name))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(self._key(name))

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """Header value by case-insensitive name.

        :param name: header name.
        :param default: returned when the header is absent.
        """
        key = self._key(name)
        return super().__getitem__(key) if super().__contains__(key) else default


@dataclass(frozen=True, repr=False)
class RecordedRequest:
    """One request the simulator received (control endpoints excluded).

    :param method: HTTP method.
    :param path: the path below ``/api/v1`` without the query string (``/whatsapp_messages``), the one
        faults are matched against; for a request outside ``/api/v1``, its whole path.
    :param query: query parameters (the last value wins for a repeated name).
    :param headers: request headers, case-insensitive lookup; the API key is there verbatim, but the
        ``repr`` and the control endpoint redact it.
    :param json: the decoded JSON body, ``None`` when absent or not JSON.
    :param body: the raw body bytes.
    :param full_path: the whole request path (``/api/v1/whatsapp_messages``).
    :param received_at: ``time.time()`` when the request was read.
    :param api: the API it was for: ``v1``, ``meta`` (the WhatsApp Cloud API proxy), ``platform``, or ``""``
        outside every API.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    json: Any
    body: bytes
    full_path: str = ""
    received_at: float = field(default_factory=time.time)
    api: str = ""

    def redacted_headers(self) -> dict[str, str]:
        """The headers with the API key replaced by ``***``."""
        return {
            name: (_REDACTED if name.lower() == API_KEY_HEADER.lower() else value)
            for name, value in self.headers.items()
        }

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data, API key redacted (what ``GET /__kapso_simulator__/requests`` returns)."""
        return {
            "method": self.method,
            "path": self.path,
            "full_path": self.full_path,
            "query": dict(self.query),
            "headers": self.redacted_headers(),
            "json": self.json,
            "body": self.body.decode("utf-8", errors="replace"),
            "received_at": self.received_at,
            "api": self.api,
        }

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
            f"headers={self.redacted_headers()!r}, json={self.json!r})"
        )
