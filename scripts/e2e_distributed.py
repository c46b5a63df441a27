"""``make e2e-distributed``: Airflow as teams run it at scale, on loopback, against the Kapso simulator.

PostgreSQL (Debian's server, a fresh cluster from ``initdb`` in the temporary directory) holds the metadata;
Redis (Debian's ``redis-server``) is the Celery broker; Airflow runs with ``CeleryExecutor`` as separate
processes: api-server, scheduler, dag-processor, triggerer and two Celery workers, ``worker-a`` and
``worker-b`` (each task instance's ``hostname`` says which ran it). Everything listens on 127.0.0.1 and is
stopped by process group at the end, also on failure, Ctrl-C and SIGTERM; the run fails if a process or a
port of it is left.

Scenarios, each checked against what the simulator stored (every XCom record is a stored message and every
stored message belongs to a record, none twice):

1. the example DAGs of ``make e2e``, then a bulk send split over mapped tasks that land on both workers;
2. a worker killed with SIGKILL while Kapso holds the answer to its send: the retry runs on the other
   worker and finds the stored message instead of sending it again;
3. a deferrable status sensor and a deferrable question waiting in the triggerer while it is stopped
   (SIGTERM) and started again: the answers that arrived meanwhile end both waits.

Run it as ``.venv/bin/python scripts/e2e_distributed.py``; ``--keep`` keeps the temporary directory (logs).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from e2e_examples import check_all_accounted, example_runs, finish_examples, start_examples, verify_examples
from e2e_harness import (
    POLL,
    REPO_ROOT,
    Api,
    Deployment,
    E2EError,
    Run,
    Service,
    Steps,
    Stored,
    airflow,
    airflow_commands,
    arguments,
    check,
    control,
    create_connection,
    db_migrate,
    free_port,
    kill_tree,
    new_deployment,
    poll,
    read_simulator,
    run_deployment,
    start,
    start_simulator,
    task_states,
    trigger,
    wait_for,
    wait_healthy,
    wait_parsed,
    wait_runs,
)

E2E_DIR = REPO_ROOT / "e2e"

WORKERS = ("worker-a", "worker-b")
WORKER_CONCURRENCY = 2
# Long enough for a task on two busy cores to heartbeat in time, short enough to notice a dead worker soon.
HEARTBEAT_TIMEOUT = 30
SCENARIO_TIMEOUT = 240.0
# The simulator holds the answer to the doomed send far longer than it takes to kill the worker.
HELD_ANSWER_SECONDS = 120.0
# More chunks than the two workers have slots, so neither takes them all; one number per message.
BULK_CHUNK_RECIPIENTS = [[f"+155520{chunk:02d}{number:03d}" for number in range(5)] for chunk in range(6)]
RETRY_PHONE = "+15550300001"
STATUS_PHONE = "+15550400001"
ASK_PHONE = "+15550400002"


# -- PostgreSQL and Redis --


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server programs (``initdb``, ``postgres``): not on PATH there."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    check(bool(versions), "PostgreSQL's server is missing: apt-get install -y postgresql")
    return versions[-1].parent


def unprivileged_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, its own ``postgres`` user runs it (else ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    raise E2EError("running as root and there is no postgres or nobody user to run PostgreSQL as")


def backing_env() -> dict[str, str]:
    # Without AIRFLOW_HOME, so the clean-up tells them from Airflow's processes and stops them last.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def start_postgres(dep: Deployment, steps: Steps, port: int) -> None:
    with steps.step("postgres: initdb and start"):
        bin_dir, user = postgres_bin(), unprivileged_user()
        data = dep.home / "postgres"
        data.mkdir()
        if user is not None:
            shutil.chown(data, user)
            dep.home.chmod(0o711)  # the server's user must reach its folder inside the home
        result = subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "airflow", "--auth=trust", "-E", "UTF8", "--no-sync"],
            env=backing_env(),
            cwd=data,
            capture_output=True,
            text=True,
            check=False,
            user=user,
        )
        check(result.returncode == 0, f"initdb failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": "",
            "max_connections": "300",
            # A throwaway cluster: durability only costs time here.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        service = start("postgres", argv, env=backing_env(), home=dep.home, user=user)
        dep.backing.append(service)

        import psycopg2

        def create_database() -> bool:
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", dbname="postgres")
            except psycopg2.OperationalError:
                return False
            try:
                connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
                with connection.cursor() as cursor:
                    cursor.execute("CREATE DATABASE airflow")
            finally:
                connection.close()
            return True

        wait_for("PostgreSQL", create_database, 60, [service])


def start_redis(dep: Deployment, steps: Steps, port: int) -> None:
    with steps.step("redis: start"):
        server = shutil.which("redis-server")
        check(server is not None, "redis-server is missing: apt-get install -y redis-server")
        assert server is not None
        data = dep.home / "redis"
        data.mkdir()
        argv = [server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data), "--save", ""]
        argv += ["--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no"]
        service = start("redis", argv, env=backing_env(), home=dep.home)
        dep.backing.append(service)

        import redis

        def ping() -> bool:
            try:
                return bool(redis.Redis(host="127.0.0.1", port=port, socket_timeout=2).ping())
            except redis.RedisError:
                return False

        wait_for("Redis", ping, 30, [service])


# -- Airflow with CeleryExecutor --


def make_deployment(home: Path) -> Deployment:
    postgres_port, redis_port = free_port(), free_port()
    database = f"postgresql+psycopg2://airflow@127.0.0.1:{postgres_port}/airflow"
    bundles = [
        {"name": name, "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle", "kwargs": {"path": path}}
        for name, path in (("examples", str(REPO_ROOT / "example_dags")), ("e2e", str(E2E_DIR / "dags")))
    ]
    dep = new_deployment(
        home,
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(2 * len(WORKERS) * WORKER_CONCURRENCY),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        },
    )
    dep.ports += [postgres_port, redis_port]
    return dep


def worker_command(dep: Deployment, name: str) -> tuple[list[str], dict[str, str]]:
    argv = airflow("celery", "worker", "--celery-hostname", f"{name}@127.0.0.1", "--queues", f"default,{name}")
    # No log server (it binds every interface on a fixed port); one pid file each in the shared home.
    argv += ["--skip-serve-logs", "--pid", str(dep.home / f"{name}.pid"), "--without-mingle", "--without-gossip"]
    env = {
        **dep.env,
        "KAPSO_E2E_WORKER": name,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.hostname",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(E2E_DIR), os.environ.get("PYTHONPATH")])),
    }
    return argv, env


def wait_workers_ready(dep: Deployment, workers: list[Service]) -> None:
    def ready() -> bool:
        return all(f"{worker.name}@127.0.0.1 ready." in worker.log.read_text(errors="replace") for worker in workers)

    wait_for(", ".join(worker.name for worker in workers) + " ready", ready, 120, workers)


def start_airflow(dep: Deployment, steps: Steps) -> None:
    db_migrate(dep, steps)
    with steps.step(f"airflow: 4 processes and {len(WORKERS)} Celery workers up"):
        started = [start(name, argv, env=dep.env, home=dep.home) for name, argv in airflow_commands(dep).items()]
        workers = []
        for name in WORKERS:
            argv, env = worker_command(dep, name)
            workers.append(start(name, argv, env=env, home=dep.home))
        dep.services.extend(started + workers)
        wait_healthy(dep, started)
        wait_workers_ready(dep, workers)


# -- scenario 1: the examples, and a mapped bulk send on both workers --


def hostnames(api: Api, run: Run, task_id: str) -> dict[int, str]:
    """map index -> the worker that ran that task instance (its last try)."""
    return {
        int(ti.get("map_index", -1)): str(ti.get("hostname"))
        for ti in api.task_instances(run.dag_id, run.run_id)
        if ti["task_id"] == task_id
    }


def verify_bulk_mapped(api: Api, run: Run, stored: Stored) -> set[str]:
    ran_on = hostnames(api, run, "send_chunk")
    check(sorted(ran_on) == list(range(len(BULK_CHUNK_RECIPIENTS))), f"mapped send_chunk instances: {ran_on}")
    check(set(ran_on.values()) == set(WORKERS), f"the mapped chunks did not land on both workers: {ran_on}")
    accounted: set[str] = set()
    for index, recipients in enumerate(BULK_CHUNK_RECIPIENTS):
        summary = api.xcom(run.dag_id, run.run_id, "send_chunk", index)
        total = len(recipients)
        counts = {key: summary.get(key) for key in ("total", "sent", "already_sent", "failed")}
        check(counts == {"total": total, "sent": total, "already_sent": 0, "failed": 0}, f"chunk {index}: {summary}")
        ids = summary.get("message_ids") or []
        messages = [stored.get(message_id, f"send_chunk[{index}] message id") for message_id in ids]
        check([m["phone_number"] for m in messages] == recipients, f"chunk {index} recipients: {messages}")
        check(all(m["content"] == f"Distributed bulk send of {run.ds}." for m in messages), f"chunk {index}")
        accounted.update(ids)
    check(len(accounted) == sum(map(len, BULK_CHUNK_RECIPIENTS)), f"bulk ids repeat: {len(accounted)}")
    counts = {worker: sum(1 for name in ran_on.values() if name == worker) for worker in WORKERS}
    print(f"    mapped bulk send: {len(accounted)} messages in {len(ran_on)} chunks, chunks per worker {counts}")
    return accounted


def scenario_examples(dep: Deployment, api: Api, steps: Steps) -> set[str]:
    runs = example_runs()
    start_examples(dep, api, runs, steps)
    finish_examples(dep, api, runs, steps)
    with steps.step("examples: XCom over REST vs simulator"):
        return verify_examples(api, runs, read_simulator(dep))


def scenario_bulk_mapped(dep: Deployment, api: Api, steps: Steps) -> set[str]:
    # Alone on idle workers: each takes at most its concurrency of the chunks at a time, so both get some.
    # Beside the examples, one worker could be kept busy by their sensors for the whole run.
    run = Run("kapso_e2e_bulk_mapped", {"chunks": BULK_CHUNK_RECIPIENTS}, "success")
    with steps.step(f"mapped bulk send: {len(BULK_CHUNK_RECIPIENTS)} chunks over both workers"):
        wait_parsed(dep, api, [run.dag_id])
        trigger(api, run)
        wait_runs(dep, api, [run], steps, SCENARIO_TIMEOUT)
    with steps.step("mapped bulk send: XCom over REST vs simulator"):
        return verify_bulk_mapped(api, run, read_simulator(dep))


# -- scenario 2: a worker dies in the middle of a send --


def send_requests(dep: Deployment, phone_number: str) -> list[dict[str, Any]]:
    """The send requests the simulator received for one number."""
    return [
        request
        for request in control(dep, "GET", "/requests")
        if request["method"] == "POST"
        and "whatsapp_messages" in request["path"]
        and phone_number in json.dumps(request.get("json"))
    ]


def scenario_worker_killed(dep: Deployment, api: Api, steps: Steps) -> set[str]:
    run = Run("kapso_e2e_send_retry", {"phone_number": RETRY_PHONE}, "success")
    with steps.step("worker killed mid-send: first try holds the answer"):
        control(
            dep,
            "POST",
            "/faults",
            {"kind": "slow_after_store", "method": "POST", "path": "whatsapp_messages", "delay": HELD_ANSWER_SECONDS},
        )
        wait_parsed(dep, api, [run.dag_id])
        trigger(api, run)
        victim = ""

        def send_held() -> bool:
            nonlocal victim
            (instance,) = api.task_instances(run.dag_id, run.run_id)
            victim = str(instance.get("hostname") or "")
            return bool(send_requests(dep, RETRY_PHONE)) and instance.get("state") == "running" and bool(victim)

        wait_for("the send held by the simulator", send_held, SCENARIO_TIMEOUT, dep.services)
        check(victim in WORKERS, f"send_once runs on {victim!r}, not one of {WORKERS}")
        check(len(read_simulator(dep).to(RETRY_PHONE)) == 1, "the held send is not stored")
    with steps.step(f"worker killed mid-send: SIGKILL {victim}, retry elsewhere"):
        service = dep.service(victim)
        dep.retire(service)
        killed = kill_tree(service)
        print(f"    SIGKILL {victim}: pids {killed}", flush=True)
        wait_runs(dep, api, [run], steps, SCENARIO_TIMEOUT)
    with steps.step("worker killed mid-send: XCom over REST vs simulator"):
        (instance,) = api.task_instances(run.dag_id, run.run_id)
        survivor = next(worker for worker in WORKERS if worker != victim)
        check(instance.get("try_number") == 2, f"send_once tries: {instance}")
        check(instance.get("hostname") == survivor, f"the retry ran on {instance.get('hostname')}, not {survivor}")
        stored = read_simulator(dep)
        (message,) = check_single(stored, RETRY_PHONE)
        record = api.xcom(run.dag_id, run.run_id, "send_once")
        check(record.get("id") == message["id"], f"the retry's XCom {record} is not the stored message {message}")
        sends = send_requests(dep, RETRY_PHONE)
        check(len(sends) == 1, f"{len(sends)} send requests for {RETRY_PHONE}; the retry must look up, not send")
        print(f"    try 1 on {victim} (killed), try 2 on {survivor}: one send, one stored message", flush=True)
        return {message["id"]}


def check_single(stored: Stored, phone_number: str) -> list[dict[str, Any]]:
    messages = stored.to(phone_number)
    check(len(messages) == 1, f"expected one message to {phone_number}, the simulator stored {messages}")
    return messages


# -- scenario 3: deferred waits across a triggerer restart --


def stop_service(service: Service, timeout: float = 60.0) -> None:
    """SIGTERM a service's group and wait for it to exit by itself, as a rolling restart would."""
    os.killpg(service.process.pid, signal.SIGTERM)
    try:
        code = service.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise E2EError(f"{service.name} still running {timeout:g} s after SIGTERM") from None
    print(f"    {service.name} exited with {code} after SIGTERM", flush=True)


def scenario_triggerer_restart(dep: Deployment, api: Api, steps: Steps) -> set[str]:
    run = Run("kapso_e2e_deferred_waits", {"status_phone": STATUS_PHONE, "ask_phone": ASK_PHONE}, "success")
    waits = ("wait_delivered", "ask_slot")
    with steps.step("triggerer restart: both waits deferred"):
        # The messages of this run keep their status until this script moves it.
        control(dep, "POST", "/progression", {"status_sequence": None})
        wait_parsed(dep, api, [run.dag_id])
        trigger(api, run)

        def deferred() -> bool:
            check(not poll(api, run), f"{run.dag_id} ended {run.state} before its waits deferred")
            states = task_states(api, run)
            return all(states.get(task_id) == "deferred" for task_id in waits)

        wait_for("both waits deferred", deferred, SCENARIO_TIMEOUT, dep.services)
    with steps.step("triggerer restart: SIGTERM, answers arrive, nothing moves"):
        triggerer = dep.service("triggerer")
        dep.retire(triggerer)
        stop_service(triggerer)
        stored = read_simulator(dep)
        (notice,) = check_single(stored, STATUS_PHONE)
        (question,) = check_single(stored, ASK_PHONE)
        control(dep, "POST", f"/messages/{notice['id']}/status", {"status": "delivered"})
        # The customer taps the question's "Evening" button (its id is the operator's own, not the option key).
        buttons = (question.get("message_type_data") or {}).get("buttons") or []
        tapped = [button["id"] for button in buttons if button.get("title") == "Evening"]
        check(len(tapped) == 1, f"the question has no Evening button: {question}")
        reply = {"reply_option_id": tapped[0], "reply_option_title": "Evening"}
        control(dep, "POST", f"/conversations/{question['whatsapp_conversation_id']}/inbound", reply)
        # With no triggerer, nothing may notice: the waits stay deferred.
        time.sleep(4 * POLL)
        states = task_states(api, run)
        check(all(states.get(task_id) == "deferred" for task_id in waits), f"without a triggerer: {states}")
    with steps.step("triggerer restart: start again, both waits end"):
        restarted = start("triggerer-restarted", airflow_commands(dep)["triggerer"], env=dep.env, home=dep.home)
        dep.services.append(restarted)
        wait_runs(dep, api, [run], steps, SCENARIO_TIMEOUT)
    with steps.step("triggerer restart: XCom over REST vs simulator"):
        stored = read_simulator(dep)
        (notice,) = check_single(stored, STATUS_PHONE)
        (question,) = check_single(stored, ASK_PHONE)
        seen = api.xcom(run.dag_id, run.run_id, "wait_delivered")
        check(seen.get("id") == notice["id"] and seen.get("status") == "delivered", f"wait_delivered: {seen}")
        sent = api.xcom(run.dag_id, run.run_id, "send_notice")
        check(sent.get("id") == notice["id"], f"send_notice XCom {sent} is not the stored {notice}")
        answer = api.xcom(run.dag_id, run.run_id, "ask_slot")
        check(answer.get("option_id") == "evening", f"ask_slot answer: {answer}")
        check(question["message_type"] == "interactive", f"the question: {question}")
        print(f"    both waits ended after the restart; answer {answer.get('option_id')!r}", flush=True)
        return {notice["id"], question["id"]}


# -- main --


def check_tools() -> None:
    postgres_bin()
    check(shutil.which("redis-server") is not None, "redis-server is missing: apt-get install -y redis-server")
    check(
        not any(key.startswith("AIRFLOW_CONN_") for key in os.environ),
        "an AIRFLOW_CONN_ variable is set: unset it, the connection must come from the metadata DB",
    )


def main() -> int:
    args = arguments(__doc__).parse_args()
    try:
        check_tools()
    except E2EError as exc:
        print(f"E2E FAILED: {exc}", file=sys.stderr)
        return 1

    def body(dep: Deployment, steps: Steps) -> None:
        postgres_port, redis_port = dep.ports[-2:]
        start_postgres(dep, steps, postgres_port)
        start_redis(dep, steps, redis_port)
        start_simulator(dep, steps)
        start_airflow(dep, steps)
        api = Api(dep)
        create_connection(dep, api, steps)
        accounted = scenario_examples(dep, api, steps)
        accounted |= scenario_bulk_mapped(dep, api, steps)
        accounted |= scenario_worker_killed(dep, api, steps)
        accounted |= scenario_triggerer_restart(dep, api, steps)
        with steps.step("every stored message accounted for"):
            check_all_accounted(read_simulator(dep), accounted)

    return run_deployment(prefix="kapso-e2e-distributed-", keep=args.keep, build=make_deployment, body=body)


if __name__ == "__main__":
    sys.exit(main())
