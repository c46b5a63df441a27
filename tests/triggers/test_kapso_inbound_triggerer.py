"""KapsoInboundMessageTrigger in a real ``airflow triggerer`` process, stopped and started again.

An AssetWatcher DAG is serialized into a private metadata DB of its own (so that no other DAG's watcher
runs beside it), then the triggerer runs it against the simulator. Each event the trigger yields becomes
an asset event row; the test counts those rows. Between the two triggerer runs more messages arrive, one
of them carrying a timestamp already passed. Where the cursor lives depends on the version: Airflow 3.3
hands the trigger the asset's state store, 3.1 and 3.2 do not, and the trigger keeps it in a Variable.
Without either, the restarted watcher (``since=None``) would begin at "now" and miss those messages.

The connection is stored in that DB with ``airflow connections add``, as a user's would be, and no
``AIRFLOW_CONN_*`` variable reaches the triggerer: its asynchronous connection lookup must find it there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger
from tests._triggers import PHONE_A, PHONE_B, conversation_lists, set_created_at

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from kapso_provider.testing.pytest_plugin import KapsoServer

try:
    from airflow.sdk import AssetWatcher  # noqa: F401  # only whether it exists matters here
except ImportError:
    HAS_ASSET_WATCHER = False
else:
    HAS_ASSET_WATCHER = True

pytestmark = pytest.mark.skipif(not HAS_ASSET_WATCHER, reason="Airflow 2.11 has no AssetWatcher to restart")

TEXT_PATTERN = "^msg"
# Guards against a hung test only: every wait ends on an observed condition, not on time.
_GUARD_SECONDS = 120.0

_DAG_FILE = f"""
from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, task

from kapso_provider.triggers.kapso import KapsoInboundMessageTrigger

inbound = Asset(
    "kapso://inbound/restart-test",
    watchers=[
        AssetWatcher(
            name="kapso_inbound",
            trigger=KapsoInboundMessageTrigger(text_pattern={TEXT_PATTERN!r}, poll_interval=0.2),
        )
    ],
)

with DAG("kapso_inbound_restart", schedule=[inbound], start_date=pendulum.datetime(2026, 1, 1), catchup=False):

    @task
    def noop() -> None:
        pass

    noop()
"""


class Deployment:
    """A private Airflow home with one watcher DAG, and the triggerer as a process group of its own."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.db = home / "airflow.db"
        (home / "dags").mkdir(parents=True)
        (home / "dags" / "kapso_inbound_restart.py").write_text(_DAG_FILE)
        self.env = {
            **{name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW_CONN_")},
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # A watcher's trigger only runs while its DAG is unpaused.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # Picks up the trigger within a second instead of five.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        }
        self.airflow = str(Path(sys.executable).parent / "airflow")
        self.triggerer: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def run(self, *args: str) -> None:
        done = subprocess.run([self.airflow, *args], env=self.env, capture_output=True, timeout=300)
        assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr.decode()[-3000:]}"

    def query(self, sql: str, *parameters: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db, timeout=30) as connection:
            return connection.execute(sql, parameters).fetchall()

    def set_up(self, kapso_server: KapsoServer) -> None:
        self.run("db", "migrate")
        self.run(
            "connections",
            "add",
            kapso_server.conn_id,
            "--conn-type",
            "kapso",
            "--conn-host",
            kapso_server.base_url,
            "--conn-password",
            kapso_server.api_key,
        )
        # The first pass creates the DAG row; a watcher is registered only for an active, unpaused DAG.
        for _ in range(2):
            self.run("dags", "reserialize")
            if self.query("SELECT classpath FROM trigger"):
                break
        classpaths = [row[0] for row in self.query("SELECT classpath FROM trigger")]
        assert classpaths == ["kapso_provider.triggers.kapso.KapsoInboundMessageTrigger"], classpaths

    def start_triggerer(self) -> None:
        self.runs += 1
        log = (self.home / f"triggerer-{self.runs}.log").open("wb")
        self.triggerer = subprocess.Popen(
            [self.airflow, "triggerer"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop_triggerer(self) -> None:
        """SIGTERM to the whole group, as a service manager stopping the triggerer does; SIGKILL if it hangs."""
        if self.triggerer is None:
            return
        process, self.triggerer = self.triggerer, None
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        with contextlib.suppress(ProcessLookupError):  # the triggerer's children (its trigger runner) go too
            os.killpg(process.pid, signal.SIGKILL)

    def log_tail(self) -> str:
        return (self.home / f"triggerer-{self.runs}.log").read_text(errors="replace")[-4000:]

    def events(self) -> list[dict[str, Any]]:
        """The payload of every asset event, in the order the triggerer stored them."""
        rows = self.query("SELECT extra FROM asset_event ORDER BY id")
        return [json.loads(extra)["payload"] for (extra,) in rows]

    def wait(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + _GUARD_SECONDS
        while not condition():
            if self.triggerer is not None and self.triggerer.poll() is not None:
                raise AssertionError(f"the triggerer exited while waiting for {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"never saw {what}; triggerer log:\n{self.log_tail()}")
            time.sleep(0.1)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path / "airflow")
    try:
        yield deployment
    finally:
        deployment.stop_triggerer()


def test_a_restarted_triggerer_neither_misses_nor_repeats(kapso_server: KapsoServer, deployment: Deployment) -> None:
    simulator = kapso_server.simulator
    a = simulator.create_conversation(phone_number=PHONE_A)
    b = simulator.create_conversation(phone_number=PHONE_B)
    deployment.set_up(kapso_server)

    deployment.start_triggerer()
    # Polling shows the trigger has started, and so has saved its starting point.
    deployment.wait(lambda: conversation_lists(kapso_server) >= 2, "the trigger polling Kapso")
    m1 = simulator.deliver_inbound(a["id"], "msg 1")
    m2 = simulator.deliver_inbound(b["id"], "msg 2")
    set_created_at(kapso_server, m2["id"], m1["created_at"])
    simulator.deliver_inbound(a["id"], "not for us")
    deployment.wait(lambda: len(deployment.events()) >= 2, "two asset events")
    deployment.stop_triggerer()

    # While no triggerer runs: one message at a timestamp already passed (visible late), and a new one.
    m3 = simulator.deliver_inbound(b["id"], "msg 3")
    set_created_at(kapso_server, m3["id"], m1["created_at"])
    simulator.deliver_inbound(a["id"], "msg 4")

    deployment.start_triggerer()
    deployment.wait(lambda: len(deployment.events()) >= 4, "the two messages sent while it was down")
    lists = conversation_lists(kapso_server)
    deployment.wait(lambda: conversation_lists(kapso_server) > lists, "a poll after the restart")
    simulator.deliver_inbound(b["id"], "msg 5")
    deployment.wait(lambda: len(deployment.events()) >= 5, "the message sent after the restart")
    # Three more polls with nothing new: nothing is yielded again.
    lists = conversation_lists(kapso_server)
    deployment.wait(lambda: conversation_lists(kapso_server) >= lists + 3, "three more polls")
    deployment.stop_triggerer()

    events = deployment.events()
    contents = [event["message"]["content"] for event in events]
    assert sorted(contents[:2]) == ["msg 1", "msg 2"]
    assert contents[2:] == ["msg 3", "msg 4", "msg 5"]
    assert len({event["message_id"] for event in events}) == 5
    assert {r.method for r in simulator.requests} == {"GET"}

    cursor_key = KapsoInboundMessageTrigger(text_pattern=TEXT_PATTERN, poll_interval=0.2).cursor_key
    variables = [row[0] for row in deployment.query("SELECT key FROM variable")]
    tables = {row[0] for row in deployment.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "asset_state_store" in tables:  # Airflow >= 3.3: the asset's own state, and no Variable
        assert deployment.query("SELECT count(*) FROM asset_state_store WHERE key = ?", cursor_key) == [(1,)]
        assert variables == []
    else:
        assert variables == [cursor_key]
