"""The admin side's wiring: its handlers behind the numeric-id filter, its command menu, its hooks.

``add_admin_handlers`` is called by the one wiring function (bot/app.py) before the respondent's handlers,
so an admin's ``/start test`` and the summary buttons (callback data ``st:…``) reach bot/admin and never
pass through respondent code; ``notify_progress`` is hung on the respondent side's completion hook there.
"""

from __future__ import annotations

import logging

from telegram import BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from analytics import jobs
from bot import callbacks
from bot.admin import field, report, stats, testmode
from bot.admin.language import admin_language
from bot.context import Context
from bot.respondent.language import bot_commands
from bot.sending.limiter import bulk_handler
from survey.i18n import translator

log = logging.getLogger(__name__)


def add_admin_handlers(app: Application) -> None:
    """Register the admin commands behind a numeric-id filter, and the summary buttons."""
    admins = filters.User(user_id=sorted(app.bot_data.settings.admin_ids))
    only = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & admins
    app.add_handler(CommandHandler("stats", stats.stats, filters=only))
    app.add_handler(CommandHandler("export", stats.export, filters=only))
    app.add_handler(CommandHandler("report", report.report, filters=only))
    app.add_handler(CallbackQueryHandler(stats.stats_button, pattern=f"^{callbacks.STATS_PREFIX}"))
    field.add_field_handlers(app, only)
    testmode.add_test_handlers(app, only)


async def register_admin_commands(app: Application, respondent_commands: tuple[tuple[str, str], ...]) -> None:
    """Show the admin commands in the menu of the admins' chats only (in ADMIN_LANGUAGE, else the language an
    admin without a Telegram language would read: the admin's Telegram language is known only from an update)."""
    t = translator(admin_language(app.bot_data, None))
    menu = bot_commands(t, respondent_commands + stats.ADMIN_COMMANDS + report.REPORT_COMMANDS + field.FIELD_COMMANDS
                        + testmode.TEST_COMMANDS)
    for admin_id in sorted(app.bot_data.settings.admin_ids):
        try:
            await app.bot.set_my_commands(menu, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # e.g. the admin has not opened the bot yet
            log.warning("admin command menu not set for one admin: %s", exc.message)


@bulk_handler
async def notify_progress(update: Update, context: Context) -> None:
    """Every NOTIFY_ADMINS_EVERY completed responses, a one-line note to each admin (a completion hook)."""
    data = context.bot_data
    every = data.settings.notify_admins_every
    if not every or not data.settings.admin_ids:
        return
    done = await jobs.completed_count(data.engine, data.survey)
    if done % every:
        return
    for admin_id in sorted(data.settings.admin_ids):
        try:
            t = translator(admin_language(data, None))
            text = t.gettext("📈 «{title}»: completed questionnaires — {count}.").format(title=data.survey.survey.title,
                                                                                         count=done)
            await context.bot.send_message(admin_id, text)
        except TelegramError as exc:
            log.warning("progress note not delivered to an admin: %s", exc.message)
