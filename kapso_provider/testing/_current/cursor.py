"""Cursor pagination of the current API: ``limit``, ``after``, ``before`` and ``paging``.

Lists are newest first. A cursor is Base64 of the position's sort key, as Kapso's are (its examples decode to
``{"values": [created_at, id], "columns": [...]}``). ``after`` pages towards older items, ``before`` towards
newer ones, so a poller that keeps the ``before`` cursor of its newest item gets exactly what arrived since.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kapso_provider.testing._clock import utc_timestamp
from kapso_provider.testing._errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["cursor_page", "encode_cursor", "query_time"]

Key = tuple[str, ...]


def encode_cursor(key: Key, columns: tuple[str, ...]) -> str:
    """The cursor of a position.

    :param key: the sort key of the item at the position.
    :param columns: the key's column names.
    """
    payload = json.dumps({"values": list(key), "columns": list(columns)}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def _decode(name: str, cursor: str, columns: tuple[str, ...]) -> Key:
    try:
        payload = json.loads(base64.b64decode(cursor.encode(), validate=True))
        values = payload["values"]
    except (ValueError, binascii.Error, KeyError, TypeError):
        raise ValidationError(name, "is not a valid cursor", status=400) from None
    if not isinstance(values, list) or len(values) != len(columns) or not all(isinstance(v, str) for v in values):
        raise ValidationError(name, "is not a valid cursor", status=400)
    return tuple(values)


def query_time(query: Mapping[str, str], name: str) -> str | None:
    """A date-time filter of the query as a UTC stamp comparable with the records', or ``None``.

    :param query: the request's query.
    :param name: the parameter (``since``, ``created_after``).
    :raises ValidationError: 400 for a value that is not an ISO 8601 date-time with a time zone.
    """
    value = query.get(name)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(name, "must be an ISO 8601 date-time", status=400) from None
    if moment.tzinfo is None:
        raise ValidationError(name, "must include a time zone", status=400)
    return utc_timestamp(moment)


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw in (None, ""):
        return 20
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ValidationError("limit", "must be an integer between 1 and 100", status=400)
    return limit


def cursor_page(
    items: list[dict[str, Any]],
    query: Mapping[str, str],
    key: Callable[[dict[str, Any]], Key],
    *,
    columns: tuple[str, ...] = ("created_at", "id"),
    links: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of a newest-first list and its ``paging`` object.

    :param items: every item, newest first (sorted by ``key``, descending).
    :param query: the request's query (``limit``, ``after``, ``before``).
    :param key: the sort key of an item.
    :param columns: the key's column names, written into the cursors.
    :param links: add the Platform API's ``next`` / ``previous`` cursors.
    :raises ValidationError: for a bad ``limit`` or cursor (400).
    """
    limit = _limit(query)
    after, before = query.get("after"), query.get("before")
    if after and before:
        raise ValidationError("before", "cannot be combined with after", status=400)
    if after:
        mark = _decode("after", after, columns)
        window = [item for item in items if key(item) < mark]
        page = window[:limit]
    elif before:
        mark = _decode("before", before, columns)
        window = [item for item in items if key(item) > mark]
        page = window[-limit:]
    else:
        page = items[:limit]
    paging: dict[str, Any] = {"cursors": {}}
    if page:
        first, last = key(page[0]), key(page[-1])
        paging["cursors"] = {"before": encode_cursor(first, columns), "after": encode_cursor(last, columns)}
        if links:
            if any(key(item) < last for item in items):
                paging["next"] = paging["cursors"]["after"]
            if any(key(item) > first for item in items):
                paging["previous"] = paging["cursors"]["before"]
    return page, paging
