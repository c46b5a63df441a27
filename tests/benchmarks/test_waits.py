"""The triggerer benchmark's arithmetic and page, from figures made up for the purpose (no triggerer runs)."""

from __future__ import annotations

import pytest

from benchmarks._common import Summary
from benchmarks._triggerer import Usage
from benchmarks._waits_start import StartCost
from benchmarks.waits import Campaign, KapsoRow, Layout, Loaded, busiest_minute, section, targets

ONE_OFF_KIB = 12 * 1024
PER_WAIT_KIB = 11.0
AIRFLOW_PER_WAIT_KIB = 40.0


def loaded(waits: int, kib: float) -> Loaded:
    return Loaded(
        waits=waits,
        idle=Usage(private_kib=100_000, cpu_seconds=1.0, processes=3),
        loaded=Usage(private_kib=100_000 + round(kib), cpu_seconds=1.0 + waits / 1000, processes=3),
    )


def kapso_row(layout: Layout, *, busiest: int = 240) -> KapsoRow:
    memory = layout.waits * (AIRFLOW_PER_WAIT_KIB + PER_WAIT_KIB) + ONE_OFF_KIB - 2 * PER_WAIT_KIB
    return KapsoRow(
        layout=layout,
        poll_interval=30.0,
        loaded=loaded(layout.waits, memory),
        count_seconds=60.0,
        requests=min(240, 2 * layout.listings),
        busiest_minute=busiest,
        rate_limited=0,
        waiting_cpu_seconds=6.0,
        notice_seconds=Summary.of([5.0, 20.0]),
        outcomes={"reached": layout.each, "answered": layout.each},
    )


def campaign(*layouts: Layout, busiest: int = 240) -> Campaign:
    rows = [kapso_row(layout, busiest=busiest) for layout in layouts]
    sizes = {layout.waits for layout in layouts}
    return Campaign(
        poll_interval=30.0,
        airflow={size: loaded(size, size * AIRFLOW_PER_WAIT_KIB) for size in sizes},
        kapso=rows,
        start=StartCost(
            waits=1000,
            first_hook_seconds=0.05,
            build_seconds=0.07,
            join_seconds=Summary.of([0.05, 0.06, 0.07]),
            kib_per_wait=9.5,
        ),
    )


THOUSAND = (Layout(1, 1), Layout(100, 100), Layout(100, 1), Layout(1000, 1000), Layout(1000, 10))


def test_the_memory_per_wait_leaves_the_one_off_out() -> None:
    # Dividing all a row took beyond Airflow's own by its waits put a one-off 12 MiB into every wait: 72 KiB
    # per wait at 200 waits for a triggerer whose waits each add 11 KiB.
    result = campaign(*THOUSAND)
    assert result.one_off_kib == pytest.approx(ONE_OFF_KIB, abs=1)
    for row in result.kapso[1:]:
        assert result.per_wait_kib(row) == pytest.approx(PER_WAIT_KIB, abs=0.01)
    slope = result.slope_kib()
    assert slope is not None
    assert [slope[0].layout.waits, slope[1].layout.waits] == [200, 2000]
    assert slope[2] == pytest.approx(PER_WAIT_KIB, abs=0.01)
    memory = targets(result)[0]
    assert memory.met
    assert memory.result.startswith("11.0 KiB")


@pytest.mark.parametrize(("busiest", "met"), [(245, True), (250, True), (251, False)])
def test_no_minute_may_hold_more_than_the_wait_share(busiest: int, met: bool) -> None:
    share = next(target for target in targets(campaign(*THOUSAND, busiest=busiest)) if "wait share" in target.name)
    assert share.met is met


def test_the_busiest_minute_counts_any_60_seconds() -> None:
    assert busiest_minute([0.0, 30.0, 59.9, 60.0, 119.9]) == 3
    assert busiest_minute([0.0, 60.0, 120.0]) == 1


@pytest.mark.parametrize("with_thousand", [False, True])
def test_the_page_section_renders_with_its_anchor(with_thousand: bool) -> None:
    layouts = THOUSAND if with_thousand else THOUSAND[:3]
    text = section(campaign(*layouts), with_thousand=with_thousand)
    assert text.startswith("## Waits in one triggerer\n")
    assert "12.0 MiB beyond Airflow's own in the single-wait row" in text
    assert ("each wait more added 11.0 KiB" in text) is with_thousand
    assert ("15 to 20 minutes" in text) is not with_thousand
