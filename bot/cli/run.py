"""``surveybot run``: start the bot (long polling, or a webhook server), with logs that never show a secret.

The only command that imports telegram, and only when it runs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

from bot.cli.common import EXIT_CONFIG, Command, fail
from bot.settings import Settings, load_settings, settings_rows
from storage.preflight import check_url, describe_failure


class RedactSecrets(logging.Filter):
    """Replaces secrets (the bot token is inside every Bot API URL) in log records."""

    def __init__(self, secrets: Sequence[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            if any(s in message for s in self.secrets):
                for s in self.secrets:
                    message = message.replace(s, "[REDACTED]")
                record.msg, record.args = message, None
        return True


def setup_logging(settings: Settings) -> None:
    """Log to stderr at LOG_LEVEL, with httpx kept at WARNING and secrets redacted."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets = [settings.bot_token.get_secret_value()] if settings.bot_token else []
    if settings.webhook_secret:
        secrets.append(settings.webhook_secret.get_secret_value())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # httpx logs every request URL, and the URL carries the token.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def settle_heap() -> None:
    """Take what the process has made so far — its modules, the questionnaire, the wiring, all kept for its whole
    life — out of the garbage collector's sight (``gc.freeze``, as the Python docs suggest for long-running servers).

    A full collection walks every object the collector tracks while holding the interpreter, and runs whenever
    enough new objects have survived — during an export of 100,000 rows, a few times a second: each walk of the
    start-up heap held the event loop that answers respondents 60 ms and more. After the freeze a full collection
    walks only what the bot made while serving (bench/exports.py measures the stall, its child settles the same way).
    Memory is still freed as before: freezing stops only the search for reference cycles among these objects.
    """
    gc.collect()
    gc.freeze()


def cmd_run(args: argparse.Namespace) -> int:
    """Start the bot (long polling, or a webhook server with --webhook)."""
    # Telegram's library and the wiring load here, not when `surveybot stats` builds its parser.
    from telegram.error import InvalidToken, NetworkError

    from bot.app import ChangesNotAccepted, build_application, run_polling, run_webhook

    settings = load_settings()
    settings.token()
    check_url(settings.database_url)
    if args.accept_changes:
        settings = settings.model_copy(update={"accept_changes": True})
    setup_logging(settings)
    app = build_application(settings, monitor=True)
    settle_heap()
    try:
        if args.webhook:
            run_webhook(app, settings)
        else:
            run_polling(app)
    except ChangesNotAccepted as exc:
        print(f"surveybot: the questionnaire {settings.survey_file or '(bundled)'} differs from the one the stored "
              f"answers were given to:\n{exc}\n"
              "Nothing was changed. Run `surveybot check-survey FILE --against` for the details, then start with "
              "`surveybot run --accept-changes` to run on it anyway (no stored answer is rewritten or lost).",
              file=sys.stderr)
        return EXIT_CONFIG
    except InvalidToken:
        # Start-up failures an operator fixes in the configuration: one line, no traceback.
        return fail("Telegram rejected BOT_TOKEN: check the token @BotFather gave (it may have been revoked)")
    except NetworkError as exc:
        return fail(f"cannot reach the Telegram Bot API at {settings.telegram_api_url}: {exc.message}")
    except Exception as exc:
        line = describe_failure(exc, settings.database_url)
        if line is None:
            raise
        return fail(line)
    return 0


def settings_text() -> str:
    """The settings, as `surveybot run --help` lists them (the same rows as the docs' configuration table)."""
    rows = settings_rows()
    width = max(len(name) for name, _, _ in rows)
    lines = [f"  {name:<{width}}  {meaning} [default: {default}]".replace("`", "") for name, default, meaning in rows]
    return "settings (from the environment or ./.env):\n" + "\n".join(lines)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--webhook", action="store_true", help="serve a webhook instead of long polling")
    parser.add_argument("--accept-changes", action="store_true",
                        help="start even if the questionnaire orphans or misreads stored answers (nothing is rewritten)")


COMMANDS = [
    Command(
        "run", "start the bot",
        "Start the bot: long polling by default, or a webhook server behind a TLS proxy with --webhook.\n"
        "Settings come from the environment or ./.env (listed below); the database schema is created or\n"
        "upgraded on start.",
        "  BOT_TOKEN=123456789:AA... surveybot run\n"
        "  surveybot run --webhook          # needs WEBHOOK_URL and WEBHOOK_SECRET\n\n"
        + settings_text(),
        _arguments, cmd_run,
    ),
]
