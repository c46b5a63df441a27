"""The code samples of docs/ that are not DAGs, run here against the simulator.

The pages show each sample between its ``[START name]`` and ``[END name]`` markers as a code block that cog
generates from this file (tests/_docs.py), so what a page shows is what this module runs;
tests/test_docs.py checks that every marked sample is shown somewhere. Imports a sample needs are inside
its markers, so that the page shows them.
"""

import os

import pytest

# [START howto_testing_kapso_server_fixture]
from kapso_provider.hooks.kapso import KapsoHook


def test_sends_one_message(kapso_server):
    KapsoHook().send_message({"content": "hi"}, phone_number="+15551234567")

    (message,) = kapso_server.simulator.messages()
    assert message["status"] == "sent"
    (request,) = kapso_server.simulator.requests
    assert request.json["message"]["content"] == "hi"
    # [END howto_testing_kapso_server_fixture]


# [START howto_testing_kapso_conn_id]
@pytest.mark.parametrize("kapso_conn_id", ["kapso_whatsapp"])
def test_sends_through_my_connection(kapso_server):
    KapsoHook(kapso_conn_id="kapso_whatsapp").send_message({"content": "hi"}, phone_number="+15551234567")

    assert kapso_server.conn_id == "kapso_whatsapp"
    assert len(kapso_server.simulator.messages()) == 1
    # [END howto_testing_kapso_conn_id]
    assert "AIRFLOW_CONN_KAPSO_DEFAULT" not in os.environ  # only the connection asked for points at it


def test_simulator_from_python():
    # [START howto_testing_simulator_from_python]
    from kapso_provider.testing import KapsoSimulator

    with KapsoSimulator(api_key="test-key", rate_limit=100, latency=0.05) as sim:
        conversation = sim.create_conversation(phone_number="+15551234567")
        print(sim.base_url)  # http://127.0.0.1:<port>/api/v1
    # [END howto_testing_simulator_from_python]
    assert sim.base_url.startswith("http://127.0.0.1:")
    assert sim.base_url.endswith("/api/v1")
    assert conversation["phone_number"] == "+15551234567"


# [START howto_testing_status_sequence]
def test_each_read_sees_the_next_status(kapso_server):
    kapso_server.simulator.status_sequence = ["sent", "delivered"]  # first read "sent", then "delivered"
    hook = KapsoHook()
    message = hook.send_message({"content": "hi"}, phone_number="+15551234567")

    reads = [hook.get_message(message["whatsapp_conversation_id"], message["id"])["status"] for _ in range(3)]
    assert reads == ["sent", "delivered", "delivered"]  # the last status stays
    # [END howto_testing_status_sequence]


def test_simulator_agents_controls(kapso_server):
    simulator = kapso_server.simulator
    hook = KapsoHook()
    # [START howto_testing_simulator_agents]
    agent = simulator.agents.add_agent(name="Support")
    flow = simulator.agents.add_flow(status="active", api_trigger=True)
    # Each read of a new execution moves it one step along:
    simulator.agents.agent_status_sequence = ("running", "paused", "ended")
    simulator.agents.flow_status_sequence = ("waiting", "ended")
    # A queued flow execution stays out of the list for this many list reads:
    simulator.agents.flow_execution_visible_after = 1
    # [END howto_testing_simulator_agents]
    started = hook.start_agent_execution(agent["id"], message="hi", phone_number="+15551234567")
    execution_id = started["id"]
    reads = [hook.get_agent_execution(agent["id"], execution_id)["status"] for _ in range(3)]
    assert reads == ["running", "paused", "ended"]
    assert hook.get_flow(flow["id"])["status"] == "active"

    execution_id = hook.start_agent_execution(agent["id"], message="again", phone_number="+15551234567")["id"]
    # [START howto_testing_simulator_agents_decide]
    simulator.agents.finish_execution(execution_id, "failed", variables={"reason": "no answer"})
    simulator.agents.set_execution_status(execution_id, "paused")
    simulator.agents.schedule_execution(execution_id, ["running", "ended"])
    # [END howto_testing_simulator_agents_decide]
    reads = [hook.get_agent_execution(agent["id"], execution_id)["status"] for _ in range(3)]
    assert reads == ["running", "ended", "ended"]


def test_assignments(kapso_server):
    conversation_id = kapso_server.simulator.create_conversation(phone_number="+15551234567")["id"]
    agent_id = kapso_server.simulator.assignments.add_user(name="Ada")["id"]
    supervisor_id = kapso_server.simulator.assignments.add_user(name="Grace")["id"]
    # [START howto_hook_kapso_assignments]
    hook = KapsoHook()
    assignment = hook.create_assignment(conversation_id, user_id=agent_id, notes="VIP customer")
    hook.update_assignment(conversation_id, assignment["id"], user_id=supervisor_id, notes="Escalated")
    active = [a for a in hook.list_assignments(conversation_id) if a["active"]]
    # [END howto_hook_kapso_assignments]
    assert [(a["user_id"], a["notes"]) for a in active] == [(supervisor_id, "Escalated")]


def test_config_health(kapso_server):
    config_id = kapso_server.simulator.default_whatsapp_config_id
    kapso_server.simulator.platform.set_config_health(config_id, "unhealthy")

    def check_health():
        # [START howto_hook_kapso_config_health]
        from airflow.providers.common.compat.sdk import AirflowException

        report = KapsoHook().get_whatsapp_config_health(config_id)
        if report["status"] not in ("healthy", "degraded"):
            raise AirflowException(f"WhatsApp number {config_id} is {report['status']}")
        # [END howto_hook_kapso_config_health]

    with pytest.raises(Exception, match="is unhealthy") as raised:
        check_health()
    assert type(raised.value).__name__ == "AirflowException"


@pytest.mark.parametrize("server", ["kapso_server", "kapso_current_server"])
def test_customer_by_external_id(request, server):
    kapso_server = request.getfixturevalue(server)  # the same lines on API v1 and on the current API
    for _ in range(2):  # the second time finds the customer the first one created
        # [START howto_hook_kapso_customer]
        hook = KapsoHook()
        customer = next(hook.list_customers(external_customer_id="CUS-12345"), None) or hook.create_customer(
            name="Acme Corporation", external_customer_id="CUS-12345"
        )
        # [END howto_hook_kapso_customer]
    assert customer["external_customer_id"] == "CUS-12345"
    assert len(kapso_server.simulator.platform.customers()) == 1
    assert {sent.api for sent in kapso_server.simulator.requests} == {"v1" if server == "kapso_server" else "platform"}


def test_async_hook(kapso_server):
    import asyncio

    first = KapsoHook().send_message({"content": "first"}, phone_number="+15551234567")
    conversation_id, message_id = first["whatsapp_conversation_id"], first["id"]

    async def main():
        # [START howto_hook_kapso_async]
        from kapso_provider.hooks.kapso import KapsoAsyncHook

        hook = KapsoAsyncHook()
        try:
            record = await hook.get_message(conversation_id, message_id)
            sent = await hook.send_message({"content": "hi"}, phone_number="+15551234567")
        finally:
            await hook.aclose()
        # [END howto_hook_kapso_async]
        return record, sent

    record, sent = asyncio.run(main())
    assert record["id"] == message_id
    assert sent["whatsapp_conversation_id"] == conversation_id


def test_webhook_handler():
    # The documented handler, served over real HTTP on 127.0.0.1, with Kapso's deliveries and retries played by
    # KapsoDeliveries: a handler that fails once has the retry handled, and every event is handled exactly once.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from tests._webhooks import SECRET, KapsoDeliveries, WebhookEndpoint, body_of, post, signed_headers

    webhook_secret = SECRET
    handled: list[str] = []
    failures = ["database down"]  # the first call fails
    started, hold = threading.Event(), threading.Event()
    hold.set()

    def process_event(event):
        started.set()
        hold.wait(timeout=30)
        if failures:
            raise RuntimeError(failures.pop())
        handled.append(event.data["message"]["id"])

    # [START howto_webhooks_kapso_verify]
    import logging
    from collections.abc import Mapping

    from kapso_provider.webhooks import (
        KapsoWebhookInProgressError,
        KapsoWebhookPayloadError,
        KapsoWebhookSignatureError,
        KapsoWebhookVerifier,
    )

    logger = logging.getLogger("my_webhooks")
    verifier = KapsoWebhookVerifier(secret=webhook_secret)  # the webhook's secret_key

    def handle(raw_body: bytes, headers: Mapping[str, str]) -> int:
        """Handle one delivery; return the HTTP status to answer Kapso with (anything but 200: Kapso retries)."""
        try:
            # Claims the delivery for the block; marks it handled only if the block ends without an exception.
            with verifier.receive(raw_body, headers) as delivery:
                if delivery.duplicate:
                    return 200  # handled before (a retry, or a replay of the same body): do nothing
                if delivery.mismatches:
                    logger.warning("Headers contradict the signed body: %s", delivery.mismatches)
                for event in delivery.events:
                    process_event(event)  # an exception here leaves the delivery unhandled: Kapso retries
        except KapsoWebhookSignatureError:
            return 401
        except KapsoWebhookPayloadError:
            return 400
        except KapsoWebhookInProgressError:
            return 409  # the same delivery is being handled by another request right now
        except Exception:
            logger.exception("Kapso webhook delivery failed; Kapso will retry it")
            return 500
        return 200
        # [END howto_webhooks_kapso_verify]

    message = {"id": "wamid.1", "type": "text", "text": {"body": "hi"}, "kapso": {"direction": "inbound"}}
    received = {
        "message": message,
        "conversation": {"id": "conv-1", "phone_number": "+15551234567"},
        "phone_number_id": "123",
    }
    with WebhookEndpoint(handle) as endpoint:
        kapso = KapsoDeliveries(endpoint.url)
        assert kapso.deliver(received, event="whatsapp.message.received") == 500  # the handler failed
        assert kapso.retry() == 200  # Kapso's retry, same idempotency key: handled this time
        assert kapso.retry() == 200  # a retry after a lost answer: acknowledged, not handled again
        assert kapso.deliver(received, event="whatsapp.message.received") == 200  # a replay under a fresh key
        assert handled == ["wamid.1"]

        # Two copies at once: the second is answered 409 while the first is still being handled.
        started.clear()
        hold.clear()
        second = {**received, "message": {**message, "id": "wamid.2"}}
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(kapso.deliver, second, event="whatsapp.message.received")
            assert started.wait(timeout=30)
            assert kapso.retry() == 409
            hold.set()
            assert first.result(timeout=30) == 200
        assert kapso.retry() == 200
        assert handled == ["wamid.1", "wamid.2"]

        body = body_of(received)
        assert post(endpoint.url, body, {**signed_headers(body), "X-Webhook-Signature": "0" * 64}) == 401
        assert post(endpoint.url, b"not json", signed_headers(b"not json")) == 400


def test_webhook_events_view():
    # Deliveries of payload versions 2 and 1, signed and posted over HTTP to an endpoint built on the sample:
    # the view reads the same in both, so the sample records the same answers and statuses.
    from tests._webhooks import SECRET, KapsoDeliveries, WebhookEndpoint
    from tests.webhooks._payloads import MESSAGE_EVENTS, PROJECT_EVENTS, REPLIES

    answers: list[dict[str, str | None]] = []  # stand-ins for your own tables
    statuses: dict[str | None, str | None] = {}
    handoffs: list[str | None] = []

    # [START howto_webhooks_kapso_events]
    from kapso_provider.webhooks import KapsoWebhookEvent

    def process_event(event: KapsoWebhookEvent) -> None:
        """Act on one event; the view (sender, text, reply_id, wamid...) reads the same in payload versions 1 and 2."""
        if event.name == "whatsapp.message.received":
            # A tapped reply button or list row has a reply_id; a typed answer only a text.
            answers.append({"from": event.sender, "answer": event.reply_id or event.text, "wamid": event.wamid})
        elif event.name in ("whatsapp.message.delivered", "whatsapp.message.read", "whatsapp.message.failed"):
            statuses[event.wamid] = event.status  # what became of a message you sent
        elif event.name == "workflow.execution.handoff":
            handoffs.append(event.conversation_id)  # a workflow wants a person: event.data["handoff"]["reason"]
        # Any other event is acknowledged and left alone; event.data holds it as Kapso sent it.
        # [END howto_webhooks_kapso_events]

    from kapso_provider.webhooks import KapsoWebhookVerifier

    verifier = KapsoWebhookVerifier(secret=SECRET)

    def handle(raw_body, headers):
        with verifier.receive(raw_body, headers) as delivery:
            if not delivery.duplicate:
                for event in delivery.events:
                    process_event(event)
        return 200

    _, button_v2, button_v1, _, _ = REPLIES[0]
    failed, failed_v2, failed_v1 = MESSAGE_EVENTS[-1]
    handoff, _, handoff_body, _ = PROJECT_EVENTS[3]
    with WebhookEndpoint(handle) as endpoint:
        kapso = KapsoDeliveries(endpoint.url)
        for version, body in [("v2", button_v2), ("v1", button_v1)]:
            assert (
                kapso.deliver(body, event="whatsapp.message.received", **{"X-Webhook-Payload-Version": version}) == 200
            )
        assert kapso.deliver(failed_v2, event=failed, **{"X-Webhook-Payload-Version": "v2"}) == 200
        assert kapso.deliver(handoff_body, event=handoff) == 200
        assert (
            kapso.deliver(failed_v1, event=failed, **{"X-Webhook-Payload-Version": "v1"}) == 200
        )  # the same body in v1

    button = {"from": "+15551234567", "answer": "order-yes", "wamid": button_v2["message"]["id"]}
    assert answers == [button, button]
    assert statuses == {failed_v2["message"]["id"]: "failed"}
    assert handoffs == [handoff_body["whatsapp_conversation_id"]]


def test_register_and_audit_webhooks(kapso_current_server):
    simulator = kapso_current_server.simulator
    phone_number_id = simulator.default_phone_number_id
    secret = "a-secret-from-your-secrets-backend"
    # [START howto_hook_kapso_webhooks]
    from kapso_provider.hooks.kapso import KapsoHook

    hook = KapsoHook()  # a connection to Kapso's current API
    wanted = "https://hooks.example.com/kapso"
    registered = [w for w in hook.list_webhooks(phone_number_id=phone_number_id) if w["url"] == wanted]
    if not registered:
        hook.create_webhook(
            url=wanted,
            events=["whatsapp.message.received", "whatsapp.message.failed"],
            phone_number_id=phone_number_id,
            secret_key=secret,
        )
    # Deliveries that failed in the last 24 hours, newest first.
    failures = [(d["event"], d["response_status"]) for d in hook.list_webhook_deliveries(errors_only=True)]
    # [END howto_hook_kapso_webhooks]
    (webhook,) = hook.list_webhooks(phone_number_id=phone_number_id)
    assert (webhook["url"], webhook["secret_key"]) == (wanted, "***")
    assert failures == []
