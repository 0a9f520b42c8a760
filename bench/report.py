"""Scenario 7: the HTML report of the bundled study on 100,000 completed responses (`surveybot report`).

Measured per run: the time of the report (build_report: the summary and the comparison with 2020; render_report:
every chart as SVG, the templates) and the size of the file. Baseline in the same run: `/stats charts` — the
summary and one PNG chart per question, as the chat sends them (bot/admin/stats.py send_charts). Targets: the
report in at most 3 × the baseline's time, the file under 3 MB.
"""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

from bench import data
from bench.common import Row, log, median

TARGET_RATIO = 3.0
TARGET_MB = 3.0


async def _timed(db: Path, work) -> tuple[float, int]:
    """(seconds, bytes) of one ``work(engine)`` on a warm pooled connection."""
    from storage.db import create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect():
            pass
        gc.collect()
        start = time.perf_counter()
        size = await work(engine)
        return time.perf_counter() - start, size
    finally:
        await engine.dispose()


def charts_work(survey):
    """/stats charts: the summary, then one PNG per question with a chart (off the event loop, as the bot does)."""
    from analytics import charts
    from analytics.summary import build_summary

    async def work(engine) -> int:
        summary = await build_summary(engine, survey)
        drawn = [q for q in summary.questions if charts.has_chart(q)]
        images = await asyncio.to_thread(lambda: [charts.question_chart(q, survey.get(q.id).ordered) for q in drawn])
        return sum(len(png) for png in images)

    return work


def report_work(survey):
    """surveybot report: the whole HTML file."""
    from analytics.report import report_html

    async def work(engine) -> int:
        return len(await report_html(engine, survey, tz_name="Europe/Moscow"))

    return work


def run(db: Path, survey, runs: int) -> list[Row]:
    """Warm-up, then per run: the baseline, then the report."""
    jobs = {"charts": charts_work(survey), "report": report_work(survey)}
    for work in jobs.values():
        asyncio.run(_timed(db, work))
    times: dict[str, list[float]] = {k: [] for k in jobs}
    sizes: dict[str, int] = {}
    for r in range(runs):
        for name, work in jobs.items():
            seconds, size = asyncio.run(_timed(db, work))
            times[name].append(seconds)
            sizes[name] = size
        log(f"report run {r + 1}/{runs}: /stats charts {times['charts'][-1]:.2f} s, report {times['report'][-1]:.2f} s "
            f"({sizes['report'] / 1e6:.2f} MB)")
    t, base = median(times["report"]), median(times["charts"])
    ratio = median([x / y for x, y in zip(times["report"], times["charts"])])
    mb = sizes["report"] / 1e6
    return [
        Row("7 report", "HTML report time, 100k responses (baseline: /stats charts)", t, "s", f"≤ {TARGET_RATIO:g} × baseline",
            ratio <= TARGET_RATIO, baseline=base, ratio=ratio),
        Row("7 report", "HTML report size, 100k responses", mb, "MB", f"< {TARGET_MB:g} MB", mb < TARGET_MB),
    ]


def main() -> None:
    """Command line: --responses, --runs, --db (reuse a generated file)."""
    data.main_on_database("report", __doc__, run)


if __name__ == "__main__":
    main()
