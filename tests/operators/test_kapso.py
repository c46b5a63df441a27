from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.operators.kapso import MESSAGE_FIELDS, RECIPIENT_FIELDS, KapsoSendMessageOperator
from tests._airflow import task_states, xcom_return_value

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer

PHONE = "+15551234567"


def _success(dag_run: Any) -> None:
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert set(states.values()) == {"success"}, states


def _sent_bodies(kapso_server: KapsoServer) -> list[dict[str, Any]]:
    return [r.json for r in kapso_server.simulator.requests if r.method == "POST" and r.path == "/whatsapp_messages"]


class TestExampleDags:
    def test_every_message_type(self, run_dag: Any, kapso_server: KapsoServer, openapi_send_validators: Any) -> None:
        dag_run = run_dag("kapso_message_types")
        _success(dag_run)

        stored = {message["id"]: message for message in kapso_server.simulator.messages()}
        task_ids = sorted(task_states(dag_run))
        assert len(stored) == len(task_ids)
        for task_id in task_ids:
            record = xcom_return_value(dag_run, task_id)
            # XCom holds exactly the record Kapso (here the simulator) returned for this task's send.
            assert record == stored[record["id"]], task_id
        bodies = _sent_bodies(kapso_server)
        assert {body["message"]["message_type"] for body in bodies} == {
            "text",
            "image",
            "video",
            "audio",
            "document",
            "location",
            "interactive",
            "template",
            "contacts",
        }
        for body in bodies:
            openapi_send_validators.phone_send(body)
            openapi_send_validators.conversation_send(body)

    def test_send_then_react(self, run_dag: Any, kapso_server: KapsoServer, openapi_send_validators: Any) -> None:
        dag_run = run_dag("kapso_send_message")
        _success(dag_run)
        sent = xcom_return_value(dag_run, "send_text")
        reaction = xcom_return_value(dag_run, "react_to_text")
        text_body, reaction_body = _sent_bodies(kapso_server)  # the DAG orders them: send_text >> react
        assert text_body["message"]["content"].startswith("Hi Ada, your order for ")
        assert reaction_body["message"]["message_type"] == "reaction"
        assert reaction_body["message"]["reacted_to_message_id"] == sent["whatsapp_message_id"]
        assert reaction["message_type"] == "reaction"
        for body in (text_body, reaction_body):
            openapi_send_validators.phone_send(body)
            openapi_send_validators.conversation_send(body)

    def test_mapped_fan_out(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        dag_run = run_dag("kapso_fan_out")
        _success(dag_run)
        stored = {message["id"]: message for message in kapso_server.simulator.messages()}
        assert len(stored) == 6
        recipients = [xcom_return_value(dag_run, "notify_each_recipient", i)["phone_number"] for i in range(3)]
        assert recipients == ["+15551230001", "+15551230002", "+15551230003"]
        types = [xcom_return_value(dag_run, "send_each_message", i)["message_type"] for i in range(3)]
        assert types == ["text", "image", "document"]
        for task_id in ("notify_each_recipient", "send_each_message"):
            for index in range(3):
                record = xcom_return_value(dag_run, task_id, index)
                assert record == stored[record["id"]]


class TestTemplating:
    def test_rendered_once_nested_and_conn_id(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        dag_run = run_dag("kapso_test_templating")
        _success(dag_run)
        # Tasks of one run may go in any order: tell the bodies apart by what they hold.
        bodies = _sent_bodies(kapso_server)
        (nested,) = [b for b in bodies if b["message"]["message_type"] == "interactive"]
        (json_message,) = [b for b in bodies if b["message"].get("content", "").startswith("JSON for")]
        (no_xcom,) = [b for b in bodies if b["message"].get("content") == "not pushed"]
        logical_date = dag_run.logical_date
        ds_nodash = logical_date.strftime("%Y%m%d")
        assert nested["message"]["body_text"] == "Literal: {{ not rendered twice }}"
        assert nested["message"]["buttons"] == [
            {"id": f"yes-{ds_nodash}", "title": "Yes"},
            {"id": "no", "title": "No 2"},
        ]
        assert json_message["message"]["content"] == f"JSON for {logical_date.strftime('%Y-%m-%d')}"
        assert no_xcom["message"]["content"] == "not pushed"
        assert xcom_return_value(dag_run, "no_xcom") is None
        assert xcom_return_value(dag_run, "json_message")["content"] == json_message["message"]["content"]

    def test_invalid_after_render_fails_without_request_or_retry(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        dag_run = run_dag("kapso_test_invalid_after_render")
        assert str(dag_run.state) == "failed"
        ti = dag_run.get_task_instance("too_long")
        assert str(ti.state) == "failed"
        # AirflowFailException: no retry, although the task allows three.
        assert ti.try_number == 1
        assert kapso_server.simulator.requests == []

    def test_kapso_error_fails_task(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        dag_run = run_dag("kapso_test_unknown_conversation")
        assert str(dag_run.state) == "failed"
        (request,) = kapso_server.simulator.requests
        assert request.path == "/whatsapp_conversations/no-such-conversation/whatsapp_messages"


class TestParseTimeValidation:
    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"phone_number": PHONE, "content": "x" * 4097}, "content: 4097 characters, limit 4096"),
            ({"content": "hi"}, "give exactly one of conversation_id or phone_number"),
            ({"phone_number": PHONE, "conversation_id": "c", "content": "hi"}, "exactly one of"),
            ({"phone_number": "call me", "content": "hi"}, "phone_number: 'call me' is not a phone number"),
            ({"phone_number": PHONE, "message": {"content": "a"}, "content": "b"}, "not both (also got content)"),
            ({"phone_number": PHONE, "message": "{not json"}, "message: not valid JSON"),
            ({"phone_number": PHONE, "message": '["a"]'}, "message: must be a dict or a JSON object, got list"),
            (
                {
                    "phone_number": PHONE,
                    "message_type": "interactive",
                    "interactive_type": "button",
                    "body_text": "Pick",
                    "buttons": [{"id": str(i), "title": f"B{i}"} for i in range(4)],
                },
                "buttons",
            ),
        ],
    )
    def test_static_arguments_fail_at_parse(self, kwargs: dict[str, Any], expected: str) -> None:
        with pytest.raises(KapsoInvalidMessageError) as info:
            KapsoSendMessageOperator(task_id="t", **kwargs)
        assert expected in str(info.value)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"phone_number": "{{ params.phone }}", "content": "x" * 10},
            {"phone_number": PHONE, "content": "{{ 'x' * 5000 }}"},
            {"phone_number": PHONE, "message": "{{ params.message }}"},
            {"conversation_id": "{{ ti.xcom_pull('c') }}", "content": "hi"},
        ],
    )
    def test_templated_arguments_wait_for_render(self, kwargs: dict[str, Any]) -> None:
        KapsoSendMessageOperator(task_id="t", **kwargs)

    def test_template_fields_cover_every_argument(self) -> None:
        fields = set(KapsoSendMessageOperator.template_fields)
        assert fields == {"kapso_conn_id", "message", *RECIPIENT_FIELDS, *MESSAGE_FIELDS}
        assert KapsoSendMessageOperator.template_ext == ()

    def test_message_fields_are_the_v1_message_object(self, openapi_send_validators: Any) -> None:
        # Every property of the v1 message object is an argument, except the multipart upload.
        properties = set(openapi_send_validators.conversation_send_properties)
        assert set(MESSAGE_FIELDS) == properties - {"media_file"}

    def test_constructor_is_keyword_only(self) -> None:
        from airflow.providers.common.compat.sdk import AirflowException

        # Airflow 2.11 reports positional arguments itself, before the signature is applied.
        with pytest.raises((TypeError, AirflowException)):
            KapsoSendMessageOperator("t")  # type: ignore[misc,call-arg,arg-type]


class TestTaskRetry:
    def test_retry_returns_the_earlier_send(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        conversation = kapso_server.simulator.create_conversation(phone_number="+15550001111")
        # The customer wrote the same words: an inbound message must not pass for the earlier send.
        kapso_server.simulator.deliver_inbound(conversation["id"], content="Your parcel is out for delivery")
        dag_run = run_dag("kapso_test_retry_after_crash", run_conf={"conversation_id": conversation["id"]})
        _success(dag_run)

        outbound = [m for m in kapso_server.simulator.messages() if m["direction"] == "outbound"]
        assert len(outbound) == 2  # one per task, although each task ran twice
        for task_id in ("to_phone", "to_conversation"):
            ti = dag_run.get_task_instance(task_id)
            assert ti.try_number == 2
            record = xcom_return_value(dag_run, task_id)
            assert record in outbound
        posts = [r for r in kapso_server.simulator.requests if r.method == "POST"]
        assert len(posts) == 2
