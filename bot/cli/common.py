"""What every ``surveybot`` command shares: how a command is declared, exit codes, one-line failures, output files.

A command module declares its commands as ``Command`` values (name, help line, description, examples, its
arguments and the function that runs it); bot/cli/__init__.py builds the parser from them. Nothing here
imports telegram.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storage.preflight import DatabaseProblem, describe_failure

EXIT_CONFIG = 2
EXIT_CHANGES = 1  # check-survey --against: the file would orphan or misread stored answers


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line in the list, its --help text (description and examples), its arguments."""

    name: str
    help: str
    description: str
    examples: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]




def fail(message: str) -> int:
    """Print an operator's mistake as one line on stderr; the exit code to return."""
    print(f"surveybot: {message}", file=sys.stderr)
    return EXIT_CONFIG


class OutputProblem(Exception):
    """An output file that cannot be written; the message is one line."""


def check_output(path: str | Path) -> Path:
    """The output path, refused (OutputProblem) before any work when it cannot be written."""
    path = Path(path)
    folder = path.resolve().parent
    if path.is_dir():
        raise OutputProblem(f"cannot write {path}: it is a folder; give a file name, e.g. {path / 'export.csv'}")
    if not folder.is_dir():
        raise OutputProblem(f"cannot write {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputProblem(f"cannot write {path}: permission denied")
    return path


def write_output(path: Path, content: bytes) -> None:
    """Write the file, any OS error as one line."""
    try:
        path.write_bytes(content)
    except OSError as exc:
        raise OutputProblem(f"cannot write {path}: {exc.strerror or exc}") from None


def run_db(url: str, make_coro):
    """asyncio.run(make_coro()), with a failure to reach or read the database turned into one line."""
    try:
        return asyncio.run(make_coro())
    except Exception as exc:  # OSError, DBAPIError, asyncpg's own errors (wrong password, no such database)
        line = describe_failure(exc, url)
        if line is None:
            raise
        raise DatabaseProblem(line) from None


async def with_engine(database_url: str, work):
    """Open (and migrate) the database, run ``work(engine)``, dispose of the engine."""
    from storage.db import create_engine  # SQLAlchemy's async engine: only for the commands that use it
    from storage.migrate import upgrade

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        return await work(engine)
    finally:
        await engine.dispose()


def shown_url(url: str) -> str:
    """A database URL as it may be printed (no password)."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def html_to_text(message: str) -> str:
    """A chat message's HTML as plain terminal text."""
    return html.unescape(re.sub(r"<[^>]+>", "", message))
