"""Strict mode: answers keep the fields Kapso's files document for their endpoint and status, nothing else.

The simulator's records carry a few fields no file promises (a v1 message's ``whatsapp_conversation_id``,
for one). A client that reads them works against the simulator and fails against a Kapso that answers as
documented; strict mode shows it. The table of documented fields (``_documented_fields.json``) is built
from the files by ``tests/testing/documented_fields.py`` and read on first use.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

from kapso_provider.testing._http import Response

__all__ = ["documented_only", "merge_shapes", "prune", "shape_for"]

_PARAMETER = re.compile(r"\{[^}]+\}")


@functools.cache
def _table() -> dict[str, dict[str, dict[str, Any]]]:
    text = resources.files("kapso_provider.testing").joinpath("_documented_fields.json").read_text(encoding="utf-8")
    table: dict[str, dict[str, dict[str, Any]]] = json.loads(text)
    return table


def merge_shapes(left: Any, right: Any) -> Any:
    """The shape of a value that either shape documents (the table's builder merges with it too).

    ``0`` (a scalar) says nothing about objects or arrays and gives way to the other side; ``1`` (anything)
    absorbs it. Two structures keep every property, item and map value either side documents.

    :param left: a shape.
    :param right: another.
    """
    if left == 0 or right == 0:
        return right if left == 0 else left
    if left == 1 or right == 1:
        return 1
    merged: dict[str, Any] = {}
    if "p" in left or "p" in right:
        properties = dict(left.get("p", {}))
        for name, shape in right.get("p", {}).items():
            properties[name] = merge_shapes(properties[name], shape) if name in properties else shape
        merged["p"] = properties
    for key in ("a", "i"):
        if key in left and key in right:
            merged[key] = merge_shapes(left[key], right[key])
        elif key in left or key in right:
            merged[key] = left.get(key, right.get(key))
    return merged


def _statuses(prefix: str, method: str, templates: tuple[str, ...]) -> dict[str, Any]:
    endpoints = _table().get(prefix, {})
    merged: dict[str, Any] = {}
    for key, statuses in endpoints.items():
        key_method, key_template = key.split(" ", 1)
        if key_method != method or _PARAMETER.sub("{}", key_template) not in templates:
            continue
        for code, shape in statuses.items():
            merged[code] = merge_shapes(merged[code], shape) if code in merged else shape
    return merged


def shape_for(
    prefix: str, method: str, template: str, status: int, *, documented_as: tuple[str, ...] | None = None
) -> Any | None:
    """The documented shape of an answer, or ``None`` when no file documents a body for it.

    Files that write the endpoint's template with other parameter names (v1's ``{id}`` and ``{config_id}``)
    are merged. A status the endpoint does not document takes the shapes of its documented statuses of the
    same kind (success, or error), merged.

    :param prefix: the API's path prefix (``/api/v1``).
    :param method: HTTP method.
    :param template: the route's path template.
    :param status: the answer's status.
    :param documented_as: the files' exact templates of the endpoint, where parameter names alone tell
        endpoints apart (the proxy's ``/{phone_number_id}`` and ``/{media_id}``).
    """
    if documented_as is not None:
        statuses: dict[str, Any] = {}
        for exact in documented_as:
            for code, shape in _table().get(prefix, {}).get(f"{method} {exact}", {}).items():
                statuses[code] = merge_shapes(statuses[code], shape) if code in statuses else shape
    else:
        statuses = _statuses(prefix, method, (_PARAMETER.sub("{}", template),))
    if not statuses:
        return None
    if str(status) in statuses:
        return statuses[str(status)]
    alike = [shape for code, shape in statuses.items() if (int(code) < 400) == (status < 400)]
    return functools.reduce(merge_shapes, alike) if alike else None


def prune(value: Any, shape: Any) -> Any:
    """``value`` with every field ``shape`` does not document removed.

    :param value: decoded JSON.
    :param shape: its documented shape (see ``tests/testing/documented_fields.py``).
    """
    if shape in (0, 1) or not isinstance(shape, dict):
        return value
    if isinstance(value, dict) and ("p" in shape or "a" in shape):
        properties = shape.get("p", {})
        kept = {}
        for name, item in value.items():
            if name in properties:
                kept[name] = prune(item, properties[name])
            elif "a" in shape:
                kept[name] = prune(item, shape["a"])
        return kept
    if isinstance(value, list) and "i" in shape:
        return [prune(item, shape["i"]) for item in value]
    return value


def documented_only(
    prefix: str, method: str, template: str, response: Response, *, documented_as: tuple[str, ...] | None = None
) -> Response:
    """The answer with its JSON body pruned to the documented fields (other bodies unchanged).

    :param prefix: the API's path prefix.
    :param method: HTTP method.
    :param template: the route's path template.
    :param response: the answer.
    :param documented_as: see :func:`shape_for`.
    """
    if not response.body or not response.content_type.startswith("application/json"):
        return response
    shape = shape_for(prefix, method, template, response.status, documented_as=documented_as)
    if shape is None:
        return response
    body = json.dumps(prune(json.loads(response.body), shape), ensure_ascii=False).encode("utf-8")
    return Response(response.status, body, response.content_type, dict(response.headers))
