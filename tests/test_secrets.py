"""The API key never leaks: every example DAG runs at DEBUG level and nothing it leaves behind holds the key.

Each run uses a long, distinctive key, then scans every place a key could end up once a task has run:
everything written to stdout/stderr (file-descriptor level, so also what a child process writes), every
stdlib log record, every file under the task log folders, every XCom of the run (through ``xcom_pull`` and
as stored rows), the rendered template fields stored for the run, the operator's attribute values after
``execute`` and the text of any exception ``execute`` raised; as a backstop, the metadata DB files byte
for byte. One DAG run fails at Kapso, so exception texts are real ones.

The only exemption is Airflow's own: at DEBUG level, Airflow 3's task runner logs the ``MaskSecret``
request it sends when a hook reads a connection, and that line carries the password (it is how Airflow
registers the value for masking). Exactly that line is allowed, nothing else, and never on Airflow 2.

A failing run must not print the key it guards either: offending lines are shown redacted, the objects a
traceback shows have redacting reprs, the captured log section of the report is emptied once scanned,
and assertion rewriting is off for this module (PYTEST_DONT_REWRITE), so no assert ever prints a raw
captured text. Every assert here carries its own (redacted) message instead.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests._airflow import run_dag_file_dag, task_states
from tests._leaks import airflow_major, collect, forget_captured_logs, mask_secret_line, metadata_db_hits, scan

if TYPE_CHECKING:
    from pathlib import Path

    from tests._leaks import ExecuteSpy, LeakCheck

# dag id -> the state its run must end in. The failing DAG sends into a conversation the simulator does
# not know: Kapso answers 404, so the exception and its traceback pass through the logs.
DAG_RUNS = {
    "kapso_send_message": "success",
    "kapso_message_types": "success",
    "kapso_fan_out": "success",
    "kapso_test_unknown_conversation": "failed",
}


@pytest.mark.parametrize("dag_id", list(DAG_RUNS))
def test_api_key_appears_nowhere(
    dag_id: str,
    airflow_db: Path,
    leak_check: LeakCheck,
    execute_spy: ExecuteSpy,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    capfd.readouterr()  # only what this run writes
    dag_run = run_dag_file_dag(dag_id)
    documents = collect(dag_run, capfd, caplog, execute_spy)
    forget_captured_logs(request, caplog)
    logs = documents.logs()

    def tail() -> str:
        return "\n--- end of the captured logs (redacted) ---\n" + leak_check.redact(logs)[-3000:]

    states = task_states(dag_run)
    assert str(dag_run.state) == DAG_RUNS[dag_id], f"{dag_run.state}: {states}{tail()}"
    # A handler that could not write dropped its record from the normal output: the capture is incomplete.
    assert "--- Logging error ---" not in documents["stderr"][0], "a log handler failed to write" + tail()
    requests = leak_check.simulator.requests
    # The key really was used: every request reached the simulator with it.
    assert requests, "no request reached Kapso" + tail()
    assert all(r.headers.get("X-API-Key") == leak_check.api_key for r in requests), "a request without the key"

    # Task instances that started (not upstream_failed or skipped): each must have left its traces.
    ran = [ti for ti in dag_run.get_task_instances() if str(ti.state) in ("success", "failed")]

    # The scan must have something to scan, or it would pass vacuously.
    for ti in ran:
        # dag.test() announces each task instance in these words on 2.11 and 3.x alike.
        started = f"[DAG TEST] starting task_id={ti.task_id} map_index={ti.map_index}"
        assert started in logs, f"no {started!r} in the captured logs" + tail()
    # The hook's DEBUG line for every request proves DEBUG level reached the provider's own logger.
    hook_debug_lines = [
        line
        for line in logs.splitlines()
        if "kapso_provider.hooks.kapso.KapsoHook" in line and re.search(r"\bdebug\b", line, re.IGNORECASE)
    ]
    for recorded in requests:
        wanted = f"Kapso API {recorded.method} {recorded.path}"
        assert any(wanted in line for line in hook_debug_lines), f"no DEBUG line {wanted!r} captured" + tail()
    assert len(documents["operator attributes"]) == len(ran), "execute did not run once per task instance"
    assert len(documents["rendered template fields"]) == len(ran), "rendered fields missing for a task instance"
    stored_xcoms = [text for text in documents["xcom"] if "(stored)" in text]
    if DAG_RUNS[dag_id] == "success":
        assert len(stored_xcoms) == len(ran), f"{len(stored_xcoms)} stored XComs for {len(ran)} task instances"
    else:
        assert len(documents["exception"]) == 1, f"{len(documents['exception'])} exceptions from execute"
        exception = documents["exception"][0]
        for expected in ("KapsoNotFoundError", "no-such-conversation", "HTTP 404"):
            assert expected in exception, f"no {expected!r} in: {leak_check.redact(exception)}"
        # The failure also reached the logs, which were scanned with it.
        assert "KapsoNotFoundError: Kapso API POST" in logs, "the exception is not in the logs" + tail()

    leaks, exempted = scan(leak_check, documents, mask_secret_line(leak_check.api_key))
    leaks += metadata_db_hits(leak_check, airflow_db)
    assert not leaks, "the API key leaked:\n" + "\n".join(leaks)
    # The exemption is Airflow 3's alone, and at most one MaskSecret request per task instance (the hook
    # reads its connection once per task).
    if airflow_major() < 3:
        assert not exempted, "Airflow 2 has no MaskSecret request, yet lines were exempted:\n" + "\n".join(exempted)
    else:
        assert len(exempted) <= len(ran), f"{len(exempted)} MaskSecret lines for {len(ran)} task instances"
