"""The disk lies (issue 24): a damaged database file at start, a disk that fills during a migration, a migration
step that fails half-way. The real ``surveybot`` process, the fault in its world (the file, the filesystem).

- A ``DATABASE_URL`` file that is not SQLite, cut short or with damaged pages: one line naming it, exit 2, the
  file byte for byte as it was, nothing created beside it, the bot never polls.
- A disk that fills while the schema is upgraded (a tiny tmpfs when the tests run as root; a file-size limit,
  RLIMIT_FSIZE, otherwise): one line saying the upgrade was rolled back and at which revision the database still
  is; the database is exactly the old schema with every row, and upgrades once there is room.
- A step that fails after earlier steps succeeded (both databases): every step rolled back, not only the last.
"""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from storage.db import create_engine
from storage.migrate import current_revision, head_revision, upgrade
from survey.loader import load_survey
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, ROOT
from tests.test_migration_drill import _fill, _snapshot

pytestmark = pytest.mark.e2e
OLD = "0001"  # the oldest release: every later migration is pending, so a failure lands half-way


def surveybot(args: list[str], env: dict[str, str], cwd: Path, *, fsize: int | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """``surveybot ARGS`` as a real process (optionally with a file-size limit: the disk's edge)."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING", **env}

    def limit() -> None:
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))  # Python ignores SIGXFSZ: writes get EFBIG

    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=full, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limit)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("surveybot: "), err
    return lines[0]


def _new_db(path: Path, revision: str = OLD) -> None:
    """A SQLite database at an old revision, full of answers (the drill's rows); callable from async tests too."""

    async def make() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(engine, revision)
            await _fill(engine, load_survey(None))
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as pool:  # its own event loop, in a thread: the async tests have one running
        pool.submit(asyncio.run, make()).result()


# A damaged file ---------------------------------------------------------------------------------------------


def _damage(kind: str, path: Path, good: Path) -> None:
    match kind:
        case "text":
            path.write_text("name,answer\nАнна,да\n", encoding="utf-8")  # e.g. a CSV export given as the database
        case "random":
            path.write_bytes(os.urandom(40_000))
        case "truncated":  # an interrupted copy
            data = good.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        case "pages":  # the header is fine, pages in the middle are garbage
            data = bytearray(good.read_bytes())
            data[4096 * 3: 4096 * 5] = os.urandom(8192)
            path.write_bytes(bytes(data))
        case _:
            raise AssertionError(kind)


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "survey.db"
    _new_db(path, head_revision())
    return path


@pytest.mark.parametrize("kind", ["text", "random", "truncated", "pages"])
def test_a_damaged_database_file_is_refused_in_one_line_and_left_untouched(tmp_path, good_db, kind):
    db = tmp_path / "survey.db"
    _damage(kind, db, good_db)
    original = db.read_bytes()
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "BOT_TOKEN": E2E_TOKEN}
    with FakeBotAPI() as api:
        results = {"run": surveybot(["run"], {**env, "TELEGRAM_API_URL": api.url}, tmp_path)}
        polled = api.calls_of("getUpdates")
    for command in (["migrate"], ["stats"], ["export", "--format", "csv", "-o", str(tmp_path / "out.csv")]):
        results[command[0]] = surveybot(command, env, tmp_path)
    for name, result in results.items():
        assert result.returncode == 2, (name, result.stderr)
        line = one_line(result.stderr)
        assert f"DATABASE_URL: {db} " in line, (name, line)
        assert ("not a SQLite database" if kind in ("text", "random") else "is damaged") in line, line
        assert "the file was left as it is" in line
    assert not polled, "the bot never started on it"
    assert db.read_bytes() == original, "not one byte of the file changed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["survey.db"], "nothing created beside it (-wal, -shm, out)"


def test_a_healthy_file_with_a_wal_left_by_a_killed_bot_still_starts(tmp_path, good_db):
    # The check must not refuse a database whose last commits are still in its -wal file (a SIGKILLed bot).
    db = tmp_path / "survey.db"
    shutil.copy(good_db, db)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA wal_autocheckpoint=0")
    con.execute("UPDATE respondents SET source = 'after-the-crash' WHERE id = 1")
    con.commit()
    # A copy of the files while the connection is open: the database file and its -wal, as a SIGKILL leaves them.
    shutil.copy(db, tmp_path / "copy.db")
    shutil.copy(db.with_name("survey.db-wal"), tmp_path / "copy.db-wal")
    con.close()
    os.remove(db)
    result = surveybot(["stats", "--format", "json"], {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"},
                       tmp_path)
    assert result.returncode == 0, result.stderr
    rows = sqlite3.connect(tmp_path / "copy.db").execute("SELECT source FROM respondents WHERE id = 1").fetchall()
    assert rows == [("after-the-crash",)], "the commit in the -wal file was read, not lost"


# A disk that fills during the upgrade -------------------------------------------------------------------------


def _schema(path: Path) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return sorted(con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master").fetchall(), key=repr)
    finally:
        con.close()


async def _rows(path: Path) -> dict:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        return {"revision": await current_revision(engine), "rows": await _snapshot(engine)}
    finally:
        await engine.dispose()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs mounted on a folder (root only): a disk that really fills."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tiny tmpfs needs root; the RLIMIT_FSIZE variant covers the rest")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _leave_free(mount: Path, kib: int) -> Path:
    """Fill the filesystem until `kib` KiB are free; the filler file, to delete to make room."""
    st = os.statvfs(mount)
    free = st.f_bavail * st.f_frsize
    filler = mount / "filler"
    filler.write_bytes(b"\0" * max(0, free - kib * 1024))
    return filler


async def _assert_rolled_back(db: Path, reference_schema: list[tuple], before: dict, line: str) -> None:
    assert "rolled back whole: nothing was changed" in line and f"still at {OLD}" in line, line
    assert f"from {OLD} to {head_revision()} failed" in line, line
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()
    assert _schema(db) == reference_schema, "exactly the old release's schema: that release runs on it"
    assert await _rows(db) == before, "every row as it was"


async def test_a_disk_that_fills_during_the_upgrade_leaves_the_old_schema_and_says_so(tmp_path, tiny_disk):
    db = tiny_disk / "survey.db"
    _new_db(db)
    reference = tmp_path / "reference.db"
    _new_db(reference)
    before = await _rows(db)
    filler = _leave_free(tiny_disk, 64)  # room to open it (-shm, a few WAL frames), not for the whole upgrade
    with FakeBotAPI() as api:
        result = surveybot(["run"], {"DATABASE_URL": f"sqlite+aiosqlite:///{db}", "BOT_TOKEN": E2E_TOKEN,
                                     "TELEGRAM_API_URL": api.url}, tmp_path)
        polled = api.calls_of("getUpdates")
    assert result.returncode == 2, result.stderr
    line = one_line(result.stderr)
    assert "database or disk is full" in line, line
    assert not polled
    await _assert_rolled_back(db, _schema(reference), before, line)

    filler.unlink()  # the operator frees space and starts again
    again = surveybot(["migrate"], {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}, tmp_path)
    assert again.returncode == 0, again.stderr
    after = await _rows(db)
    assert after["revision"] == head_revision()
    for table, rows in before["rows"].items():
        assert len(after["rows"][table]) == len(rows), table


async def test_a_file_size_limit_during_the_upgrade_leaves_the_old_schema_and_says_so(tmp_path):
    # The same fault without root: the process may not grow a file past 40 KB, so the WAL cannot take the upgrade.
    db = tmp_path / "survey.db"
    _new_db(db)
    reference = tmp_path / "reference.db"
    _new_db(reference)
    before = await _rows(db)
    result = surveybot(["migrate"], {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}, tmp_path, fsize=40_960)
    assert result.returncode == 2, result.stderr
    await _assert_rolled_back(db, _schema(reference), before, one_line(result.stderr))
    again = surveybot(["migrate"], {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}, tmp_path)
    assert again.returncode == 0, again.stderr
    assert (await _rows(db))["revision"] == head_revision()


# A failing step, both databases ---------------------------------------------------------------------------------


async def test_a_step_failing_half_way_rolls_back_the_steps_before_it(db_url, tmp_path):
    engine = create_engine(db_url)
    try:
        await upgrade(engine, "0004")
        await _fill(engine, load_survey(None))
        # An object in the way of 0006 (which creates survey_state): 0005 succeeds, then 0006 fails.
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE survey_state (survey_id VARCHAR(64) PRIMARY KEY)"))
        before = await _snapshot(engine)
        result = surveybot(["migrate"], {"DATABASE_URL": db_url}, tmp_path)
        assert result.returncode == 2, result.stderr
        line = one_line(result.stderr)
        assert f"from 0004 to {head_revision()} failed" in line and "still at 0004" in line, line
        assert "rolled back whole" in line
        assert await current_revision(engine) == "0004"
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
        assert "survey_definitions" not in tables, "0005 ran before the failure and was rolled back with it"
        assert await _snapshot(engine) == before
    finally:
        await engine.dispose()
