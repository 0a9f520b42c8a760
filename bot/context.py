"""Typed application context: what every handler can reach through ``context.bot_data``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ExtBot

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.guard import FaultNotices
    from bot.health import Health
    from bot.reminders import Reminders
    from bot.service import SurveyService
    from bot.settings import Settings
    from survey.model import Survey


class BotData:
    """Shared objects of one running bot (filled by ``build_application`` and its post_init)."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.survey: Survey | None = None
        self.engine: AsyncEngine | None = None
        self.service: SurveyService | None = None
        # The same questionnaire under its test id, for admins' test runs (bot.testmode).
        self.test_service: SurveyService | None = None
        # Group chats already told that the bot works in private only (said once per chat).
        self.groups_told: set[int] = set()
        # Incidents of the database and the Bot API, and who was told about a fault (bot/health.py, bot/guard.py).
        self.health: Health | None = None
        self.notices: FaultNotices | None = None
        self.background: set[asyncio.Task] = set()  # fire-and-forget tasks in flight (incident alerts)
        self.health_file: Path | None = None  # set for `surveybot run`: the monitor writes it (bot/monitor.py)
        self.reminders: Reminders | None = None  # the reminder loop, when REMIND_AFTER is set (bot/reminders.py)


Context = CallbackContext[ExtBot, dict, dict, BotData]
