"""Group commit: many respondents' actions in one transaction, each still checked and durable."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

import bot.service.respondents as service_module
from bot.service.respondents import Result, Standing
from storage.repository import StaleWrite
from survey import flow
from tests.dbcheck import count, fetch, response_row, sqlite_only, stored_answers


@pytest.fixture
def service(bot):
    app, _ = bot
    return app.bot_data.service


async def started(service, users: list[int]) -> None:
    """Users who opened the bot and pressed "Начать" (response at version 1 on question 1)."""
    for u in users:
        await service.status(u)
        state = await service.show(u, 0)
        assert state.version == 1


def first_option(service) -> flow.Choose:
    return flow.Choose(service.survey.questions[0].options[0].id)


async def test_concurrent_actions_of_many_users_share_one_transaction(service, db_url):
    users = list(range(5001, 5041))
    await started(service, users)
    before = service.batches.batches
    states = await asyncio.gather(*(service.act(u, first_option(service), 1, update_id=90_000 + u) for u in users))
    assert service.batches.batches == before + 1  # one transaction for all forty
    assert all(s.result == Result.APPLIED and s.version == 2 for s in states)
    q1 = service.survey.questions[0].id
    for u in users:
        assert stored_answers(db_url, u)[q1]["choices"] == service.survey.questions[0].options[0].id
        assert response_row(db_url, u)["version"] == 2
    assert count(db_url, "processed_updates") == len(users)


async def test_duplicate_update_inside_one_batch_is_applied_once(service, db_url):
    await started(service, [6001, 6002])
    a, b, c = await asyncio.gather(
        service.act(6001, first_option(service), 1, update_id=777),
        service.act(6001, first_option(service), 1, update_id=777),  # the same update delivered twice
        service.act(6002, first_option(service), 1, update_id=777),  # or an id reused: refused all the same
    )
    assert a.result == Result.APPLIED
    assert b.result == Result.DUPLICATE and c.result == Result.DUPLICATE
    assert response_row(db_url, 6001)["version"] == 2 and response_row(db_url, 6002)["version"] == 1
    # and redelivered later, in another batch, it changes nothing either
    assert (await service.act(6001, flow.Skip(), 2, update_id=777)).result == Result.DUPLICATE


async def test_stale_version_inside_one_batch_is_refused(service, db_url):
    await started(service, [6101])
    q1 = service.survey.questions[0]
    first, double_tap = await asyncio.gather(
        service.act(6101, flow.Choose(q1.options[0].id), 1, update_id=1),
        service.act(6101, flow.Choose(q1.options[1].id), 1, update_id=2),  # the same keyboard tapped again
    )
    assert first.result == Result.APPLIED and double_tap.result == Result.STALE
    assert stored_answers(db_url, 6101)[q1.id]["choices"] == q1.options[0].id
    assert response_row(db_url, 6101)["version"] == 2


async def test_one_users_actions_in_one_batch_apply_in_order(service, db_url):
    await started(service, [6201])
    q1, q2 = service.survey.questions[:2]
    s1, s2, s3 = await asyncio.gather(
        service.act(6201, flow.Choose(q1.options[0].id), 1, update_id=11),
        service.act(6201, flow.Toggle(q2.options[0].id), 2, update_id=12),
        service.act(6201, flow.Done(), 3, update_id=13),
    )
    assert [s.result for s in (s1, s2, s3)] == [Result.APPLIED] * 3
    answers = stored_answers(db_url, 6201)
    assert answers[q2.id]["choices"] == q2.options[0].id
    assert response_row(db_url, 6201)["version"] == 4


async def test_a_failing_action_does_not_lose_the_others(service, db_url):
    await started(service, [6301, 6302, 6303])

    class Bogus:  # not an action the flow knows: flow.apply raises
        pass

    results = await asyncio.gather(
        service.act(6301, first_option(service), 1, update_id=21),
        service.act(6302, Bogus(), 1, update_id=22),
        service.act(6303, first_option(service), 1, update_id=23),
        return_exceptions=True,
    )
    assert results[0].result == Result.APPLIED and results[2].result == Result.APPLIED
    assert isinstance(results[1], TypeError)
    q1 = service.survey.questions[0].id
    assert q1 in stored_answers(db_url, 6301) and q1 in stored_answers(db_url, 6303)
    assert stored_answers(db_url, 6302) == {}
    # its update may be redelivered and then applied
    claimed = {r["update_id"] for r in fetch(db_url, "SELECT update_id FROM processed_updates")}
    assert {21, 23} <= claimed and 22 not in claimed
    assert (await service.act(6302, first_option(service), 1, update_id=22)).result == Result.APPLIED


async def test_a_failing_transaction_is_retried_item_by_item(service, db_url, monkeypatch):
    await started(service, [6401, 6402, 6403])
    real_save = service_module.save_positions
    calls = []

    def save_failing_once_for_batches(conn, survey, positions, now=None):
        calls.append(len(positions))
        if len(positions) > 1:
            raise StaleWrite("simulated: another process changed a response")
        return real_save(conn, survey, positions, now)

    monkeypatch.setattr(service_module, "save_positions", save_failing_once_for_batches)
    states = await asyncio.gather(*(service.act(u, first_option(service), 1, update_id=30 + u) for u in (6401, 6402, 6403)))
    assert all(s.result == Result.APPLIED for s in states)
    assert calls == [3, 1, 1, 1]
    q1 = service.survey.questions[0].id
    assert all(q1 in stored_answers(db_url, u) for u in (6401, 6402, 6403))


async def test_start_show_and_act_of_new_users_in_one_batch(service, db_url):
    users = [6501, 6502, 6503]
    statuses = await asyncio.gather(*(service.status(u, source="chan", update_id=40 + u) for u in users))
    assert all(s.standing == Standing.NEW for s in statuses)
    shows = await asyncio.gather(*(service.show(u, 0, update_id=50 + u) for u in users))
    assert all(s.standing == Standing.IN_PROGRESS and s.version == 1 for s in shows)
    assert fetch(db_url, "SELECT COUNT(*) AS n FROM respondents WHERE source = 'chan'")[0]["n"] == 3
    restarted = await service.show(6501, 1, restart=True)
    assert restarted.version == 2 and restarted.progress.current == service.survey.questions[0].id


async def test_a_write_lock_held_elsewhere_does_not_block_the_event_loop(service, db_url):
    path = sqlite_only(db_url, "SQLite's database-wide write lock is waited for in a worker thread (BatchWriter); "
                               "PostgreSQL locks rows and asyncpg waits without blocking the loop")
    await started(service, [6601])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. `surveybot migrate` or another process writing
    try:
        task = asyncio.create_task(service.act(6601, first_option(service), 1, update_id=61))
        ticks = 0
        for _ in range(20):  # the loop keeps running while the batch waits for the lock in a thread
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 20 and not task.done()
    finally:
        other.execute("COMMIT")
        other.close()
    assert (await task).result == Result.APPLIED
    assert service.survey.questions[0].id in stored_answers(db_url, 6601)


async def test_a_restarted_bot_resumes_from_the_database(service, db_url):
    from bot.service.respondents import SurveyService

    await started(service, [6701])
    q1, q2 = service.survey.questions[:2]
    await service.act(6701, flow.Choose(q1.options[0].id), 1, update_id=71)
    await service.act(6701, flow.Toggle(q2.options[1].id), 2, update_id=72)  # a draft, not yet confirmed
    # A new process: nothing shared with the old service but the database.
    fresh = SurveyService(service.survey, service.engine)
    try:
        state = await fresh.status(6701)
        assert state.standing == Standing.IN_PROGRESS and state.version == 3
        assert state.progress.current == q2.id and state.progress.draft == (q2.options[1].id,)
        assert (await fresh.act(6701, flow.Done(), 3, update_id=72)).result == Result.DUPLICATE  # already applied
        done = await fresh.act(6701, flow.Done(), 3, update_id=73)  # the keyboard sent before the restart
        assert done.result == Result.APPLIED and done.progress.current == service.survey.questions[2].id
    finally:
        fresh.close()
    assert stored_answers(db_url, 6701)[q2.id]["choices"] == q2.options[1].id
