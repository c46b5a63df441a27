"""``make reliability``: a campaign of sends under injected faults, counting duplicates and losses.

For each fault kind of the simulator, and for a worker that dies after Kapso stored the message (the
task is then retried by Airflow), it sends ``--sends`` messages through ``KapsoSendMessageOperator`` with
the fault injected into a ``--rate`` fraction of all requests, then reads back what the simulator stored
and classifies every send:

- delivered exactly once: the task returned a record and exactly that message is stored;
- duplicate: the same message is stored more than once;
- lost: nothing is stored although the task reported success, or it failed without saying why;
- failed with a clear error: nothing is stored and the task failed with an error naming the cause;
- delivered, reported failed: stored once, but the task failed (a retry of the task would find it);
- task retries: how often the worker died after the send and Airflow ran the task again.

Prints one table and, with ``--write-docs``, puts it into ``docs/reliability.md``. Exits 1 on any
duplicate or loss.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
CONN_ID = "kapso_campaign"
PHONES = ("+15550100001", "+15550100002", "+15550100003", "+15550100004", "+15550100005")
FAULT_KINDS = (
    "rate_limit",
    "server_error_before_store",
    "server_error_after_store",
    "drop_before_store",
    "drop_after_store",
    "slow_after_store",
    "malformed_json",
    "html_error",
)
WORKER_DEATH = "worker_death"
# Issue 14 §2: identical messages from another sender, and Kapso's clock off by minutes.
SAME_TEXT_OTHER_TASK = "same_text_other_task"
PREVIOUS_RUN_SAME_TEXT = "previous_run_same_text"
CLOCK_OFFSET_LOST_ANSWER = "clock_offset_lost_answer"
WINDOW_SCENARIOS = (SAME_TEXT_OTHER_TASK, PREVIOUS_RUN_SAME_TEXT, CLOCK_OFFSET_LOST_ANSWER)
CLOCK_OFFSETS = (-600, -300, 300, 600)
GAPS = (10, 25, 50, 75, 100)
OUTCOMES = ("exactly once", "duplicates", "lost", "failed clearly", "delivered, reported failed", "task retries")
DOCS_MARKER_START = "<!-- campaign:start -->"
DOCS_MARKER_END = "<!-- campaign:end -->"


@dataclass
class _Ti:
    try_number: int
    start_date: dt.datetime


@dataclass
class _DagRun:
    start_date: dt.datetime


def _send(text: str, phone: str, try_number: int, run_started: dt.datetime) -> dict[str, Any]:
    """One try of a real KapsoSendMessageOperator task, with quick backoff so the campaign stays short."""
    from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy
    from kapso_provider.operators.kapso import KapsoSendMessageOperator

    operator = KapsoSendMessageOperator(task_id="send", kapso_conn_id=CONN_ID, phone_number=phone, content=text)
    operator.hook = KapsoHook(  # type: ignore[misc]
        kapso_conn_id=CONN_ID, retry_policy=RetryPolicy(backoff_initial=0.02, backoff_max=0.2, max_retry_after=2)
    )
    context: Any = {"ti": _Ti(try_number, dt.datetime.now(dt.UTC)), "dag_run": _DagRun(run_started)}
    return operator.execute(context)


def _clear(error: BaseException) -> bool:
    """Whether a failure says what went wrong: an HTTP status or a named transport failure."""
    return bool(re.search(r"\(HTTP \d{3}\)|no HTTP answer|could not connect", str(error)))


def _window_send(simulator: Any, kind: str, index: int, text: str, phone: str) -> tuple[Any, str | None, int]:
    """One send of a window scenario: ``(record or error, the other sender's message id, task retries)``."""
    simulator.clock_offset = CLOCK_OFFSETS[index % len(CLOCK_OFFSETS)]
    gap = GAPS[index % len(GAPS)]
    run_started = dt.datetime.now(dt.UTC)
    other_id = None
    if kind == SAME_TEXT_OTHER_TASK:
        # Another task sent the same text `gap` s ago; this send's POST fails before Kapso stores it.
        other_id = simulator.store_outbound(phone_number=phone, message={"content": text}, sent_ago=gap)["id"]
        simulator.add_fault("server_error_before_store", method="POST", count=1)
    elif kind == PREVIOUS_RUN_SAME_TEXT:
        # The previous DAG run sent the same text `gap` s before this run started; try 1 fails with a
        # definite error before storing anything, and Airflow runs try 2.
        other_id = simulator.store_outbound(phone_number=phone, message={"content": text}, sent_ago=gap)["id"]
        simulator.add_fault("server_error_before_store", method="POST", count=1, status=422)
    else:
        simulator.add_fault("drop_after_store", method="POST", count=1)
    try:
        return _send(text, phone, 1, run_started), other_id, 0
    except Exception as error:
        if kind != PREVIOUS_RUN_SAME_TEXT:
            return error, other_id, 0
    try:
        return _send(text, phone, 2, run_started), other_id, 1
    except Exception as error:
        return error, other_id, 1


def run_kind(simulator: Any, kind: str, sends: int, rate: float, rng: random.Random) -> Counter[str]:
    """Send ``sends`` messages with ``kind`` injected and classify each one."""
    simulator.reset()
    simulator.clock_offset = 0
    if kind not in (WORKER_DEATH, *WINDOW_SCENARIOS):
        simulator.add_fault(kind, count=None, probability=rate, delay=0.3, retry_after=1)
    reported: dict[str, dict[str, Any] | BaseException] = {}
    others: dict[str, str] = {}
    retried = 0
    for index in range(sends):
        text = f"{kind} #{index}"
        phone = PHONES[index % len(PHONES)]
        if kind in WINDOW_SCENARIOS:
            result, other_id, retries = _window_send(simulator, kind, index, text, phone)
            reported[text], retried = result, retried + retries
            if other_id is not None:
                others[text] = other_id
            continue
        run_started = dt.datetime.now(dt.UTC)
        try:
            record = _send(text, phone, 1, run_started)
            if kind == WORKER_DEATH and rng.random() < rate:
                # The worker died before Airflow saw the result: Airflow runs try 2 of the same task.
                retried += 1
                record = _send(text, phone, 2, run_started)
            reported[text] = record
        except Exception as error:
            reported[text] = error

    # Another sender's message is not this send's: leave it out of the count.
    mine = [m for m in simulator.messages() if m["direction"] == "outbound" and m["id"] not in others.values()]
    stored = Counter(m["content"] for m in mine)
    stored_ids = {m["content"]: m["id"] for m in mine}
    outcome: Counter[str] = Counter({"task retries": retried})
    for text, result in reported.items():
        copies = stored[text]
        if copies > 1:
            outcome["duplicates"] += 1
        elif isinstance(result, BaseException):
            if copies == 1:
                outcome["delivered, reported failed"] += 1
            else:
                outcome["failed clearly" if _clear(result) else "lost"] += 1
        elif copies == 1 and result.get("id") == stored_ids[text]:
            outcome["exactly once"] += 1
        else:
            outcome["lost"] += 1
    return outcome


BULK_WORKER_DEATH = "bulk_worker_death"
BULK_CONCURRENCY = 16


def _bulk_child(arguments: dict[str, Any]) -> int:
    """One try of a bulk send in a process of its own, so that the campaign can kill it (SIGKILL) anywhere."""
    from kapso_provider.hooks.kapso import RetryPolicy
    from kapso_provider.services.bulk import MessageDesign, bulk_hook, listed_items, send_bulk
    from kapso_provider.services.bulk_checkpoint import JsonFileCheckpointStore

    items = [{"phone_number": f"{arguments['prefix']}{n:04d}", "n": n} for n in range(arguments["recipients"])]
    since = dt.datetime.fromisoformat(arguments["since"]) if arguments["since"] else None
    hook = bulk_hook(CONN_ID, retry_policy=RetryPolicy(backoff_initial=0.02, backoff_max=0.2, max_retry_after=2))
    hook.settings  # noqa: B018 - read the connection before saying ready
    print("ready", flush=True)
    summary = send_bulk(
        hook=hook,
        entries=lambda: listed_items(items),
        design=MessageDesign({"content": arguments["prefix"] + " #${n}"}),
        recipient_field="phone_number",
        defaults={"whatsapp_config_id": None, "customer_id": None},
        max_concurrency=BULK_CONCURRENCY,
        earlier_try_since=since,
        checkpoint_store=JsonFileCheckpointStore(arguments["store"]),
        progress_interval=3600,
        results_file=arguments["results"],
    )
    print(json.dumps(summary.to_json()), flush=True)
    return 0


def run_bulk_worker_death(
    simulator: Any, *, campaigns: int, recipients: int, rng: random.Random, folder: Path
) -> tuple[Counter[str], list[int]]:
    """Bulk sends whose worker is killed (SIGKILL) at a random moment of try 1, then retried to the end.

    Each try is a process of its own with the checkpoint in a file that survives it, as the metadata database
    survives a worker; the kill lands anywhere: before the first checkpoint, between a send and the write that
    records it, during a write. Every recipient is then classified as for single sends.

    :returns: the outcomes by recipient, and the reads each retry made.
    """
    import signal
    import subprocess

    outcome: Counter[str] = Counter()
    retry_reads: list[int] = []
    # The deaths are the fault here: answers get the hook's usual timeout, not the campaign's 0.2 s, which on a
    # loaded machine turns slow answers into the ambiguous sends the other rows already count.
    variable = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    connection = json.loads(os.environ[variable])
    connection["extra"] = {**connection.get("extra", {}), "timeout": 30}
    env = {**os.environ, variable: json.dumps(connection)}
    for campaign in range(campaigns):
        prefix = f"+1555{campaign % 1000:03d}{rng.randrange(1000):03d}"
        store = folder / f"bulk-{campaign}.json"
        results = folder / f"bulk-{campaign}-results.jsonl"
        since = dt.datetime.now(dt.UTC)

        def child(
            try_since: dt.datetime | None, prefix: str = prefix, store: Path = store, results: Path = results
        ) -> subprocess.Popen[str]:
            arguments = {"prefix": prefix, "recipients": recipients, "store": str(store), "results": str(results)}
            arguments["since"] = try_since.isoformat() if try_since else ""
            return subprocess.Popen(
                [sys.executable, __file__, "--bulk-child", json.dumps(arguments)],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )

        first = child(None)
        assert first.stdout is not None
        first.stdout.readline()  # ready: imports done, the send starts now
        time.sleep(rng.uniform(0.0, 1.2))
        first.send_signal(signal.SIGKILL)
        first.wait()
        first.stdout.close()
        reads_before = sum(1 for request in simulator.requests if request.method == "GET")
        second = child(since)
        output, _ = second.communicate(timeout=300)
        if second.returncode != 0:
            raise RuntimeError(f"the retry failed: {output[-2000:]}")
        retry_reads.append(sum(1 for request in simulator.requests if request.method == "GET") - reads_before)
        outcome["task retries"] += 1
        stored = Counter(m["content"] for m in simulator.messages() if m["content"].startswith(prefix + " #"))
        # What the retry reported for each recipient (the last try's word is the task's).
        reported = {line["index"]: line for line in map(json.loads, results.read_text().splitlines())}
        for n in range(recipients):
            copies, said = stored[f"{prefix} #{n}"], reported.get(n, {})
            if copies > 1:
                outcome["duplicates"] += 1
            elif "error" in said:
                failed_clearly = _clear(RuntimeError(said["error"]))
                outcome["delivered, reported failed" if copies else "failed clearly" if failed_clearly else "lost"] += 1
            else:
                outcome["exactly once" if copies == 1 else "lost"] += 1
    return outcome, retry_reads


def table(results: dict[str, Counter[str]], sends: int, rate: float) -> str:
    lines = [
        f"| fault kind (rate {rate:g}, {sends} sends each) | " + " | ".join(OUTCOMES) + " |",
        "| --- |" + " ---: |" * len(OUTCOMES),
    ]
    for kind, outcome in results.items():
        lines.append(f"| `{kind}` | " + " | ".join(str(outcome[name]) for name in OUTCOMES) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=1000, help="sends per fault kind (default 1000)")
    parser.add_argument("--rate", type=float, default=0.1, help="fraction of requests hit by the fault (default 0.1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--write-docs", action="store_true", help="put the table into docs/reliability.md")
    parser.add_argument("--bulk-campaigns", type=int, default=10, help="bulk sends killed at random (default 10)")
    parser.add_argument("--bulk-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bulk_child:
        return _bulk_child(json.loads(args.bulk_child))

    home = Path(tempfile.mkdtemp(prefix="kapso-campaign-"))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        }
    )
    from kapso_provider.testing import KapsoSimulator

    rng = random.Random(args.seed)
    results: dict[str, Counter[str]] = {}
    started = time.monotonic()
    with KapsoSimulator(api_key="campaign-key", seed=args.seed) as simulator:
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "kapso", "host": simulator.base_url, "password": "campaign-key", "extra": {"timeout": 0.2}}
        )
        for kind in (*FAULT_KINDS, WORKER_DEATH, *WINDOW_SCENARIOS):
            kind_started = time.monotonic()
            results[kind] = run_kind(simulator, kind, args.sends, args.rate, rng)
            print(f"{kind}: {dict(results[kind])} in {time.monotonic() - kind_started:.1f} s", flush=True)
        if args.bulk_campaigns:
            kind_started = time.monotonic()
            simulator.reset()
            simulator.latency = 0.05
            results[BULK_WORKER_DEATH], reads = run_bulk_worker_death(
                simulator, campaigns=args.bulk_campaigns, recipients=200, rng=rng, folder=home
            )
            simulator.latency = 0.0
            print(
                f"{BULK_WORKER_DEATH}: {dict(results[BULK_WORKER_DEATH])} in {time.monotonic() - kind_started:.1f} s;"
                f" reads per retry: max {max(reads)}, median {sorted(reads)[len(reads) // 2]}",
                flush=True,
            )
    rendered = table(results, args.sends, args.rate)
    print(rendered)
    print(f"campaign took {time.monotonic() - started:.0f} s")

    if args.write_docs:
        page = REPO_ROOT / "docs" / "reliability.md"
        text = page.read_text()
        head, _, rest = text.partition(DOCS_MARKER_START)
        _, _, tail = rest.partition(DOCS_MARKER_END)
        stamp = f"Measured on {dt.date.today().isoformat()} with `make reliability` (seed {args.seed})."
        page.write_text(f"{head}{DOCS_MARKER_START}\n{stamp}\n\n{rendered}\n{DOCS_MARKER_END}{tail}")

    bad = sum(outcome["duplicates"] + outcome["lost"] for outcome in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
