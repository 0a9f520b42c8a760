"""Removing a test run (``/test reset``): the admin's response to the test copy and its answers."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.answer_counts import discount_responses
from storage.models import Answer, AnswerChoice, Respondent, Response


async def reset_test(engine: AsyncEngine, user_key: str, test_survey_id: str) -> bool:
    """Delete one respondent's response to the test survey with its answers; False when there was none."""
    ids = (
        select(Response.id)
        .join(Respondent, Respondent.id == Response.respondent_id)
        .where(Respondent.user_key == user_key, Response.survey_id == test_survey_id)
    )
    async with engine.begin() as conn:
        found = [row[0] for row in await conn.execute(ids)]
        if not found:
            return False
        await discount_responses(conn, found)  # the test survey's answer counts lose them too
        await conn.execute(delete(AnswerChoice).where(AnswerChoice.response_id.in_(found)))
        await conn.execute(delete(Answer).where(Answer.response_id.in_(found)))
        await conn.execute(delete(Response).where(Response.id.in_(found)))
    return True
