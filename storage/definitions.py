"""Questionnaire definitions kept in the database, and what the stored answers hold per question.

Every questionnaire the bot starts on is stored whole (``survey_definitions``, keyed by the SHA-256
of its canonical JSON); responses record the definition they started on. ``check_changes`` compares
a questionnaire file with the definition last run and with the stored answers (survey.changes).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import read_only
from storage.models import IN_PROGRESS, Answer, AnswerChoice, Response, SurveyDefinition, SurveyState, utcnow
from survey.changes import Change, Usage, compare
from survey.i18n import N_, translator
from survey.model import OTHER, Option, Question, Survey


def canonical(survey: Survey) -> str:
    """The questionnaire as canonical JSON (sorted keys), the form that is stored and hashed."""
    return json.dumps(survey.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(survey: Survey) -> str:
    """SHA-256 of the canonical JSON: equal for equal questionnaires."""
    return hashlib.sha256(canonical(survey).encode()).hexdigest()


async def register(engine: AsyncEngine, survey: Survey) -> int:
    """Record that the bot runs on this questionnaire (idempotent, safe for two workers); its id.

    The survey's survey_state row is created here too if missing.
    """
    d, now = digest(survey), utcnow()
    table = cast(Table, SurveyDefinition.__table__)
    async with engine.begin() as conn:
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(
            insert(table)
            .values(survey_id=survey.id, version=survey.version, digest=d, definition=canonical(survey),
                    registered_at=now, activated_at=now)
            .on_conflict_do_nothing(index_elements=["digest"])
        )
        await conn.execute(update(table).where(table.c.digest == d).values(activated_at=now))
        # The survey's field state row, locked by the quota gate (storage.field); one commit for both.
        await conn.execute(insert(cast(Table, SurveyState.__table__)).values(survey_id=survey.id)
                           .on_conflict_do_nothing(index_elements=["survey_id"]))
        return (await conn.execute(select(table.c.id).where(table.c.digest == d))).scalar_one()


@dataclass(frozen=True)
class LastRun:
    """The questionnaire the bot last started on for a survey id."""

    id: int
    digest: str
    survey: Survey


async def last_run(engine: AsyncEngine, survey_id: str) -> LastRun | None:
    """The definition most recently started on for this survey id, if any."""
    t = SurveyDefinition
    async with read_only(engine).connect() as conn:
        row = (await conn.execute(
            select(t.id, t.digest, t.definition).where(t.survey_id == survey_id)
            .order_by(t.activated_at.desc(), t.id.desc()).limit(1)
        )).first()
    if row is None:
        return None
    return LastRun(row.id, row.digest, Survey.model_validate(json.loads(row.definition)))


async def definition(engine: AsyncEngine, definition_id: int) -> Survey | None:
    """A stored definition by id."""
    async with read_only(engine).connect() as conn:
        text = await conn.scalar(select(SurveyDefinition.definition).where(SurveyDefinition.id == definition_id))
    return Survey.model_validate(json.loads(text)) if text else None


async def usage(engine: AsyncEngine, survey_id: str) -> Usage:
    """Per question id: stored answers by kind, option selections, and in-progress respondents standing on it."""
    ours = select(Response.id).where(Response.survey_id == survey_id)
    out = Usage()
    async with read_only(engine).connect() as conn:
        rows = await conn.execute(
            select(Answer.question_id, Answer.skipped, func.count(), func.count(Answer.number), func.count(Answer.text))
            .where(Answer.response_id.in_(ours)).group_by(Answer.question_id, Answer.skipped)
        )
        for qid, skipped, n, numbers, texts in rows:
            (out.skipped if skipped else out.answered)[qid] = n
            if not skipped:
                out.numbers[qid], out.texts[qid] = numbers, texts
        choices = await conn.execute(
            select(AnswerChoice.question_id, AnswerChoice.option_id, func.count())
            .where(AnswerChoice.response_id.in_(ours)).group_by(AnswerChoice.question_id, AnswerChoice.option_id)
        )
        for qid, option_id, n in choices:
            out.options.setdefault(qid, {})[option_id] = n
        standing = await conn.execute(
            select(Response.current_question, func.count())
            .where(Response.survey_id == survey_id, Response.status == IN_PROGRESS,
                   Response.current_question.is_not(None))
            .group_by(Response.current_question)
        )
        out.standing = {qid: n for qid, n in standing if qid is not None}
    return out


async def check_changes(engine: AsyncEngine, survey: Survey) -> list[Change]:
    """What running ``survey`` would do to the stored answers ([] when it is the questionnaire last run)."""
    last = await last_run(engine, survey.id)
    if last is not None and last.digest == digest(survey):
        return []
    return compare(last.survey if last else None, survey, await usage(engine, survey.id))


REMOVED_NOTE = N_("(removed from the questionnaire)")


async def with_removed(engine: AsyncEngine, survey: Survey) -> Survey:
    """The questionnaire plus what earlier definitions had and the stored answers still hold.

    Exports use it so that answers to removed questions stay in the files, at the end (their text is marked
    «(removed from the questionnaire)» in the questionnaire's default language; a removed question keeps the form it last had), and so that an option removed from a
    question still asked keeps its label (marked the same way) and gets a code: it is put after the current
    options, so their codes do not move, and the codebook and the SAV value labels name it.
    """
    current = {q.id: q for q in survey.questions}
    async with read_only(engine).connect() as conn:
        texts = (await conn.execute(
            select(SurveyDefinition.definition).where(SurveyDefinition.survey_id == survey.id)
            .order_by(SurveyDefinition.id.desc())
        )).scalars().all()
        if not texts:
            return survey
        ours = select(Response.id).where(Response.survey_id == survey.id)
        held = set((await conn.execute(
            select(Answer.question_id).distinct().where(Answer.response_id.in_(ours))
        )).scalars())
        choice_ids = [q.id for q in survey.questions if q.options]
        chosen: dict[str, set[str]] = {}
        if choice_ids:
            for qid, option_id in await conn.execute(
                select(AnswerChoice.question_id, AnswerChoice.option_id).distinct()
                .where(AnswerChoice.response_id.in_(ours), AnswerChoice.question_id.in_(choice_ids))
            ):
                chosen.setdefault(qid, set()).add(option_id)
    gone_options = {qid: ids - set(current[qid].option_ids) - {OTHER} for qid, ids in chosen.items()}
    extra: dict[str, Question] = {}
    note = translator(survey.default_language).gettext(REMOVED_NOTE)
    restored: dict[str, dict[str, Option]] = {}
    for text in texts:  # newest first: a removed question or option keeps its last form
        for q in Survey.model_validate(json.loads(text)).questions:
            if q.id not in current and q.id in held and q.id not in extra:
                extra[q.id] = q.model_copy(update={"text": f"{q.text} {note}", "number": None, "show_if": [],
                                                   "required": False})
            for o in q.options:
                if o.id in gone_options.get(q.id, ()) and o.id not in restored.setdefault(q.id, {}):
                    restored[q.id][o.id] = o.model_copy(update={"text": f"{o.text} {note}"})
    questions = [q.model_copy(update={"options": [*q.options, *restored[q.id].values()]}) if restored.get(q.id) else q
                 for q in survey.questions]
    if not extra and questions == survey.questions:
        return survey
    return Survey.model_construct(survey=survey.survey, questions=[*questions, *extra.values()])
