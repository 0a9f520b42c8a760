"""`surveybot run --webhook` for the two-worker test, minus PTB's rate limiter.

The limiter holds the bot to Telegram's 30 messages a second, which is right against Telegram but would
turn 300 instant simulated respondents into minutes of waiting; everything else is bot.cli.cmd_run.
Run as ``python -m tests.webhook_worker`` with the usual environment (BOT_TOKEN, DATABASE_URL, WEBHOOK_*).
"""

from __future__ import annotations

from bot.app import build_application, run_webhook
from bot.cli import setup_logging
from bot.settings import load_settings


def main() -> None:
    """Serve the webhook until SIGINT/SIGTERM."""
    settings = load_settings()
    settings.token()
    setup_logging(settings)
    run_webhook(build_application(settings, rate_limiter=False), settings)


if __name__ == "__main__":
    main()
