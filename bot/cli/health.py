"""``surveybot health``: is the running bot healthy? Reads the health file that ``surveybot run`` writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bot.background.health import PARTS, verdict
from bot.cli.common import Command
from bot.settings import load_settings


def cmd_health(args: argparse.Namespace) -> int:
    """Read the running bot's health file: exit 0 when the database and the Bot API answered recently."""
    settings = load_settings()
    path = Path(args.file) if args.file else settings.health_file
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"UNKNOWN: no readable health file at {path} ({exc.__class__.__name__}): is `surveybot run` "
              "running in this directory (or HEALTH_FILE pointing here)?")
        return 1
    shown = verdict(report)
    found = shown["problems"]
    if args.format == "json":
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return 1 if found else 0
    print("OK" if not found else "PROBLEM: " + "; ".join(found))
    for part in PARTS:
        state = report.get(part) or {}
        last = state.get("last_ok_seconds_ago")
        line = f"  {part}: last answered " + (f"{last:.0f} s before the report" if last is not None else "never")
        if state.get("last_failure"):
            line += f"; last failure {state['last_failure_seconds_ago']:.0f} s before it ({state['last_failure']})"
        print(line)
    return 1 if found else 0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--file", help="the health file (default HEALTH_FILE, surveybot-health.json)")
    parser.add_argument("--format", choices=("text", "json"), default="text")


COMMANDS = [
    Command(
        "health", "is the running bot healthy? (exit 0 yes, 1 no)",
        "Say whether the running bot is healthy: reads the health report `surveybot run` writes every\n"
        "HEALTH_INTERVAL_SECONDS to HEALTH_FILE; exit 0 when the database and the Bot API answered recently\n"
        "and no incident is open, 1 otherwise (also when the report is missing or older than 120 s).",
        "  surveybot health                 # in the bot's working directory\n"
        "  HEALTH_FILE=/var/lib/surveybot/surveybot-health.json surveybot health --format json",
        _arguments, cmd_health,
    ),
]
