"""``python -m bench`` (``make bench``): all seven scenarios, each in its own process, then one table.

``python -m bench soak [--minutes N …]``: the long run watched for leaks (bench/soak.py; 10 minutes by default, so
not part of ``make bench``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import data
from bench.common import RESULT_PREFIX, ROOT, Row, log, machine, table


def scenario(module: str, *args: str) -> list[Row]:
    """Run one scenario module; its table goes to the terminal, its figures come back."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          check=False)
    rows = [Row(**json.loads(line[len(RESULT_PREFIX):])) for line in proc.stdout.splitlines()
            if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not rows:
        log(f"{module} FAILED (exit {proc.returncode})")
        rows.append(Row(module, "failed to run", float("nan"), "", "runs", False))
    log(f"{module}: {time.perf_counter() - start:.0f} s")
    return rows


def main() -> int:
    """Run everything; exit 1 when a target is missed."""
    start = time.perf_counter()
    facts = machine()
    log("machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    rows: list[Row] = []
    rows += scenario("bench.answers")
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        db = Path(tmp) / "survey-100k.db"
        log("generating 100,000 completed responses for /stats and the exports")
        data.generate(db, 100_000)
        log(f"data: {data.counts(db)}")
        rows += scenario("bench.stats", "--db", str(db))
        rows += scenario("bench.exports", "--db", str(db))
        rows += scenario("bench.analysis", "--db", str(db))
        rows += scenario("bench.report", "--db", str(db))
    rows += scenario("bench.memory")
    rows += scenario("bench.startup")
    total = time.perf_counter() - start
    print()
    print(f"Machine: {facts['nproc']} cores, {facts['cpu']}, Python {facts['python']}, {facts['date']}; "
          f"make bench took {total:.0f} s")
    print()
    print(table(rows))
    return 0 if all(r.met for r in rows) else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["soak"]:
        from bench import soak

        soak.main(sys.argv[2:])
        sys.exit(0)
    sys.exit(main())
