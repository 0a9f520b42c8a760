"""Scenario 3: exports at scale — CSV and XLSX of 100,000 completed responses, each in its own process.

Each export runs in a fresh subprocess (``--one csv|xlsx``) that reports its time and its peak
resident memory (VmHWM); the parent prints the medians beside the targets. Floors in the same run, each in its
own subprocess too, interleaved with the exports (issue 23, bench.floors): CSV — the wide rows from a raw cursor
written by the ``csv`` module, and pandas ``read_sql`` + ``pivot`` + ``to_csv``; XLSX — the same rows written by
XlsxWriter in ``constant_memory`` mode with no formatting, and (shown beside it, no target) the export's own cells,
read untimed, written by XlsxWriter alone. A CSV export of this size is written by two processes
(analytics.split): its time is the wall time of both, its peak memory the sum of both peaks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import data, floors
from bench.common import ROOT, Row, log, median, report, rss_mb

TARGETS = {"csv": 5.0, "xlsx": 60.0}
TARGET_RSS_MB = 1024
TARGET_STALL_MS = 50  # issue 23: the loop that serves respondents, during any export
TARGET_CSV_FLOOR = 1.5  # × the csv-module floor; and faster than the pandas pipeline
TARGET_XLSX_FLOOR = 2.0  # × the XlsxWriter floor
FLOORS = {"csv-floor": floors.csv_floor, "pandas-csv": floors.pandas_csv, "xlsx-floor": floors.xlsx_floor,
          "xlsx-cells": floors.xlsx_cells_floor}


def one(db: Path, fmt: str, out: Path) -> None:
    """Child process: run one export to a file, print JSON with seconds and peak RSS."""
    from analytics.export import export_csv, export_xlsx
    from storage.db import create_engine, read_only

    survey = data.load_survey(None)
    if fmt in FLOORS:
        seconds, rows = FLOORS[fmt](db, survey, out)
        print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": rss_mb()[1], "bytes": out.stat().st_size}))
        return

    async def go() -> tuple[float, int, float]:
        from bench.stats import Heartbeat
        from bot.cli.run import settle_heap

        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            async with engine.connect():  # the bot's pool is open and its driver loaded long before an export
                pass
            settle_heap()  # and its heap as `surveybot run` leaves it before serving
            async with Heartbeat() as beat:  # the bot's event loop: respondents are served while an export runs
                start = time.perf_counter()
                write = export_csv if fmt == "csv" else export_xlsx
                rows = await write(read_only(engine), survey, out)
                seconds = time.perf_counter() - start
        finally:
            await engine.dispose()
        return seconds, rows, beat.worst

    seconds, rows, stall = asyncio.run(go())
    # A large CSV export has a worker process (analytics.split), waited for before the export returns: its peak
    # counts too (the sum of both peaks, an upper bound of what the machine held at once).
    worker_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rows": rows, "peak_mb": rss_mb()[1] + worker_mb, "worker_mb": worker_mb,
                      "bytes": out.stat().st_size, "stall_ms": stall * 1000}))


def measure(db: Path, fmt: str, workdir: Path) -> dict:
    """Run one export in a subprocess."""
    out = workdir / f"export.{fmt.split('-')[0]}"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-m", "bench.exports", "--one", fmt, "--db", str(db), "--out", str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{fmt} export failed:\n{proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return result


def run(db: Path, csv_runs: int, xlsx_runs: int) -> list[Row]:
    """CSV several times, XLSX fewer (it is the slow one), each run after its floors; medians and the worst peak memory."""
    rows: list[Row] = []
    compared = {"csv": ("csv-floor", "pandas-csv"), "xlsx": ("xlsx-floor", "xlsx-cells")}
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as tmp:
        for fmt, runs in (("csv", csv_runs), ("xlsx", xlsx_runs)):
            if runs < 1:
                continue
            results = []
            others: dict[str, list[dict]] = {name: [] for name in compared[fmt]}
            for r in range(runs):
                for name in compared[fmt]:
                    res = measure(db, name, Path(tmp))
                    others[name].append(res)
                    log(f"{name} run {r + 1}/{runs}: {res['seconds']:.2f} s, {res['rows']:,} rows, "
                        f"{res['bytes'] / 1e6:.0f} MB file, peak RSS {res['peak_mb']:.0f} MB")
                res = measure(db, fmt, Path(tmp))
                results.append(res)
                log(f"export {fmt} run {r + 1}/{runs}: {res['seconds']:.2f} s, {res['rows']:,} rows, "
                    f"{res['bytes'] / 1e6:.0f} MB file, peak RSS {res['peak_mb']:.0f} MB "
                    f"(worker {res['worker_mb']:.0f} MB), "
                    f"loop stall {res['stall_ms']:.1f} ms"
                    + "".join(f", × {res['seconds'] / others[n][-1]['seconds']:.2f} {n}" for n in compared[fmt]))
            t = median([x["seconds"] for x in results])
            peak = max(x["peak_mb"] for x in results)

            def versus(name: str, results: list[dict] = results, others: dict[str, list[dict]] = others) -> tuple[float, float]:
                return (median([x["seconds"] for x in others[name]]),
                        median([x["seconds"] / y["seconds"] for x, y in zip(results, others[name])]))

            rows.append(Row("3 exports", f"{fmt.upper()} time, 100k responses ({runs} runs)", t, "s",
                            f"≤ {TARGETS[fmt]:g} s", t <= TARGETS[fmt]))
            if fmt == "csv":
                floor, ratio = versus("csv-floor")
                rows.append(Row("3 exports", "CSV vs its floor (raw cursor + csv module)", t, "s",
                                f"≤ {TARGET_CSV_FLOOR:g} × floor", ratio <= TARGET_CSV_FLOOR, baseline=floor, ratio=ratio))
                base, ratio = versus("pandas-csv")
                rows.append(Row("3 exports", "CSV vs pandas read_sql + pivot + to_csv", t, "s", "< 1 × pandas",
                                ratio < 1.0, baseline=base, ratio=ratio))
            else:
                floor, ratio = versus("xlsx-floor")
                rows.append(Row("3 exports", "XLSX vs its floor (XlsxWriter constant_memory, no formatting)", t, "s",
                                f"≤ {TARGET_XLSX_FLOOR:g} × floor", ratio <= TARGET_XLSX_FLOOR, baseline=floor,
                                ratio=ratio))
                base, ratio = versus("xlsx-cells")
                rows.append(Row("3 exports", "XLSX vs XlsxWriter alone writing the export's own cells (read untimed)", t,
                                "s", "shown, no target (the cost of the content)", True, baseline=base, ratio=ratio))
            stall = max(x["stall_ms"] for x in results)
            rows.append(Row("3 exports", f"{fmt.upper()} longest event-loop stall (10 ms heartbeat, worst run)", stall,
                            "ms", f"≤ {TARGET_STALL_MS} ms", stall <= TARGET_STALL_MS))
            rows.append(Row("3 exports", f"{fmt.upper()} peak RSS of the exporting process (+ its worker's)", peak, "MB",
                            f"≤ {TARGET_RSS_MB} MB", peak <= TARGET_RSS_MB))
    return rows


def main() -> None:
    """Command line: --db, --csv-runs, --xlsx-runs (or --one FORMAT in the child)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--csv-runs", type=int, default=3)
    parser.add_argument("--xlsx-runs", type=int, default=1)
    parser.add_argument("--one", choices=sorted([*TARGETS, *FLOORS]))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.one:
        one(args.db, args.one, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-exports-data-") as tmp:
        db = args.db or Path(tmp) / "exports.db"
        if not db.exists():
            log(f"exports: generating {args.responses:,} completed responses")
            data.generate(db, args.responses)
        report(run(db, args.csv_runs, args.xlsx_runs))


if __name__ == "__main__":
    main()
