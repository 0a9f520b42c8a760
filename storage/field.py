"""The survey's field state in the database (survey_state): read, switched by admins, and the quota gate.

``lock`` + ``completed_count`` + ``mark_quota_reached`` run inside the respondent batch's own
transaction (a synchronous connection, see storage.db.Writer): on PostgreSQL the state row is
locked FOR UPDATE, so two workers finishing responses at once take turns and the count each reads
includes the other's commit; SQLite's BEGIN IMMEDIATE already serialises writers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Connection, Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import read_only
from storage.models import COMPLETED, Response, SurveyState, utcnow
from survey.field import FieldState

_STATE = cast(Table, SurveyState.__table__)


def _row_to_state(row) -> FieldState:
    if row is None:
        return FieldState()
    return FieldState(manual=row.manual, changed_at=_utc(row.changed_at), quota_reached_at=_utc(row.quota_reached_at))


def _utc(value):
    if value is None or (isinstance(value, datetime) and value.tzinfo is not None):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


_SELECT = select(_STATE.c.manual, _STATE.c.changed_at, _STATE.c.quota_reached_at)


def read(conn: Connection, survey_id: str, *, lock: bool = False) -> FieldState:
    """The state row (locked for this transaction on PostgreSQL when ``lock``)."""
    stmt = _SELECT.where(_STATE.c.survey_id == survey_id)
    if lock and conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return _row_to_state(conn.execute(stmt).first())


def completed_count(conn: Connection, survey_id: str) -> int:
    """Completed responses of the survey, as committed (read after the lock)."""
    return conn.execute(
        select(func.count()).select_from(Response).where(Response.survey_id == survey_id, Response.status == COMPLETED)
    ).scalar_one()


def mark_quota_reached(conn: Connection, survey_id: str, when: datetime) -> None:
    """Record the moment the quota's last response completed."""
    conn.execute(update(_STATE).where(_STATE.c.survey_id == survey_id).values(quota_reached_at=when))


def settle_quota(conn: Connection, survey_id: str, quota: int | None, now: datetime) -> None:
    """Make the quota mark agree with the completed responses: reached when at least ``quota`` completed, not
    reached otherwise (a quota raised, lowered or removed in the file; responses completed while opened by hand).

    Runs under the state row's lock like the quota gate, so a response completing at the same moment is counted.
    """
    state = read(conn, survey_id, lock=True)
    reached = quota is not None and completed_count(conn, survey_id) >= quota
    if reached and state.quota_reached_at is None:
        mark_quota_reached(conn, survey_id, now)
    elif not reached and state.quota_reached_at is not None:
        conn.execute(update(_STATE).where(_STATE.c.survey_id == survey_id).values(quota_reached_at=None))


async def settle(engine: AsyncEngine, survey_id: str, quota: int | None) -> None:
    """``settle_quota`` in a transaction of its own (at every start)."""
    await ensure(engine, survey_id)
    async with engine.begin() as conn:
        await conn.run_sync(settle_quota, survey_id, quota, utcnow())


async def ensure(engine: AsyncEngine, survey_id: str) -> None:
    """Create the survey's state row if missing (idempotent; the quota gate locks this row)."""
    async with engine.begin() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(insert(_STATE).values(survey_id=survey_id).on_conflict_do_nothing(index_elements=["survey_id"]))


async def load(engine: AsyncEngine, survey_id: str) -> FieldState:
    """The current state, read on its own."""
    async with read_only(engine).connect() as conn:
        return _row_to_state((await conn.execute(_SELECT.where(_STATE.c.survey_id == survey_id))).first())


async def set_manual(engine: AsyncEngine, survey_id: str, manual: str | None, quota: int | None = None) -> FieldState:
    """An admin's /open or /close, or None: control back to the dates and ``quota`` (the questionnaire's), whose
    mark is settled against the completed responses at once; the new state."""
    await ensure(engine, survey_id)
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(update(_STATE).where(_STATE.c.survey_id == survey_id).values(manual=manual, changed_at=now))
        if manual is None:
            await conn.run_sync(settle_quota, survey_id, quota, now)
    return await load(engine, survey_id)


async def completed(engine: AsyncEngine, survey_id: str) -> int:
    """Completed responses of the survey."""
    async with read_only(engine).connect() as conn:
        return await conn.run_sync(lambda c: completed_count(c, survey_id))
