"""Storage on both databases, through the code production runs (batch functions in a BatchWriter transaction, the service):
round trip, concurrency, rollback, constraints, idempotency, prune, forget."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from sqlalchemy import Connection, insert, inspect, true
from sqlalchemy.exc import IntegrityError

from bot.background.housekeeping import prune_once
from bot.service.respondents import Result, Standing, SurveyService
from storage.db import BatchWriter, create_engine, sessionmaker
from storage.migrate import HEAD, alembic_config, current_revision, head_revision, upgrade
from storage.models import IN_PROGRESS, Answer as AnswerRow, utcnow
from storage.records import AnswerMemo, AnswerRecord, ResponseSet, stream_responses
from storage.repository import (
    Position,
    UnitOfWork,
    add_respondents,
    claim_updates,
    load_positions,
    respondent_record,
    save_positions,
)
from survey import flow
from survey.flow import Choose, Done, Toggle, TypeText
from survey.loader import load_survey
from survey.model import QuestionType, Survey
from tests import pg
from tests.dbcheck import count, fetch, stored_answers, stored_choices

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
def writer(engine) -> BatchWriter:
    """The group-commit writer production runs its batches with."""
    w = BatchWriter(engine)
    try:
        yield w
    finally:
        w.dispose()


@pytest.fixture
def service(engine) -> SurveyService:
    svc = SurveyService(SURVEY, engine)
    try:
        yield svc
    finally:
        svc.close()


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


async def complete(service: SurveyService, user_id: int, seed: int | None = None) -> None:
    """Start and answer every question through the service (answers varied by ``seed``, the user id if None)."""
    state = await service.show(user_id)
    seed = user_id if seed is None else seed
    while state.progress.current is not None:
        for action in answer_actions(service.survey, state.progress.current, seed):
            state = await service.act(user_id, action)
            assert state.result == Result.APPLIED and state.outcome.kind != flow.Kind.REJECTED, state
        seed += 1


async def test_migrations_reach_head_and_are_idempotent(engine):
    assert await current_revision(engine) == head_revision()
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


def _previous() -> str:
    """The revision before HEAD, as Alembic reads the scripts."""
    from alembic.script import ScriptDirectory

    down = ScriptDirectory.from_config(alembic_config()).get_revision(HEAD).down_revision
    assert isinstance(down, str)
    return down


PREVIOUS = _previous()


def test_head_is_the_newest_script():
    """storage.migrate.HEAD (what a restart compares with, without loading Alembic) is Alembic's own head:
    a new migration must move it."""
    assert head_revision() == HEAD


def _start(url: str) -> bool:
    """Bring the database at ``url`` up to date in a new process, as `surveybot run` does; was Alembic loaded?"""
    check = ("import asyncio, sys\n"
             "from storage.db import create_engine\n"
             "from storage.migrate import upgrade\n"
             "async def start():\n"
             f"    engine = create_engine({url!r})\n"
             "    await upgrade(engine)\n"
             "    await engine.dispose()\n"
             "asyncio.run(start())\n"
             "print(int('alembic' in sys.modules))\n")
    return subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout == "1\n"


async def test_alembic_is_loaded_only_to_migrate(tmp_path):
    """A new database is created at HEAD and one at HEAD is left alone without Alembic; an older one migrates."""
    new = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    assert [_start(new), _start(new)] == [False, False]
    older = f"sqlite+aiosqlite:///{tmp_path / 'older.db'}"
    engine = create_engine(older)
    try:
        await upgrade(engine, PREVIOUS)
    finally:
        await engine.dispose()
    assert _start(older) is True
    engine = create_engine(older)
    try:
        assert await current_revision(engine) == HEAD
    finally:
        await engine.dispose()


def _schema(conn: Connection) -> dict[str, dict[str, object]]:
    """Every table as the database describes it: columns, keys, indexes (with their WHERE), constraints."""
    seen = inspect(conn)

    def options(index: dict) -> dict[str, str]:
        return {k: str(v) for k, v in (index.get("dialect_options") or {}).items()}

    return {table: {
        "columns": sorted((c["name"], str(c["type"]), c["nullable"], str(c.get("default")))  # by name: a batch
                          for c in seen.get_columns(table)),  # migration appends the columns it adds
        "primary key": seen.get_pk_constraint(table),
        "foreign keys": sorted(map(repr, seen.get_foreign_keys(table))),
        "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]), repr(options(i)))
                          for i in seen.get_indexes(table)),
        "unique": sorted(map(repr, seen.get_unique_constraints(table))),
        "checks": sorted(map(repr, seen.get_check_constraints(table))),
    } for table in sorted(seen.get_table_names())}


async def test_a_new_database_gets_the_schema_every_migration_would_leave(db_url, tmp_path):
    """create_at_head (a new database from the models) against the migrations run one by one through Alembic:
    the same tables, columns, types, defaults, keys, indexes and constraints, and the same revision."""
    async with AsyncExitStack() as stack:
        if db_url.startswith("sqlite"):
            migrated_url = f"sqlite+aiosqlite:///{tmp_path / 'migrated.db'}"
        else:
            migrated_url = await stack.enter_async_context(pg.fresh_database())
        made, migrated = create_engine(db_url), create_engine(migrated_url)
        stack.push_async_callback(made.dispose)
        stack.push_async_callback(migrated.dispose)
        await upgrade(made)  # empty: created at HEAD
        await upgrade(migrated, PREVIOUS)  # Alembic from the first migration, then on to HEAD
        await upgrade(migrated)
        for engine in (made, migrated):
            assert await current_revision(engine) == HEAD
        async with made.connect() as conn:
            created = await conn.run_sync(_schema)
        async with migrated.connect() as conn:
            expected = await conn.run_sync(_schema)
        assert created == expected
        assert {"answers", "responses", "send_budget", "alembic_version"} <= set(created)


async def test_workers_migrating_at_once_take_turns(db_url):
    engines = [create_engine(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(e) for e in engines))
        assert await current_revision(engines[0]) == head_revision()
    finally:
        for e in engines:
            await e.dispose()


def _first(qtype: QuestionType):
    return next(q for q in SURVEY.questions if q.type == qtype)


async def test_repository_round_trip(engine, writer, db_url):
    # What one batch writes, the next reads back identical: position, answers, and one row per chosen option.
    single, multiple, scale, number = map(_first, (QuestionType.SINGLE, QuestionType.MULTIPLE,
                                                   QuestionType.SCALE, QuestionType.NUMBER))
    skipped = next(q.id for q in SURVEY.questions if q.id not in (single.id, multiple.id, scale.id, number.id))
    answers = {
        single.id: flow.Answer(option_ids=(single.options[1].id,), other_text="свой, вариант"),
        multiple.id: flow.Answer(option_ids=(multiple.options[2].id, multiple.options[0].id)),  # order is kept
        scale.id: flow.Answer(number=scale.scale.max),
        number.id: flow.Answer(number=7_000_000_000),
        skipped: flow.SKIPPED,
        "free_text": flow.Answer(text="текст\nв две строки"),
    }
    progress = flow.Progress(current=multiple.id, answers=answers, draft=(multiple.options[1].id,),
                             draft_other="черновик", awaiting_other=True)

    def write(conn: Connection) -> Position:
        pos = add_respondents(conn, {"555": "ads"})["555"]
        now = utcnow()
        pos.begin(SURVEY, flow.start(SURVEY).current, now)
        pos.advance(flow.Outcome(flow.Kind.ADVANCED, progress, changed=dict(answers)), now)
        save_positions(conn, SURVEY, [pos])
        return pos

    written = await writer.run(write)
    read = (await writer.run(lambda conn: load_positions(conn, SURVEY.id, ["555"])))["555"]
    assert read.progress == progress
    assert (read.respondent_id, read.response_id, read.status, read.version, read.read_version) == (
        written.respondent_id, written.response_id, IN_PROGRESS, 2, 2)
    assert stored_choices(db_url, 555) == {single.id: [single.options[1].id],
                                           multiple.id: [multiple.options[2].id, multiple.options[0].id]}
    assert stored_answers(db_url, 555)[skipped]["skipped"] in (True, 1)
    async with UnitOfWork(sessionmaker(engine)) as uow:  # the /my_data record reads the same answers
        record = await respondent_record(uow.repo, "555")
    assert record["source"] == "ads" and record["responses"][0]["answers"] == answers
    for moment in (record["first_seen"], record["responses"][0]["started_at"]):
        assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)

    def change(conn: Connection) -> None:
        pos = load_positions(conn, SURVEY.id, ["555"])["555"]
        new = dict(answers, **{multiple.id: flow.Answer(option_ids=(multiple.options[3].id,))})
        del new[scale.id]
        pos.advance(flow.Outcome(flow.Kind.ADVANCED, replace(progress, answers=new, draft=(), draft_other=None,
                                                           awaiting_other=False),
                                 changed={multiple.id: new[multiple.id], scale.id: None}), utcnow())
        save_positions(conn, SURVEY, [pos])

    await writer.run(change)
    read = (await writer.run(lambda conn: load_positions(conn, SURVEY.id, ["555"])))["555"]
    assert read.version == 3 and scale.id not in read.progress.answers and read.progress.draft == ()
    assert stored_choices(db_url, 555)[multiple.id] == [multiple.options[3].id]

    def restart(conn: Connection) -> None:
        pos = load_positions(conn, SURVEY.id, ["555"])["555"]
        pos.begin(SURVEY, flow.start(SURVEY).current, utcnow())
        save_positions(conn, SURVEY, [pos])

    await writer.run(restart)
    read = (await writer.run(lambda conn: load_positions(conn, SURVEY.id, ["555"])))["555"]
    assert read.progress == flow.Progress(current=flow.start(SURVEY).current) and read.version == 4
    assert stored_answers(db_url, 555) == {} and stored_choices(db_url, 555) == {}
    assert count(db_url, "responses") == 1


async def test_full_survey_and_large_number_round_trip(service, db_url):
    await complete(service, 7_000_000_001)  # Telegram ids exceed 32 bits
    state = await service.status(7_000_000_001)
    assert state.standing == Standing.COMPLETED
    assert len(state.progress.answers) == count(db_url, "answers")
    numbers = [q.id for q in SURVEY.questions if q.type == QuestionType.NUMBER]
    if numbers:
        big = flow.Answer(number=9_000_000_000)

        def store_big(conn: Connection) -> None:
            pos = load_positions(conn, SURVEY.id, ["7000000001"])["7000000001"]
            progress = replace(pos.progress, answers={**pos.progress.answers, numbers[0]: big})
            pos.advance(flow.Outcome(flow.Kind.REDRAW, progress, changed={numbers[0]: big}), utcnow())
            save_positions(conn, SURVEY, [pos])

        await service.writer.run(store_big)
        assert (stored_answers(db_url, "7000000001"))[numbers[0]]["number"] == 9_000_000_000
        state = await service.status(7_000_000_001)
        assert state.standing == Standing.COMPLETED and state.progress.answers[numbers[0]] == big


async def test_concurrent_respondents_do_not_lock_each_other_out(engine, db_url):
    # Two engines stand for two bot processes; each writes for its own respondents at the same time.
    other = create_engine(db_url)
    try:
        services = [SurveyService(SURVEY, engine), SurveyService(SURVEY, other)]
        await asyncio.gather(*(complete(services[i % 2], 100 + i) for i in range(20)))
    finally:
        await other.dispose()
    rows = fetch(db_url, "SELECT status, COUNT(*) AS n FROM responses GROUP BY status")
    assert rows == [{"status": "completed", "n": 20}]


async def test_same_new_respondent_from_two_processes_at_once(engine, db_url):
    # The first two updates of one user reach two workers together: one respondent, one response.
    other = create_engine(db_url)
    try:
        a, b = SurveyService(SURVEY, engine), SurveyService(SURVEY, other)
        for uid in range(300, 310):
            await asyncio.gather(a.status(uid), b.status(uid), a.status(uid), b.status(uid))
            results = await asyncio.gather(a.show(uid), b.show(uid))
            assert {r.standing for r in results} == {Standing.IN_PROGRESS}
    finally:
        await other.dispose()
    assert count(db_url, "respondents") == 10
    assert count(db_url, "responses") == 10


async def test_one_respondents_concurrent_taps_apply_in_turn(engine, db_url):
    # Many taps carrying the same keyboard version: exactly one applies, the rest are stale.
    other = create_engine(db_url)
    try:
        a, b = SurveyService(SURVEY, engine), SurveyService(SURVEY, other)
        state = await a.show(42)
        qid = state.progress.current
        taps = [svc.act(42, answer_actions(SURVEY, qid, i)[0], expected_version=state.version)
                for i, svc in enumerate([a, b] * 5)]
        results = await asyncio.gather(*taps)
    finally:
        await other.dispose()
    applied = [r for r in results if r.result == Result.APPLIED]
    assert len(applied) == 1
    assert all(r.result in (Result.APPLIED, Result.STALE) for r in results)
    assert (fetch(db_url, "SELECT version FROM responses"))[0]["version"] == applied[0].version
    assert len(stored_answers(db_url, 42)) == 1


async def test_exception_inside_a_transaction_stores_nothing(writer, db_url):
    def crash(conn: Connection) -> None:
        pos = add_respondents(conn, {"900": None})["900"]
        pos.begin(SURVEY, flow.start(SURVEY).current, utcnow())
        save_positions(conn, SURVEY, [pos])
        assert claim_updates(conn, [77]) == {77}
        raise RuntimeError("batch crashed before commit")

    with pytest.raises(RuntimeError):
        await writer.run(crash)
    for table in ("respondents", "responses", "processed_updates"):
        assert count(db_url, table) == 0
    # The writer is usable afterwards, and update 77 was never claimed.
    assert await writer.run(lambda conn: claim_updates(conn, [77])) == {77}


async def test_one_answer_per_question_is_enforced(writer, db_url):
    def start(conn: Connection) -> int:
        pos = add_respondents(conn, {"901": None})["901"]
        pos.begin(SURVEY, flow.start(SURVEY).current, utcnow())
        save_positions(conn, SURVEY, [pos])
        return pos.response_id

    response_id = await writer.run(start)
    row = {"response_id": response_id, "question_id": "q01_who_does_accounting", "skipped": True,
           "answered_at": utcnow()}

    def insert_twice(conn: Connection) -> None:
        conn.execute(insert(AnswerRow.__table__), row)
        conn.execute(insert(AnswerRow.__table__), row)

    with pytest.raises(IntegrityError):
        await writer.run(insert_twice)
    assert count(db_url, "answers") == 0
    # One respondent per user key, too: a second process creating the same respondent fails and retries.
    with pytest.raises(IntegrityError):
        await writer.run(lambda conn: add_respondents(conn, {"901": None}))
    assert count(db_url, "respondents") == 1


async def test_claim_updates_is_idempotent_even_concurrently(engine, writer, db_url):
    def claim_twice(conn: Connection) -> tuple[set[int], set[int]]:
        return claim_updates(conn, [2**40, 5]), claim_updates(conn, [2**40, 5, 6])

    assert await writer.run(claim_twice) == ({2**40, 5}, {6})
    assert await writer.run(lambda conn: claim_updates(conn, [2**40, 5, 6, 7])) == {7}

    # Two engines and writers stand for two bot processes; four transactions claim overlapping ids at once.
    other = create_engine(db_url)
    writers = [writer, BatchWriter(other)]
    try:
        for start in range(100, 140, 10):
            batches = [list(range(start + i, start + i + 5)) for i in range(4)]
            async with engine.connect() as blocker:
                # On SQLite this holds the write lock (BEGIN IMMEDIATE): every writer finds the database
                # locked, waits in a thread, and they all race for it once it is released.
                await blocker.begin()
                races = [asyncio.create_task(writers[i % 2].run(lambda conn, ids=ids: claim_updates(conn, ids)))
                         for i, ids in enumerate(batches)]
                await asyncio.sleep(0)
                await blocker.rollback()
            won = Counter(i for claimed in await asyncio.gather(*races) for i in claimed)
            assert won == Counter(range(start, start + 8))  # every id claimed exactly once
    finally:
        writers[1].dispose()
        await other.dispose()
    assert count(db_url, "processed_updates") == 4 + 4 * 8
    assert await prune_once(sessionmaker(engine), timedelta(0)) == 4 + 4 * 8
    assert count(db_url, "processed_updates") == 0


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
        assert moment.tzinfo is not None and moment.astimezone(UTC) == moment


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


async def test_equal_answers_share_a_record_within_one_read_and_nothing_outlives_it(service, engine):
    # Issue 24's soak: the table of shared records was once process-wide, so every export left its new distinct
    # answers behind and the bot's memory rose with each one. Now each read has its own memo.
    for user_id in (41, 42):
        await complete(service, user_id, seed=3)  # the same answers (random option orders aside)

    async def read() -> list[dict[str, AnswerRecord]]:
        memo: AnswerMemo[AnswerRecord] = AnswerMemo(lambda record: record)
        async with engine.connect() as conn:
            responses = ResponseSet.of(true(), 2, 2)
            return [{a.question_id: a for a in answers} async for batch in stream_responses(conn, responses,
                                                                                            batch_size=1)
                    for _, answers in batch.each(memo)]

    first, second = await read(), await read()
    fixed = [qid for qid, answer in first[0].items() if not answer.order]  # not shown in a random order
    assert len(fixed) >= 5
    for qid in fixed:
        # One object for equal answers of two responses in different batches of one read...
        assert first[0][qid] is first[1][qid]
        # ...and a memo of its own next time: equal, but nothing kept from the first.
        assert second[0][qid] == first[0][qid] and second[0][qid] is not first[0][qid]
    assert first == second
