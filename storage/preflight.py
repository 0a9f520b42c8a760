"""Checks of a database URL before anything opens it, and one-line descriptions of connection failures.

The CLI uses them so an operator's mistake (a typo in the scheme, a driver that is not async, a relative
SQLite path that points at the wrong folder, a server that is down) ends in one clear line, never in a
traceback or, worse, a new empty database that reports zeros.

An existing SQLite file is read (never written) before the engine opens it: a file that is not a SQLite database,
one cut short, or one whose pages are damaged is refused in one line naming it, left exactly as it was. Opening
it normally would not be harmless: switching it to WAL rewrites its header, and a migration would write into it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

SQLITE_HEADER = b"SQLite format 3\x00"
# The file's own page check (PRAGMA quick_check) reads every page: milliseconds for a survey's database, about
# a second per 100 MB. Past this size only the header, the length and the schema are checked at start.
QUICK_CHECK_MAX_BYTES = 256 * 1024 * 1024

# The async driver each supported backend needs (both are installed with surveybot).
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
EXAMPLES = "sqlite+aiosqlite:///surveybot.db or postgresql+asyncpg://user:password@host/db"


class DatabaseProblem(Exception):
    """A database that cannot be used as configured; the message is one line for stderr."""


def shown(url: str | URL) -> str:
    """The URL as it may be printed: the password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def check_url(url: str, *, must_exist: bool = False, name: str = "DATABASE_URL") -> URL:
    """The parsed URL; DatabaseProblem when its scheme or driver cannot work, or (must_exist) the SQLite file is missing."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseProblem(f"{name} is not a database URL (expected e.g. {EXAMPLES})") from None
    backend = parsed.get_backend_name()
    if backend not in ASYNC_DRIVERS:
        raise DatabaseProblem(f"{name}: the scheme '{parsed.drivername}' is not supported; use {EXAMPLES}")
    driver = ASYNC_DRIVERS[backend]
    if parsed.drivername != f"{backend}+{driver}":
        raise DatabaseProblem(
            f"{name}: '{parsed.drivername}' is not an async driver; write the scheme as '{backend}+{driver}://…' "
            f"(e.g. {shown(parsed.set(drivername=f'{backend}+{driver}'))})"
        )
    if backend == "sqlite" and not must_exist:
        path = sqlite_path(parsed)
        if path is not None and not path.parent.is_dir():
            raise DatabaseProblem(f"{name}: the folder {path.parent} for the database file does not exist")
    if must_exist and backend == "sqlite":
        path = sqlite_path(parsed)
        if path is None:
            raise DatabaseProblem(f"{name} points at an in-memory SQLite database, which holds no answers")
        if not path.is_file():
            hint = " (a relative path counts from the current folder)" if not Path(parsed.database).is_absolute() else ""
            raise DatabaseProblem(
                f"no database at {path}{hint}: check {name} ({shown(parsed)}) or start the bot once to create it"
            )
    if backend == "sqlite":
        path = sqlite_path(parsed)
        if path is not None and path.is_file():
            check_sqlite_file(path, name)
    return parsed


def check_sqlite_file(path: Path, name: str = "DATABASE_URL") -> None:
    """DatabaseProblem when an existing file is not a SQLite database or is damaged; the file is only read.

    An empty file passes (SQLite makes a new database of it). Checked: the 16-byte header, the length the header
    promises, the schema, and (up to ``QUICK_CHECK_MAX_BYTES``) every page with ``PRAGMA quick_check``.
    """
    untouched = f"the file was left as it is; point {name} at the survey's database or restore it from a backup"
    try:
        with path.open("rb") as f:
            head = f.read(100)
        size = path.stat().st_size
    except OSError as exc:
        raise DatabaseProblem(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    if size == 0:
        return
    if not head.startswith(SQLITE_HEADER):
        raise DatabaseProblem(f"{name}: {path} is not a SQLite database (its first bytes are not SQLite's); {untouched}")
    if len(head) == 100:
        page_size = int.from_bytes(head[16:18], "big")
        page_size = 65536 if page_size == 1 else page_size
        pages = int.from_bytes(head[28:32], "big")
        # The page count is valid only when "version-valid-for" equals the change counter (SQLite ≥ 3.7.0).
        if pages and head[24:28] == head[92:96] and size < page_size * pages:
            raise DatabaseProblem(f"{name}: {path} is damaged: cut short at {size} bytes of the "
                                  f"{page_size * pages} its header promises (an interrupted copy?); {untouched}")
    problem = _sqlite_read_problem(path, quick_check=size <= QUICK_CHECK_MAX_BYTES)
    if problem:
        raise DatabaseProblem(f"{name}: {path} is damaged ({problem}); {untouched}")


def _sqlite_read_problem(path: Path, *, quick_check: bool) -> str | None:
    """What reading the file read-only found wrong (None: nothing, or it could not be checked read-only)."""
    # immutable=1: no lock taken and no -wal/-shm file created beside it. When a -wal file is there (a bot
    # running, or stopped without a checkpoint) its pages count too: then an ordinary read-only open.
    wal = path.with_name(path.name + "-wal").exists()
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro{'' if wal else '&immutable=1'}", uri=True, timeout=5)
    except sqlite3.Error:
        return None  # e.g. no permission to open it read-only here: the real open will say what is wrong
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if quick_check:
            found = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
            if found != ["ok"]:
                return "; ".join(found)
    except sqlite3.DatabaseError as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        # NOTADB (26) and CORRUPT (11) are the file; busy, locked or I/O errors are not for this check to judge.
        if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT) or (code is None and "malformed" in str(exc)):
            return str(exc)
        return None
    finally:
        conn.close()
    return None


def sqlite_path(url: str | URL) -> Path | None:
    """The absolute path of a SQLite database file (None for in-memory)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def describe_failure(exc: BaseException, url: str) -> str | None:
    """One line for a failure to reach or read the database, or None when the error is something else."""
    where = shown(url)
    if isinstance(exc, DBAPIError):
        first = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc).strip() else type(exc).__name__
        return f"database error ({where}): {first}"
    if isinstance(exc, OSError):
        # Inside a database call an OSError is the connection: refused, unknown host, unreachable network.
        reason = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, ConnectionRefusedError):
            reason = "connection refused (is the server running and listening there?)"
        return f"cannot connect to the database ({where}): {reason}"
    orig = type(exc).__module__ or ""
    if orig.startswith("asyncpg"):
        # asyncpg's own errors (wrong password, no such database) before SQLAlchemy wraps anything.
        return f"database error ({where}): {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    return None
