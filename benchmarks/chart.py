"""The bulk throughput chart: messages per minute by latency, bulk against sequential sends and the ceiling."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks._common import Summary
    from benchmarks.bulk import ThroughputResult


def bulk_chart(results: list[ThroughputResult], path: Path) -> None:
    """Grouped bars (median, with min-max whiskers) per latency and the rate limit as a line; log scale."""
    # matplotlib is a benchmark-only dependency: imported here so nothing else in the package needs it.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{result.latency * 1000:.0f} ms" for result in results]
    positions = list(range(len(results)))
    width = 0.38

    def bars(summaries: list[Summary], offset: float, label: str, colour: str) -> None:
        medians = [summary.median for summary in summaries]
        below = [summary.median - summary.min for summary in summaries]
        above = [summary.max - summary.median for summary in summaries]
        xs = [x + offset for x in positions]
        axes.bar(xs, medians, width, label=label, color=colour, yerr=[below, above], capsize=4)
        # The label sits above the whisker, not on it.
        for x, value, top in zip(xs, medians, [summary.max for summary in summaries], strict=True):
            axes.annotate(
                f"{value:,.0f}",
                (x, top),
                ha="center",
                va="bottom",
                fontsize=8,
                xytext=(0, 3),
                textcoords="offset points",
            )

    figure, axes = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    bars([result.sequential_per_minute for result in results], -width / 2, "one after another", "#9aa5b1")
    bars([result.bulk_per_minute for result in results], width / 2, "bulk operator", "#2b7a4b")
    limit = results[0].limit_per_minute
    axes.axhline(limit, color="#c0392b", linestyle="--", linewidth=1.2, label=f"rate limit ({limit:,}/min)")
    axes.set_yscale("log")
    axes.set_xticks(positions, labels)
    axes.set_xlabel("simulated Kapso latency per request")
    axes.set_ylabel("messages per minute (log scale)")
    axes.set_title(f"Bulk send throughput (max_concurrency={results[0].max_concurrency})")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=8, frameon=False)
    axes.grid(axis="y", which="both", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # No timestamp in the PNG's metadata, so an unchanged chart makes an unchanged file.
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)
