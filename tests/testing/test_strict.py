"""Strict mode: answers with the fields Kapso's files document, and the list of fields it takes away.

A tour calls every endpoint the simulator serves once, successfully. In the default mode each answer is
compared with what strict mode keeps of it: :data:`UNDOCUMENTED` is every field the simulator adds beyond
the files, per endpoint (the same list as in ``docs/kapso-api-notes.md``). In strict mode every answer of
the tour must still be valid against the files.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
import requests

from kapso_provider.testing import KapsoSimulator
from kapso_provider.testing._http import Response
from kapso_provider.testing._strict import documented_only, merge_shapes, prune, shape_for
from tests.testing import documented_fields
from tests.testing._support import PHONE, TIMEOUT, answer_errors
from tests.testing._tours import Tour, current_tour, v1_tour

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Fields of the default answers that no file documents for the endpoint, as JSON paths (``[]`` an item).
UNDOCUMENTED: dict[str, set[str]] = {
    "GET /api/v1/agents/{agent_id}/executions": {
        "meta",
        "meta.page",
        "meta.per_page",
        "meta.total_count",
        "meta.total_pages",
    },
    "GET /api/v1/whatsapp_conversations": {"data[].created_at", "data[].updated_at"},
    "GET /api/v1/whatsapp_conversations/{conversation_id}": {"data.created_at", "data.updated_at"},
    "PATCH /api/v1/whatsapp_conversations/{conversation_id}": {"data.created_at", "data.updated_at"},
    "GET /api/v1/whatsapp_conversations/{conversation_id}/whatsapp_messages": {
        "data[].whatsapp_config_id",
        "data[].whatsapp_conversation_id",
    },
    "POST /api/v1/whatsapp_conversations/{conversation_id}/whatsapp_messages": {
        "data.whatsapp_config_id",
        "data.whatsapp_conversation_id",
    },
    "POST /api/v1/whatsapp_messages": {"data.whatsapp_config_id", "data.whatsapp_conversation_id"},
    "PATCH /api/v1/whatsapp_messages/{id}/mark_as_read": {"data.whatsapp_config_id", "data.whatsapp_conversation_id"},
    "GET /api/v1/whatsapp_templates": {"data[].parameter_format"},
    "POST /api/v1/whatsapp_templates": {"data.parameter_format"},
    "GET /api/v1/whatsapp_templates/{template_id}": {"data.parameter_format"},
    "PATCH /api/v1/whatsapp_templates/{template_id}": {"data.parameter_format"},
    "POST /api/v1/whatsapp_templates/{template_id}/submit": {"data.parameter_format"},
    "PATCH /api/v1/whatsapp_templates/{template_id}/meta": {"data.parameter_format"},
    # The file's own examples carry it; its check schema has passed, details and error only.
    "GET /platform/v1/whatsapp/phone_numbers/{phone_number_id}/health": {"checks.messaging_health.overall_status"},
}


def field_paths(value: Any, prefix: str = "") -> set[str]:
    """Every field of a JSON value as a path: ``data.id``, ``data[].id``."""
    if isinstance(value, dict):
        paths = set()
        for name, item in value.items():
            path = f"{prefix}.{name}" if prefix else name
            paths |= {path} | field_paths(item, path)
        return paths
    if isinstance(value, list):
        return set().union(*(field_paths(item, prefix + "[]") for item in value)) if value else set()
    return set()


@pytest.fixture(scope="module")
def tour() -> Iterator[Tour]:
    with KapsoSimulator(api_key="secret-key") as simulator:
        visited = v1_tour(simulator)
        current = current_tour(simulator)
        visited.answers.update(current.answers)
        yield visited
        visited.close()
        current.close()


def test_the_tour_visits_every_endpoint(tour: Tour) -> None:
    served = {f"{method} {template}" for method, template in tour.sim.endpoints}
    assert served == set(tour.answers)


def test_the_table_matches_the_files() -> None:
    assert documented_fields.TABLE.read_text(encoding="utf-8") == documented_fields.render(documented_fields.build())


PREFIXES = ("/api/v1", "/meta/whatsapp/v24.0", "/platform/v1")
#: The files each API's answers are judged by, newest first: the first that defines the endpoint is used.
FILES = {
    "/api/v1": ("openapi-whatsapp.yaml", "openapi-agents.yaml", "openapi-platform.yaml", "openapi.yaml"),
    "/meta/whatsapp/v24.0": ("current/openapi-whatsapp.yaml",),
    "/platform/v1": ("current/openapi-platform.yaml", "current/openapi-kapso-agent.yaml"),
}
#: openapi.yaml's answer for this endpoint is a dangling ``$ref`` (``Project``): nothing to validate against.
DANGLING = frozenset({"/projects/{id}"})


def split(key: str) -> tuple[str, str, str, tuple[str, ...] | None]:
    """``(prefix, method, template, documented_as)`` of a tour key; the current APIs' routes are written
    with their files' exact templates."""
    method, path = key.split(" ", 1)
    prefix = next(prefix for prefix in PREFIXES if path.startswith(prefix + "/"))
    template = path.removeprefix(prefix)
    return prefix, method, template, None if prefix == "/api/v1" else (template,)


def test_undocumented_fields_per_endpoint(tour: Tour) -> None:
    found = {}
    for key, response in tour.answers.items():
        if not response.content:
            continue
        prefix, method, template, exact = split(key)
        raw = Response(response.status_code, response.content, response.headers["Content-Type"])
        pruned = json.loads(documented_only(prefix, method, template, raw, documented_as=exact).body)
        extras = field_paths(response.json()) - field_paths(pruned)
        if extras:
            found[key] = extras
    assert found == UNDOCUMENTED


def test_strict_answers_keep_documented_fields_only_and_stay_valid() -> None:
    with KapsoSimulator(api_key="secret-key", strict=True) as simulator:
        visited = v1_tour(simulator)
        current = current_tour(simulator)
    visited.answers.update(current.answers)
    for key, response in visited.answers.items():
        if not response.content:
            continue
        prefix, method, template, exact = split(key)
        shape = shape_for(prefix, method, template, response.status_code, documented_as=exact)
        assert prune(response.json(), shape) == response.json(), key
        for name in () if template in DANGLING else FILES[prefix]:
            try:
                errors = answer_errors(name, response, template=template if exact else None)
            except (LookupError, KeyError):
                continue
            assert errors == [], (key, name)
            break


@pytest.mark.parametrize(
    ("value", "shape", "expected"),
    [
        ({"a": 1, "b": 2}, {"p": {"a": 0}}, {"a": 1}),
        ({"a": {"x": 1, "y": 2}}, {"p": {"a": {"p": {"x": 0}}}}, {"a": {"x": 1}}),
        ({"a": {"x": 1}}, {"p": {"a": 1}}, {"a": {"x": 1}}),
        ([{"a": 1, "b": 2}], {"i": {"p": {"a": 0}}}, [{"a": 1}]),
        ({"k1": {"a": 1, "b": 2}}, {"a": {"p": {"a": 0}}}, {"k1": {"a": 1}}),
        ({"a": 1, "z": 2}, {"p": {"a": 0}, "a": 1}, {"a": 1, "z": 2}),
        ("text", {"p": {"a": 0}}, "text"),
        ([1, 2], {"p": {}}, [1, 2]),
    ],
    ids=["drop", "nested", "free-form", "items", "map", "open-object", "scalar", "list-against-object"],
)
def test_prune(value: Any, shape: Any, expected: Any) -> None:
    assert prune(value, shape) == expected


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (0, {"p": {"a": 0}}, {"p": {"a": 0}}),
        (1, {"p": {"a": 0}}, 1),
        ({"p": {"a": 0}}, {"p": {"b": 0}}, {"p": {"a": 0, "b": 0}}),
        ({"p": {"a": {"p": {"x": 0}}}}, {"p": {"a": {"p": {"y": 0}}}}, {"p": {"a": {"p": {"x": 0, "y": 0}}}}),
        ({"p": {"a": 0}}, {"a": 1}, {"p": {"a": 0}, "a": 1}),
        ({"i": 0}, {"p": {"a": 0}}, {"p": {"a": 0}, "i": 0}),
    ],
    ids=["scalar-gives-way", "anything-absorbs", "union", "deep-union", "map", "array-and-object"],
)
def test_merge(left: Any, right: Any, expected: Any) -> None:
    assert merge_shapes(left, right) == expected


def test_strict_is_a_setting(sim: KapsoSimulator) -> None:
    assert sim.strict is False
    sim.strict = True
    sent = sim.store_outbound(phone_number=PHONE)
    listed = requests.get(
        f"{sim.base_url}/whatsapp_conversations/{sent['whatsapp_conversation_id']}/whatsapp_messages",
        headers={"X-API-Key": sim.api_key},
        timeout=TIMEOUT,
    ).json()["data"]
    assert "whatsapp_conversation_id" not in listed[0]
    with pytest.raises(ValueError, match="strict"):
        sim.strict = "yes"  # type: ignore[assignment]
    answer = requests.post(f"{sim.control_url}/settings", json={"strict": False}, timeout=TIMEOUT)
    assert answer.json()["data"]["strict"] is False
    assert sim.strict is False
