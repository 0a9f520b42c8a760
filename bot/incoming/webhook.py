"""The webhook server of ``surveybot run --webhook``: our own Starlette app served by uvicorn, as in PTB's
documented custom-webhook example (``customwebhookbot.py``), on PTB's public API only.

Routes, on ``WEBHOOK_LISTEN:WEBHOOK_PORT``:

- ``POST /<WEBHOOK_PATH>``: an update from Telegram. The ``X-Telegram-Bot-Api-Secret-Token`` header must carry
  ``WEBHOOK_SECRET`` (compared in constant time; missing or wrong: 403, nothing processed); a body that is not an
  update in JSON gets 400; an update is handed to the application by ``deliver``, then 200.
- ``GET /healthz``: the health report (bot/background/health.py) as JSON with ``ok`` and ``problems``;
  200 when all is well, 503 otherwise.
- ``GET /metrics``: this application's Prometheus metrics in the text format (bot/background/metrics.py).

``serve`` runs the application's whole life around the server: initialize, post_init (which opens storage),
start, setWebhook, serve until SIGINT or SIGTERM, then stop, post_stop, shutdown and post_shutdown — what
``Application.run_webhook`` did for us; ``Application.initialize``/``shutdown`` do not call the post_* hooks.
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

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACEFUL_SECONDS = 10  # requests in flight at shutdown get this long to be answered


async def deliver(app: Application, update: Update) -> None:
    """THE place where an update from the webhook is handed to the application; the request is answered 200
    when this returns.

    Today it is queued (``app.update_queue``) and processed after the answer, so an update the bot dies with
    is lost to Telegram's redelivery. A later change (answer only once the update is applied) goes here, and
    only here.
    """
    await app.update_queue.put(update)


def web_app(app: Application, *, path: str, secret: str) -> Starlette:
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
        await deliver(app, update)
        return Response(status_code=200)

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
                allowed_updates: Sequence[str]) -> None:
    """Run the application behind the webhook server until SIGINT or SIGTERM (``url``: registered with
    Telegram by setWebhook when given)."""
    config = uvicorn.Config(web_app(app, path=path, secret=secret), host=listen, port=port, lifespan="off",
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
                                              drop_pending_updates=False)
                if not stopping.is_set():
                    await server.serve()
                log.info("stopping: webhook server closed")
            finally:
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
