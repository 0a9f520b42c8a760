"""A CSV export split between this process and a worker process (analytics.split) writes the one-process file.

Real databases throughout: a generated SQLite file (some responses left in progress), and the same rows copied to
a fresh PostgreSQL database. The split export must give the same bytes as the one-process export — with filters,
``completed_only`` and ``;`` — and hold its contract when things go wrong: a busy write lock (written alone), a
worker killed mid-way (a clear error, no file or process left), answers committed all along (one snapshot).
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from analytics.export import export_csv
from analytics.filters import parse_filter
from analytics.split import SplitError
from bench import data
from storage.db import create_engine, read_only
from storage.transfer import copy_database
from tests import pg

RESPONSES = 3_000


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("split") / "survey.db"
    data.generate(path, RESPONSES)
    con = sqlite3.connect(path)
    with con:  # every seventh response stopped at question 5: statuses, last questions and empty cells vary
        con.execute("UPDATE responses SET status = 'in_progress', completed_at = NULL, current_question = '5'"
                    " WHERE id % 7 = 0")
    con.close()
    return path


def leftovers() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("surveybot-export-*")}


def workers() -> list[int]:
    """Processes of this test process running ``python -m analytics.split_worker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"analytics.split" in cmdline:
            found.append(int(entry.name))
    return found


async def export(url: str, out: Path, split: bool, **kwargs) -> tuple[int, list[tuple[int, int]]]:
    """Export to ``out`` (split from the first response, or never); (rows, progress heard)."""
    engine = create_engine(url)
    heard: list[tuple[int, int]] = []
    try:
        n = await export_csv(read_only(engine), data.load_survey(None), out, split_min_rows=1 if split else None,
                             progress=lambda done, total: heard.append((done, total)), **kwargs)
    finally:
        await engine.dispose()
    return n, heard


def options(survey_filter: str | None) -> list[dict]:
    survey = data.load_survey(None)
    where = parse_filter(survey_filter, survey) if survey_filter else None
    return [{}, {"completed_only": True}, {"where": where, "delimiter": ";"}]


async def same_bytes_both_ways(url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    before = leftovers()
    for i, kwargs in enumerate(options("11=2")):
        one, two = tmp_path / f"one{i}.csv", tmp_path / f"two{i}.csv"
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="analytics.split"):
            n_two, heard = await export(url, two, True, **kwargs)
        assert any("worker process writes" in r.getMessage() for r in caplog.records), caplog.text
        n_one, _ = await export(url, one, False, **kwargs)
        assert n_one == n_two > 100
        assert two.read_bytes() == one.read_bytes(), kwargs
        assert two.read_bytes().count(b"\r\n") == n_one + 1
        # Progress counts the rows of both processes, up to the total, never past it.
        assert heard[0] == (0, n_one) and heard[-1] == (n_one, n_one), heard[-3:]
        assert all(done <= total for done, total in heard)
        assert [d for d, _ in heard] == sorted(d for d, _ in heard)
    assert leftovers() == before
    assert workers() == []


async def test_split_export_writes_the_one_process_file_on_sqlite(db: Path, tmp_path: Path, caplog):
    await same_bytes_both_ways(f"sqlite+aiosqlite:///{db}", tmp_path, caplog)


async def test_split_export_writes_the_one_process_file_on_postgresql(db: Path, tmp_path: Path, caplog):
    async with pg.fresh_database() as url:
        await copy_database(f"sqlite+aiosqlite:///{db}", url)
        await same_bytes_both_ways(url, tmp_path, caplog)


async def test_a_busy_write_lock_leaves_the_export_to_one_process(db: Path, tmp_path: Path, caplog):
    url = f"sqlite+aiosqlite:///{db}"
    await export(url, tmp_path / "one.csv", False)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # a long write elsewhere: the export must not wait on it, nor split
    try:
        with caplog.at_level(logging.INFO, logger="analytics.split"):
            n, heard = await export(url, tmp_path / "alone.csv", True)
    finally:
        holder.rollback()
        holder.close()
    assert "write lock stayed busy" in caplog.text
    assert (tmp_path / "alone.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()
    assert heard[-1] == (n, n)
    assert workers() == []


async def test_a_killed_worker_fails_the_export_and_leaves_nothing(db: Path, tmp_path: Path):
    before = leftovers()
    killed: list[int] = []

    def kill_the_worker(done: int, total: int) -> None:
        # The first report comes once the worker has its snapshot and the quality report, before either writes.
        if not killed:
            for pid in workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        with pytest.raises(SplitError, match="worker process"):
            await export_csv(read_only(engine), data.load_survey(None), tmp_path / "out.csv", split_min_rows=1,
                             progress=kill_the_worker)
    finally:
        await engine.dispose()
    assert killed, "the worker was never seen"
    assert leftovers() == before
    assert workers() == []


async def test_answers_committed_during_a_split_export_are_all_in_or_all_out(db: Path, tmp_path: Path, caplog):
    """Both processes read one snapshot: new completed responses keep arriving, and the file has exactly the
    responses of one moment (the worker checks the split point and the count it saw against this process's). On a
    quiet database the worker adopts the snapshot as it is (the tests above); here SQLite's change counter moves, so
    the export starts its snapshot again under the write lock and still splits."""
    copy = tmp_path / "busy.db"
    src = sqlite3.connect(db)
    dst = sqlite3.connect(copy)
    src.backup(dst)
    dst.execute("PRAGMA journal_mode=WAL")  # as the bot keeps it (a backup copy starts in rollback-journal mode)
    src.close()
    dst.close()
    stop = threading.Event()
    added: list[int] = []

    def arrivals() -> None:
        con = sqlite3.connect(copy, isolation_level=None, timeout=30)
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        next_id = RESPONSES + 1
        while not stop.is_set():
            con.execute("BEGIN IMMEDIATE")
            con.execute("INSERT INTO respondents (id, user_key, first_seen) VALUES (?, ?, ?)",
                        (next_id, str(90_000_000 + next_id), now))
            con.execute("INSERT INTO responses (id, respondent_id, survey_id, survey_version, status, started_at,"
                        " completed_at, updated_at, awaiting_other, version) VALUES (?, ?, ?, 1, 'completed', ?, ?, ?,"
                        " 0, 1)", (next_id, next_id, data.load_survey(None).id, now, now, now))
            con.execute("COMMIT")
            added.append(next_id)
            next_id += 1
            stop.wait(0.002)  # a busy bot's group commits: a few hundred a second, the lock free between them
        con.close()

    writer = threading.Thread(target=arrivals)
    writer.start()
    try:
        with caplog.at_level(logging.INFO, logger="analytics.split"):
            n, heard = await export(f"sqlite+aiosqlite:///{copy}", tmp_path / "out.csv", True)
    finally:
        stop.set()
        writer.join()
    assert len(added) > 10, "the writer never got going"
    # Commits fell between this process's snapshot and the worker's start: it began again under the lock, split.
    assert "started again under the write lock" in caplog.text
    assert "worker process writes" in caplog.text
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    ids = [int(line.split(",")[1]) for line in lines]
    assert len(ids) == n == heard[-1][1]
    assert ids == sorted(set(ids))  # no response twice, in order
    assert ids == list(range(1, ids[-1] + 1))  # and none missing up to the last one of that moment
