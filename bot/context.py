"""Typed application context: what every handler can reach through ``context.bot_data``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ExtBot

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

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


Context = CallbackContext[ExtBot, dict, dict, BotData]
