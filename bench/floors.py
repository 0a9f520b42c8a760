"""Floors: what the database (or the bare libraries) do for the same result, measured in the same run (issue 23).

Each floor is the plain, hand-written way to the same figures or the same file, with the raw driver
(``sqlite3``) and no project code on the path:

* ``summary_floor`` — the GROUP BY queries per question kind that yield /stats' figures (statuses,
  answered / skipped / values per question, options per question, the typed texts), results fetched;
  with ``where_sql`` the same queries restricted to the kept respondents (the floor of ``/stats where``);
* ``csv_floor`` — one wide row per response straight from SQL (responses × respondents × the answers
  pivoted with ``MAX(CASE …)``), a raw cursor written with the ``csv`` module;
* ``pandas_csv`` — what a user would write instead: ``pandas.read_sql`` + ``pivot`` + ``to_csv``;
* ``xlsx_floor`` — the same wide rows written by XlsxWriter in ``constant_memory`` mode, no formatting;
* ``xlsx_cells_floor`` — not a floor of the database but of the library: the export's own cells (read beforehand,
  outside the timing, by ``analytics.export.collect_rows``) written by XlsxWriter in the same mode, no formatting —
  what writing this workbook's 7 M cells costs XlsxWriter alone (the SQL wide rows above have about a third as many);
* ``import_floor`` — ``python -c "import telegram, sqlalchemy"``: the floor of any PTB + SQLAlchemy bot.
"""

from __future__ import annotations

import csv
import gc
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from survey.model import CHOICE_TYPES, QuestionType, Survey


def filter_sql(survey: Survey, where: str) -> str:
    """The respondent filter ``where`` (as /stats takes it) as a plain SQLite condition on ``responses``."""
    from sqlalchemy.dialects import sqlite

    from analytics.filters import parse_filter

    predicate = parse_filter(where, survey).predicate()
    return str(predicate.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def _quoted(ids: list[str]) -> str:
    return ", ".join("'" + i.replace("'", "''") + "'" for i in ids)


def summary_queries(survey: Survey, where_sql: str | None = None) -> list[tuple[str, tuple]]:
    """The plain SQL of /stats' figures (restricted to the kept respondents when ``where_sql`` is given)."""
    kept_responses = f" AND ({where_sql})" if where_sql else ""
    kept = f" response_id IN (SELECT id FROM responses WHERE {where_sql})" if where_sql else ""
    other_ids = [q.id for q in survey.questions if q.type in CHOICE_TYPES and q.other_allowed]
    text_ids = [q.id for q in survey.questions if q.type == QuestionType.TEXT]
    queries = [
        ("SELECT status, COUNT(*), COUNT(completed_at) FROM responses WHERE survey_id = ?" + kept_responses
         + " GROUP BY status", (survey.id,)),
        ("SELECT question_id, skipped, number, COUNT(*) FROM answers" + (f" WHERE{kept}" if kept else "")
         + " GROUP BY question_id, skipped, number", ()),
        ("SELECT question_id, option_id, COUNT(*) FROM answer_choices" + (f" WHERE{kept}" if kept else "")
         + " GROUP BY question_id, option_id", ()),
    ]
    if other_ids:
        queries.append((f"SELECT question_id, other_text FROM answers WHERE question_id IN ({_quoted(other_ids)})"
                        f" AND other_text IS NOT NULL{' AND' + kept if kept else ''} ORDER BY id", ()))
    if text_ids:
        queries.append((f"SELECT question_id, text FROM answers WHERE question_id IN ({_quoted(text_ids)})"
                        f" AND skipped = 0 AND text IS NOT NULL{' AND' + kept if kept else ''} ORDER BY id", ()))
    return queries


def summary_floor(db: Path, survey: Survey, where_sql: str | None = None) -> float:
    """Seconds of the plain SQL of /stats (every row fetched), on a connection opened outside the timing."""
    queries = summary_queries(survey, where_sql)
    con = sqlite3.connect(db)
    try:
        con.execute("SELECT 1").fetchall()
        gc.collect()
        start = time.perf_counter()
        for sql, args in queries:
            con.execute(sql, args).fetchall()
        return time.perf_counter() - start
    finally:
        con.close()


def wide_rows_sql(survey: Survey) -> str:
    """One row per response: its own columns, its respondent's, then each question's stored value(s)."""
    cols = []
    for q in survey.questions:
        qid = q.id.replace("'", "''")
        match q.type:
            case QuestionType.SINGLE | QuestionType.MULTIPLE:
                cols.append(f"MAX(CASE WHEN a.question_id = '{qid}' THEN a.choices END)")
                if q.other_allowed:
                    cols.append(f"MAX(CASE WHEN a.question_id = '{qid}' THEN a.other_text END)")
            case QuestionType.SCALE | QuestionType.NUMBER:
                cols.append(f"MAX(CASE WHEN a.question_id = '{qid}' THEN a.number END)")
            case QuestionType.TEXT:
                cols.append(f"MAX(CASE WHEN a.question_id = '{qid}' THEN a.text END)")
    return ("SELECT r.id, r.status, r.started_at, r.completed_at, p.user_key, p.source, r.survey_version,"
            " r.current_question, " + ", ".join(cols) +
            " FROM responses r JOIN respondents p ON p.id = r.respondent_id LEFT JOIN answers a ON a.response_id = r.id"
            " GROUP BY r.id ORDER BY r.id")


def csv_floor(db: Path, survey: Survey, out: Path) -> tuple[float, int]:
    """(seconds, rows): the wide rows from a raw cursor, written by ``csv.writer``."""
    gc.collect()
    start = time.perf_counter()
    con = sqlite3.connect(db)
    n = 0
    try:
        cursor = con.execute(wide_rows_sql(survey))
        with open(out, "w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([d[0] for d in cursor.description])
            while rows := cursor.fetchmany(5_000):
                writer.writerows(rows)
                n += len(rows)
    finally:
        con.close()
    return time.perf_counter() - start, n


def pandas_csv(db: Path, survey: Survey, out: Path) -> tuple[float, int]:
    """(seconds, rows): pandas.read_sql of the answers + pivot + to_csv, what a user would write instead."""
    import pandas as pd

    gc.collect()
    start = time.perf_counter()
    with sqlite3.connect(db) as con:
        frame = pd.read_sql("SELECT response_id, question_id, choices, number, text, other_text FROM answers", con)
    frame["value"] = frame["choices"].fillna(frame["number"].astype("string")).fillna(frame["text"])
    wide = frame.pivot(index="response_id", columns="question_id", values=["value", "other_text"])
    wide.to_csv(out, encoding="utf-8-sig")
    return time.perf_counter() - start, len(wide)


def xlsx_floor(db: Path, survey: Survey, out: Path) -> tuple[float, int]:
    """(seconds, rows): the wide rows written by XlsxWriter, ``constant_memory``, no formatting."""
    import xlsxwriter

    gc.collect()
    start = time.perf_counter()
    con = sqlite3.connect(db)
    n = 0
    try:
        cursor = con.execute(wide_rows_sql(survey))
        book = xlsxwriter.Workbook(str(out), {"constant_memory": True})
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, [d[0] for d in cursor.description])
        while rows := cursor.fetchmany(5_000):
            for row in rows:
                n += 1
                sheet.write_row(n, 0, row)
        book.close()
    finally:
        con.close()
    return time.perf_counter() - start, n


def xlsx_cells_floor(db: Path, survey: Survey, out: Path) -> tuple[float, int]:
    """(seconds, rows): the raw-data export's own cells, read first and untimed, written by XlsxWriter
    (``constant_memory``, the export's string options, no cell formats)."""
    import asyncio

    import xlsxwriter

    from analytics.export import collect_rows
    from storage.db import create_engine, read_only

    async def cells() -> tuple[list[str], list[list]]:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            return await collect_rows(read_only(engine), survey)
        finally:
            await engine.dispose()

    columns, rows = asyncio.run(cells())
    naive = [[c.replace(tzinfo=None) if hasattr(c, "tzinfo") else c for c in row] for row in rows]
    del rows
    gc.collect()
    start = time.perf_counter()
    book = xlsxwriter.Workbook(str(out), {"constant_memory": True, "strings_to_formulas": False,
                                          "strings_to_urls": False, "strings_to_numbers": False})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, columns)
    for n, row in enumerate(naive, 1):
        sheet.write_row(n, 0, row)
    book.close()
    return time.perf_counter() - start, len(naive)


def import_floor() -> float:
    """Seconds of ``python -c "import telegram, sqlalchemy"`` as a subprocess."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import telegram, sqlalchemy"], check=True)
    return time.perf_counter() - start


__all__ = ["csv_floor", "filter_sql", "import_floor", "pandas_csv", "summary_floor", "summary_queries",
           "wide_rows_sql", "xlsx_cells_floor", "xlsx_floor"]
