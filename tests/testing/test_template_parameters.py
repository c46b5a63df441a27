"""A template's parameters are checked on every v1 path that sends it, with the same 422 texts.

Kapso finds the template of a ``message_type: template`` send by name and language in the sending number's
Business Account and holds the parameters to it, as its template-send endpoint does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.testing._support import PHONE

if TYPE_CHECKING:
    import requests

    from kapso_provider.testing import KapsoSimulator

PATHS = ["send_template", "conversation_send", "phone_send"]


def send(
    sim: KapsoSimulator, http: requests.Session, path: str, template: dict[str, Any], params: Any
) -> requests.Response:
    """Send ``template`` with ``params`` through one of the three paths."""
    if path == "send_template":
        url = f"{sim.base_url}/whatsapp_templates/{template['id']}/send_template"
        return http.post(url, json={"template": {"phone_number": PHONE, "template_parameters": params}})
    message = {
        "message_type": "template",
        "content": "tpl",
        "template_name": template["name"],
        "template_language": template["language_code"],
    }
    if params is not None:
        message["template_params"] = params
    if path == "conversation_send":
        conversation = sim.create_conversation(phone_number=PHONE)
        url = f"{sim.base_url}/whatsapp_conversations/{conversation['id']}/whatsapp_messages"
        return http.post(url, json={"message": message})
    return http.post(f"{sim.base_url}/whatsapp_messages", json={"message": {"phone_number": PHONE, **message}})


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("content", "params", "error"),
    [
        ("Hi {{1}}, see you {{2}}.", ["Ann", "soon"], None),
        ("Hi {{1}}, see you {{2}}.", ["Ann"], "Template requires 2 parameters, but 1 were provided"),
        ("Hi {{1}}, see you {{2}}.", ["Ann", "soon", "extra"], "Template requires 2 parameters, but 3 were provided"),
        ("Hi {{1}}.", None, "Template requires 1 parameters, but 0 were provided"),
        ("Hello!", None, None),
        ("Hi {{name}}, order {{order}}.", {"name": "Ann", "order": "42"}, None),
        ("Hi {{name}}, order {{order}}.", {"name": "Ann"}, "Missing template parameters: order"),
    ],
    ids=["positional-ok", "too-few", "too-many", "none-given", "no-parameters", "named-ok", "named-missing"],
)
def test_every_path_checks_the_count(
    sim: KapsoSimulator, http: requests.Session, path: str, content: str, params: Any, error: str | None
) -> None:
    template = sim.create_template(name="reminder", content=content)
    response = send(sim, http, path, template, params)
    if error is None:
        assert response.status_code in (200, 201), response.text
        assert len(sim.messages()) == 1
    else:
        assert response.status_code == 422, response.text
        assert response.json()["error"] == error
        assert response.json()["status"] == 422
        assert sim.messages() == []


@pytest.mark.parametrize("path", PATHS)
def test_an_unapproved_template_is_refused_everywhere(sim: KapsoSimulator, http: requests.Session, path: str) -> None:
    template = sim.create_template(name="wip", content="Hi {{1}}", status="submitted")
    response = send(sim, http, path, template, ["Ann"])
    assert response.status_code == 422
    assert "only approved templates can be sent" in response.json()["error"]


@pytest.mark.parametrize("path", ["conversation_send", "phone_send"])
def test_a_template_unknown_to_the_simulator_is_sent_as_given(
    sim: KapsoSimulator, http: requests.Session, path: str
) -> None:
    # The simulator cannot know the parameters of a template the test never created.
    unknown = {"id": "", "name": "never_created", "language_code": "en_US"}
    assert send(sim, http, path, unknown, ["any", "number"]).status_code == 201


@pytest.mark.parametrize("path", ["conversation_send", "phone_send"])
def test_the_template_is_looked_up_in_the_senders_business_account(
    sim: KapsoSimulator, http: requests.Session, path: str
) -> None:
    other = sim.add_whatsapp_config(business_account_id="999", phone_number="+15550009999")
    template = sim.create_template(name="reminder", content="Hi {{1}}", whatsapp_config_ids=[other["id"]])
    # Sent from the default number, whose account has no such template: nothing to check against.
    assert send(sim, http, path, template, []).status_code == 201
    # Same name in another language is another template.
    sim.create_template(name="reminder", language="es", content="Hola {{1}}")
    assert send(sim, http, path, template, []).status_code == 201
