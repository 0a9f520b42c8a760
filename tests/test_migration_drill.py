"""The upgrade drill (issue 24): a database left at every earlier migration head, full of answers, upgrades to the
current head with every answer and every count intact, on SQLite and PostgreSQL.

The revisions come from Alembic's own script directory, so a migration added tomorrow is drilled without touching
this file. For each earlier revision R: a fresh database is brought to R by the real migrations, then filled the
way the bot of that time stored a survey — respondents, completed and in-progress responses, answers of every
question type (single with a typed "other", multiple with its answer_choices rows, scale, number, text, skipped),
drafts, processed update ids, and whatever R's tables already had (reminder marks from 0004, the stored
questionnaire from 0005, the field state from 0006, the shared budget from 0003/0007) — only the columns R has,
in the stored encodings of storage/records.py (option ids comma-joined, moments in UTC). Then the real
``storage.migrate.upgrade`` (what ``surveybot run`` and ``surveybot migrate`` call) takes it to the head, and:

- every row of every table that existed at R is still there with every value it had (compared cell by cell);
- the current code reads it: the summary's started/completed/in-progress counts and each question's base and
  per-option counts equal what was written.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.summary import build_summary
from storage import answer_counts
from storage.db import create_engine
from storage.definitions import canonical, digest
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from survey.flow import OTHER
from survey.loader import load_survey
from survey.model import QuestionType, Survey

START = datetime(2026, 10, 5, 9, 30, tzinfo=UTC)
COMPLETED_N, IN_PROGRESS_N = 14, 6


def revisions() -> list[str]:
    """Every revision from the first to the one before the head, oldest first (Alembic's own chain)."""
    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1, f"two migration heads: {script.get_heads()} (re-chain the newer one)"
    chain = [rev.revision for rev in script.walk_revisions()]  # newest first
    return list(reversed(chain))[:-1]


def test_the_drill_covers_every_earlier_head():
    chain = revisions()
    assert chain[0] == "0001" and head_revision() not in chain
    assert len(chain) >= 6, chain  # 0001 … 0006 at least, whatever lands later too


def _moment(conn: AsyncConnection, at: datetime):
    """A moment as the model's UTCDateTime binds it: naive UTC on SQLite, aware on PostgreSQL."""
    return at.replace(tzinfo=None) if conn.dialect.name == "sqlite" else at


def _answer(q, rnd: random.Random) -> dict:
    """One answer's stored columns (and its option ids), by question type, as the bot stores them."""
    if not q.required and rnd.random() < 0.15:
        return {"skipped": True, "options": ()}
    match q.type:
        case QuestionType.SINGLE:
            if q.other_allowed and rnd.random() < 0.3:
                return {"choices": OTHER, "other_text": f"свой <b>ответ</b> {rnd.randint(1, 9)}", "options": (OTHER,)}
            opt = rnd.choice(q.options).id
            return {"choices": opt, "options": (opt,)}
        case QuestionType.MULTIPLE:
            ids = tuple(o.id for o in q.options if rnd.random() < 0.5) or (q.options[0].id,)
            return {"choices": ",".join(ids), "options": ids}
        case QuestionType.SCALE:
            return {"number": rnd.randint(q.scale.min, q.scale.max), "options": ()}
        case QuestionType.NUMBER:
            return {"number": rnd.randint(q.min or 0, min(q.max or 10_000, (q.min or 0) + 500)), "options": ()}
        case _:
            return {"text": f"ответ «{rnd.randint(1, 99)}»\nвторая строка 🙂", "options": ()}


async def _fill(engine: AsyncEngine, survey: Survey) -> None:
    """Rows as the bot at the database's revision wrote them: only the tables and columns that revision has."""
    rnd = random.Random(24)
    async with engine.begin() as conn:
        meta = MetaData()
        await conn.run_sync(lambda sync: meta.reflect(sync))
        t = meta.tables

        def row(table: Table, **values) -> dict:
            return {k: v for k, v in values.items() if k in table.c}

        definition_id = None
        if "survey_definitions" in t:
            at = _moment(conn, START)
            await conn.execute(t["survey_definitions"].insert().values(
                id=1, survey_id=survey.id, version=survey.version, digest=digest(survey),
                definition=canonical(survey), registered_at=at, activated_at=at))
            definition_id = 1
        if "survey_state" in t:
            await conn.execute(t["survey_state"].insert().values(survey_id=survey.id, manual=None))
        if "send_budget" in t:
            await conn.execute(t["send_budget"].insert().values(**row(
                t["send_budget"], id=1, tokens=12.5, counted_at=_moment(conn, START),
                interactive_until=_moment(conn, START))))
        await conn.execute(t["processed_updates"].insert(), [
            {"update_id": 900_000 + i, "processed_at": _moment(conn, START + timedelta(seconds=i))} for i in range(30)])
        for i in range(COMPLETED_N + IN_PROGRESS_N):
            rid = i + 1
            began = START + timedelta(minutes=7 * i)
            done = i < COMPLETED_N
            answered = survey.questions if done else survey.questions[: 1 + i % (len(survey.questions) - 1)]
            await conn.execute(t["respondents"].insert().values(**row(
                t["respondents"], id=rid, user_key=str(5_000_000 + i), first_seen=_moment(conn, began),
                source="channel" if i % 3 == 0 else None,
                blocked_at=_moment(conn, began + timedelta(days=1)) if i == 3 else None)))
            current = None if done else survey.questions[len(answered)]
            draft = None
            if current is not None and current.type == QuestionType.MULTIPLE:
                draft = current.options[0].id  # a half-ticked multiple choice
            last = began + timedelta(seconds=40 * len(answered))
            await conn.execute(t["responses"].insert().values(**row(
                t["responses"], id=rid, respondent_id=rid, survey_id=survey.id, survey_version=survey.version,
                status="completed" if done else "in_progress", started_at=_moment(conn, began),
                completed_at=_moment(conn, last) if done else None, updated_at=_moment(conn, last),
                current_question=None if done else current.id, draft=draft, draft_other=None, awaiting_other=False,
                version=len(answered) + 1, reminders_sent=0 if done else 1,
                first_reminded_at=None if done else _moment(conn, last + timedelta(hours=24)),
                last_reminded_at=None if done else _moment(conn, last + timedelta(hours=24)),
                definition_id=definition_id)))
            for n, q in enumerate(answered):
                a = _answer(q, rnd)
                await conn.execute(t["answers"].insert().values(
                    response_id=rid, question_id=q.id, choices=a.get("choices"), number=a.get("number"),
                    text=a.get("text"), other_text=a.get("other_text"), skipped=a.get("skipped", False),
                    answered_at=_moment(conn, began + timedelta(seconds=40 * n))))
                if a["options"]:
                    await conn.execute(t["answer_choices"].insert(), [
                        {"response_id": rid, "question_id": q.id, "option_id": o} for o in a["options"]])
        if "answer_counts" in t:  # a bot at that revision kept the answer counts with every write
            await conn.run_sync(answer_counts.recount)


async def _snapshot(engine: AsyncEngine, tables: list[str] | None = None) -> dict[str, list[tuple]]:
    """Every row of every table (but Alembic's own), sorted; only the columns each table had then."""
    async with engine.connect() as conn:
        meta = MetaData()
        await conn.run_sync(lambda sync: meta.reflect(sync))
        out: dict[str, list[tuple]] = {}
        for name, table in meta.tables.items():
            if name == "alembic_version" or (tables is not None and name not in tables):
                continue
            out[name] = sorted((tuple((c, _plain(v)) for c, v in r._mapping.items())
                                for r in await conn.execute(select(table))), key=repr)
        return out


def _plain(value: object) -> object:
    """A cell in a form equal across the two reads (a moment as UTC, a bool as int)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def _expected_counts(before: dict[str, list[tuple]], survey: Survey) -> dict:
    """What the summary must say, from the rows written: responses by status, answers and options per question."""
    responses = [dict(r) for r in before["responses"]]
    answers = [dict(r) for r in before["answers"]]
    choices = [dict(r) for r in before["answer_choices"]]
    per_q = {q.id: sum(1 for a in answers if a["question_id"] == q.id and not a["skipped"]) for q in survey.questions}
    options = {(c["question_id"], c["option_id"]) for c in choices}
    return {"started": len(responses), "completed": sum(r["status"] == "completed" for r in responses),
            "answered": per_q,
            "options": {k: sum(1 for c in choices if (c["question_id"], c["option_id"]) == k) for k in options}}


@pytest.mark.parametrize("revision", revisions())
async def test_a_database_from_an_earlier_release_upgrades_with_every_answer_intact(db_url, revision):
    survey = load_survey(None)
    engine = create_engine(db_url)
    try:
        await upgrade(engine, revision)
        assert await current_revision(engine) == revision
        await _fill(engine, survey)
        before = await _snapshot(engine)
        assert len(before["answers"]) > 100 and before["answer_choices"], "the fixture has answers of every kind"

        await upgrade(engine)  # what `surveybot run` / `surveybot migrate` do on start

        assert await current_revision(engine) == head_revision()
        after = await _snapshot(engine, tables=list(before))
        for name, rows in before.items():
            assert len(after[name]) == len(rows), f"{name}: {len(rows)} rows before, {len(after[name])} after"
            kept = {c for c, _ in rows[0]} if rows else set()  # the columns the table had at the old revision
            now = sorted((tuple(cell for cell in r if cell[0] in kept) for r in after[name]), key=repr)
            assert now == rows, f"{name}: a stored value changed in the upgrade from {revision}"

        # The current code reads the upgraded database: every count as written.
        expected = _expected_counts(before, survey)
        summary = await build_summary(engine, survey)
        assert (summary.started, summary.completed, summary.in_progress) == (
            expected["started"], expected["completed"], expected["started"] - expected["completed"])
        by_id = {q.id: q for q in summary.questions}
        for qid, n in expected["answered"].items():
            assert by_id[qid].n == n, (qid, by_id[qid].n, n)
            if by_id[qid].is_choice:
                shown = {(qid, o.id): o.count for o in by_id[qid].options if o.count}
                written = {k: v for k, v in expected["options"].items() if k[0] == qid}
                assert shown == written, (qid, shown, written)
        async with engine.connect() as conn:
            stored = {(r.question_id, r.option_id): r.n for r in await conn.execute(text(
                "SELECT question_id, option_id, COUNT(*) AS n FROM answer_choices GROUP BY question_id, option_id"))}
        assert stored == expected["options"]
        # The answer counts (0013) were backfilled from those rows, and /stats above read them.
        async with engine.connect() as conn:
            assert await conn.run_sync(answer_counts.kept) == await conn.run_sync(answer_counts.recounted)
            assert await answer_counts.survey_counts(conn, survey.id) is not None
    finally:
        await engine.dispose()
