"""The answer counts kept with every write (storage/answer_counts.py) equal a recount of the stored answers, and
the full /stats read from them is the summary counted from the answers, on SQLite and PostgreSQL (issue 23)."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from sqlalchemy import insert, update

import analytics.summary as summary_module
from analytics.summary import build_summary, summary_to_json
from bot.cli import main
from storage.answer_counts import kept, recounted, survey_counts
from storage.models import Answer, AnswerChoice
from tests.conftest import ADMIN_ID
from tests.dbcheck import fetch
from tests.harness import QueuedUser, Respondent
from tests.recording import SimUser


async def _summaries(engine, survey, monkeypatch) -> tuple[str, str, bool]:
    """The summary's JSON read through the kept counts, then counted from the answers; whether counts were used."""
    used = []

    async def spying(conn, survey_id):
        counts = await survey_counts(conn, survey_id)
        used.append(counts is not None)
        return counts

    async def never(conn, survey_id):
        return None

    out = []
    for reader in (spying, never):
        monkeypatch.setattr(summary_module, "survey_counts", reader)
        out.append(json.dumps(summary_to_json(await build_summary(engine, survey)), sort_keys=True, default=str))
    return out[0], out[1], used == [True]


async def _partial(u: SimUser, answers: int) -> None:
    await u.begin()
    for _ in range(answers):
        await u.answer_current(str(random.Random(u.id).randint(1, 500)))


@pytest.mark.slow
async def test_kept_counts_equal_a_recount_after_every_kind_of_write(bot, db_url, monkeypatch):
    app, request = bot
    survey = app.bot_data.survey
    # Whole walks with Back, skips, Keep, rewritten answers, typed "other", resumes and double taps, at once
    # (so group commit writes several respondents per transaction).
    people = [Respondent(QueuedUser(app, request, 9100 + i), survey, seed=1000 + i) for i in range(10)]
    await asyncio.gather(*(p.run() for p in people))
    # Stopped part-way (in progress), started over, forgotten.
    for i in range(4):
        await _partial(SimUser(app, request, 9200 + i), i + 1)
    again = SimUser(app, request, 9300)
    await _partial(again, 3)
    await again.send("/start")
    await again.press("Начать заново")
    await again.answer_current()
    done = people[0].user
    await done.send("/forget_me")
    await done.press("Да, удалить")
    gone = SimUser(app, request, 9301)
    await _partial(gone, 2)
    await gone.send("/forget_me")
    await gone.press("Да, удалить")
    # Test mode: one run reset, one kept (the test copy has counts of its own).
    admin = SimUser(app, request, ADMIN_ID)
    await admin.send("/test")
    for _ in range(3):
        await admin.answer_current()
    await admin.send("/test reset")
    await admin.send("/test")
    await admin.answer_current()

    engine = app.bot_data.engine
    async with engine.connect() as conn:
        kept_now, recount = await conn.run_sync(kept), await conn.run_sync(recounted)
    assert kept_now == recount
    surveys = {s for s, *_ in kept_now}
    assert surveys == {survey.id, app.bot_data.test_service.survey.id}, surveys
    assert sum(n for (s, _q, kind, _v), n in kept_now.items() if s == survey.id and kind == "n") > 100

    for one in (survey, app.bot_data.test_service.survey):
        from_counts, counted, used = await _summaries(engine, one, monkeypatch)
        assert used, "the full /stats read the kept counts"
        assert from_counts == counted

    # A row written behind the bot's back: the counts no longer add up, and /stats counts the answers instead.
    response_id = fetch(db_url, "SELECT id FROM responses WHERE survey_id = :s AND status = 'completed' LIMIT 1",
                        s=survey.id)[0]["id"]
    async with engine.begin() as conn:
        await conn.execute(insert(Answer), [{"response_id": response_id, "question_id": "q_gone", "skipped": False}])
    from_counts, counted, used = await _summaries(engine, survey, monkeypatch)
    assert not used and from_counts == counted
    assert json.loads(counted)["removed_questions"] == [{"id": "q_gone", "label": json.loads(counted)[
        "removed_questions"][0]["label"], "n": 1}]


async def test_migrate_recount_after_answers_edited_by_hand(bot, db_url, monkeypatch, tmp_path):
    app, request = bot
    survey = app.bot_data.survey
    u = SimUser(app, request, 9400)
    await u.begin()
    await u.press("Аккаунт-менеджеры")
    await u.answer_current()
    # An UPDATE by hand keeps the number of rows: the guard cannot see it, /stats shows the kept counts ...
    async with app.bot_data.engine.begin() as conn:
        await conn.execute(update(Answer).where(Answer.question_id == "q01_who_does_accounting")
                           .values(choices="ceo"))
        await conn.execute(update(AnswerChoice).where(AnswerChoice.question_id == "q01_who_does_accounting")
                           .values(option_id="ceo"))
    q1 = (await build_summary(app.bot_data.engine, survey)).question("q01_who_does_accounting")
    assert {o.id: o.count for o in q1.options if o.count} == {"account_managers": 1}
    # ... until `surveybot migrate --recount` counts them anew.
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    assert await asyncio.to_thread(main, ["migrate", "--recount"]) == 0
    q1 = (await build_summary(app.bot_data.engine, survey)).question("q01_who_does_accounting")
    assert {o.id: o.count for o in q1.options if o.count} == {"ceo": 1}
    async with app.bot_data.engine.connect() as conn:
        assert await conn.run_sync(kept) == await conn.run_sync(recounted)
