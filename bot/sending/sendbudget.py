"""Several webhook workers, one sending budget: the budget's tokens come from a row in PostgreSQL.

Each worker's limiter (bot/sending/limiter.py) keeps its priorities and per-chat allowances locally, but takes its
tokens from the shared row (storage/sendbudget.py) in small batches: at most BATCH at once, only as many as
calls are waiting for, so a busy worker costs a few statements a second and an idle one none. Each token taken is
a time slot on the shared schedule, 1/rate apart: the worker's budget earns it when its slot begins, so batches
never bunch the workers' sends together (any second holds at most rate + BURST of them). A worker keeps one to two
batches of slots ahead for respondents' replies; a bulk take reaches only a quarter as far (so a reply arriving on
another worker waits behind few bulk slots), and gets nothing at all while a worker with respondents' replies
waiting was short of slots (it marks the row for HOLD seconds and renews the mark while they wait), so a
respondent's reply on any worker goes before bulk sends on every worker.
Every worker beats a heartbeat row each HEARTBEAT seconds; rows silent for STALE seconds are pruned. If the
database cannot be reached, the worker paces itself at its fair share (budget / live workers last seen, and
never more than half when it has never seen the others) until it can again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections import deque

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.background import cancel
from bot.sending.limiter import Budget, ClockSource
from storage.sendbudget import SharedBucket

log = logging.getLogger(__name__)

BATCH = 5.0  # slots taken per statement (1/6 s of a 30/s budget); a worker keeps 1-2 batches of slots ahead
BURST = 1.0  # slots already due at once after a quiet spell (any sliding second: at most rate + BURST)
HOLD = 0.5  # how long a short interactive take keeps bulk takes empty (renewed within BATCH / rate seconds)
HEARTBEAT = 1.0
STALE = 5.0  # a worker silent this long is forgotten: a dead worker's share is free within seconds
RETRY_DB = 2.0  # after a failure, seconds on the fair share before asking the database again


class SharedSource:
    """Budget tokens from the shared row, or from the fair share of the clock while the row is out of reach."""

    def __init__(self, bucket: SharedBucket, rate: float, worker_id: str) -> None:
        self.bucket, self.rate, self.worker_id = bucket, rate, worker_id
        # Slots taken and not yet earned: [local time the first begins, how many, how many earned so far].
        self.slots: deque[list[float]] = deque()
        self.live: int | None = None  # live workers at the last heartbeat
        self.fallback: ClockSource | None = None
        self._retry_at = 0.0
        self.failures = 0
        self._beat: asyncio.Task | None = None

    def fair_rate(self) -> float:
        """This worker's share when it cannot ask the others: budget / live workers (half if never seen)."""
        return self.rate / max(2 if self.live is None else self.live, 1)

    def refill(self, now: float) -> float:
        """Tokens whose slots have begun (or earned at the fair share) since the last call."""
        earned = 0.0
        while self.slots:
            segment = self.slots[0]
            start, count, given = segment
            due = min(count, max(0.0, math.floor((now - start) * self.rate + 1e-9) + 1.0))
            earned += max(0.0, due - given)
            segment[2] = max(given, due)
            if segment[2] < count - 1e-9:
                break
            self.slots.popleft()
        if self.fallback is not None:
            earned += self.fallback.refill(now)
        return earned

    def seconds_for(self, tokens: float) -> float:
        """When to look again: at the next slot already taken, else when the row may have that many again."""
        if self.slots:
            start, _count, given = self.slots[0]
            return max(0.001, start + given / self.rate - time.monotonic())
        if self.fallback is not None:
            return max(0.0, tokens) / self.fallback.rate
        return max(0.0, tokens) / self.rate

    async def fetch(self, want: float, bulk: bool) -> None:
        """Take up to `want` tokens (at most BATCH) from the row; fall back to the fair share on failure."""
        now = time.monotonic()
        if now < self._retry_at:  # the row was short (or out of reach) a moment ago: let it refill first
            return
        pending = sum(count - given for _, count, given in self.slots)  # slots taken that have not begun yet
        if pending >= BATCH:  # plenty ahead: top up in batches, not one slot per statement
            return
        want = min(want, 2 * BATCH) - pending  # `want`: what the waiting calls lack (the budget's batch: 2 BATCH)
        if want <= 1e-9:
            return
        try:
            got, first = await self.bucket.take(want, interactive=not bulk,
                                                hold=max(HOLD, 2 * BATCH / self.rate))
            answered = time.monotonic()
        except Exception as exc:
            self.failures += 1
            if self.fallback is None:
                log.warning("shared sending budget unreachable (%s); pacing at a fair share of %.1f/s",
                            type(exc).__name__, self.fair_rate())
                self.fallback = ClockSource(self.fair_rate(), now)
            self._retry_at = now + RETRY_DB
            return
        if self.fallback is not None:
            log.info("shared sending budget reachable again")
            self.fallback = None
        if got > 0:  # the database's "now" is somewhere in the round trip: its end, so no slot is used early
            self.slots.append([answered + first, got, 0.0])
        if got < want - 1e-9:  # the others are busy too: come back when a batch may have accumulated
            # a bulk take reaches a quarter as far ahead: it looks again sooner, so no slot passes unused
            self._retry_at = now + (BATCH / (4 * self.rate) if bulk else BATCH / self.rate)

    async def _heartbeats(self) -> None:
        while True:
            try:
                self.live = await self.bucket.heartbeat(self.worker_id, STALE)
                if self.fallback is not None:
                    self.fallback.rate = self.fair_rate()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("worker heartbeat failed: %s", type(exc).__name__)
            await asyncio.sleep(HEARTBEAT)

    async def start(self) -> None:
        """Create the row if needed, beat once (to learn the others), then keep beating."""
        await self.bucket.init()
        self.live = await self.bucket.heartbeat(self.worker_id, STALE)
        self._beat = asyncio.get_running_loop().create_task(self._heartbeats(), name="budget-heartbeat")

    async def stop(self) -> None:
        """Stop beating and leave, so the others see one worker fewer at once."""
        await cancel(self._beat)
        with contextlib.suppress(Exception):
            await self.bucket.leave(self.worker_id)


def worker_id() -> str:
    """A name for this process: host, pid and a random suffix (a restarted pid is a new worker)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


async def share_budget(budget: Budget, engine: AsyncEngine, rate: float) -> SharedSource:
    """Make `budget` take its tokens from the database shared by all workers; returns the source to stop."""
    # Slots are reserved up to two batches ahead, and a worker whose take came short asks again one batch later:
    # the schedule stays ahead of the clock, so no slot passes unused while calls wait.
    bucket = SharedBucket(engine, rate, burst=BURST, horizon=2 * BATCH / rate)
    source = SharedSource(bucket, rate, worker_id())
    await source.start()
    budget.share(source, 2 * BATCH)
    return source
