"""Bulk send benchmarks: throughput against one-after-another sends, pacing at a binding limit, memory.

Each scenario runs the bulk machinery the operator runs (:func:`kapso_provider.bulk.check_all`, then
:class:`kapso_provider.bulk.BulkSender` with the operator's default concurrency) against the local
simulator on 127.0.0.1, which answers after a fixed latency and enforces a rate limit the way Kapso
documents it. Memory is measured in a child process that sends from a JSON-lines file, so the simulator's
own store (in this process) is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ThroughputResult:
    messages: int
    latency: float
    limit_per_minute: int
    sequential_seconds: float
    bulk_seconds: float
    bulk_rate_limited_requests: int
    max_concurrency: int

    @property
    def ratio(self) -> float:
        return self.sequential_seconds / self.bulk_seconds


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
    from kapso_provider.bulk import BulkSender, MessageDesign, check_all, listed_items, recipients_from
    from kapso_provider.hooks.kapso import KapsoHook

    defaults: dict[str, str | None] = {"whatsapp_config_id": None, "customer_id": None}
    design = MessageDesign({"content": "Bulk message ${n}"})
    started = time.perf_counter()
    total = check_all(listed_items(items), design=design, recipient_field="phone_number", defaults=defaults)
    sender = BulkSender(hook=KapsoHook(), design=design, progress_interval=3600, **sender_arguments)
    summary = sender.run(
        recipients_from(listed_items(items), recipient_field="phone_number", defaults=defaults), total=total
    )
    elapsed = time.perf_counter() - started
    if summary.sent != len(items):
        raise RuntimeError(f"bulk send delivered {summary.sent} of {len(items)}: {summary.failures[:3]}")
    return elapsed, summary


def throughput(*, messages: int, latency: float, limit_per_minute: int, max_concurrency: int) -> ThroughputResult:
    """The same messages sent one after another with the hook, then with the bulk sender."""
    from kapso_provider.hooks.kapso import KapsoHook
    from kapso_provider.testing import KapsoSimulator

    numbers = _numbers(messages)
    with KapsoSimulator(latency=latency, rate_limit=limit_per_minute, rate_limit_window=60.0) as simulator:
        _connect(simulator)
        hook = KapsoHook()
        started = time.perf_counter()
        for n, number in enumerate(numbers):
            hook.send_message({"content": f"Bulk message {n}"}, phone_number=number)
        sequential = time.perf_counter() - started
        hook.close()
        simulator.reset()  # a fresh rate-limit window and an empty store for the bulk run
        bulk, _ = _bulk_send(
            [{"phone_number": number, "n": n} for n, number in enumerate(numbers)], max_concurrency=max_concurrency
        )
        limited = _posts(simulator) - len(simulator.messages())
    return ThroughputResult(messages, latency, limit_per_minute, sequential, bulk, limited, max_concurrency)


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
from kapso_provider.bulk import BulkSender, MessageDesign, check_all, iter_recipients_file, recipients_from
from kapso_provider.hooks.kapso import KapsoHook

def status_kib(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)

path, concurrency = sys.argv[1], int(sys.argv[2])
defaults = {"whatsapp_config_id": None, "customer_id": None}
design = MessageDesign({"content": "Bulk message ${n}"})
hook = KapsoHook()
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

    The recipients cycle over ``distinct_numbers`` phone numbers: the simulator finds a number's
    conversation by scanning, and the sender's memory does not depend on how many numbers are distinct.
    """
    from kapso_provider.testing import KapsoSimulator

    with tempfile.TemporaryDirectory(prefix="kapso-bench-") as folder:
        path = Path(folder) / "recipients.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for n, number in enumerate(_numbers(recipients, distinct_numbers)):
                handle.write(json.dumps({"phone_number": number, "n": n}) + "\n")
        with KapsoSimulator() as simulator:
            _connect(simulator)
            completed = subprocess.run(
                [sys.executable, "-c", _MEMORY_CHILD, str(path), str(max_concurrency)],
                capture_output=True,
                text=True,
                env=os.environ.copy(),
                check=False,
            )
    if completed.returncode != 0:
        raise RuntimeError(f"memory child failed:\n{completed.stderr[-3000:]}")
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    return MemoryResult(recipients, figures["peak"], figures["before"], figures["seconds"], figures["summary_bytes"])


def default_max_concurrency() -> int:
    """The operator's own default, read from its signature so the benchmark follows it."""
    import inspect

    from kapso_provider.operators.kapso import KapsoBulkSendMessageOperator

    default: int = inspect.signature(KapsoBulkSendMessageOperator.__init__).parameters["max_concurrency"].default
    return default


def main() -> int:
    concurrency = default_max_concurrency()

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--recipients", type=int, default=100_000)
    args = parser.parse_args()
    print(throughput(messages=args.messages, latency=0.2, limit_per_minute=6000, max_concurrency=concurrency))
    print(pacing(messages=args.messages, latency=0.2, limit_per_minute=600, max_concurrency=concurrency))
    print(memory(recipients=1000, max_concurrency=concurrency))
    print(memory(recipients=args.recipients, max_concurrency=concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
