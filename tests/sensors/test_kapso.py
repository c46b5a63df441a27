"""KapsoMessageStatusSensor in real DAG runs against the simulator: poke, reschedule and deferrable.

Every run uses the example DAG ``kapso_message_status``, with its waits shortened (the task objects of
the parsed DAG are patched for the test only) and the other two sensors marked successful, so each case
exercises exactly one mode. The simulator moves each message along by itself, one step per read of its
conversation (``status_sequence``), as WhatsApp's status updates would: unlike a delay, that does not
depend on how fast the machine runs the DAG, so the first read always sees ``sent``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    TaskDeferred,
)

from kapso_provider.exceptions import KapsoArgumentError, KapsoConfigurationError
from kapso_provider.sensors.kapso import KapsoInboundMessageSensor, KapsoMessageStatusSensor
from kapso_provider.triggers.kapso import KapsoMessageStatusTrigger
from tests._airflow import get_dag, task_states, xcom_return_value
from tests._modes import IN_BOTH_MODES
from tests._openapi import assert_current_requests_valid

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

DAG_ID = "kapso_message_status"
SEND_TASK = "send_reminder"
SENSORS = {
    "poke": "wait_delivered_poke",
    "reschedule": "wait_delivered_reschedule",
    "deferrable": "wait_read_deferrable",
}
# What each example sensor waits for.
TARGETS = {"poke": "delivered", "reschedule": "delivered", "deferrable": "read"}
# What successive reads of the message see.
DELIVERED_THEN_READ = ["sent", "delivered", "read"]
ERROR_CODE = 131047
ERROR_TEXT = "Re-engagement message: more than 24 hours have passed since the customer last replied"


@dataclass
class SensorSpy:
    """What the sensors and the trigger did: outcomes of execute/execute_complete, triggers built and run."""

    returned: list[Any] = field(default_factory=list)
    raised: list[tuple[str, str]] = field(default_factory=list)
    trigger_kwargs: list[dict[str, Any]] = field(default_factory=list)
    trigger_events: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> SensorSpy:
    """Record outcomes around the real methods (which still run unchanged)."""
    recorded = SensorSpy()

    def wrap(name: str) -> None:
        original = getattr(KapsoMessageStatusSensor, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                result = original(self, *args, **kwargs)
            except Exception as exc:
                # Deferring and rescheduling are how a sensor hands over between reads: not outcomes.
                if type(exc).__name__ not in ("TaskDeferred", "AirflowRescheduleException"):
                    recorded.raised.append((type(exc).__name__, str(exc)))
                raise
            recorded.returned.append(result)
            return result

        monkeypatch.setattr(KapsoMessageStatusSensor, name, wrapper)

    wrap("execute")
    wrap("execute_complete")
    original_run = KapsoMessageStatusTrigger.run

    async def run(self: KapsoMessageStatusTrigger) -> AsyncIterator[Any]:
        recorded.trigger_kwargs.append(self.serialize()[1])
        async for event in original_run(self):
            recorded.trigger_events.append(event.payload)
            yield event

    monkeypatch.setattr(KapsoMessageStatusTrigger, "run", run)
    return recorded


@pytest.fixture
def status_dag(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The example DAG with its waits cut to fractions of a second, for this test only."""
    dag = get_dag(DAG_ID)
    for task_id in SENSORS.values():
        task = dag.get_task(task_id)
        monkeypatch.setattr(task, "poke_interval", 0.05)
        monkeypatch.setattr(task, "poll_interval", 0.05)
    return dag


def _run(run_dag: Any, mode: str) -> Any:
    others = "|".join(task_id for name, task_id in SENSORS.items() if name != mode)
    return run_dag(DAG_ID, mark_success_pattern=others)


def _message_reads(kapso_server: KapsoServer) -> int:
    return sum(
        1 for r in kapso_server.simulator.requests if r.method == "GET" and r.path.endswith("/whatsapp_messages")
    )


@IN_BOTH_MODES
@pytest.mark.parametrize("mode", list(SENSORS))
def test_reached_returns_the_record(
    mode: str, run_dag: Any, kapso_server: KapsoServer, status_dag: Any, spy: SensorSpy
) -> None:
    kapso_server.simulator.status_sequence = DELIVERED_THEN_READ
    dag_run = _run(run_dag, mode)

    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert spy.raised == []
    sent = xcom_return_value(dag_run, SEND_TASK)
    record = xcom_return_value(dag_run, SENSORS[mode])
    # XCom holds the message record as plain JSON, now at (or past) the target status.
    assert record["id"] == sent["id"]
    assert record["whatsapp_message_id"] == sent["whatsapp_message_id"]
    assert record["status"] in {"delivered": ("delivered", "read"), "read": ("read",)}[TARGETS[mode]]
    assert json.loads(json.dumps(record)) == record
    # It waited: the first read saw "sent", the one that saw the target was the last.
    assert _message_reads(kapso_server) == {"delivered": 2, "read": 3}[TARGETS[mode]]
    if mode == "deferrable":
        (kwargs,) = spy.trigger_kwargs
        assert kwargs["last_status"] == "sent"
        assert [event["status"] for event in spy.trigger_events] == ["reached"]
    else:
        assert spy.trigger_kwargs == []
    # Waiting never sends: the one POST is the send task's.
    assert [r.method for r in kapso_server.simulator.requests].count("POST") == 1


@IN_BOTH_MODES
@pytest.mark.parametrize("mode", list(SENSORS))
def test_failed_fails_at_once_with_whatsapp_error(
    mode: str, run_dag: Any, kapso_server: KapsoServer, status_dag: Any, spy: SensorSpy
) -> None:
    _assert_failed_at_once_with_whatsapp_error(mode, run_dag, kapso_server, spy)


@pytest.mark.parametrize("kapso_simulator_options", [pytest.param({"strict": True}, id="strict")])
@pytest.mark.parametrize("mode", list(SENSORS))
def test_failed_fails_at_once_with_whatsapp_error_on_the_current_api(
    mode: str, run_dag: Any, kapso_current_server: KapsoServer, status_dag: Any, spy: SensorSpy
) -> None:
    """The code and title come from the message's status history, read by its wamid (documented fields only)."""
    _assert_failed_at_once_with_whatsapp_error(mode, run_dag, kapso_current_server, spy)
    reads = [r.full_path for r in kapso_current_server.simulator.requests if r.method == "GET"]
    assert reads
    assert all(path.startswith("/platform/v1/whatsapp/") for path in reads), reads
    assert_current_requests_valid(kapso_current_server.simulator.requests)


def _assert_failed_at_once_with_whatsapp_error(
    mode: str, run_dag: Any, kapso_server: KapsoServer, spy: SensorSpy
) -> None:
    kapso_server.simulator.status_sequence = ["sent", "failed"]
    kapso_server.simulator.delivery_error_code = ERROR_CODE
    kapso_server.simulator.delivery_error_message = ERROR_TEXT
    dag_run = _run(run_dag, mode)

    states = task_states(dag_run)
    assert str(dag_run.state) == "failed", states
    assert states[SENSORS[mode]] == "failed", states
    ((kind, text),) = spy.raised
    assert kind == "AirflowFailException"
    assert str(ERROR_CODE) in text
    assert ERROR_TEXT in text
    if mode == "deferrable":
        assert [event["status"] for event in spy.trigger_events] == ["failed"]


@pytest.mark.parametrize("mode", list(SENSORS))
def test_timeout_says_sent_was_never_confirmed(
    mode: str, run_dag: Any, kapso_server: KapsoServer, status_dag: Any, spy: SensorSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No delivery_delay: the message stays "sent", as when WhatsApp never confirms.
    monkeypatch.setattr(status_dag.get_task(SENSORS[mode]), "timeout", 0.5)
    dag_run = _run(run_dag, mode)

    states = task_states(dag_run)
    assert str(dag_run.state) == "failed", states
    assert states[SENSORS[mode]] == "failed", states
    ((kind, text),) = spy.raised
    assert kind == "AirflowSensorTimeout"
    assert "last status seen: sent" in text
    assert "accepted the message" in text
    assert "delivery was never confirmed" in text
    assert _message_reads(kapso_server) >= 2
    if mode == "deferrable":
        assert [event["status"] for event in spy.trigger_events] == ["timeout"]


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_delivery_at_the_deadline_still_counts(
    mode: str, run_dag: Any, kapso_server: KapsoServer, status_dag: Any, spy: SensorSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first read sees "sent" and Airflow's timeout strikes right after it; the last read sees "delivered".
    kapso_server.simulator.status_sequence = ["sent", "delivered"]
    monkeypatch.setattr(status_dag.get_task(SENSORS[mode]), "timeout", 0.001)
    dag_run = _run(run_dag, mode)

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert xcom_return_value(dag_run, SENSORS[mode])["status"] == "delivered"
    assert _message_reads(kapso_server) == 2


def test_a_failing_trigger_still_runs_the_failure_callback(
    run_dag: Any, kapso_server: KapsoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``airflow dags test`` did with a connection stored in the metadata DB (issue 15): the trigger's
    connection lookup failed. A trigger that raises is failed by ``dags test`` without the task's failure
    callbacks; the trigger's error event makes the task fail in the worker, where they run."""
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    from kapso_provider.hooks.kapso import KapsoAsyncHook

    async def lookup_fails(self: KapsoAsyncHook) -> Any:
        raise AirflowNotFoundException(f"The conn_id `{self.kapso_conn_id}` isn't defined")

    monkeypatch.setattr(KapsoAsyncHook, "get_settings", lookup_fails)
    dag_run = run_dag("kapso_test_deferred_failure", run_conf={"phone_number": "+15551234567"})

    states = task_states(dag_run)
    assert (str(dag_run.state), states["send"], states["wait"]) == ("failed", "success", "failed"), states
    texts = [m["content"] for m in kapso_server.simulator.messages() if m["direction"] == "outbound"]
    assert texts == ["Hello", f"wait failed in {dag_run.run_id}"]


@pytest.mark.parametrize("status", ["sent", "read"])
def test_deferrable_pokes_once_before_deferring(status: str, kapso_server: KapsoServer) -> None:
    simulator = kapso_server.simulator
    conversation = simulator.create_conversation(phone_number="+15551234567")
    record = simulator._store.store_outbound(conversation["id"], {"message_type": "text", "content": "hi"})
    if status != "sent":
        simulator.set_message_status(record["id"], status)
    sensor = KapsoMessageStatusSensor(
        task_id="wait", message=record, target_status="read", deferrable=True, poke_interval=5, timeout=60
    )
    if status == "read":
        # Already there: the record comes back at once, no deferral.
        assert sensor.execute({})["status"] == "read"
        return
    with pytest.raises(TaskDeferred) as info:
        sensor.execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, KapsoMessageStatusTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "kapso_provider.triggers.kapso.KapsoMessageStatusTrigger"
    assert kwargs["message_id"] == record["id"]
    assert kwargs["conversation_id"] == conversation["id"]
    assert kwargs["target_status"] == "read"
    assert kwargs["poll_interval"] == 5
    assert kwargs["last_status"] == "sent"
    assert info.value.method_name == "execute_complete"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert _message_reads(kapso_server) == 1


def test_api_key_never_in_logs_xcom_or_trigger_kwargs(
    run_dag: Any,
    kapso_server: KapsoServer,
    status_dag: Any,
    spy: SensorSpy,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    capfd.readouterr()
    kapso_server.simulator.status_sequence = DELIVERED_THEN_READ
    # A failed read, so a retry warning with Kapso's error text passes through the logs too.
    kapso_server.simulator.add_fault("server_error_before_store", method="GET")
    dag_run = _run(run_dag, "deferrable")
    out, err = capfd.readouterr()

    assert str(dag_run.state) == "success", task_states(dag_run)
    assert spy.trigger_kwargs, "the sensor did not defer"
    key = kapso_server.api_key
    texts = {
        "caplog": caplog.text,
        "stdout": out,
        "stderr": err,
        "xcom": json.dumps([xcom_return_value(dag_run, task_id) for task_id in (SEND_TASK, SENSORS["deferrable"])]),
        "trigger kwargs": json.dumps(spy.trigger_kwargs),
        "trigger events": json.dumps(spy.trigger_events),
        "exceptions": json.dumps(spy.raised),
    }
    assert "Kapso API GET" in caplog.text + out + err, "DEBUG level did not reach the hooks"
    leaked = sorted(source for source, text in texts.items() if key in text)
    assert leaked == [], f"the API key appears in: {leaked}"


class TestArguments:
    """Bad input is refused when the DAG is parsed, naming the field."""

    @pytest.mark.parametrize(
        ("kwargs", "field_name"),
        [
            ({"message": {"id": "m"}, "target_status": "sent"}, "target_status"),
            ({"message": {"id": "m"}, "target_status": "failed"}, "target_status"),
            ({}, "message"),
            ({"message": {"id": "m"}, "message_id": "m"}, "message"),
            ({"message_id": "m"}, "conversation_id"),
            ({"message": {"id": "m"}, "poll_interval": 0}, "poll_interval"),
        ],
    )
    def test_refused(self, kwargs: dict[str, Any], field_name: str) -> None:
        with pytest.raises(KapsoArgumentError, match=f"^{field_name}:"):
            KapsoMessageStatusSensor(task_id="wait", **kwargs)

    @pytest.mark.parametrize(
        "sensor",
        [
            lambda **kw: KapsoMessageStatusSensor(task_id="wait", message_id="m", conversation_id="c", **kw),
            lambda **kw: KapsoInboundMessageSensor(task_id="wait", **kw),
        ],
        ids=["status", "inbound"],
    )
    def test_an_api_key_argument_points_at_the_connection(self, sensor: Any) -> None:
        with pytest.raises(KapsoConfigurationError) as info:
            sensor(kapso_conn_id="kapso_x", api_key="key-1")
        assert "does not take api_key: store the API key in the password of connection 'kapso_x'" in str(info.value)
        assert "key-1" not in str(info.value)

    def test_target_status_error_lists_allowed_values(self) -> None:
        with pytest.raises(KapsoArgumentError, match="'delivered', 'read'"):
            KapsoMessageStatusSensor(task_id="wait", message={"id": "m"}, target_status="seen")

    def test_templated_fields(self) -> None:
        assert set(KapsoMessageStatusSensor.template_fields) == {
            "kapso_conn_id",
            "message",
            "message_id",
            "conversation_id",
        }

    @pytest.mark.parametrize(
        ("message", "problem"),
        [
            ("not json", "not JSON"),
            ({"status": "sent"}, "no 'id'"),
            ({"id": "m", "status": "sent"}, "whatsapp_conversation_id"),
            (["m"], "got list"),
        ],
    )
    def test_unusable_rendered_message(self, message: Any, problem: str, kapso_server: KapsoServer) -> None:
        sensor = KapsoMessageStatusSensor(task_id="wait", message=message)
        with pytest.raises(KapsoArgumentError, match=f"^message:.*{problem}"):
            sensor.poke({})
        assert kapso_server.simulator.requests == []  # refused before any request


class TestPokeWithExplicitIds:
    """One read per poke, with ids instead of a record: Kapso's id or WhatsApp's wamid."""

    @pytest.mark.parametrize("id_field", ["id", "whatsapp_message_id"])
    @pytest.mark.parametrize(
        ("status", "target", "done"),
        [
            ("sent", "delivered", False),
            ("delivered", "delivered", True),
            ("read", "delivered", True),
            ("delivered", "read", False),
            ("read", "read", True),
        ],
    )
    def test_status_order(self, id_field: str, status: str, target: str, done: bool, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation(phone_number="+15551234567")
        record = simulator._store.store_outbound(conversation["id"], {"message_type": "text", "content": "hi"})
        if status != "sent":
            simulator.set_message_status(record["id"], status)
        sensor = KapsoMessageStatusSensor(
            task_id="wait",
            message_id=record[id_field],
            conversation_id=conversation["id"],
            target_status=target,
        )
        result = sensor.poke({})
        assert result.is_done is done
        assert (result.xcom_value or {}).get("id") == (record["id"] if done else None)

    def test_message_json_text_is_accepted(self, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        conversation = simulator.create_conversation(phone_number="+15551234567")
        record = simulator._store.store_outbound(conversation["id"], {"message_type": "text", "content": "hi"})
        simulator.set_message_status(record["id"], "delivered")
        sensor = KapsoMessageStatusSensor(task_id="wait", message=json.dumps(record))
        assert sensor.poke({}).is_done is True


class TestExecuteComplete:
    """The deferred half: the trigger's event becomes the record or the right exception."""

    @staticmethod
    def _event(status: str, **overrides: Any) -> dict[str, Any]:
        event = {
            "status": status,
            "message": {"id": "m-1", "status": "read", "metadata": {}},
            "last_status": "read",
            "error": None,
            "message_id": "m-1",
            "conversation_id": "c-1",
        }
        return {**event, **overrides}

    def _sensor(self) -> KapsoMessageStatusSensor:
        return KapsoMessageStatusSensor(task_id="wait", message_id="m-1", conversation_id="c-1", timeout=30)

    def test_reached(self) -> None:
        assert self._sensor().execute_complete({}, self._event("reached")) == {
            "id": "m-1",
            "status": "read",
            "metadata": {},
        }

    @pytest.mark.parametrize(
        ("event", "exception", "text"),
        [
            (
                {"status": "failed", "message": {"id": "m-1", "status": "failed", "errors": [{"code": 131026}]}},
                AirflowFailException,
                "WhatsApp error 131026",
            ),
            ({"status": "timeout", "last_status": "sent"}, AirflowSensorTimeout, "never confirmed"),
            (
                {"status": "timeout", "last_status": "delivered"},
                AirflowSensorTimeout,
                "read receipts can be switched off",
            ),
            ({"status": "error", "error": "Kapso API GET /x failed (HTTP 401)"}, AirflowException, "HTTP 401"),
        ],
    )
    def test_outcomes(self, event: dict[str, Any], exception: type[Exception], text: str) -> None:
        sensor = KapsoMessageStatusSensor(
            task_id="wait", message_id="m-1", conversation_id="c-1", target_status="read", timeout=30
        )
        with pytest.raises(exception, match=text) as info:
            sensor.execute_complete({}, self._event(**event))
        # The most specific class, not a subclass that happens to match (AirflowFailException is one).
        assert type(info.value) is exception
