"""Schema migrations (Alembic), run programmatically on the bot's own engine.

All pending migrations run in ONE transaction (SQLite and PostgreSQL both have transactional DDL): an upgrade
that fails half-way (a full disk, a killed process, a failing step) is rolled back whole, and the database stays
at the revision it had, which the previous release runs on. ``upgrade`` then raises ``MigrationFailed`` with one
line that says so, after reading the revision back to make sure.

Alembic itself (a third of a second of imports and loading the scripts) is loaded only when there is something
to do: a database already at ``HEAD`` is recognised by reading Alembic's ``alembic_version`` table with plain
SQL, so a restart pays nothing for migrations, and a new, empty database is created from the models and stamped
at ``HEAD`` (``create_at_head``), as Alembic's cookbook builds an up-to-date database from scratch. ``HEAD`` is written here and checked against the scripts by
tests/test_storage.py: a new migration moves it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.models import Base
from storage.preflight import DatabaseProblem

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions (tests/test_storage.py holds it to Alembic's own reading).
HEAD = "0014_filter_index"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
# Alembic's version table as Alembic itself creates it (one row: the revision the schema is at).
VERSION = Table(VERSION_TABLE, MetaData(), Column("version_num", String(32), nullable=False),
                PrimaryKeyConstraint("version_num", name=f"{VERSION_TABLE}_pkc"))
# Any fixed number: the PostgreSQL advisory lock that makes concurrent upgrades take turns.
MIGRATION_LOCK = 7_431_905_566


class MigrationFailed(DatabaseProblem):
    """An upgrade failed and was rolled back; the message (one line) says to what state."""


def alembic_config() -> Config:
    """An Alembic config pointing at the bundled migration scripts."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database schema up to date (idempotent); MigrationFailed when it could not."""
    before = await current_revision(engine)
    if before == (HEAD if revision == "head" else revision):
        return  # nothing to do: Alembic is not even loaded
    try:
        await _upgrade(engine, revision)
    except Exception as exc:
        raise MigrationFailed(await _failure_line(engine, before, revision, exc)) from exc


async def _failure_line(engine: AsyncEngine, before: str | None, revision: str, exc: Exception) -> str:
    """What an operator reads: the failure, and the state the database was left in (read back, not assumed)."""
    target = HEAD if revision == "head" else revision
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
    def _run(sync_conn) -> None:
        if revision == "head" and not inspect(sync_conn).get_table_names():
            create_at_head(sync_conn)  # checked under the lock below: a worker that waited finds the tables
        else:
            from alembic import command

            cfg = alembic_config()
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


def create_at_head(conn: Connection) -> None:
    """A new, empty database made in one step from the models and stamped at ``HEAD``: the schema that running
    every migration would leave (tests/test_storage.py compares the two, table by table, on both databases), in a
    tenth of the time and without loading Alembic. Later releases upgrade it through the migrations as usual."""
    Base.metadata.create_all(conn)
    VERSION.create(conn)
    conn.execute(VERSION.insert().values(version_num=HEAD))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (None when never migrated): the one row of Alembic's version table."""
    async with engine.connect() as conn:
        return await conn.run_sync(_stored_revision)


def _stored_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()


def head_revision() -> str:
    """The newest revision shipped with the code, as Alembic reads it from the scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head() or ""
