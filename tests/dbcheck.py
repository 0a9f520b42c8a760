"""Reading what the bot stored, straight from the database (what is stored is what counts).

Async helpers for SQLite and PostgreSQL alike: ``await stored_answers(db_url, 1001)``. Each call opens
its own short-lived connection, so nothing is shared with the bot's engine.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

_OF_USER = "JOIN responses r ON r.id = {t}.response_id JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = :k"


async def fetch(db_url: str, sql: str, **params: Any) -> list[dict]:
    """Run one query on its own connection; rows as plain dicts."""
    engine = create_async_engine(db_url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


async def stored_answers(db_url: str, user_key: str | int) -> dict[str, dict]:
    """The answers rows of one respondent, by question id."""
    rows = await fetch(db_url, "SELECT a.* FROM answers a " + _OF_USER.format(t="a"), k=str(user_key))
    return {r["question_id"]: r for r in rows}


async def stored_choices(db_url: str, user_key: str | int) -> dict[str, list[str]]:
    """The answer_choices of one respondent, by question id, in the order the respondent chose them.

    The table itself has no order; the order of selection is the one kept in answers.choices.
    """
    rows = await fetch(
        db_url,
        "SELECT c.question_id, c.option_id, a.choices FROM answer_choices c "
        "LEFT JOIN answers a ON a.response_id = c.response_id AND a.question_id = c.question_id "
        + _OF_USER.format(t="c"),
        k=str(user_key),
    )
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row["question_id"], []).append(row["option_id"])
    for qid, options in out.items():
        order = next((r["choices"] or "" for r in rows if r["question_id"] == qid), "").split(",")
        options.sort(key=lambda o: order.index(o) if o in order else len(order))
    return out


async def response_row(db_url: str, user_key: str | int) -> dict | None:
    """The response row of one respondent."""
    rows = await fetch(db_url, "SELECT r.* FROM responses r JOIN respondents p ON p.id = r.respondent_id "
                               "WHERE p.user_key = :k", k=str(user_key))
    return rows[0] if rows else None


async def respondent_row(db_url: str, user_key: str | int) -> dict | None:
    """The respondents row of one user."""
    rows = await fetch(db_url, "SELECT * FROM respondents WHERE user_key = :k", k=str(user_key))
    return rows[0] if rows else None


async def count(db_url: str, table: str) -> int:
    """Rows in a table."""
    return (await fetch(db_url, f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"]
