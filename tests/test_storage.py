"""Storage on both databases: repository round trip, concurrency, rollback, constraints, idempotency, forget."""

from __future__ import annotations

import asyncio
from datetime import timedelta, timezone

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from bot.service import Status, SurveyService
from storage.db import create_engine, sessionmaker
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Answer as AnswerRow
from storage.repository import UnitOfWork
from survey import flow
from survey.flow import Choose, Done, Skip, Toggle, TypeText
from survey.loader import load_survey
from survey.model import QuestionType, Survey
from tests.dbcheck import count, fetch, stored_answers

SURVEY = load_survey()


@pytest.fixture
async def engine(db_url: str):
    """The bot's engine on a migrated database."""
    eng = create_engine(db_url)
    await upgrade(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def service(engine) -> SurveyService:
    return SurveyService(SURVEY, sessionmaker(engine))


def answer_actions(survey: Survey, qid: str, seed: int) -> list[flow.Action]:
    """Actions that answer one question validly (varied by seed)."""
    q = survey.get(qid)
    if q.type == QuestionType.SINGLE:
        return [Choose(q.options[seed % len(q.options)].id)]
    if q.type == QuestionType.MULTIPLE:
        return [Toggle(q.options[seed % len(q.options)].id), Done()]
    if q.type == QuestionType.SCALE:
        return [Choose(str(q.scale.min + seed % (q.scale.max - q.scale.min + 1)))]
    if q.type == QuestionType.NUMBER:
        return [TypeText(str((q.min or 0) + seed % 50 + 1))]
    return [TypeText(f"ответ {seed}")]


async def complete(service: SurveyService, user_id: int) -> None:
    """Start and answer every question through the service."""
    state = await service.show(user_id)
    seed = user_id
    while state.progress.current is not None:
        for action in answer_actions(service.survey, state.progress.current, seed):
            state = await service.act(user_id, action)
            assert state.status == Status.APPLIED and state.outcome.kind != flow.Kind.REJECTED, state
        seed += 1


async def test_migrations_reach_head_and_are_idempotent(engine):
    assert await current_revision(engine) == head_revision()
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


async def test_workers_migrating_at_once_take_turns(db_url):
    engines = [create_engine(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(e) for e in engines))
        assert await current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            await e.dispose()


async def test_repository_round_trip(engine):
    sessions = sessionmaker(engine)
    first = flow.start(SURVEY).current
    async with UnitOfWork(sessions) as uow:
        respondent = await uow.repo.add_respondent("555", "ads")
        response = await uow.repo.start_response(respondent, SURVEY, first)
        progress = await uow.repo.progress(response)
        outcome = flow.apply(SURVEY, progress, Skip())
        await uow.repo.save(response, outcome)
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        respondent = await uow.repo.respondent("555")
        assert respondent.source == "ads"
        for moment in (respondent.first_seen,):
            assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
        response = await uow.repo.response(respondent.id, SURVEY.id)
        assert response.version > 1 and response.awaiting_other is False
        assert response.started_at.tzinfo is not None
        progress = await uow.repo.progress(response)
    assert progress.answers == {first: flow.SKIPPED}
    assert progress.current == outcome.progress.current
    stored = stored_answers(engine.url.render_as_string(hide_password=False), "555")
    assert stored[first]["skipped"] in (True, 1)


async def test_full_survey_and_large_number_round_trip(service, db_url):
    await complete(service, 7_000_000_001)  # Telegram ids exceed 32 bits
    state = await service.status(7_000_000_001)
    assert state.status == Status.COMPLETED
    assert len(state.progress.answers) == count(db_url, "answers")
    numbers = [q.id for q in SURVEY.questions if q.type == QuestionType.NUMBER]
    if numbers:
        async with UnitOfWork(service.sessions) as uow:
            response = await uow.repo.response((await uow.repo.respondent("7000000001")).id, SURVEY.id)
            big = flow.Answer(number=9_000_000_000)
            await uow.repo.save(response, flow.Outcome(flow.Kind.REDRAW, await uow.repo.progress(response),
                                                       changed={numbers[0]: big}))
            await uow.commit()
        assert (stored_answers(db_url, "7000000001"))[numbers[0]]["number"] == 9_000_000_000


async def test_concurrent_respondents_do_not_lock_each_other_out(engine, db_url):
    # Two engines stand for two bot processes; each writes for its own respondents at the same time.
    other = create_engine(db_url)
    try:
        services = [SurveyService(SURVEY, sessionmaker(engine)), SurveyService(SURVEY, sessionmaker(other))]
        await asyncio.gather(*(complete(services[i % 2], 100 + i) for i in range(20)))
    finally:
        await other.dispose()
    rows = fetch(db_url, "SELECT status, COUNT(*) AS n FROM responses GROUP BY status")
    assert rows == [{"status": "completed", "n": 20}]


async def test_same_new_respondent_from_two_processes_at_once(engine, db_url):
    # The first two updates of one user reach two workers together: one respondent, one response.
    other = create_engine(db_url)
    try:
        a, b = SurveyService(SURVEY, sessionmaker(engine)), SurveyService(SURVEY, sessionmaker(other))
        for uid in range(300, 310):
            await asyncio.gather(a.status(uid), b.status(uid), a.status(uid), b.status(uid))
            results = await asyncio.gather(a.show(uid), b.show(uid))
            assert {r.status for r in results} == {Status.IN_PROGRESS}
    finally:
        await other.dispose()
    assert count(db_url, "respondents") == 10
    assert count(db_url, "responses") == 10


async def test_one_respondents_concurrent_taps_apply_in_turn(engine, db_url):
    # Many taps carrying the same keyboard version: exactly one applies, the rest are stale.
    other = create_engine(db_url)
    try:
        a, b = SurveyService(SURVEY, sessionmaker(engine)), SurveyService(SURVEY, sessionmaker(other))
        state = await a.show(42)
        qid = state.progress.current
        taps = [svc.act(42, answer_actions(SURVEY, qid, i)[0], expected_version=state.version)
                for i, svc in enumerate([a, b] * 5)]
        results = await asyncio.gather(*taps)
    finally:
        await other.dispose()
    applied = [r for r in results if r.status == Status.APPLIED]
    assert len(applied) == 1
    assert all(r.status in (Status.APPLIED, Status.STALE) for r in results)
    assert (fetch(db_url, "SELECT version FROM responses"))[0]["version"] == applied[0].version
    assert len(stored_answers(db_url, 42)) == 1


async def test_exception_inside_unit_of_work_stores_nothing(engine, db_url):
    sessions = sessionmaker(engine)
    with pytest.raises(RuntimeError):
        async with UnitOfWork(sessions) as uow:
            respondent = await uow.repo.add_respondent("900", None)
            await uow.repo.start_response(respondent, SURVEY, flow.start(SURVEY).current)
            assert await uow.repo.claim_update(77)
            raise RuntimeError("handler crashed before commit")
    for table in ("respondents", "responses", "processed_updates"):
        assert count(db_url, table) == 0
    async with UnitOfWork(sessions) as uow:  # the connection is usable afterwards
        assert await uow.repo.claim_update(77)
        await uow.commit()


async def test_one_answer_per_question_is_enforced(engine):
    sessions = sessionmaker(engine)
    async with UnitOfWork(sessions) as uow:
        respondent = await uow.repo.add_respondent("901", None)
        response = await uow.repo.start_response(respondent, SURVEY, flow.start(SURVEY).current)
        await uow.commit()
    row = {"response_id": response.id, "question_id": "q01_who_does_accounting", "skipped": True,
           "answered_at": response.started_at}
    async with UnitOfWork(sessions) as uow:
        await uow.session.execute(insert(AnswerRow).values(**row))
        with pytest.raises(IntegrityError):
            await uow.session.execute(insert(AnswerRow).values(**row))


async def test_claim_update_is_idempotent_even_concurrently(engine, db_url):
    sessions = sessionmaker(engine)
    async with UnitOfWork(sessions) as uow:
        assert await uow.repo.claim_update(2**40) is True
        assert await uow.repo.claim_update(2**40) is False
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        assert await uow.repo.claim_update(2**40) is False

    other = create_engine(db_url)

    async def claim(sess, update_id: int) -> bool:
        async with UnitOfWork(sess) as uow:
            won = await uow.repo.claim_update(update_id)
            await uow.commit()
            return won

    try:
        two = [sessions, sessionmaker(other)]
        for update_id in range(10, 20):
            results = await asyncio.gather(*(claim(two[i % 2], update_id) for i in range(4)))
            assert results.count(True) == 1
    finally:
        await other.dispose()
    async with UnitOfWork(sessions) as uow:
        assert await uow.repo.prune_updates(timedelta(0)) == 11
        await uow.commit()


async def test_forget_deletes_that_respondent_only(service, db_url):
    await complete(service, 11)
    await complete(service, 12)
    before = stored_answers(db_url, 12)
    assert await service.forget(11) is True
    assert await service.forget(11) is False
    assert stored_answers(db_url, 11) == {}
    assert stored_answers(db_url, 12) == before
    keys = fetch(db_url, "SELECT user_key FROM respondents")
    assert keys == [{"user_key": "12"}]
    orphans = fetch(db_url, "SELECT COUNT(*) AS n FROM answer_choices c WHERE c.response_id NOT IN "
                                  "(SELECT id FROM responses)")
    assert orphans[0]["n"] == 0
    assert count(db_url, "responses") == 1


async def test_record_has_aware_utc_times(service):
    await service.show(21)
    record = await service.record(21)
    for moment in (record["first_seen"], record["responses"][0]["started_at"]):
        assert moment.tzinfo is not None and moment.astimezone(timezone.utc) == moment


async def test_nul_characters_are_dropped_on_both_databases(make_user, db_url):
    # PostgreSQL refuses NUL in text; both databases store the same answer without it.
    u = make_user(31)
    await u.send("/start a\x00b")
    await u.press("Начать")
    await u.press("Прочее")
    await u.send("свой\x00вариант")
    assert "Вопрос 2" in u.last().text
    assert stored_answers(db_url, 31)["q01_who_does_accounting"]["other_text"] == "свойвариант"
    assert fetch(db_url, "SELECT source FROM respondents")[0]["source"] == "ab"
