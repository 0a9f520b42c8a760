"""The bot's sending budget shared by all workers on one PostgreSQL database.

Contract:
- One row of ``send_budget`` is a token bucket: ``tokens`` counted at ``counted_at``. A worker takes tokens in
  small batches with ONE statement that refills the row by the time elapsed (at ``rate``, capped at ``burst``),
  grants up to ``want`` and leaves ``keep`` behind (bulk takes leave a reserve for respondents' replies on any
  worker). Only the database clock is used, so the workers' clocks never matter; the row lock serialises takers.
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
    SELECT LEAST(CAST(:burst AS DOUBLE PRECISION),
                 tokens + CAST(:rate AS DOUBLE PRECISION)
                          * CAST(EXTRACT(EPOCH FROM (clock_timestamp() - counted_at)) AS DOUBLE PRECISION)) AS avail,
           COALESCE(interactive_until > clock_timestamp(), FALSE) AS replies_wait
    FROM send_budget WHERE id = 1 FOR UPDATE
), granted AS (
    SELECT avail, GREATEST(0.0, LEAST(CAST(:want AS DOUBLE PRECISION), avail - CASE
               WHEN :interactive THEN 0.0
               WHEN replies_wait THEN avail
               ELSE CAST(:keep AS DOUBLE PRECISION) END)) AS n
    FROM cur
)
UPDATE send_budget SET tokens = granted.avail - granted.n, counted_at = clock_timestamp(),
    interactive_until = CASE
        WHEN :interactive AND granted.n < CAST(:want AS DOUBLE PRECISION) - 1e-9
        THEN clock_timestamp() + make_interval(secs => CAST(:hold AS DOUBLE PRECISION))
        ELSE send_budget.interactive_until END
FROM granted WHERE send_budget.id = 1
RETURNING granted.n, granted.avail - granted.n
""")
_BEAT = text("INSERT INTO send_workers (worker_id, seen_at) VALUES (:w, clock_timestamp()) "
             "ON CONFLICT (worker_id) DO UPDATE SET seen_at = clock_timestamp()")
_PRUNE = text("DELETE FROM send_workers WHERE seen_at < clock_timestamp() - make_interval(secs => :stale)")
_LIVE = text("SELECT COUNT(*) FROM send_workers")
_LEAVE = text("DELETE FROM send_workers WHERE worker_id = :w")


class SharedBucket:
    """Takes tokens from, and keeps this worker's heartbeat in, the shared rows."""

    def __init__(self, engine: AsyncEngine, rate: float, burst: float) -> None:
        self.engine, self.rate, self.burst = engine, rate, burst
        self.statements = 0  # statements run (the cost of sharing)
        self.takes = 0  # of which token takes

    async def init(self) -> None:
        """Create the bucket row if this is the first worker ever."""
        async with self.engine.begin() as conn:
            await conn.execute(_INIT)
        self.statements += 1

    async def take(self, want: float, keep: float = 0.0, *, interactive: bool = True,
                   hold: float = 0.5) -> tuple[float, float]:
        """(tokens granted, tokens left in the row): up to `want`; a bulk take leaves `keep` behind and gets
        nothing while an interactive take elsewhere was short in the last `hold` seconds."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(_TAKE, {"burst": self.burst, "rate": self.rate, "want": want,
                                              "keep": keep, "interactive": interactive, "hold": hold})).one()
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
