"""Reminders in the database: which responses are due, the claim that makes a send happen at most once, and counts.

The schedule is derived from stored rows only (``responses.updated_at``, ``reminders_sent``,
``last_reminded_at``, ``respondents.blocked_at``), so a restart forgets nothing and sends nothing twice.

The contract of ``claim``: one conditional UPDATE, committed by the caller BEFORE the message is sent. It
matches only while the response is still due at the version that was read, so of two workers (or two
ticks) claiming the same reminder exactly one gets a row: on PostgreSQL the second UPDATE waits for the
first one's row lock and then re-checks its WHERE against the committed row; SQLite has one writer. A crash
after the claim's COMMIT and before Telegram answers loses that reminder (at most once: Telegram has no
idempotency key, so sending it again could send it twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import aliased

from storage.db import read_only
from storage.models import COMPLETED, IN_PROGRESS, Answer, Respondent, Response


@dataclass(frozen=True)
class DueReminder:
    """A response whose respondent is to be reminded, as read (the claim checks it again)."""

    response_id: int
    user_key: str
    version: int  # the position's version: the «Continue» button is drawn for it
    sent: int  # reminders claimed so far
    language: str | None = None  # respondents.language: the reminder is said in it


@dataclass(frozen=True)
class ReminderCounts:
    """Of the survey's responses: reminded (delivered at least one), came back (answered after the first
    reminder) and completed after being reminded."""

    reminded: int = 0
    came_back: int = 0
    completed: int = 0


def _not_blocked() -> ColumnElement[bool]:
    """The respondent has not blocked the bot since their last activity (one who writes again unblocked it)."""
    who = aliased(Respondent)  # its own alias: the due query joins respondents too
    blocked = select(who.id).where(
        who.id == Response.respondent_id,
        who.blocked_at.is_not(None),
        who.blocked_at >= Response.updated_at,
    ).correlate(Response)
    return ~exists(blocked)


def _due(survey_id: str, cutoff: datetime, max_count: int) -> list[ColumnElement[bool]]:
    """Still in progress in this survey, untouched and unreminded since ``cutoff``, reminders left, not blocked."""
    return [
        Response.survey_id == survey_id,
        Response.status == IN_PROGRESS,
        Response.reminders_sent < max_count,
        Response.updated_at <= cutoff,
        or_(Response.last_reminded_at.is_(None), Response.last_reminded_at <= cutoff),
        _not_blocked(),
    ]


async def due_reminders(engine: AsyncEngine, survey_id: str, now: datetime, after: timedelta, max_count: int,
                        limit: int) -> list[DueReminder]:
    """Up to ``limit`` responses due a reminder at ``now``, longest waiting first (a read; nothing is claimed)."""
    stmt = (
        select(Response.id, Respondent.user_key, Response.version, Response.reminders_sent, Respondent.language)
        .join(Respondent, Respondent.id == Response.respondent_id)
        .where(*_due(survey_id, now - after, max_count))
        .order_by(Response.updated_at, Response.id)
        .limit(limit)
    )
    async with read_only(engine).connect() as conn:
        rows = await conn.execute(stmt)
        return [DueReminder(*row) for row in rows]


async def claim(conn: AsyncConnection, survey_id: str, due: DueReminder, now: datetime, after: timedelta,
                max_count: int) -> bool:
    """Count this reminder as sent, if it is still due exactly as read; True when this caller won it.

    Run it in its own transaction and COMMIT before sending (see the module's contract). The position and its
    version are left alone: the respondent's keyboards keep working, and a respondent acting at this moment
    either commits first (then this matches nothing) or finds the reminder already on its way.
    """
    result = await conn.execute(
        update(Response)
        .where(Response.id == due.response_id, Response.version == due.version,
               Response.reminders_sent == due.sent, *_due(survey_id, now - after, max_count))
        .values(reminders_sent=Response.reminders_sent + 1, last_reminded_at=now,
                first_reminded_at=func.coalesce(Response.first_reminded_at, now))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


async def undelivered(conn: AsyncConnection, due: DueReminder, *, blocked_at: datetime | None) -> None:
    """A claimed reminder Telegram refused: the respondent is marked blocked (when it said so), and a first
    reminder that never arrived does not count as reminded. The claim itself stays: it is never retried."""
    if blocked_at is not None:
        await conn.execute(update(Respondent).where(Respondent.user_key == due.user_key).values(blocked_at=blocked_at))
    if due.sent == 0:
        await conn.execute(update(Response).where(Response.id == due.response_id, Response.reminders_sent == 1)
                           .values(first_reminded_at=None))


async def reminder_counts(conn: AsyncConnection, in_survey: ColumnElement[bool]) -> ReminderCounts:
    """Reminded / came back / completed among the responses ``in_survey`` selects (one query)."""
    answered_after = exists(
        select(Answer.id).where(Answer.response_id == Response.id, Answer.answered_at > Response.first_reminded_at)
    )
    came_back = or_(answered_after, Response.status == COMPLETED)
    row = (await conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((came_back, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Response.status == COMPLETED, 1), else_=0)), 0),
        ).where(in_survey, Response.first_reminded_at.is_not(None))
    )).one()
    return ReminderCounts(int(row[0]), int(row[1]), int(row[2]))


