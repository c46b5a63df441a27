"""The deferrable examples under ``airflow dags test`` with the connection stored in the metadata DB.

As a new user sets it up: ``airflow connections add`` in a fresh Airflow home, no ``AIRFLOW_CONN_*``
variable anywhere, then ``airflow dags test`` in a subprocess. ``dags test`` runs each trigger in line, in
its own process, where Airflow 3's asynchronous connection lookup goes through an in-process supervisor
that cannot answer for a DB connection; the hook then falls back to the synchronous lookup in a thread
(``kapso_provider.hooks._lookup``). Each case arranges the simulator so that the trigger's first read
already finds the outcome, and checks that the task really deferred and that the trigger did read Kapso.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import REPO_ROOT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kapso_provider.testing import KapsoSimulator

PHONE = "+15551234567"
_CLI_TIMEOUT = 300


@dataclass(frozen=True)
class Case:
    """One deferrable example: its file, the DAG, what to arrange, and which tasks to run."""

    example: str
    dag_id: str
    arrange: Callable[[KapsoSimulator], dict[str, Any]]
    skip: tuple[str, ...] = ()


def _status(simulator: KapsoSimulator) -> dict[str, Any]:
    simulator.status_sequence = ["sent", "read"]  # the send's own read sees "sent", the trigger's "read"
    return {"phone_number": PHONE}


# The reply arrives at the second listing of the conversation: after the task's own read, at the trigger's.
def _approval(simulator: KapsoSimulator) -> dict[str, Any]:
    simulator.reply_to_question("Deploy", phone_number=PHONE, after_reads=2)
    return {"phone_number": PHONE, "version": "2.4.1"}


def _branch(simulator: KapsoSimulator) -> dict[str, Any]:
    simulator.reply_to_question("Order a part", phone_number=PHONE, after_reads=2)
    return {"technician": PHONE}


def _agents(simulator: KapsoSimulator) -> dict[str, Any]:
    agent = simulator.agents.add_agent()
    simulator.agents.agent_status_sequence = ("ended",)  # the start's answer is the task's own look
    return {"agent_id": agent["id"], "phone_number": PHONE}


CASES = [
    Case(
        "example_kapso_message_status.py",
        "kapso_message_status",
        _status,
        skip=("wait_delivered_poke", "wait_delivered_reschedule"),
    ),
    Case("example_kapso_approval.py", "kapso_deployment_approval", _approval),
    Case("example_kapso_branch_on_reply.py", "kapso_technician_branch", _branch),
    Case("example_kapso_agents.py", "kapso_agents", _agents),
    # Not the flows example: its deferrable task needs the XCom of a task that waits in the worker, and
    # only a status sequence that makes that one sleep a full 30 s poll would make the second defer. The
    # flow trigger reads its connection as the agent trigger does (KapsoPollingTrigger.new_hook).
]


class AirflowHome:
    """A fresh Airflow home holding the examples, its DB migrated, its connection added with the CLI."""

    def __init__(self, path: Path) -> None:
        (path / "dags").mkdir(parents=True)
        for case in CASES:
            (path / "dags" / case.example).symlink_to(REPO_ROOT / "example_dags" / case.example)
        # Nothing of this test session's Airflow settings, and no connection from the environment.
        inherited = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "AIRFLOW_HOME"))
        }
        self.env = {
            **inherited,
            "AIRFLOW_HOME": str(path),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{path / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(path / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        self.airflow = str(Path(sys.executable).parent / "airflow")

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.airflow, *args], env=self.env, capture_output=True, text=True, timeout=_CLI_TIMEOUT, check=False
        )

    def must(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr


@pytest.fixture(scope="module")
def simulator() -> Iterator[KapsoSimulator]:
    from kapso_provider.testing import KapsoSimulator

    with KapsoSimulator(api_key="sim-db-connection-key", host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, simulator: KapsoSimulator) -> AirflowHome:
    home = AirflowHome(tmp_path_factory.mktemp("airflow-home"))
    home.must("db", "migrate")
    home.must(
        "connections",
        "add",
        "kapso_default",
        "--conn-type",
        "kapso",
        "--conn-host",
        simulator.base_url,
        "--conn-password",
        simulator.api_key,
    )
    return home


@pytest.mark.parametrize("case", CASES, ids=[case.dag_id for case in CASES])
def test_deferrable_example_with_the_connection_in_the_db(
    case: Case, home: AirflowHome, simulator: KapsoSimulator
) -> None:
    simulator.reset()
    conf = case.arrange(simulator)
    args = ["dags", "test", case.dag_id, "-c", json.dumps(conf)]
    if case.skip:
        args += ["--mark-success-pattern", "|".join(f"^{re.escape(task_id)}$" for task_id in case.skip)]

    done = home.run(*args)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert "isn't defined" not in output
    # The task deferred and its trigger ran in line, reading Kapso with the DB's connection.
    assert "running trigger in line" in output
    assert "Trigger completed" in output
    assert simulator.requests, "nothing reached the simulator"
    assert simulator.api_key not in output
