"""The ``surveybot`` command: one module per command group, each declaring its commands with their help.

- ``run``: the bot itself (the only command that imports telegram, when it runs);
- ``questionnaire``: ``check-survey``, ``preview``, ``survey-schema`` (for questionnaire authors);
- ``data``: ``stats``, ``export``, ``report`` (for researchers at a terminal);
- ``database``: ``migrate``, ``backup``, ``migrate-db`` (for operators);
- ``health``: ``health`` (is the running bot healthy?).

argparse from the standard library, not Click or Typer: eleven commands with a few flags each need no more,
the parser costs no import time at start-up, and every command's help and examples sit beside it
(``common.Command``). Settings come from bot/settings.py, which imports no telegram either, so the offline
commands (stats, export, migrate, …) never load telegram (tests/test_layering.py checks ``sys.modules``).
May import: survey, storage, analytics, bot.settings, bot.background.health; bot.app and bot.respondent
only inside the commands that need Telegram's side (run, preview).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bot.cli import data, database, health, questionnaire, run
from bot.cli.common import EXIT_CONFIG, Command, OutputProblem
from bot.settings import SettingsError
from storage.preflight import DatabaseProblem
from survey.loader import SurveyError

__all__ = ["COMMANDS", "EXIT_CONFIG", "build_parser", "main"]

COMMANDS: dict[str, Command] = {
    c.name: c for module in (run, questionnaire, database, data, health) for c in module.COMMANDS
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("surveybot")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command of every group."""
    parser = argparse.ArgumentParser(
        prog="surveybot",
        description="Telegram survey bot: runs a questionnaire in Telegram, keeps every answer in SQL,\n"
        "gives researchers the summary, charts and exports.",
        epilog="examples:\n  surveybot run\n  surveybot stats --completed\n  surveybot export --format xlsx -o answers.xlsx\n"
        "\n'surveybot COMMAND --help' describes a command. Settings come from the environment or ./.env.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"surveybot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        one = sub.add_parser(command.name, help=command.help, description=command.description,
                             epilog=f"examples:\n{command.examples}",
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        command.arguments(one)
        one.set_defaults(func=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``surveybot`` console script."""
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's shutdown
        return code
    except BrokenPipeError:
        # `surveybot stats | head`: the reader has what it wanted; end quietly like other Unix tools.
        _silence_stdout()
        return 141
    except (SettingsError, DatabaseProblem, OutputProblem) as exc:
        print(f"surveybot: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except SurveyError as exc:
        count = len(exc.findings)
        print(f"surveybot: invalid questionnaire {exc.source}: {count} problem{'s' if count != 1 else ''}", file=sys.stderr)
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not complain about the pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
