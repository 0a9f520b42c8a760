"""Health for operators: a periodic check of both parts, the health file, and ``/healthz`` in webhook mode.

While ``surveybot run`` runs, ``Monitor`` asks the database (``SELECT 1``) and the Bot API (``getMe``)
every ``interval`` seconds whether they answer, so "answered recently" stays true in quiet hours too,
and writes ``Health.report()`` to the health file that ``surveybot health`` reads. A part with an open
incident is not probed: a probe that reads could succeed while writes still fail, and only a real
request that works may end an incident.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import TelegramError
from telegram.ext import Application

from bot.background import cancel
from bot.background.health import DATABASE, TELEGRAM, Health, problems, write_report
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
        await asyncio.to_thread(write_report, self.health.report(), self.path)


def serve_healthz(health: Health) -> None:
    """Add ``GET /healthz`` to PTB's webhook server: 200 when all is well, 503 otherwise, the report as JSON.

    PTB has no hook for extra routes, so the web application class its updater builds is replaced by
    one that adds this route; call before ``run_webhook``.
    """
    import tornado.web
    from telegram.ext import _updater
    from telegram.ext._utils.webhookhandler import WebhookAppClass

    class Healthz(tornado.web.RequestHandler):
        def get(self) -> None:
            report = health.report()
            found = problems(report)
            self.set_status(503 if found else 200)
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.finish(json.dumps({"ok": not found, "problems": found, **report}, ensure_ascii=False))

    class WithHealthz(WebhookAppClass):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self.add_handlers(r".*", [(r"/healthz", Healthz)])

    _updater.WebhookAppClass = WithHealthz


def start_monitor(app: Application, path: Path, interval: float = INTERVAL_SECONDS) -> Monitor:
    """Start the monitor of an application whose storage is open (call from post_init)."""
    data = app.bot_data
    monitor = Monitor(app, data.health, data.engine, path, interval)
    data.monitor = monitor
    monitor.start()
    return monitor


async def stop_monitor(app: Application) -> None:
    """Stop the monitor, if one runs (call from post_shutdown)."""
    monitor = getattr(app.bot_data, "monitor", None)
    if monitor is not None:
        await monitor.stop()
