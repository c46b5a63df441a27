"""KapsoBroadcastOperator in real DAG runs against the simulator: batches, send, wait, failures, retries."""

from __future__ import annotations

import inspect
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.hooks.kapso import KapsoHook
from kapso_provider.operators.kapso import KapsoBroadcastOperator
from tests._airflow import task_states, xcom_return_value
from tests._openapi import assert_requests_valid

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

RECIPIENT_ADDS = "/recipients"


@pytest.fixture
def ids(kapso_server: KapsoServer) -> Iterator[dict[str, str]]:
    """The run conf naming the simulator's config and a one-parameter template; checks every request after."""
    template = kapso_server.simulator.create_template("promo", category="MARKETING", content="Hi {{1}}")
    yield {"config": kapso_server.simulator.default_whatsapp_config_id, "template": template["id"]}
    assert_requests_valid(kapso_server.simulator.requests)


def _calls(kapso_server: KapsoServer, method: str, suffix: str = "") -> list[Any]:
    return [
        r
        for r in kapso_server.simulator.requests
        if r.method == method and r.path.startswith("/whatsapp_broadcasts") and r.path.endswith(suffix)
    ]


def _creates(kapso_server: KapsoServer) -> list[Any]:
    return [r for r in _calls(kapso_server, "POST") if r.path == "/whatsapp_broadcasts"]


def _only_broadcast(kapso_server: KapsoServer) -> tuple[dict[str, Any], Counter[str]]:
    (broadcast,) = kapso_server.simulator.broadcasts.broadcasts()
    numbers = Counter(r["phone_number"] for r in kapso_server.simulator.broadcasts.recipients(broadcast["id"]))
    return broadcast, numbers


class TestExampleDag:
    def test_sends_waits_and_leaves_a_draft(self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str]) -> None:
        simulator = kapso_server.simulator
        template = simulator.create_template("july", category="MARKETING", content="Hi {{1}}, code {{2}}")
        simulator.broadcasts.set_outcome("+15551230002", "failed", error_message="Undeliverable", error_code="131026")
        conf = {"whatsapp_config_id": ids["config"], "whatsapp_template_id": template["id"]}
        dag_run = run_dag("kapso_broadcast", run_conf=conf)
        assert str(dag_run.state) == "success", task_states(dag_run)

        promo = xcom_return_value(dag_run, "july_promo")
        assert promo["status"] == "completed"
        assert (promo["total_recipients"], promo["sent_count"], promo["failed_count"], promo["pending_count"]) == (
            3,
            2,
            1,
            0,
        )
        draft = xcom_return_value(dag_run, "august_draft")
        assert (draft["status"], draft["total_recipients"]) == ("draft", 2500)
        # 2,500 recipients in batches of Kapso's limit of 1,000; the draft is never sent.
        batches = [r for r in _calls(kapso_server, "POST", RECIPIENT_ADDS) if draft["id"] in r.path]
        assert [len(r.json["recipients"]) for r in batches] == [1000, 1000, 500]
        assert [r.path for r in _calls(kapso_server, "POST", "/send")] == [f"/whatsapp_broadcasts/{promo['id']}/send"]


class TestBatchesAndWaiting:
    @pytest.mark.parametrize("per_read", [None, 1, 2])
    def test_batches_then_waits_until_every_recipient_has_an_outcome(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str], per_read: int | None
    ) -> None:
        kapso_server.simulator.broadcasts.recipients_per_read = per_read
        dag_run = run_dag("kapso_test_broadcast_batches", run_conf=ids)
        assert str(dag_run.state) == "success", task_states(dag_run)
        result = xcom_return_value(dag_run, "broadcast")
        assert (result["status"], result["delivered_count"], result["pending_count"]) == ("completed", 5, 0)
        assert [len(r.json["recipients"]) for r in _calls(kapso_server, "POST", RECIPIENT_ADDS)] == [2, 2, 1]
        # One poll per settling step: all at once, one recipient or two per read.
        polls = [r for r in _calls(kapso_server, "GET") if r.path == f"/whatsapp_broadcasts/{result['id']}"]
        assert len(polls) == {None: 1, 1: 5, 2: 3}[per_read]

    def test_rendered_settings_and_tolerated_refusals(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        recipients = [
            {"phone_number": "+15553339001", "template_parameters": ["Ada"]},
            {"phone_number": "+15553339002", "template_parameters": ["Grace", "one too many"]},
            "+15553339003",
        ]
        kapso_server.simulator.broadcasts.set_outcome("+15553339001", "read")
        dag_run = run_dag("kapso_test_broadcast_conf_recipients", run_conf={**ids, "recipients": recipients})
        # Kapso refuses the two recipients whose parameters do not fit; one refusal is tolerated, two are not.
        assert task_states(dag_run) == {"broadcast": "failed"}
        (broadcast,) = kapso_server.simulator.broadcasts.broadcasts()
        assert (broadcast["status"], broadcast["total_recipients"]) == ("draft", 1)
        assert _calls(kapso_server, "POST", "/send") == []

    def test_one_tolerated_refusal_is_sent_without_it(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        recipients = [
            {"phone_number": "+15553339001", "template_parameters": ["Ada"]},
            {"phone_number": "+15553339002", "template_parameters": ["Grace", "one too many"]},
            {"phone_number": "+15553339003", "template_parameters": ["Linus"]},
        ]
        kapso_server.simulator.broadcasts.set_outcome("+15553339001", "read")
        dag_run = run_dag("kapso_test_broadcast_conf_recipients", run_conf={**ids, "recipients": recipients})
        assert str(dag_run.state) == "success", task_states(dag_run)
        result = xcom_return_value(dag_run, "broadcast")
        assert (result["total_recipients"], result["read_count"], result["status"]) == (2, 1, "completed")

    def test_timeout_fails_the_task_after_the_send(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        kapso_server.simulator.broadcasts.recipients_per_read = 1
        dag_run = run_dag("kapso_test_broadcast_timeout", run_conf=ids)
        assert task_states(dag_run) == {"broadcast": "failed"}
        broadcast, _ = _only_broadcast(kapso_server)
        assert (broadcast["status"], broadcast["pending_count"]) == ("sending", 4)

    def test_a_broadcast_that_fails_in_kapso_fails_the_task(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        kapso_server.simulator.broadcasts.fail_sends = True
        dag_run = run_dag("kapso_test_broadcast_batches", run_conf=ids)
        assert task_states(dag_run) == {"broadcast": "failed"}
        # The failure is final: no retry, which could not change Kapso's verdict.
        assert dag_run.get_task_instance("broadcast").try_number == 1
        assert len(_creates(kapso_server)) == 1
        assert len(_calls(kapso_server, "POST", "/send")) == 1


class TestRetrySafety:
    def test_a_retry_after_a_refused_send_sends_the_same_broadcast_without_adding_again(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        kapso_server.simulator.add_fault("server_error_before_store", method="POST", path="/send", status=422)
        dag_run = run_dag("kapso_test_broadcast_batches", run_conf=ids)
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert dag_run.get_task_instance("broadcast").try_number == 2
        broadcast, numbers = _only_broadcast(kapso_server)
        assert set(numbers.values()) == {1}
        assert len(numbers) == 5
        assert len(_creates(kapso_server)) == 1
        assert len(_calls(kapso_server, "POST", RECIPIENT_ADDS)) == 3  # the first try's batches only
        assert xcom_return_value(dag_run, "broadcast")["id"] == broadcast["id"]

    @pytest.mark.parametrize("kind", ["server_error_after_store", "drop_after_store"])
    def test_a_lost_create_answer_does_not_create_a_second_broadcast(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str], kind: str
    ) -> None:
        kapso_server.simulator.add_fault(kind, method="POST", path=r"^/whatsapp_broadcasts$")
        dag_run = run_dag("kapso_test_broadcast_batches", run_conf=ids)
        assert str(dag_run.state) == "success", task_states(dag_run)
        assert dag_run.get_task_instance("broadcast").try_number == 1
        broadcast, numbers = _only_broadcast(kapso_server)
        assert broadcast["status"] == "completed"
        assert len(numbers) == 5

    @pytest.mark.parametrize("kind", ["server_error_after_store", "drop_after_store", "server_error_before_store"])
    def test_a_lost_batch_answer_adds_only_what_is_missing(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str], kind: str
    ) -> None:
        kapso_server.simulator.add_fault(kind, method="POST", path=RECIPIENT_ADDS)
        dag_run = run_dag("kapso_test_broadcast_batches", run_conf=ids)
        assert str(dag_run.state) == "success", task_states(dag_run)
        _, numbers = _only_broadcast(kapso_server)
        assert len(numbers) == 5
        assert set(numbers.values()) == {1}
        adds = [len(r.json["recipients"]) for r in _calls(kapso_server, "POST", RECIPIENT_ADDS)]
        # After a batch that was stored, nothing is added again; after one that was not, it is added once more.
        assert adds == ([2, 2, 2, 1] if kind == "server_error_before_store" else [2, 2, 1])

    def test_a_retry_adds_only_the_recipients_an_earlier_try_did_not(
        self, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        # An earlier try created the broadcast and added two of five recipients before its worker died.
        run_started = datetime.now(UTC) - timedelta(seconds=1)
        hook = KapsoHook()
        earlier = hook.create_broadcast(
            name="Weekly", whatsapp_config_id=ids["config"], whatsapp_template_id=ids["template"]
        )
        first_two = [{"phone_number": f"+1555444000{n}", "template_parameters": ["x"]} for n in range(2)]
        hook.add_broadcast_recipients(earlier["id"], first_two)
        hook.close()

        operator = KapsoBroadcastOperator(
            task_id="broadcast",
            name="Weekly",
            whatsapp_config_id=ids["config"],
            whatsapp_template_id=ids["template"],
            recipients=[{"phone_number": f"+1 555 444 000{n}", "template_parameters": ["x"]} for n in range(5)],
            batch_size=2,
        )
        ti = SimpleNamespace(try_number=2, start_date=run_started)
        # Only what the operator reads of a retry's context: the try number and when the DAG run started.
        context: Any = {"ti": ti, "dag_run": SimpleNamespace(start_date=run_started)}
        result = operator.execute(context)

        assert result["id"] == earlier["id"]
        broadcast, numbers = _only_broadcast(kapso_server)
        assert len(numbers) == 5
        assert set(numbers.values()) == {1}
        adds = [len(r.json["recipients"]) for r in _calls(kapso_server, "POST", RECIPIENT_ADDS)]
        assert adds == [2, 2, 1]  # the earlier try's batch, then the three missing ones
        assert len(_creates(kapso_server)) == 1
        assert broadcast["status"] in ("sending", "completed")

    def test_a_retry_does_not_take_an_older_broadcast_of_the_same_name(
        self, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        hook = KapsoHook()
        hook.create_broadcast(name="Weekly", whatsapp_config_id=ids["config"], whatsapp_template_id=ids["template"])
        hook.close()
        # This run started long after that broadcast was made (more than the allowed clock skew).
        run_started = datetime.now(UTC) + timedelta(hours=1)
        operator = KapsoBroadcastOperator(
            task_id="broadcast",
            name="Weekly",
            whatsapp_config_id=ids["config"],
            whatsapp_template_id=ids["template"],
            recipients=[{"phone_number": "+15554440001", "template_parameters": ["x"]}],
            send=False,
        )
        ti = SimpleNamespace(try_number=2, start_date=run_started)
        # Only what the operator reads of a retry's context: the try number and when the DAG run started.
        context: Any = {"ti": ti, "dag_run": SimpleNamespace(start_date=run_started)}
        result = operator.execute(context)
        assert len(kapso_server.simulator.broadcasts.broadcasts()) == 2
        assert (result["status"], result["total_recipients"]) == ("draft", 1)


class TestBadInput:
    def test_bad_rendered_recipients_fail_before_any_request_and_are_not_retried(
        self, run_dag: Any, kapso_server: KapsoServer, ids: dict[str, str]
    ) -> None:
        dag_run = run_dag("kapso_test_broadcast_bad_input", run_conf=ids)
        assert task_states(dag_run) == {"broadcast": "failed"}
        assert dag_run.get_task_instance("broadcast").try_number == 1
        assert kapso_server.simulator.requests == []

    @pytest.mark.parametrize(
        ("arguments", "problem"),
        [
            ({"recipients": None}, "exactly one of recipients or recipients_file"),
            ({"recipients_file": "/tmp/x.jsonl"}, "exactly one of recipients or recipients_file"),
            ({"batch_size": 1001}, r"batch_size: 1001 is outside 1..1000"),
            ({"batch_size": 0}, "batch_size"),
            ({"send": False, "wait_for_completion": True}, "wait_for_completion: needs send=True"),
            ({"poll_interval": 0}, "poll_interval"),
            ({"timeout": -1}, "timeout"),
            ({"tolerate_recipient_errors": 1.5}, "tolerate_recipient_errors"),
            ({"send": "maybe"}, "send: must be true or false"),
        ],
        ids=lambda value: str(value)[:30],
    )
    def test_static_settings_fail_when_the_dag_is_parsed(self, arguments: dict[str, Any], problem: str) -> None:
        base: dict[str, Any] = {
            "task_id": "broadcast",
            "name": "n",
            "whatsapp_config_id": "c",
            "whatsapp_template_id": "t",
            "recipients": ["+15554440001"],
        }
        with pytest.raises(KapsoArgumentError, match=problem):
            KapsoBroadcastOperator(**{**base, **arguments})

    def test_every_argument_is_templated(self) -> None:
        names = set(inspect.signature(KapsoBroadcastOperator.__init__).parameters) - {"kwargs", "self"}
        assert names <= set(KapsoBroadcastOperator.template_fields)
        assert KapsoBroadcastOperator.template_ext == ()
