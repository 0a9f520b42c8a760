"""Reminders to respondents who stopped half-way: a background loop that claims due reminders and sends them.

Every ``Settings.remind_period()`` seconds the loop asks the database which in-progress responses have been
untouched for ``REMIND_AFTER`` (storage/reminders.py); outside quiet hours (survey/reminders.py) it claims
them one by one, each claim committed before its message is sent, and sends the questionnaire's
``reminder_text`` in the respondent's language with a «Continue» button (the /start menu's own "continue", drawn for the response's
version). Sends are bulk: they take only the sending budget respondents' replies leave (bot/sending/limiter.py).
A 403 from Telegram marks the respondent blocked; nothing is ever sent to them again unless they come back.
Each reminder delivered is counted (``surveybot_reminders_sent_total``, bot/background/metrics.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application

from bot import callbacks
from bot.background import cancel
from bot.sending.limiter import bulk
from storage import field as field_store, reminders as store
from storage.db import is_sqlite
from storage.models import utcnow
from survey.field import Phase, availability
from survey.i18n import N_, Translator, translator
from survey.reminders import next_allowed

log = logging.getLogger(__name__)

BATCH = 10  # reminders read (and then claimed one by one) per round: small, so one round never hogs anything
PAUSE_BETWEEN_BATCHES = 1.0  # seconds: a busy 09:00 is spread out even when the budget is idle
CONTINUE = N_("Continue")  # the /start menu's own button


@dataclass
class RoundResult:
    """What one round did (for logs and tests)."""

    sent: int = 0
    lost_races: int = 0  # claimed by another worker (or changed) between reading and claiming
    refused: int = 0  # Telegram refused: blocked (403) or no such chat
    failed: int = 0  # given up in transit: counted as sent, never retried (at most once)
    quiet: bool = False  # nothing sent: quiet hours
    closed: bool = False  # nothing sent: the survey is closed (by date, by hand or by its quota)


def reminder_keyboard(t: Translator, version: int) -> InlineKeyboardMarkup:
    """The «Continue» button: the /start menu's continue, for the position's version."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(t.gettext(CONTINUE),
                                                       callback_data=callbacks.menu(version, callbacks.MenuChoice.CONTINUE))]])


class Reminders:
    """The reminder loop of one running bot (several workers may run one each: claims keep sends single)."""

    def __init__(self, app: Application, after: timedelta, max_count: int, zone: ZoneInfo, period: float,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.app, self.after, self.max_count, self.zone, self.period = app, after, max_count, zone, period
        self.clock = clock
        self.task: asyncio.Task | None = None
        self.rounds = 0

    def start(self) -> None:
        """Start the background loop (the first look comes one period after start)."""
        self.task = asyncio.get_running_loop().create_task(self._loop(), name="surveybot-reminders")

    async def stop(self) -> None:
        """Stop the loop; a send in flight is cancelled (its claim stays: at most once)."""
        await cancel(self.task)
        self.task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.run_once()
            except Exception as exc:  # a database or Telegram outage: try again next period
                log.warning("reminders: round failed: %s", exc)

    async def run_once(self, now: datetime | None = None) -> RoundResult:
        """Send every reminder due at ``now`` (default: the clock), in small batches; what was done."""
        now = now or self.clock()
        result = RoundResult()
        if next_allowed(now, self.zone) != now:
            result.quiet = True
            return result
        data = self.app.bot_data
        survey_id = data.survey.id
        if await self._closed(now):
            result.closed = True
            return result
        while True:
            due = await store.due_reminders(data.engine, survey_id, now, self.after, self.max_count, BATCH)
            progressed = False
            for item in due:
                if await self._claim(survey_id, item, now):
                    progressed = True
                    await self._send(item, result)
                else:
                    result.lost_races += 1
            self.rounds += 1
            if len(due) < BATCH or not progressed:
                return result
            await asyncio.sleep(PAUSE_BETWEEN_BATCHES)

    async def _closed(self, now: datetime) -> bool:
        """Whether the survey is closed at ``now`` (survey/field.py): a closed survey reminds nobody, not even
        those who may still finish within CLOSE_GRACE."""
        data = self.app.bot_data
        state = await field_store.load(data.engine, data.survey.id)
        av = availability(data.survey.survey, state, now, data.settings.close_grace, data.settings.zone())
        return av.phase == Phase.CLOSED

    async def _claim(self, survey_id: str, item: store.DueReminder, now: datetime) -> bool:
        """The claim, committed before anything is sent (storage/reminders.py states the contract)."""
        service = self.app.bot_data.service
        async with service.write_lock, self.app.bot_data.engine.begin() as conn:  # queues with respondents' writes
            return await store.claim(conn, survey_id, item, now, self.after, self.max_count)

    async def _send(self, item: store.DueReminder, result: RoundResult) -> None:
        data = self.app.bot_data
        chat_id = int(item.user_key)
        language = data.survey.language_for(item.language)  # the respondent's (None: the default one)
        try:
            with bulk():  # after every respondent's reply, from spare budget only
                await self.app.bot.send_message(chat_id, data.survey.in_language(language).survey.reminder_text,
                                                reply_markup=reminder_keyboard(translator(language), item.version))
        except (Forbidden, BadRequest) as exc:  # blocked, deactivated, or no such chat: never again
            result.refused += 1
            blocked = utcnow() if isinstance(exc, Forbidden) else None
            async with data.service.write_lock, data.engine.begin() as conn:
                await store.undelivered(conn, item, blocked_at=blocked)
            log.info("reminder not delivered (%s); %s", exc.message, "marked blocked" if blocked else "not retried")
            return
        except TelegramError as exc:  # given up in transit: it may have arrived, so it is not sent again
            result.failed += 1
            log.warning("reminder given up: %s", exc.message)
            return
        result.sent += 1
        data.metrics.reminders.inc()


def start_reminders(app: Application) -> Reminders | None:
    """Start the reminder loop when REMIND_AFTER is set (call from post_init, once storage is open)."""
    data = app.bot_data
    settings = data.settings
    if settings.remind_after is None:
        return None
    if settings.anonymous:
        # The stored key is a hash of the Telegram id: there is no chat to send a reminder to.
        log.warning("REMIND_AFTER is ignored with ANONYMOUS=true: anonymous respondents cannot be reminded")
        return None
    reminders = Reminders(app, settings.remind_after, settings.remind_max, ZoneInfo(settings.timezone),
                          settings.remind_period())
    data.reminders = reminders
    reminders.start()
    log.info("reminders on: after %s, at most %d per response, checked every %.0f s%s", settings.remind_after,
             settings.remind_max, reminders.period, "" if is_sqlite(settings.database_url) else " (claims shared)")
    return reminders
