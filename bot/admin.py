"""Admin commands (filled in with the analytics package)."""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.context import Context
from bot.ui import toast


async def stats_button(update: Update, context: Context, button: callbacks.StatsButton) -> None:
    """Admin summary buttons."""
    await toast(update)


async def notify_progress(context: Context) -> None:
    """Optional progress note to admins."""
