"""The consent step's SQL: the declines' counter and how many responses agreed.

A decline is one added to a row per survey and consent version; nothing about who declined, or when, is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from storage.models import ConsentDecline, Response

_DECLINES = cast(Table, ConsentDecline.__table__)


def count_decline(conn: Connection, survey_id: str, consent_version: str) -> None:
    """Add one to the survey's consent declines (the counter row is made on the first), in the caller's transaction."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(_DECLINES).values(survey_id=survey_id, consent_version=consent_version, declines=1)
    conn.execute(stmt.on_conflict_do_update(index_elements=["survey_id", "consent_version"],
                                            set_={"declines": _DECLINES.c.declines + 1}))


@dataclass(frozen=True)
class ConsentCounts:
    """Responses that agreed (have a consent version) and declines counted, all consent versions together."""

    agreed: int = 0
    declined: int = 0


async def consent_counts(conn: AsyncConnection, survey_id: str, responses: ColumnElement[bool]) -> ConsentCounts:
    """Of the ``responses`` (a WHERE clause on ``responses``): how many agreed; and the survey's declines."""
    agreed = await conn.scalar(select(func.count()).select_from(Response).where(
        responses, Response.consent_version.is_not(None))) or 0
    declined = await conn.scalar(select(func.coalesce(func.sum(_DECLINES.c.declines), 0)).where(
        _DECLINES.c.survey_id == survey_id)) or 0
    return ConsentCounts(int(agreed), int(declined))
