"""The bot's sending budget shared by all workers on one PostgreSQL database.

Contract:
- One row of ``send_budget`` hands out **time slots** on the database clock, one per message, ``1/rate`` seconds
  apart (a generic cell rate algorithm): ``next_slot_at`` is when the next free slot begins. A worker takes slots in
  small batches with ONE statement: up to ``want`` slots that begin before ``now + horizon``, the first no earlier
  than ``now - burst/rate`` (after a quiet spell, at most ``burst`` slots are already due). It gets how many, and
  when the first begins (seconds from now, negative when already due); it sends each message at its slot. So the
  sends of all workers together never exceed ``rate`` in any second by more than ``burst`` (plus the network's
  jitter), however the batches interleave — a token bucket with batched takes let them bunch up (issue 24: 37
  messages in one second at 30/s). Bulk takes leave ``keep`` slots of the horizon for respondents' replies.
  Only the database clock is used, so the workers' clocks never matter; the row lock serialises takers.
- Priorities across workers: an interactive take that gets less than it wanted sets ``interactive_until`` to
  ``hold`` seconds ahead; until then every bulk take, on any worker, gets nothing. The interactive worker comes
  back within ``hold`` and renews it while its respondents still wait; a dead worker's mark expires by itself.
- Each worker upserts a heartbeat row in ``send_workers`` every few seconds; rows older than ``stale`` seconds
  are deleted by whoever beats next, so a dead worker is forgotten within seconds. The live count gives each
  worker its fair share (budget / live workers) when the database cannot be reached.
- SQLite has a single worker by design: nothing here is used there.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

_INIT = text("INSERT INTO send_budget (id, tokens, counted_at) VALUES (1, 0, clock_timestamp()) "
             "ON CONFLICT (id) DO NOTHING")
_TAKE = text("""
WITH cur AS (
    SELECT now_, GREATEST(COALESCE(next_slot_at, now_ - earliest), now_ - earliest) AS base, replies_wait
    FROM (SELECT clock_timestamp() AS now_,
                 make_interval(secs => CAST(:burst AS DOUBLE PRECISION) / CAST(:rate AS DOUBLE PRECISION)) AS earliest,
                 next_slot_at,
                 COALESCE(interactive_until > clock_timestamp(), FALSE) AS replies_wait
          FROM send_budget WHERE id = 1 FOR UPDATE) AS row_
), room AS (
    SELECT now_, base, replies_wait,
           GREATEST(0.0, CAST(EXTRACT(EPOCH FROM (now_ - base)) AS DOUBLE PRECISION)
                         + CAST(:horizon AS DOUBLE PRECISION)) * CAST(:rate AS DOUBLE PRECISION) AS slots
    FROM cur
), granted AS (
    SELECT now_, base, GREATEST(0.0, LEAST(CAST(:want AS DOUBLE PRECISION), FLOOR(slots - CASE
               WHEN :interactive THEN 0.0
               WHEN replies_wait THEN slots
               ELSE CAST(:keep AS DOUBLE PRECISION) END))) AS n
    FROM room
)
UPDATE send_budget SET
    next_slot_at = granted.base + make_interval(secs => granted.n / CAST(:rate AS DOUBLE PRECISION)),
    counted_at = granted.now_,
    interactive_until = CASE
        WHEN :interactive AND granted.n < CAST(:want AS DOUBLE PRECISION) - 1e-9
        THEN granted.now_ + make_interval(secs => CAST(:hold AS DOUBLE PRECISION))
        ELSE send_budget.interactive_until END
FROM granted WHERE send_budget.id = 1
RETURNING granted.n, CAST(EXTRACT(EPOCH FROM (granted.base - granted.now_)) AS DOUBLE PRECISION)
""")
_BEAT = text("INSERT INTO send_workers (worker_id, seen_at) VALUES (:w, clock_timestamp()) "
             "ON CONFLICT (worker_id) DO UPDATE SET seen_at = clock_timestamp()")
_PRUNE = text("DELETE FROM send_workers WHERE seen_at < clock_timestamp() - make_interval(secs => :stale)")
_LIVE = text("SELECT COUNT(*) FROM send_workers")
_LEAVE = text("DELETE FROM send_workers WHERE worker_id = :w")


class SharedBucket:
    """Takes tokens from, and keeps this worker's heartbeat in, the shared rows."""

    def __init__(self, engine: AsyncEngine, rate: float, burst: float, horizon: float = 1 / 6) -> None:
        """``burst``: slots that may be due at once after a quiet spell; ``horizon``: how far ahead (seconds) a
        take may reserve slots."""
        self.engine, self.rate, self.burst, self.horizon = engine, rate, burst, horizon
        self.statements = 0  # statements run (the cost of sharing)
        self.takes = 0  # of which slot takes

    async def init(self) -> None:
        """Create the bucket row if this is the first worker ever."""
        async with self.engine.begin() as conn:
            await conn.execute(_INIT)
        self.statements += 1

    async def take(self, want: float, keep: float = 0.0, *, interactive: bool = True,
                   hold: float = 0.5) -> tuple[float, float]:
        """(slots granted, seconds from now until the first of them begins; negative: already due): up to `want`;
        a bulk take leaves `keep` slots of the horizon behind and gets nothing while an interactive take elsewhere
        was short in the last `hold` seconds, and reserves only a quarter as far ahead (a reply that comes later
        on another worker waits behind few of them). The slots follow each other 1/rate apart."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(_TAKE, {"burst": self.burst, "rate": self.rate, "want": want, "keep": keep,
                                              "interactive": interactive, "hold": hold,
                                              "horizon": self.horizon if interactive else self.horizon / 4})).one()
        self.statements += 1
        self.takes += 1
        return float(row[0]), float(row[1])

    async def heartbeat(self, worker_id: str, stale: float) -> int:
        """Say this worker is alive, forget workers silent for `stale` seconds; the number of live workers."""
        async with self.engine.begin() as conn:
            await conn.execute(_BEAT, {"w": worker_id})
            await conn.execute(_PRUNE, {"stale": stale})
            live = (await conn.execute(_LIVE)).scalar_one()
        self.statements += 3
        return int(live)

    async def leave(self, worker_id: str) -> None:
        """Remove this worker's heartbeat (a clean shutdown frees its share at once)."""
        async with self.engine.begin() as conn:
            await conn.execute(_LEAVE, {"w": worker_id})
