"""What the key-leak tests share: a simulator with a distinctive key, DEBUG logging, and the scan.

A pytest plugin of the suite (``pytest_plugins`` in ``tests/conftest.py``): the ``leak_check`` and
``execute_spy`` fixtures, and the helpers that gather every text a run left behind and find the key in it.
Nothing here asserts: a failing check must not print the key it guards, so the tests assert with
redacted messages of their own (``tests/test_secrets.py``, ``tests/notifications/test_kapso_secrets.py``).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import secrets
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator

# Sources that are logs; only there can Airflow's MaskSecret line legitimately appear.
LOG_SOURCES = ("stdout", "stderr", "caplog", "log file")
REDACTED = "<THE API KEY>"


@dataclass(frozen=True)
class LeakCheck:
    """The running simulator and the key that must never appear anywhere."""

    simulator: KapsoSimulator
    api_key: str = field(repr=False)

    @property
    def needles(self) -> tuple[str, ...]:
        # The random part alone too: a leak that trims or reformats the prefix is still a leak.
        return (self.api_key, self.api_key.removeprefix("sk-LEAKCHECK-"))

    def redact(self, text: str) -> str:
        for needle in self.needles:
            text = text.replace(needle, REDACTED)
        return text

    def excerpt(self, text: str, width: int = 200) -> str:
        """The text redacted, cut to ``width`` characters either side of the first place the key was."""
        text = self.redact(text)
        at = text.find(REDACTED)
        start, end = max(0, at - width), at + len(REDACTED) + width
        return ("..." if start else "") + text[start:end] + ("..." if end < len(text) else "")


@dataclass
class ExecuteSpy:
    """What each ``KapsoSendMessageOperator.execute`` left behind: attribute values and exception texts."""

    operator_attributes: list[str] = field(default_factory=list, repr=False)
    exceptions: list[str] = field(default_factory=list, repr=False)


class Documents(dict[str, list[str]]):
    """Every text a run left behind, by source; its repr gives sizes only, as the texts may hold the key."""

    def __repr__(self) -> str:
        return f"<Documents { ({source: sum(map(len, texts)) for source, texts in self.items()}) }>"

    def logs(self) -> str:
        return "\n".join(text for source, texts in self.items() if source.startswith(LOG_SOURCES) for text in texts)


def airflow_major() -> int:
    import airflow

    return int(airflow.__version__.split(".")[0])


def mask_secret_line(api_key: str) -> re.Pattern[str]:
    """Airflow 3's own DEBUG line for the MaskSecret request, with this key and nothing else in it.

    The line as 3.3.2 writes it::

        2026-01-01T00:00:00.000000Z [debug    ] Sending request    loc=supervisor.py:2055
        msg=MaskSecret(value='<key>', name=None, type='MaskSecret')

    (one line). Anchored on both ends, so any other text on the line (a provider message around the
    request) does not match.
    """
    return re.compile(
        r"^\S+ \[debug\s*\] Sending request\s+loc=supervisor\.py:\d+ "
        rf"msg=MaskSecret\(value='{re.escape(api_key)}', name=None, type='MaskSecret'\)$"
    )


class _CurrentStdout:
    """A stream that writes to ``sys.stdout`` as it is at the time of each write."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


_CURRENT_STDOUT = _CurrentStdout()


def _debug_logging(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG everywhere for this test only.

    The environment variable alone is not enough: Airflow configured its logging when it was first
    imported, at the session's INFO level. So the already-configured pieces are lowered in-process too,
    each through monkeypatch/caplog so the rest of the session is back at INFO afterwards.
    """
    monkeypatch.setenv("AIRFLOW__LOGGING__LOGGING_LEVEL", "DEBUG")
    # Airflow 3 logs through structlog, filtered by a per-logger level table that configure_logging fills
    # (one copy for the core, one for the task SDK). Airflow 2 has neither module.
    for module_name in ("airflow._shared.logging.structlog", "airflow.sdk._shared.logging.structlog"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        levels = getattr(module, "PER_LOGGER_LEVELS", None)
        if levels is not None:
            monkeypatch.setitem(levels, "", logging.DEBUG)
    # stdlib logging (all of Airflow 2, and third-party libraries on 3): loggers and their handlers.
    for name in ("", "airflow", "airflow.task", "airflow.processor", "kapso_provider"):
        caplog.set_level(logging.DEBUG, logger=name or None)
        for handler in logging.getLogger(name or None).handlers:
            if handler.level > logging.DEBUG:
                monkeypatch.setattr(handler, "level", logging.DEBUG)
    # Console handlers keep the sys.stdout of the moment they were made: pytest's session-wide capture
    # file (which capfd does not see), or, for the StreamHandler that Airflow 2's dag.test() adds to the
    # task logger once per process, the capture file of an earlier test or phase, closed by now (pytest
    # makes new capture files for each phase). Either way their lines would escape the scan: point every
    # console handler at whatever sys.stdout is when it writes.
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if (
                isinstance(handler, logging.StreamHandler)
                and not isinstance(handler, logging.FileHandler)  # real log files are read from disk
                and not type(handler).__module__.startswith("_pytest")  # caplog's own handlers
                and "stream" in vars(handler)  # not a handler whose stream is a property (always current)
                and handler.stream is not _CURRENT_STDOUT
            ):
                monkeypatch.setattr(handler, "stream", _CURRENT_STDOUT)


@pytest.fixture
def leak_check(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Iterator[LeakCheck]:
    """A simulator accepting a distinctive key, ``kapso_default`` pointing at it, and DEBUG logging."""
    from kapso_provider.testing import KapsoSimulator

    api_key = "sk-LEAKCHECK-" + secrets.token_hex(16)
    simulator = KapsoSimulator(api_key=api_key, host="127.0.0.1", port=0)
    simulator.start()
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_KAPSO_DEFAULT",
            json.dumps({"conn_type": "kapso", "host": simulator.base_url, "password": api_key}),
        )
        _debug_logging(monkeypatch, caplog)
        yield LeakCheck(simulator=simulator, api_key=api_key)
    finally:
        simulator.stop()


@pytest.fixture
def execute_spy(monkeypatch: pytest.MonkeyPatch) -> ExecuteSpy:
    """Record the operator's attributes after ``execute`` (rendered by then) and any exception it raised."""
    from kapso_provider.operators.kapso import KapsoSendMessageOperator

    spy = ExecuteSpy()
    original = KapsoSendMessageOperator.execute

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except BaseException as exc:
            # The whole chain (causes and context) as a user would see it in a traceback.
            spy.exceptions.append("".join(traceback.format_exception(exc)))
            raise
        finally:
            spy.operator_attributes.append(f"{self.task_id}: " + repr(dict(sorted(vars(self).items()))))

    monkeypatch.setattr(KapsoSendMessageOperator, "execute", execute)
    return spy


def log_folders() -> list[Path]:
    """Every folder a task log file could be written to in this session."""
    from airflow.configuration import conf

    folders = {Path(os.environ["AIRFLOW_HOME"]) / "logs"}
    for option in ("base_log_folder", "dag_processor_child_process_log_directory"):
        value = conf.get("logging", option, fallback=None)
        if value:
            folders.add(Path(value))
    return sorted(folder for folder in folders if folder.is_dir())


def log_files() -> dict[str, str]:
    """The text of every file under the log folders, by path."""
    files: dict[str, str] = {}
    for folder in log_folders():
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    return files


def xcom_texts(dag_run: Any) -> list[str]:
    """Every XCom of the run: pulled per task instance (mapped ones per index) and as stored rows."""
    texts = []
    for ti in dag_run.get_task_instances():
        value = ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)
        texts.append(f"{ti.task_id}[{ti.map_index}] return_value: {value!r} {json.dumps(value, default=str)}")

    try:
        from airflow.models.xcom import XComModel as XComRow  # Airflow 3
    except ImportError:
        from airflow.models.xcom import XCom as XComRow  # type: ignore[no-redef,attr-defined]
    from airflow.utils.session import create_session

    # The rows hold every key, not only return_value, exactly as serialized into the DB.
    with create_session() as session:
        rows = session.query(XComRow).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        for row in rows:
            raw = row.value.decode("utf-8", errors="replace") if isinstance(row.value, bytes) else row.value
            texts.append(f"{row.task_id}[{row.map_index}] {row.key} (stored): {raw!r}")
    return texts


def rendered_field_texts(dag_run: Any) -> list[str]:
    """The rendered template fields Airflow stored for each task instance of the run (2.11 and 3.x)."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id).all()
        return [
            f"{row.task_id}[{row.map_index}] rendered: {json.dumps(row.rendered_fields, default=str)}" for row in rows
        ]


def metadata_db_hits(leak: LeakCheck, db_path: Path) -> list[str]:
    """Where the key sits in the metadata DB files, byte for byte.

    A backstop for whatever Airflow persists beyond XCom and rendered fields (task instance rows, their
    history, the DAG run, the log table). The connection comes from the environment, so no table has any
    reason to hold the key.
    """
    hits = []
    # The random part is in every copy of the key, so searching for it alone finds each copy once.
    needle = min(leak.needles, key=len).encode()
    for path in sorted(db_path.parent.glob(db_path.name + "*")):  # the DB and any -wal/-journal file
        data = path.read_bytes()
        offset = data.find(needle)
        while offset >= 0:
            context = data[max(0, offset - 100) : offset + len(needle) + 100].decode("utf-8", errors="replace")
            hits.append(f"metadata DB file {path.name} at byte {offset}: {leak.excerpt(context)!r}")
            offset = data.find(needle, offset + len(needle))
    return hits


def scan(leak: LeakCheck, documents: Documents, exempt: re.Pattern[str]) -> tuple[list[str], list[str]]:
    """Every line holding the key: (leaks, lines let through as Airflow's MaskSecret request)."""
    leaks: list[str] = []
    exempted: list[str] = []
    for source, texts in documents.items():
        for text in texts:
            for line in text.splitlines():
                if not any(needle in line for needle in leak.needles):
                    continue
                if source.startswith(LOG_SOURCES) and exempt.match(line.strip()):
                    exempted.append(leak.redact(line))
                else:
                    # Redacted: a failing test must not print the secret it guards.
                    leaks.append(f"{source}: {leak.excerpt(line)}")
    return leaks, exempted


def forget_captured_logs(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    """Empty what pytest would print as "Captured log call" on failure: scanned already, and it may hold the key."""
    caplog.clear()
    plugin = request.config.pluginmanager.get_plugin("logging-plugin")
    report_handler = getattr(plugin, "report_handler", None)
    if report_handler is not None:
        report_handler.reset()


def collect(
    dag_run: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, spy: ExecuteSpy
) -> Documents:
    out, err = capfd.readouterr()
    return Documents(
        {
            "stdout": [out],
            "stderr": [err],
            "caplog": [caplog.text],
            **{f"log file {path}": [text] for path, text in log_files().items()},
            "xcom": xcom_texts(dag_run),
            "rendered template fields": rendered_field_texts(dag_run),
            "operator attributes": list(spy.operator_attributes),
            "exception": list(spy.exceptions),
        }
    )
