"""Bulk send retries: what a retry costs after the worker died, with the checkpoint against today's lookups.

Each try of a bulk send is a process of its own (the operator's machinery: :func:`~kapso_provider.services.
bulk.send_bulk`, default ``max_concurrency``) with its checkpoint in a file replaced atomically on each write
(fsync'ed, as a database commit is durable), and the worker's death is a ``SIGKILL`` sent when the checkpoint
shows the chosen share of the recipients confirmed. The retry then runs to the end; the requests it makes are
counted by the process itself, and what the simulator stored is read back to check that every recipient got
exactly one message.

1. Retry cost: 1,000 / 10,000 / 100,000 recipients killed at 50% and 90%. Baseline: the same death, then a
   retry without a checkpoint, which looks every recipient up before sending (today's behaviour).
2. End to end: 20,000 recipients with one death at 90%, the simulator limited to 1,000 requests per
   6-second window, against the ideal (20,000 sends at that limit).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._common import REPO_ROOT, simulator_process

if TYPE_CHECKING:
    from kapso_provider.transport.wire import Request

#: From the checkpoint issue: reads on a retry at most ``max_concurrency`` + 10.
READS_TARGET_MARGIN = 10
#: From the checkpoint issue: the end-to-end time within 10% of the ideal.
END_TO_END_TARGET = 1.10


@dataclass(frozen=True)
class TryCounts:
    """What one try did, as the process counted it."""

    reads: int
    sends: int
    seconds: float
    checkpoint_writes: int


@dataclass(frozen=True)
class RetryCost:
    """One size and kill point: the retry's requests with the checkpoint and with today's lookups."""

    recipients: int
    killed_at: float
    max_concurrency: int
    stored_before_retry: int
    checkpoint: TryCounts
    lookups: TryCounts | None
    exactly_once: bool

    @property
    def reads_target(self) -> int:
        return self.max_concurrency + READS_TARGET_MARGIN


@dataclass(frozen=True)
class EndToEnd:
    """A send with one worker death, timed from the first try's start to the retry's end."""

    recipients: int
    limit: int
    window: float
    killed_at: float
    seconds: float
    retry: TryCounts
    exactly_once: bool
    #: The same send without a death and without a checkpoint, in the same run: what this machine reaches.
    undisturbed_seconds: float

    @property
    def ideal_seconds(self) -> float:
        return self.recipients / self.limit * self.window

    @property
    def ratio(self) -> float:
        return self.seconds / self.ideal_seconds


# -- one try, in a process of its own ----------------------------------------------------------------------


def _child(arguments: dict[str, Any]) -> int:
    import logging
    from datetime import datetime

    from kapso_provider.hooks.kapso import KapsoHook, RetryPolicy
    from kapso_provider.pacing import RequestPacer
    from kapso_provider.services.bulk import MessageDesign, listed_items, send_bulk
    from kapso_provider.services.bulk_checkpoint import JsonFileCheckpointStore

    counts: Counter[str] = Counter()

    class CountingStore(JsonFileCheckpointStore):
        def save(self, value: dict[str, Any]) -> None:
            counts["writes"] += 1
            super().save(value)

    class CountingHook(KapsoHook):
        def _exchange(self, request: Request) -> Any:
            counts[request.method] += 1
            return super()._exchange(request)

    policy = RetryPolicy(rate_limit_window=arguments["window"])
    pacer = RequestPacer(window=policy.rate_limit_window, steady=True)
    hook = CountingHook("kapso_default", retry_policy=policy, pacer=pacer)
    hook.settings  # noqa: B018 - read the connection before the clock starts
    items = [{"phone_number": f"{arguments['prefix']}{n:06d}", "n": n} for n in range(arguments["recipients"])]
    since = arguments["since"]
    print("ready", flush=True)
    started = time.perf_counter()
    checkpointer_log = logging.getLogger("bench.bulk_retry")
    summary = send_bulk(
        hook=hook,
        entries=lambda: listed_items(items),
        design=MessageDesign({"content": arguments["prefix"] + " #${n}"}),
        recipient_field="phone_number",
        defaults={"whatsapp_config_id": None, "customer_id": None},
        max_concurrency=arguments["max_concurrency"],
        earlier_try_since=datetime.fromisoformat(since) if since else None,
        checkpoint_store=CountingStore(arguments["store"]) if arguments["store"] else None,
        progress_interval=3600,
        log=checkpointer_log,
    )
    seconds = time.perf_counter() - started
    figures = {"reads": counts["GET"], "sends": counts["POST"], "seconds": seconds, "writes": counts["writes"]}
    print(json.dumps(figures))
    return 0 if summary.failed == 0 else 1


def _start(arguments: dict[str, Any], env: dict[str, str]) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bulk_retry", "--child", json.dumps(arguments)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("a bulk try did not start")
    return process


def _kill_when_confirmed(process: subprocess.Popen[str], store: Path, count: int) -> None:
    """SIGKILL ``process`` as soon as its checkpoint shows ``count`` recipients confirmed."""
    while process.poll() is None:
        try:
            record = json.loads(store.read_text())
        except (FileNotFoundError, ValueError):
            record = {}
        confirmed = sum(end - start for start, end in record.get("confirmed", []))
        if confirmed >= count:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _finish(process: subprocess.Popen[str]) -> TryCounts:
    output, _ = process.communicate(timeout=3600)
    if process.returncode != 0:
        raise RuntimeError(f"a bulk retry failed: {output[-2000:]}")
    figures = json.loads(output.strip().splitlines()[-1])
    return TryCounts(figures["reads"], figures["sends"], figures["seconds"], figures["writes"])


def _stored(control_url: str, prefix: str) -> Counter[str]:
    with urllib.request.urlopen(f"{control_url}/messages", timeout=600) as answer:  # noqa: S310 - loopback
        messages = json.load(answer)["data"]
    return Counter(m["content"] for m in messages if m["content"].startswith(prefix + " #"))


def _died_and_retried(
    *, base: dict[str, Any], env: dict[str, str], folder: Path, killed_at: float, checkpoint_on_retry: bool
) -> tuple[TryCounts, float]:
    """Try 1 killed at ``killed_at`` of the recipients, then a retry; returns the retry's counts and the time
    from try 1's start to the retry's end."""
    from datetime import UTC, datetime

    store = folder / f"{base['prefix'].lstrip('+')}.json"
    since = datetime.now(UTC).isoformat()
    first = _start({**base, "store": str(store), "since": ""}, env)
    started = time.perf_counter()
    _kill_when_confirmed(first, store, int(killed_at * base["recipients"]))
    retry = _start({**base, "store": str(store) if checkpoint_on_retry else "", "since": since}, env)
    counts = _finish(retry)
    return counts, time.perf_counter() - started


def retry_cost(
    *, recipients: int, killed_at: float, max_concurrency: int, cell: int, measure_lookups: bool = True
) -> RetryCost:
    """The retry's requests after a death at ``killed_at``, with the checkpoint and without (today's).

    :param measure_lookups: run the baseline too; without it, :attr:`RetryCost.lookups` is ``None``.
    """
    with simulator_process() as simulator, tempfile.TemporaryDirectory(prefix="kapso-bench-") as folder:
        env = _env(simulator.base_url, simulator.api_key)
        control_url = simulator.base_url.rsplit("/api/v1", 1)[0] + "/__kapso_simulator__"
        results = []
        for variant, with_checkpoint in ((0, True), (1, False))[: 2 if measure_lookups else 1]:
            prefix = f"+1{cell:02d}{variant}"
            base = {"prefix": prefix, "recipients": recipients, "max_concurrency": max_concurrency, "window": 60.0}
            counts, _ = _died_and_retried(
                base=base, env=env, folder=Path(folder), killed_at=killed_at, checkpoint_on_retry=with_checkpoint
            )
            stored = _stored(control_url, prefix)
            exact = len(stored) == recipients and set(stored.values()) == {1}
            results.append((counts, exact))
    checkpoint = results[0][0]
    return RetryCost(
        recipients=recipients,
        killed_at=killed_at,
        max_concurrency=max_concurrency,
        stored_before_retry=recipients - checkpoint.sends,
        checkpoint=checkpoint,
        lookups=results[1][0] if measure_lookups else None,
        exactly_once=all(exact for _, exact in results),
    )


def end_to_end(*, recipients: int, limit: int, window: float, killed_at: float, max_concurrency: int) -> EndToEnd:
    """A send of ``recipients`` under ``limit`` requests per ``window`` seconds, its worker killed once."""
    from kapso_provider.testing import KapsoSimulator

    with (
        KapsoSimulator(rate_limit=limit, rate_limit_window=window) as simulator,
        tempfile.TemporaryDirectory(prefix="kapso-bench-") as folder,
    ):
        env = _env(simulator.base_url, simulator.api_key)
        base = {"prefix": "+1999", "recipients": recipients, "max_concurrency": max_concurrency, "window": window}
        counts, seconds = _died_and_retried(
            base=base, env=env, folder=Path(folder), killed_at=killed_at, checkpoint_on_retry=True
        )
        stored = Counter(m["content"] for m in simulator.messages())
        simulator.reset()
        time.sleep(window)  # a fresh rate-limit window
        undisturbed = _finish(_start({**base, "store": "", "since": ""}, env))
    exact = len(stored) == recipients and set(stored.values()) == {1}
    return EndToEnd(recipients, limit, window, killed_at, seconds, counts, exact, undisturbed.seconds)


#: ``(recipients, killed at, measure today's lookups too)``. Today's retry reads every recipient back, and
#: the simulator finds a number's conversations by scanning them, so that baseline slows down with the list
#: in the simulator (not in Kapso): it is measured at 1,000 recipients and scaled by reads per recipient (two
#: for one sent to, one for one not) beyond.
FULL_CELLS: tuple[tuple[int, float, bool], ...] = (
    (1_000, 0.5, True),
    (1_000, 0.9, True),
    (10_000, 0.5, False),
    (10_000, 0.9, False),
    (100_000, 0.5, False),
    (100_000, 0.9, False),
)
QUICK_CELLS: tuple[tuple[int, float, bool], ...] = ((1_000, 0.5, True), (1_000, 0.9, True))


def section(*, quick: bool, max_concurrency: int) -> tuple[str, list[tuple[str, str, bool, str]]]:
    """The Markdown section of ``make bench`` and its targets ``(name, result, met, why not)``."""
    from benchmarks._common import table, verdict

    cells = QUICK_CELLS if quick else FULL_CELLS
    results: list[RetryCost] = []
    for cell, (recipients, killed_at, measure) in enumerate(cells):
        print(f"bulk retry: {recipients:,} recipients killed at {killed_at:.0%}", flush=True)
        results.append(
            retry_cost(
                recipients=recipients,
                killed_at=killed_at,
                max_concurrency=max_concurrency,
                cell=cell,
                measure_lookups=measure,
            )
        )
    rows = []
    for result in results:
        # Today's retry looks every recipient up: two reads for one sent to (its conversation, then its
        # messages), one for one not; then it sends what it did not find.
        stored, others = result.stored_before_retry, result.recipients - result.stored_before_retry
        computed = f"{2 * stored + others:,} / {others:,}"
        if result.lookups is not None:
            lookups = f"{result.lookups.reads:,} / {result.lookups.sends:,} ({result.lookups.seconds:.1f} s)"
        else:
            lookups = f"{computed} (computed)"
        rows.append(
            [
                f"{result.recipients:,}",
                f"{result.killed_at:.0%}",
                f"{result.stored_before_retry:,}",
                f"{result.checkpoint.reads} / {result.checkpoint.sends:,} ({result.checkpoint.seconds:.1f} s)",
                lookups,
                result.checkpoint.checkpoint_writes,
                "yes" if result.exactly_once else "**no**",
            ]
        )
    worst = max(result.checkpoint.reads for result in results)
    target = results[0].reads_target
    targets = [
        (
            f"bulk retry reads with the checkpoint <= max_concurrency + {READS_TARGET_MARGIN} ({target}), worst",
            str(worst),
            worst <= target,
            f"At most max_concurrency + 3 = {max_concurrency + 3} entries are open (admitted, not yet recorded) "
            "when the worker dies, and each is looked up; API v1 finds a message by phone number with two reads "
            "(the number's conversations, then the messages of each) when the message was stored, so the bound "
            f"in reads is {2 * (max_concurrency + 3)}.",
        ),
        (
            "bulk retry: every recipient exactly once (all sizes and kill points)",
            "yes" if all(result.exactly_once for result in results) else "no",
            all(result.exactly_once for result in results),
            "",
        ),
    ]
    print("bulk retry: 20,000 recipients at 1,000 requests per 6 s, killed at 90%" if not quick else "", flush=True)
    timed = end_to_end(
        recipients=2_000 if quick else 20_000,
        limit=1000,
        window=6.0,
        killed_at=0.9,
        max_concurrency=max_concurrency,
    )
    targets.append(
        (
            f"bulk send of {timed.recipients:,} with one worker death at 90%, time / ideal <= {END_TO_END_TARGET}",
            f"{timed.ratio:.3f}",
            timed.ratio <= END_TO_END_TARGET and timed.exactly_once,
            f"The same send without a death or a checkpoint took {timed.undisturbed_seconds / timed.ideal_seconds:.3f} "
            "of the ideal in the same run (the machine's share); the rest is the retry's start (imports, reading "
            "and checking every recipient again) and the pacer's 2% headroom under the limit.",
        )
    )
    retry_table = table(
        [
            "recipients",
            "killed at",
            "stored before the retry",
            "retry with the checkpoint: reads / sends (time)",
            "retry with today's lookups: reads / sends (time)",
            "checkpoint writes of the retry",
            "each exactly once",
        ],
        ["r", "r", "r", "r", "r", "r", "l"],
        rows,
    )
    text = f"""## Bulk send retries

### Requests on the retry after a worker death

Each try of a bulk send runs in a process of its own (the operator's machinery, `max_concurrency`
{max_concurrency}) against the simulator in another process (no latency, no rate limit), with its checkpoint in
a file replaced and fsync'ed on every write, as a database commit is durable. The worker's death is a `SIGKILL`
sent as soon as the checkpoint shows the given share of the recipients confirmed; the retry then runs to the
end and counts its own requests. Baseline: the same death, then a retry without a checkpoint, which looks every
recipient up before sending (the provider's behaviour before the checkpoint), measured at 1,000 recipients;
beyond, it is computed from the recipients stored before the retry (two reads for each, one for each other
recipient, then a send for each other), which the measured rows match within the recipients in flight at the
death. (The simulator finds a number's conversations by scanning them all, so that baseline slows down with
the list there, not in Kapso.) Every message the simulator
stored is read back: each recipient got exactly one. Fresh numbers: a recipient that was never sent to has no
conversation yet, so its lookup is one read; one that was, two.

{retry_table}

Target: reads on a retry at most `max_concurrency` + {READS_TARGET_MARGIN} ({target}). Worst result: {worst},
target {verdict(worst <= target)}. The retry reads Kapso only for the entries the checkpoint shows neither
confirmed nor failed below its horizon: at most `max_concurrency` + 3 = {max_concurrency + 3} entries, whatever
the list's length; each costs one read, or two when its message was stored (API v1 has no read of a message by
recipient: the number's conversations, then their messages).

### One worker death in a send at the rate limit

{timed.recipients:,} recipients, the simulator limited to {timed.limit:,} requests per {timed.window:g}-second
window (in the benchmark's own process), the worker killed when the checkpoint shows 90% confirmed; timed from
the first try's first request to the retry's last answer, the retry's start (imports, reading and checking the
list again) included. Ideal: {timed.recipients:,} sends at the limit, {timed.ideal_seconds:.1f} s.

| measured s | ideal s | ratio | retry reads / sends | checkpoint writes of the retry | each exactly once |
| ---: | ---: | ---: | ---: | ---: | --- |
| {timed.seconds:.1f} | {timed.ideal_seconds:.1f} | {timed.ratio:.3f} | {timed.retry.reads} / {timed.retry.sends:,} | \
{timed.retry.checkpoint_writes} | {"yes" if timed.exactly_once else "**no**"} |

The same send without a death and without a checkpoint, one try in the same run (what this machine reaches at
that limit, its start excluded): {timed.undisturbed_seconds:.1f} s, \
{timed.undisturbed_seconds / timed.ideal_seconds:.3f} of the ideal.

Target: within {END_TO_END_TARGET - 1:.0%} of the ideal. Result: {timed.ratio:.3f}, target
{verdict(timed.ratio <= END_TO_END_TARGET)}.
"""
    return text, targets


def _env(base_url: str, api_key: str) -> dict[str, str]:
    connection = {"conn_type": "kapso", "host": base_url, "password": api_key}
    return {**os.environ, "AIRFLOW_CONN_KAPSO_DEFAULT": json.dumps(connection), "PYTHONPATH": str(REPO_ROOT)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--killed-at", type=float, default=0.9)
    args = parser.parse_args()
    if args.child:
        return _child(json.loads(args.child))
    print(retry_cost(recipients=args.recipients, killed_at=args.killed_at, max_concurrency=16, cell=0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
