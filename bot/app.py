"""Wiring: ``build_application(settings)`` puts handlers, storage and the survey together; ``run_polling`` and
``run_webhook`` run it (the webhook server: bot/incoming/webhook.py)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx
from telegram import BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.admin import commands as admin
from bot.admin.language import admin_language
from bot.background.health import TELEGRAM, Health
from bot.background.housekeeping import start_housekeeping
from bot.background.metrics import Metrics
from bot.background.monitor import start_monitor
from bot.background.reminders import start_reminders
from bot.context import BotData
from bot.incoming.flood import add_flood_guard
from bot.incoming.processor import PerUserUpdateProcessor
from bot.respondent import handlers, language, membership, privacy
from bot.sending.limiter import BULK, OutgoingLimiter
from bot.sending.retries import RetryingRequest
from bot.sending.sendbudget import share_budget
from bot.service.faults import FaultNotices, GuardedService
from bot.service.respondents import SurveyService
from bot.settings import Settings, SettingsError
from storage import definitions, field as field_store
from storage.db import create_engine, is_sqlite
from storage.migrate import upgrade
from survey.changes import blocking, report
from survey.i18n import N_, translator
from survey.loader import load_survey
from survey.model import Survey
from survey.testmode import copy_for_tests

log = logging.getLogger(__name__)

# The menu of commands (msgids: registered in each of the questionnaire's languages).
RESPONDENT_COMMANDS = (
    ("start", N_("Start or continue the survey")),
    ("help", N_("How to answer and which commands there are")),
    ("my_data", N_("What is stored about you")),
    ("forget_me", N_("Delete your answers")),
)
LANGUAGE_COMMAND = ("language", N_("Choose the language"))


class ChangesNotAccepted(Exception):
    """The questionnaire would orphan or misread stored answers and --accept-changes was not given."""


def build_application(
    settings: Settings,
    *,
    survey: Survey | None = None,
    request: BaseRequest | None = None,
    rate_limiter: bool = True,
    monitor: bool = False,
) -> Application:
    """The configured bot; storage is opened (and migrated) in post_init, not here.

    ``monitor``: probe the database and the Bot API and write ``HEALTH_FILE`` while running (``surveybot run``).
    """
    survey = survey or load_survey(settings.survey_file)
    api = settings.telegram_api_url
    metrics = Metrics()  # this application's own registry: the choke points below count into it
    builder = (
        ApplicationBuilder()
        .token(settings.token())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(bot_data=BotData))
        .concurrent_updates(PerUserUpdateProcessor(256, metrics=metrics))
        .post_init(open_storage)
        .post_shutdown(close_storage)
    )
    # Always a limiter, so bulk senders may pass rate_limit_args; at rate 0 (or rate_limiter=False) it paces nothing.
    rate = settings.outgoing_max_rate if rate_limiter else 0.0
    builder = builder.rate_limiter(OutgoingLimiter(rate, metrics=metrics))
    health = Health()
    calls, polls = transports(settings, request, health, metrics)
    builder = builder.request(calls).get_updates_request(polls)
    app = builder.build()
    app.bot_data.settings = settings
    app.bot_data.survey = survey
    app.bot_data.health = health
    app.bot_data.metrics = metrics
    app.bot_data.notices = FaultNotices()
    app.bot_data.health_file = settings.health_file if monitor else None
    health.alert = lambda text: alert_admins(app, text)
    health.t = translator(admin_language(app.bot_data, None))  # the admins' language as far as known without an update
    app.bot_data.on_completed.append(admin.notify_progress)
    add_handlers(app)
    return app


def transports(settings: Settings, request: BaseRequest | None = None, health: Health | None = None,
               metrics: Metrics | None = None) -> tuple[BaseRequest, BaseRequest]:
    """HTTP transports for Bot API calls (made again when they fail in transit) and for getUpdates; both count
    calls into ``metrics`` when given."""
    if request is None:
        timeout = settings.telegram_timeout_seconds
        tls = {"verify": tls_context(settings.telegram_api_url)}  # one for both clients: loading CAs is slow
        request = HTTPXRequest(connection_pool_size=256, read_timeout=timeout, write_timeout=timeout,
                               connect_timeout=timeout, httpx_kwargs=tls)
        polls: BaseRequest = HTTPXRequest(connection_pool_size=1, httpx_kwargs=tls)  # as PTB's for getUpdates
    else:
        polls = request
    # getUpdates is not made again here (the updater polls again by itself), only reported to Health;
    # a poll that answers shows the Bot API is there, but only a send that works ends an incident.
    # Every attempt's deadline: connecting, writing and reading may each take the timeout (HTTP timeouts count per
    # read, so an answer that never ends would never time out), and getUpdates adds its long poll.
    deadline = 4 * settings.telegram_timeout_seconds
    return (RetryingRequest(request, retry_seconds=settings.telegram_retry_seconds, observe=_observer(health),
                            metrics=metrics, deadline=deadline),
            RetryingRequest(polls, observe=_observer(health, ends_incident=False), metrics=metrics,
                            deadline=deadline))


def tls_context(api_url: str) -> ssl.SSLContext:
    """The TLS settings of the Bot API clients, made once: httpx would load the CA bundle for each client
    (0.1–0.2 s apiece, most of a start's own work). Over https, httpx's own default (certifi's CAs, or
    SSL_CERT_FILE / SSL_CERT_DIR); over plain http (a local Bot API server, the test double) no TLS is spoken, so
    no CAs are loaded: the context then trusts nothing, and a redirect to https would fail closed."""
    if urlsplit(api_url).scheme == "http":
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and host names, knows no CA
    return httpx.create_ssl_context()


def _observer(health: Health | None, ends_incident: bool = True):
    """Bot API outcomes reported to Health: an incident opens only when a call is given up."""
    if health is None:
        return None

    def observe(failure: str | None, gave_up: bool) -> None:
        if failure is None:
            health.answered(TELEGRAM, ends_incident=ends_incident)
        else:
            health.failed(TELEGRAM, failure, lasting=gave_up)

    return observe


def alert_admins(app: Application, text: str) -> None:
    """Send an incident alert to every admin in the background; it never delays a respondent."""
    admins = sorted(app.bot_data.settings.admin_ids)
    if not admins:
        return

    async def send() -> None:
        for admin_id in admins:
            try:
                await app.bot.send_message(admin_id, text, rate_limit_args=BULK)  # after respondents' replies
            except TelegramError as exc:  # Telegram itself may be the incident
                log.debug("incident alert not delivered: %s", exc.message)

    tasks = app.bot_data.background
    task = asyncio.get_running_loop().create_task(send())
    tasks.add(task)  # a task nobody references may be collected before it ends
    task.add_done_callback(tasks.discard)


def add_handlers(app: Application) -> None:
    """Register every handler; private chats only, groups get one notice. The admins' handlers come first:
    their commands, /start test and the summary buttons never reach the respondent's handlers.

    Every update type Telegram may send is routed on purpose: messages, edits and button taps in private chats
    (below), the bot's own membership (``my_chat_member``: bot/respondent/membership.py), messages in groups (one
    note); everything else (channel posts, inline queries, reactions, business messages, polls, …) matches no
    handler and is dropped without a word — ``allowed_updates()`` does not even ask Telegram for it."""
    private = filters.ChatType.PRIVATE
    add_flood_guard(app)  # group -1: runs before every handler below
    app.add_handler(ChatMemberHandler(membership.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER), group=0)
    app.add_handler(MessageHandler(filters.UpdateType.EDITED_MESSAGE & private, handlers.on_edited), group=0)
    admin.add_admin_handlers(app)
    app.add_handler(CommandHandler("start", handlers.start, filters=private & filters.UpdateType.MESSAGE))
    app.add_handler(CommandHandler("help", handlers.help_command, filters=private & filters.UpdateType.MESSAGE))
    app.add_handler(CommandHandler("my_data", privacy.my_data, filters=private & filters.UpdateType.MESSAGE))
    app.add_handler(CommandHandler("forget_me", privacy.forget_me, filters=private & filters.UpdateType.MESSAGE))
    app.add_handler(CommandHandler("language", language.language_command, filters=private & filters.UpdateType.MESSAGE))
    app.add_handler(MessageHandler(filters.COMMAND & private & filters.UpdateType.MESSAGE, handlers.unknown_command))
    app.add_handler(MessageHandler(filters.TEXT & private & filters.UpdateType.MESSAGE, handlers.on_text))
    app.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, handlers.on_other_message))
    app.add_handler(CallbackQueryHandler(handlers.on_button))
    app.add_handler(MessageHandler(filters.ChatType.GROUPS & filters.UpdateType.MESSAGE, handlers.on_group))
    app.add_error_handler(handlers.on_error)


async def open_storage(app: Application) -> None:
    """Open the database, bring its schema up to date, and register the command menu."""
    data: BotData = app.bot_data
    settings = data.settings
    data.engine = create_engine(settings.database_url)
    await upgrade(data.engine)
    key = settings.anonymity_key.get_secret_value() if settings.anonymous and settings.anonymity_key else None
    changes = await definitions.check_changes(data.engine, data.survey)
    if blocking(changes):
        if not settings.accept_changes:
            raise ChangesNotAccepted(report(changes))
        log.warning("questionnaire changes accepted by the operator:\n%s", report(changes))
    definition_id = await definitions.register(data.engine, data.survey)  # also creates the survey_state row
    # The quota in this file against the completed responses: raised, it reopens; lowered or met, it closes.
    await field_store.settle(data.engine, data.survey.id, data.survey.survey.quota)
    grace, zone = settings.close_grace, settings.zone()
    service = SurveyService(data.survey, data.engine, anonymity_key=key, definition_id=definition_id, grace=grace,
                            zone=zone, metrics=data.metrics)
    # Admins' test runs: the same questions under the test id, queued behind the same write lock and writer
    # (not counted in the metrics: their answers are not the survey's).
    tests = SurveyService(copy_for_tests(data.survey), data.engine, anonymity_key=key, definition_id=definition_id,
                          grace=grace, zone=zone, shares=service)
    data.service = GuardedService(service, data.health)  # database faults told, not hidden (bot/service/faults.py)
    if isinstance(app.update_processor, PerUserUpdateProcessor):
        app.update_processor.on_handled = service.answered  # a redelivery of an answered update stays silent
        app.update_processor.note_handled = service.answered_now
    data.test_service = GuardedService(tests, data.health)
    start_housekeeping(app)  # forgets processed update ids after 48 h
    if data.health_file is not None:
        start_monitor(app, data.health_file, settings.health_interval_seconds)
    await share_sending_budget(app)
    await register_commands(app)
    start_reminders(app)  # after the menu: the loop's first look is one period away anyway


def respondent_commands(survey: Survey) -> tuple[tuple[str, str], ...]:
    """The respondents' menu (command, msgid); /language when the questionnaire has more than one language."""
    return RESPONDENT_COMMANDS + ((LANGUAGE_COMMAND,) if len(survey.languages) > 1 else ())


async def register_commands(app: Application) -> None:
    """The command menu: respondent commands for everyone (in the questionnaire's default language, and in each
    of its other languages for users whose Telegram is set to it), admin commands in the admins' chats."""
    survey: Survey = app.bot_data.survey
    menu = respondent_commands(survey)
    try:
        await app.bot.set_my_commands(language.bot_commands(translator(survey.default_language), menu),
                                      scope=BotCommandScopeDefault())
        for code in survey.languages[1:]:
            await app.bot.set_my_commands(language.bot_commands(translator(code), menu),
                                          scope=BotCommandScopeDefault(), language_code=code)
    except TelegramError as exc:  # a menu is a nicety; the bot works without it
        log.warning("could not register the command menu: %s", exc.message)
    await admin.register_admin_commands(app, menu)


async def share_sending_budget(app: Application) -> None:
    """On PostgreSQL the workers of one bot share its sending budget through the database (bot/sending/sendbudget.py)."""
    limiter = app.bot.rate_limiter
    engine = app.bot_data.engine
    if not isinstance(limiter, OutgoingLimiter) or limiter.budget is None or is_sqlite(app.bot_data.settings.database_url):
        return
    limiter.shared = await share_budget(limiter.budget, engine, limiter.rate)


async def close_storage(app: Application) -> None:
    """Stop the background loops and the shared budget, close the batch writer, dispose of the database engine."""
    data = app.bot_data
    for loop in (data.reminders, data.housekeeper, data.monitor):
        if loop is not None:
            await loop.stop()
    limiter = app.bot.rate_limiter
    if isinstance(limiter, OutgoingLimiter) and limiter.shared is not None:
        await limiter.shared.stop()
    opened = data.opened()  # a start that failed half-way logs nothing here
    if opened:
        data.service.close()
    engine = getattr(data, "engine", None)  # set before the migrations, which may have failed
    if engine is not None:
        await engine.dispose()
    if opened:
        log.info("storage closed")


def allowed_updates() -> list[str]:
    """The update types the bot asks Telegram for: exactly those it has handlers for (``add_handlers``)."""
    return [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY, Update.MY_CHAT_MEMBER]


def run_polling(app: Application) -> Any:
    """Long polling until interrupted."""
    return app.run_polling(allowed_updates=allowed_updates(), drop_pending_updates=False, poll_interval=0.0)


def run_webhook(app: Application, settings: Settings) -> None:
    """Serve Telegram's webhook, ``/healthz`` and ``/metrics`` until SIGINT or SIGTERM (bot/incoming/webhook.py);
    requests without the secret token header are refused (403)."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    if secret is None:
        raise SettingsError("webhook mode needs WEBHOOK_SECRET (letters, digits, _ and -; 1-256 characters)")
    path = settings.webhook_path.strip("/")
    url = settings.webhook_url.rstrip("/") + "/" + path if settings.webhook_url else None
    from bot.incoming import webhook  # Starlette and uvicorn (~0.1 s to import): only a webhook worker loads them

    asyncio.run(webhook.serve(app, listen=settings.webhook_listen, port=settings.webhook_port, path=path,
                              secret=secret, url=url, allowed_updates=allowed_updates(),
                              max_connections=settings.webhook_max_connections,
                              answer_seconds=settings.webhook_answer_seconds))
