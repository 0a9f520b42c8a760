"""Commands for operators' databases: ``migrate``, ``backup`` and ``migrate-db``."""

from __future__ import annotations

import argparse
import asyncio

from bot.cli.common import Command, fail, run_db, shown_url, with_engine
from bot.cli.progress import add_quiet, progress_bar
from bot.settings import load_settings
from storage.preflight import check_url


def cmd_migrate(args: argparse.Namespace) -> int:
    """Create or upgrade the database schema."""
    settings = load_settings()
    check_url(settings.database_url)

    async def nothing(_engine) -> None:
        return None

    async def recount_answers(engine) -> None:
        from storage.answer_counts import recount

        async with engine.begin() as conn:
            await conn.run_sync(recount)

    run_db(settings.database_url, lambda: with_engine(settings.database_url, recount_answers if args.recount else nothing))
    print("database schema is up to date")
    if args.recount:
        print("answer counts counted anew from the stored answers")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the SQLite database into a new file, safely while the bot runs."""
    from storage.backup import backup_database

    settings = load_settings()
    with progress_bar("backup", "pages", args.quiet) as tick:
        result = backup_database(settings.database_url, args.file, progress=tick)
    print(f"wrote {result.path} ({result.size:,} bytes: {result.responses} responses, {result.answers} answers)")
    return 0


def cmd_migrate_db(args: argparse.Namespace) -> int:
    """Copy all respondents, responses and answers into another (new, empty) database."""
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from storage.transfer import TransferError, copy_database

    check_url(args.source, name="--from")
    check_url(args.target, name="--to")
    try:
        with progress_bar("migrate-db", "rows", args.quiet) as tick:
            counts = asyncio.run(copy_database(args.source, args.target, batch=args.batch, progress=tick))
    except TransferError as exc:
        return fail(str(exc))
    except ArgumentError as exc:
        return fail(f"not a database URL: {exc}")
    except (OSError, DBAPIError) as exc:
        # The first line only: the rest repeats the SQL and its parameters.
        return fail(f"database error: {str(exc).splitlines()[0]}")
    print(f"copied to {shown_url(args.target)}: " + ", ".join(f"{n} {table}" for table, n in counts.items()))
    return 0


def _migrate_arguments(parser: argparse.ArgumentParser) -> None:
    """DATABASE_URL says which database."""
    parser.add_argument("--recount", action="store_true",
                        help="also count the answer counts the full /stats reads anew from the stored answers "
                             "(after answers were edited by hand in SQL)")


def _backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the new backup file (must not exist yet)")
    add_quiet(parser)


def _copy_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="URL", help="e.g. sqlite+aiosqlite:///surveybot.db")
    parser.add_argument("--to", dest="target", required=True, metavar="URL", help="e.g. postgresql+asyncpg://user@host/db")
    parser.add_argument("--batch", type=int, default=5000, help="rows per insert (default 5000)")
    add_quiet(parser)


COMMANDS = [
    Command(
        "migrate", "create or upgrade the database schema",
        "Create the database (DATABASE_URL) or upgrade its schema to this version. The bot does this on\n"
        "start too; run it by hand before starting several webhook workers.",
        "  surveybot migrate\n"
        "  DATABASE_URL=postgresql+asyncpg://bot:secret@127.0.0.1/survey surveybot migrate\n"
        "  surveybot migrate --recount    # after editing answers by hand in SQL",
        _migrate_arguments, cmd_migrate,
    ),
    Command(
        "backup", "copy the SQLite database into a new file, safe while the bot runs",
        "Copy the SQLite database (DATABASE_URL) into a new file with SQLite's online backup API: one\n"
        "consistent snapshot, safe while the bot is running and writing (copying the file itself is not,\n"
        "in WAL mode). The copy is checked and is a single self-contained file. For PostgreSQL use pg_dump.",
        "  surveybot backup backups/surveybot-$(date +%F).db\n"
        "  sqlite3 backups/surveybot-2026-12-01.db 'SELECT COUNT(*) FROM responses'",
        _backup_arguments, cmd_backup,
    ),
    Command(
        "migrate-db", "copy all survey data into another, empty database",
        "Copy respondents, responses and answers into another, new and empty database (ids kept),\n"
        "e.g. from SQLite to PostgreSQL. The target is migrated first; the copy is one transaction.",
        "  surveybot migrate-db --from sqlite+aiosqlite:///surveybot.db \\\n"
        "                       --to postgresql+asyncpg://bot:secret@127.0.0.1/survey",
        _copy_arguments, cmd_migrate_db,
    ),
]
