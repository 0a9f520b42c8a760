"""What storage hands the read side: typed records with Python values, and the columns' encodings.

Nothing outside storage/ parses a column's stored form. Two encodings live here:

* ``answers.choices`` and ``responses.draft`` hold option ids comma-joined (ids are
  ``[a-z0-9_]``, so a comma never occurs inside one): ``encode_choices`` / ``decode_choices``,
  and ``choices_include`` for SQL that must test the column without a join;
* times are stored in UTC (SQLite keeps naive text, PostgreSQL timestamptz): every time read
  through here is a timezone-aware UTC ``datetime`` (``as_utc``).

The export streams (``stream_responses``, ``stream_answers``) yield ``ResponseRecord`` and
``AnswerRecord`` lists in response order; ``ResponseSet`` says which responses to read.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, literal, not_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Answer as AnswerRow, Respondent, Response, as_utc

__all__ = [
    "AnswerRecord",
    "ResponseRecord",
    "ResponseSet",
    "as_utc",
    "choices_include",
    "decode_choices",
    "encode_choices",
    "stream_answers",
    "stream_responses",
]

AnySelect = Select[*tuple[Any, ...]]
S = TypeVar("S", bound=AnySelect)


# The choices encoding ------------------------------------------------------------------

_DECODED: dict[str, tuple[str, ...]] = {}
_DECODED_MAX = 4096  # distinct choice combinations are few; bounded whatever odd strings a database holds


def encode_choices(option_ids: Iterable[str]) -> str | None:
    """Option ids as the column stores them: comma-joined, in the given order; None when empty."""
    joined = ",".join(option_ids)
    return joined or None


def decode_choices(value: str | None) -> tuple[str, ...]:
    """The option ids of a stored choices value, in stored order (() for None or empty).

    The result is an immutable tuple shared between equal values: an export decodes 1.4 M
    answers with only a few hundred distinct combinations.
    """
    if not value:
        return ()
    hit = _DECODED.get(value)
    if hit is None:
        hit = tuple(value.split(","))
        if len(_DECODED) < _DECODED_MAX:
            _DECODED[value] = hit
    return hit


def choices_include(option_id: str) -> ColumnElement[bool]:
    """SQL: the answer's stored choices contain ``option_id`` (read from the row itself, no join)."""
    # ',a,b,' LIKE '%,b,%' is exact since ids never contain ','; '_' (LIKE's any-character) is escaped.
    pattern = "%," + option_id.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + ",%"
    return (literal(",") + AnswerRow.choices + literal(",")).like(pattern, escape="\\")


# Which responses a read covers ---------------------------------------------------------


@dataclass(frozen=True)
class ResponseSet:
    """A set of responses as a WHERE clause on ``responses``, its complement, and the size of each.

    Reading the rows of a set through whichever side is shorter is what keeps summaries and
    exports cheap: joining every answer row to its response costs seconds on SQLite.
    """

    where: ColumnElement[bool]
    complement: ColumnElement[bool]
    size: int
    complement_size: int

    @classmethod
    def of(cls, where: ColumnElement[bool], size: int, total: int) -> ResponseSet:
        """The set ``where`` of ``size`` responses out of ``total`` in the table."""
        return cls(where, not_(where), size, total - size)

    def restrict(self, stmt: S, response_id: Any) -> S:
        """``stmt`` limited to rows whose ``response_id`` column is in the set (through the shorter id list)."""
        if self.complement_size == 0:
            return stmt
        if self.size < self.complement_size:
            return stmt.where(response_id.in_(select(Response.id).where(self.where)))
        return stmt.where(response_id.not_in(select(Response.id).where(self.complement)))


# Typed records -------------------------------------------------------------------------


class ResponseRecord(NamedTuple):
    """One response with its respondent's stored key and deep-link source (times aware, UTC)."""

    response_id: int
    status: str
    started_at: datetime
    completed_at: datetime | None
    user_key: str
    source: str | None


class AnswerRecord(NamedTuple):
    """One stored answer: option ids (``"other"`` included) for choices, a number, a text, or a skip."""

    response_id: int
    question_id: str
    option_ids: tuple[str, ...]
    number: int | None
    text: str | None
    other_text: str | None
    skipped: bool


# Streams -------------------------------------------------------------------------------


async def stream_responses(
    conn: AsyncConnection, responses: ResponseSet, size: int
) -> AsyncGenerator[list[ResponseRecord], None]:
    """The responses of the set with their respondents, in response id order, ``size`` at a time."""
    stmt = (
        select(Response.id, Response.status, Response.started_at, Response.completed_at, Respondent.user_key,
               Respondent.source)
        .join(Respondent, Respondent.id == Response.respondent_id)
        .where(responses.where)
        .order_by(Response.id)
    )
    raw = conn.dialect.name == "sqlite"
    parse = datetime.fromisoformat
    async for rows in _stream_rows(conn, stmt, size):
        if raw:  # SQLite's own text, naive UTC "YYYY-MM-DD HH:MM:SS.ffffff"
            yield [
                ResponseRecord(rid, status, parse(started).replace(tzinfo=UTC),
                               parse(completed).replace(tzinfo=UTC) if completed else None, key, source)
                for rid, status, started, completed, key, source in rows
            ]
        else:
            yield [
                ResponseRecord(rid, status, as_utc(started), as_utc(completed), key, source)  # type: ignore[arg-type]
                for rid, status, started, completed, key, source in rows
            ]


async def stream_answers(
    conn: AsyncConnection, responses: ResponseSet, size: int
) -> AsyncGenerator[list[AnswerRecord], None]:
    """The answers of the set's responses, ordered by response id then question id, ``size`` at a time."""
    stmt = select(
        AnswerRow.response_id,
        AnswerRow.question_id,
        AnswerRow.choices,
        AnswerRow.number,
        AnswerRow.text,
        AnswerRow.other_text,
        AnswerRow.skipped,
    ).order_by(AnswerRow.response_id, AnswerRow.question_id)
    stmt = responses.restrict(stmt, AnswerRow.response_id)
    # tuple.__new__ skips the NamedTuple's Python-level __new__: 1.4 M records for a large export.
    new, decode = tuple.__new__, decode_choices
    async for rows in _stream_rows(conn, stmt, size):
        yield [
            new(AnswerRecord, (rid, qid, decode(choices), number, text, other, skipped == 1))
            for rid, qid, choices, number, text, other, skipped in rows
        ]


async def _stream_rows(
    conn: AsyncConnection, stmt: AnySelect, size: int
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """Batches of plain tuples for ``stmt``; on SQLite straight from the driver cursor.

    The answer stream is the bulk of an export (1.4 M rows for 100,000 responses); reading it
    through aiosqlite's own cursor on the same connection (so inside the same read
    transaction) skips SQLAlchemy's per-row work and is about twice as fast. The values are
    then the driver's (times as text, booleans as 0/1), which the streams above convert.
    """
    if conn.dialect.name == "sqlite":
        compiled = stmt.compile(dialect=conn.dialect)
        params = compiled.construct_params()
        args = tuple(params[name] for name in compiled.positiontup or ())
        raw = await conn.get_raw_connection()
        cursor = await raw.driver_connection.execute(str(compiled), args)  # type: ignore[union-attr]
        try:
            while True:
                rows = await cursor.fetchmany(size)
                if not rows:
                    return
                yield rows
        finally:
            await cursor.close()
    result = await conn.stream(stmt.execution_options(yield_per=size))
    async for part in result.partitions():
        yield [tuple(r) for r in part]
