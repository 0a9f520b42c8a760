"""Schema migrations (Alembic), run programmatically on the bot's own engine.

All pending migrations run in ONE transaction (SQLite and PostgreSQL both have transactional DDL): an upgrade
that fails half-way (a full disk, a killed process, a failing step) is rolled back whole, and the database stays
at the revision it had, which the previous release runs on. ``upgrade`` then raises ``MigrationFailed`` with one
line that says so, after reading the revision back to make sure.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.preflight import DatabaseProblem

MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed number: the PostgreSQL advisory lock that makes concurrent upgrades take turns.
MIGRATION_LOCK = 7_431_905_566


class MigrationFailed(DatabaseProblem):
    """An upgrade failed and was rolled back; the message (one line) says to what state."""


def alembic_config() -> Config:
    """An Alembic config pointing at the bundled migration scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database schema up to date (idempotent); MigrationFailed when it could not."""
    before = await current_revision(engine)
    try:
        await _upgrade(engine, revision)
    except Exception as exc:
        if before == (head_revision() if revision == "head" else revision):
            raise  # nothing was to be done: not a migration's failure
        raise MigrationFailed(await _failure_line(engine, before, revision, exc)) from exc


async def _failure_line(engine: AsyncEngine, before: str | None, revision: str, exc: Exception) -> str:
    """What an operator reads: the failure, and the state the database was left in (read back, not assumed)."""
    target = head_revision() if revision == "head" else revision
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    step = f"the database schema upgrade from {before or 'nothing (a new database)'} to {target} failed ({reason})"
    try:
        after = await current_revision(engine)
    except Exception as again:  # e.g. the server went away: say we do not know
        return f"{step}; the schema's state could not be read back ({type(again).__name__}): check it before starting"
    if after != before:
        return f"{step}; the database is now at {after}, which surveybot runs on only from that release on"
    kept = f"still at {before}, as the previous release left it (that release runs on it)" if before else "still empty"
    return f"{step}; it was rolled back whole: nothing was changed, the database is {kept}. Fix the cause and start again"


async def _upgrade(engine: AsyncEngine, revision: str) -> None:
    cfg = alembic_config()

    def _run(sync_conn) -> None:
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, revision)
        if sync_conn.dialect.name == "sqlite":
            # Foreign keys were off (a table rebuilt by a batch migration must not cascade deletes into its
            # children): check them now, inside the transaction, so a migration that orphaned rows is rolled back.
            orphans = sync_conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if orphans:
                raise RuntimeError(f"the migration left {len(orphans)} rows whose parent row is gone "
                                   f"(first: {tuple(orphans[0])})")

    migrating = _migration_engine(engine)
    try:
        for attempt in range(5):
            try:
                async with migrating.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        # Several bot workers start together on one database: one migrates, the others wait for
                        # it and then find nothing to do. (SQLite's BEGIN IMMEDIATE serialises them already.)
                        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                    await conn.run_sync(_run)
                return
            except OperationalError as exc:
                # A brand-new SQLite file switching to WAL while another process migrates it can answer "locked"
                # at once, without waiting out the busy timeout: the whole upgrade is simply run again.
                if attempt == 4 or "database is locked" not in str(exc):
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
    finally:
        if migrating is not engine:
            await migrating.dispose()


def _migration_engine(engine: AsyncEngine) -> AsyncEngine:
    """The engine migrations run on: on a SQLite file, one whose connections have foreign keys OFF.

    SQLite's ALTER TABLE cannot do everything, so Alembic's batch mode rebuilds a table (copy, drop, rename); with
    foreign keys on, dropping the old ``responses`` deletes every answer through ON DELETE CASCADE. The pragma is a
    no-op inside a transaction, hence connections of their own (SQLite's documented procedure for schema changes).
    """
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return engine
    migrating = create_engine(url.render_as_string(hide_password=False))

    @event.listens_for(migrating.sync_engine, "connect")
    def _foreign_keys_off(dbapi_conn, _record) -> None:  # runs after storage.db's own connect hook
        dbapi_conn.execute("PRAGMA foreign_keys=OFF")

    return migrating


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when never migrated)."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head_revision() -> str:
    """The newest revision shipped with the code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
