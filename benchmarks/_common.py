"""Shared pieces of the benchmarks: summaries over repeated runs, table rows, a simulator in its own process."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Summary:
    """Median, min and max of repeated samples (of whatever unit the caller uses)."""

    samples: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("no samples")
        return cls(tuple(values))

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    @property
    def runs(self) -> int:
        return len(self.samples)

    def scaled(self, factor: float) -> Summary:
        return Summary(tuple(value * factor for value in self.samples))

    def cells(self, fmt: str = "{:.1f}") -> list[str]:
        return [fmt.format(self.median), fmt.format(self.min), fmt.format(self.max)]


def child_env(**settings: str) -> dict[str, str]:
    """This process's environment for a child Python: no Airflow settings or connections of ours, the
    repository importable, plus ``settings``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("AIRFLOW")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    return {**env, **settings}


def run_module(module: str, *args: str, env: dict[str, str], what: str) -> str:
    """Run ``python -m module args`` from the repository to its end; its standard output.

    :param what: what it does, for the error when it fails.
    """
    done = subprocess.run(
        [sys.executable, "-m", module, *args], env=env, cwd=REPO_ROOT, capture_output=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {done.stderr.decode()[-3000:]}")
    return done.stdout.decode()


def row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def table(header: Sequence[str], align: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; ``align`` holds ``l`` or ``r`` per column."""
    rule = ["---" if side == "l" else "---:" for side in align]
    return "\n".join([row(*header), row(*rule), *(row(*cells) for cells in rows)])


def verdict(met: bool) -> str:
    return "met" if met else "**NOT met**"


@dataclass(frozen=True)
class RemoteSimulator:
    base_url: str
    api_key: str


@contextmanager
def simulator_process(*, api_key: str = "bench-api-key", latency: float = 0.0) -> Iterator[RemoteSimulator]:
    """The simulator in a process of its own, so its work does not share the measured process's GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kapso_provider.testing", "--api-key", api_key, "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first.startswith("Kapso simulator serving "):
            raise RuntimeError(f"the simulator did not start: {first!r}")
        yield RemoteSimulator(base_url=first.split()[-1], api_key=api_key)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
