"""Typed application context: what every handler can reach through ``context.bot_data``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import Update
from telegram.ext import CallbackContext, ExtBot

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from bot.background.health import Health
    from bot.background.reminders import Reminders
    from bot.service.faults import FaultNotices
    from bot.service.respondents import SurveyService
    from bot.settings import Settings
    from survey.model import Survey


class BotData:
    """Shared objects of one running bot (filled by ``build_application`` and its post_init)."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.survey: Survey | None = None
        self.engine: AsyncEngine | None = None
        self.service: SurveyService | None = None
        # The same questionnaire under its test id, for admins' test runs (bot.admin.testmode).
        self.test_service: SurveyService | None = None
        # Group chats already told that the bot works in private only (said once per chat).
        self.groups_told: set[int] = set()
        # Incidents of the database and the Bot API, and who was told about a fault (bot/background/health.py, bot/service/faults.py).
        self.health: Health | None = None
        self.notices: FaultNotices | None = None
        self.background: set[asyncio.Task] = set()  # fire-and-forget tasks in flight (incident alerts)
        self.health_file: Path | None = None  # set for `surveybot run`: the monitor writes it (bot/background/monitor.py)
        self.reminders: Reminders | None = None  # the reminder loop, when REMIND_AFTER is set (bot/background/reminders.py)
        # Called after a respondent completes the survey (not a test run): hooks the wiring hangs here, so the
        # respondent side never imports what they belong to (the admins' progress note, bot/admin/commands.py).
        self.on_completed: list[Callable[[Update, Any], Awaitable[None]]] = []


Context = CallbackContext[ExtBot, dict, dict, BotData]
