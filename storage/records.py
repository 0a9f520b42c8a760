"""What storage hands the read side: typed records with Python values, and the columns' encodings.

Nothing outside storage/ parses a column's stored form. Two encodings live here:

* ``answers.choices``, ``answers.option_order`` (the order the buttons were shown in) and
  ``responses.draft`` hold option ids comma-joined (ids are ``[a-z0-9_]``, so a comma never occurs
  inside one): ``encode_choices`` / ``decode_choices``, and ``choices_include`` for SQL that must test
  the column without a join;
* ``responses.order_seed`` is the seed of a response's random orders; ``order_seed`` reads it (a response
  started before it existed uses its own id, so its orders stay the same on every read);
* times are stored in UTC (SQLite keeps naive text, PostgreSQL timestamptz): every time read
  through here is a timezone-aware UTC ``datetime`` (``as_utc``).

The export stream ``stream_responses`` yields ``ResponseBatch`` es: each response as a
``ResponseRecord`` with its answers as ``AnswerRecord`` s; ``ResponseSet`` says which responses to read.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncGenerator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, literal, not_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Answer as AnswerRow, Respondent, Response, as_utc

__all__ = [
    "AnswerRecord",
    "ResponseBatch",
    "ResponseRecord",
    "ResponseSet",
    "as_utc",
    "choices_include",
    "decode_choices",
    "encode_choices",
    "order_seed",
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


def order_seed(stored: int | None, response_id: int) -> int:
    """The seed of a response's random orders: the stored one, or its id for responses started before seeds."""
    return response_id if stored is None else stored


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
    """One response with its respondent's stored key, deep-link source and language (times aware, UTC)."""

    response_id: int
    status: str
    started_at: datetime
    completed_at: datetime | None
    user_key: str
    source: str | None
    language: str | None  # respondents.language: None for rows stored before languages existed


class AnswerRecord(NamedTuple):
    """One stored answer of a response: option ids (``"other"`` included) for choices, a number, a text, or a skip.

    Equal answers of different responses may be one shared object (records are immutable).
    """

    question_id: str
    option_ids: tuple[str, ...]
    number: int | None
    text: str | None
    other_text: str | None
    skipped: bool
    order: tuple[str, ...] = ()  # the option ids in the order shown, when shown in random order


# Streams -------------------------------------------------------------------------------


class ResponseBatch:
    """Consecutive responses (by id) with every answer they have, as read from the database.

    The rows are turned into records only when the batch is iterated, in the caller's thread: an
    export iterates it in its worker thread, so the event loop only waits on the database, and
    the conversion of 1.4 M answers does not fight the formatting thread for the GIL.
    """

    __slots__ = ("_answers", "_responses", "_shared", "_sqlite")

    def __init__(self, responses: list[tuple[Any, ...]], answers: list[tuple[Any, ...]], *, sqlite: bool,
                 shared: dict[tuple[Any, ...], AnswerRecord] | None = None):
        """``shared``: the records already made from equal rows, kept by the caller for one stream (its
        batches share it) and dropped with it; None: this batch's own."""
        self._responses, self._answers, self._sqlite = responses, answers, sqlite
        self._shared = {} if shared is None else shared

    def __len__(self) -> int:
        return len(self._responses)

    def __iter__(self) -> Iterator[tuple[ResponseRecord, dict[str, AnswerRecord]]]:
        """Each response in id order with its answers by question id."""
        # A large export reads 1.4 M answers, and making a record costs more than formatting it; but
        # most answers repeat (a handful of options per question), so equal rows share one record.
        # The table of shared records lives as long as the stream, never longer: kept across exports it
        # grew with every new distinct answer (free texts, numbers) and its entries, made in the middle of
        # each export's short-lived objects, pinned their memory, so the process's RSS rose with each export
        # (issue 24's soak).
        # tuple.__new__ skips the NamedTuples' Python-level __new__.
        new, decode, answers, shared = tuple.__new__, decode_choices, self._answers, self._shared
        time = _sqlite_time if self._sqlite else as_utc
        j, total = 0, len(answers)
        for rid, status, started, completed, key, source, language in self._responses:
            while j < total and answers[j][0] < rid:
                j += 1  # answers of a response outside the batch (cannot happen with the same filter)
            mine: dict[str, AnswerRecord] = {}
            while j < total and answers[j][0] == rid:
                row = answers[j][1:]
                record = shared.get(row)
                if record is None:
                    qid, choices, number, text, other, skipped, order = row
                    record = new(AnswerRecord, (qid, decode(choices), number, text, other, skipped == 1,
                                                decode(order)))
                    if len(shared) >= _SHARED_MAX:
                        shared.clear()
                    shared[row] = record
                mine[record[0]] = record
                j += 1
            yield new(ResponseRecord, (rid, status, time(started), time(completed), key, source, language)), mine


_SHARED_MAX = 65_536  # records shared within one stream; a table this full starts again


def _sqlite_time(value: str | None) -> datetime | None:
    # SQLite's own text: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff".
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


async def stream_responses(
    conn: AsyncConnection, responses: ResponseSet, *, batch_size: int = 2_000, answer_batch_size: int = 20_000
) -> AsyncGenerator[ResponseBatch, None]:
    """The set's responses with their respondents' key and source and all their answers, in id order.

    Two streams read side by side in the caller's transaction (responses, and answers ordered by
    response then question), cut into batches of about ``batch_size`` whole responses.
    """
    response_rows = (
        select(Response.id, Response.status, Response.started_at, Response.completed_at, Respondent.user_key,
               Respondent.source, Respondent.language)
        .join(Respondent, Respondent.id == Response.respondent_id)
        .where(responses.where)
        .order_by(Response.id)
    )
    answer_rows = select(
        AnswerRow.response_id,
        AnswerRow.question_id,
        AnswerRow.choices,
        AnswerRow.number,
        AnswerRow.text,
        AnswerRow.other_text,
        AnswerRow.skipped,
        AnswerRow.option_order,
    ).order_by(AnswerRow.response_id, AnswerRow.question_id)
    answer_rows = responses.restrict(answer_rows, AnswerRow.response_id)
    sqlite = conn.dialect.name == "sqlite"
    response_parts = _stream_rows(conn, response_rows, batch_size)
    answer_parts = _stream_rows(conn, answer_rows, answer_batch_size)
    pending: list[tuple[Any, ...]] = []
    shared: dict[tuple[Any, ...], AnswerRecord] = {}  # this stream's batches' shared records (ResponseBatch)
    exhausted = False
    try:
        async for batch in response_parts:
            last_id = batch[-1][0]
            # Pull answers until every answer of this batch's responses is in hand.
            while not exhausted and (not pending or pending[-1][0] <= last_id):
                try:
                    pending.extend(await answer_parts.__anext__())
                except StopAsyncIteration:
                    exhausted = True
            cut = bisect.bisect_right(pending, last_id, key=_first)
            yield ResponseBatch(batch, pending[:cut], sqlite=sqlite, shared=shared)
            pending = pending[cut:]
    finally:
        await answer_parts.aclose()
        await response_parts.aclose()


def _first(row: tuple[Any, ...]) -> Any:
    return row[0]


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
        # render_postcompile: IN lists of literal ids (a resolved quality= filter) become part of the text.
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
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
