"""Scenario 4: memory per respondent — 100,000 respondents in the middle of the survey.

The database holds 100,000 in-progress responses (5 answers each, positioned on question 6). The
real application then receives one answer from every one of them (through its update processor,
256 at a time) and the process's resident memory is compared before and after: the respondents'
state must live in the database, not in Python objects.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import tempfile
import time
from pathlib import Path

from telegram import Update

from bench import data
from bench.answers import ERRORS
from bench.common import TOKEN, Row, lean_request, log, report, rss_mb
from bot import callbacks
from bot.app import build_application
from bot.settings import Settings
from tests.recording import BOT_USER

TARGET_MB = 100
ANSWERED = 5  # each respondent stopped after 5 questions: question 6 (a scale) is on screen


def tap(user_id: int, update_id: int, data_: str) -> dict:
    """A raw callback-query update of one button tap."""
    user = {"id": user_id, "is_bot": False, "first_name": "Бенч"}
    chat = {"id": user_id, "type": "private"}
    msg = {"message_id": 7, "date": int(time.time()), "chat": chat, "from": BOT_USER, "text": "…"}
    return {"update_id": update_id, "callback_query": {"id": f"m{update_id}", "from": user, "chat_instance": str(user_id),
                                                        "message": msg, "data": data_}}


async def feed(app, users: range, version: int, value: str, concurrency: int = 256) -> None:
    """Every user taps the answer once; at most ``concurrency`` updates in flight, built lazily."""
    processor = app.update_processor
    it = iter(users)

    async def worker() -> None:
        for i in it:
            update = Update.de_json(tap(10_000_000 + i, 50_000_000 + i, callbacks.choose(version, value)), app.bot)
            await processor.process_update(update, app.process_update(update))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def measure(db: Path, respondents: int, warmup: int) -> tuple[float, float, float, int]:
    """(RSS before, RSS after, seconds, answers stored) around the 100k answers."""
    settings = Settings(_env_file=None, bot_token=TOKEN, database_url=f"sqlite+aiosqlite:///{db}")
    app = build_application(settings, request=lean_request(), rate_limiter=False)
    await app.initialize()
    await app.post_init(app)
    survey = app.bot_data.survey
    q = survey.questions[ANSWERED]
    value = str(q.scale.min + 2)
    try:
        await feed(app, range(1, warmup + 1), ANSWERED + 1, value)  # warm-up: caches, pools, code paths
        gc.collect()
        before = rss_mb()[0]
        start = time.perf_counter()
        await feed(app, range(warmup + 1, respondents + 1), ANSWERED + 1, value)
        seconds = time.perf_counter() - start
        gc.collect()
        after = rss_mb()[0]
        log(f"memory: PTB user_data entries {len(app.user_data):,}, chat_data {len(app.chat_data):,}, "
            f"processor locks {app.update_processor.active_users}")
    finally:
        await app.post_shutdown(app)
        await app.shutdown()
    import sqlite3

    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT COUNT(*) FROM answers WHERE question_id = ?", (q.id,)).fetchone()[0]
    return before, after, seconds, stored


def main() -> None:
    """Command line: --respondents, --warmup."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--respondents", type=int, default=100_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    args = parser.parse_args()
    logging.basicConfig(handlers=[ERRORS], level=logging.WARNING, force=True)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        db = Path(tmp) / "memory.db"
        log(f"memory: generating {args.respondents:,} respondents in the middle of the survey")
        data.generate(db, args.respondents, answered=ANSWERED)
        before, after, seconds, stored = asyncio.run(measure(db, args.respondents, args.warmup))
    n = args.respondents - args.warmup
    growth = after - before
    log(f"memory: {n:,} answers in {seconds:.1f} s ({n / seconds:,.0f}/s), RSS {before:.0f} -> {after:.0f} MB, "
        f"{stored:,} answers stored, {ERRORS.count} errors")
    ok = growth <= TARGET_MB and stored == args.respondents and ERRORS.count == 0
    report([Row("4 memory", f"RSS growth over {n:,} mid-survey respondents", growth, "MB", f"≤ {TARGET_MB} MB", ok)])


if __name__ == "__main__":
    main()
