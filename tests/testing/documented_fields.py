"""Build the simulator's table of documented answer fields from Kapso's OpenAPI files.

Strict mode (``KapsoSimulator(strict=True)``) answers with the fields the files document and nothing else.
The simulator is standard library only and the files are not part of the package, so the table is built
here, once, and committed as ``kapso_provider/testing/_documented_fields.json``;
``test_strict.py::test_the_table_matches_the_files`` fails when the files and the table part ways.

Rebuild it with ``python -m tests.testing.documented_fields`` after the files change.

The table keeps, per API generation (its path prefix), method and path template, and status, the *shape*
of the answer (templates as each file writes them; the simulator merges the ones that differ only in
parameter names): which properties an object may keep (``"p"``), what an array's items are (``"i"``), what
the undeclared keys of an object are (``"a"``; without it they are dropped), ``0`` for a scalar and ``1``
for a value kept whole (a free-form object). Where a
schema offers alternatives (``oneOf``, ``anyOf``, ``allOf``), their properties are merged: a field any
alternative documents is documented. Where several files define one endpoint (v1 has five files), their
shapes are merged the same way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kapso_provider.testing._strict import merge_shapes
from tests._openapi import load_spec, spec_dir

TABLE = Path(__file__).resolve().parents[2] / "kapso_provider" / "testing" / "_documented_fields.json"
#: The files of each API generation, as named under ``KAPSO_OPENAPI_DIR``.
FILES = (
    "openapi.yaml",
    "openapi-whatsapp.yaml",
    "openapi-platform.yaml",
    "openapi-agents.yaml",
    "openapi-functions.yaml",
    "current/openapi-whatsapp.yaml",
    "current/openapi-platform.yaml",
    "current/openapi-kapso-agent.yaml",
)
_METHODS = ("get", "post", "put", "patch", "delete")

Shape = Any  # 0 (a scalar), 1 (anything), or a dict with some of "p", "i", "a"


def _resolve(node: Any, spec: dict[str, Any]) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
        # A dangling reference (openapi.yaml has two) documents nothing more precise than "anything".
        node = target if target is not None else {}
    return node


_SCALARS = frozenset({"string", "number", "integer", "boolean", "null"})


def shape_of(schema: Any, spec: dict[str, Any], trail: tuple[int, ...] = ()) -> Shape:
    """The shape of what ``schema`` documents: ``0`` a scalar, ``1`` anything, else a structure.

    :param schema: a schema of the file (references allowed).
    :param spec: the file.
    :param trail: ids of the schemas being expanded, to stop at recursion.
    """
    schema = _resolve(schema, spec)
    if not isinstance(schema, dict) or id(schema) in trail:
        return 1
    trail = (*trail, id(schema))
    shape: Shape = None
    for key in ("allOf", "oneOf", "anyOf"):
        for alternative in schema.get(key, []):
            part = shape_of(alternative, spec, trail)
            shape = part if shape is None else merge_shapes(shape, part)
    own: dict[str, Any] = {}
    if isinstance(schema.get("properties"), dict):
        own["p"] = {name: shape_of(sub, spec, trail) for name, sub in schema["properties"].items()}
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        own["a"] = shape_of(additional, spec, trail)
    elif additional is True:
        own["a"] = 1
    elif additional is False and "p" not in own:
        own["p"] = {}
    if isinstance(schema.get("items"), dict):
        own["i"] = shape_of(schema["items"], spec, trail)
    if own:
        return own if shape is None else merge_shapes(shape, own)
    if shape is not None:
        return shape
    kinds = schema.get("type")
    kinds = {kinds} if isinstance(kinds, str) else set(kinds or ())
    return 0 if kinds and kinds <= _SCALARS else 1


def _prefix(spec: dict[str, Any]) -> str:
    return str(urlsplit(spec["servers"][0]["url"]).path).rstrip("/")


def build() -> dict[str, Any]:
    """The table: ``{prefix: {"METHOD /template/{name}": {status: shape}}}``, as the files write templates."""
    table: dict[str, dict[str, dict[str, Shape]]] = {}
    for name in FILES:
        spec = load_spec(name)
        endpoints = table.setdefault(_prefix(spec), {})
        for template, item in spec.get("paths", {}).items():
            for method in _METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                key = f"{method.upper()} {template}"
                statuses = endpoints.setdefault(key, {})
                for status, answer in operation.get("responses", {}).items():
                    content = _resolve(answer, spec).get("content") or {}
                    media = content.get("application/json") or next(iter(content.values()), None)
                    if media is None or "schema" not in media:
                        continue
                    shape = shape_of(media["schema"], spec)
                    statuses[str(status)] = (
                        merge_shapes(statuses[str(status)], shape) if str(status) in statuses else shape
                    )
    return {prefix: dict(sorted(endpoints.items())) for prefix, endpoints in sorted(table.items())}


def render(table: dict[str, Any]) -> str:
    """The table as committed: one endpoint per line, so a change of the files shows as a readable diff."""
    lines = ["{"]
    for prefix_index, (prefix, endpoints) in enumerate(table.items()):
        lines.append(f"  {json.dumps(prefix)}: {{")
        items = list(endpoints.items())
        for index, (key, statuses) in enumerate(items):
            comma = "," if index < len(items) - 1 else ""
            lines.append(f"    {json.dumps(key)}: {json.dumps(statuses, separators=(',', ':'), sort_keys=True)}{comma}")
        lines.append("  }" + ("," if prefix_index < len(table) - 1 else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if not (spec_dir() / FILES[0]).is_file():
        sys.exit(f"Kapso's OpenAPI files are not in {spec_dir()} (set KAPSO_OPENAPI_DIR)")
    TABLE.write_text(render(build()), encoding="utf-8")
    print(f"wrote {TABLE}")
