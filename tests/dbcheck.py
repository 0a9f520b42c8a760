"""Reading what the bot stored, straight from the database (what is stored is what counts).

Plain functions for SQLite and PostgreSQL alike: ``stored_answers(db_url, 1001)``. Each call runs its
query on its own connection, in a helper thread with its own event loop, so it can be called from
async tests between steps without sharing anything with the bot's engine.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

_OF_USER = "JOIN responses r ON r.id = {t}.response_id JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = :k"


async def _fetch(db_url: str, sql: str, params: dict[str, Any]) -> list[dict]:
    engine = create_async_engine(db_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def fetch(db_url: str, sql: str, **params: Any) -> list[dict]:
    """Run one query on its own connection; rows as plain dicts."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _fetch(db_url, sql, params)).result()


def sqlite_only(db_url: str, why: str) -> str:
    """The file path of a sqlite+aiosqlite URL; on PostgreSQL the test is skipped, saying ``why`` the feature it
    checks is SQLite's own. Call it first thing: a test that checks stored data uses ``fetch`` and runs on both."""
    url = make_url(db_url)
    if url.get_backend_name() != "sqlite":
        pytest.skip(f"SQLite only: {why}")
    assert url.database is not None
    return url.database


async def _cells(db_url: str) -> list[tuple[str, str, object]]:
    engine = create_async_engine(db_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            cells: list[tuple[str, str, object]] = []
            for table in tables:
                result = await conn.execute(text(f'SELECT * FROM "{table}"'))
                columns = list(result.keys())
                for row in result:
                    cells += [(table, c, v) for c, v in zip(columns, row)]
            return cells
    finally:
        await engine.dispose()


def all_cells(db_url: str) -> list[tuple[str, str, object]]:
    """Every value of every column of every table of the database: (table, column, value)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _cells(db_url)).result()


def stored_answers(db_url: str, user_key: str | int) -> dict[str, dict]:
    """The answers rows of one respondent, by question id."""
    rows = fetch(db_url, "SELECT a.* FROM answers a " + _OF_USER.format(t="a"), k=str(user_key))
    return {r["question_id"]: r for r in rows}


def stored_choices(db_url: str, user_key: str | int) -> dict[str, list[str]]:
    """The answer_choices of one respondent, by question id, in the order kept in answers.choices.

    The table itself has no order (PostgreSQL has no rowid); answers.choices keeps the questionnaire's.
    """
    rows = fetch(
        db_url,
        "SELECT c.question_id, c.option_id, a.choices FROM answer_choices c "
        "LEFT JOIN answers a ON a.response_id = c.response_id AND a.question_id = c.question_id "
        + _OF_USER.format(t="c"),
        k=str(user_key),
    )
    out: dict[str, list[str]] = {}
    order: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row["question_id"], []).append(row["option_id"])
        order[row["question_id"]] = (row["choices"] or "").split(",")
    for qid, options in out.items():
        options.sort(key=lambda o: order[qid].index(o) if o in order[qid] else len(order[qid]))
    return out


def response_row(db_url: str, user_key: str | int) -> dict | None:
    """The response row of one respondent."""
    rows = fetch(db_url, "SELECT r.* FROM responses r JOIN respondents p ON p.id = r.respondent_id "
                         "WHERE p.user_key = :k", k=str(user_key))
    return rows[0] if rows else None


def respondent_row(db_url: str, user_key: str | int) -> dict | None:
    """The respondents row of one user."""
    rows = fetch(db_url, "SELECT * FROM respondents WHERE user_key = :k", k=str(user_key))
    return rows[0] if rows else None


def count(db_url: str, table: str) -> int:
    """Rows in a table."""
    return fetch(db_url, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]
