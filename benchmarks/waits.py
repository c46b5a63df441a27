"""A thousand waits in one triggerer: deferred status waits and questions in a real ``airflow triggerer``.

Each row starts a fresh ``airflow triggerer`` (``benchmarks/_triggerer.py``: sqlite metadata DB in a
private Airflow home) and, once it idles, hands it its waits at once as deferred task instances. A Kapso
row holds N :class:`~kapso_provider.triggers.kapso.KapsoMessageStatusTrigger` waits and N
:class:`~kapso_provider.triggers.kapso.KapsoReplyTrigger` questions, with the kwargs the deferrable sensor
and the ask operator write, against the simulator (in this process) with its rate limit on. The baseline
of each size is the same number of Airflow's own ``DateTimeTrigger`` (a moment a day away) in the same
setup, so "beyond Airflow's own" is the difference. The single-wait row (one status wait and one question)
is the baseline for requests and the time to notice.

Per row: the triggerer's private memory (unique set size of its processes) and CPU from handing the waits
over until all have started and it settled; for Kapso rows the requests Kapso received in a minute of
waiting and the triggerer's CPU in it, then, with every message marked delivered and every question
answered at once, the time until each task instance left ``deferred`` (its trigger's event, as the
triggerer wrote it). Besides, ``benchmarks/_waits_start.py`` times the provider's own part of starting the waits
(rebuilding the triggers, their hooks joining one shared client) in a plain event loop.

``python -m benchmarks.waits --each 100`` runs one row and its baseline and prints them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from benchmarks._common import Summary, table
from benchmarks._waits_start import StartCost, question_parts, start_cost

if TYPE_CHECKING:
    from benchmarks._triggerer import Deployment, Usage, Waits
    from kapso_provider.testing import KapsoSimulator

#: Seconds between two reads of one wait: the ask operators' default ``poke_interval``.
POLL_INTERVAL = 30.0
#: Requests a minute the simulator allows the key: Kapso's Enterprise and Platform plans.
LIMIT_PER_MINUTE = 1000
#: The connection extra ``wait_share``, left at its default.
WAIT_SHARE = 0.25
#: Seconds the simulator takes to answer, as a nearby Kapso would.
LATENCY = 0.1
#: Records per page of a conversation's messages (the most Kapso's ``per_page`` allows).
PAGE_SIZE = 100
#: From the issue: the provider's memory per deferred wait beyond Airflow's own, and its CPU to start 1,000.
MEMORY_TARGET_KIB = 64.0
START_CPU_TARGET_SECONDS = 1.0
START_COST_WAITS = 1000


@dataclass(frozen=True)
class Layout:
    """One row: ``each`` status waits and ``each`` questions in ``conversations`` conversations.

    Wait ``i`` of each kind goes into conversation ``i % conversations``: with as many conversations as
    waits of each kind, every conversation holds one message awaited and one question (a customer told
    something, then asked); with one conversation, it holds them all.
    """

    each: int
    conversations: int

    @property
    def waits(self) -> int:
        return 2 * self.each

    @property
    def label(self) -> str:
        where = "1 conversation" if self.conversations == 1 else f"{self.conversations:,} conversations"
        return f"{self.each:,} + {self.each:,} in {where}"

    @property
    def listings(self) -> int:
        """Requests one read of every conversation takes: its pages of messages, before any answer."""
        per_conversation = math.ceil(self.waits / self.conversations)
        return self.conversations * max(1, math.ceil(per_conversation / PAGE_SIZE))

    def cycle_seconds(self, poll_interval: float) -> float:
        """How often each wait reads: its interval, or longer when the wait share cannot read all that often
        (the wait budget spaces reads at its headroom of the share)."""
        from kapso_provider.hooks._shared import WAIT_HEADROOM

        return max(poll_interval, self.listings * 60.0 / (WAIT_SHARE * LIMIT_PER_MINUTE * WAIT_HEADROOM))


@dataclass(frozen=True)
class Wait:
    """One seeded wait: its task, its map index, and what ends it."""

    task_id: str
    index: int
    conversation_id: str
    message_id: str
    answer_option_id: str | None = None


@dataclass(frozen=True)
class Loaded:
    """A triggerer before and after it took a row's waits."""

    waits: int
    idle: Usage
    loaded: Usage

    @property
    def memory_kib(self) -> int:
        return self.loaded.private_kib - self.idle.private_kib

    @property
    def start_cpu_seconds(self) -> float:
        return self.loaded.cpu_seconds - self.idle.cpu_seconds


@dataclass(frozen=True)
class KapsoRow:
    """What one layout of Kapso waits measured."""

    layout: Layout
    poll_interval: float
    loaded: Loaded
    count_seconds: float
    requests: int
    busiest_minute: int
    rate_limited: int
    waiting_cpu_seconds: float
    notice_seconds: Summary
    outcomes: dict[str, int]

    @property
    def per_minute(self) -> float:
        return self.requests * 60.0 / self.count_seconds

    @property
    def listings_per_interval(self) -> float:
        """Reads of every conversation per poll interval: 1.0 when each is read once, whatever its waits."""
        return self.per_minute * self.poll_interval / 60.0 / self.layout.listings

    @property
    def waiting_cpu_share(self) -> float:
        """The triggerer's CPU while waiting, as a share of one core."""
        return self.waiting_cpu_seconds / self.count_seconds


@dataclass(frozen=True)
class Campaign:
    """Every row of one run."""

    poll_interval: float
    airflow: dict[int, Loaded]
    kapso: list[KapsoRow]
    start: StartCost

    def beyond_airflow_kib(self, row: KapsoRow) -> float:
        """Memory the Kapso row took beyond as many of Airflow's own triggers, in all (KiB)."""
        return row.loaded.memory_kib - self.airflow[row.layout.waits].memory_kib

    @property
    def single(self) -> KapsoRow:
        """The single-wait row (one status wait and one question): the first."""
        return self.kapso[0]

    @property
    def one_off_kib(self) -> float:
        """What the first Kapso waits of a triggerer cost beyond Airflow's own, once: the provider's imports,
        the one connection lookup and the one client, as the single-wait row measures them."""
        return self.beyond_airflow_kib(self.single)

    def per_wait_kib(self, row: KapsoRow) -> float:
        """Memory per wait beyond Airflow's own once the one-off is paid: the row's growth over the
        single-wait row's, per wait more."""
        return (self.beyond_airflow_kib(row) - self.one_off_kib) / (row.layout.waits - self.single.layout.waits)

    def slope_kib(self) -> tuple[KapsoRow, KapsoRow, float] | None:
        """Memory per wait beyond Airflow's own between the smallest and the largest row of waits each on a
        conversation of its own, which no one-off enters: ``None`` without two such rows."""
        spread = [row for row in self.kapso if row.layout.waits >= 100 and row.layout.conversations == row.layout.each]
        if len(spread) < 2:
            return None
        small, large = min(spread, key=lambda row: row.layout.waits), max(spread, key=lambda row: row.layout.waits)
        if small.layout.waits == large.layout.waits:
            return None
        growth = self.beyond_airflow_kib(large) - self.beyond_airflow_kib(small)
        return small, large, growth / (large.layout.waits - small.layout.waits)

    def cpu_beyond_seconds(self, row: KapsoRow) -> float:
        """CPU to start the Kapso row beyond as many of Airflow's own triggers."""
        return row.loaded.start_cpu_seconds - self.airflow[row.layout.waits].start_cpu_seconds


# -- the rows --------------------------------------------------------------------------------------------------


def stored_waits(
    simulator: KapsoSimulator, layout: Layout, *, poll_interval: float, deadline: float
) -> tuple[Waits, list[Wait]]:
    """Messages and questions stored in the simulator, and the trigger each deferred task would hand over."""
    from kapso_provider.triggers.kapso import KapsoMessageStatusTrigger, KapsoReplyTrigger

    conversations = [simulator.create_conversation(phone_number=f"+1555{n:07d}") for n in range(layout.conversations)]
    triggers: Waits = {"status_wait": [], "question": []}
    waits: list[Wait] = []
    for index in range(layout.each):
        conversation = conversations[index % layout.conversations]
        sent = simulator.store_outbound(
            conversation["id"], {"message_type": "text", "content": f"Order {index} shipped"}
        )
        status = KapsoMessageStatusTrigger(
            message_id=sent["id"], conversation_id=conversation["id"], poll_interval=poll_interval, deadline=deadline
        )
        triggers["status_wait"].append(status.serialize())
        waits.append(Wait("status_wait", index, conversation["id"], sent["id"]))
    for index in range(layout.each):
        conversation = conversations[index % layout.conversations]
        message, spec, ids = question_parts(index, conversation["phone_number"])
        asked = simulator.store_outbound(conversation["id"], message)
        question = KapsoReplyTrigger(
            conversation_id=conversation["id"],
            question_message_id=asked["id"],
            question_created_at=asked["created_at"],
            spec=spec,
            poll_interval=poll_interval,
            deadline=deadline,
        )
        triggers["question"].append(question.serialize())
        waits.append(Wait("question", index, conversation["id"], asked["id"], answer_option_id=ids[0]))
    return triggers, waits


def airflow_row(made: Deployment, waits: int) -> Loaded:
    """``waits`` of Airflow's ``DateTimeTrigger`` in a fresh triggerer: the baseline for as many Kapso waits."""
    run_id = f"airflow-{waits}"
    made.start_triggerer()
    try:
        idle, loaded = made.hand_over(run_id, None, airflow_waits=waits)
    finally:
        made.stop_triggerer()
        made.forget(run_id)
    return Loaded(waits=waits, idle=idle, loaded=loaded)


def busiest_minute(received: list[float]) -> int:
    """The most requests in any 60 seconds."""
    ordered = sorted(received)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= 60.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def rate_limited(received: list[float], limit: int, window: float) -> int:
    """Requests over the limit in the simulator's fixed windows (each opened by its first request)."""
    over, start, used = 0, None, 0
    for moment in sorted(received):
        if start is None or moment - start >= window:
            start, used = moment, 0
        used += 1
        over += used > limit
    return over


def _utc_seconds(stamp: str) -> float:
    """A sqlite ``UtcDateTime`` value (``2026-01-01 12:00:00.123456``) as Unix seconds."""
    parsed = datetime.fromisoformat(stamp)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _outcome(next_kwargs: str) -> str:
    """The status of the event a task instance resumed with."""
    return next(
        (word for word in ("reached", "answered", "timeout", "failed", "error") if f'"{word}"' in next_kwargs), "?"
    )


def kapso_row(
    made: Deployment, simulator: KapsoSimulator, layout: Layout, *, poll_interval: float, count_seconds: float
) -> KapsoRow:
    """One layout of Kapso waits in a fresh triggerer, to the last event."""
    run_id = f"kapso-{layout.each}-{layout.conversations}"
    simulator.reset()
    simulator.rate_limit = None  # storing the row's messages is no Kapso traffic
    triggers, waits = stored_waits(simulator, layout, poll_interval=poll_interval, deadline=time.time() + 3600)
    simulator.rate_limit = LIMIT_PER_MINUTE
    made.start_triggerer(json.dumps({"conn_type": "kapso", "host": simulator.base_url, "password": simulator.api_key}))
    try:
        idle, loaded = made.hand_over(run_id, triggers)
        counted_from = time.time()
        time.sleep(count_seconds)
        waiting = made.usage()
        received = [r.received_at for r in simulator.requests]
        delivered_at: dict[tuple[str, int], float] = {}
        for wait in waits:
            if wait.answer_option_id is None:
                simulator.set_message_status(wait.message_id, "delivered")
            else:
                simulator.deliver_inbound(
                    wait.conversation_id, reply_option_id=wait.answer_option_id, reply_option_title="Approve"
                )
            delivered_at[(wait.task_id, wait.index)] = time.time()
        made.wait_for(lambda: len(made.finished(run_id)) >= len(waits), "every wait's event")
        finished = made.finished(run_id)
    finally:
        made.stop_triggerer()
        made.forget(run_id)
    outcomes: dict[str, int] = {}
    for _, _, _, event in finished:
        outcomes[_outcome(event)] = outcomes.get(_outcome(event), 0) + 1
    return KapsoRow(
        layout=layout,
        poll_interval=poll_interval,
        loaded=Loaded(waits=layout.waits, idle=idle, loaded=loaded),
        count_seconds=count_seconds,
        requests=sum(1 for moment in received if counted_from <= moment < counted_from + count_seconds),
        busiest_minute=busiest_minute(received),
        rate_limited=rate_limited(received, LIMIT_PER_MINUTE, 60.0),
        waiting_cpu_seconds=waiting.cpu_seconds - loaded.cpu_seconds,
        notice_seconds=Summary.of(
            [_utc_seconds(updated) - delivered_at[(task, index)] for task, index, updated, _ in finished]
        ),
        outcomes=outcomes,
    )


def campaign(layouts: list[Layout], *, poll_interval: float, count_seconds: float, start_repeat: int) -> Campaign:
    """Every layout and its Airflow baseline in one deployment, then the provider's start cost."""
    from benchmarks._triggerer import deployment
    from kapso_provider.testing import KapsoSimulator

    with deployment() as made, KapsoSimulator(latency=LATENCY, rate_limit_window=60.0) as simulator:
        airflow: dict[int, Loaded] = {}
        for size in sorted({layout.waits for layout in layouts}):
            airflow[size] = airflow_row(made, size)
            print(f"    {size:,} DateTimeTrigger: {airflow[size]}", flush=True)
        kapso = []
        for layout in layouts:
            kapso.append(kapso_row(made, simulator, layout, poll_interval=poll_interval, count_seconds=count_seconds))
            print(f"    {layout.label}: {kapso[-1]}", flush=True)
    return Campaign(
        poll_interval=poll_interval,
        airflow=airflow,
        kapso=kapso,
        start=start_cost(START_COST_WAITS, repeat=start_repeat),
    )


# -- the page -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    result: str
    met: bool
    why_not: str


def notice_bound(row: KapsoRow) -> float:
    """The longest a wait may take to notice, as docs/at-scale.md says: one read cycle, plus the age of an
    identical read that answered it instead (half the interval, at most 10 s), plus 10 s for the read itself
    and the triggerer writing the event."""
    from kapso_provider.hooks._shared import DEFAULT_COALESCE_SECONDS

    coalesce = min(DEFAULT_COALESCE_SECONDS, row.poll_interval / 2)
    return row.layout.cycle_seconds(row.poll_interval) + coalesce + 10.0


def targets(result: Campaign) -> list[Target]:
    """The issue's targets, and the docs' claims, against what the run measured."""
    found = []
    # The one-off cost of a triggerer's first Kapso wait (imports, the one client: about 12 MiB) is paid once,
    # whatever the number of waits; the target is about what each further wait adds.
    sized = [row for row in result.kapso if row.layout.waits >= 100]
    if sized:
        worst = max(sized, key=result.per_wait_kib)
        slope = result.slope_kib()
        between = (
            ""
            if slope is None
            else f"; {slope[2]:.1f} KiB between the {slope[0].layout.waits:,}- and {slope[1].layout.waits:,}-wait rows"
        )
        found.append(
            Target(
                f"provider memory per deferred wait beyond Airflow's own, after the one-off of the first wait, <= "
                f"{MEMORY_TARGET_KIB:g} KiB (worst row of 100 waits or more)",
                f"{result.per_wait_kib(worst):.1f} KiB ({worst.layout.label}){between}",
                result.per_wait_kib(worst) <= MEMORY_TARGET_KIB,
                "The triggers or their hooks hold more than the shared connection leaves them; see the start-cost "
                "table's memory per wait (tracemalloc).",
            )
        )
    start = result.start
    found.append(
        Target(
            f"provider CPU to start {start.waits:,} waits (hooks, client, connection lookup) < "
            f"{START_CPU_TARGET_SECONDS:g} s",
            f"{start.total_seconds:.3f} s",
            start.total_seconds < START_CPU_TARGET_SECONDS,
            "Hooks do more than join the loop's shared connection; see the start-cost table.",
        )
    )
    budget = WAIT_SHARE * LIMIT_PER_MINUTE
    busiest = max(result.kapso, key=lambda row: row.busiest_minute)
    found.append(
        Target(
            f"requests of all waits in any minute, start included, <= the wait share ({WAIT_SHARE:g} x "
            f"{LIMIT_PER_MINUTE:,} = {budget:g}), none answered 429 (every row)",
            f"{busiest.busiest_minute} ({busiest.layout.label}), "
            f"{sum(row.rate_limited for row in result.kapso)} answered 429",
            all(row.busiest_minute <= budget and row.rate_limited == 0 for row in result.kapso),
            "The waits of the triggerer read more often than the wait budget allows.",
        )
    )
    shared = [row for row in result.kapso if row.layout.conversations == 1 and row.layout.each > 1]
    if shared:
        most = max(shared, key=lambda row: row.listings_per_interval)
        found.append(
            Target(
                "waits sharing a conversation read it at most twice per poll interval (coalescing), not once each",
                f"{most.listings_per_interval:.2f} ({most.layout.label})",
                most.listings_per_interval <= 2.0,
                "Identical reads of different waits were not answered by one request.",
            )
        )
    late = [row for row in result.kapso if row.notice_seconds.max > notice_bound(row)]
    found.append(
        Target(
            "every wait noticed its delivery or answer within the bound docs/at-scale.md gives",
            "all rows" if not late else ", ".join(row.layout.label for row in late),
            not late,
            "A wait took longer to notice than its read cycle explains.",
        )
    )
    wrong: dict[str, int] = {}
    for row in result.kapso:
        for status, count in row.outcomes.items():
            if status not in ("reached", "answered"):
                wrong[status] = wrong.get(status, 0) + count
    found.append(
        Target(
            "every wait ended with its outcome (reached or answered)",
            "all" if not wrong else ", ".join(f"{count} {status}" for status, count in wrong.items()),
            not wrong,
            "Some waits ended with an error or a timeout; see the triggerer log (--keep).",
        )
    )
    return found


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def resources_table(result: Campaign) -> str:
    rows = []
    for row in result.kapso:
        airflow = result.airflow[row.layout.waits]
        rows.append(
            [
                row.layout.label,
                f"{row.layout.waits:,}",
                _mib(row.loaded.memory_kib),
                _mib(airflow.memory_kib),
                f"{result.beyond_airflow_kib(row) / 1024:+.1f}",
                f"{result.beyond_airflow_kib(row) / row.layout.waits:.1f}",
                "(the one-off)" if row is result.single else f"{result.per_wait_kib(row):.1f}",
                f"{row.loaded.start_cpu_seconds:.2f}",
                f"{airflow.start_cpu_seconds:.2f}",
                f"{result.cpu_beyond_seconds(row):+.2f}",
            ]
        )
    header = [
        "status waits + questions",
        "triggers",
        "memory added MiB",
        "same number of `DateTimeTrigger` MiB",
        "beyond Airflow's own MiB",
        "that, divided by the waits, KiB",
        "beyond Airflow's own per wait more than the single-wait row, KiB",
        "CPU to start s",
        "`DateTimeTrigger` s",
        "beyond Airflow's own s",
    ]
    return table(header, ["l", *["r"] * 9], rows)


def traffic_table(result: Campaign) -> str:
    single = result.kapso[0]
    rows = []
    for row in result.kapso:
        notice = row.notice_seconds
        rows.append(
            [
                row.layout.label,
                f"{row.per_minute:.0f}",
                f"{row.per_minute / single.per_minute:.1f}",
                row.busiest_minute,
                f"{row.listings_per_interval:.2f}",
                row.rate_limited,
                f"{row.waiting_cpu_share:.1%}",
                f"{row.layout.cycle_seconds(row.poll_interval):.0f}",
                *notice.cells("{:.1f}"),
                f"{notice.median / single.notice_seconds.median:.2f}",
                ", ".join(f"{count:,} {status}" for status, count in sorted(row.outcomes.items())),
            ]
        )
    header = [
        "status waits + questions",
        "requests a minute",
        "ratio to the single-wait row",
        "busiest minute",
        "reads of each conversation per interval",
        "answered 429",
        "triggerer CPU while waiting (of one core)",
        "expected read cycle s",
        "time to notice: median s",
        "min s",
        "max s",
        "median / single-wait row",
        "events",
    ]
    return table(header, ["l", *["r"] * 11, "l"], rows)


def start_table(start: StartCost) -> str:
    rows = [
        [
            "the loop's first hook: imports, the connection lookup, the client (once per triggerer)",
            f"{start.first_hook_seconds * 1000:.1f}",
        ],
        [f"rebuild {start.waits:,} triggers from their serialized kwargs", f"{start.build_seconds * 1000:.1f}"],
        [
            f"{start.waits:,} hooks join the loop's shared connection (median of {start.join_seconds.runs}; "
            f"min {start.join_seconds.min * 1000:.1f}, max {start.join_seconds.max * 1000:.1f})",
            f"{start.join_seconds.median * 1000:.1f}",
        ],
        ["all of it", f"{start.total_seconds * 1000:.1f}"],
    ]
    return table(["step", "CPU ms"], ["l", "r"], rows)


def section(result: Campaign, *, with_thousand: bool) -> str:
    """The benchmarks page's section."""
    single = result.single
    start = result.start
    thousand = (
        ""
        if with_thousand
        else "\nThe rows of 1,000 status waits and 1,000 questions take 15 to 20 minutes and are left out of\n"
        "`make bench`; `--with-thousand-waits` adds them.\n"
    )
    slope = result.slope_kib()
    slope_text = (
        ""
        if slope is None
        else f" Between the {slope[0].layout.label} row and the {slope[1].layout.label} row, where no one-off "
        f"enters, each wait more added {slope[2]:.1f} KiB beyond Airflow's own."
    )
    below = [row for row in result.kapso if result.cpu_beyond_seconds(row) < 0]
    cpu_text = (
        ""
        if not below
        else f" The CPU to start came out below the `DateTimeTrigger` baseline for {len(below)} row(s): "
        "one run per row cannot tell how much of that is the spread of Airflow's own work between runs, so "
        "the provider's own part of starting waits is measured alone, below."
    )
    return f"""## Waits in one triggerer

Deferred waits in one real `airflow triggerer` (Airflow {_airflow_version()}, sqlite metadata DB; all
its processes measured together: supervisor, trigger runner, log server). Each row starts a fresh
triggerer and, once it idles, hands it its waits at once: task instances left `deferred` on trigger rows
as Airflow's execution API leaves a task that defers, with the trigger kwargs a deferrable
`KapsoMessageStatusSensor` and `KapsoAskOperator` write (poll interval {result.poll_interval:g} s, a
two-button question). Status waits and questions share conversations as the row says ("N + N in N
conversations" puts one awaited message and one question in each). Kapso is the simulator, answering after
{LATENCY * 1000:.0f} ms and allowing {LIMIT_PER_MINUTE:,} requests a minute (Kapso's Enterprise and
Platform plans); the connection's `wait_share` is left at {WAIT_SHARE:g}. Baselines, in the same run: for
memory and CPU, as many of Airflow's own `DateTimeTrigger` (a moment a day away) in the same setup; for
requests and the time to notice, the single-wait row ({single.layout.label}). One run of each row.

### Memory and CPU of the triggerer

Memory: the triggerer's private memory once every trigger has started and it settled, less the same
triggerer idle. CPU: from handing the waits over until then (for Kapso rows it includes the first reads).
The first Kapso wait of a triggerer also loads the provider's modules, looks the connection up and builds
the one client: {_mib(result.one_off_kib)} MiB beyond Airflow's own in the single-wait row, paid once per
triggerer. Dividing all a row took beyond Airflow's own by its waits counts that one-off in every wait
(most of the figure at a hundred waits); the target is about what each further wait adds, so the
per-wait figure is the row's memory beyond Airflow's own less the single-wait row's, divided by the waits
more.{slope_text}{cpu_text}

{resources_table(result)}

### Requests to Kapso and time to notice

Requests a minute: every request Kapso received in {single.count_seconds:g} s of waiting; busiest minute:
the most in any 60 s from the first read on, the triggerer's start included. Reads of each
conversation per interval: those requests against one read of every conversation's pages per poll
interval (1.00: each conversation read once per interval, whatever number of waits it holds). Expected
read cycle: the poll interval, or, when the waits together would read more often than the wait share of
the key's limit allows, the time the share takes to read every conversation once. Time to notice: from
marking every message delivered and tapping every question's first button, all at once, to the task
instance leaving `deferred` with its trigger's event (written by the triggerer).

{traffic_table(result)}
{thousand}
### The provider's part of starting {start.waits:,} waits

In a plain event loop, as the trigger runner starts them: {start.waits:,} triggers (half status waits, half
questions) rebuilt from their serialized kwargs, then each one's hook joining the loop's shared connection
(one connection lookup, one `httpx.AsyncClient`, one pacer for all); CPU time of this process, in a fresh
interpreter. Memory each trigger and its hook hold (`tracemalloc`): {start.kib_per_wait:.1f} KiB per wait.

{start_table(start)}

Targets (from the triggerer issue): the provider's memory per deferred wait at most {MEMORY_TARGET_KIB:g} KiB
beyond Airflow's own, and its part of starting 1,000 waits under {START_CPU_TARGET_SECONDS:g} s of CPU; the
requests of all waits within the wait share of the key's limit; waits on one conversation answered by one
read. See the targets table at the top and [running at scale](at-scale.md) for how to size a triggerer.
"""


def _airflow_version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--each", type=int, default=100, help="status waits, and as many questions, in the row")
    parser.add_argument("--conversations", type=int, default=None, help="default: one per status wait")
    parser.add_argument("--poll-interval", type=float, default=POLL_INTERVAL)
    parser.add_argument("--count-seconds", type=float, default=60.0)
    args = parser.parse_args()
    layouts = [Layout(1, 1), Layout(args.each, args.conversations or args.each)]
    result = campaign(layouts, poll_interval=args.poll_interval, count_seconds=args.count_seconds, start_repeat=3)
    print(section(result, with_thousand=True))
    for target in targets(result):
        print(f"{'met' if target.met else 'NOT met'}: {target.name}: {target.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
