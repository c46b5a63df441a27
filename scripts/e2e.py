"""``make e2e``: the example DAGs in a real Airflow deployment against the Kapso simulator, then the browser.

Unlike ``dags test``, this runs what users run: an api-server, a scheduler handing tasks to LocalExecutor
workers (which fetch ``kapso_default`` and push XCom through the execution API), a dag-processor and a
triggerer for the deferrable sensor. Everything listens on 127.0.0.1 and lives in a temporary
AIRFLOW_HOME; every process is started in its own process group and every group is stopped at the end,
also on failure and on Ctrl-C.

Steps: start the simulator and Airflow, store ``kapso_default`` through the REST API, trigger the example
DAGs through the REST API, compare each task's XCom (read over REST) with what the simulator stored, then
run ``e2e/connection-form.mjs`` (playwright-core driving Debian's Chromium) against the live UI.

Run it as ``.venv/bin/python scripts/e2e.py``; ``--keep`` keeps the temporary directory (logs) on success.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

REPO_ROOT = Path(__file__).resolve().parent.parent
E2E_DIR = REPO_ROOT / "e2e"
SCREENSHOT = REPO_ROOT / "docs" / "images" / "connection-form.png"
CHROMIUM = Path("/usr/bin/chromium")

RUN_TIMEOUT = 240.0
HEALTH_TIMEOUT = 120.0
STOP_GRACE = 15.0
POLL = 1.0

# Each DAG run talks to its own phone numbers where the example lets us choose, so the checks below can
# tell the runs' messages apart although the runs go concurrently.
SEND_PHONE = "+15550100001"
STATUS_PHONE = "+15550100002"
ON_CALL_PHONE = "+15550100003"
FAN_OUT_PHONES = ["+15551230001", "+15551230002", "+15551230003"]
BULK_FILE_RECIPIENTS = 20
# One step per listing of the conversation: the three sensors' first reads all see "sent" whatever order
# they run in, with one read to spare for a slow machine (so the deferrable one really defers to the
# triggerer and the reschedule one really reschedules); later reads see delivered, then read.
STATUS_SEQUENCE = ["sent", "sent", "sent", "sent", "delivered", "read"]


class E2EError(Exception):
    """A check failed; the message says which and what was seen."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise E2EError(message)


# -- steps and their timing --


@dataclass
class Steps:
    rows: list[tuple[str, float, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"--> {name}", flush=True)
        begin = time.monotonic()
        outcome = "FAILED"
        try:
            yield
            outcome = "ok"
        finally:
            self.rows.append((name, time.monotonic() - begin, outcome))

    def add(self, name: str, seconds: float, outcome: str) -> None:
        self.rows.append((name, seconds, outcome))

    def table(self) -> str:
        width = max((len(name) for name, _, _ in self.rows), default=4)
        lines = [f"{'step':<{width}}  {'seconds':>8}  result", f"{'-' * width}  {'-' * 8}  ------"]
        lines += [f"{name:<{width}}  {seconds:>8.1f}  {outcome}" for name, seconds, outcome in self.rows]
        lines.append(f"{'total wall time':<{width}}  {time.monotonic() - self.started:>8.1f}")
        return "\n".join(lines)


# -- processes --


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(name: str, argv: list[str], *, env: dict[str, str], home: Path) -> Service:
    log = home / f"{name}.log"
    with log.open("wb") as handle:
        # A session of its own makes the process the leader of a new group: stopping the group later
        # reaches the workers and subprocesses it forks too, which a kill of the pid alone would orphan.
        process = subprocess.Popen(
            argv, env=env, cwd=home, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
    return Service(name, process, log)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _psutil() -> Any:
    try:
        # Not a dependency of ours (Airflow brings it); without it only the services' own groups are tracked.
        return importlib.import_module("psutil")
    except ImportError:
        return None


def ours(services: list[Service], home: Path) -> dict[int, str]:
    """Every live process of this run, pid -> command line, wherever its process group.

    The services' groups are not enough: the LocalExecutor's task processes start sessions of their own, so
    a task still running when the run stops is outside every group this script created. They are found as
    descendants of the services and, should their parent be gone, by their AIRFLOW_HOME (which misses
    processes that rewrite their title over their environment, hence both).
    """
    psutil = _psutil()
    if psutil is None:
        return {}
    found: dict[int, str] = {}
    for service in services:
        with contextlib.suppress(psutil.Error):
            leader = psutil.Process(service.process.pid)
            for proc in [leader, *leader.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    if proc.status() != psutil.STATUS_ZOMBIE:
                        found[proc.pid] = " ".join(proc.cmdline())[:120]
    for proc in psutil.process_iter(["pid", "cmdline", "environ"]):
        with contextlib.suppress(psutil.Error):
            environ = proc.info.get("environ") or {}
            if proc.pid != os.getpid() and environ.get("AIRFLOW_HOME") == str(home):
                found[proc.pid] = " ".join(proc.info.get("cmdline") or [])[:120]
    return found


def groups_of(services: list[Service], home: Path) -> set[int]:
    groups = {service.process.pid for service in services}
    for pid in ours(services, home):
        with contextlib.suppress(ProcessLookupError):
            groups.add(os.getpgid(pid))
    return {group for group in groups if group_alive(group)}


def signal_groups(groups: set[int], sig: signal.Signals) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, sig)


def stop_all(services: list[Service], home: Path) -> list[str]:
    """SIGTERM every group of ours, SIGKILL what is left after the grace period; return what survived."""
    groups = groups_of(services, home)
    signal_groups(groups, signal.SIGTERM)
    for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, 10.0)):
        if sig is signal.SIGKILL:
            print(f"    still running after {STOP_GRACE:g} s: groups {sorted(groups)}, SIGKILL", flush=True)
            signal_groups(groups, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            for service in services:
                service.process.poll()  # reaps our direct child, whose zombie would keep its group alive
            # A scheduler going down may still start a task: its new group joins the set and gets the signal.
            current = groups_of(services, home)
            signal_groups(current - groups, sig)
            groups = {group for group in groups | current if group_alive(group)}
            if not groups:
                return []
            time.sleep(0.2)
    return [f"group {group}" for group in sorted(groups)]


def wait_for(what: str, probe: Callable[[], bool], timeout: float, services: list[Service]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            code = service.process.poll()
            if code is not None:
                raise E2EError(f"{service.name} exited with {code} while waiting for {what}:\n{service.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if probe():
                return
        time.sleep(POLL / 2)
    raise E2EError(f"timed out after {timeout:g} s waiting for {what}")


# -- the deployment --


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    api_url: str
    simulator_url: str
    api_key: str
    services: list[Service] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.simulator_url}/api/v1"

    @property
    def control_url(self) -> str:
        return f"{self.simulator_url}/__kapso_simulator__"


def make_deployment(home: Path) -> Deployment:
    api_port, sim_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "KAPSO"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # The default would fork 32 workers on a 2-core machine.
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            # Separate processes must sign and check the same tokens; airflow.cfg would get them from
            # whichever process wrote it first.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "*",
        }
    )
    return Deployment(
        home=home,
        env=env,
        api_url=api_url,
        simulator_url=f"http://127.0.0.1:{sim_port}",
        api_key="e2e-" + secrets.token_hex(8),
    )


def airflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def start_simulator(dep: Deployment, steps: Steps) -> None:
    with steps.step("simulator: start and answer"):
        port = dep.simulator_url.rsplit(":", 1)[1]
        argv = [sys.executable, "-m", "kapso_provider.testing", "--port", port, "--api-key", dep.api_key]
        service = start("simulator", argv, env=dep.env, home=dep.home)
        dep.services.append(service)
        wait_for(
            "the simulator",
            lambda: httpx.get(f"{dep.control_url}/progression", timeout=2).status_code == 200,
            30,
            [service],
        )


def start_airflow(dep: Deployment, steps: Steps) -> None:
    with steps.step("airflow: db migrate"):
        # Once, before the four processes start: concurrent migrations of one sqlite file would collide.
        result = subprocess.run(
            airflow("db", "migrate"), env=dep.env, cwd=dep.home, capture_output=True, text=True, check=False
        )
        check(result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    with steps.step("airflow: 4 processes healthy"):
        port = dep.api_url.rsplit(":", 1)[1]
        commands = {
            "api-server": airflow("api-server", "-H", "127.0.0.1", "-p", port),
            # No log servers: they bind every interface on fixed ports, and the api-server reads the task
            # logs from the shared AIRFLOW_HOME anyway.
            "scheduler": airflow("scheduler", "--skip-serve-logs"),
            "dag-processor": airflow("dag-processor"),
            "triggerer": airflow("triggerer", "--skip-serve-logs"),
        }
        started = [start(name, argv, env=dep.env, home=dep.home) for name, argv in commands.items()]
        dep.services.extend(started)

        def healthy() -> bool:
            response = httpx.get(f"{dep.api_url}/api/v2/monitor/health", timeout=5)
            if response.status_code != 200:
                return False
            body = response.json()
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            return all((body.get(part) or {}).get("status") == "healthy" for part in parts)

        wait_for("api-server, scheduler, triggerer and dag-processor health", healthy, HEALTH_TIMEOUT, started)


# -- REST --


class Api:
    """The api-server's public REST API. With SIMPLE_AUTH_MANAGER_ALL_ADMINS the server adds the token."""

    def __init__(self, dep: Deployment) -> None:
        self.client = httpx.Client(base_url=f"{dep.api_url}/api/v2", timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 300:
            raise E2EError(f"{method} {path} answered {response.status_code}: {response.text[:1000]}")
        return response.json() if response.content else None

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        body = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        instances: list[dict[str, Any]] = body["task_instances"]
        return instances

    def xcom(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        return self.call("GET", path, params={"map_index": map_index})["value"]


def create_connection(dep: Deployment, api: Api, steps: Steps) -> None:
    with steps.step("REST: create kapso_default"):
        check(
            not any(key.startswith("AIRFLOW_CONN_") for key in dep.env),
            "an AIRFLOW_CONN_ variable would shadow the metadata DB",
        )
        api.call(
            "POST",
            "/connections",
            json={
                "connection_id": "kapso_default",
                "conn_type": "kapso",
                "host": dep.base_url,
                "password": dep.api_key,
                "description": "Kapso simulator for scripts/e2e.py",
            },
        )
        stored = api.call("GET", "/connections/kapso_default")
        check(stored["conn_type"] == "kapso" and stored["host"] == dep.base_url, f"stored connection: {stored}")
        tested = api.call("POST", "/connections/test", json={"connection_id": "kapso_default", "conn_type": "kapso"})
        check(tested["status"] is True, f"POST /connections/test of kapso_default: {tested}")


# -- the DAG runs --


@dataclass
class Run:
    dag_id: str
    conf: dict[str, Any]
    expected_state: str
    run_id: str = ""
    logical_date: str = ""
    triggered: float = 0.0
    finished: float = 0.0
    state: str = ""
    # Every state each task instance was seen in while the run went, e.g. "deferred" for the trigger.
    seen: dict[str, set[str]] = field(default_factory=dict)

    @property
    def ds(self) -> str:
        return self.logical_date[:10]


RUNS = [
    Run("kapso_send_message", {"phone_number": SEND_PHONE, "customer_name": "Grace"}, "success"),
    Run("kapso_message_status", {"phone_number": STATUS_PHONE}, "success"),
    # The example fails its second task on purpose (the failure alert's subject): the run fails.
    Run("kapso_notifier", {"on_call_phone": ON_CALL_PHONE}, "failed"),
    Run("kapso_fan_out", {}, "success"),
    Run("kapso_bulk_send", {}, "success"),
]


def ti_key(instance: dict[str, Any]) -> str:
    index = instance.get("map_index", -1)
    return instance["task_id"] if index in (-1, None) else f"{instance['task_id']}[{index}]"


def log_tails(dep: Deployment, run: Run, lines: int = 25) -> str:
    parts = []
    for path in sorted((dep.home / "logs").glob(f"dag_id={run.dag_id}/run_id={run.run_id}/**/*.log")):
        text = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"==> {path.relative_to(dep.home)}\n" + "\n".join(text))
    return "\n".join(parts) or "(no task logs)"


def trigger_and_wait(dep: Deployment, api: Api, steps: Steps) -> None:
    with steps.step("REST: wait for the 5 DAGs to be parsed"):

        def parsed() -> bool:
            return all(api.client.get(f"/dags/{run.dag_id}").status_code == 200 for run in RUNS)

        wait_for("the example DAGs in the API", parsed, HEALTH_TIMEOUT, dep.services)

    with steps.step("REST: unpause and trigger 5 runs"):
        httpx.post(
            f"{dep.control_url}/progression", json={"status_sequence": STATUS_SEQUENCE}, timeout=5
        ).raise_for_status()
        for run in RUNS:
            api.call("PATCH", f"/dags/{run.dag_id}", json={"is_paused": False})
            body = api.call(
                "POST",
                f"/dags/{run.dag_id}/dagRuns",
                json={"logical_date": datetime.now(UTC).isoformat(), "conf": run.conf},
            )
            run.run_id, run.logical_date, run.triggered = body["dag_run_id"], body["logical_date"], time.monotonic()

    # The runs go concurrently (as a deployment would run them); each has its own deadline.
    with steps.step("runs: all finished"):
        pending = list(RUNS)
        while pending:
            for run in list(pending):
                body = api.call("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}")
                for instance in api.task_instances(run.dag_id, run.run_id):
                    run.seen.setdefault(ti_key(instance), set()).add(str(instance.get("state")))
                if body["state"] in ("success", "failed"):
                    run.state, run.finished = body["state"], time.monotonic()
                    pending.remove(run)
                    steps.add(f"  run {run.dag_id} ({run.state})", run.finished - run.triggered, "")
                elif time.monotonic() - run.triggered > RUN_TIMEOUT:
                    states = {ti_key(ti): ti.get("state") for ti in api.task_instances(run.dag_id, run.run_id)}
                    raise E2EError(
                        f"{run.dag_id} still {body['state']} after {RUN_TIMEOUT:g} s; tasks: {states}\n"
                        f"{log_tails(dep, run)}"
                    )
            time.sleep(POLL)
        for run in RUNS:
            if run.state != run.expected_state:
                states = {ti_key(ti): ti.get("state") for ti in api.task_instances(run.dag_id, run.run_id)}
                raise E2EError(
                    f"{run.dag_id} ended {run.state}, expected {run.expected_state}; tasks: {states}\n"
                    f"{log_tails(dep, run)}"
                )


# -- what the simulator stored --


@dataclass
class Stored:
    messages: dict[str, dict[str, Any]]

    def data(self, message_id: str) -> dict[str, Any]:
        """The type-specific part Kapso keeps: template name and parameters, the reacted-to wamid ..."""
        value: dict[str, Any] = self.messages[message_id].get("message_type_data") or {}
        return value

    def get(self, message_id: Any, what: str) -> dict[str, Any]:
        check(isinstance(message_id, str) and message_id in self.messages, f"{what}: {message_id!r} not stored")
        message: dict[str, Any] = self.messages[message_id]
        return message


def read_simulator(dep: Deployment) -> Stored:
    # The control endpoints, not /api/v1 listings: a listing would advance the status sequence.
    messages = httpx.get(f"{dep.control_url}/messages", timeout=10).json()["data"]
    return Stored({message["id"]: message for message in messages if message.get("direction") == "outbound"})


def verify(dep: Deployment, api: Api, steps: Steps) -> None:
    runs = {run.dag_id: run for run in RUNS}
    with steps.step("XCom over REST vs simulator"):
        stored = read_simulator(dep)
        accounted: set[str] = set()

        def record(dag_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
            value: dict[str, Any] = api.xcom(dag_id, runs[dag_id].run_id, task_id, map_index)
            check(isinstance(value, dict), f"{dag_id}.{task_id}[{map_index}] XCom is not a record: {value!r}")
            message = stored.get(value.get("id"), f"{dag_id}.{task_id}[{map_index}] XCom id")
            check(
                value.get("whatsapp_message_id") == message["whatsapp_message_id"],
                f"{dag_id}.{task_id}: wamid {value.get('whatsapp_message_id')} != stored {message}",
            )
            accounted.add(message["id"])
            return value

        verify_send_message(runs["kapso_send_message"], record, stored)
        verify_message_status(runs["kapso_message_status"], record, stored)
        verify_fan_out(runs["kapso_fan_out"], record, stored)
        verify_bulk(runs["kapso_bulk_send"], api, stored, accounted)
        verify_notifier(runs["kapso_notifier"], api, stored, accounted)

        extra = sorted(set(stored.messages) - accounted)
        check(not extra, f"the simulator stored messages no task accounts for: {[stored.messages[i] for i in extra]}")
        print(f"    {len(accounted)} stored messages, each matched to an XCom record or a notifier alert")


Record = Callable[..., dict[str, Any]]


def verify_send_message(run: Run, record: Record, stored: Stored) -> None:
    text = record(run.dag_id, "send_text")
    message = stored.messages[text["id"]]
    check(message["phone_number"] == SEND_PHONE, f"send_text went to {message['phone_number']}")
    expected = f"Hi Grace, your order for {run.ds} has shipped."
    check(message["content"] == expected == text.get("content"), f"send_text content: {message} / {text}")
    reaction = record(run.dag_id, "react_to_text")
    body = stored.data(reaction["id"])
    check(stored.messages[reaction["id"]]["message_type"] == "reaction", f"react_to_text: {reaction}")
    # The second task reacted to exactly the message whose record the first one pushed to XCom.
    check(
        body.get("reacted_to_message_id") == text["whatsapp_message_id"],
        f"react_to_text does not name {text['whatsapp_message_id']}: {body}",
    )


def verify_message_status(run: Run, record: Record, stored: Stored) -> None:
    sent = record(run.dag_id, "send_reminder")
    check(stored.messages[sent["id"]]["phone_number"] == STATUS_PHONE, f"send_reminder: {sent}")
    for task_id, allowed in (
        ("wait_delivered_poke", ("delivered", "read")),
        ("wait_delivered_reschedule", ("delivered", "read")),
        ("wait_read_deferrable", ("read",)),
    ):
        seen = record(run.dag_id, task_id)
        check(seen["id"] == sent["id"], f"{task_id} watched {seen['id']}, not {sent['id']}")
        check(seen.get("status") in allowed, f"{task_id} returned status {seen.get('status')}")
    check(stored.messages[sent["id"]]["status"] == "read", f"stored status {stored.messages[sent['id']]['status']}")
    check(
        "deferred" in run.seen.get("wait_read_deferrable", set()),
        f"wait_read_deferrable never deferred to the triggerer; states seen: {run.seen.get('wait_read_deferrable')}",
    )
    check(
        "up_for_reschedule" in run.seen.get("wait_delivered_reschedule", set()),
        f"wait_delivered_reschedule never rescheduled; states seen: {run.seen.get('wait_delivered_reschedule')}",
    )


def verify_fan_out(run: Run, record: Record, stored: Stored) -> None:
    content = f"The {run.ds} maintenance window starts at 22:00 UTC."
    for index, phone in enumerate(FAN_OUT_PHONES):
        message = stored.messages[record(run.dag_id, "notify_each_recipient", index)["id"]]
        check((message["phone_number"], message["content"]) == (phone, content), f"notify[{index}]: {message}")
    expected = [("text", "Step 1: download the app"), ("image", "step2.png"), ("document", "guide.pdf")]
    for index, (message_type, needle) in enumerate(expected):
        message = stored.messages[record(run.dag_id, "send_each_message", index)["id"]]
        check(message["phone_number"] == FAN_OUT_PHONES[0], f"send_each_message[{index}]: {message}")
        check(message["message_type"] == message_type, f"send_each_message[{index}] type: {message}")
        check(needle in json.dumps(message), f"send_each_message[{index}] lacks {needle!r}: {message}")


def verify_bulk(run: Run, api: Api, stored: Stored, accounted: set[str]) -> None:
    def summary(task_id: str, total: int) -> list[dict[str, Any]]:
        value = api.xcom(run.dag_id, run.run_id, task_id)
        counts = {key: value.get(key) for key in ("total", "sent", "already_sent", "failed", "not_attempted")}
        check(
            counts == {"total": total, "sent": total, "already_sent": 0, "failed": 0, "not_attempted": 0},
            f"{task_id} summary: {value}",
        )
        ids = value.get("message_ids") or []
        check(len(ids) == total and len(set(ids)) == total, f"{task_id} message_ids: {ids}")
        messages = [stored.get(message_id, f"{task_id} message id") for message_id in ids]
        accounted.update(message["id"] for message in messages)
        return messages

    content = f"The {run.ds} maintenance window starts at 22:00 UTC."
    for message, phone in zip(summary("announce_maintenance", 3), FAN_OUT_PHONES, strict=True):
        check((message["phone_number"], message["content"]) == (phone, content), f"announce: {message}")
    people = [("Ada", "09:30"), ("Grace", "11:00"), ("Linus", "15:45")]
    for message, phone, (name, at) in zip(summary("remind_appointments", 3), FAN_OUT_PHONES, people, strict=True):
        body = stored.data(message["id"])
        check(message["phone_number"] == phone and message["message_type"] == "template", f"remind: {message}")
        check(body.get("template_name") == "appointment_reminder", f"remind template: {body}")
        check(body.get("template_params") == [name, f"{run.ds} {at}"], f"remind params: {body}")
    for number, message in enumerate(summary("send_codes", BULK_FILE_RECIPIENTS), start=1):
        expected = (f"+1555124{number:04d}", f"Your voucher code is K{number:03d}.")
        check((message["phone_number"], message["content"]) == expected, f"send_codes[{number}]: {message}")


def verify_notifier(run: Run, api: Api, stored: Stored, accounted: set[str]) -> None:
    instances = {ti["task_id"]: ti for ti in api.task_instances(run.dag_id, run.run_id)}
    states = {task_id: ti.get("state") for task_id, ti in instances.items()}
    check(states == {"fetch_rates": "success", "load_warehouse": "failed"}, f"notifier task states: {states}")
    check(instances["fetch_rates"].get("try_number") == 2, f"fetch_rates tries: {instances['fetch_rates']}")
    alerts = sorted(
        (m for m in stored.messages.values() if m["phone_number"] == ON_CALL_PHONE), key=lambda m: m["created_at"]
    )
    texts = [m["content"] for m in alerts if m["message_type"] == "text"]
    templates = [stored.data(m["id"]) for m in alerts if m["message_type"] == "template"]
    check(len(alerts) == 4 and len(texts) == 3, f"expected 3 task alerts and 1 run alert, got {alerts}")
    # The exception reaches a callback's context in some Airflow versions and deployments, not in others.
    retry = [t for t in texts if t.startswith("fetch_rates try 1 failed, retrying: ")]
    success = [t for t in texts if t == f"fetch_rates succeeded for {run.ds} after 2 tries"]
    failure = [t for t in texts if t.startswith(f"load_warehouse failed in kapso_notifier ({run.run_id}): ")]
    check(len(retry) == len(success) == len(failure) == 1, f"task alerts: {texts}")
    check("\nLog: http://127.0.0.1" in failure[0], f"failure alert has no log link: {failure[0]!r}")
    (template,) = templates
    check(
        template.get("template_name") == "pipeline_alert"
        and template.get("template_params", [None])[:2] == ["kapso_notifier", run.run_id],
        f"run failure alert: {template}",
    )
    accounted.update(m["id"] for m in alerts)
    print(f"    notifier alerts: {[*texts, json.dumps(template.get('template_params'))]}")


# -- the browser --


def browser_test(dep: Deployment, steps: Steps, screenshot: Path) -> None:
    with steps.step("browser: connection form (Chromium)"):
        check(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
        check(shutil.which("node") is not None, "node is not on PATH")
        check((E2E_DIR / "node_modules" / "playwright-core").is_dir(), "run `npm ci --prefix e2e` first")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **dep.env,
            "E2E_AIRFLOW_URL": dep.api_url,
            "E2E_KAPSO_BASE_URL": dep.base_url,
            "E2E_KAPSO_API_KEY": dep.api_key,
            "E2E_SCREENSHOT": str(screenshot),
            "E2E_CHROMIUM": str(CHROMIUM),
            "E2E_ARTIFACTS": str(dep.home / "browser"),
        }
        node = start("browser", ["node", str(E2E_DIR / "connection-form.mjs")], env=env, home=dep.home)
        dep.services.append(node)
        try:
            code = node.process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            code = None
        print(node.tail(60), flush=True)
        check(code == 0, f"e2e/connection-form.mjs failed (exit {code})")


# -- main --


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary Airflow home and logs")
    parser.add_argument("--skip-browser", action="store_true", help="only the DAG runs")
    parser.add_argument(
        "--screenshot", type=Path, default=SCREENSHOT, help=f"where the filled form goes (default: {SCREENSHOT})"
    )
    args = parser.parse_args()

    steps = Steps()
    home = Path(tempfile.mkdtemp(prefix="kapso-e2e-"))
    dep = make_deployment(home)
    print(f"Airflow home {home}; api-server {dep.api_url}; simulator {dep.simulator_url}", flush=True)
    failed = True
    # Ctrl-C raises KeyboardInterrupt by default; SIGTERM (CI cancelling) must unwind the same way, through
    # the finally block that stops every process group.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        start_simulator(dep, steps)
        start_airflow(dep, steps)
        api = Api(dep)
        create_connection(dep, api, steps)
        trigger_and_wait(dep, api, steps)
        verify(dep, api, steps)
        if not args.skip_browser:
            browser_test(dep, steps, args.screenshot.resolve())
        failed = False
    except E2EError as exc:
        print(f"\nE2E FAILED: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\nE2E interrupted", file=sys.stderr, flush=True)
    finally:
        if failed:
            for service in dep.services:
                print(f"\n--- {service.name} log tail ({service.log})\n{service.tail(15)}", file=sys.stderr)
        begin = time.monotonic()
        survivors = stop_all(dep.services, home)
        leftovers = [f"{pid} {cmdline}" for pid, cmdline in ours(dep.services, home).items()]
        steps.add("stop every process group", time.monotonic() - begin, "ok" if not survivors else "FAILED")
        if survivors or leftovers:
            print(f"\nE2E FAILED: still running: groups {survivors}, processes {leftovers}", file=sys.stderr)
            failed = True
        print("\n" + steps.table(), flush=True)
        if failed or args.keep:
            print(f"logs kept in {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)
    print("E2E PASSED" if not failed else "E2E FAILED", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
