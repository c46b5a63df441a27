"""One API key, many senders: bulk sends in separate processes against one rate limit.

Each sender is a process of its own running the bulk operator's machinery (:class:`~kapso_provider.services.bulk.
BulkSender` with its own :class:`~kapso_provider.pacing.RequestPacer`), as Celery workers or tasks would;
they share nothing but the API key. The simulator runs in this process and enforces the limit per key in
fixed windows, as Kapso documents it. Measured over whole windows from the first request: the messages
Kapso accepted against what the windows allow, and the requests answered 429.

``python -m benchmarks.shared_key --senders 4`` runs one configuration and prints it; the child side is
``python -m benchmarks.shared_key --child ...`` (started by :func:`shared_key`, not by hand).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from benchmarks._common import REPO_ROOT

LATENCY = 0.05
CONCURRENCY = 4
SENDERS = (1, 2, 4, 8)
# From the one-key issue: together at least 90% of the limit, at most 1% of requests answered 429.
SHARE_TARGET = 0.9
RATE_LIMITED_TARGET = 0.01


@dataclass(frozen=True)
class SharedKeyResult:
    """What N senders on one key achieved over ``windows`` whole rate-limit windows."""

    senders: int
    limit: int
    window: float
    windows: int
    latency: float
    accepted: int
    rate_limited: int
    per_sender: tuple[int, ...]

    @property
    def share_of_limit(self) -> float:
        """Messages accepted against the most the windows allow."""
        return self.accepted / (self.limit * self.windows)

    @property
    def rate_limited_share(self) -> float:
        """Requests answered 429 among all requests sent."""
        total = self.accepted + self.rate_limited
        return self.rate_limited / total if total else 0.0

    def __str__(self) -> str:
        return (
            f"{self.senders} sender(s), {self.limit} per {self.window:g} s over {self.windows} windows: "
            f"{self.accepted} accepted ({self.share_of_limit:.3f} of the limit), {self.rate_limited} answered 429 "
            f"({self.rate_limited_share:.2%}); per sender {list(self.per_sender)}"
        )


def _child_command(index: int, *, base_url: str, api_key: str, window: float, messages: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.shared_key",
        "--child",
        "--index",
        str(index),
        "--window",
        str(window),
        "--messages",
        str(messages),
        "--base-url",
        base_url,
        "--api-key",
        api_key,
    ]


def shared_key(
    *, senders: int, limit: int, window: float, windows: int = 3, latency: float = LATENCY
) -> SharedKeyResult:
    """Start ``senders`` bulk-sending processes at once on one key and count over ``windows`` windows.

    :param senders: sender processes.
    :param limit: requests the simulator allows per key and window.
    :param window: the window's seconds.
    :param windows: whole windows counted from the first request.
    :param latency: seconds the simulator waits before each answer.
    """
    from kapso_provider.testing import KapsoSimulator

    # More than the windows can take, so that every sender is still sending when the count is taken.
    messages = 2 * limit * windows // senders + 10
    with KapsoSimulator(latency=latency, rate_limit=limit, rate_limit_window=window) as simulator:
        env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_CONN_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        children = [
            subprocess.Popen(
                _child_command(
                    index, base_url=simulator.base_url, api_key=simulator.api_key, window=window, messages=messages
                ),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
                cwd=REPO_ROOT,
            )
            for index in range(senders)
        ]
        try:
            # Every child imports Airflow first; the sends start together once all are ready.
            for child in children:
                assert child.stdout is not None
                # Airflow 2.x logs "Retrieving connection" to stdout before the child says it is ready.
                line = child.stdout.readline()
                while line and line.strip() != "ready":
                    line = child.stdout.readline()
                if line.strip() != "ready":
                    raise RuntimeError(f"a sender did not start (exit code {child.poll()})")
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            while not simulator.requests:
                time.sleep(0.01)
            cutoff = simulator.requests[0].received_at + windows * window
            # A little past the cutoff, so that every request received before it has its answer.
            time.sleep(max(0.0, cutoff + 2 * latency + 0.5 - time.time()))
            accepted, rate_limited, per_sender = _count(simulator, cutoff, senders)
        finally:
            # Senders stopped mid-request make the simulator's server threads print the reset connections.
            with contextlib.redirect_stderr(io.StringIO()):
                for child in children:
                    child.terminate()
                for child in children:
                    child.wait(timeout=30)
                    for stream in (child.stdin, child.stdout):
                        if stream is not None:
                            stream.close()
                simulator.stop()
    return SharedKeyResult(
        senders=senders,
        limit=limit,
        window=window,
        windows=windows,
        latency=latency,
        accepted=accepted,
        rate_limited=rate_limited,
        per_sender=per_sender,
    )


def _count(simulator: Any, cutoff: float, senders: int) -> tuple[int, int, tuple[int, ...]]:
    """Sends received before ``cutoff``: accepted, answered 429, and accepted per sender.

    A recipient's sends are its first tries answered 429 and, last, the one Kapso stored (numbers are
    unique per message); a stored message whose last try came after the cutoff counts for nothing.
    """
    stored = {message["phone_number"] for message in simulator.messages()}
    tries: dict[str, list[float]] = {}
    for request in simulator.requests:
        if request.method == "POST" and request.path == "/whatsapp_messages":
            tries.setdefault(request.json["message"]["phone_number"], []).append(request.received_at)
    accepted: list[str] = []
    rate_limited = 0
    for number, times in tries.items():
        before = sum(1 for received in times if received < cutoff)
        if number in stored and max(times) < cutoff:
            accepted.append(number)
            rate_limited += before - 1
        else:
            rate_limited += before
    per_sender = tuple(sum(1 for number in accepted if number.startswith(f"+1555{i:02d}")) for i in range(senders))
    return len(accepted), rate_limited, per_sender


def _child(args: argparse.Namespace) -> int:
    os.environ["AIRFLOW_CONN_KAPSO_DEFAULT"] = json.dumps(
        {"conn_type": "kapso", "host": args.base_url, "password": args.api_key}
    )
    from kapso_provider.hooks.kapso import RetryPolicy
    from kapso_provider.services.bulk import BulkSender, MessageDesign, bulk_hook, listed_items, recipients_from

    defaults: dict[str, str | None] = {"whatsapp_config_id": None, "customer_id": None}
    design = MessageDesign({"content": "One key, many senders: message ${n}"})
    items = [{"phone_number": f"+1555{args.index:02d}{n:05d}", "n": n} for n in range(args.messages)]
    hook = bulk_hook("kapso_default", retry_policy=RetryPolicy(rate_limit_window=args.window))
    hook.settings  # noqa: B018 - reads the connection now, not in the timed part
    sender = BulkSender(hook=hook, design=design, max_concurrency=CONCURRENCY, progress_interval=3600)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    sender.run(
        recipients_from(listed_items(items), recipient_field="phone_number", defaults=defaults), total=len(items)
    )
    return 0


def meets_targets(result: SharedKeyResult) -> bool:
    return result.share_of_limit >= SHARE_TARGET and result.rate_limited_share <= RATE_LIMITED_TARGET


def results_table(results: list[SharedKeyResult]) -> str:
    """The Markdown table of one series: one row per number of senders."""
    from benchmarks._common import table

    rows = [
        [
            result.senders,
            f"{result.accepted:,}",
            f"{result.limit * result.windows:,}",
            f"{result.share_of_limit:.3f}",
            f"{result.rate_limited:,}",
            f"{result.rate_limited_share:.2%}",
            " / ".join(str(count) for count in result.per_sender),
            "yes" if meets_targets(result) else "**no**",
        ]
        for result in results
    ]
    header = [
        "sender processes",
        "accepted",
        "the windows allow",
        "share of the limit",
        "answered 429",
        "429 share of requests",
        "accepted per sender",
        "targets met",
    ]
    return table(header, ["r", "r", "r", "r", "r", "r", "l", "l"], rows)


def _windows(count: int) -> str:
    return f"{count} whole window" + ("" if count == 1 else "s")


def section(short: list[SharedKeyResult], minute: list[SharedKeyResult] | None) -> str:
    """The benchmarks page's section: the short-window table, and the one-minute one when it was run."""
    first = short[0]
    if minute:
        last = minute[0]
        minute_text = f"""
### One-minute windows

The same with Kapso's own window: {last.limit} requests per {last.window:g} s, counted over
{_windows(last.windows)} (one run of each row).

{results_table(minute)}
"""
    else:
        minute_text = (
            "\nThe same with Kapso's one-minute window takes about ten minutes and is left out of `make bench`; "
            "`--with-minute-window` adds it.\n"
        )
    return f"""## One key, many senders

Bulk sends in separate processes that share one API key and nothing else, as Celery workers do: each
process runs the bulk operator's machinery (`BulkSender`, {CONCURRENCY} sends in flight, its own
`RequestPacer`) on its own recipients. The simulator runs in the benchmark's process on 127.0.0.1, answers
after {first.latency * 1000:.0f} ms and allows {first.limit} requests per API key in fixed windows of
{first.window:g} s (Kapso's are one minute; the short window keeps the run short). The senders start
together once all have imported Airflow; the count covers {_windows(first.windows)} from the first
request: messages accepted against what the windows allow, and requests answered 429 (each retried by
the hook after `Retry-After`). One run of each row. Baseline: the one-sender row, the most one pacer alone
makes of the key.

{results_table(short)}

Targets (from the one-key issue): together at least {SHARE_TARGET} of the limit with at most
{RATE_LIMITED_TARGET:.0%} of requests answered 429, for 1, 2, 4 and 8 senders. Each sender reads its share
of the key's traffic from how fast Kapso's `X-RateLimit-Remaining` falls between its own answers, and
claims that share of the rate and of what is left of each window; no sender knows of the others.
{minute_text}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--messages", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    print(shared_key(senders=args.senders, limit=args.limit, window=args.window, windows=args.windows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
