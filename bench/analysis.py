"""Scenario 6: analysis at scale — `/stats 2 by 1` and `/stats where 11=2` on 100,000 completed responses.

Measured per run: the time of the cross-tab (build_crosstabs + its chat text) and of the filtered summary
(build_summary with the filter + render_summary), and the longest event-loop stall while each runs (a 10 ms
heartbeat, as in scenario 2). Baseline in the same run: the full unfiltered /stats summary; floors in the same
run (issue 23): the plain SQL of the full summary, and the same queries restricted to the filtered respondents
(bench.floors.summary_floor).
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from bench import data, floors
from bench.common import Row, log, median
from bench.stats import Heartbeat

TARGET_SECONDS = 1.0
TARGET_STALL_MS = 50
TARGET_FILTERED_FLOOR = 2.0  # × its own SQL floor
TARGET_CROSSTAB_FLOOR = 3.0  # × the full /stats' SQL floor
WHERE = "11=2"


async def _timed(db: Path, work) -> tuple[float, float]:
    """(seconds, worst stall in seconds) of one ``work(engine)``, on a warm pooled connection."""
    from storage.db import create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect():
            pass
        gc.collect()
        async with Heartbeat() as beat:
            start = time.perf_counter()
            await work(engine)
            seconds = time.perf_counter() - start
            await asyncio.sleep(0.02)
        return seconds, beat.worst
    finally:
        await engine.dispose()


def crosstab_work(survey):
    """/stats 2 by 1: the table and the chat text (or the short summary when it is too long)."""
    from analytics.crosstab import build_crosstabs
    from analytics.crosstab_render import render_short, render_table
    from analytics.messages import fits

    async def work(engine) -> None:
        (table,) = await build_crosstabs(engine, survey, "1", ["2"])
        text = await asyncio.to_thread(render_table, table)
        if not fits(text):
            await asyncio.to_thread(render_short, table)

    return work


def filtered_work(survey):
    """/stats where 11=2: the filtered summary and its messages."""
    from analytics.filters import parse_filter
    from analytics.summary import build_summary
    from analytics.summary_text import render_summary

    where = parse_filter(WHERE, survey)

    async def work(engine) -> None:
        summary = await build_summary(engine, survey, where=where)
        await asyncio.to_thread(render_summary, summary)

    return work


def full_work(survey):
    """The unfiltered /stats (baseline)."""
    from analytics.summary import build_summary
    from analytics.summary_text import render_summary

    async def work(engine) -> None:
        summary = await build_summary(engine, survey)
        await asyncio.to_thread(render_summary, summary)

    return work


def run(db: Path, survey, runs: int) -> list[Row]:
    """Warm-up, then per run: baseline, cross-tab, filtered summary."""
    jobs = {"full": full_work(survey), "crosstab": crosstab_work(survey), "filtered": filtered_work(survey)}
    where_sql = floors.filter_sql(survey, WHERE)
    for work in jobs.values():
        asyncio.run(_timed(db, work))
    floors.summary_floor(db, survey, where_sql)
    times: dict[str, list[float]] = {k: [] for k in jobs}
    stalls: dict[str, list[float]] = {k: [] for k in jobs}
    floor_full: list[float] = []
    floor_filtered: list[float] = []
    for r in range(runs):
        floor_full.append(floors.summary_floor(db, survey))
        floor_filtered.append(floors.summary_floor(db, survey, where_sql))
        for name, work in jobs.items():
            s, stall = asyncio.run(_timed(db, work))
            times[name].append(s)
            stalls[name].append(stall)
        log(f"analysis run {r + 1}/{runs}: " + ", ".join(
            f"{k} {times[k][-1]:.3f} s (stall {stalls[k][-1] * 1000:.1f} ms)" for k in jobs)
            + f"; floors: full {floor_full[-1]:.3f} s, filtered {floor_filtered[-1]:.3f} s")
    base = median(times["full"])
    filtered_floor_ratio = median([x / y for x, y in zip(times["filtered"], floor_filtered)])
    filtered_full_ratio = median([x / y for x, y in zip(times["filtered"], times["full"])])
    crosstab_floor_ratio = median([x / y for x, y in zip(times["crosstab"], floor_full)])
    rows = [
        Row("6 analysis", f"/stats where {WHERE} vs its own SQL floor", median(times["filtered"]), "s",
            f"≤ {TARGET_FILTERED_FLOOR:g} × floor", filtered_floor_ratio <= TARGET_FILTERED_FLOOR,
            baseline=median(floor_filtered), ratio=filtered_floor_ratio),
        Row("6 analysis", f"/stats where {WHERE} vs the full /stats", median(times["filtered"]), "s",
            "≤ 1 × full /stats", filtered_full_ratio <= 1.0, baseline=base, ratio=filtered_full_ratio),
        Row("6 analysis", "/stats 2 by 1 vs the full /stats' SQL floor", median(times["crosstab"]), "s",
            f"≤ {TARGET_CROSSTAB_FLOOR:g} × floor", crosstab_floor_ratio <= TARGET_CROSSTAB_FLOOR,
            baseline=median(floor_full), ratio=crosstab_floor_ratio),
    ]
    for name, label in (("crosstab", "/stats 2 by 1"), ("filtered", f"/stats where {WHERE}")):
        t = median(times[name])
        ratio = median([x / y for x, y in zip(times[name], times["full"])])
        worst = max(stalls[name]) * 1000
        base_stall = max(stalls["full"]) * 1000
        rows.append(Row("6 analysis", f"{label} time, 100k responses (baseline: full /stats)", t, "s",
                        f"≤ {TARGET_SECONDS} s", t <= TARGET_SECONDS, baseline=base, ratio=ratio))
        rows.append(Row("6 analysis", f"{label} longest event-loop stall (worst run; baseline: full /stats)", worst,
                        "ms", f"≤ {TARGET_STALL_MS} ms", worst <= TARGET_STALL_MS, baseline=base_stall,
                        ratio=worst / base_stall if base_stall else None))
    return rows


def main() -> None:
    """Command line: --responses, --runs, --db (reuse a generated file)."""
    data.main_on_database("analysis", __doc__, run)


if __name__ == "__main__":
    main()
