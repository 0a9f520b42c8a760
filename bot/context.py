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
    from bot.background.housekeeping import Housekeeper
    from bot.background.metrics import Metrics
    from bot.background.monitor import Monitor
    from bot.background.reminders import Reminders
    from bot.service.faults import FaultNotices
    from bot.service.respondents import SurveyService
    from bot.settings import Settings
    from survey.model import Survey


class BotData:
    """Shared objects of one running bot. ``build_application`` sets the settings, survey, health, notices and
    metrics; its post_init opens storage and sets the engine and both services before any update is handled, so
    handlers read them as set. Only the optional parts are typed Optional."""

    settings: Settings
    survey: Survey
    engine: AsyncEngine
    # The respondent service behind its fault guard (a GuardedService passes SurveyService's interface through).
    service: SurveyService
    # The same questionnaire under its test id, for admins' test runs (bot.admin.testmode).
    test_service: SurveyService
    # Incidents of the database and the Bot API, and who was told about a fault (bot/background/health.py,
    # bot/service/faults.py).
    health: Health
    notices: FaultNotices
    # Prometheus metrics on this application's own registry (bot/background/metrics.py; /metrics in webhook mode).
    metrics: Metrics

    def __init__(self) -> None:
        # Group chats already told that the bot works in private only (said once per chat).
        self.groups_told: set[int] = set()
        self.background: set[asyncio.Task] = set()  # fire-and-forget tasks in flight (incident alerts)
        self.health_file: Path | None = None  # set for `surveybot run`: the monitor writes it (bot/background/monitor.py)
        # The background loops that run (bot/background/): stopped by the wiring's post_shutdown.
        self.reminders: Reminders | None = None  # when REMIND_AFTER is set
        self.housekeeper: Housekeeper | None = None
        self.monitor: Monitor | None = None  # `surveybot run` only: it writes the health file
        # Called after a respondent completes the survey (not a test run): hooks the wiring hangs here, so the
        # respondent side never imports what they belong to (the admins' progress note, bot/admin/commands.py).
        self.on_completed: list[Callable[[Update, Any], Awaitable[None]]] = []

    def opened(self) -> bool:
        """Whether post_init got as far as the services (a start that failed half-way did not)."""
        return hasattr(self, "service")


Context = CallbackContext[ExtBot, dict, dict, BotData]
