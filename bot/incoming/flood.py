"""Per-user flood limit: a user who sends too much is warned once and their excess updates are dropped.

The guard runs in handler group -1, before any handler that touches the database, so a dropped
update costs no SQL at all. Memory stays bounded: each user keeps at most ``limit`` timestamps,
users idle for a whole window are forgotten, and at most ``max_users`` are tracked at once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.context import Context
from survey.i18n import N_, translator

log = logging.getLogger(__name__)

WARNING_TEXT = N_("Too many messages in a row. Please wait a few seconds — extra messages are not processed now, "
                  "your answers are already saved.")
MAX_TRACKED_USERS = 100_000
# Button taps get a larger allowance than typed messages: a respondent ticking a long multiple-choice
# list taps in quick bursts, while nobody types twenty messages in ten seconds by hand.
TAP_FACTOR = 3


class Verdict(StrEnum):
    """What to do with one update of a user."""

    PASS = "pass"
    WARN = "warn"  # dropped, and the user is told once
    DROP = "drop"  # dropped silently (already warned in this window)


@dataclass
class _Window:
    accepted: deque[float] = field(default_factory=deque)
    warned_at: float | None = None


class FloodGuard:
    """A sliding window of accepted updates per user: at most ``limit`` within ``window`` seconds."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 max_users: int = MAX_TRACKED_USERS):
        self.limit, self.window, self.clock, self.max_users = limit, window, clock, max_users
        self._users: OrderedDict[tuple[int, bool], _Window] = OrderedDict()
        self.dropped = 0

    def verdict(self, user_id: int, tap: bool = False) -> Verdict:
        """Count one update of a user (a message, or a button tap) and say whether it may be processed."""
        now = self.clock()
        self._forget_idle(now)
        key = (user_id, tap)
        state = self._users.pop(key, None) or _Window()
        self._users[key] = state  # most recently active users live at the end
        while len(self._users) > self.max_users:
            self._users.popitem(last=False)
        while state.accepted and state.accepted[0] <= now - self.window:
            state.accepted.popleft()
        if len(state.accepted) < self.limit * (TAP_FACTOR if tap else 1):
            state.accepted.append(now)
            return Verdict.PASS
        self.dropped += 1
        # One warning per flood: a user who keeps flooding is told again only a window later.
        if state.warned_at is None or state.warned_at <= now - self.window:
            state.warned_at = now
            return Verdict.WARN
        return Verdict.DROP

    def _forget_idle(self, now: float) -> None:
        """Drop users with nothing left in the window, least recently active first."""
        while self._users:
            key, state = next(iter(self._users.items()))
            last = max(state.accepted[-1] if state.accepted else float("-inf"), state.warned_at or float("-inf"))
            if last > now - self.window:
                break
            del self._users[key]

    @property
    def tracked_users(self) -> int:
        """How many (user, kind) windows the guard currently remembers."""
        return len(self._users)

    async def check(self, update: object, context: Context) -> None:
        """Group -1 handler: let the update through, or stop it (warning the user once)."""
        if not isinstance(update, Update) or update.effective_user is None:
            return
        verdict = self.verdict(update.effective_user.id, tap=update.callback_query is not None)
        if verdict == Verdict.PASS:
            return
        chat = update.effective_chat
        if verdict == Verdict.WARN and chat is not None and chat.type == ChatType.PRIVATE:  # groups hear nothing more
            log.info("flood limit reached by a user; excess updates are dropped")
            survey = context.bot_data.survey  # before any handler, without a read: the user's Telegram language
            t = translator(survey.language_for(update.effective_user.language_code))
            await context.bot.send_message(chat.id, t.gettext(WARNING_TEXT))
        raise ApplicationHandlerStop


def add_flood_guard(app: Application) -> FloodGuard:
    """Register the guard before every other handler, with limits from the settings."""
    settings = app.bot_data.settings
    guard = FloodGuard(settings.flood_messages, settings.flood_window_seconds)
    app.add_handler(TypeHandler(Update, guard.check), group=-1)
    return guard
