"""The webhook server of ``surveybot run --webhook``: our own Starlette app served by uvicorn, as in PTB's
documented custom-webhook example (``customwebhookbot.py``), on PTB's public API only.

Routes, on ``WEBHOOK_LISTEN:WEBHOOK_PORT``:

- ``POST /<WEBHOOK_PATH>``: an update from Telegram. The ``X-Telegram-Bot-Api-Secret-Token`` header must carry
  ``WEBHOOK_SECRET`` (compared in constant time; missing or wrong: 403, nothing processed); a body that is not an
  update in JSON gets 400; an update is handed to the application by ``deliver`` and answered **once it has been
  applied**: 200 when its handlers are done (its effect and its update id committed, or the update found to be a
  duplicate and answered with where the respondent stands), 503 when that takes longer than
  ``WEBHOOK_ANSWER_SECONDS`` (the update goes on being applied; Telegram delivers it again and the update-id check
  keeps it once), 500 if processing failed unexpectedly. A worker killed before answering leaves the update
  unanswered, so Telegram delivers it again, to this worker or another.
- ``GET /healthz``: the health report (bot/background/health.py) as JSON with ``ok`` and ``problems``;
  200 when all is well, 503 otherwise.
- ``GET /metrics``: this application's Prometheus metrics in the text format (bot/background/metrics.py).

``serve`` runs the application's whole life around the server: initialize, post_init (which opens storage),
start, setWebhook (with ``max_connections``: Telegram keeps at most that many requests open at once, across all
workers; when all are waiting for their updates, Telegram holds the next updates on its side until one is answered,
so a worker never queues more than that many), serve until SIGINT or SIGTERM, then wait for the updates still being
applied, stop, post_stop, shutdown and post_shutdown — what ``Application.run_webhook`` did for us;
``Application.initialize``/``shutdown`` do not call the post_* hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from collections.abc import Generator, Sequence

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.background.health import verdict
from bot.background.metrics import CONTENT_TYPE
from bot.incoming.processor import PerUserUpdateProcessor

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACEFUL_SECONDS = 10  # requests in flight at shutdown get this long to be answered


class Deliveries:
    """The updates this worker is applying for webhook requests (so that a stop waits for them)."""

    def __init__(self, answer_seconds: float) -> None:
        self.answer_seconds = answer_seconds
        self.running: set[asyncio.Task] = set()

    async def drain(self, timeout: float) -> None:
        """Wait (at most ``timeout`` seconds) for the updates still being applied."""
        if self.running:
            await asyncio.wait(set(self.running), timeout=timeout)


async def deliver(app: Application, update: Update, deliveries: Deliveries) -> int:
    """THE place where an update from the webhook is handed to the application; returns the HTTP status to answer.

    The update goes through the application's update processor (bot/incoming/processor.py: one user's updates in
    order) by PTB's public ``update_processor.process_update(update, app.process_update(update))``, in a task of
    its own; the request waits for it, at most ``answer_seconds``. 200 only once the handlers are done: the
    effect and the update id are committed, or the update was found to be a duplicate. On time-out the update
    is left to finish (a cancelled commit would help nobody) and Telegram is told to deliver it again (503).
    """
    task = asyncio.ensure_future(app.update_processor.process_update(update, app.process_update(update)))
    deliveries.running.add(task)
    task.add_done_callback(deliveries.running.discard)
    done, _ = await asyncio.wait({task}, timeout=deliveries.answer_seconds)
    if not done:
        log.warning("update %s not applied within %.0f s; Telegram will deliver it again", update.update_id,
                    deliveries.answer_seconds)
        return 503
    if task.cancelled():  # stopping: Telegram delivers it again
        return 503
    if task.exception() is not None:
        log.error("update %s failed", update.update_id, exc_info=task.exception())
        return 500
    processor = app.update_processor
    if isinstance(processor, PerUserUpdateProcessor) and processor.note_handled is not None:
        try:  # answered 200 => its reply is noted: a redelivery after a lost answer stays silent
            await processor.note_handled(update.update_id)
        except Exception as exc:  # the update is applied all the same; a redelivery would show the screen again
            log.debug("update %s: reply not noted (%s)", update.update_id, type(exc).__name__)
    return 200


def web_app(app: Application, *, path: str, secret: str, deliveries: Deliveries) -> Starlette:
    """The Starlette application: the webhook at ``/<path>``, ``/healthz`` and ``/metrics``."""
    expected = secret.encode()

    async def telegram(request: Request) -> Response:
        token = request.headers.get(SECRET_HEADER)
        if token is None:
            log.debug("webhook request refused (403): it did not include the secret token")
            return Response(status_code=403)
        if not hmac.compare_digest(token.encode(), expected):
            log.debug("webhook request refused (403): wrong secret token")
            return Response(status_code=403)
        try:
            data = json.loads(await request.body())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            update = Update.de_json(data, app.bot)
        except Exception as exc:  # the body may hold a respondent's text: it is not logged
            log.warning("webhook request refused (400): not an update (%s)", type(exc).__name__)
            return Response(status_code=400)
        return Response(status_code=await deliver(app, update, deliveries))

    async def healthz(request: Request) -> Response:
        shown = verdict(app.bot_data.health.report())
        return JSONResponse(shown, status_code=200 if shown["ok"] else 503)

    async def metrics(request: Request) -> Response:
        return Response(app.bot_data.metrics.exposition(), media_type=CONTENT_TYPE)

    return Starlette(routes=[
        Route(f"/{path}", telegram, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ])


class Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: ``serve`` below stops it on SIGINT/SIGTERM. uvicorn
    would raise the signal again once it stopped serving, ending the process before the application stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave the signals to ``serve``."""
        yield


async def serve(app: Application, *, listen: str, port: int, path: str, secret: str, url: str | None,
                allowed_updates: Sequence[str], max_connections: int = 40, answer_seconds: float = 30.0) -> None:
    """Run the application behind the webhook server until SIGINT or SIGTERM (``url``: registered with
    Telegram by setWebhook when given, with ``max_connections``; ``answer_seconds``: how long a request waits
    for its update to be applied)."""
    deliveries = Deliveries(answer_seconds)
    config = uvicorn.Config(web_app(app, path=path, secret=secret, deliveries=deliveries), host=listen, port=port, lifespan="off",
                            log_config=None, access_log=False, timeout_graceful_shutdown=GRACEFUL_SECONDS)
    server = Server(config)
    stopping = asyncio.Event()

    def stop() -> None:  # a second signal while stopping: uvicorn no longer waits for requests in flight
        server.force_exit = stopping.is_set()
        server.should_exit = True
        stopping.set()

    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    try:
        async with app:  # initialize ... shutdown
            try:
                if app.post_init is not None:
                    await app.post_init(app)  # opens storage (bot/app.py open_storage)
                if stopping.is_set():
                    return
                await app.start()
                if url is not None:
                    await app.bot.set_webhook(url=url, secret_token=secret, allowed_updates=list(allowed_updates),
                                              drop_pending_updates=False, max_connections=max_connections)
                if not stopping.is_set():
                    await server.serve()
                log.info("stopping: webhook server closed")
            finally:
                await deliveries.drain(answer_seconds)  # unanswered ones come again; the others finish first
                if app.running:
                    await app.stop()  # the updates already queued are processed first
                    if app.post_stop is not None:
                        await app.post_stop(app)
    finally:
        try:
            if app.post_shutdown is not None:
                await app.post_shutdown(app)  # closes storage; after shutdown, as PTB's run_* helpers do
        finally:
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
