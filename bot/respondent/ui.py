"""Small helpers to send, edit and acknowledge, tolerant of Telegram's harmless refusals."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter

from bot.context import Context
from bot.respondent import screens

log = logging.getLogger(__name__)


async def send(context: Context, chat_id: int, screen: screens.Screen) -> None:
    """Send a screen as a new HTML message."""
    await context.bot.send_message(chat_id, screen.text, parse_mode=ParseMode.HTML, reply_markup=screen.keyboard)


async def edit(update: Update, screen: screens.Screen) -> bool:
    """Replace the tapped message with a screen; False when Telegram refused (unchanged or vanished message)."""
    query = update.callback_query
    try:
        await query.edit_message_text(screen.text, parse_mode=ParseMode.HTML, reply_markup=screen.keyboard)
    except BadRequest as exc:
        log.debug("edit skipped: %s", exc.message)
        return "not modified" in exc.message  # the screen is there already
    return True


async def edit_or_send(update: Update, context: Context, screen: screens.Screen) -> None:
    """Turn the tapped message into the next screen; send it anew only if that message cannot be edited."""
    if not await edit(update, screen):
        await send(context, update.effective_chat.id, screen)


async def toast(update: Update, text: str | None = None) -> None:
    """Answer a button tap (a short notice when text is given)."""
    try:
        await update.callback_query.answer(text)
    except BadRequest as exc:  # a query answered already or too old: nothing to show any more
        log.debug("callback answer skipped: %s", exc.message)
    except (RetryAfter, NetworkError) as exc:  # 429s waited out by the limiter, or the Bot API out of reach:
        # the spinner stops by itself; what the tap did (the next question) must still go out
        log.debug("callback answer given up: %s", exc.message)
