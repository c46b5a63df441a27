"""KapsoBulkSendMessageOperator in real DAG runs against the simulator."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoInvalidMessageError
from kapso_provider.operators.kapso import KapsoBulkSendMessageOperator
from tests._airflow import task_states, xcom_return_value

if TYPE_CHECKING:
    from pathlib import Path

    from kapso_provider.testing.pytest_plugin import KapsoServer


def _posts(kapso_server: KapsoServer) -> list[Any]:
    return [r for r in kapso_server.simulator.requests if r.method == "POST" and r.path == "/whatsapp_messages"]


def _per_number(kapso_server: KapsoServer) -> Counter[str]:
    return Counter(message["phone_number"] for message in kapso_server.simulator.messages())


class TestExampleDag:
    def test_list_xcom_and_file_inputs(
        self, run_dag: Any, kapso_server: KapsoServer, openapi_send_validators: Any
    ) -> None:
        dag_run = run_dag("kapso_bulk_send")
        assert str(dag_run.state) == "success", task_states(dag_run)
        stored = {message["id"]: message for message in kapso_server.simulator.messages()}

        for task_id, count in (("announce_maintenance", 3), ("remind_appointments", 3), ("send_codes", 20)):
            summary = xcom_return_value(dag_run, task_id)
            assert (summary["total"], summary["sent"], summary["failed"], summary["not_attempted"]) == (
                count,
                count,
                0,
                0,
            )
            # message_ids follow the input order and are the records Kapso stored.
            assert len(summary["message_ids"]) == count
            assert all(message_id in stored for message_id in summary["message_ids"])

        codes = xcom_return_value(dag_run, "send_codes")["message_ids"]
        for number, message_id in enumerate(codes, start=1):
            assert stored[message_id]["phone_number"] == f"+1555124{number:04d}"
            assert stored[message_id]["content"] == f"Your voucher code is K{number:03d}."

        reminders = [stored[i] for i in xcom_return_value(dag_run, "remind_appointments")["message_ids"]]
        assert [m["metadata"]["template_params"][0] for m in reminders] == ["Ada", "Grace", "Linus"]
        assert all(m["metadata"]["template_params"][1].endswith(("09:30", "11:00", "15:45")) for m in reminders)
        assert "${" not in json.dumps([m["metadata"] for m in reminders])

        # Each of the 26 recipients got exactly its messages, once.
        assert len(stored) == len(_posts(kapso_server)) == 26
        for post in _posts(kapso_server):
            openapi_send_validators.phone_send(post.json)
            openapi_send_validators.conversation_send(post.json)


class TestExactlyOnce:
    def test_a_retry_sends_only_what_the_failed_try_did_not(
        self, run_dag: Any, kapso_server: KapsoServer, caplog: Any, capsys: Any
    ) -> None:
        # The first send of try 1 is refused (a 422 is not retried within the try), so try 1 fails
        # after 11 of 12 sends; try 2 must send that one and skip the other eleven.
        kapso_server.simulator.add_fault(
            "server_error_before_store", method="POST", path="/whatsapp_messages", status=422, count=1
        )
        dag_run = run_dag("kapso_test_bulk_retry")
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert dag_run.get_task_instance("bulk").try_number == 2
        summary = xcom_return_value(dag_run, "bulk")
        assert (summary["total"], summary["already_sent"], summary["sent"], summary["failed"]) == (12, 11, 1, 0)
        per_number = _per_number(kapso_server)
        assert len(per_number) == 12
        assert set(per_number.values()) == {1}
        assert len(_posts(kapso_server)) == 13  # 12 sends and the refused one
        # Try 1's checkpoint (the task state store on Airflow 3.3, a Variable before) confirms eleven: the
        # retry reads Kapso only for the one that failed.
        reads = [r for r in kapso_server.simulator.requests if r.method == "GET"]
        assert 1 <= len(reads) <= 2
        from importlib.metadata import version

        from packaging.version import Version

        has_task_state_store = Version(version("apache-airflow")) >= Version("3.3")
        store = "the task state store" if has_task_state_store else "the Airflow Variable 'kapso_bulk_checkpoint/"
        task_log = caplog.text + capsys.readouterr().out
        assert f"Resuming from the checkpoint in {store}" in task_log

    @pytest.mark.parametrize("kind", ["server_error_after_store", "drop_after_store"])
    def test_a_lost_answer_is_not_sent_twice(self, run_dag: Any, kapso_server: KapsoServer, kind: str) -> None:
        kapso_server.simulator.add_fault(kind, method="POST", path="/whatsapp_messages", count=3)
        dag_run = run_dag("kapso_test_bulk_tolerate")
        assert str(dag_run.state) == "success", task_states(dag_run)
        summary = xcom_return_value(dag_run, "bulk")
        assert (summary["sent"], summary["failed"]) == (12, 0)
        assert set(_per_number(kapso_server).values()) == {1}


class TestFailures:
    def test_tolerated_failures_let_the_task_succeed_and_are_listed(
        self, run_dag: Any, kapso_server: KapsoServer
    ) -> None:
        kapso_server.simulator.add_fault(
            "server_error_before_store", method="POST", path="/whatsapp_messages", status=422, count=1
        )
        dag_run = run_dag("kapso_test_bulk_tolerate")
        assert str(dag_run.state) == "success", task_states(dag_run)
        summary = xcom_return_value(dag_run, "bulk")
        assert (summary["sent"], summary["failed"], summary["failures_listed"]) == (11, 1, 1)
        (failure,) = summary["failures"]
        assert "422" in failure["error"]
        assert summary["message_ids"][failure["index"]] is None
        assert failure["recipient"] not in _per_number(kapso_server)

    def test_a_systematic_error_stops_the_run_early(self, run_dag: Any, kapso_server: KapsoServer) -> None:
        kapso_server.simulator.add_fault(
            "server_error_before_store", method="POST", path="/whatsapp_messages", status=422, count=None
        )
        dag_run = run_dag("kapso_test_bulk_stop_early")
        assert task_states(dag_run) == {"bulk": "failed"}
        # Three failures in a row stop it; the sends already in flight (two threads) may add a few.
        assert 3 <= len(_posts(kapso_server)) <= 3 + 2 * 2

    def test_bad_rendered_input_fails_before_any_request_and_is_not_retried(
        self, run_dag: Any, kapso_server: KapsoServer
    ) -> None:
        dag_run = run_dag("kapso_test_bulk_bad_rendered_input")
        assert task_states(dag_run) == {"bulk": "failed"}
        assert dag_run.get_task_instance("bulk").try_number == 1
        assert kapso_server.simulator.requests == []

    def test_refused_api_key_stops_at_once(self, run_dag: Any, kapso_server: KapsoServer, monkeypatch: Any) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": kapso_server.base_url, "password": "wrong-key"}),
        )
        dag_run = run_dag("kapso_test_bulk_stop_early")
        assert task_states(dag_run) == {"bulk": "failed"}
        assert len(_posts(kapso_server)) <= 2 * 2  # at most what the two threads had queued


class TestFileInput:
    def test_file_with_named_template_values_and_results_file(
        self, run_dag: Any, kapso_server: KapsoServer, tmp_path: Path
    ) -> None:
        path = tmp_path / "people.jsonl"
        people = [{"phone_number": f"+1555666{n:04d}", "name": f"P{n}", "when": f"{n}:00"} for n in range(7)]
        path.write_text("\n".join(json.dumps(p) for p in people) + "\n\n")  # a trailing blank line is fine
        results = tmp_path / "results.jsonl"
        dag_run = run_dag("kapso_test_bulk_file", run_conf={"path": str(path), "results": str(results)})
        assert str(dag_run.state) == "success", task_states(dag_run)
        lines = [json.loads(line) for line in results.read_text().splitlines()]
        assert sorted(line["index"] for line in lines) == list(range(7))
        stored = {message["id"]: message for message in kapso_server.simulator.messages()}
        for line in lines:
            record = stored[line["message_id"]]
            assert record["phone_number"] == people[line["index"]]["phone_number"] == line["recipient"]
            assert record["metadata"]["template_params"] == {
                "name": people[line["index"]]["name"],
                "when": people[line["index"]]["when"],
            }

    def test_a_spreadsheet_export_with_a_byte_order_mark_and_one_person_in_three_notations(
        self, run_dag: Any, kapso_server: KapsoServer, tmp_path: Path
    ) -> None:
        path = tmp_path / "people.jsonl"
        numbers = ["+1 555 666 0001", "+15556660001", "+1 (555) 666-0001", "+15556660002"]
        people = [{"phone_number": number, "name": "P", "when": "9:00"} for number in numbers]
        path.write_bytes(("\ufeff" + "\n".join(json.dumps(p) for p in people) + "\n").encode())
        dag_run = run_dag("kapso_test_bulk_file", run_conf={"path": str(path), "results": str(tmp_path / "r")})
        assert str(dag_run.state) == "success", task_states(dag_run)
        summary = xcom_return_value(dag_run, "bulk")
        assert (summary["total"], summary["sent"], summary["merged"], summary["not_attempted"]) == (4, 2, 2, 0)
        assert [entry["where"] for entry in summary["merged_entries"]] == ["people.jsonl line 2", "people.jsonl line 3"]
        assert {entry["same_as"] for entry in summary["merged_entries"]} == {"people.jsonl line 1"}
        assert len(kapso_server.simulator.messages()) == 2

    @pytest.mark.parametrize(
        ("content", "expected"),
        [
            ('{"phone_number": "+15556660001"}\nnot json\n', "people.jsonl line 2: not JSON"),
            ('{"phone_number": "+15556660001"}\n{"phone_number": "12"}\n', "people.jsonl line 2: phone_number"),
            ('{"name": "x"}\n', "people.jsonl line 1: recipient: give exactly one of conversation_id or phone_number"),
            # Every bad line is named, not only the first.
            (
                '{"phone_number": "+15556660001"}\nnot json\n{"phone_number": "12"}\n',
                "people.jsonl line 3: phone_number",
            ),
        ],
    )
    def test_a_bad_line_is_named_and_nothing_is_sent(
        self,
        run_dag: Any,
        kapso_server: KapsoServer,
        tmp_path: Path,
        content: str,
        expected: str,
        caplog: Any,
        capsys: Any,
    ) -> None:
        path = tmp_path / "people.jsonl"
        path.write_text(content)
        dag_run = run_dag("kapso_test_bulk_file", run_conf={"path": str(path), "results": str(tmp_path / "r")})
        assert task_states(dag_run) == {"bulk": "failed"}
        assert kapso_server.simulator.requests == []
        # The task log (stdout on 3.x, the logging tree on 2.11) names the line and the field.
        captured = capsys.readouterr()
        assert expected in caplog.text + captured.out + captured.err


class TestParseTimeChecks:
    @pytest.mark.parametrize(
        ("arguments", "named"),
        [
            ({}, "recipients: give exactly one of recipients or recipients_file"),
            ({"recipients": ["+15550000001"], "recipients_file": "x"}, "give exactly one"),
            ({"recipients": [], "recipient_field": "email"}, "recipient_field: must be"),
            ({"recipients": [], "max_concurrency": 0}, "max_concurrency: 0 is outside 1..64"),
            ({"recipients": [], "max_requests_per_minute": 0}, "max_requests_per_minute: must be positive"),
            ({"recipients": [], "tolerate_failures": 1.5}, "tolerate_failures: a float is a fraction"),
            ({"recipients": [], "tolerate_failures": -1}, "tolerate_failures: must be"),
            ({"recipients": [], "max_consecutive_failures": 0}, "max_consecutive_failures: must be at least 1"),
            ({"recipients": [], "message_type": "image"}, "media_url"),
        ],
    )
    def test_static_arguments_are_checked_when_the_dag_is_parsed(self, arguments: dict[str, Any], named: str) -> None:
        with pytest.raises(KapsoInvalidMessageError, match=named.replace("(", r"\(").replace(".", r"\.")):
            KapsoBulkSendMessageOperator(task_id="bulk", **{"content": "hi", **arguments})
