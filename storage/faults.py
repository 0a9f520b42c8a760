"""What kind of database failure an exception is: transient (worth retrying) or lasting (say so at once).

Transient: SQLite's lock, a dropped or refused connection, PostgreSQL restarting or shutting down — a
short wait usually ends them. Lasting: a disk that is full, read-only or failing — retrying in the next
seconds changes nothing, and the respondent should hear about it now. Anything else (a bug, a constraint
that lost a race) is not a database fault and is left to its usual handling.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRY_SECONDS = 10.0  # a transient fault longer than this reaches the respondent
FIRST_DELAY, MAX_DELAY = 0.1, 2.0

# PostgreSQL SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html).
_PG_TRANSIENT = {"57P01": "server shutting down", "57P02": "server crashed", "57P03": "server starting or stopping",
                 "53300": "too many connections", "40001": "serialization failure", "40P01": "deadlock"}
_PG_LASTING = {"53100": "disk full", "25006": "read-only transaction", "58030": "I/O error"}
_SQLITE_LASTING = {"disk i/o error": "I/O error", "database or disk is full": "disk full",
                   "readonly database": "read-only", "unable to open database": "cannot open the file",
                   "database disk image is malformed": "file damaged"}
_SQLITE_TRANSIENT = {"database is locked": "locked", "database table is locked": "locked", "busy": "locked"}
_DROPPED = ("connection was closed", "connection is closed", "connection reset", "server closed the connection",
            "connection refused", "cannot connect now", "terminating connection", "broken pipe")


@dataclass(frozen=True)
class DbFault:
    """A database failure: its kind in a few words, and whether waiting a little may end it."""

    kind: str
    transient: bool


def classify(exc: BaseException) -> DbFault | None:
    """The database fault behind an exception (following its causes), or None when it is something else."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        fault = _one(e)
        if fault is not None:
            return fault
        stack += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return None


def _one(e: BaseException) -> DbFault | None:
    text = str(e).lower()
    if isinstance(e, sqlite3.Error):
        for needle, kind in _SQLITE_LASTING.items():
            if needle in text:
                return DbFault(kind, transient=False)
        for needle, kind in _SQLITE_TRANSIENT.items():
            if needle in text:
                return DbFault(kind, transient=True)
        return None
    code = getattr(e, "sqlstate", None) or getattr(e, "pgcode", None)
    if isinstance(code, str):
        if code in _PG_LASTING:
            return DbFault(_PG_LASTING[code], transient=False)
        if code in _PG_TRANSIENT:
            return DbFault(_PG_TRANSIENT[code], transient=True)
        if code.startswith("08"):  # connection exception
            return DbFault("connection lost", transient=True)
    if (isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED
            or (isinstance(e, OSError) and "connect call failed" in text)):
        return DbFault("connection refused", transient=True)
    if isinstance(e, (ConnectionError, TimeoutError)):
        return DbFault("connection lost", transient=True)
    if isinstance(e, DBAPIError) and e.connection_invalidated:
        return DbFault("connection lost", transient=True)
    if type(e).__module__.startswith(("asyncpg", "sqlalchemy")) and any(d in text for d in _DROPPED):
        return DbFault("connection lost", transient=True)
    return None


async def retry_transient(attempt: Callable[[], Awaitable[T]], *, seconds: float = RETRY_SECONDS,
                          first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY,
                          on_fault: Callable[[DbFault], None] | None = None) -> T:
    """``await attempt()``, made again with backoff while it fails with a transient fault and time is left.

    ``attempt`` must be safe to repeat: each try is its own transaction, rolled back when it fails.
    ``on_fault`` hears about every transient fault that is retried. The last error is raised as is.
    """
    deadline = time.monotonic() + seconds
    delay = first_delay
    while True:
        try:
            return await attempt()
        except Exception as exc:
            fault = classify(exc)
            if fault is None or not fault.transient or time.monotonic() + delay > deadline:
                raise
            if on_fault is not None:
                on_fault(fault)
            log.debug("database %s; trying again in %.1f s", fault.kind, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
