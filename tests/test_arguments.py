"""The coercions of rendered operator settings shared by every operator."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.arguments import as_bool, as_number, parse_time, plain_json
from tests.conftest import REPO_ROOT

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), ("True", True), (" yes ", True), ("1", True), ("false", False), ("No", False)],
)
def test_as_bool(value: Any, expected: bool) -> None:
    problems: list[str] = []
    assert as_bool("send", value, problems) is expected
    assert problems == []


@pytest.mark.parametrize("value", ["maybe", 1, None, ""])
def test_as_bool_refuses(value: Any) -> None:
    problems: list[str] = []
    as_bool("send", value, problems)
    assert problems == [f"send: must be true or false, got {value!r}"]


@pytest.mark.parametrize(
    ("value", "arguments", "expected"),
    [
        ("15", {}, 15.0),
        (2.5, {"minimum": 0}, 2.5),
        ("3", {"integer": True}, 3),
        (0, {"minimum": 0, "unit": "seconds"}, 0.0),
    ],
)
def test_as_number(value: Any, arguments: dict[str, Any], expected: float) -> None:
    problems: list[str] = []
    assert as_number("timeout", value, problems, **arguments) == expected
    assert problems == []


@pytest.mark.parametrize(
    ("value", "arguments", "problem"),
    [
        ("soon", {"minimum": 0, "unit": "seconds"}, "timeout: must be a number of seconds >= 0, got 'soon'"),
        (-1, {"minimum": 0, "unit": "seconds"}, "timeout: must be a number of seconds >= 0, got -1"),
        (True, {}, "timeout: must be a number, got True"),
        ("2.5", {"integer": True}, "timeout: must be an integer, got '2.5'"),
        ("inf", {}, "timeout: must be a number, got 'inf'"),
        (None, {}, "timeout: must be a number, got None"),
    ],
)
def test_as_number_refuses(value: Any, arguments: dict[str, Any], problem: str) -> None:
    problems: list[str] = []
    assert math.isnan(as_number("timeout", value, problems, **arguments))
    assert problems == [problem]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-24T20:00:00Z", datetime(2026, 11, 24, 20, tzinfo=UTC)),
        ("2026-11-24T20:00:00", datetime(2026, 11, 24, 20, tzinfo=UTC)),
        ("2026-11-24T21:00:00+01:00", datetime(2026, 11, 24, 21, tzinfo=timezone(timedelta(hours=1)))),
        ("yesterday", None),
        (None, None),
        (1732478400, None),
    ],
)
def test_parse_time(value: Any, expected: datetime | None) -> None:
    assert parse_time(value) == expected


def test_plain_json_drops_what_json_cannot_hold() -> None:
    assert plain_json({"a": (1, 2), "b": {"c": None}}) == {"a": [1, 2], "b": {"c": None}}


# -- the constructors' types, as a type checker sees them in a DAG file -----------------------------------

_DAG_FILE = """
from datetime import timedelta

from kapso_provider.hooks.kapso import KapsoHook
from kapso_provider.notifications.kapso import KapsoNotifier
from kapso_provider.operators.kapso import (
    KapsoApprovalOperator,
    KapsoAskOperator,
    KapsoBranchOnReplyOperator,
    KapsoBulkSendMessageOperator,
    KapsoSendMessageOperator,
)
from kapso_provider.sensors.kapso import KapsoInboundMessageSensor, KapsoMessageStatusSensor
from kapso_provider.triggers.kapso import KapsoAgentExecutionTrigger, KapsoFlowExecutionTrigger

alert = KapsoNotifier(phone_number="+15551234567", content="{{ ti.task_id }} failed")
KapsoSendMessageOperator(
    task_id="fine",
    phone_number="+15551234567",
    message_type="location",
    latitude=52.5,
    longitude=13.4,
    retries=3,
    retry_delay=timedelta(seconds=5),
    on_failure_callback=alert,
    kapso_conn_id="kapso_alerts",
)
KapsoBulkSendMessageOperator(task_id="bulk", recipients=["+15551234567"], content="Hi ${name}", max_concurrency=4)
KapsoNotifier(conversation_id="c-1", message={"content": "whole"}, kapso_conn_id="kapso_alerts")

KapsoSendMessageOperator(task_id="typo", phone_number="+15551234567", contnet="hi")  # call-arg
KapsoSendMessageOperator(task_id="type", phone_number="+15551234567", latitude="north")  # arg-type
KapsoSendMessageOperator(task_id="base", phone_number="+15551234567", content="hi", retries="3")  # arg-type
KapsoBulkSendMessageOperator(task_id="bulk_typo", recipients=["+15551234567"], contents="hi")  # call-arg
KapsoBulkSendMessageOperator(task_id="bulk_type", recipients=["+15551234567"], buttons="yes")  # arg-type
KapsoNotifier(phone_number="+15551234567", contnet="hi")  # call-arg
KapsoNotifier(phone_number=15551234567, content="hi")  # arg-type

PHONE = "+15551234567"
KapsoAskOperator(
    task_id="ask",
    question="Ship it?",
    phone_number=PHONE,
    options=["Yes", "No"],
    timeout=timedelta(hours=1),
    default_option="No",
    retries=2,
)
KapsoApprovalOperator(task_id="approve", question="Deploy?", phone_number=PHONE, approve_label="Go")
KapsoBranchOnReplyOperator(task_id="branch", question="Next?", conversation_id="c-1", branches={"Fix": "fix"})
KapsoAskOperator(task_id="ask_typo", question="Ship?", phone_number=PHONE, options=["Y"], remider_after=60)  # call-arg
KapsoAskOperator(task_id="ask_type", question="Ship?", phone_number=PHONE, options=["Y"], timeout="soon")  # arg-type
KapsoAskOperator(task_id="ask_none", phone_number=PHONE, options=["Y"])  # call-arg
KapsoApprovalOperator(task_id="approve_typo", question="Go?", phone_number=PHONE, aprove_label="Go")  # call-arg
KapsoBranchOnReplyOperator(task_id="branch_type", question="?", branches={"F": "f"}, poke_interval="5")  # arg-type

KapsoMessageStatusSensor(task_id="status", message_id="m-1", conversation_id="c-1", mode="reschedule", poke_interval=5)
KapsoInboundMessageSensor(task_id="inbound", phone_number=PHONE, timeout=timedelta(minutes=5), soft_fail=True)
KapsoMessageStatusSensor(task_id="status_typo", message_id="m-1", conversation_id="c-1", poke_intervall=5)  # call-arg
KapsoMessageStatusSensor(task_id="status_type", message="{{ ti.xcom_pull('send') }}", soft_fail="yes")  # arg-type
KapsoInboundMessageSensor(task_id="inbound_typo", phone_number=PHONE, mdoe="reschedule")  # call-arg
KapsoInboundMessageSensor(task_id="inbound_type", phone_number=PHONE, timeout="5m")  # arg-type

KapsoAgentExecutionTrigger(agent_id="a-1", execution_id="e-1", kapso_conn_id="kapso_alerts", poll_interval=5.0)
KapsoFlowExecutionTrigger(flow_id="f-1", tracking_id="t-1", deadline=1_900_000_000.0, last_status="running")
KapsoAgentExecutionTrigger(agent_id="a-1", execution_id="e-1", poll_intervall=5.0)  # call-arg
KapsoFlowExecutionTrigger(flow_id="f-1", tracking_id="t-1", deadline="tomorrow")  # arg-type

KapsoHook("kapso_alerts", logger_name="kapso.alerts")
KapsoHook(logger="kapso.alerts")  # call-arg
KapsoHook(logger_name=["kapso"])  # arg-type
"""

# Only the provider's modules are read; Airflow and the HTTP clients are typed as Any. The constructors under
# test are the provider's, and reading Airflow would make one run take 30 to 60 s instead of a few. The
# project's own mypy run (`make typecheck`) reads everything and checks the example DAGs.
_MYPY_CONFIG = """
[mypy]
strict = True
follow_imports = skip
ignore_missing_imports = True
[mypy-kapso_provider.*]
follow_imports = normal
ignore_errors = True
"""


def test_a_type_checker_catches_misspelt_and_mistyped_arguments(tmp_path: Path) -> None:
    """mypy on a DAG file: each marked call is refused with its error code, every other call passes."""
    dag_file = tmp_path / "kapso_typed_dag.py"
    dag_file.write_text(_DAG_FILE)
    (tmp_path / "mypy.ini").write_text(_MYPY_CONFIG)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", "cache", dag_file.name],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    found = set(re.findall(rf"^{dag_file.name}:(\d+): error: .*\[([a-z-]+)\]$", result.stdout, flags=re.MULTILINE))
    expected = {
        (str(number), line.rsplit("# ", 1)[1])
        for number, line in enumerate(_DAG_FILE.splitlines(), start=1)
        if "  # " in line
    }
    assert found == expected, result.stdout + result.stderr
