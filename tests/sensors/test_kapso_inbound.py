"""KapsoInboundMessageSensor in real DAG runs against the simulator: poke, reschedule, deferrable, mid-run.

The customer's reply is delivered by a helper thread once the sensor has read at least once (the
simulator records its ``GET /whatsapp_conversations``): the wait is real, and nothing depends on timing.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, TaskDeferred

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.sensors.kapso import KapsoInboundMessageSensor
from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger
from tests._airflow import get_dag, task_states, xcom_return_value
from tests._modes import IN_BOTH_MODES
from tests._triggers import conversation_lists, set_created_at

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"
_GUARD_SECONDS = 60.0


def _seconds_before(stamp: str, seconds: float) -> str:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00")) - timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def reply_when_read(kapso_server: KapsoServer) -> Iterator[Callable[..., None]]:
    """Start a thread that, once the sensor has listed conversations ``reads`` times, runs ``deliver``."""
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []

    def start(deliver: Callable[[], None], *, reads: int = 1) -> None:
        def wait_then_deliver() -> None:
            deadline = time.monotonic() + _GUARD_SECONDS  # a guard against a hung test only
            try:
                while conversation_lists(kapso_server) < reads:
                    if time.monotonic() > deadline:
                        raise AssertionError("the sensor never read")
                    time.sleep(0.01)
                deliver()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=wait_then_deliver, daemon=True)
        thread.start()
        threads.append(thread)

    yield start
    for thread in threads:
        thread.join(_GUARD_SECONDS)
    assert errors == []


@IN_BOTH_MODES
@pytest.mark.usefixtures("kapso_api")
@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_waits_for_the_reply(
    mode: str, run_dag: Any, kapso_server: KapsoServer, reply_when_read: Callable[..., None]
) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE)
    other = simulator.create_conversation(phone_number="+15557654321")
    before = simulator.deliver_inbound(conversation["id"], "yes, from before the run")  # must not count
    # A second earlier: on the current API a message's time is a whole second, and one in the very second the
    # wait began counts (docs/inbound-messages.md).
    set_created_at(kapso_server, before["id"], _seconds_before(before["created_at"], 2))

    def customer_replies() -> None:
        simulator.deliver_inbound(conversation["id"], "maybe")  # does not match the pattern
        simulator.deliver_inbound(other["id"], "yes from someone else")  # another customer
        simulator.deliver_inbound(conversation["id"], "Yes please")

    reply_when_read(customer_replies)
    dag_run = run_dag(f"kapso_test_inbound_{mode}", run_conf={"phone_number": PHONE, "pattern": "(?i)^yes"})

    assert str(dag_run.state) == "success", task_states(dag_run)
    (found,) = xcom_return_value(dag_run, "wait_reply")
    assert found["text"] == found["message"]["content"] == "Yes please"
    assert found["conversation_id"] == conversation["id"]
    assert found["phone_number"] == PHONE
    assert json.loads(json.dumps(found)) == found
    # It waited (at least one read saw nothing), and only read.
    assert conversation_lists(kapso_server) >= 2
    assert {r.method for r in simulator.requests} == {"GET"}
    for request in simulator.requests:
        if request.path == "/whatsapp_conversations":
            assert request.query["q[phone_number_eq]"] == PHONE
        if request.path == "/whatsapp/messages":
            assert request.query["phone_number"] == PHONE.lstrip("+")


@pytest.mark.usefixtures("kapso_api")
def test_example_dag_asks_waits_and_thanks(
    run_dag: Any, kapso_server: KapsoServer, reply_when_read: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    dag = get_dag("kapso_inbound_wait_reply")
    monkeypatch.setattr(dag.get_task("wait_reply"), "poke_interval", 0.05)
    simulator = kapso_server.simulator

    def customer_answers() -> None:
        (conversation,) = simulator.conversations()  # the one the question opened
        simulator.deliver_inbound(conversation["id"], "not sure yet")
        simulator.deliver_inbound(conversation["id"], " YES, tomorrow is fine")

    reply_when_read(customer_answers)
    dag_run = run_dag("kapso_inbound_wait_reply", run_conf={"phone_number": PHONE})

    assert str(dag_run.state) == "success", task_states(dag_run)
    asked = xcom_return_value(dag_run, "ask")
    replies = xcom_return_value(dag_run, "wait_reply")
    assert [reply["text"] for reply in replies] == [" YES, tomorrow is fine"]
    # On the current API a record's times are whole seconds: compared to the second.
    assert replies[0]["message"]["created_at"][:19] >= asked["created_at"][:19]
    assert xcom_return_value(dag_run, "answer_of") == "yes"
    sent = [m["content"] for m in simulator.messages() if m["direction"] == "outbound"]
    assert sent == ["Can we deliver your order tomorrow? Reply YES or NO.", "Thanks! We noted your answer: yes."]
    assert len([r for r in simulator.requests if r.method == "POST"]) == 2


def test_deferrable_reads_once_then_defers(kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE)
    since = simulator._store.now()
    sensor = KapsoInboundMessageSensor(
        task_id="wait", phone_number=PHONE, since=since, deferrable=True, poke_interval=5, timeout=60
    )
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, KapsoInboundMessageTrigger)
    _classpath, kwargs = trigger.serialize()
    assert kwargs["single_event"] is True
    assert kwargs["since"] == since
    assert kwargs["phone_number"] == PHONE
    assert kwargs["poll_interval"] == 5
    assert kapso_server.api_key not in json.dumps(kwargs)
    assert info.value.method_name == "execute_complete"
    assert conversation_lists(kapso_server) == 1

    simulator.deliver_inbound(conversation["id"], "here")
    (found,) = sensor.execute({})  # a message is there already: no deferral
    assert found["message"]["content"] == "here"


class TestExecuteComplete:
    def _sensor(self) -> KapsoInboundMessageSensor:
        return KapsoInboundMessageSensor(task_id="wait", phone_number=PHONE)

    def test_found(self) -> None:
        messages = [{"message": {"id": "m"}, "message_id": "m"}]
        assert self._sensor().execute_complete({}, {"status": "found", "messages": messages}) == messages

    @pytest.mark.parametrize(
        ("event", "text"),
        [
            ({"status": "error", "error": "Kapso API GET /x failed (HTTP 401)", "messages": []}, "HTTP 401"),
            ({"status": "found", "messages": []}, "unexpected event"),
            (None, "without a trigger event"),
        ],
    )
    def test_failures(self, event: Any, text: str) -> None:
        with pytest.raises(AirflowException, match=text):
            self._sensor().execute_complete({}, event)


class TestArguments:
    @pytest.mark.parametrize(
        ("kwargs", "field_name"),
        [({"text_pattern": "(unclosed"}, "text_pattern"), ({"poll_interval": 0}, "poll_interval")],
    )
    def test_refused_at_parse_time(self, kwargs: dict[str, Any], field_name: str) -> None:
        with pytest.raises(KapsoArgumentError, match=f"^{field_name}:"):
            KapsoInboundMessageSensor(task_id="wait", **kwargs)

    def test_bad_since_refused_before_any_request(self, kapso_server: KapsoServer) -> None:
        with pytest.raises(KapsoArgumentError, match=r"^since:"):
            KapsoInboundMessageSensor(task_id="wait", since="not a time").poke({})
        assert kapso_server.simulator.requests == []

    def test_templated_fields(self) -> None:
        assert set(KapsoInboundMessageSensor.template_fields) == {
            "kapso_conn_id",
            "whatsapp_config_id",
            "phone_number",
            "phone_number_id",
            "text_pattern",
            "since",
        }


def test_api_key_never_in_logs_xcom_or_trigger_kwargs(
    run_dag: Any,
    kapso_server: KapsoServer,
    reply_when_read: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number=PHONE)
    trigger_kwargs: list[dict[str, Any]] = []
    trigger_events: list[dict[str, Any]] = []
    original_run = KapsoInboundMessageTrigger.run

    async def run(self: KapsoInboundMessageTrigger) -> AsyncIterator[Any]:
        trigger_kwargs.append(self.serialize()[1])
        async for event in original_run(self):
            trigger_events.append(event.payload)
            yield event

    monkeypatch.setattr(KapsoInboundMessageTrigger, "run", run)
    # A failed read, so a retry warning with Kapso's error text passes through the logs too.
    simulator.add_fault("server_error_before_store", method="GET", path="/whatsapp_conversations$")
    reply_when_read(lambda: simulator.deliver_inbound(conversation["id"], "yes"), reads=2)
    dag_run = run_dag("kapso_test_inbound_deferrable", run_conf={"phone_number": PHONE, "pattern": "yes"})
    out, err = capfd.readouterr()

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert trigger_kwargs, "the sensor did not defer"
    key = kapso_server.api_key
    texts = {
        "caplog": caplog.text,
        "stdout": out,
        "stderr": err,
        "xcom": json.dumps(xcom_return_value(dag_run, "wait_reply")),
        "trigger kwargs": json.dumps(trigger_kwargs),
        "trigger events": json.dumps(trigger_events),
    }
    assert "Kapso API GET" in caplog.text + out + err, "DEBUG level did not reach the hooks"
    leaked = sorted(source for source, text in texts.items() if key in text)
    assert leaked == [], f"the API key appears in: {leaked}"
