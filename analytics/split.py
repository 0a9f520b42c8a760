"""A large CSV export written by two processes: this one the responses before a split id, a worker the rest.

Reading 1.4 M answers and formatting their cells is Python work that one interpreter does on one core; the
database's own floor for the same file is a single C query. On a machine with a second core, an export of
``SPLIT_MIN_ROWS`` responses or more starts a worker process (``python -m analytics.split_worker``) that writes the upper
part of the rows into a private temporary file while this process writes the lower part straight to the output,
then appends the worker's file. The contract:

* **One snapshot.** Both processes read the same state of the database, so the file is byte for byte the one a
  single process writes (the tests compare them, on SQLite and PostgreSQL). PostgreSQL: the worker adopts this
  transaction's snapshot (``pg_export_snapshot`` / ``SET TRANSACTION SNAPSHOT``, both REPEATABLE READ). SQLite has
  no way to share a snapshot, so this process notes SQLite's change counter (``PRAGMA data_version``) just before
  its own snapshot begins and goes on (filters, counts, the quality flags) while the worker starts; then, holding
  the write lock (BEGIN IMMEDIATE on a connection of its own) for the few milliseconds in which the worker's
  snapshot begins, it checks that nothing was committed in between: then both snapshots are the same state. If
  something was, the transaction starts again with both snapshots begun under the lock (``Confirm.AGAIN``);
  respondents' answers wait those milliseconds. If the lock is not free within ``LOCK_WAIT`` seconds, or the worker
  cannot start, this process writes the whole file alone. The worker also reports the split id and the row count
  it saw, and the export fails rather than write a file from two states if they differ from this process's.
* **Judged once.** The worker is handed this process's quality report (analytics.quality, every response of the
  survey) instead of judging them again; pickled in parts, so the loop of this process is never held long.
* **Never outlives the export.** The worker is killed when the export ends for any reason (an error, a
  cancelled task, a closed connection), stops by itself when this process dies, and its temporary file (mode
  0600, respondents' data) is removed.
* **Failures are told.** A worker that fails or dies fails the export with its message (``SplitError``).
* **Progress** counts the rows of both processes.
* **Not worth it, not used:** fewer than ``SPLIT_MIN_ROWS`` responses in the database, one CPU, not POSIX (the
  worker inherits its socket), an in-memory SQLite database, or a pseudonymizing function (a callable does not
  cross processes) — one process, as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import re
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from select import select as select_fds
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.filters import Filter
from analytics.quality import Judged, QualityReport, QualityRules
from storage.models import Response
from survey.model import Survey

SPLIT_MIN_ROWS = 20_000  # below this, starting a worker (~0.7 s) costs more than it saves
SHARE = 0.5  # of the rows this process writes (the worker starts reading at the same moment)
LOCK_WAIT = 2.0  # seconds to wait for SQLite's write lock before writing alone
QUALITY_PART = 5_000  # judgements pickled at a time (~5 ms of the interpreter lock each)
START_WAIT = 120.0  # seconds for the worker to start and connect
log = logging.getLogger(__name__)
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f-]+")


class Confirm(StrEnum):
    """Whether a split export goes on split, by this process alone, or starts its transaction again."""

    SPLIT = "split"
    ALONE = "alone"
    AGAIN = "again"


class SplitError(RuntimeError):
    """The worker of a split export failed, died, or read another state of the database."""


@dataclass(frozen=True)
class Job:
    """What the worker needs to write its part (all of it crosses the process boundary by pickling)."""

    db_url: str
    survey: Survey
    path: str
    completed_only: bool
    where: Filter | None
    delimiter: str
    tz_name: str
    quality_rules: QualityRules | None


async def worth_splitting(engine: AsyncEngine, survey: Survey, pseudonymize: Callable[[str], str] | None,
                          min_rows: int | None = SPLIT_MIN_ROWS) -> bool:
    """Whether an export of ``survey`` from ``engine`` gets a worker process (``min_rows`` None: never)."""
    if min_rows is None or pseudonymize is not None or (os.cpu_count() or 1) < 2 or os.name != "posix":
        return False
    url = engine.url
    backend = url.get_backend_name()
    # SQLite: a plain file path (the lock connection opens it by name; not a memory database, not a file: URI)
    plain_file = bool(url.database) and "uri" not in url.query and Path(url.database or "").is_file()
    if backend not in ("sqlite", "postgresql") or (backend == "sqlite" and not plain_file):
        return False
    async with engine.connect() as conn:  # every survey's responses: an index count, not a scan of the table
        rows = await conn.scalar(select(func.count()).select_from(Response))
    return (rows or 0) >= min_rows


def split_range(upper: bool, at: int | None) -> tuple[int | None, int | None]:
    """The response ids one side writes: this process ``[.., at)``, the worker ``[at, ..)``; all or nothing when
    there is no split point (``at`` None: too few rows to share)."""
    if at is None:
        return (None, None) if not upper else (0, 0)
    return (at, None) if upper else (None, at)


async def split_point(conn: AsyncConnection, counted: ColumnElement[bool], n: int) -> int | None:
    """The first response id of the worker's part: ``SHARE`` of the ``n`` exported responses come before it."""
    k = int(n * SHARE)
    if k <= 0 or k >= n:
        return None
    return await conn.scalar(select(Response.id).where(counted).order_by(Response.id).offset(k).limit(1))


async def _pin(conn: AsyncConnection) -> None:
    """Start this transaction's snapshot (SQLite fixes it at the first read)."""
    await conn.execute(select(Response.id).limit(1))


def _watch(path: str) -> sqlite3.Connection:
    """A connection of this process's own to the database file, for its change counter and its write lock."""
    return sqlite3.connect(path, timeout=LOCK_WAIT, isolation_level=None, check_same_thread=False)


def _data_version(watch: sqlite3.Connection) -> int:
    """SQLite's counter of commits made by other connections (any process) since ``watch`` opened."""
    return int(watch.execute("PRAGMA data_version").fetchone()[0])


def _lock(watch: sqlite3.Connection) -> bool:
    """Take the write lock on ``watch``; False if it is not free within LOCK_WAIT."""
    try:
        watch.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    return True


def _unlock(watch: sqlite3.Connection) -> None:
    watch.rollback()


class Channel:
    """Pickled messages over one end of a socket pair between the two processes (length-prefixed)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock

    def send(self, kind: str, value: Any = None) -> None:
        data = pickle.dumps((kind, value))
        self.sock.sendall(struct.pack("!I", len(data)) + data)

    def poll(self, timeout: float) -> bool:
        return bool(select_fds([self.sock], [], [], timeout)[0])

    def recv(self) -> tuple[str, Any]:
        (size,) = struct.unpack("!I", self._exactly(4))
        kind, value = pickle.loads(self._exactly(size))  # our own child, over a private socket
        return kind, value

    def _exactly(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


class Lower:
    """This process's side: starts the worker, aligns the snapshots, appends the worker's part."""

    upper = False

    def __init__(self, job: Job, channel: Channel, process: subprocess.Popen[bytes]):
        self.job, self.channel, self.process = job, channel, process
        self.theirs = 0  # rows the worker reported so far
        self.watch: sqlite3.Connection | None = None  # SQLite: our own connection, for data_version and the lock
        self.version: int | None = None  # data_version just before this process's snapshot began
        self.pinned = False  # the worker's snapshot started
        self.early: list[tuple[str, Any]] = []  # its other messages, read while reading row counts

    @classmethod
    async def start(cls, engine: AsyncEngine, survey: Survey, *, completed_only: bool, where: Filter | None,
                    delimiter: str, tz_name: str, quality_rules: QualityRules | None) -> Lower:
        """Start the worker (``python -m analytics.split_worker``; it imports and connects while the caller goes on)."""
        fd, path = tempfile.mkstemp(prefix="surveybot-export-", suffix=".csv")  # 0600
        os.close(fd)
        job = Job(engine.url.render_as_string(hide_password=False), survey, path, completed_only, where, delimiter,
                  tz_name, quality_rules)
        mine, theirs = socket.socketpair()
        # The packages are importable from where this one was (a checkout run with PYTHONPATH, or an install).
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        try:
            process = await asyncio.to_thread(
                subprocess.Popen, [sys.executable, "-m", "analytics.split_worker", str(theirs.fileno()), str(os.getpid())],
                pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
            )
        except BaseException:
            mine.close()
            Path(path).unlink(missing_ok=True)
            raise
        finally:
            theirs.close()
        channel = Channel(mine)
        channel.send("job", job)
        return cls(job, channel, process)

    async def _recv(self, timeout: float) -> tuple[str, Any]:
        """The worker's next message other than a row count; SplitError if it fails, dies or is silent."""
        message = await self._message(timeout)
        if message is None:
            raise SplitError("the export's worker process did not answer")
        return message

    async def _message(self, wait: float) -> tuple[str, Any] | None:
        """The worker's next message other than a row count, or None after ``wait`` seconds without one; SplitError
        (with the worker's own reason when it sent one) if it fails or dies."""
        waited = 0.0
        while True:
            if not await asyncio.to_thread(self.channel.poll, 0.2):
                waited += 0.2
                if self.process.poll() is not None:
                    raise SplitError(f"the export's worker process ended (exit code {self.process.returncode})")
                if waited > wait:
                    return None
                continue
            try:
                kind, value = self.channel.recv()
            except (EOFError, OSError):
                raise SplitError(f"the export's worker process ended (exit code {self.process.poll()})") from None
            match kind:
                case "rows":
                    self.theirs = value
                case "error":
                    raise SplitError(f"the export's worker process failed: {value}")
                case _:
                    return kind, value

    async def pin(self, conn: AsyncConnection) -> bool:
        """Start this transaction's snapshot (the first step of ``_stream``); False: write alone.

        PostgreSQL: export it for the worker, which adopts it whenever it is ready. SQLite, first attempt: note the
        database's change counter (``PRAGMA data_version`` on a connection of our own) just before, and go on
        without waiting for the worker; after an ``AGAIN`` from ``confirm``: under the write lock, with the worker
        ready, start both snapshots at once (False if the lock stays busy)."""
        if conn.dialect.name == "postgresql":
            self.channel.send("pin", await conn.scalar(text("SELECT pg_export_snapshot()")))
            return True
        if self.watch is None:
            self.watch = await asyncio.to_thread(_watch, make_url(self.job.db_url).database or "")
            self.version = await asyncio.to_thread(_data_version, self.watch)
            await _pin(conn)
            return True
        if not await asyncio.to_thread(_lock, self.watch):
            log.info("export written by one process: the database's write lock stayed busy")
            return False
        try:
            await _pin(conn)
            self.channel.send("pin", None)
            await self._recv(START_WAIT)  # "pinned"
            self.pinned = True
        finally:
            await asyncio.to_thread(_unlock, self.watch)
        return True

    async def shared_quality(self) -> QualityReport | None:
        """None: this process judges the responses itself (and hands its report to the worker in ``confirm``)."""
        return None

    async def confirm(self, quality: QualityReport | None) -> Confirm:
        """After this process's reads that need no worker (filters, counts, quality flags): whether the worker
        reads this snapshot too (``SPLIT``; it is handed this snapshot's ``quality`` report rather than judge
        100,000 responses again), this process writes alone (``ALONE``: the worker could not start, or the lock
        stayed busy), or the transaction must start again under the lock (``AGAIN``: on SQLite something was
        committed since this snapshot began, so the worker can no longer get it)."""
        confirmed = await self._confirm()
        if confirmed == Confirm.SPLIT:
            await asyncio.to_thread(self._send_quality, quality)
        return confirmed

    def _send_quality(self, quality: QualityReport | None) -> None:
        """The report, its judgements in parts with a pause between them (in a worker thread: the loop keeps
        getting the interpreter lock while they are pickled)."""
        if quality is None or not isinstance(quality.responses, Judged):
            self.channel.send("quality", quality)
            return
        self.channel.send("quality", replace(quality, responses=Judged({})))
        for part in quality.responses.parts(QUALITY_PART):
            self.channel.send("judged", part)
            time.sleep(0)
        self.channel.send("judged", None)

    async def _confirm(self) -> Confirm:
        if self.pinned:
            return Confirm.SPLIT
        try:
            await self._recv(START_WAIT)  # "ready": imported and connected
        except SplitError as exc:
            log.warning("export written by one process: %s", exc)
            return Confirm.ALONE
        if self.watch is None:  # PostgreSQL: the snapshot was sent with pin
            await self._recv(START_WAIT)  # "pinned"
            self.pinned = True
            return Confirm.SPLIT
        if not await asyncio.to_thread(_lock, self.watch):
            log.info("export written by one process: the database's write lock stayed busy")
            return Confirm.ALONE
        try:
            if await asyncio.to_thread(_data_version, self.watch) != self.version:
                log.info("export's snapshot started again under the write lock: answers were committed since it began")
                return Confirm.AGAIN
            # Nothing committed since this snapshot began, and nothing can while the lock is held: the worker's
            # snapshot, started now, is the same.
            self.channel.send("pin", None)
            await self._recv(START_WAIT)  # "pinned"
            self.pinned = True
            return Confirm.SPLIT
        finally:
            await asyncio.to_thread(_unlock, self.watch)

    def told(self, at: int | None, n: int) -> None:
        """The split point of this transaction's ``n`` rows (the worker reports its own, checked in ``finish``)."""
        log.info("export of %d rows split at response id %s: this process writes those before it, a worker process "
                 "writes the rest", n, at)

    def others(self) -> int:
        """Rows the worker has written so far (its reports read without waiting; called from one thread at a time)."""
        try:
            while self.channel.poll(0):
                kind, value = self.channel.recv()
                if kind == "rows":
                    self.theirs = value
                else:  # kept, in order, for finish
                    self.early.append((kind, value))
        except (EOFError, OSError):
            pass  # finish says what happened
        return self.theirs

    async def finish(self, at: int | None, n: int, out: BinaryIO, progress: Callable[[int], None]) -> int:
        """Wait for the worker (``progress`` hears its rows as they grow), check it read what this process read,
        append its rows to ``out``; the number of rows it wrote."""
        seen = await self._next()
        if seen != ("split", (at, n)):
            raise SplitError(f"the export's worker process read another state of the database ({seen[1]} != {(at, n)})")
        while True:
            kind, rows = await self._next(progress)
            if kind == "done":
                break
        progress(rows)
        await asyncio.to_thread(_append, self.job.path, out)
        return int(rows)

    async def _next(self, progress: Callable[[int], None] | None = None) -> tuple[str, Any]:
        if self.early:
            kind, value = self.early.pop(0)
            if kind == "error":
                raise SplitError(f"the export's worker process failed: {value}")
            return kind, value
        while (message := await self._message(1.0)) is None:  # the worker still writing: show how far it is
            if progress is not None:
                progress(self.theirs)
        return message

    async def close(self) -> None:
        """Stop the worker if it still runs and remove its file (always called, also after an error)."""
        if self.process.poll() is None:
            self.process.kill()
        await asyncio.to_thread(self.process.wait, 10)
        self.channel.close()
        if self.watch is not None:
            self.watch.close()
        Path(self.job.path).unlink(missing_ok=True)


def _append(path: str, out: BinaryIO) -> None:
    with open(path, "rb") as part:
        shutil.copyfileobj(part, out, 1 << 20)


class Upper:
    """The worker's side of the same steps (analytics.split_worker)."""

    upper = True

    def __init__(self, channel: Channel, parent: int):
        self.channel, self.parent = channel, parent

    async def pin(self, conn: AsyncConnection) -> bool:
        """Wait for the word, then start this transaction's snapshot on the state this process's parent reads."""
        self.channel.send("ready")
        kind, snapshot = await asyncio.to_thread(self.channel.recv)
        if kind != "pin":
            raise SplitError(f"unexpected message {kind!r}")
        if snapshot is not None:
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise SplitError("malformed snapshot id")
            await conn.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
        await _pin(conn)
        self.channel.send("pinned")
        return True

    async def shared_quality(self) -> QualityReport | None:
        """The quality report of the parent's snapshot (the same as this one's), judged there once."""
        return await asyncio.to_thread(self._receive_quality)

    def _receive_quality(self) -> QualityReport | None:
        kind, report = self.channel.recv()
        if kind != "quality":
            raise SplitError(f"unexpected message {kind!r}")
        if report is None or not isinstance(report.responses, Judged):
            return report
        parts = []
        while (message := self.channel.recv()) != ("judged", None):
            if message[0] != "judged":
                raise SplitError(f"unexpected message {message[0]!r}")
            parts.append(message[1])
        return replace(report, responses=Judged({}).joined(parts))

    async def confirm(self, quality: QualityReport | None) -> Confirm:
        """The worker's snapshot began in ``pin``: nothing to wait for."""
        return Confirm.SPLIT

    def told(self, at: int | None, n: int) -> None:
        """Report the split point and the row count this process saw (the parent checks them)."""
        self.channel.send("split", (at, n))

    def wrote(self, rows: int) -> None:
        """Report the rows written so far; stop when the parent is gone."""
        if os.getppid() != self.parent:
            raise SystemExit("the exporting process is gone")
        self.channel.send("rows", rows)


__all__ = ["SPLIT_MIN_ROWS", "Channel", "Confirm", "Job", "Lower", "SplitError", "Upper", "split_point", "split_range",
           "worth_splitting"]
