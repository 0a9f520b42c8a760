"""Several workers, one sending budget (issue 15): budgets sharing one PostgreSQL row stay inside the rate
together, keep respondents before bulk across workers, and fall back to a fair share without the database."""

from __future__ import annotations

import asyncio
import bisect
import time

import pytest
from sqlalchemy import text

from bot.sending import sendbudget
from bot.sending.limiter import Budget, Priority
from bot.sending.sendbudget import SharedSource, share_budget
from storage.db import create_engine
from storage.migrate import upgrade
from storage.sendbudget import SharedBucket
from tests import pg


@pytest.fixture
async def engine():
    async with pg.fresh_database() as url:
        eng = create_engine(url)
        await upgrade(eng)
        try:
            yield eng
        finally:
            await eng.dispose()


async def _worker(engine, rate: float) -> tuple[Budget, SharedSource]:
    budget = Budget(rate)
    return budget, await share_budget(budget, engine, rate)


async def test_two_workers_together_stay_inside_one_budget_in_few_statements(engine):
    rate = 30.0
    (a, sa), (b, sb) = await _worker(engine, rate), await _worker(engine, rate)
    try:
        assert sa.live == 1 and sb.live == 2
        start = time.monotonic()
        await asyncio.gather(*(a.acquire(1) for _ in range(60)), *(b.acquire(1) for _ in range(60)))
        took = time.monotonic() - start
        # 120 messages on a shared 30/s budget (a burst of 5 in the row): never faster than ~3.8 s;
        # each worker alone would have allowed all of its 60 in 2 s
        assert took >= (120 - 5) / rate - 0.1, took
        assert a.granted[0] == b.granted[0] == 60
        takes = sa.bucket.takes + sb.bucket.takes
        # tokens were taken in batches, not one statement per message: 47-56 takes in quiet runs, up to 65 when the
        # two workers' takes interleave badly (each then finds a half-refilled row); 120 would be one per message
        assert takes < 120 * 2 / 3, takes
    finally:
        await sa.stop()
        await sb.stop()
        await a.close()
        await b.close()


def busiest_second(times: list[float]) -> int:
    """The most of these moments within any sliding second."""
    times = sorted(times)
    return max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))


async def test_two_saturated_workers_never_exceed_the_rate_by_more_than_a_small_burst(engine):
    """Issue 24: two workers at saturation averaged exactly 30/s, but once let 37 messages go within one sliding
    second (the bucket's capacity plus batched takes). Slots 1/rate apart on the shared schedule keep every
    sliding second at 33 or fewer."""
    rate = 30.0
    (a, sa), (b, sb) = await _worker(engine, rate), await _worker(engine, rate)
    sent: list[float] = []

    async def send(budget: Budget, priority: Priority) -> None:
        await budget.acquire(1, priority)
        sent.append(time.monotonic())

    try:
        # a quiet moment first (the row holds its burst), then both workers flooded, replies and bulk mixed
        await asyncio.sleep(0.5)
        await asyncio.gather(*(send(a, Priority.INTERACTIVE) for _ in range(90)),
                             *(send(b, Priority.INTERACTIVE if i % 2 else Priority.BULK) for i in range(90)))
        span = max(sent) - min(sent)
        assert busiest_second(sent) <= 33, busiest_second(sent)
        assert 179 / span <= rate * 1.02 and 179 / span >= rate * 0.85, 179 / span  # the budget is used, not wasted
        assert sa.bucket.takes + sb.bucket.takes < 180 * 2 / 3  # still batched
    finally:
        await sa.stop()
        await sb.stop()
        await a.close()
        await b.close()


async def test_a_reply_on_one_worker_goes_before_bulk_sends_on_another(engine):
    rate = 20.0
    (a, sa), (b, sb) = await _worker(engine, rate), await _worker(engine, rate)
    order: list[str] = []

    async def call(budget: Budget, name: str, priority: Priority) -> None:
        await budget.acquire(1, priority)
        order.append(name)

    try:
        bulk = [asyncio.create_task(call(a, f"bulk{i}", Priority.BULK)) for i in range(30)]
        await asyncio.sleep(0.5)
        arrived = len(order)
        replies = [asyncio.create_task(call(b, f"reply{i}", Priority.INTERACTIVE)) for i in range(10)]
        await asyncio.gather(*replies)
        during = order[arrived:]
        bulk_during = [n for n in during if n.startswith("bulk")]
        # while the replies wait, bulk gets only what the reserve leaves over: far less than its share
        assert len(bulk_during) <= 4, order
        await asyncio.gather(*bulk)
    finally:
        await sa.stop()
        await sb.stop()
        await a.close()
        await b.close()


async def test_without_the_database_a_worker_paces_at_its_fair_share(engine, monkeypatch):
    rate = 30.0
    (a, sa), (b, sb) = await _worker(engine, rate), await _worker(engine, rate)
    try:
        assert sb.live == 2

        async def unreachable(*_args, **_kwargs):  # the database is gone for this worker
            raise OSError("connection refused")

        monkeypatch.setattr(sb.bucket, "take", unreachable)
        start = time.monotonic()
        await asyncio.gather(*(b.acquire(1) for _ in range(30)))
        took = time.monotonic() - start
        assert sb.fallback is not None and sb.fallback.rate == pytest.approx(rate / 2)
        assert took >= 29 / (rate / 2) - 0.3, took  # half the budget, never the whole of it
    finally:
        await sa.stop()
        await sb.stop()
        await a.close()
        await b.close()


async def test_a_dead_worker_is_forgotten_within_seconds(engine, monkeypatch):
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO send_workers (worker_id, seen_at) "
                                "VALUES ('dead:1', clock_timestamp() - interval '10 seconds')"))
    bucket = SharedBucket(engine, 30.0, 5.0)
    await bucket.init()
    assert await bucket.heartbeat("me", sendbudget.STALE) == 1  # the silent one was pruned
    budget, source = await _worker(engine, 30.0)
    assert source.live == 2
    await source.stop()  # a clean stop leaves at once
    assert await bucket.heartbeat("me", sendbudget.STALE) == 1
    await budget.close()
