"""Answer building shared by the simulator core and its resource groups (standard library only)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._errors import RuleError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    response: Response | None  # None: close the connection without answering
    delay: float = 0.0


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, headers=dict(headers or {}))


def error(status: int, message: str, *, error: str | None = None) -> Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return json_response(status, {"error": error or phrase, "status": status, "message": message})


def unprocessable(text: str) -> RuleError:
    """A 422 refusal; v1 words it with ``text`` in both ``error`` and ``message`` (Kapso's own 422 examples).

    :param text: what is wrong.
    """
    return RuleError(422, text)


def config_not_found() -> Response:
    return error(422, "WhatsApp configuration not found", error="WhatsApp configuration not found")


class ApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"greater than or equal to {low}"
        raise ValidationError(name, f"must be an integer {bound}")
    return value


def paginate(items: list[dict[str, Any]], query: Mapping[str, str]) -> Response:
    page = int_param(query, "page", 1, 1, None)
    per_page = int_param(query, "per_page", 20, 1, 100)
    total = len(items)
    start = (page - 1) * per_page
    meta = {
        "page": page,
        "per_page": per_page,
        "total_pages": math.ceil(total / per_page),
        "total_count": total,
    }
    return json_response(200, {"data": items[start : start + per_page], "meta": meta})


def first(query: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = query.get(name)
        if value not in (None, ""):
            return value
    return None


def parse_time(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(name, "must be an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ValidationError(name, "must include a time zone")
    return moment
