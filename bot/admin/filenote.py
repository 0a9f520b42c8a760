"""Waiting that shows in the chat: a file still being built says how far it is, then gives way to the file.

``FileNote`` wraps the building of an export (or a report): if it takes longer than
``EXPORT_NOTE_AFTER_SECONDS`` (~2 s), the chat gets Telegram's «sending a file» status (``upload_document``) and a
note «Preparing the file… 40,000 of 100,000», edited as rows are done — at most once every
``EXPORT_NOTE_EVERY_SECONDS`` (3 s) and only when the figure changed — and deleted once the file is sent. All its
sends are bulk (bot/sending/limiter.py): respondents' replies go first.

The export runs in a worker thread; it reports through ``tick(done, total)``, which only stores the figures. The
note's own task on the bot's loop reads them, so no Bot API call is ever made from the worker thread.
A new long job gets the same note with::

    async with FileNote(context, chat_id) as note:
        content = await build(progress=note.tick)
    await send_the_file(...)
    await note.remove()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.context import Context
from bot.sending.limiter import bulk
from survey.i18n import N_, Translator, translator

log = logging.getLogger(__name__)

PREPARING = N_("Preparing the file…")


def note_text(done: int | None, total: int | None, t: Translator | None = None) -> str:
    """«Preparing the file… 40,000 of 100,000» («Готовлю файл… 40 000 из 100 000»), or just the first words
    before the first figures; in ``t``'s language (the admin's; default: the fallback language)."""
    t = t or translator(None)
    if done is None or total is None:
        return t.gettext(PREPARING)
    return t.gettext("{preparing} {done} of {total}").format(
        preparing=t.gettext(PREPARING), done=t.integer(done), total=t.integer(total))


class FileNote:
    """The note and chat status of one file being built (an async context manager around the building)."""

    def __init__(self, context: Context, chat_id: int, t: Translator | None = None, *, after: float | None = None,
                 every: float | None = None):
        settings = context.bot_data.settings
        self.t = t or translator(None)
        self.bot = context.bot
        self.chat_id = chat_id
        self.after = settings.export_note_after_seconds if after is None else after
        self.every = settings.export_note_every_seconds if every is None else every
        self._latest: tuple[int, int] | None = None  # written by the worker thread, read on the loop
        self._shown: str | None = None
        self._message_id: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()

    def tick(self, done: int, total: int) -> None:
        """Rows done of the total (from any thread: a plain assignment, read by the note's task)."""
        self._latest = (done, total)

    async def __aenter__(self) -> FileNote:
        self._task = asyncio.create_task(self._run(), name=f"file-note-{self.chat_id}")
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        if self._task is None:
            return
        self._done.set()
        if exc_type is not None:  # the building failed or was cancelled: no waiting on a send in flight
            self._task.cancel()
        # Otherwise a send or edit in flight is let finish, so the note it makes is known and can be removed.
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _finished_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._done.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        if await self._finished_within(self.after):
            return  # a quick file needs no note
        with bulk():
            try:
                while True:
                    await self._show()
                    if await self._finished_within(self.every):
                        return
            except TelegramError as exc:  # the note is a courtesy: the file still comes
                log.warning("export progress note not shown: %s", exc.message)

    async def _show(self) -> None:
        # The status lasts ~5 s or until the next message: renewed with every look at the figures.
        await self.bot.send_chat_action(self.chat_id, ChatAction.UPLOAD_DOCUMENT)
        text = note_text(*(self._latest or (None, None)), self.t)
        if self._message_id is None:
            self._message_id = (await self.bot.send_message(self.chat_id, text)).message_id
        elif text != self._shown:
            await self.bot.edit_message_text(text, chat_id=self.chat_id, message_id=self._message_id)
        self._shown = text

    @property
    def shown(self) -> bool:
        """Whether the note was sent (the job outlived ``after``)."""
        return self._message_id is not None

    async def remove(self) -> None:
        """Delete the note once the file is in the chat (nothing when it was never shown)."""
        if self._message_id is None:
            return
        with bulk():
            try:
                await self.bot.delete_message(self.chat_id, self._message_id)
            except TelegramError as exc:
                log.warning("export progress note not removed: %s", exc.message)
        self._message_id = None
