"""Engine set-up: SQLite in WAL mode with a busy timeout and write-locking transactions.

Also the ``BatchWriter`` that runs batched write transactions (see storage/groupcommit.py).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine as create_sync_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine; on SQLite every transaction starts with BEGIN IMMEDIATE unless asked otherwise."""
    if not is_sqlite(url):
        return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=10)
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _configure_sqlite(engine.sync_engine)
    return engine


def _configure_sqlite(sync_engine: Engine) -> None:
    """WAL, busy timeout, foreign keys, and BEGIN IMMEDIATE unless the execution options say otherwise."""

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # NORMAL in WAL mode survives a killed process; only an OS crash may lose the last commits.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # /forget_me must not leave the deleted answers readable in free pages (not every build has it on).
        cur.execute("PRAGMA secure_delete=ON")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn):
        # Read-then-write work takes the write lock up front, so two writers never deadlock
        # into "database is locked"; read-only work asks for DEFERRED.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine with transactions that do not take SQLite's write lock."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory used by the unit of work."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class BatchWriter:
    """Runs ``fn(connection)`` in one write transaction and commits; the batches of group commit use it.

    On SQLite the transaction runs on a plain sqlite3 connection right in the event loop's thread:
    a batch is a few milliseconds of C work, whereas through aiosqlite every statement is a thread
    round trip, and on a busy 2-core machine each of those waits for the GIL (~5 ms) behind the
    bot's own Python work. The loop never waits on another process's lock, though: BEGIN IMMEDIATE
    is tried with no busy timeout, and if the database is locked the batch moves to a worker thread
    that waits the usual busy timeout. Other databases (PostgreSQL) run ``fn`` through the async
    engine with ``run_sync``: their driver is natively async, so nothing blocks the loop.
    """

    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self.sync: Engine | None = None
        url = engine.url
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            self.sync = create_sync_engine(
                url.set(drivername="sqlite"),
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            )
            _configure_sqlite(self.sync)

    async def run(self, fn: Callable[[Connection], T]) -> T:
        """``fn`` inside BEGIN (IMMEDIATE on SQLite) … COMMIT; rolled back if it raises."""
        if self.sync is None:
            async with self.engine.begin() as conn:
                return await conn.run_sync(fn)
        try:
            return self._run_sqlite(fn, wait=False)
        except _Locked:
            return await asyncio.to_thread(self._run_sqlite, fn, wait=True)

    def _run_sqlite(self, fn: Callable[[Connection], T], *, wait: bool) -> T:
        assert self.sync is not None  # run() comes here only on SQLite
        with self.sync.connect() as conn:
            raw: Any = conn.connection.dbapi_connection  # a sqlite3.Connection
            # In the loop thread never wait for a lock: SQLITE_BUSY at once, and the batch goes to a thread.
            raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS if wait else 0}")
            try:
                with conn.begin():
                    return fn(conn)
            except OperationalError as exc:
                # Rolled back, so running fn again is safe (it keeps no state between attempts).
                if not wait and _is_busy(exc):
                    raise _Locked from exc
                raise

    def truncate_wal(self) -> None:
        """On SQLite, checkpoint the write-ahead log and cut it to zero bytes (best effort, never waits)."""
        if self.sync is None:
            return
        with self.sync.connect() as conn:
            raw: Any = conn.connection.dbapi_connection  # outside any transaction, as the pragma needs
            raw.execute("PRAGMA busy_timeout=0")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def dispose(self) -> None:
        """Close the synchronous connections."""
        if self.sync is not None:
            self.sync.dispose()


class StaleWrite(Exception):
    """A response changed under us (another process wrote it): the batch must be retried."""


def is_conflict(exc: BaseException) -> bool:
    """Whether a failed transaction lost a race with another writer and may simply be run again."""
    if isinstance(exc, (StaleWrite, IntegrityError)):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None) or getattr(getattr(exc, "orig", None), "pgcode", None)
    return code in ("40001", "40P01")  # serialization failure, deadlock detected


def _is_busy(exc: OperationalError) -> bool:
    orig = exc.orig
    return isinstance(orig, sqlite3.OperationalError) and ("locked" in str(orig) or "busy" in str(orig))


class _Locked(Exception):
    """Another process holds SQLite's write lock right now."""
