"""KapsoSyncTemplatesOperator and KapsoCreateContactNoteOperator: example DAGs, test DAGs and direct runs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.hooks.kapso import KapsoHook
from kapso_provider.operators.kapso import KapsoCreateContactNoteOperator, KapsoSyncTemplatesOperator
from tests._airflow import task_states, xcom_return_value
from tests._openapi import assert_valid_request

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer


def _success(dag_run: Any) -> None:
    states = task_states(dag_run)
    assert str(dag_run.state) == "success", states
    assert set(states.values()) == {"success"}, states


def _assert_requests_valid(kapso_server: KapsoServer) -> None:
    requests = kapso_server.simulator.requests
    assert requests, "no request was made"
    for request in requests:
        query: dict[str, Any] = dict(request.query)
        files: dict[str, Any] = {}
        if request.path == "/whatsapp_templates/sync_status":
            # Defined in openapi-whatsapp.yaml only (openapi.yaml would read "sync_status" as a template id);
            # its ids are an array in form style without explode, one comma-separated value.
            files = {"files": ("openapi-whatsapp.yaml",)}
            if "sync_request_ids" in query:
                query["sync_request_ids"] = query["sync_request_ids"].split(",")
        assert_valid_request(request.method, request.path, query, request.json, **files)


class TestExampleDags:
    def test_nightly_sync_then_approved_templates(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        simulator = kapso_server.simulator
        simulator.template_admin.sync_steps = 1  # finished at the first status read: no wait between polls
        simulator.template_admin.add_meta_template("spring_offer", content="Spring sale: {{1}} off")
        simulator.create_template("old_draft", status="draft")
        dag_run = run_dag("kapso_templates")
        _success(dag_run)

        synced = xcom_return_value(dag_run, "sync_templates")
        (run,) = synced["sync_requests"]
        assert (run["status"], run["templates_created"]) == ("succeeded", 1)
        assert synced["summary"]["succeeded"] == 1
        approved = xcom_return_value(dag_run, "approved_templates")
        assert [template["name"] for template in approved] == ["spring_offer"]
        _assert_requests_valid(kapso_server)

    def test_campaign_notes_on_each_contact(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        dag_run = run_dag("kapso_contact_notes")
        _success(dag_run)
        contacts = kapso_server.simulator.contacts
        for index, phone in enumerate(["+15551230001", "+15551230002"]):
            sent = xcom_return_value(dag_run, "send_offer", index)
            note = xcom_return_value(dag_run, "note_offer", index)
            assert sent["phone_number"] == phone
            assert note["content"] == f"Spring campaign: template sent as message {sent['id']} ({sent['status']})."
            assert (note["name"], note["metadata"]) == (
                "Spring campaign",
                {"campaign": "spring_offer", "message_id": sent["id"]},
            )
            assert note in contacts.notes(phone)
        opt_out = xcom_return_value(dag_run, "note_opt_out")
        assert opt_out["name"] == "Opt-out"
        assert [note["name"] for note in contacts.notes("+15551230002")] == ["Spring campaign", "Opt-out"]
        _assert_requests_valid(kapso_server)


class TestSyncTemplates:
    @pytest.mark.parametrize("wait", [True, False])
    def test_rendered_arguments(self, run_dag: Any, kapso_server: KapsoServer, wait: bool) -> None:
        simulator = kapso_server.simulator
        simulator.template_admin.sync_steps = 3
        config_id = simulator.default_whatsapp_config_id
        dag_run = run_dag("kapso_test_sync_templates", run_conf={"config_id": config_id, "wait": wait})
        _success(dag_run)
        result = xcom_return_value(dag_run, "sync")
        (sync_request,) = [request for request in simulator.requests if request.path == "/whatsapp_templates/sync"]
        assert sync_request.json == {"whatsapp_config_id": config_id}
        reads = [request for request in simulator.requests if request.path == "/whatsapp_templates/sync_status"]
        if wait:
            assert result["sync_requests"][0]["status"] == "succeeded"
            assert len(reads) == 3  # running, running, succeeded
            assert {read.query["sync_request_ids"] for read in reads} == {result["sync_requests"][0]["id"]}
        else:
            assert (result["status"], result["sync_requests"][0]["status"]) == ("queued", "queued")
            assert reads == []
        _assert_requests_valid(kapso_server)

    def test_progress_is_logged(
        self, kapso_server: KapsoServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
    ) -> None:
        caplog.set_level(logging.INFO)
        kapso_server.simulator.template_admin.sync_steps = 2
        result = KapsoSyncTemplatesOperator(task_id="sync", poll_interval=0).execute({})  # type: ignore[arg-type]
        assert result["summary"]["succeeded"] == 1
        captured = capfd.readouterr()
        # Airflow 2.11 logs through the stdlib (caplog), Airflow 3 through structlog to stdout.
        logs = caplog.text + captured.out + captured.err
        assert "Kapso template sync: 0 of 1 finished" in logs
        assert "Kapso template sync: 1 of 1 finished" in logs
        assert kapso_server.api_key not in logs
        assert json.loads(json.dumps(result)) == result
        _assert_requests_valid(kapso_server)

    def test_failed_sync_fails_with_kapso_error(self, kapso_server: KapsoServer) -> None:
        from airflow.providers.common.compat.sdk import AirflowException

        kapso_server.simulator.template_admin.fail_next_sync("WhatsappApiError", "Invalid access token")
        operator = KapsoSyncTemplatesOperator(task_id="sync", poll_interval=0)
        with pytest.raises(AirflowException, match="WhatsappApiError: Invalid access token") as info:
            operator.execute({})  # type: ignore[arg-type]
        assert "Business Account 200000000000001" in str(info.value)
        _assert_requests_valid(kapso_server)

    def test_timeout(self, kapso_server: KapsoServer) -> None:
        from airflow.providers.common.compat.sdk import AirflowException

        kapso_server.simulator.template_admin.sync_steps = None  # never finishes
        operator = KapsoSyncTemplatesOperator(task_id="sync", poll_interval=0, timeout=0)
        with pytest.raises(AirflowException, match=r"not finished after 0 s: .* is running"):
            operator.execute({})  # type: ignore[arg-type]
        _assert_requests_valid(kapso_server)

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"whatsapp_config_id": "a", "customer_id": "b"}, "give at most one of them"),
            ({"whatsapp_config_id": ""}, "whatsapp_config_id: must be a non-empty string"),
            ({"wait_for_completion": "perhaps"}, "wait_for_completion: must be true or false"),
            ({"poll_interval": -1}, "poll_interval: must be a number of seconds >= 0"),
            ({"timeout": "soon"}, "timeout: must be a number of seconds >= 0"),
        ],
    )
    def test_static_arguments_fail_at_parse(self, kwargs: dict[str, Any], expected: str) -> None:
        with pytest.raises(KapsoArgumentError, match=expected):
            KapsoSyncTemplatesOperator(task_id="sync", **kwargs)

    def test_templated_arguments_wait_for_render(self) -> None:
        KapsoSyncTemplatesOperator(task_id="sync", customer_id="{{ params.c }}", timeout="{{ params.t }}")


class TestCreateContactNote:
    def test_rendered_note(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        contact = kapso_server.simulator.contacts.add_contact("+15551234567", profile_name="Ada")
        dag_run = run_dag("kapso_test_contact_note", run_conf={"contact": contact["id"]})
        _success(dag_run)
        note = xcom_return_value(dag_run, "note")
        assert (note["content"], note["name"], note["metadata"]) == (
            "Campaign spring reached this contact.",
            "Spring",
            {"campaign": "spring"},
        )
        (request,) = kapso_server.simulator.requests
        assert request.path == f"/whatsapp_contacts/{contact['id']}/notes"
        _assert_requests_valid(kapso_server)

    def test_phone_number_is_the_identifier(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.create_conversation(phone_number="+15551234567")
        dag_run = run_dag("kapso_test_contact_note", run_conf={"contact": "+1 555 123 4567"})
        _success(dag_run)
        (request,) = kapso_server.simulator.requests
        assert request.path == "/whatsapp_contacts/15551234567/notes"
        _assert_requests_valid(kapso_server)

    def test_invalid_after_render_fails_without_request_or_retry(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        dag_run = run_dag("kapso_test_contact_note", run_conf={"contact": "+12 34"})
        assert str(dag_run.state) == "failed"
        ti = dag_run.get_task_instance("note")
        assert str(ti.state) == "failed"
        assert ti.try_number == 1  # AirflowFailException: no retry, although the task allows three
        assert kapso_server.simulator.requests == []

    @pytest.mark.parametrize(
        ("try_number", "earlier_content", "creates"),
        [(2, "hello", False), (2, "something else", True), (1, "hello", True)],
    )
    def test_a_retry_returns_the_note_an_earlier_try_stored(
        self, kapso_server: KapsoServer, try_number: int, earlier_content: str, creates: bool
    ) -> None:
        contacts = kapso_server.simulator.contacts
        contact = contacts.add_contact("+15551234567")
        run_started = datetime.now(UTC)
        earlier = KapsoHook().create_contact_note(contact["id"], content=earlier_content, name="Campaign")
        operator = KapsoCreateContactNoteOperator(
            task_id="note", contact="+15551234567", content="hello", name="Campaign"
        )
        ti = SimpleNamespace(try_number=try_number, start_date=run_started)
        context: Any = {"ti": ti, "dag_run": SimpleNamespace(start_date=run_started)}
        result = operator.execute(context)
        notes = contacts.notes(contact["id"])
        assert len(notes) == (2 if creates else 1)
        assert (result == earlier) is not creates
        posts = [request for request in kapso_server.simulator.requests if request.method == "POST"]
        assert len(posts) == (2 if creates else 1)
        _assert_requests_valid(kapso_server)

    def test_unknown_contact_fails(self, kapso_server: KapsoServer) -> None:
        from kapso_provider.exceptions import KapsoNotFoundError

        operator = KapsoCreateContactNoteOperator(task_id="note", contact="+15559999999", content="hello")
        with pytest.raises(KapsoNotFoundError, match="Contact not found"):
            operator.execute({})  # type: ignore[arg-type]
        _assert_requests_valid(kapso_server)

    @pytest.mark.parametrize(
        ("kwargs", "expected"),
        [
            ({"contact": "", "content": "x"}, "contact: must be a contact id or a phone number"),
            ({"contact": "+12 34", "content": "x"}, "contact: 4 digits, expected 7..15"),
            ({"contact": "+15551234567", "content": " "}, "content: must be a non-empty string"),
            ({"contact": "+15551234567", "content": "x", "name": ""}, "name: must be a non-empty string"),
            ({"contact": "+15551234567", "content": "x", "metadata": ["a"]}, r"metadata: must be an object"),
        ],
    )
    def test_static_arguments_fail_at_parse(self, kwargs: dict[str, Any], expected: str) -> None:
        with pytest.raises(KapsoArgumentError, match=expected):
            KapsoCreateContactNoteOperator(task_id="note", **kwargs)

    def test_every_argument_is_templated(self) -> None:
        operator = KapsoCreateContactNoteOperator(task_id="note", contact="{{ params.c }}", content="{{ params.x }}")
        assert set(operator.template_fields) == {"kapso_conn_id", "contact", "content", "name", "metadata"}
        assert operator.template_ext == ()
        sync = KapsoSyncTemplatesOperator(task_id="sync")
        assert set(sync.template_fields) == {
            "kapso_conn_id",
            "whatsapp_config_id",
            "customer_id",
            "wait_for_completion",
            "poll_interval",
            "timeout",
        }
