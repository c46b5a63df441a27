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


class Tour:
    """Calls endpoints and keeps each answer by its route."""

    def __init__(self, sim: KapsoSimulator) -> None:
        self.sim = sim
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = sim.api_key
        self.answers: dict[str, requests.Response] = {}

    def __call__(self, method: str, template: str, path: str, body: Any = None, **params: str) -> Any:
        response = self.session.request(
            method, self.sim.base_url + path, json=body, params=params or None, timeout=TIMEOUT
        )
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        self.answers[f"{method} /api/v1{template}"] = response
        return response.json() if response.content else None


def v1_tour(sim: KapsoSimulator) -> Tour:
    """One successful call of every v1 endpoint."""
    call = Tour(sim)
    config_id = sim.default_whatsapp_config_id
    call("POST", "/whatsapp_messages", "/whatsapp_messages", {"message": {"phone_number": PHONE, "content": "hi"}})
    # Not from the answer: strict mode takes whatsapp_conversation_id away, as the files do not promise it.
    (conversation_id,) = [record["id"] for record in sim.conversations()]
    conversation = f"/whatsapp_conversations/{conversation_id}"
    call("GET", "/whatsapp_conversations", "/whatsapp_conversations")
    call("GET", "/whatsapp_conversations/{conversation_id}", conversation)
    call(
        "PATCH",
        "/whatsapp_conversations/{conversation_id}",
        conversation,
        {"whatsapp_conversation": {"status": "active"}},
    )
    messages = "/whatsapp_conversations/{conversation_id}/whatsapp_messages"
    call("POST", messages, conversation + "/whatsapp_messages", {"message": {"content": "hello"}})
    inbound = sim.deliver_inbound(conversation_id, "thanks")
    call("GET", messages, conversation + "/whatsapp_messages")
    call("PATCH", "/whatsapp_messages/{id}/mark_as_read", f"/whatsapp_messages/{inbound['id']}/mark_as_read")
    assignments = "/whatsapp_conversations/{whatsapp_conversation_id}/conversation_assignments"
    created = call(
        "POST",
        assignments,
        conversation + "/conversation_assignments",
        {"conversation_assignment": {"user_id": sim.assignments.default_user_id}},
    )
    call("GET", assignments, conversation + "/conversation_assignments")
    call(
        "PATCH",
        assignments + "/{id}",
        f"{conversation}/conversation_assignments/{created['data']['id']}",
        {"conversation_assignment": {"notes": "VIP"}},
    )
    call("GET", "/whatsapp_configs", "/whatsapp_configs")
    call("GET", "/whatsapp_configs/{id}", f"/whatsapp_configs/{config_id}")
    call("GET", "/whatsapp_configs/{id}/health", f"/whatsapp_configs/{config_id}/health")
    customer = call("POST", "/customers", "/customers", {"customer": {"name": "Acme", "external_customer_id": "A-1"}})
    customer_path = f"/customers/{customer['data']['id']}"
    call("GET", "/customers", "/customers")
    call("GET", "/customers/{id}", customer_path)
    call("PATCH", "/customers/{id}", customer_path, {"customer": {"name": "Acme Inc"}})
    call("DELETE", "/customers/{id}", customer_path)
    call("GET", "/projects/{id}", f"/projects/{sim.platform.project_id}")
    _templates(call, sim)
    _contacts(call)
    _agents(call, sim)
    _broadcasts(call, sim)
    return call


def _templates(call: Tour, sim: KapsoSimulator) -> None:
    components = [{"type": "BODY", "text": "Hi {{1}}"}]
    draft = call(
        "POST",
        "/whatsapp_templates",
        "/whatsapp_templates",
        {"template": {"name": "promo", "language_code": "en_US", "category": "MARKETING", "components": components}},
    )["data"]
    path = f"/whatsapp_templates/{draft['id']}"
    call("GET", "/whatsapp_templates", "/whatsapp_templates")
    call("GET", "/whatsapp_templates/{template_id}", path)
    call("PATCH", "/whatsapp_templates/{template_id}", path, {"template": {"components": components}})
    call("POST", "/whatsapp_templates/{template_id}/submit", path + "/submit", {})
    sim.template_admin.review(draft["id"])
    call("PATCH", "/whatsapp_templates/{template_id}/meta", path + "/meta", {"template": {"time_to_live": 60}})
    call(
        "POST",
        "/whatsapp_templates/{template_id}/send_template",
        path + "/send_template",
        {"template": {"phone_number": PHONE, "template_parameters": ["Ann"]}},
    )
    call("POST", "/whatsapp_templates/sync", "/whatsapp_templates/sync", {})
    call("GET", "/whatsapp_templates/sync_status", "/whatsapp_templates/sync_status")


def _contacts(call: Tour) -> None:
    contact = call("POST", "/whatsapp_contacts", "/whatsapp_contacts", {"contact": {"wa_id": "15557654321"}})["data"]
    path = f"/whatsapp_contacts/{contact['id']}"
    call("GET", "/whatsapp_contacts", "/whatsapp_contacts")
    call("GET", "/whatsapp_contacts/{identifier}", path)
    call("PATCH", "/whatsapp_contacts/{identifier}", path, {"contact": {"profile_name": "Ann"}})
    note = call("POST", "/whatsapp_contacts/{identifier}/notes", path + "/notes", {"note": {"content": "VIP"}})["data"]
    note_path = f"{path}/notes/{note['id']}"
    call("GET", "/whatsapp_contacts/{identifier}/notes", path + "/notes")
    call("GET", "/whatsapp_contacts/{identifier}/notes/{note_id}", note_path)
    call("PATCH", "/whatsapp_contacts/{identifier}/notes/{note_id}", note_path, {"note": {"content": "VVIP"}})
    call("DELETE", "/whatsapp_contacts/{identifier}/notes/{note_id}", note_path)


def _agents(call: Tour, sim: KapsoSimulator) -> None:
    agent = sim.agents.add_agent()
    sim.agents.agent_status_sequence = ("paused",)
    agent_path = f"/agents/{agent['id']}"
    call("GET", "/agents", "/agents")
    call("GET", "/agents/{agent_id}", agent_path)
    execution = call("POST", "/agents/{agent_id}/executions", agent_path + "/executions", {"message": "hi"})["data"]
    execution_path = f"{agent_path}/executions/{execution['id']}"
    call("GET", "/agents/{agent_id}/executions", agent_path + "/executions")
    call("GET", "/agents/{agent_id}/executions/{execution_id}", execution_path)
    call("POST", "/agents/{agent_id}/executions/{execution_id}/resume", execution_path + "/resume", {})
    call(
        "PUT",
        "/agents/{agent_id}/executions/{execution_id}",
        execution_path,
        {"agent_execution": {"status": "ended"}},
    )
    flow = sim.agents.add_flow()
    sim.agents.flow_status_sequence = ("waiting",)
    flow_path = f"/flows/{flow['id']}"
    call("GET", "/flows", "/flows")
    call("GET", "/flows/{flow_id}", flow_path)
    call("POST", "/flows/{flow_id}/executions", flow_path + "/executions", {"phone_number": PHONE})
    (flow_execution,) = call("GET", "/flows/{flow_id}/executions", flow_path + "/executions")["data"]
    call("GET", "/flow_executions/{execution_id}", f"/flow_executions/{flow_execution['id']}")
    call(
        "POST",
        "/flow_executions/{execution_id}/resume",
        f"/flow_executions/{flow_execution['id']}/resume",
        {"input": "yes"},
    )


def _broadcasts(call: Tour, sim: KapsoSimulator) -> None:
    template = sim.create_template("offer", category="MARKETING", content="Hi {{1}}")
    body = {
        "whatsapp_broadcast": {
            "name": "Spring",
            "whatsapp_config_id": sim.default_whatsapp_config_id,
            "whatsapp_template_id": template["id"],
        }
    }
    broadcast = call("POST", "/whatsapp_broadcasts", "/whatsapp_broadcasts", body)["data"]
    path = f"/whatsapp_broadcasts/{broadcast['id']}"
    recipients = {"recipients": [{"phone_number": PHONE, "template_parameters": ["Ann"]}]}
    call("POST", "/whatsapp_broadcasts/{broadcast_id}/recipients", path + "/recipients", recipients)
    call("GET", "/whatsapp_broadcasts/{broadcast_id}/recipients", path + "/recipients")
    call("POST", "/whatsapp_broadcasts/{broadcast_id}/send", path + "/send")
    call("GET", "/whatsapp_broadcasts", "/whatsapp_broadcasts")
    call("GET", "/whatsapp_broadcasts/{broadcast_id}", path)


@pytest.fixture(scope="module")
def tour() -> Iterator[Tour]:
    with KapsoSimulator(api_key="secret-key") as simulator:
        visited = v1_tour(simulator)
        yield visited
        visited.session.close()


def test_the_tour_visits_every_endpoint(tour: Tour) -> None:
    served = {f"{method} {template}" for method, template in tour.sim.endpoints}
    assert served == set(tour.answers)


def test_the_table_matches_the_files() -> None:
    assert documented_fields.TABLE.read_text(encoding="utf-8") == documented_fields.render(documented_fields.build())


def test_undocumented_fields_per_endpoint(tour: Tour) -> None:
    found = {}
    for key, response in tour.answers.items():
        method, template = key.split(" ", 1)
        if not response.content:
            continue
        raw = Response(response.status_code, response.content, response.headers["Content-Type"])
        pruned = json.loads(documented_only("/api/v1", method, template.removeprefix("/api/v1"), raw).body)
        extras = field_paths(response.json()) - field_paths(pruned)
        if extras:
            found[key] = extras
    assert found == UNDOCUMENTED


#: The file each strict answer is judged by: the newest one that defines its endpoint.
V1_FILES = ("openapi-whatsapp.yaml", "openapi-agents.yaml", "openapi-platform.yaml", "openapi.yaml")
#: openapi.yaml's answer for this endpoint is a dangling ``$ref`` (``Project``): nothing to validate against.
DANGLING = frozenset({"/projects/{id}"})


def test_strict_answers_keep_documented_fields_only_and_stay_valid() -> None:
    with KapsoSimulator(api_key="secret-key", strict=True) as simulator:
        visited = v1_tour(simulator)
    for key, response in visited.answers.items():
        if not response.content:
            continue
        method, template = key.split(" ", 1)
        template = template.removeprefix("/api/v1")
        shape = shape_for("/api/v1", method, template, response.status_code)
        assert prune(response.json(), shape) == response.json(), key
        for name in () if template in DANGLING else V1_FILES:
            try:
                errors = answer_errors(name, response)
            except LookupError:
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
