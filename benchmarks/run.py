"""``make bench``: what the provider costs its users, measured against baselines in the same run.

Never part of the test suite's pass or fail. Prints a table and rewrites ``docs/benchmarks.md``.

Measured now: DAG-parse import cost of the operator module, each import in a fresh interpreter that
has already imported Airflow's task SDK (what every DAG file has), against the http provider's operator.
"""

from __future__ import annotations

import argparse
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="fresh processes per module (default 15)")
    args = parser.parse_args()

    home = REPO_ROOT / ".demo" / "bench-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    modules = (BASELINE, *CANDIDATES)
    samples: dict[str, list[float]] = {module: [] for module in modules}
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
    page = f"""# Benchmarks

Figures from `make bench` on {dt.date.today().isoformat()}; machine: {machine}.
Each figure is one import in a fresh interpreter, {args.repeat} interleaved runs per module.

## DAG-parse cost of the operator module

Every DAG file that uses the provider imports its operator module on every parse. The probe imports
Airflow's task SDK first (as any DAG file does), then times only the module's own import.

{table}

Target: at most {TARGET_RATIO} of the http operator's cost. Result: {ratio:.3f}, target {verdict}.

Reproduce: `make bench` (or `.venv/bin/python benchmarks/run.py --repeat 15`).
"""
    print(table)
    print(f"ratio {ratio:.3f} (target <= {TARGET_RATIO}: {verdict})")
    (REPO_ROOT / "docs" / "benchmarks.md").write_text(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
