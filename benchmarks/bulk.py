"""Bulk send benchmarks: throughput by latency against one-after-another sends and the rate-limit ceiling,
pacing at a binding limit, peak memory by number of recipients.

Each scenario runs the bulk machinery the operator runs (:func:`kapso_provider.services.bulk_input.check_all`, then
:class:`kapso_provider.services.bulk.BulkSender` with the operator's default concurrency) against the local
simulator on 127.0.0.1, which answers after a fixed latency and enforces a rate limit the way Kapso
documents it. Memory is measured in child processes that send from a JSON-lines file to a simulator in a
process of its own, so the simulator's store is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks._common import Summary, simulator_process

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class ThroughputResult:
    """Messages per minute over repeated runs at one latency: one after another, and in bulk."""

    latency: float
    limit_per_minute: int
    max_concurrency: int
    sequential_messages: int
    bulk_messages: int
    sequential_per_minute: Summary
    bulk_per_minute: Summary
    bulk_rate_limited_requests: int

    @property
    def ratio(self) -> float:
        return self.bulk_per_minute.median / self.sequential_per_minute.median

    @property
    def share_of_limit(self) -> Summary:
        return self.bulk_per_minute.scaled(1 / self.limit_per_minute)


@dataclass(frozen=True)
class PacingResult:
    messages: int
    latency: float
    limit_per_minute: int
    seconds: float
    rate_limited_requests: int

    @property
    def per_minute(self) -> float:
        return 60.0 * self.messages / self.seconds

    @property
    def share_of_limit(self) -> float:
        return self.per_minute / self.limit_per_minute


@dataclass(frozen=True)
class MemoryResult:
    recipients: int
    peak_rss_kib: int
    rss_before_kib: int
    seconds: float
    summary_bytes: int


def _connect(simulator: Any) -> None:
    os.environ["AIRFLOW_CONN_KAPSO_DEFAULT"] = json.dumps(
        {"conn_type": "kapso", "host": simulator.base_url, "password": simulator.api_key}
    )


def _numbers(count: int, distinct: int | None = None) -> list[str]:
    return [f"+1555{(n % (distinct or count)):07d}" for n in range(count)]


def _posts(simulator: Any) -> int:
    return sum(1 for r in simulator.requests if r.method == "POST" and r.path == "/whatsapp_messages")


def _bulk_send(items: list[dict[str, Any]], **sender_arguments: Any) -> tuple[float, Any]:
    from kapso_provider.services.bulk import (
        BulkSender,
        MessageDesign,
        bulk_hook,
        check_all,
        listed_items,
        recipients_from,
    )

    defaults: dict[str, str | None] = {"whatsapp_config_id": None, "customer_id": None}
    design = MessageDesign({"content": "Bulk message ${n}"})
    started = time.perf_counter()
    total = check_all(listed_items(items), design=design, recipient_field="phone_number", defaults=defaults)
    sender = BulkSender(hook=bulk_hook("kapso_default"), design=design, progress_interval=3600, **sender_arguments)
    summary = sender.run(
        recipients_from(listed_items(items), recipient_field="phone_number", defaults=defaults), total=total
    )
    elapsed = time.perf_counter() - started
    if summary.sent != len(items):
        raise RuntimeError(f"bulk send delivered {summary.sent} of {len(items)}: {summary.failures[:3]}")
    return elapsed, summary


def throughput(
    *,
    latency: float,
    sequential_messages: int,
    bulk_messages: int,
    repeat: int,
    limit_per_minute: int,
    max_concurrency: int,
) -> ThroughputResult:
    """Alternating runs: messages sent one after another with the hook, then the bulk sender's run.

    The baseline sends fewer messages than the bulk run (one after another at 500 ms, 1,000 messages
    would take over 8 minutes); rates, not durations, are compared.
    """
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator

    sequential: list[float] = []
    bulk: list[float] = []
    limited = 0
    with KapsoSimulator(latency=latency, rate_limit=limit_per_minute, rate_limit_window=60.0) as simulator:
        _connect(simulator)
        for _ in range(repeat):
            hook = KapsoHook()
            started = time.perf_counter()
            for n, number in enumerate(_numbers(sequential_messages)):
                hook.send_message({"content": f"Bulk message {n}"}, phone_number=number)
            sequential.append(60 * sequential_messages / (time.perf_counter() - started))
            hook.close()
            simulator.reset()  # a fresh rate-limit window and an empty store for every run
            seconds, _ = _bulk_send(
                [{"phone_number": number, "n": n} for n, number in enumerate(_numbers(bulk_messages))],
                max_concurrency=max_concurrency,
            )
            bulk.append(60 * bulk_messages / seconds)
            limited += _posts(simulator) - len(simulator.messages())
            simulator.reset()
    return ThroughputResult(
        latency=latency,
        limit_per_minute=limit_per_minute,
        max_concurrency=max_concurrency,
        sequential_messages=sequential_messages,
        bulk_messages=bulk_messages,
        sequential_per_minute=Summary.of(sequential),
        bulk_per_minute=Summary.of(bulk),
        bulk_rate_limited_requests=limited,
    )


def pacing(*, messages: int, latency: float, limit_per_minute: int, max_concurrency: int) -> PacingResult:
    """A bulk send under a limit that binds: the rate reached over the whole run and the 429s met."""
    from kapso_provider.testing import KapsoSimulator

    numbers = _numbers(messages)
    with KapsoSimulator(latency=latency, rate_limit=limit_per_minute, rate_limit_window=60.0) as simulator:
        _connect(simulator)
        seconds, _ = _bulk_send(
            [{"phone_number": number, "n": n} for n, number in enumerate(numbers)], max_concurrency=max_concurrency
        )
        limited = _posts(simulator) - len(simulator.messages())
    return PacingResult(messages, latency, limit_per_minute, seconds, limited)


_MEMORY_CHILD = """
import json, sys, time
from kapso_provider.services.bulk import BulkSender, MessageDesign, bulk_hook, check_all, recipients_from
from kapso_provider.services.bulk_input import iter_recipients_file

def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)

path, concurrency = sys.argv[1], int(sys.argv[2])
defaults = {"whatsapp_config_id": None, "customer_id": None}
design = MessageDesign({"content": "Bulk message ${n}"})
hook = bulk_hook("kapso_default")
hook.settings  # read the connection before measuring
# Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current resident size, so the peak read
# at the end belongs to the bulk send alone, not to the imports before it.
with open("/proc/self/clear_refs", "w") as handle:
    handle.write("5")
before = status_kib("VmRSS")
started = time.perf_counter()
total = check_all(iter_recipients_file(path), design=design, recipient_field="phone_number", defaults=defaults)
summary = BulkSender(hook=hook, design=design, max_concurrency=concurrency, progress_interval=3600).run(
    recipients_from(iter_recipients_file(path), recipient_field="phone_number", defaults=defaults), total=total
)
seconds = time.perf_counter() - started
result = summary.to_json()
assert result["sent"] == total, result
print(json.dumps({"before": before, "peak": status_kib("VmHWM"), "seconds": seconds,
                  "summary_bytes": len(json.dumps(result))}))
"""


def memory(*, recipients: int, max_concurrency: int, distinct_numbers: int = 100) -> MemoryResult:
    """Peak resident memory of a child process sending to ``recipients`` recipients from a file.

    The recipients cycle over ``distinct_numbers`` phone numbers: the sender's memory does not depend on
    how many numbers are distinct, and the simulator's store stays small.
    """
    with tempfile.TemporaryDirectory(prefix="kapso-bench-") as folder:
        path = Path(folder) / "recipients.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for n, number in enumerate(_numbers(recipients, distinct_numbers)):
                handle.write(json.dumps({"phone_number": number, "n": n}) + "\n")
        # The simulator gets a process of its own: memory runs go side by side, and each needs its CPU.
        with simulator_process() as simulator:
            env = {
                **os.environ,
                "AIRFLOW_CONN_KAPSO_DEFAULT": json.dumps(
                    {"conn_type": "kapso", "host": simulator.base_url, "password": simulator.api_key}
                ),
            }
            completed = subprocess.run(
                [sys.executable, "-c", _MEMORY_CHILD, str(path), str(max_concurrency)],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
    if completed.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{completed.stderr[-3000:]}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return MemoryResult(recipients, figures["peak"], figures["before"], figures["seconds"], figures["summary_bytes"])


@dataclass(frozen=True)
class MemorySeries:
    """Repeated memory runs at one number of recipients."""

    recipients: int
    runs: tuple[MemoryResult, ...]

    @property
    def peak_mib(self) -> Summary:
        return Summary.of([run.peak_rss_kib / 1024 for run in self.runs])

    @property
    def growth_mib(self) -> Summary:
        return Summary.of([(run.peak_rss_kib - run.rss_before_kib) / 1024 for run in self.runs])

    @property
    def seconds(self) -> Summary:
        return Summary.of([run.seconds for run in self.runs])

    @property
    def summary_bytes(self) -> int:
        return max(run.summary_bytes for run in self.runs)


def memory_campaign(*, sizes: Sequence[tuple[int, int]], max_concurrency: int) -> list[MemorySeries]:
    """Memory runs of every ``(recipients, repeat)`` in ``sizes``, in two lanes side by side.

    Peak memory does not depend on speed, so the largest size runs in one lane while every smaller one
    runs in the other; the whole campaign then takes about as long as the largest run alone.
    """
    ordered = sorted(sizes)
    largest, smaller = ordered[-1], ordered[:-1]

    def lane(plan: Sequence[tuple[int, int]]) -> list[MemorySeries]:
        return [
            MemorySeries(
                recipients,
                tuple(memory(recipients=recipients, max_concurrency=max_concurrency) for _ in range(repeat)),
            )
            for recipients, repeat in plan
        ]

    with ThreadPoolExecutor(max_workers=2) as pool:
        big = pool.submit(lane, [largest])
        small = pool.submit(lane, smaller)
        return [*small.result(), *big.result()]


def default_max_concurrency() -> int:
    """The operator's own default, read from its signature so the benchmark follows it."""
    import inspect

    from kapso_provider.operators.kapso import KapsoBulkSendMessageOperator

    default: int = inspect.signature(KapsoBulkSendMessageOperator.__init__).parameters["max_concurrency"].default
    return default


def main() -> int:
    concurrency = default_max_concurrency()

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    print(
        throughput(
            latency=args.latency,
            sequential_messages=20,
            bulk_messages=args.messages,
            repeat=1,
            limit_per_minute=6000,
            max_concurrency=concurrency,
        )
    )
    print(pacing(messages=args.messages, latency=args.latency, limit_per_minute=600, max_concurrency=concurrency))
    print(memory(recipients=args.recipients, max_concurrency=concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
