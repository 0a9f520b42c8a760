"""A consistent copy of a SQLite database while the bot keeps writing to it (SQLite's online backup API).

Copying the file alone is unsafe in WAL mode: recent commits live in the -wal file until a checkpoint,
and a copy taken mid-write can be torn. The backup API reads the database as one snapshot (a read
transaction; WAL mode lets the bot's writers carry on meanwhile) and writes it into a new file, which
is checked and then renamed into place, so a half-written backup never has the final name.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from storage.preflight import DatabaseProblem, check_url, shown, sqlite_path

BUSY_TIMEOUT_S = 30
BACKUP_STEP_PAGES = 2048  # pages per step when progress is shown (8 MB with 4 KB pages)


@dataclass(frozen=True)
class BackupResult:
    """What was written."""

    path: Path
    size: int
    responses: int
    answers: int


def backup_database(url: str, target: str | Path, progress: Callable[[int, int], None] | None = None) -> BackupResult:
    """Copy the SQLite database at ``url`` into the new file ``target``; DatabaseProblem says why it cannot.

    ``progress`` hears (pages copied, pages in all) as the copy goes.
    """
    parsed = check_url(url, must_exist=True)
    if parsed.get_backend_name() != "sqlite":
        raise DatabaseProblem(
            f"backup copies SQLite databases; {shown(parsed)} is PostgreSQL: use pg_dump "
            "(e.g. pg_dump -Fc -f surveybot.dump DBNAME, see docs/operators/backups.md)"
        )
    source = sqlite_path(parsed)
    target = Path(target)
    if target.exists():
        raise DatabaseProblem(f"{target} already exists: give the backup a new name (e.g. with the date) or remove it")
    if not target.resolve().parent.is_dir():
        raise DatabaseProblem(f"cannot write {target}: the folder {target.resolve().parent} does not exist")
    if target.resolve() == source:
        raise DatabaseProblem("the backup file must not be the database itself")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_S, isolation_level=None)) as src, \
                closing(sqlite3.connect(partial)) as dst:
            # The whole database from one read snapshot: a read transaction held open on the source across the
            # steps (WAL mode lets the bot's writers carry on meanwhile), so no step sees a later commit.
            src.execute("BEGIN")
            src.execute("SELECT COUNT(*) FROM sqlite_master").fetchall()

            def step(status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress(total - remaining, total)

            src.backup(dst, pages=BACKUP_STEP_PAGES if progress is not None else -1, progress=step)
            src.execute("COMMIT")
            # A backup is one self-contained file: no -wal beside it when it is opened later.
            dst.execute("PRAGMA journal_mode=DELETE").fetchall()
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise DatabaseProblem(f"the copy failed its integrity check: {check}")
            responses = _count(dst, "responses")
            answers = _count(dst, "answers")
        with open(partial, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise DatabaseProblem(f"backup failed: {exc}") from None
    except OSError as exc:
        raise DatabaseProblem(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size, responses, answers)


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # a database the bot never migrated
        return 0
