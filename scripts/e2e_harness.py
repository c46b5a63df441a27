"""What both real deployments share (``make e2e`` and ``make e2e-distributed``): processes, REST, the run.

Every process starts in a session of its own, so that stopping its group reaches what it forks; the run
stops every group at the end, also on failure, Ctrl-C and SIGTERM, and fails if a process of it or a port
it used is left. Steps are timed and printed as a table. The scripts import this module from their own
folder (``python scripts/e2e.py`` puts ``scripts/`` on the path).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import FrameType

REPO_ROOT = Path(__file__).resolve().parent.parent
HEALTH_TIMEOUT = 120.0
STOP_GRACE = 15.0
POLL = 1.0


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


def start(name: str, argv: list[str], *, env: dict[str, str], home: Path, user: str | None = None) -> Service:
    """Start one process in a session of its own, its output in ``<home>/<name>.log``.

    :param user: run it as this user (only when this script runs as root).
    """
    log = home / f"{name}.log"
    with log.open("wb") as handle:
        # A session of its own makes the process the leader of a new group: stopping the group later
        # reaches the workers and subprocesses it forks too, which a kill of the pid alone would orphan.
        process = subprocess.Popen(
            argv, env=env, cwd=home, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, user=user
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


def port_open(port: int) -> bool:
    """Whether something still listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def kill_tree(service: Service) -> list[int]:
    """SIGKILL a service with everything it forked, as a host that dies would; returns the pids killed.

    Task processes may sit in sessions of their own, outside the service's group: they are found as its
    descendants.
    """
    psutil = _psutil()
    pids = [service.process.pid]
    if psutil is not None:
        with contextlib.suppress(psutil.Error):
            pids += [child.pid for child in psutil.Process(service.process.pid).children(recursive=True)]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.process.pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    service.process.wait(timeout=10)
    return pids


# -- the deployment --


@dataclass
class Deployment:
    """One Airflow on loopback: its home and environment, the simulator, and every process started."""

    home: Path
    env: dict[str, str]
    api_url: str
    simulator_url: str
    api_key: str
    # Airflow's processes and the simulator, stopped first; then the services they use (databases).
    services: list[Service] = field(default_factory=list)
    backing: list[Service] = field(default_factory=list)
    # Taken out of the running deployment on purpose (killed, stopped): no longer watched, still cleaned up.
    retired: list[Service] = field(default_factory=list)
    ports: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"{self.simulator_url}/api/v1"

    @property
    def control_url(self) -> str:
        return f"{self.simulator_url}/__kapso_simulator__"

    def service(self, name: str) -> Service:
        return next(service for service in self.services if service.name == name)

    def retire(self, service: Service) -> None:
        """Stop watching a service that a scenario ends on purpose."""
        self.services.remove(service)
        self.retired.append(service)


def new_deployment(home: Path, settings: dict[str, str]) -> Deployment:
    """A deployment whose api-server and simulator get free ports; ``settings`` adds or overrides variables.

    Nothing of the caller's AIRFLOW_* or KAPSO* environment leaks in: an ``AIRFLOW_CONN_KAPSO_DEFAULT``
    would shadow the connection the run stores in the metadata DB.
    """
    api_port, sim_port = free_port(), free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "KAPSO"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            # Separate processes must sign and check the same tokens; airflow.cfg would get them from
            # whichever process wrote it first.
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),  # SHA-512 wants 64 bytes or more
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "*",
            **settings,
        }
    )
    return Deployment(
        home=home,
        env=env,
        api_url=api_url,
        simulator_url=f"http://127.0.0.1:{sim_port}",
        api_key="e2e-" + secrets.token_hex(8),
        ports=[api_port, sim_port],
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


def db_migrate(dep: Deployment, steps: Steps) -> None:
    with steps.step("airflow: db migrate"):
        # Once, before the processes start: concurrent migrations of one database would collide.
        result = subprocess.run(
            airflow("db", "migrate"), env=dep.env, cwd=dep.home, capture_output=True, text=True, check=False
        )
        check(result.returncode == 0, f"airflow db migrate failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def wait_healthy(dep: Deployment, started: list[Service]) -> None:
    """Until the api-server reports the metadata DB, scheduler, triggerer and dag-processor healthy."""

    def healthy() -> bool:
        response = httpx.get(f"{dep.api_url}/api/v2/monitor/health", timeout=5)
        if response.status_code != 200:
            return False
        body = response.json()
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((body.get(part) or {}).get("status") == "healthy" for part in parts)

    wait_for("api-server, scheduler, triggerer and dag-processor health", healthy, HEALTH_TIMEOUT, started)


def airflow_commands(dep: Deployment) -> dict[str, list[str]]:
    """The four processes every deployment has, by name."""
    port = dep.api_url.rsplit(":", 1)[1]
    return {
        "api-server": airflow("api-server", "-H", "127.0.0.1", "-p", port),
        # No log servers: they bind every interface on fixed ports, and the api-server reads the task
        # logs from the shared AIRFLOW_HOME anyway.
        "scheduler": airflow("scheduler", "--skip-serve-logs"),
        "dag-processor": airflow("dag-processor"),
        "triggerer": airflow("triggerer", "--skip-serve-logs"),
    }


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
                "description": "Kapso simulator of a scripts/ end-to-end run",
            },
        )
        stored = api.call("GET", "/connections/kapso_default")
        check(stored["conn_type"] == "kapso" and stored["host"] == dep.base_url, f"stored connection: {stored}")
        tested = api.call("POST", "/connections/test", json={"connection_id": "kapso_default", "conn_type": "kapso"})
        check(tested["status"] is True, f"POST /connections/test of kapso_default: {tested}")


# -- DAG runs --


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


def ti_key(instance: dict[str, Any]) -> str:
    index = instance.get("map_index", -1)
    return instance["task_id"] if index in (-1, None) else f"{instance['task_id']}[{index}]"


def log_tails(dep: Deployment, run: Run, lines: int = 25) -> str:
    parts = []
    for path in sorted((dep.home / "logs").glob(f"dag_id={run.dag_id}/run_id={run.run_id}/**/*.log")):
        text = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"==> {path.relative_to(dep.home)}\n" + "\n".join(text))
    return "\n".join(parts) or "(no task logs)"


def wait_parsed(dep: Deployment, api: Api, dag_ids: list[str]) -> None:
    def parsed() -> bool:
        return all(api.client.get(f"/dags/{dag_id}").status_code == 200 for dag_id in dag_ids)

    wait_for(f"{len(dag_ids)} DAGs in the API", parsed, HEALTH_TIMEOUT, dep.services)


def trigger(api: Api, run: Run) -> None:
    """Unpause the run's DAG and start the run over REST."""
    api.call("PATCH", f"/dags/{run.dag_id}", json={"is_paused": False})
    body = api.call(
        "POST",
        f"/dags/{run.dag_id}/dagRuns",
        json={"logical_date": datetime.now(UTC).isoformat(), "conf": run.conf},
    )
    run.run_id, run.logical_date, run.triggered = body["dag_run_id"], body["logical_date"], time.monotonic()


def task_states(api: Api, run: Run) -> dict[str, Any]:
    return {ti_key(ti): ti.get("state") for ti in api.task_instances(run.dag_id, run.run_id)}


def poll(api: Api, run: Run) -> bool:
    """Record the run's task states; whether the run has finished."""
    body = api.call("GET", f"/dags/{run.dag_id}/dagRuns/{run.run_id}")
    for instance in api.task_instances(run.dag_id, run.run_id):
        run.seen.setdefault(ti_key(instance), set()).add(str(instance.get("state")))
    if body["state"] in ("success", "failed"):
        run.state, run.finished = body["state"], time.monotonic()
        return True
    return False


def wait_runs(dep: Deployment, api: Api, runs: list[Run], steps: Steps, timeout: float) -> None:
    """Until every run finished, each within ``timeout`` of its trigger, in the state it expects."""
    pending = list(runs)
    while pending:
        for run in list(pending):
            if poll(api, run):
                pending.remove(run)
                steps.add(f"  run {run.dag_id} ({run.state})", run.finished - run.triggered, "")
            elif time.monotonic() - run.triggered > timeout:
                raise E2EError(
                    f"{run.dag_id} not finished after {timeout:g} s; tasks: {task_states(api, run)}\n"
                    f"{log_tails(dep, run)}"
                )
        time.sleep(POLL)
    for run in runs:
        if run.state != run.expected_state:
            raise E2EError(
                f"{run.dag_id} ended {run.state}, expected {run.expected_state}; tasks: {task_states(api, run)}\n"
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

    def to(self, phone_number: str) -> list[dict[str, Any]]:
        """The messages sent to one number, oldest first."""
        found = [message for message in self.messages.values() if message["phone_number"] == phone_number]
        return sorted(found, key=lambda message: str(message["created_at"]))


def read_simulator(dep: Deployment) -> Stored:
    # The control endpoints, not /api/v1 listings: a listing would advance the status sequence.
    messages = httpx.get(f"{dep.control_url}/messages", timeout=10).json()["data"]
    return Stored({message["id"]: message for message in messages if message.get("direction") == "outbound"})


def control(dep: Deployment, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
    """Call one of the simulator's control endpoints; returns its ``data``."""
    response = httpx.request(method, f"{dep.control_url}{path}", json=payload, timeout=10)
    check(response.status_code < 300, f"simulator {method} {path} answered {response.status_code}: {response.text}")
    return response.json()["data"]


# -- the whole run --


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def arguments(description: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description.splitlines()[0] if description else None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary Airflow home and logs")
    return parser


def run_deployment(
    *, prefix: str, keep: bool, build: Callable[[Path], Deployment], body: Callable[[Deployment, Steps], None]
) -> int:
    """Build a deployment in a fresh temporary home, run ``body`` in it, stop everything; the exit status.

    :param prefix: of the temporary directory's name.
    :param keep: keep the directory (logs) on success too.
    :param build: the deployment for a home (nothing started yet).
    :param body: starts what it needs (appending to the deployment's services) and checks.
    """
    steps = Steps()
    home = Path(tempfile.mkdtemp(prefix=prefix))
    dep = build(home)
    print(f"Airflow home {home}; api-server {dep.api_url}; simulator {dep.simulator_url}", flush=True)
    failed = True
    # Ctrl-C raises KeyboardInterrupt by default; SIGTERM (CI cancelling) must unwind the same way, through
    # the finally block that stops every process group.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        body(dep, steps)
        failed = False
    except E2EError as exc:
        print(f"\nE2E FAILED: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("\nE2E interrupted", file=sys.stderr, flush=True)
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        everything = dep.services + dep.retired + dep.backing
        if failed:
            for service in everything:
                print(f"\n--- {service.name} log tail ({service.log})\n{service.tail(15)}", file=sys.stderr)
        begin = time.monotonic()
        # Airflow first, then the databases it talks to: stopping PostgreSQL under a running scheduler
        # only makes it log connection errors on its way down.
        survivors = stop_all(dep.services + dep.retired, home) + stop_all(dep.backing, home)
        leftovers = [f"{pid} {cmdline}" for pid, cmdline in ours(everything, home).items()]
        ports = [port for port in dep.ports if port_open(port)]
        clean = not (survivors or leftovers or ports)
        steps.add("stop every process group", time.monotonic() - begin, "ok" if clean else "FAILED")
        if not clean:
            print(
                f"\nE2E FAILED: still running: groups {survivors}, processes {leftovers}, ports {ports}",
                file=sys.stderr,
            )
            failed = True
        print("\n" + steps.table(), flush=True)
        if failed or keep:
            print(f"logs kept in {home}", flush=True)
        else:
            shutil.rmtree(home, ignore_errors=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print("E2E PASSED" if not failed else "E2E FAILED", flush=True)
    return 1 if failed else 0
