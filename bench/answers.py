"""Scenario 1: answer throughput of the real application against a bare PTB application.

1,000 respondents (concurrently, each waiting for the bot's reply before the next tap, like a
person would) go /start → Начать → all 14 questions. The real application is fed through its
update processor (per-user order, 256 concurrent updates), and every answer is committed before
the reply. The baseline is a bare PTB application with the same processor making the same Bot API
calls per update as the bot (bot/respondent/handlers.py ``_render_outcome``: a tap is answered and its
message edited into the next screen, the answer just given on top; a typed answer gets the next screen
as a new message) with the same screens, and no storage.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sqlite3
import tempfile
import time
from pathlib import Path

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters

from bench.common import TOKEN, Row, log, median, report
from bot import callbacks
from bot.app import build_application
from bot.incoming.processor import PerUserUpdateProcessor
from bot.respondent import screens
from bot.settings import Settings
from survey.flow import Answer, Progress
from survey.i18n import translator
from survey.loader import load_survey
from survey.model import QuestionType
from tests.recording import BOT_USER, RecordingRequest

SURVEY = load_survey(None)
T = translator(SURVEY.default_language)  # the respondent's language, looked up as the bot does
TARGET = 0.6
LINGER: float | None = None  # experiments only: override the group-commit linger
MAX_BATCH: int | None = None  # experiments only: override the group-commit batch size


class ErrorCount(logging.Handler):
    """Counts errors logged by the bot instead of printing thousands of tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = self.format(record)[-600:]


ERRORS = ErrorCount()


def script(user_id: int, first_update_id: int) -> list[tuple[dict, str, str | None]]:
    """One respondent's updates: (raw update, what the bot does, question shown next)."""
    user = {"id": user_id, "is_bot": False, "first_name": "Бенч", "language_code": "ru"}
    chat = {"id": user_id, "type": "private", "first_name": "Бенч"}
    now = int(time.time())
    out: list[tuple[dict, str, str | None]] = []
    uid = iter(range(first_update_id, first_update_id + 1000))

    def message(text: str, next_q: str | None) -> None:
        msg = {"message_id": 10_000 + len(out), "date": now, "chat": chat, "from": user, "text": text}
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text)}]
        out.append(({"update_id": next(uid), "message": msg}, "send", next_q))

    def press(data: str, kind: str, next_q: str | None) -> None:
        msg = {"message_id": len(out) + 1, "date": now, "chat": chat, "from": BOT_USER, "text": "…"}
        query = {"id": f"{user_id}-{len(out)}", "from": user, "chat_instance": str(user_id), "message": msg, "data": data}
        out.append(({"update_id": next(uid), "callback_query": query}, kind, next_q))

    qs = SURVEY.questions
    message("/start", None)
    press(callbacks.menu(0, "begin"), "redraw", qs[0].id)
    version = 1
    for i, q in enumerate(qs):
        nxt = qs[i + 1].id if i + 1 < len(qs) else None
        pick = user_id % 3
        if q.type == QuestionType.SINGLE:
            press(callbacks.choose(version, q.options[pick % len(q.options)].id), "advance", nxt)
        elif q.type == QuestionType.MULTIPLE:
            for opt in {q.options[pick].id: 0, q.options[(pick + 2) % len(q.options)].id: 0}:
                press(callbacks.toggle(version, opt), "redraw", q.id)
                version += 1
            press(callbacks.simple(version, "d"), "advance", nxt)
        elif q.type == QuestionType.SCALE:
            press(callbacks.choose(version, str(q.scale.min + pick)), "advance", nxt)
        elif q.type == QuestionType.NUMBER:
            message(str(10 + pick), nxt)
        else:
            message("текст ответа", nxt)
        version += 1
    return out


def scripts(users: int, base_user: int) -> list[list[tuple[dict, str, str | None]]]:
    """Every respondent's script, with unique update ids."""
    return [script(base_user + i, (base_user + i) * 1000) for i in range(users)]


async def drive(app: Application, per_user: list[list[Update]]) -> float:
    """Feed every user's updates through the app's update processor; seconds taken.

    No event-loop stall is measured here: the in-process Bot API answers without ever suspending,
    so the bare application runs each user's whole script in one step and any loop-latency
    figure would describe the test double, not the bot.
    """
    processor = app.update_processor

    async def one_user(updates: list[Update]) -> None:
        for update in updates:
            await processor.process_update(update, app.process_update(update))

    gc.collect()
    # The 22,000 pre-built updates are the harness's, not the bot's: keep them out of the GC's full
    # passes (same for both applications), as a real bot holds no queue of future updates.
    gc.freeze()
    try:
        start = time.perf_counter()
        await asyncio.gather(*(one_user(u) for u in per_user))
        return time.perf_counter() - start
    finally:
        gc.unfreeze()


def baseline_app() -> tuple[Application, dict[int, tuple]]:
    """A bare PTB application making the same Bot API calls, with pre-rendered screens and no storage."""
    request = RecordingRequest(record=False)
    app = (ApplicationBuilder().token(TOKEN).request(request).get_updates_request(request)
           .concurrent_updates(PerUserUpdateProcessor(256)).build())
    prepared: dict[int, tuple] = {}

    async def on_button(update: Update, context) -> None:
        text, rows = prepared[update.update_id]
        query = update.callback_query
        await query.answer()
        await query.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=markup(rows))

    async def on_message(update: Update, context) -> None:
        text, rows = prepared[update.update_id]
        await context.bot.send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML, reply_markup=markup(rows))

    app.add_handler(CallbackQueryHandler(on_button))
    app.add_handler(MessageHandler(filters.ALL, on_message))
    return app, prepared


def markup(rows: list[list[tuple[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """The keyboard of a Bot API call, built per call as any bot must (the same payload as the real bot's)."""
    if rows is None:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows])


def _plain(screen: screens.Screen) -> tuple[str, list[list[tuple[str, str]]] | None]:
    kb = screen.keyboard
    rows = None if kb is None else [[(b.text, b.callback_data) for b in row] for row in kb.inline_keyboard]
    return screen.text, rows


def screens_for(raw: dict, kind: str, next_q: str | None) -> tuple[str, list[list[tuple[str, str]]] | None]:
    """What the baseline shows for one update: a tap's message is edited into it, a message gets it as a reply."""
    return _plain(_screen_for(raw, kind, next_q))


def _screen_for(raw: dict, kind: str, next_q: str | None) -> screens.Screen:
    """The screen the bot renders (bot/respondent/handlers.py ``_render_outcome``): the next question with the
    answer just given on top, the thank-you after the last one; a redraw (a toggle, «Начать») and /start without it."""
    if "message" in raw and raw["message"]["text"] == "/start":
        return screens.intro_screen(T, SURVEY)
    if next_q is None:
        return screens.finished_screen(T, SURVEY, Progress(None))
    screen = screens.question_screen(T, SURVEY, Progress(next_q), 5)
    if kind == "redraw":
        return screen
    first = SURVEY.questions[0]  # the answered line of one question stands for all (its length barely varies)
    return screens.after_answer(T, SURVEY, first.id, Answer(option_ids=(first.options[0].id,)), screen)


async def run_baseline(users: int, base_user: int) -> tuple[float, int]:
    """Updates/s of the bare application."""
    app, prepared = baseline_app()
    all_scripts = scripts(users, base_user)
    per_user = []
    for s in all_scripts:
        ups = []
        for raw, kind, nxt in s:
            prepared[raw["update_id"]] = screens_for(raw, kind, nxt)
            ups.append(Update.de_json(raw, app.bot))
        per_user.append(ups)
    await app.initialize()
    try:
        seconds = await drive(app, per_user)
    finally:
        await app.shutdown()
    n = sum(len(u) for u in per_user)
    return n / seconds, n


async def run_real(users: int, base_user: int, workdir: Path) -> tuple[float, int]:
    """Updates/s of the real application on a fresh SQLite file; checks every answer was stored."""
    db = workdir / f"answers-{base_user}.db"
    settings = Settings(_env_file=None, bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{db}")
    app = build_application(settings, request=RecordingRequest(record=False), rate_limiter=False)
    per_user = [[Update.de_json(raw, app.bot) for raw, _, _ in s] for s in scripts(users, base_user)]
    await app.initialize()
    await app.post_init(app)
    service = app.bot_data.service
    if LINGER is not None:
        service.batches._linger = LINGER
    if MAX_BATCH is not None:
        service.batches._max_batch = MAX_BATCH
    try:
        seconds = await drive(app, per_user)
        log(f"real: {service.batches.items} requests in {service.batches.batches} transactions")
    finally:
        await app.post_shutdown(app)
        await app.shutdown()
    if ERRORS.count:
        log(f"real run: {ERRORS.count} errors so far; first: {ERRORS.first}")
    with sqlite3.connect(db) as con:
        done = con.execute("SELECT COUNT(*) FROM responses WHERE status = 'completed'").fetchone()[0]
        answers = con.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    expected = users * len(SURVEY.questions)
    if done != users or answers != expected:
        raise SystemExit(f"real run lost work: {done}/{users} completed, {answers}/{expected} answers")
    n = sum(len(u) for u in per_user)
    return n / seconds, n


async def main_async(users: int, runs: int) -> list[Row]:
    """Warm up, then alternate baseline and real runs; medians and their ratio."""
    with tempfile.TemporaryDirectory(prefix="bench-answers-") as tmp:
        workdir = Path(tmp)
        log("answers: warm-up")
        await run_baseline(50, 1_000_000)
        await run_real(50, 1_000_000, workdir)
        base, real = [], []
        for r in range(runs):
            b, n = await run_baseline(users, 2_000_000 + r * users)
            x, _ = await run_real(users, 2_000_000 + r * users, workdir)
            base.append(b)
            real.append(x)
            log(f"answers run {r + 1}/{runs}: {n} updates, baseline {b:,.0f}/s, real {x:,.0f}/s, ratio {x / b:.2f}")
    b, x = median(base), median(real)
    ratio = median([x_ / b_ for x_, b_ in zip(real, base)])
    return [Row("1 answers", f"updates/s, {users} respondents × 14 questions", x, "upd/s", f"≥ {TARGET} × baseline",
                ratio >= TARGET, baseline=b, ratio=ratio)]


def main() -> None:
    """Command line: --users, --runs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(handlers=[ERRORS], level=logging.WARNING, force=True)
    rows = asyncio.run(main_async(args.users, args.runs))
    if ERRORS.count:
        rows[0].met = False
        rows[0].metric += f" ({ERRORS.count} errors)"
    report(rows)


if __name__ == "__main__":
    main()
