"""Health for operators: a periodic check of both parts, and the health file (``/healthz`` in webhook mode serves
the same report: bot/incoming/webhook.py).

While ``surveybot run`` runs, ``Monitor`` asks the database (``SELECT 1``) and the Bot API (``getMe``)
every ``interval`` seconds whether they answer, so "answered recently" stays true in quiet hours too,
and writes ``Health.report()`` to the health file that ``surveybot health`` reads. A part with an open
incident is not probed: a probe that reads could succeed while writes still fail, and only a real
request that works may end an incident.

The file also carries ``process``: the figures a long run watches for leaks that only the process itself can
see (``asyncio_tasks``, the commonest of them by coroutine, the database connections its pool holds); RSS and open files are read from outside, in
``/proc`` (``bench/soak.py`` samples all of them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import TelegramError
from telegram.ext import Application

from bot.background import cancel
from bot.background.health import DATABASE, TELEGRAM, Health, write_report
from storage.db import read_only
from storage.faults import classify

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 15.0
PROBE_TIMEOUT = 10.0


class Monitor:
    """Probes both parts and writes the health file every ``interval`` seconds until stopped."""

    def __init__(self, app: Application, health: Health, engine: AsyncEngine, path: Path,
                 interval: float = INTERVAL_SECONDS):
        self.app, self.health, self.engine, self.path, self.interval = app, health, engine, path, interval
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Start the background loop."""
        self.task = asyncio.create_task(self._loop(), name="surveybot-monitor")

    async def stop(self) -> None:
        """Stop the loop."""
        await cancel(self.task)
        self.task = None

    async def _loop(self) -> None:
        # Probe only once the application runs: PTB starts the updater (and the webhook server) between
        # separate turns of the event loop, and a Bot API call left in flight across them breaks its pool.
        while not self.app.running:
            await asyncio.sleep(0.05)
        while True:
            await self.check_once()
            await asyncio.sleep(self.interval)

    async def check_once(self) -> None:
        """Probe the parts without an open incident, then write the health file."""
        if not self.health.in_incident(DATABASE):
            try:
                async with asyncio.timeout(PROBE_TIMEOUT), read_only(self.engine).connect() as conn:
                    await conn.execute(text("SELECT 1"))
                self.health.answered(DATABASE)
            except Exception as exc:
                fault = classify(exc)
                self.health.failed(DATABASE, fault.kind if fault else type(exc).__name__, lasting=False)
        if not self.health.in_incident(TELEGRAM):
            with contextlib.suppress(TelegramError, asyncio.TimeoutError):
                async with asyncio.timeout(PROBE_TIMEOUT * 3):
                    await self.app.bot.get_me()  # the transport reports the outcome to Health
        report = {**self.health.report(), "process": process_figures(self.engine)}
        await asyncio.to_thread(write_report, report, self.path)


def process_figures(engine: AsyncEngine) -> dict:
    """What the running process holds: its asyncio tasks and the database connections of its engine's pool
    (``checked_out``: in use now; ``pooled``: open and idle). Call from the event loop."""
    pool: Any = engine.pool  # QueuePool on both databases (AsyncAdaptedQueuePool)
    try:
        checked_out, pooled = int(pool.checkedout()), int(pool.checkedin())
    except AttributeError:  # a pool without counts (NullPool, StaticPool): none to report
        checked_out = pooled = -1
    tasks = asyncio.all_tasks()
    kinds = Counter(_task_kind(t) for t in tasks)
    return {"asyncio_tasks": len(tasks), "asyncio_task_kinds": dict(kinds.most_common(8)),
            "db_connections": {"checked_out": checked_out, "pooled": pooled}}


def _task_kind(task: asyncio.Task) -> str:
    """What a task runs (its coroutine's qualified name): how a leak would be recognised."""
    coro = task.get_coro()
    return getattr(coro, "__qualname__", None) or type(coro).__name__


def start_monitor(app: Application, path: Path, interval: float = INTERVAL_SECONDS) -> Monitor:
    """Start the monitor of an application whose storage is open (call from post_init)."""
    data = app.bot_data
    monitor = Monitor(app, data.health, data.engine, path, interval)
    data.monitor = monitor
    monitor.start()
    return monitor
