"""KapsoNotifier in real DAG runs against the simulator, on every supported Airflow version.

Which callbacks ``dag.test()`` runs, measured on 2.11.2, 3.1.8 and 3.3.2: all of them. Task-level
``on_retry_callback``, ``on_success_callback`` and ``on_failure_callback`` run in the task's process on
every version; DAG-level ``on_success_callback`` and ``on_failure_callback`` run at the end of the run on
every version (on Airflow 3 with the scheduler's ``SerializedDAG`` as ``dag`` in the context, which the
notifier handles). One gap: Airflow 3.1's ``dag.test()`` leaves ``exception`` out of the task callbacks'
context (its worker adds it in ``task_runner.main()``, which ``dag.test()`` does not run), so there the
exception renders as ``None`` and :meth:`TestExampleDag.test_every_callback_kind` adds it to the
real context the way that worker does.

No callback of Airflow awaits a notifier under ``dag.test()``: Airflow 3 awaits notifiers only for deadline
alerts, in the triggerer. The async path is tested by awaiting the notifiers with the real contexts their
callbacks got, and, on Airflow 3, through Airflow's own deadline-callback trigger.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.arguments import MESSAGE_FIELDS, RECIPIENT_FIELDS
from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.notifications.kapso import KapsoNotifier, send_kapso_notification
from tests._airflow import get_dag, task_states
from tests.notifications._spy import CallbackSpy, awaited

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"


def _airflow_version() -> tuple[int, int]:
    import airflow

    major, minor = airflow.__version__.split(".")[:2]
    return int(major), int(minor)


# Airflow 3.1's dag.test() does not put the task's exception into the callbacks' context (see above).
EXCEPTION_IN_TEST_CONTEXT = _airflow_version()[:2] != (3, 1)


def _sent_bodies(kapso_server: KapsoServer) -> list[dict[str, Any]]:
    return [r.json for r in kapso_server.simulator.requests if r.method == "POST"]


def _validate(openapi_send_validators: Any, body: dict[str, Any]) -> None:
    if "phone_number" in body["message"]:
        openapi_send_validators.phone_send(body)
    openapi_send_validators.conversation_send(body)


class TestExampleDag:
    """``example_dags/example_kapso_notifier.py``: retry, success and failure of tasks, failure of the run."""

    @pytest.fixture
    def run(self, run_dag: Any, callback_spy: CallbackSpy) -> Any:
        dag_run = run_dag("kapso_notifier")
        assert str(dag_run.state) == "failed", task_states(dag_run)
        assert task_states(dag_run) == {"fetch_rates": "success", "load_warehouse": "failed"}
        assert dag_run.get_task_instance("fetch_rates").try_number == 2
        return dag_run

    def test_every_callback_kind(
        self, run: Any, kapso_server: KapsoServer, callback_spy: CallbackSpy, openapi_send_validators: Any
    ) -> None:
        retry, success, failure, dag_failure = _sent_bodies(kapso_server)  # in the order the callbacks ran
        for body in (retry, success, failure, dag_failure):
            assert body["message"]["phone_number"] == PHONE
            _validate(openapi_send_validators, body)
        exception = "rates API timed out" if EXCEPTION_IN_TEST_CONTEXT else "None"
        assert retry["message"]["content"] == f"fetch_rates try 1 failed, retrying: {exception}"
        ds = run.logical_date.strftime("%Y-%m-%d") if run.logical_date else run.run_after.strftime("%Y-%m-%d")
        assert success["message"]["content"] == f"fetch_rates succeeded for {ds} after 2 tries"

        failed_ti = run.get_task_instance("load_warehouse")
        text = failure["message"]["content"]
        exception = "warehouse is read-only, rates not loaded" if EXCEPTION_IN_TEST_CONTEXT else "None"
        assert text.startswith(f"load_warehouse failed in kapso_notifier ({run.run_id}): {exception}\nLog: http")
        # The log URL is the task instance's own, as Airflow builds it on this version.
        assert text.endswith(f"\nLog: {failed_ti.log_url}")

        # The run failed: a template message, the kind that reaches a phone outside the 24-hour window.
        template = dag_failure["message"]
        assert template["message_type"] == "template"
        assert (template["template_name"], template["template_language"]) == ("pipeline_alert", "en_US")
        assert template["template_params"] == ["kapso_notifier", run.run_id, "task_failure"]  # reason: Airflow's

        assert len(callback_spy.calls) == 4
        stored = kapso_server.simulator.messages()
        assert [m["message_type"] for m in stored] == ["text", "text", "text", "template"]

        # Airflow's BaseNotifier renders in place; this one renders a copy for each call.
        notifier, failure_context = callback_spy.context_of("{{ ti.task_id }} failed in")
        assert str(notifier.message_fields().get("content")).startswith("{{ ti.task_id }} failed in {{ dag.dag_id }}")
        assert notifier.recipient().get("phone_number") == "{{ params.on_call_phone }}"

        if not EXCEPTION_IN_TEST_CONTEXT:
            # Airflow 3.1's worker adds the task's error to the real context before the failure callbacks
            # run (task_runner.main()); dag.test() does not, so it is added here the same way.
            failure_context = copy.copy(failure_context)
            failure_context["exception"] = RuntimeError("warehouse is read-only, rates not loaded")
            notifier(failure_context)
            assert (
                ": warehouse is read-only, rates not loaded\nLog: http"
                in _sent_bodies(kapso_server)[-1]["message"]["content"]
            )

    def test_awaited(
        self,
        run: Any,
        kapso_server: KapsoServer,
        callback_spy: CallbackSpy,
        capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """``await notifier`` (KapsoAsyncHook) with each real callback context sends what the callback sent."""
        from kapso_provider.exceptions import KapsoNotFoundError

        sync_bodies = _sent_bodies(kapso_server)
        for notifier, context in callback_spy.calls:
            awaited(notifier, context)
        assert _sent_bodies(kapso_server)[len(sync_bodies) :] == sync_bodies

        # Built with its context, as the triggerer builds one; Kapso refuses the send.
        _, context = callback_spy.context_of("{{ ti.task_id }} succeeded")
        notifier = KapsoNotifier(conversation_id="no-such-conversation", content="{{ ti.task_id }}", context=context)
        with pytest.raises(KapsoNotFoundError, match=r"\(HTTP 404\): Not Found - Conversation not found"):
            awaited(notifier, context)
        logs = capfd.readouterr().out + caplog.text
        assert "Kapso notification not sent (async): KapsoNotFoundError: Kapso API POST /whatsapp_conv" in logs


_NOTIFIER_PATH = f"{KapsoNotifier.__module__}.KapsoNotifier"


def _through_triggerer(callback_kwargs: dict[str, Any]) -> tuple[bool, str]:
    """An ``AsyncCallback`` deadline: Airflow's trigger awaits ``KapsoNotifier(**kwargs, context=...)``."""
    try:
        from airflow.triggers.callback import CallbackTrigger as Trigger  # Airflow >= 3.2
    except ImportError:
        from airflow.triggers.deadline import (  # type: ignore[no-redef]  # Airflow 3.1
            DeadlineCallbackTrigger as Trigger,
        )

    trigger = Trigger(callback_path=_NOTIFIER_PATH, callback_kwargs=callback_kwargs)

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    events = asyncio.run(collect())
    # An enum whose str() is its value on 3.3 and its name on 3.1.
    states = [getattr(event["state"], "value", event["state"]) for event in events]
    assert states in (["running", "success"], ["running", "failed"]), events
    return states[-1] == "success", str(events[-1].get("body"))


def _through_executor(callback_kwargs: dict[str, Any]) -> tuple[bool, str]:
    """A ``SyncCallback`` deadline: Airflow builds the notifier with the context, then calls it."""
    import structlog
    from airflow.sdk.execution_time.callback_supervisor import execute_callback

    # The DAG file's path matters only for callbacks defined in a DAG file; the notifier is imported.
    ok, error = execute_callback(_NOTIFIER_PATH, callback_kwargs, Path(), None, structlog.get_logger())
    return ok, str(error)


def _has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


# The ways each Airflow version runs a deadline alert's notifier: none on 2.x, the triggerer from 3.1,
# and from 3.3 also a callback executor. A way the installed version lacks gets no test case; the test
# below pins which ways exist, so an Airflow upgrade that adds one cannot go untested.
DEADLINE_RUNNERS = [
    *([pytest.param(_through_triggerer, id="async")] if _airflow_version() >= (3, 1) else []),
    *(
        [pytest.param(_through_executor, id="sync")]
        if _has_module("airflow.sdk.execution_time.callback_supervisor")
        else []
    ),
]


def test_deadline_alert_runners_match_the_airflow_version() -> None:
    version = _airflow_version()
    has_trigger = _has_module("airflow.triggers.callback") or _has_module("airflow.triggers.deadline")
    assert has_trigger == (version >= (3, 1))
    assert _has_module("airflow.sdk.execution_time.callback_supervisor") == (version >= (3, 3))
    assert len(DEADLINE_RUNNERS) == (version >= (3, 1)) + (version >= (3, 3))


# Airflow 2 has no deadline alerts, so there is nothing to run there (pinned by the test above).
if DEADLINE_RUNNERS:

    class TestDeadlineAlert:
        """Airflow 3 runs a deadline alert's notifier outside any task, with a context of its own."""

        @staticmethod
        def _deadline_context(dag_run: Any) -> dict[str, Any]:
            """The context Airflow's scheduler gives a deadline callback: the DAG run as the REST API shows it."""
            from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse
            from airflow.models import DagRun
            from airflow.utils.session import create_session

            with create_session() as session:
                row = session.get(DagRun, dag_run.id)
                assert row is not None
                return {
                    "dag_run": DAGRunResponse.model_validate(row).model_dump(mode="json"),
                    "deadline": {"id": "0198a000-0000-7000-8000-000000000000", "deadline_time": row.start_date},
                }

        @pytest.mark.parametrize("run_callback", DEADLINE_RUNNERS)
        @pytest.mark.parametrize(
            ("recipient", "error"),
            [
                ({"phone_number": PHONE}, None),
                ({"conversation_id": "no-such-conversation"}, "(HTTP 404): Not Found - Conversation not found"),
            ],
            ids=["sent", "kapso-error"],
        )
        def test_deadline_alert(
            self,
            run_dag: Any,
            kapso_server: KapsoServer,
            openapi_send_validators: Any,
            run_callback: Any,
            recipient: dict[str, str],
            error: str | None,
        ) -> None:
            dag_run = run_dag("kapso_test_notifier_adapted")  # any real run, the shortest
            sent_before = len(_sent_bodies(kapso_server))
            ok, outcome = run_callback(
                {
                    **recipient,
                    "message_type": "template",
                    "template_name": "deadline_missed",
                    "template_language": "en",
                    "template_params": ["{{ dag_run.dag_id }}", "{{ dag_run.dag_run_id }}"],
                    "context": self._deadline_context(dag_run),
                }
            )
            bodies = _sent_bodies(kapso_server)[sent_before:]
            if error is None:
                assert ok, outcome
                (body,) = bodies
                _validate(openapi_send_validators, body)
                assert body["message"]["template_params"] == ["kapso_test_notifier_adapted", dag_run.run_id]
            else:
                # Airflow records the callback as failed, with Kapso's status and text.
                assert not ok
                assert error in outcome


class TestCallbacks:
    def test_shared_notifier_and_dag_success_to_conversation(
        self, run_dag: Any, kapso_server: KapsoServer, openapi_send_validators: Any
    ) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number="+15550001111")
        dag_run = run_dag("kapso_test_notifier_conversation", run_conf={"conversation_id": conversation["id"]})
        assert str(dag_run.state) == "success", task_states(dag_run)

        bodies = _sent_bodies(kapso_server)
        paths = {r.path for r in kapso_server.simulator.requests}
        assert paths == {f"/whatsapp_conversations/{conversation['id']}/whatsapp_messages"}
        for body in bodies:
            _validate(openapi_send_validators, body)
        first, second, dag_success = (body["message"] for body in bodies)
        # One notifier object served both tasks: each message names its own task.
        assert first["content"] == f"first done in {dag_run.run_id}"
        assert second["content"] == f"second done in {dag_run.run_id}"
        assert dag_success["message_type"] == "interactive"
        assert dag_success["body_text"] == "kapso_test_notifier_conversation finished (success). Rerun tonight?"
        assert dag_success["buttons"][0]["id"].startswith("rerun-2")
        assert len(kapso_server.simulator.messages(conversation["id"])) == 3

    def test_not_sent_is_logged_and_the_task_state_stands(
        self,
        run_dag: Any,
        kapso_server: KapsoServer,
        capfd: pytest.CaptureFixture[str],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # task id -> (the task's own state, what the notifier's ERROR line says)
        not_sent = {
            "unknown_conversation": (
                "failed",
                "KapsoNotFoundError: Kapso API POST /whatsapp_conversations/no-such-conversation/whatsapp_messages "
                "failed (HTTP 404): Not Found - Conversation not found",
            ),
            "unknown_sender": (
                "failed",
                "KapsoValidationError: Kapso API POST /whatsapp_messages failed (HTTP 422): "
                "WhatsApp configuration not found",
            ),
            "unusable_phone": (
                "success",
                "KapsoInvalidMessageError: Invalid Kapso message: phone_number: 'call me maybe' is not a phone number",
            ),
            "misspelt_variable": ("success", "could not render its arguments: UndefinedError: 'tii' is undefined"),
        }
        dag_run = run_dag("kapso_test_notifier_not_sent")
        logs = capfd.readouterr().out + capfd.readouterr().err + caplog.text
        assert task_states(dag_run) == {task_id: state for task_id, (state, _) in not_sent.items()}
        for _, error in not_sent.values():
            assert f"Kapso notification not sent (sync): {error}" in logs
        # The tasks' own failures are in the log as well, not hidden by the notifications' ones.
        assert logs.count("RuntimeError: the task's own failure") >= 2
        # Kapso's refusals are final: no retry. The unusable number never left the machine.
        assert len(kapso_server.simulator.requests) == 2
        assert kapso_server.simulator.messages() == []

    def test_runtime_text_adapted_to_whatsapp(
        self, run_dag: Any, kapso_server: KapsoServer, openapi_send_validators: Any
    ) -> None:
        dag_run = run_dag("kapso_test_notifier_adapted")
        assert str(dag_run.state) == "success", task_states(dag_run)
        text, template = _sent_bodies(kapso_server)
        for body in (text, template):
            _validate(openapi_send_validators, body)
        details = get_dag("kapso_test_notifier_adapted").params["details"]
        # Cut to WhatsApp's 4096 characters, the last one an ellipsis; line breaks kept in a text.
        assert text["message"]["content"] == f"report: {details}"[:4095] + "\N{HORIZONTAL ELLIPSIS}"
        # Template parameters may hold no line break or tab: each run of white space became one space.
        assert template["message"]["template_params"] == ["report", "line one line two with a tab and more an"]


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"content": "hi"}, "recipient: give exactly one of conversation_id or phone_number"),
            ({"phone_number": PHONE, "conversation_id": "c", "content": "hi"}, "exactly one of"),
            ({"phone_number": "call me", "content": "hi"}, "phone_number: 'call me' is not a phone number"),
            ({"conversation_id": "c", "whatsapp_config_id": "w", "content": "hi"}, "only with phone_number"),
            ({"phone_number": PHONE, "content": "x" * 4097}, "content: 4097 characters, limit 4096"),
            ({"phone_number": PHONE, "message_type": "template", "template_name": "alert"}, "template_language"),
            ({"phone_number": PHONE, "message": {"content": "a"}, "content": "b"}, "not both (also got content)"),
        ],
    )
    def test_static_arguments_fail_at_construction(self, kwargs: dict[str, Any], expected: str) -> None:
        with pytest.raises(KapsoInvalidMessageError) as info:
            KapsoNotifier(**kwargs)
        assert expected in str(info.value)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"phone_number": "{{ params.phone }}", "content": "hi"},
            {"phone_number": PHONE, "content": "{{ 'x' * 5000 }}"},
            {"conversation_id": "{{ params.conversation_id }}", "message": "{{ params.message }}"},
            {"phone_number": PHONE, "message_type": "template", "template_name": "{{ params.template }}"},
        ],
    )
    def test_templated_arguments_wait_for_the_callback(self, kwargs: dict[str, Any]) -> None:
        KapsoNotifier(**kwargs)

    def test_template_fields_cover_every_argument(self) -> None:
        assert set(KapsoNotifier.template_fields) == {"kapso_conn_id", "message", *RECIPIENT_FIELDS, *MESSAGE_FIELDS}
        assert KapsoNotifier.template_ext == ()

    def test_keyword_only_and_unknown_arguments_refused(self) -> None:
        with pytest.raises(TypeError):
            KapsoNotifier(PHONE)  # type: ignore[misc]
        with pytest.raises(TypeError, match="contnet"):
            KapsoNotifier(phone_number=PHONE, contnet="typo")  # type: ignore[call-arg]

    def test_airflow_notifier_and_alias(self) -> None:
        from airflow.providers.common.compat.notifier import BaseNotifier

        assert issubclass(KapsoNotifier, BaseNotifier)
        assert send_kapso_notification is KapsoNotifier
