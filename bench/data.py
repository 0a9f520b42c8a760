"""Synthetic survey data straight into SQLite (schema by the real migrations, rows by raw executemany)."""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import Row, log, report
from storage.db import create_engine
from storage.migrate import upgrade
from survey.flow import OTHER
from survey.loader import load_survey
from survey.model import QuestionType, Survey

FMT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite


async def _migrate(db: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _answer(q, rnd: random.Random) -> tuple:
    """(choices, number, text, other_text, skipped, option ids) of one synthetic answer."""
    if rnd.random() < 0.05 and not q.required:
        return None, None, None, None, 1, ()
    if q.type == QuestionType.SINGLE:
        if q.other_allowed and rnd.random() < 0.03:
            return OTHER, None, None, f"свой вариант {rnd.randint(1, 50)}", 0, (OTHER,)
        opt = q.options[min(int(rnd.expovariate(0.6)), len(q.options) - 1)].id
        return opt, None, None, None, 0, (opt,)
    if q.type == QuestionType.MULTIPLE:
        k = min(len(q.options), 1 + int(rnd.expovariate(0.8)))
        picked = sorted(rnd.sample(range(len(q.options)), k))
        ids = tuple(q.options[i].id for i in picked)
        return ",".join(ids), None, None, None, 0, ids
    if q.type == QuestionType.SCALE:
        return None, rnd.randint(q.scale.min, q.scale.max), None, None, 0, ()
    if q.type == QuestionType.NUMBER:
        return None, min(q.max or 10**6, max(q.min or 0, int(rnd.lognormvariate(3, 1.2)))), None, None, 0, ()
    return None, None, f"ответ {rnd.randint(1, 1000)}", None, 0, ()


def generate(db: Path, responses: int, *, answered: int | None = None, seed: int = 5, survey: Survey | None = None) -> Survey:
    """``responses`` respondents; each completed (answered=None) or stopped after ``answered`` questions."""
    survey = survey or load_survey(None)
    asyncio.run(_migrate(db))
    rnd = random.Random(seed)
    questions = survey.questions if answered is None else survey.questions[:answered]
    start = datetime(2026, 11, 1, 9, 0, 0)
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")  # a generator: the data is thrown away anyway
    con.execute("BEGIN")
    chunk = 10_000
    for base in range(0, responses, chunk):
        ids = range(base + 1, min(base + chunk, responses) + 1)
        times = {i: start + timedelta(seconds=i * 7) for i in ids}
        con.executemany("INSERT INTO respondents (id, user_key, first_seen, source) VALUES (?, ?, ?, ?)",
                        [(i, str(10_000_000 + i), times[i].strftime(FMT), "channel" if i % 3 else None) for i in ids])
        status = "completed" if answered is None else "in_progress"
        current = None if answered is None else survey.questions[answered].id
        con.executemany(
            "INSERT INTO responses (id, respondent_id, survey_id, survey_version, status, started_at, completed_at,"
            " updated_at, current_question, draft, draft_other, awaiting_other, version)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, ?)",
            [(i, i, survey.id, survey.version, status, times[i].strftime(FMT),
              (times[i] + timedelta(seconds=200 + i % 900)).strftime(FMT) if answered is None else None,
              (times[i] + timedelta(seconds=200 + i % 900)).strftime(FMT), current, len(questions) + 1) for i in ids])
        answers, choices = [], []
        for i in ids:
            for n, q in enumerate(questions):
                ch, num, txt, oth, sk, opts = _answer(q, rnd)
                answers.append((i, q.id, ch, num, txt, oth, sk, (times[i] + timedelta(seconds=15 * n)).strftime(FMT)))
                choices += [(i, q.id, o) for o in opts]
        con.executemany("INSERT INTO answers (response_id, question_id, choices, number, text, other_text, skipped,"
                        " answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", answers)
        con.executemany("INSERT INTO answer_choices (response_id, question_id, option_id) VALUES (?, ?, ?)", choices)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    _recount(db)
    return survey


def _recount(db: Path) -> None:
    """The answer counts the bot keeps with every write (storage/answer_counts.py), counted once for the raw rows."""
    from sqlalchemy import create_engine as create_sync_engine

    from storage.answer_counts import recount

    engine = create_sync_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            recount(conn)
    finally:
        engine.dispose()


def counts(db: Path) -> dict[str, int]:
    """Rows per table."""
    with sqlite3.connect(db) as con:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("respondents", "responses", "answers", "answer_choices")}


def main_on_database(name: str, description: str | None, run: Callable[[Path, Survey, int], list[Row]]) -> None:
    """The command line of a scenario run on a generated database: --responses, --runs, --db (reuse a file)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", type=Path, help="a database made by bench.data (generated when missing)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as tmp:
        db = args.db or Path(tmp) / f"{name}.db"
        if not db.exists():
            log(f"{name}: generating {args.responses:,} completed responses")
            generate(db, args.responses)
        survey = load_survey(None)
        log(f"{name}: {counts(db)}")
        report(run(db, survey, args.runs))
