"""KapsoPhoneNumberHealthOperator: stops a DAG before a send when the number cannot send, on both generations."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from kapso_provider.exceptions import KapsoArgumentError
from kapso_provider.operators.kapso import KapsoPhoneNumberHealthOperator
from kapso_provider.utils.sender_health import judge_health
from tests._airflow import task_states, xcom_return_value
from tests._openapi import assert_requests_valid

if TYPE_CHECKING:
    from kapso_provider.testing.pytest_plugin import KapsoServer


def _context() -> Any:
    ti = SimpleNamespace(try_number=1, start_date=datetime.now(UTC))
    return {"ti": ti, "dag_run": SimpleNamespace(start_date=ti.start_date)}


def _operator(kapso_server: KapsoServer, kapso_api: str, **kwargs: Any) -> KapsoPhoneNumberHealthOperator:
    """The operator naming the simulator's default number as the connection's API names it."""
    config = kapso_server.simulator.default_whatsapp_config_id if kapso_api == "v1" else None
    return KapsoPhoneNumberHealthOperator(task_id="check_sender", whatsapp_config_id=config, **kwargs)


@pytest.mark.usefixtures("kapso_api")
class TestOnBothGenerations:
    def test_a_healthy_number_passes_and_returns_the_report(self, kapso_server: KapsoServer, kapso_api: str) -> None:
        report = _operator(kapso_server, kapso_api).execute(_context())
        assert report["status"] == "healthy"
        (request,) = kapso_server.simulator.requests
        assert request.path.endswith("/health")
        assert_requests_valid(kapso_server.simulator.requests)

    @pytest.mark.parametrize(
        ("status", "error", "text"),
        [
            ("unhealthy", AirflowFailException, "phone_number_access: Phone number not accessible"),
            ("error", AirflowException, "the health check itself failed"),
        ],
    )
    def test_a_number_that_cannot_send_fails_the_task(
        self, kapso_server: KapsoServer, kapso_api: str, status: str, error: type[Exception], text: str
    ) -> None:
        simulator = kapso_server.simulator
        simulator.platform.set_config_health(simulator.default_whatsapp_config_id, status)
        with pytest.raises(error, match=text) as raised:
            _operator(kapso_server, kapso_api).execute(_context())
        # Unhealthy is final (no retry); a failed check itself may pass on the next try.
        assert isinstance(raised.value, AirflowFailException) is (status == "unhealthy")

    def test_degraded_passes_with_a_warning_unless_refused(self, kapso_server: KapsoServer, kapso_api: str) -> None:
        simulator = kapso_server.simulator
        simulator.platform.set_config_health(simulator.default_whatsapp_config_id, "degraded")
        assert _operator(kapso_server, kapso_api).execute(_context())["status"] == "degraded"
        with pytest.raises(AirflowFailException, match=r"degraded \(webhook_subscription"):
            _operator(kapso_server, kapso_api, allow_degraded="false").execute(_context())

    def test_the_example_dag_stops_before_the_broadcast(
        self, run_dag: Any, kapso_server: KapsoServer, kapso_api: str
    ) -> None:
        simulator = kapso_server.simulator
        simulator.platform.set_config_health(simulator.default_whatsapp_config_id, "unhealthy")
        config = simulator.default_whatsapp_config_id if kapso_api == "v1" else ""
        dag_run = run_dag("kapso_broadcast", run_conf={"whatsapp_config_id": config})
        states = task_states(dag_run)
        assert states["check_sender"] == "failed", states
        assert states["july_promo"] == states["august_draft"] == "upstream_failed", states
        assert simulator.broadcasts.broadcasts() == []


def test_the_example_dags_check_passes_on_a_healthy_number(run_dag: Any, kapso_current_server: KapsoServer) -> None:
    simulator = kapso_current_server.simulator
    template = simulator.create_template("july", category="MARKETING", content="Hi {{1}}, code {{2}}")
    conf = {"whatsapp_config_id": "", "whatsapp_template_id": simulator._store.templates.meta_id(template["id"])}
    dag_run = run_dag("kapso_broadcast", run_conf=conf)
    assert str(dag_run.state) == "success", task_states(dag_run)
    assert xcom_return_value(dag_run, "check_sender")["status"] == "healthy"


def test_api_v1_needs_the_config(kapso_server: KapsoServer) -> None:
    with pytest.raises(AirflowFailException, match=r"^whatsapp_config_id: API v1 checks a WhatsApp config"):
        KapsoPhoneNumberHealthOperator(task_id="check_sender").execute(_context())
    assert kapso_server.simulator.requests == []


def test_the_current_api_refuses_a_config(kapso_current_server: KapsoServer) -> None:
    operator = KapsoPhoneNumberHealthOperator(task_id="check_sender", whatsapp_config_id="4a5b6c7d")
    with pytest.raises(AirflowFailException, match=r"^whatsapp_config_id: only Kapso's API v1 takes it"):
        operator.execute(_context())
    assert kapso_current_server.simulator.requests == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"min_quality_rating": "BLUE"}, "min_quality_rating: must be one of RED, YELLOW, GREEN"),
        ({"allow_limited": "perhaps"}, "allow_limited: must be true or false"),
    ],
)
def test_static_settings_are_checked_at_parse_time(kwargs: dict[str, Any], expected: str) -> None:
    with pytest.raises(KapsoArgumentError, match=expected):
        KapsoPhoneNumberHealthOperator(task_id="check_sender", **kwargs)


# A report as Kapso's example shows it (openapi-platform.yaml, "All checks pass").
HEALTHY: dict[str, Any] = {
    "status": "healthy",
    "timestamp": "2025-01-20T14:25:30Z",
    "checks": {
        "phone_number_access": {"passed": True, "details": {"quality_rating": "GREEN", "status": "CONNECTED"}},
        "phone_number_connection": {"passed": True, "details": {"status": "CONNECTED"}},
        "messaging_health": {
            "passed": True,
            "overall_status": "AVAILABLE",
            "details": {"can_send_message": "AVAILABLE"},
        },
        "token_validity": {"passed": True, "details": {}},
    },
}


def _with(check: str, **changes: Any) -> dict[str, Any]:
    checks = {**HEALTHY["checks"], check: {**HEALTHY["checks"][check], **changes}}
    return {**HEALTHY, "checks": checks}


@pytest.mark.parametrize(
    ("report", "settings", "problem"),
    [
        (HEALTHY, {}, None),
        (_with("phone_number_access", details={"quality_rating": "RED"}), {}, "quality_rating: RED, below the YELLOW"),
        (_with("phone_number_access", details={"quality_rating": "RED"}), {"min_quality_rating": None}, None),
        (_with("phone_number_access", details={"quality_rating": "YELLOW"}), {"min_quality_rating": "GREEN"}, "YELLOW"),
        (_with("messaging_health", overall_status="LIMITED"), {}, "can send LIMITED"),
        (_with("messaging_health", overall_status="LIMITED"), {"allow_limited": True}, None),
        (_with("messaging_health", overall_status="BLOCKED", details={"can_send_message": "BLOCKED"}), {}, "BLOCKED"),
        (_with("token_validity", passed=False, error="Token expired"), {}, "token_validity: Token expired"),
        # Meta's UNKNOWN connection: passed is null and the status is not affected.
        (_with("phone_number_connection", passed=None, details={"status": "UNKNOWN"}), {}, None),
    ],
)
def test_judging_a_report(report: dict[str, Any], settings: dict[str, Any], problem: str | None) -> None:
    verdict = judge_health(report, **settings)
    if problem is None:
        assert verdict.problems == []
    else:
        assert any(problem in line for line in verdict.problems), verdict.problems
