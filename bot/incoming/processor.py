"""Concurrent update processing that keeps each user's updates in order; every update handled is counted here
(``surveybot_updates_handled_total``, bot/background/metrics.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

if TYPE_CHECKING:
    from bot.background.metrics import Metrics

# Updates that may be waiting at once (all users); far above what Telegram delivers per poll.
QUEUE_LIMIT = 1_000_000


def _key(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


def kind_of(update: object) -> str:
    """The kind an update is counted under: message, callback, edited or other."""
    if isinstance(update, Update):
        if update.message is not None:
            return "message"
        if update.callback_query is not None:
            return "callback"
        if update.edited_message is not None:
            return "edited"
    return "other"


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Runs updates of different users concurrently and those of one user one after another.

    A lock per active user is created on demand and dropped when no update of that user is
    waiting, so memory does not grow with the number of respondents. The concurrency limit is
    taken only after the user's lock: updates queued behind one busy (or flooding) user wait
    without occupying a slot, so they cannot starve everybody else.
    """

    def __init__(self, max_concurrent_updates: int = 256, *, metrics: Metrics | None = None):
        """``metrics``: where handled updates are counted (None: not counted)."""
        # PTB's own semaphore is taken before do_process_update; keep it out of the way and
        # enforce the limit with our own, after the per-user lock.
        super().__init__(QUEUE_LIMIT)
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self.metrics = metrics
        # Told the id of every update whose handling ended (its reply went out): the service notes it, so that
        # a redelivery is not answered again (bot/service/respondents.py SurveyService.answered).
        self.on_handled: Callable[[int], None] | None = None
        # The same, committed before it returns (the webhook awaits it before answering Telegram 200).
        self.note_handled: Callable[[int], Awaitable[None]] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the user's earlier updates, then run this one (and count it)."""
        try:
            await self._in_turn(update, coroutine)
            if self.on_handled is not None and isinstance(update, Update):
                self.on_handled(update.update_id)
        finally:
            if self.metrics is not None:
                self.metrics.updates.labels(kind_of(update)).inc()

    async def _in_turn(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _key(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock, self._slots:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    @property
    def active_users(self) -> int:
        """How many users have an update running or waiting."""
        return len(self._locks)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""
