"""Background loops of a running bot, and the incidents they watch.

- ``reminders``: the loop that claims due reminders and sends them (its rule: survey/reminders.py, its SQL:
  storage/reminders.py).
- ``housekeeping``: forgets processed update ids once Telegram can no longer redeliver them.
- ``monitor``: probes the database and the Bot API, writes the health file.
- ``health``: incidents of the database and the Bot API (``Health``), told to operators and admins.

Each loop is started from the wiring's post_init (bot/app.py) and stopped with ``cancel`` at shutdown.
May import: telegram, storage, survey, bot.context, bot.callbacks, bot.sending (loops send in bulk);
never bot.respondent or bot.admin.
"""

from __future__ import annotations

import asyncio
import contextlib


async def cancel(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has stopped (None: nothing to stop)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
