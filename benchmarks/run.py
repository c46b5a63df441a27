"""``make bench``: what the provider costs its users, measured against baselines in the same run.

Never part of the test suite's pass or fail. Prints a table and rewrites ``docs/benchmarks.md``.

Measured:
- DAG-parse import cost of the operator module, each import in a fresh interpreter that has already
  imported Airflow's task SDK (what every DAG file has), against the http provider's operator.
- Bulk sends (``benchmarks/bulk.py``): throughput against the same messages sent one after another, the
  rate reached under a binding rate limit, and peak memory of 100,000 recipients against 1,000.
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import os
import platform
import statistics
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BASELINE = "airflow.providers.http.operators.http"
CANDIDATES = ("kapso_provider.operators.kapso",)
TARGET_RATIO = 0.25

_PROBE = """
import time
try:
    import airflow.sdk
except ImportError:  # Airflow 2.11
    import airflow.models.baseoperator
start = time.perf_counter()
import {module}
print(time.perf_counter() - start)
"""


def import_seconds(module: str, env: dict[str, str]) -> float:
    """Seconds to import ``module`` in a fresh interpreter after the task SDK is already loaded."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module=module)], capture_output=True, text=True, env=env, check=True
    )
    return float(result.stdout.strip().splitlines()[-1])


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def bulk_section(*, messages: int, pacing_messages: int, recipients: int) -> str:
    """Run the bulk benchmarks and return their part of the page."""
    from benchmarks.bulk import default_max_concurrency, memory, pacing, throughput

    concurrency = default_max_concurrency()
    print(f"bulk: {messages} messages one after another, then in bulk (about {messages * 0.2 + 15:.0f} s)")
    speed = throughput(messages=messages, latency=0.2, limit_per_minute=6000, max_concurrency=concurrency)
    print(f"bulk: {pacing_messages} messages under a 600/min limit (about {pacing_messages / 10 + 5:.0f} s)")
    paced = pacing(messages=pacing_messages, latency=0.2, limit_per_minute=600, max_concurrency=concurrency)
    print(f"bulk: memory of 1,000 and {recipients:,} recipients")
    small = memory(recipients=1000, max_concurrency=concurrency)
    large = memory(recipients=recipients, max_concurrency=concurrency)
    small_growth = small.peak_rss_kib - small.rss_before_kib
    large_growth = large.peak_rss_kib - large.rss_before_kib

    speed_verdict = "met" if speed.ratio >= 8 else "NOT met"
    pace_verdict = "met" if paced.share_of_limit >= 0.9 and paced.rate_limited_requests <= 5 else "NOT met"
    print(
        f"bulk throughput ratio {speed.ratio:.1f} ({speed_verdict}); share of limit {paced.share_of_limit:.3f} "
        f"with {paced.rate_limited_requests} 429s ({pace_verdict}); memory growth {small_growth} KiB vs "
        f"{large_growth} KiB"
    )
    per_minute_sequential = 60 * speed.messages / speed.sequential_seconds
    per_minute_bulk = 60 * speed.messages / speed.bulk_seconds
    speed_rows = "\n".join(
        [
            _row("one after another", f"{speed.sequential_seconds:.1f}", f"{per_minute_sequential:,.0f}", "1.00"),
            _row("bulk", f"{speed.bulk_seconds:.1f}", f"{per_minute_bulk:,.0f}", f"{speed.ratio:.2f}"),
        ]
    )
    pace_row = _row(
        paced.limit_per_minute,
        f"{paced.seconds:.1f}",
        f"{paced.per_minute:.1f}",
        f"{paced.share_of_limit:.3f}",
        paced.rate_limited_requests,
    )
    memory_rows = "\n".join(
        _row(
            f"{run.recipients:,}",
            f"{run.seconds:.1f}",
            f"{run.rss_before_kib / 1024:.1f}",
            f"{run.peak_rss_kib / 1024:.1f}",
            f"{(run.peak_rss_kib - run.rss_before_kib) / 1024:.1f}",
            f"{run.summary_bytes:,}",
        )
        for run in (small, large)
    )
    return f"""## Bulk sends

`KapsoBulkSendMessageOperator`'s machinery (check every recipient, then send with the operator's default
`max_concurrency` of {concurrency}) against the simulator on 127.0.0.1.

### Throughput against one-after-another sends

{speed.messages:,} text messages, each answered after {speed.latency * 1000:.0f} ms, under a limit of
{speed.limit_per_minute:,} requests per minute. Baseline: the same messages sent one after another with
`KapsoHook.send_message` in a loop, in the same run.

| way of sending | seconds | messages per minute | ratio to one after another |
| --- | ---: | ---: | ---: |
{speed_rows}

Target: at least 8 times the throughput. Result: {speed.ratio:.1f} times, target {speed_verdict}
({speed.bulk_rate_limited_requests} requests met a 429).

### Pacing under a binding limit

{paced.messages:,} messages under a limit of {paced.limit_per_minute} requests per minute (latency
{paced.latency * 1000:.0f} ms): the bulk sender has to run at the limit, not into it.

| limit per minute | seconds | messages per minute over the run | share of the limit | requests that met a 429 |
| ---: | ---: | ---: | ---: | ---: |
{pace_row}

Target: at least 0.9 of the limit with no more than a handful of 429s. Result: {paced.share_of_limit:.3f}
with {paced.rate_limited_requests}, target {pace_verdict}. The sender spaces requests at 98% of the limit
it learns from Kapso's `X-RateLimit-*` headers, after one probe request.

### Memory against the number of recipients

A child process sends from a JSON-lines file (read line by line, twice: check, then send); its peak
resident memory is reset after imports (Linux `clear_refs`) so the figures belong to the send alone.
The recipients cycle over 100 phone numbers (the simulator finds conversations by scanning); every
recipient has its own placeholder value, so every message is built and checked separately.

| recipients | seconds | resident before, MiB | peak during the send, MiB | growth, MiB | XCom summary, bytes |
| ---: | ---: | ---: | ---: | ---: | ---: |
{memory_rows}

Peak during the send, {large.recipients:,} against 1,000 recipients: {large.peak_rss_kib / small.peak_rss_kib:.3f}.
The 1,000-recipient summary is larger because runs of up to 1,000 recipients keep every message id.
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="fresh processes per module (default 15)")
    parser.add_argument("--messages", type=int, default=1000, help="messages in the bulk throughput run")
    parser.add_argument("--pacing-messages", type=int, default=600, help="messages in the binding-limit run")
    parser.add_argument("--recipients", type=int, default=100_000, help="recipients in the large memory run")
    parser.add_argument("--skip-bulk", action="store_true", help="only the import benchmark")
    args = parser.parse_args()

    home = REPO_ROOT / ".demo" / "bench-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    modules = (BASELINE, *CANDIDATES)
    samples: dict[str, list[float]] = {module: [] for module in modules}
    # An installed provider has its bytecode compiled, like the http provider in site-packages; this
    # checkout's editable sources would otherwise be compiled on every import (PYTHONDONTWRITEBYTECODE is set
    # on these machines), which is a cost no user pays.
    compileall.compile_dir(str(REPO_ROOT / "kapso_provider"), quiet=1)
    import_seconds(BASELINE, env)  # warm the OS file cache so the first sample is not an outlier
    for _ in range(args.repeat):
        # Interleaved, so drift on a busy machine hits every module alike.
        for module in modules:
            samples[module].append(import_seconds(module, env))

    baseline_median = statistics.median(samples[BASELINE])
    rows = []
    for module in modules:
        values = samples[module]
        median = statistics.median(values)
        rows.append(
            f"| `{module}` | {median * 1000:.1f} | {min(values) * 1000:.1f} | {max(values) * 1000:.1f} "
            f"| {median / baseline_median:.3f} |"
        )
    ratio = statistics.median(samples[CANDIDATES[0]]) / baseline_median
    verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
    table = "\n".join(
        [
            "| module imported after the task SDK | median ms | min ms | max ms | ratio to http operator |",
            "| --- | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )
    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, Airflow {version('apache-airflow')}, "
        f"{platform.machine()}"
    )
    bulk = (
        ""
        if args.skip_bulk
        else bulk_section(messages=args.messages, pacing_messages=args.pacing_messages, recipients=args.recipients)
    )
    page = f"""# Benchmarks

Figures from `make bench` on {dt.date.today().isoformat()}; machine: {machine}.

## DAG-parse cost of the operator module

Every DAG file that uses the provider imports its operator module on every parse. The probe imports
Airflow's task SDK first (as any DAG file does), then times only the module's own import; each figure
is one import in a fresh interpreter, {args.repeat} interleaved runs per module, from compiled bytecode as for
an installed package.

{table}

Target: at most {TARGET_RATIO} of the http operator's cost. Result: {ratio:.3f}, target {verdict}.

{bulk}
Reproduce: `make bench` (or `.venv/bin/python -m benchmarks.run --repeat 15`).
"""
    print(table)
    print(f"ratio {ratio:.3f} (target <= {TARGET_RATIO}: {verdict})")
    (REPO_ROOT / "docs" / "benchmarks.md").write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
