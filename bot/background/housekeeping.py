"""Background housekeeping while the bot runs: forget old processed update ids.

Update ids are remembered only to recognise a redelivery, and Telegram redelivers for 24 hours at most.
Keeping them longer is not just waste: after a week without updates Telegram picks the next update id
at random, and a remembered old id would make a new update look like a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram.ext import Application

from bot.background import cancel
from storage.repository import UnitOfWork

log = logging.getLogger(__name__)

PROCESSED_UPDATE_TTL = timedelta(hours=48)
INTERVAL_SECONDS = 3600.0


async def prune_once(sessions: async_sessionmaker[AsyncSession], ttl: timedelta = PROCESSED_UPDATE_TTL) -> int:
    """Delete processed update ids older than ``ttl``; returns how many were deleted."""
    async with UnitOfWork(sessions) as uow:
        deleted = await uow.repo.prune_updates(ttl)
        await uow.commit()
    return deleted


class Housekeeper:
    """Runs ``prune_once`` at start and then every ``interval`` seconds until stopped."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float = INTERVAL_SECONDS):
        self.sessions, self.interval = sessions, interval
        self.task: asyncio.Task | None = None
        self.runs = 0

    def start(self) -> None:
        """Start the background loop."""
        self.task = asyncio.create_task(self._loop(), name="surveybot-housekeeping")

    async def _loop(self) -> None:
        while True:
            try:
                deleted = await prune_once(self.sessions)
                self.runs += 1
                if deleted:
                    log.info("forgot %d processed update ids older than %s", deleted, PROCESSED_UPDATE_TTL)
            except Exception as exc:
                log.warning("housekeeping failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        """Stop the loop (waits for a prune in progress to be cancelled)."""
        await cancel(self.task)
        self.task = None


def start_housekeeping(app: Application) -> Housekeeper:
    """Start housekeeping for an application whose storage is open (call from post_init)."""
    keeper = Housekeeper(app.bot_data.service.sessions)
    app.bot_data.housekeeper = keeper
    keeper.start()
    return keeper
