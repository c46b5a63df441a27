"""Tours: one successful call of every endpoint the simulator serves, per API, keeping each answer.

``test_strict.py`` compares what each answer carries with what Kapso's files document;
``test_current_openapi.py`` checks the current API's answers against its files.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from tests.testing._support import PHONE, TIMEOUT

if TYPE_CHECKING:
    from kapso_provider.testing import KapsoSimulator


class Tour:
    """Calls endpoints of one API and keeps each answer by its route (``"METHOD /prefix/template"``).

    :param sim: the simulator.
    :param api: ``v1``, ``meta`` or ``platform``.
    :param answers: where the answers go (shared by the tours of several APIs).
    """

    def __init__(
        self, sim: KapsoSimulator, api: str = "v1", answers: dict[str, requests.Response] | None = None
    ) -> None:
        self.sim = sim
        self.base = {"v1": sim.base_url, "meta": sim.meta_url, "platform": sim.platform_url}[api]
        self.prefix = self.base.removeprefix(sim.url)
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = sim.api_key
        self.answers: dict[str, requests.Response] = {} if answers is None else answers

    def __call__(self, method: str, template: str, path: str, body: Any = None, **params: Any) -> Any:
        files = params.pop("files", None)
        data = params.pop("data", None)
        response = self.session.request(
            method,
            self.base + path,
            json=body,
            params=params or None,
            files=files,
            data=data,
            timeout=TIMEOUT,
        )
        assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
        self.answers[f"{method} {self.prefix}{template}"] = response
        return response.json() if response.content else None

    def close(self) -> None:
        """Close the session."""
        self.session.close()


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


#: A PNG's first bytes: enough for the simulator, which checks type and size, not content.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def current_tour(sim: KapsoSimulator) -> Tour:
    """One successful call of every endpoint of the WhatsApp Cloud API proxy and the Platform API."""
    meta = Tour(sim, "meta")
    platform = Tour(sim, "platform", meta.answers)
    _proxy(meta, sim)
    _platform_messages(platform, sim)
    _platform_contacts(platform, sim)
    _platform_customers(platform)
    _platform_broadcasts(platform, sim)
    _platform_webhooks(platform, sim)
    _platform_numbers(platform, sim)
    _agent_runs(platform, sim)
    platform.close()
    return meta


def _proxy(call: Tour, sim: KapsoSimulator) -> None:
    number = f"/{sim.default_phone_number_id}"
    waba = f"/{sim.default_business_account_id}"
    text = {"messaging_product": "whatsapp", "to": PHONE, "type": "text", "text": {"body": "hi"}}
    sent = call("POST", "/{phone_number_id}/messages", number + "/messages", text)
    # A wamid is Base64: "/" and "+" in it are quoted as one path segment.
    wamid = quote(sent["messages"][0]["id"], safe="")
    body = [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]
    template = {"name": "promo", "language": {"code": "en_US"}, "components": body}
    marketing = {"messaging_product": "whatsapp", "to": PHONE, "type": "template", "template": template}
    call("POST", "/{phone_number_id}/marketing_messages", number + "/marketing_messages", marketing)
    call("GET", "/{phone_number_id}/messages", number + "/messages", fields="kapso()")
    call("GET", "/{phone_number_id}/messages/{message_id}", f"{number}/messages/{wamid}", fields="kapso()")
    created = {
        "name": "order_update",
        "language": "en_US",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Order {{1}} shipped"}],
    }
    made = call("POST", "/{business_account_id}/message_templates", waba + "/message_templates", created)
    call("GET", "/{business_account_id}/message_templates", waba + "/message_templates")
    call(
        "GET",
        "/{business_account_id}/message_templates/{template_id}",
        f"{waba}/message_templates/{made['id']}",
    )
    call("DELETE", "/{business_account_id}/message_templates", waba + "/message_templates", name="order_update")
    call("GET", "/{business_account_id}/phone_numbers", waba + "/phone_numbers")
    call("GET", "/{phone_number_id}", number)
    conversation = call("GET", "/{phone_number_id}/conversations", number + "/conversations")["data"][0]
    call(
        "GET",
        "/{phone_number_id}/conversations/{conversation_id}",
        f"{number}/conversations/{conversation['id']}",
    )
    upload = {"file": ("chart.png", PNG, "image/png")}
    call("POST", "/{phone_number_id}/media", number + "/media", files=upload, data={"messaging_product": "whatsapp"})


def _platform_messages(call: Tour, sim: KapsoSimulator) -> None:
    messages = call("GET", "/whatsapp/messages", "/whatsapp/messages", phone_number_id=sim.default_phone_number_id)
    wamid = quote(messages["data"][0]["id"], safe="")
    call("GET", "/whatsapp/messages/{message_id}", f"/whatsapp/messages/{wamid}")
    call("GET", "/whatsapp/conversations", "/whatsapp/conversations")
    conversation = sim.create_conversation("+15550001111")
    path = f"/whatsapp/conversations/{conversation['id']}"
    call("GET", "/whatsapp/conversations/{conversation_id}", path)
    call(
        "PATCH",
        "/whatsapp/conversations/{conversation_id}",
        path,
        {"whatsapp_conversation": {"status": "active"}},
    )
    assignments = "/whatsapp/conversations/{conversation_id}/assignments"
    made = call(
        "POST", assignments, path + "/assignments", {"assignment": {"user_id": sim.assignments.default_user_id}}
    )
    call("GET", assignments, path + "/assignments")
    call("GET", assignments + "/{id}", f"{path}/assignments/{made['data']['id']}")
    call("PATCH", assignments + "/{id}", f"{path}/assignments/{made['data']['id']}", {"assignment": {"notes": "VIP"}})


def _platform_contacts(call: Tour, sim: KapsoSimulator) -> None:
    contact = call("POST", "/whatsapp/contacts", "/whatsapp/contacts", {"contact": {"wa_id": "15559990000"}})["data"]
    path = f"/whatsapp/contacts/{contact['id']}"
    call("GET", "/whatsapp/contacts", "/whatsapp/contacts")
    call("GET", "/whatsapp/contacts/{identifier}", path)
    call("PATCH", "/whatsapp/contacts/{identifier}", path, {"contact": {"profile_name": "Ann"}})
    sim.stop_marketing("15559990000")
    preferences = "/whatsapp/contacts/{identifier}/marketing_preferences"
    call("GET", preferences, path + "/marketing_preferences")
    call("GET", preferences + "/{phone_number_id}", f"{path}/marketing_preferences/{sim.default_phone_number_id}")
    call("DELETE", "/whatsapp/contacts/{identifier}", path)


def _platform_customers(call: Tour) -> None:
    # Made without an external id, which the current file lets be null.
    customer = call("POST", "/customers", "/customers", {"customer": {"name": "Acme"}})["data"]
    path = f"/customers/{customer['id']}"
    call("GET", "/customers", "/customers", name_contains="Ac")
    call("GET", "/customers/{customer_id}", path)
    call("PATCH", "/customers/{customer_id}", path, {"customer": {"external_customer_id": "A-1"}})
    call("DELETE", "/customers/{customer_id}", path)


def _platform_broadcasts(call: Tour, sim: KapsoSimulator) -> None:
    template = sim.create_template("spring_offer", category="MARKETING", content="Hi {{1}}")
    body = {
        "whatsapp_broadcast": {
            "name": "Spring",
            "phone_number_id": sim.default_phone_number_id,
            "whatsapp_template_id": template["id"],
        }
    }
    broadcast = call("POST", "/whatsapp/broadcasts", "/whatsapp/broadcasts", body)["data"]
    path = f"/whatsapp/broadcasts/{broadcast['id']}"
    component = {"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}
    people = [
        {"phone_number": PHONE, "components": [component]},
        {"phone_number": "+15557654321", "components": [component]},
    ]
    recipients = "/whatsapp/broadcasts/{broadcast_id}/recipients"
    call("POST", recipients, path + "/recipients", {"whatsapp_broadcast": {"recipients": people}})
    call("GET", recipients, path + "/recipients")
    call(
        "POST",
        "/whatsapp/broadcasts/{broadcast_id}/schedule",
        path + "/schedule",
        {"scheduled_at": "2999-01-01T00:00:00Z"},
    )
    call("POST", "/whatsapp/broadcasts/{broadcast_id}/cancel", path + "/cancel")
    call("DELETE", recipients, path + "/recipients")
    call("POST", recipients, path + "/recipients", {"whatsapp_broadcast": {"recipients": people}})
    sim.broadcasts.recipients_per_read = 1
    call("POST", "/whatsapp/broadcasts/{broadcast_id}/send", path + "/send")
    call("GET", "/whatsapp/broadcasts/{broadcast_id}", path)
    call("PATCH", "/whatsapp/broadcasts/{broadcast_id}", path, {"whatsapp_broadcast": {"status": "stopped"}})
    call("GET", "/whatsapp/broadcasts", "/whatsapp/broadcasts")


def _platform_webhooks(call: Tour, sim: KapsoSimulator) -> None:
    # Not a loopback URL: the test delivery is logged as failed, and nothing leaves the machine.
    hook = {"url": "https://hooks.example/kapso", "events": ["whatsapp.phone_number.created"]}
    project = call("POST", "/whatsapp/webhooks", "/whatsapp/webhooks", {"whatsapp_webhook": hook})["data"]
    path = f"/whatsapp/webhooks/{project['id']}"
    call("GET", "/whatsapp/webhooks", "/whatsapp/webhooks")
    call("GET", "/whatsapp/webhooks/{webhook_id}", path)
    call("PATCH", "/whatsapp/webhooks/{webhook_id}", path, {"whatsapp_webhook": {"active": False}})
    call("POST", "/whatsapp/webhooks/{webhook_id}/test", path + "/test", {})
    call("DELETE", "/whatsapp/webhooks/{webhook_id}", path)
    scope = f"/whatsapp/phone_numbers/{sim.default_phone_number_id}/webhooks"
    template = "/whatsapp/phone_numbers/{phone_number_id}/webhooks"
    number_hook = {
        "url": "https://hooks.example/kapso",
        "secret_key": "s3cret",
        "events": ["whatsapp.message.received"],
    }
    made = call("POST", template, scope, {"whatsapp_webhook": number_hook})["data"]
    call("GET", template, scope)
    call("GET", template + "/{webhook_id}", f"{scope}/{made['id']}")
    call("PATCH", template + "/{webhook_id}", f"{scope}/{made['id']}", {"whatsapp_webhook": {"active": True}})
    call("DELETE", template + "/{webhook_id}", f"{scope}/{made['id']}")
    call("GET", "/webhook_deliveries", "/webhook_deliveries")


def _platform_numbers(call: Tour, sim: KapsoSimulator) -> None:
    number = f"/whatsapp/phone_numbers/{sim.default_phone_number_id}"
    call("GET", "/whatsapp/phone_numbers", "/whatsapp/phone_numbers")
    call("GET", "/whatsapp/phone_numbers/{phone_number_id}", number)
    call("GET", "/whatsapp/phone_numbers/{phone_number_id}/health", number + "/health")
    sim.media.add_remote("https://files.example/report.pdf", mime_type="application/pdf", size_bytes=2048)
    ingest = {
        "media_ingest": {"phone_number_id": sim.default_phone_number_id, "source": "https://files.example/report.pdf"}
    }
    call("POST", "/whatsapp/media", "/whatsapp/media", ingest)


def _agent_runs(call: Tour, sim: KapsoSimulator) -> None:
    run = "/kapso-agent/runs/{id}"
    sim.agent_runs.steps = ("running", "waiting_for_approval")
    started = call("POST", "/kapso-agent/runs", "/kapso-agent/runs", {"mode": "general", "input": {"prompt": "Sum up"}})
    path = f"/kapso-agent/runs/{started['data']['run_id']}"
    call("GET", run, path)
    waiting = call("GET", run, path)["data"]
    approval = waiting["pending_approval"]["id"]
    call("POST", run + "/approvals/{approval_id}/approve", f"{path}/approvals/{approval}/approve")
    call("POST", run + "/pause", path + "/pause")
    call("POST", run + "/resume", path + "/resume")
    call("POST", run + "/cancel", path + "/cancel")
    other = call("POST", "/kapso-agent/runs", "/kapso-agent/runs", {"mode": "general", "input": {"prompt": "Again"}})
    other_path = f"/kapso-agent/runs/{other['data']['run_id']}"
    call("GET", run, other_path)
    second = call("GET", run, other_path)["data"]["pending_approval"]["id"]
    call("POST", run + "/approvals/{approval_id}/reject", f"{other_path}/approvals/{second}/reject")
