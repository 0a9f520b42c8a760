"""Reading what the bot stored, straight from the SQLite file (what is stored is what counts)."""

from __future__ import annotations

import sqlite3
from contextlib import closing


def db_path(db_url: str) -> str:
    """The file path of a sqlite+aiosqlite URL."""
    return db_url.split("///", 1)[1]


def stored_answers(db_url: str, user_key: str | int) -> dict[str, dict]:
    """The answers rows of one respondent, by question id."""
    with closing(sqlite3.connect(db_path(db_url))) as con:
        con.row_factory = sqlite3.Row
        rows = con.execute(
            """SELECT a.* FROM answers a JOIN responses r ON r.id = a.response_id
               JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = ?""",
            (str(user_key),),
        ).fetchall()
        return {r["question_id"]: dict(r) for r in rows}


def stored_choices(db_url: str, user_key: str | int) -> dict[str, list[str]]:
    """The answer_choices of one respondent, by question id."""
    with closing(sqlite3.connect(db_path(db_url))) as con:
        rows = con.execute(
            """SELECT c.question_id, c.option_id FROM answer_choices c JOIN responses r ON r.id = c.response_id
               JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = ? ORDER BY c.rowid""",
            (str(user_key),),
        ).fetchall()
    out: dict[str, list[str]] = {}
    for qid, oid in rows:
        out.setdefault(qid, []).append(oid)
    return out


def response_row(db_url: str, user_key: str | int) -> dict | None:
    """The response row of one respondent."""
    with closing(sqlite3.connect(db_path(db_url))) as con:
        con.row_factory = sqlite3.Row
        row = con.execute(
            "SELECT r.* FROM responses r JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = ?",
            (str(user_key),),
        ).fetchone()
        return dict(row) if row else None


def count(db_url: str, table: str) -> int:
    """Rows in a table."""
    with closing(sqlite3.connect(db_path(db_url))) as con:
        return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
