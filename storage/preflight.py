"""Checks of a database URL before anything opens it, and one-line descriptions of connection failures.

The CLI uses them so an operator's mistake (a typo in the scheme, a driver that is not async, a relative
SQLite path that points at the wrong folder, a server that is down) ends in one clear line, never in a
traceback or, worse, a new empty database that reports zeros.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

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
    return parsed


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
