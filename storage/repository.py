"""Repository and unit of work: the only place that speaks SQL for the respondent flow.

The caller owns the transaction: ``async with UnitOfWork(sessions) as uow: ...; await uow.commit()``.
Leaving the block without ``commit`` rolls everything back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import (
    COMPLETED,
    IN_PROGRESS,
    Answer as AnswerRow,
    AnswerChoice,
    ProcessedUpdate,
    Respondent,
    Response,
    utcnow,
)
from survey.flow import Answer, Outcome, Progress, Kind
from survey.model import Survey


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(value.split(",")) if value else ()


def _join(values: tuple[str, ...]) -> str | None:
    return ",".join(values) if values else None


class Repository:
    """Reads and writes respondents, responses and answers inside the caller's transaction."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def claim_update(self, update_id: int) -> bool:
        """Record an update id; False when it was already processed (a redelivery)."""
        dialect = self.session.bind.dialect.name
        builder = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = builder(ProcessedUpdate).values(update_id=update_id, processed_at=utcnow())
        result = await self.session.execute(stmt.on_conflict_do_nothing(index_elements=["update_id"]))
        return result.rowcount == 1

    async def prune_updates(self, older_than: timedelta) -> int:
        """Forget processed update ids older than the given age (Telegram redelivers for 24 h at most)."""
        result = await self.session.execute(
            delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < utcnow() - older_than)
        )
        return result.rowcount

    async def respondent(self, user_key: str) -> Respondent | None:
        """The respondent with this key, if known."""
        return await self.session.scalar(select(Respondent).where(Respondent.user_key == user_key))

    async def add_respondent(self, user_key: str, source: str | None) -> Respondent:
        """Create a respondent (first contact)."""
        row = Respondent(user_key=user_key, source=source, first_seen=utcnow())
        self.session.add(row)
        await self.session.flush()
        return row

    async def response(self, respondent_id: int, survey_id: str) -> Response | None:
        """The respondent's response to a survey, locked for update where the database can."""
        stmt = (
            select(Response)
            .where(Response.respondent_id == respondent_id, Response.survey_id == survey_id)
            .with_for_update()
        )
        return await self.session.scalar(stmt)

    async def start_response(self, respondent: Respondent, survey: Survey, first: str | None) -> Response:
        """A new response positioned on the first question."""
        now = utcnow()
        row = Response(
            respondent_id=respondent.id,
            survey_id=survey.id,
            survey_version=survey.version,
            status=IN_PROGRESS,
            started_at=now,
            updated_at=now,
            current_question=first,
            awaiting_other=False,
            version=1,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def answers(self, response_id: int) -> dict[str, Answer]:
        """All stored answers of a response, by question id."""
        rows = await self.session.execute(
            select(
                AnswerRow.question_id,
                AnswerRow.choices,
                AnswerRow.number,
                AnswerRow.text,
                AnswerRow.other_text,
                AnswerRow.skipped,
            ).where(AnswerRow.response_id == response_id)
        )
        return {
            qid: Answer(option_ids=_split(ch), number=num, text=txt, other_text=oth, skipped=bool(sk))
            for qid, ch, num, txt, oth, sk in rows
        }

    async def progress(self, response: Response) -> Progress:
        """The respondent's position and answers, as the pure flow sees them."""
        return Progress(
            current=response.current_question,
            answers=await self.answers(response.id),
            draft=_split(response.draft),
            draft_other=response.draft_other,
            awaiting_other=bool(response.awaiting_other),
        )

    async def save(self, response: Response, outcome: Outcome) -> None:
        """Persist an outcome of the flow: changed answers, position, and a bumped version."""
        now = utcnow()
        for qid, answer in outcome.changed.items():
            await self.session.execute(
                delete(AnswerRow).where(AnswerRow.response_id == response.id, AnswerRow.question_id == qid)
            )
            await self.session.execute(
                delete(AnswerChoice).where(AnswerChoice.response_id == response.id, AnswerChoice.question_id == qid)
            )
            if answer is None:
                continue
            await self.session.execute(
                insert(AnswerRow).values(
                    response_id=response.id,
                    question_id=qid,
                    choices=_join(answer.option_ids),
                    number=answer.number,
                    text=answer.text,
                    other_text=answer.other_text,
                    skipped=answer.skipped,
                    answered_at=now,
                )
            )
            if answer.option_ids:
                await self.session.execute(
                    insert(AnswerChoice),
                    [{"response_id": response.id, "question_id": qid, "option_id": o} for o in answer.option_ids],
                )
        progress = outcome.progress
        values: dict[str, Any] = {
            "current_question": progress.current,
            "draft": _join(progress.draft),
            "draft_other": progress.draft_other,
            "awaiting_other": progress.awaiting_other,
            "version": Response.version + 1,
            "updated_at": now,
        }
        if outcome.kind == Kind.FINISHED:
            values.update(status=COMPLETED, completed_at=now)
        await self.session.execute(update(Response).where(Response.id == response.id).values(**values))
        # the ORM already refreshed response.version from the UPDATE (synchronize_session); no second bump

    async def restart(self, response: Response, survey: Survey, first: str | None) -> None:
        """Clear a response's answers and put it back on the first question."""
        await self.session.execute(delete(AnswerChoice).where(AnswerChoice.response_id == response.id))
        await self.session.execute(delete(AnswerRow).where(AnswerRow.response_id == response.id))
        now = utcnow()
        await self.session.execute(
            update(Response)
            .where(Response.id == response.id)
            .values(
                status=IN_PROGRESS,
                started_at=now,
                completed_at=None,
                updated_at=now,
                current_question=first,
                draft=None,
                draft_other=None,
                awaiting_other=False,
                survey_version=survey.version,
                version=Response.version + 1,
            )
        )
        # the ORM already refreshed response.version from the UPDATE (synchronize_session); no second bump

    async def mark_blocked(self, user_key: str, when: datetime | None = None) -> None:
        """Note that a respondent blocked the bot, so nothing more is sent to them."""
        await self.session.execute(
            update(Respondent).where(Respondent.user_key == user_key).values(blocked_at=when or utcnow())
        )

    async def forget(self, user_key: str) -> bool:
        """Delete a respondent with all responses and answers; False when unknown."""
        respondent = await self.respondent(user_key)
        if respondent is None:
            return False
        ids = select(Response.id).where(Response.respondent_id == respondent.id).scalar_subquery()
        await self.session.execute(delete(AnswerChoice).where(AnswerChoice.response_id.in_(ids)))
        await self.session.execute(delete(AnswerRow).where(AnswerRow.response_id.in_(ids)))
        await self.session.execute(delete(Response).where(Response.respondent_id == respondent.id))
        await self.session.execute(delete(Respondent).where(Respondent.id == respondent.id))
        return True

    async def count_completed(self, survey_id: str) -> int:
        """How many responses to a survey are completed."""
        return await self.session.scalar(
            select(func.count()).select_from(Response).where(Response.survey_id == survey_id, Response.status == COMPLETED)
        ) or 0


class UnitOfWork:
    """One transaction: ``async with UnitOfWork(sessions) as uow`` then ``await uow.commit()``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]):
        self._sessions = sessions

    async def __aenter__(self) -> "UnitOfWork":
        self.session = self._sessions()
        self.repo = Repository(self.session)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.session.rollback()
        finally:
            await self.session.close()

    async def commit(self) -> None:
        """Make the work durable."""
        await self.session.commit()


async def respondent_record(repo: Repository, user_key: str) -> dict[str, Any] | None:
    """Everything stored about one respondent, as plain data (for /my_data)."""
    respondent = await repo.respondent(user_key)
    if respondent is None:
        return None
    responses = (
        await repo.session.scalars(select(Response).where(Response.respondent_id == respondent.id).order_by(Response.id))
    ).all()
    return {
        "user_key": respondent.user_key,
        "first_seen": respondent.first_seen,
        "source": respondent.source,
        "blocked_at": respondent.blocked_at,
        "responses": [
            {
                "survey_id": r.survey_id,
                "status": r.status,
                "started_at": r.started_at,
                "completed_at": r.completed_at,
                "answers": await repo.answers(r.id),
            }
            for r in responses
        ],
    }
