"""The current API's answers and the tour's own requests, judged by Kapso's current OpenAPI files.

The files' flaws met on the way are pinned here, each by a test that fails once the file is fixed:

* the proxy's template create-or-update answer is a ``oneOf`` of two objects whose properties are all
  optional, so every answer matches both (checked as ``anyOf``);
* the proxy's file is OpenAPI 3.1 but marks null with 3.0's ``nullable``, which 3.1 ignores: a null there
  is invalid, so the simulator leaves such fields out;
* the mark-as-read answer of ``POST /{phone_number_id}/messages`` is documented only as a send's
  ``SendMessageResponse``; Meta answers ``{"success": true}``;
* the ``messaging_account_mismatch`` example of the same 422 matches neither of its ``oneOf`` schemas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

from kapso_provider.testing import KapsoSimulator
from tests._openapi import load_spec
from tests.testing._support import PHONE, TIMEOUT, answer_errors, errors_of, request_errors, validator
from tests.testing._tours import current_tour

if TYPE_CHECKING:
    from collections.abc import Iterator

    import requests

    from tests.testing._tours import Tour

PROXY = "current/openapi-whatsapp.yaml"
PLATFORM = "current/openapi-platform.yaml"
AGENT = "current/openapi-kapso-agent.yaml"
FILES = {"/meta/whatsapp/v24.0": (PROXY,), "/platform/v1": (PLATFORM, AGENT)}


def file_of(prefix: str, template: str) -> str:
    return next(name for name in FILES[prefix] if template in load_spec(name)["paths"])


@pytest.fixture(scope="module")
def tour() -> Iterator[tuple[KapsoSimulator, Tour]]:
    with KapsoSimulator(api_key="secret-key") as simulator:
        visited = current_tour(simulator)
        yield simulator, visited
        visited.close()


def test_every_answer_of_the_tour_matches_the_files(tour: tuple[KapsoSimulator, Tour]) -> None:
    _, visited = tour
    for key, response in visited.answers.items():
        _method, path = key.split(" ", 1)
        prefix = next(prefix for prefix in FILES if path.startswith(prefix))
        template = path.removeprefix(prefix)
        assert answer_errors(file_of(prefix, template), response, template=template) == [], key


def test_every_request_of_the_tour_matches_the_files(tour: tuple[KapsoSimulator, Tour]) -> None:
    sim, visited = tour
    templates = {key.split(" ", 1)[1] for key in visited.answers}
    checked = 0
    for request in sim.requests:
        if request.api not in ("meta", "platform"):
            continue
        prefix = {"meta": "/meta/whatsapp/v24.0", "platform": "/platform/v1"}[request.api]
        template = next(
            t.removeprefix(prefix)
            for t in templates
            if t.startswith(prefix) and _matches(t.removeprefix(prefix), request.path)
        )
        body = request.json if "multipart" not in str(request.headers.get("Content-Type")) else None
        assert request_errors(file_of(prefix, template), request.method, template, request.query, body) == [], (
            request.method,
            request.full_path,
        )
        checked += 1
    assert checked >= 60


def _matches(template: str, path: str) -> bool:
    parts, segments = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(segments) and all(
        p.startswith("{") or p == s for p, s in zip(parts, segments, strict=True)
    )


# -- the files' flaws, pinned ------------------------------------------------------------------------------


def test_proxy_template_answer_one_of_is_unsatisfiable() -> None:
    pointer = "/paths/~1{business_account_id}~1message_templates/post/responses/200/content/application~1json/schema"
    strict = validator(PROXY, pointer, patched=False)
    answer = {"id": "1627019861106475", "status": "PENDING", "category": "UTILITY"}
    assert any("is valid under each of" in message for message in errors_of(strict, answer))
    assert errors_of(validator(PROXY, pointer), answer) == []


def test_proxy_file_marks_null_with_a_keyword_3_1_ignores() -> None:
    document = load_spec(PROXY)
    assert document["openapi"].startswith("3.1")
    kapso = document["components"]["schemas"]["WhatsappMessageResponse"]["properties"]["kapso"]["properties"]
    assert kapso["contact_name"] == {**kapso["contact_name"], "type": "string", "nullable": True}
    checker = validator(PROXY, "/components/schemas/WhatsappMessageResponse/properties/kapso")
    assert errors_of(checker, {"contact_name": None}) == ["contact_name: None is not of type 'string'"]


@pytest.fixture
def sent(sim: KapsoSimulator, http: requests.Session) -> dict[str, Any]:
    body = {"messaging_product": "whatsapp", "to": PHONE, "type": "text", "text": {"body": "hi"}}
    response = http.post(f"{sim.meta_url}/{sim.default_phone_number_id}/messages", json=body, timeout=TIMEOUT)
    return dict(response.json())


def test_mark_read_answer_is_not_the_documented_one(sim: KapsoSimulator, http: requests.Session) -> None:
    inbound = sim.deliver_inbound_from(PHONE, "hello")
    body = {"messaging_product": "whatsapp", "status": "read", "message_id": inbound["whatsapp_message_id"]}
    answer = http.post(f"{sim.meta_url}/{sim.default_phone_number_id}/messages", json=body, timeout=TIMEOUT)
    assert answer.json() == {"success": True}
    assert answer_errors(PROXY, answer) != []
    assert request_errors(PROXY, "POST", "/{phone_number_id}/messages", {}, body) == []


def test_account_mismatch_example_matches_neither_schema(sim: KapsoSimulator, http: requests.Session) -> None:
    body = {
        "messaging_product": "whatsapp",
        "to": PHONE,
        "type": "text",
        "text": {"body": "hi"},
        "messaging_account_id": "999",
    }
    answer = http.post(f"{sim.meta_url}/{sim.default_phone_number_id}/messages", json=body, timeout=TIMEOUT)
    assert answer.status_code == 422
    assert answer.json()["code"] == "messaging_account_mismatch"
    assert answer_errors(PROXY, answer) != []


def test_a_wamid_goes_in_the_path_quoted(sim: KapsoSimulator, http: requests.Session, sent: dict[str, Any]) -> None:
    wamid = sent["messages"][0]["id"]
    answer = http.get(f"{sim.platform_url}/whatsapp/messages/{quote(wamid, safe='')}", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert answer.json()["data"]["id"] == wamid
