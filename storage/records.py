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

The export stream ``stream_responses`` yields ``ResponseBatch`` es; ``ResponseBatch.each`` gives each response as a
``ResponseRecord`` with what an ``AnswerMemo`` made of its answers (each distinct stored answer decoded once into an
``AnswerRecord`` and handed to the memo's function); ``ResponseSet`` says which responses to read.
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import ColumnElement, Select, literal, not_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import Answer as AnswerRow, Respondent, Response, as_utc

__all__ = [
    "AnswerMemo",
    "AnswerRecord",
    "ResponseBatch",
    "ResponseRecord",
    "ResponseSet",
    "as_utc",
    "choices_include",
    "decode_choices",
    "encode_choices",
    "order_seed",
    "read_times",
    "stream_responses",
]

AnySelect = Select[*tuple[Any, ...]]
S = TypeVar("S", bound=AnySelect)
V = TypeVar("V")


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
    survey_version: int | None = None  # the questionnaire version it was taken in
    current_question: str | None = None  # where a response not completed stopped
    consent_version: str | None = None  # the consent text agreed to; None before consent was kept


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

    The rows are turned into records only in ``each``, in the caller's thread: an export calls it in its
    worker thread, so the event loop only waits on the database.
    """

    __slots__ = ("_answers", "_responses", "_sqlite")

    def __init__(self, responses: list[tuple[Any, ...]], answers: list[tuple[Any, ...]], *, sqlite: bool):
        self._responses, self._answers, self._sqlite = responses, answers, sqlite

    def __len__(self) -> int:
        return len(self._responses)

    def each(self, memo: AnswerMemo[V]) -> Iterator[tuple[ResponseRecord, list[V]]]:
        """Each response in id order with what ``memo`` makes of each of its answers (in stored order: by question id).

        The single pass of an export: the reader's value of an answer (its cells, already formatted) is made once
        per distinct stored answer and then looked up by the stored row, so the 1.4 M answers of 100,000
        responses cost a dictionary look-up each instead of a record and a formatting each.
        """
        answers = self._answers
        seen, limit = memo.seen, memo.limit
        # Keyed by the stored answer without its response id; sliced and looked up in C (a third faster than a
        # list of keys made in Python first).
        values: list[V | None] = list(map(seen.get, map(_WITHOUT_OWNER, answers)))
        if None in values:
            new, decode, of = tuple.__new__, decode_choices, memo.of
            for i, value in enumerate(values):
                if value is None:
                    qid, choices, number, text, other, skipped, order = key = answers[i][1:]
                    value = values[i] = of(new(AnswerRecord, (qid, decode(choices), number, text, other, skipped == 1,
                                                              decode(order))))
                    if len(seen) < limit:
                        seen[key] = value
        owners = list(map(_OWNER, answers))
        time = _sqlite_time if self._sqlite else as_utc
        new_record, right = tuple.__new__, bisect.bisect_right
        j = 0
        for rid, status, started, completed, key, source, language, version, current, consent in self._responses:
            j = bisect.bisect_left(owners, rid, j)  # past answers of a response outside the batch (none with one filter)
            end = right(owners, rid, j)
            yield (new_record(ResponseRecord, (rid, status, time(started), time(completed), key, source, language,
                                               version, current, consent)),
                   values[j:end])  # type: ignore[misc]  # every None was filled above
            j = end


_OWNER = operator.itemgetter(0)
_WITHOUT_OWNER = operator.itemgetter(slice(1, None))


class AnswerMemo(Generic[V]):
    """What a reader makes of each distinct stored answer (``of``), kept per stored form for ``ResponseBatch.each``.

    Bounded (``limit`` distinct answers: typed texts mostly differ, and are simply made again past it); one memo
    serves every batch of a read.
    """

    __slots__ = ("limit", "of", "seen")

    def __init__(self, of: Callable[[AnswerRecord], V], limit: int = 65_536):
        self.of, self.limit = of, limit
        self.seen: dict[tuple[Any, ...], V] = {}


def _sqlite_time(value: str | None) -> datetime | None:
    # SQLite's own text: naive UTC "YYYY-MM-DD HH:MM:SS.ffffff". Read with its zone appended: five times
    # cheaper than .replace(tzinfo=UTC) afterwards (two times in each of 100,000 rows of an export).
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value + "+00:00")
    except ValueError:  # a text that carries its own offset
        return as_utc(datetime.fromisoformat(value))


async def stream_responses(
    conn: AsyncConnection, responses: ResponseSet, *, batch_size: int = 2_000, answer_batch_size: int = 20_000,
    ids: tuple[int | None, int | None] = (None, None),
) -> AsyncGenerator[ResponseBatch, None]:
    """The set's responses with their respondents' key and source and all their answers, in id order.

    Two streams read side by side in the caller's transaction (responses, and answers ordered by
    response then question), cut into batches of about ``batch_size`` whole responses. ``ids``: only response ids
    from the first (included) to the second (excluded), either end open when None — a range of the answers' index,
    which is how a split export (analytics.split) reads its part.
    """
    response_rows = (
        select(Response.id, Response.status, Response.started_at, Response.completed_at, Respondent.user_key,
               Respondent.source, Respondent.language, Response.survey_version, Response.current_question,
               Response.consent_version)
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
    first, end = ids
    if first is not None:
        response_rows = response_rows.where(Response.id >= first)
        answer_rows = answer_rows.where(AnswerRow.response_id >= first)
    if end is not None:
        response_rows = response_rows.where(Response.id < end)
        answer_rows = answer_rows.where(AnswerRow.response_id < end)
    sqlite = conn.dialect.name == "sqlite"
    response_parts = _stream_rows(conn, response_rows, batch_size)
    answer_parts = _stream_rows(conn, answer_rows, answer_batch_size)
    pending: list[tuple[Any, ...]] = []
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
            yield ResponseBatch(batch, pending[:cut], sqlite=sqlite)
            pending = pending[cut:]
    finally:
        await answer_parts.aclose()
        await response_parts.aclose()


async def read_times(conn: AsyncConnection, stmt: AnySelect) -> list[tuple[Any, ...]]:
    """Every row of ``stmt`` as a plain tuple, its last two columns read as aware UTC times.

    For the big reads of the quality rules (a response's start and end, an answer's shown and answered times, for
    every response of a survey): on SQLite straight from the driver, the times parsed here with their zone
    appended — SQLAlchemy's per-row processing of 100,000 responses' times took a second.
    """
    time = _sqlite_time if conn.dialect.name == "sqlite" else as_utc
    out: list[tuple[Any, ...]] = []
    async for part in _stream_rows(conn, stmt, 5_000):  # each part's times parsed in ~10 ms of the loop
        out += [(*row[:-2], time(row[-2]), time(row[-1])) for row in part]
    return out


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
