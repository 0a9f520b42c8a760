"""Scenario 2: /stats at scale — the full text summary of 100,000 completed responses (~1.4 M answers).

Measured: build_summary + render_summary time, and the longest event-loop stall while it runs
(a 10 ms heartbeat task records the largest gap between its ticks, minus the 10 ms it slept).
Baselines in the same run: pandas.read_sql of all answers plus value_counts per question (the naive way), and
the floor (issue 23): the plain GROUP BY queries that yield the same figures, run with the raw driver
(bench.floors.summary_floor).
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import time
from pathlib import Path

from bench import data, floors
from bench.common import Row, log, median

TARGET_SECONDS = 0.5
TARGET_STALL_MS = 50
TARGET_RATIO = 0.3
TARGET_FLOOR_RATIO = 1.0


class Heartbeat:
    """A task ticking every 10 ms; ``worst`` is the longest extra delay between ticks (the loop stall)."""

    def __init__(self, period: float = 0.010):
        self.period = period
        self.worst = 0.0
        self._last = time.perf_counter()
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        self._last = time.perf_counter()
        while True:
            await asyncio.sleep(self.period)
            now = time.perf_counter()
            self.worst = max(self.worst, now - self._last - self.period)
            self._last = now

    async def __aenter__(self) -> Heartbeat:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        # A tick still pending counts too: a loop blocked until the very end must not read as 0 ms.
        self.worst = max(self.worst, time.perf_counter() - self._last - self.period)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


async def summary_once(db: Path, survey) -> tuple[float, float, int]:
    """(seconds, worst stall in seconds, lines) of one full /stats text."""
    from analytics.summary import build_summary
    from analytics.summary_text import render_summary
    from storage.db import create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect():  # open the pooled connection outside the timing, as a running bot has it
            pass
        gc.collect()
        async with Heartbeat() as beat:
            start = time.perf_counter()
            summary = await build_summary(engine, survey, completed_only=False)
            text = render_summary(summary)
            seconds = time.perf_counter() - start
            await asyncio.sleep(0.02)  # let the heartbeat notice a stall at the very end
        return seconds, beat.worst, len(text)
    finally:
        await engine.dispose()


def baseline_once(db: Path, survey) -> float:
    """pandas.read_sql of every answer plus value_counts per question."""
    import pandas as pd

    gc.collect()
    start = time.perf_counter()
    with sqlite3.connect(db) as con:
        frame = pd.read_sql("SELECT response_id, question_id, choices, number, text, other_text, skipped FROM answers", con)
    for qid, group in frame.groupby("question_id"):
        group["choices"].str.split(",").explode().value_counts()
        group["number"].value_counts()
    return time.perf_counter() - start


def run(db: Path, survey, runs: int) -> list[Row]:
    """Warm-up, then alternate baseline, floor and summary runs."""
    asyncio.run(summary_once(db, survey))
    baseline_once(db, survey)
    floors.summary_floor(db, survey)
    times, stalls, bases, floor_times = [], [], [], []
    for r in range(runs):
        b = baseline_once(db, survey)
        f = floors.summary_floor(db, survey)
        s, stall, lines = asyncio.run(summary_once(db, survey))
        bases.append(b)
        floor_times.append(f)
        times.append(s)
        stalls.append(stall)
        log(f"stats run {r + 1}/{runs}: summary {s:.3f} s ({lines} messages), stall {stall * 1000:.1f} ms, "
            f"SQL floor {f:.3f} s (× {s / f:.2f}), pandas {b:.3f} s")
    t, b, f = median(times), median(bases), median(floor_times)
    ratio = median([x / y for x, y in zip(times, bases)])
    floor_ratio = median([x / y for x, y in zip(times, floor_times)])
    worst = max(stalls) * 1000
    return [
        Row("2 /stats", "full summary time, 100k responses", t, "s", f"≤ {TARGET_SECONDS} s", t <= TARGET_SECONDS),
        Row("2 /stats", "full summary vs its SQL floor (GROUP BY per question kind, raw driver)", t, "s",
            f"≤ {TARGET_FLOOR_RATIO:g} × floor", floor_ratio <= TARGET_FLOOR_RATIO, baseline=f, ratio=floor_ratio),
        Row("2 /stats", "summary vs pandas read_sql + value_counts", t, "s", f"≤ {TARGET_RATIO} × baseline",
            ratio <= TARGET_RATIO, baseline=b, ratio=ratio),
        Row("2 /stats", "longest event-loop stall (10 ms heartbeat, worst run)", worst, "ms", f"≤ {TARGET_STALL_MS} ms",
            worst <= TARGET_STALL_MS),
    ]


def main() -> None:
    """Command line: --responses, --runs, --db (reuse a generated file)."""
    data.main_on_database("stats", __doc__, run)


if __name__ == "__main__":
    main()
