"""The handler/service boundary when the database fails: report it, and tell the respondent once a minute.

Handlers call the service through ``GuardedService``. A request that meets a database fault raises
``StorageUnavailable`` before anything was shown to the respondent (every handler calls the service
before it answers), so nothing is acknowledged that was not stored. The application's error handler
then calls ``tell_fault``: the tapped button's toast says what happened, and so does one chat message,
at most one per respondent per minute however often they try.
"""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.background.health import DATABASE, Health
from storage.faults import RETRY_SECONDS, DbFault, classify, retry_transient
from survey.i18n import N_, Translator

log = logging.getLogger(__name__)

FAULT_TEXT = N_("A technical hitch — your answer is not saved. Please repeat it in a minute; everything you "
                "answered before is in place.")
NOTICE_EVERY = 60.0  # seconds: at most one fault message per respondent in this time
MAX_REMEMBERED = 100_000


class StorageUnavailable(Exception):
    """The database did not complete a respondent's request; nothing of it was stored."""

    def __init__(self, fault: DbFault):
        super().__init__(f"database unavailable: {fault.kind}")
        self.fault = fault


class GuardedService:
    """The respondent service with transient database faults retried for a bounded time (each request is
    its own transaction, rolled back on failure, so running it again is safe), and faults that remain
    reported to ``Health`` and raised as StorageUnavailable.

    Every coroutine method of the wrapped service is wrapped; other attributes pass through unchanged.
    """

    def __init__(self, service: Any, health: Health, *, retry_seconds: float = RETRY_SECONDS):
        self._service = service
        self._health = health
        self.retry_seconds = retry_seconds

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._service, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def retried(fault: DbFault) -> None:
            self._health.failed(DATABASE, fault.kind, lasting=False)

        @functools.wraps(attr)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                # A short outage (lock, restart, dropped connection) costs the respondent a delay, not an answer.
                result = await retry_transient(lambda: attr(*args, **kwargs), seconds=self.retry_seconds,
                                               on_fault=retried)
            except Exception as exc:
                fault = classify(exc)
                if fault is None:
                    raise
                self._health.failed(DATABASE, fault.kind)
                raise StorageUnavailable(fault) from exc
            self._health.answered(DATABASE)
            return result

        return guarded


class FaultNotices:
    """Who was told about a fault, and when: one message per respondent per ``every`` seconds."""

    def __init__(self, every: float = NOTICE_EVERY, clock: Callable[[], float] = time.monotonic):
        self.every, self.clock = every, clock
        self._told: OrderedDict[int, float] = OrderedDict()

    def due(self, user_id: int) -> bool:
        """Whether this respondent may get the fault message now (and count it as sent if so)."""
        now = self.clock()
        while self._told and (next(iter(self._told.values())) <= now - self.every or len(self._told) > MAX_REMEMBERED):
            self._told.popitem(last=False)
        if user_id in self._told:
            return False
        self._told[user_id] = now
        return True


def fault_of(error: BaseException | None) -> DbFault | None:
    """The database fault behind an error a handler raised, or None."""
    if isinstance(error, StorageUnavailable):
        return error.fault
    return classify(error) if error is not None else None


async def tell_fault(update: Update, bot: Any, notices: FaultNotices, t: Translator) -> None:
    """The toast of a tapped button and (once a minute) a chat message say the action was not stored (in ``t``'s
    language: the database that would say the respondent's stored one is what failed, so their Telegram one)."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None or chat.type != ChatType.PRIVATE:
        return
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(t.gettext(FAULT_TEXT))
        except TelegramError as exc:  # answered already (or too old): the message below still says it
            log.debug("fault toast not shown: %s", exc.message)
    if notices.due(user.id):
        try:
            await bot.send_message(chat.id, t.gettext(FAULT_TEXT))
        except TelegramError as exc:  # Telegram is failing too: nothing more to do
            log.debug("fault message not delivered: %s", exc.message)
