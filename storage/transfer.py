"""Copying a survey database to another one (SQLite to PostgreSQL, or any other way round), ids kept.

The target is migrated first and must be empty; everything is written in one transaction, so a failed
copy leaves the target empty. Rows are streamed in batches, so a large database never sits in memory.
Processed update ids are not copied: they only guard against Telegram redelivering an update for 24 h.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.db import create_engine, is_sqlite, read_only
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Answer, AnswerChoice, AnswerCount, Base, Respondent, Response, SurveyDefinition, SurveyState

# Parents before children, so foreign keys hold after every batch.
COPIED: tuple[Table, ...] = (SurveyDefinition.__table__, SurveyState.__table__, Respondent.__table__, Response.__table__,
                             Answer.__table__, AnswerChoice.__table__, AnswerCount.__table__)


class TransferError(Exception):
    """The copy cannot be made; the message says why in one line."""


async def copy_database(
    src_url: str, dst_url: str, *, batch: int = 5000, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Copy respondents, responses, answers, answer choices and their counts from one database to another; rows per table.

    ``progress`` hears (rows copied, rows in all tables) after every batch.
    """
    if batch < 1:
        raise TransferError("batch must be at least 1")
    if is_sqlite(src_url) and not _sqlite_file_exists(src_url):
        # Opening it would quietly create an empty file instead.
        raise TransferError(f"the source database file does not exist: {make_url(src_url).database}")
    src, dst = create_engine(src_url), create_engine(dst_url)
    # A consistent snapshot of the source even while a bot keeps writing to it: SQLite gives one
    # per read transaction; PostgreSQL needs REPEATABLE READ for it.
    reader = read_only(src) if is_sqlite(src_url) else src.execution_options(isolation_level="REPEATABLE READ")
    try:
        revision = await current_revision(reader)
        if revision != head_revision():
            raise TransferError(f"the source database is at revision {revision}, not {head_revision()}: "
                                "run `surveybot migrate` on it first")
        await upgrade(dst)
        async with reader.connect() as source, dst.begin() as target:
            await _require_empty(target)
            tally = _Tally(progress)
            if progress is not None:
                for table in COPIED:
                    tally.total += await source.scalar(select(func.count()).select_from(table)) or 0
                progress(0, tally.total)
            counts = {table.name: await _copy_table(source, target, table, batch, tally) for table in COPIED}
            await _advance_sequences(target)
        return counts
    finally:
        await src.dispose()
        await dst.dispose()


def _sqlite_file_exists(url: str) -> bool:
    database = make_url(url).database
    return bool(database) and database != ":memory:" and Path(database).is_file()


async def _require_empty(target: AsyncConnection) -> None:
    for table in Base.metadata.sorted_tables:
        if await target.scalar(select(func.count()).select_from(select(table).limit(1).subquery())):
            raise TransferError(f"the target database is not empty (table {table.name} has rows); "
                                "copy into a new, empty database")


class _Tally:
    """Rows copied so far of all tables, told to ``progress``."""

    def __init__(self, progress: Callable[[int, int], None] | None) -> None:
        self.progress, self.done, self.total = progress, 0, 0

    def add(self, rows: int) -> None:
        self.done += rows
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))


async def _copy_table(source: AsyncConnection, target: AsyncConnection, table: Table, batch: int, tally: _Tally) -> int:
    stmt = select(table).order_by(*table.primary_key.columns).execution_options(yield_per=batch)
    copied = 0
    result = await source.stream(stmt)
    async for rows in result.mappings().partitions(batch):
        await target.execute(insert(table), [dict(row) for row in rows])
        copied += len(rows)
        tally.add(len(rows))
    return copied


async def _advance_sequences(target: AsyncConnection) -> None:
    # Rows came with explicit ids, which PostgreSQL's serial sequences did not see: move each past
    # the highest id, or the next new respondent would collide with a copied one.
    if target.dialect.name != "postgresql":
        return
    for table in COPIED:
        pk = list(table.primary_key.columns)
        if len(pk) != 1 or not pk[0].autoincrement or pk[0].name != "id":
            continue
        await target.execute(
            text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                 f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)")
        )
