"""The API key never leaks from a notification: sent, refused by Kapso, sync or awaited, at DEBUG level.

The scan of ``tests/test_secrets.py`` (its helpers, reused here) over a run of the notifier's example
DAG and two notifications Kapso refuses, with a real context from that run: everything
written to stdout/stderr, every stdlib log record, every task log file, the text of the exceptions the
notifier raised and the metadata DB files. The only exemption is the same as there: Airflow 3's own
DEBUG line for the ``MaskSecret`` request, never on Airflow 2.

PYTEST_DONT_REWRITE: a failing assert here must not print a raw captured text, which may hold the key.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from kapso_provider.notifications.kapso import KapsoNotifier
from tests._airflow import run_dag_file_dag, task_states
from tests._leaks import (
    Documents,
    LeakCheck,
    airflow_major,
    forget_captured_logs,
    log_files,
    mask_secret_line,
    metadata_db_hits,
    scan,
)
from tests.notifications._spy import awaited

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from tests.notifications._spy import CallbackSpy

# dag id -> (the run's state, a line the notifier must have logged, so the scan has something to scan)
DAG_RUNS = {
    "kapso_notifier": ("failed", "Kapso notification sent (sync)"),
    "kapso_test_notifier_not_sent": (
        "failed",
        "Kapso notification not sent (sync): KapsoNotFoundError: Kapso API POST",
    ),
}


def test_api_key_appears_nowhere(
    airflow_db: Path,
    leak_check: LeakCheck,
    callback_spy: CallbackSpy,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> None:
    capfd.readouterr()  # only what this run writes
    dag_run = run_dag_file_dag("kapso_notifier")
    # Notifications that Kapso refuses, sync and awaited, with a real context: the hooks' logs and errors.
    exceptions = []
    _, context = callback_spy.calls[0]
    refused = KapsoNotifier(conversation_id="no-such-conversation", content="{{ ti.task_id }}", context=context)
    for send in (refused, lambda context: awaited(refused, context)):
        try:
            send(context)
        except Exception as exc:
            exceptions.append("".join(traceback.format_exception(exc)))

    out, err = capfd.readouterr()
    documents = Documents(
        {
            "stdout": [out],
            "stderr": [err],
            "caplog": [caplog.text],
            **{f"log file {path}": [text] for path, text in log_files().items()},
            "exception": exceptions,
        }
    )
    forget_captured_logs(request, caplog)
    logs = documents.logs()

    assert str(dag_run.state) == "failed", f"{dag_run.state}: {task_states(dag_run)}"
    assert "--- Logging error ---" not in err, "a log handler failed to write"
    requests = leak_check.simulator.requests
    assert requests, "no request reached Kapso"
    assert all(r.headers.get("X-API-Key") == leak_check.api_key for r in requests), "a request without the key"
    # The scan must have something to scan: the notifier's own lines, both failures, the hooks' lines.
    # (at least: a line may be both printed and captured as a record)
    assert logs.count("Kapso notification sent (sync)") >= 4, "the example's four notifications were not logged"
    for mode in ("sync", "async"):
        line = f"Kapso notification not sent ({mode}): KapsoNotFoundError: Kapso API POST"
        assert line in logs, f"the refused {mode} notification was not logged"
    assert len(exceptions) == 2, "a refused notification did not raise"
    assert all("HTTP 404" in text for text in exceptions), "a refused notification did not fail with Kapso's 404"
    hook_debug_lines = [line for line in logs.splitlines() if "KapsoAsyncHook" in line or "KapsoHook" in line]
    assert hook_debug_lines, "no line of the hooks was captured"

    leaks, exempted = scan(leak_check, documents, mask_secret_line(leak_check.api_key))
    leaks += metadata_db_hits(leak_check, airflow_db)
    assert not leaks, "the API key leaked:\n" + "\n".join(leaks)
    if airflow_major() < 3:
        assert not exempted, "Airflow 2 has no MaskSecret request, yet lines were exempted:\n" + "\n".join(exempted)
