"""Raw-data exports: one row per response, as CSV (UTF-8 with BOM) or XLSX.

Columns, in order: the response-level ones (``respondent`` — the Telegram id, or its keyed hash when
ANONYMOUS=true — ``response_id``, ``status``, ``started_at``, ``completed_at``, ``duration_seconds``,
``last_question``, ``survey_version``, ``source``, ``language``, ``skipped_questions``), then each question's, then
``consent_version``, the seconds each question took (``<qid>__seconds``) and the data-quality flags
(``quality_*``, analytics.quality); what each holds and how answers are coded (option numbers, 0/1 flags,
ISO 8601 times in TIMEZONE) is ``analytics.codebook``, whose codebook goes beside every export. Responses
stored before consent and timings were kept have those cells empty.

Empty cells mean "no answer": a skipped question (listed in ``skipped_questions``) or one
the respondent never reached. The 0/1 columns are empty too in both cases, so a 0 always
means "answered the question, did not pick this option". Partial responses are included
(status ``in_progress``) unless ``completed_only``.

Formula injection: in CSV a text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or CR is
written with a leading ``'`` (analytics.cells); numbers are written as numbers.

Rows are streamed from SQL in response order and written one response at a time
(XLSX with xlsxwriter's ``constant_memory`` mode), so 100,000 responses fit in little
memory; the formatting of each batch runs in a worker thread to keep the event loop free. A large CSV export is
written by two processes, each reading half of the rows in one shared snapshot (analytics.split).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO, TypeVar, assert_never
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from analytics.cells import neutralize, neutralize_optional, verbatim, workbook, write_row
from analytics.codebook import DEFAULT_TIMEZONE, TYPE_NAMES, codebook_rows, option_codes, order_column, quality_columns
from analytics.filters import Filter, resolve_filter
from analytics.quality import Flag, QualityReport, QualityRules, read_quality
from analytics.split import SPLIT_MIN_ROWS, Confirm, Lower, Upper, split_point, split_range, worth_splitting
from analytics.summary import Summary, as_float, build_summary
from storage.db import read_only
from storage.models import COMPLETED, Response
from storage.records import AnswerMemo, AnswerRecord, ResponseBatch, ResponseRecord, ResponseSet, stream_responses
from survey.i18n import Translator, translator
from survey.model import OTHER, Question, QuestionType, Survey
from survey.randomize import randomized

RESPONSE_BATCH = 2_000
ANSWER_BATCH = 5_000
BASE_COLUMNS = ["respondent", "response_id", "status", "started_at", "completed_at", "duration_seconds", "last_question",
                "survey_version", "source", "language", "skipped_questions"]

Out = BinaryIO | str | Path
# Called as rows are written: (rows done, rows in all). From the export's worker thread: it must only record the
# figures (a terminal bar, or a value a chat note reads on the bot's own loop), never touch an event loop.
Progress = Callable[[int, int], None]


# Columns and row assembly ---------------------------------------------------------------


Cells = list[object]


def _question_columns(
    survey: Survey, q: Question, as_text: bool = False, guard: bool = True
) -> tuple[list[str], Callable[[AnswerRecord | None], Cells]]:
    """Column names of one question and a function turning its answer row into cells.

    ``guard``: text cells get the formula guard (CSV); XLSX and SPSS cells are never formulas, so
    their text stays exactly as typed. Single-choice codes are numbers (analytics.codebook).
    """
    neutralize_ = neutralize if guard else verbatim
    optional = neutralize_optional if guard else verbatim

    qid = q.id
    # The exports' one dispatch on the question type (CSV, XLSX and SAV share it); a type without a case
    # fails loudly (assert_never) instead of being written as text.
    match q.type:
        case QuestionType.SINGLE:
            codes = option_codes(q)
            code_cell = (lambda c: str(c)) if as_text else (lambda c: c)
            cells_of = {o.id: [neutralize_(o.text), code_cell(codes[o.id])] for o in q.options}
            if q.other_allowed:
                cells_of[OTHER] = [neutralize_(survey.other_label(q)), code_cell(codes[OTHER])]
            cols = [qid, f"{qid}__code"] + ([f"{qid}__other"] if q.other_allowed else [])
            empty = [None] * len(cols)
            with_other = q.other_allowed

            def single(a: AnswerRecord | None) -> Cells:
                if a is None or a.skipped or not a.option_ids:
                    return empty
                code = a.option_ids[0]
                # An id the questionnaire no longer has (an edited file): its id as label, no code.
                cells = cells_of.get(code) or [neutralize_(code), None]
                if with_other:
                    return [*cells, optional(a.other_text) if code == OTHER else None]
                return cells

            return cols, single
        case QuestionType.MULTIPLE:
            ids = q.option_ids + ([OTHER] if q.other_allowed else [])
            position = {o: i for i, o in enumerate(ids)}
            labels = [o.text for o in q.options] + ([survey.other_label(q)] if q.other_allowed else [])
            flag_cols = [f"{qid}__{o}" for o in q.option_ids] + ([f"{qid}__other_selected"] if q.other_allowed else [])
            cols = [qid, *flag_cols] + ([f"{qid}__other"] if q.other_allowed else [])
            empty = [None] * len(cols)
            # CSV gets the 0/1 flags as text: the csv module writes str cells ~20 % faster than ints.
            zero, one = ("0", "1") if as_text else (0, 1)
            zeros = [zero] * len(ids)
            with_other = q.other_allowed

            # The label and 0/1 cells depend only on the chosen ids, and a question has few distinct
            # combinations: computed once each (a third of a 100k-row export's formatting).
            cache: dict[tuple[str, ...], tuple[Cells, bool]] = {}

            def cells_for(choices: tuple[str, ...]) -> tuple[Cells, bool]:
                picked = sorted(position[o] for o in choices if o in position)
                flags = zeros.copy()
                for i in picked:
                    flags[i] = one
                return [neutralize_("; ".join([labels[i] for i in picked])), *flags], bool(with_other and flags[-1] == one)

            def multiple(a: AnswerRecord | None) -> Cells:
                if a is None or a.skipped or not a.option_ids:
                    return empty
                choices = a.option_ids
                hit = cache.get(choices)
                if hit is None:
                    hit = cells_for(choices)
                    if len(cache) < 4096:  # bounded, whatever odd strings the database holds
                        cache[choices] = hit
                cells, other_picked = hit
                if with_other:
                    return [*cells, optional(a.other_text) if other_picked else None]
                return cells

            return cols, multiple
        case QuestionType.SCALE | QuestionType.NUMBER:
            return [qid], lambda a: [None if a is None or a.skipped or a.number is None else int(a.number)]
        case QuestionType.TEXT:
            def text(a: AnswerRecord | None) -> Cells:
                if a is None or a.skipped:
                    return [None]
                # A number stored before the question became a text question (an accepted type change) is
                # written as it was given, not left out.
                return [optional(a.text if a.text is not None or a.number is None else str(a.number))]

            return [qid], text
        case _ as unreachable:
            assert_never(unreachable)


def _order_columns(
    survey: Survey, q: Question, cols: list[str], build: Callable[[AnswerRecord | None], Cells]
) -> tuple[list[str], Callable[[AnswerRecord | None], Cells]]:
    """A question shown in random order gets ``<qid>_order``: its option ids in the order shown, comma-joined
    (analytics.codebook ``order_variable``); empty for answers stored before the order was recorded."""
    if not randomized(survey, q):
        return cols, build

    def with_order(a: AnswerRecord | None) -> Cells:
        return [*build(a), ",".join(a.order) if a is not None and a.order else None]

    return [*cols, order_column(q)], with_order


C = TypeVar("C")  # a slot's cells: a list of cell values (XLSX, SAV) or encoded CSV text


def placed(empty: list[C], answers: Iterable[tuple[int, C, bool]]) -> tuple[list[C], list[int]]:
    """A response's answer slots — a copy of ``empty`` with each answer's cells in its question's slot — and the
    slots of its skipped answers (the XLSX/SAV rows and the CSV lines both start from them)."""
    slots = empty.copy()
    skipped: list[int] = []
    for i, cells, skip in answers:
        slots[i] = cells
        if skip:
            skipped.append(i)
    return slots, skipped


class IsoTimes:
    """ISO 8601 text to the second, with the offset, of aware times in one zone — as ``astimezone(zone)
    .isoformat(timespec="seconds")`` writes it, made once per minute: an export writes two times in each of its rows,
    and the times of consecutive responses share their minute."""

    SECONDS = tuple(f"{s:02d}" for s in range(60))

    def __init__(self, zone: ZoneInfo):
        self.zone = zone
        self.minutes: dict[int, tuple[str, str]] = {}  # minute since the epoch -> (text up to the seconds, offset)

    def __call__(self, value: datetime) -> str:
        minute = (value - _EPOCH) // _MINUTE  # exact, before 1970 too
        hit = self.minutes.get(minute)
        if hit is None:
            local = value.astimezone(self.zone)
            text = local.isoformat(timespec="seconds")
            start = value.replace(second=0, microsecond=0)
            # Only where the whole minute has one whole-minute offset (zone changes fall on whole minutes today;
            # old local mean times had odd seconds): otherwise this time's own text.
            offset = local.utcoffset()
            if offset is None or offset.seconds % 60 or (start + _LAST_SECOND).astimezone(self.zone).utcoffset() != offset \
                    or start.astimezone(self.zone).utcoffset() != offset:
                return text
            if len(self.minutes) >= 65_536:
                self.minutes.clear()
            hit = self.minutes[minute] = (text[:17], text[19:])
        return hit[0] + self.SECONDS[value.second] + hit[1]


_LAST_SECOND = timedelta(seconds=59, microseconds=999_999)
_MINUTE = timedelta(minutes=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Rows:
    """Turns a response and its answers into one list of cells.

    The cells of each question are made once per distinct stored answer (``storage.records.AnswerMemo``): a
    100,000-row export has ~1.4 M answers but only a few thousand distinct ones.
    """

    def __init__(self, survey: Survey, pseudonymize: Callable[[str], str] | None, as_text: bool = False,
                 guard: bool = True, tz_name: str = DEFAULT_TIMEZONE):
        self.pseudonymize = pseudonymize
        # A response stored before respondents had a language was taken in the questionnaire's default one.
        self.default_language = survey.default_language
        self.as_text = as_text  # CSV wants times as text, XLSX real datetimes
        self.safe = neutralize_optional if guard else verbatim
        self.tz = ZoneInfo(tz_name)
        self.iso = IsoTimes(self.tz)
        self.quality: QualityReport | None = None  # filled by _stream
        self.parts = [(q.id, *_order_columns(survey, q, *_question_columns(survey, q, as_text, guard)))
                      for q in survey.questions]
        self.question_ids = [q.id for q in survey.questions]
        self.columns = BASE_COLUMNS + [c for _, cols, _ in self.parts for c in cols] + quality_columns(survey)
        self.position = {qid: i for i, qid in enumerate(self.question_ids)}
        # Each question's cells when it has no answer; one more slot takes answers to questions the
        # questionnaire no longer has (not exported).
        self.empty: list[Cells] = [build(None) for _, _, build in self.parts] + [[]]
        self.memo = AnswerMemo(self.answer_cells)

    def answer_cells(self, answer: AnswerRecord) -> tuple[int, Cells, bool]:
        """(the question's position, its cells, whether it was skipped) of one stored answer."""
        i = self.position.get(answer.question_id)
        if i is None:
            return len(self.parts), [], False
        return i, self.parts[i][2](answer), answer.skipped

    def _time(self, value: datetime | None) -> datetime | str | None:
        """An aware UTC time in TIMEZONE: ISO 8601 text with the offset (CSV), or a naive local time (XLSX cells
        have no zone; the header says which), or an aware time (DataFrame)."""
        if value is None:
            return None
        if self.as_text:
            return self.iso(value)
        local = value.astimezone(self.tz)
        return local.replace(tzinfo=None) if self.naive else local

    naive = True

    def base(self, response: ResponseRecord, skipped: list[int]) -> Cells:
        """The response-level cells of one response (BASE_COLUMNS); ``skipped``: positions of its skipped questions."""
        rid, status, started_at, completed_at, key, source, language, version, current, _consent = response
        if self.pseudonymize is not None:
            key = self.pseudonymize(key)
        duration = None
        if completed_at is not None and started_at is not None and status == COMPLETED:
            duration = int((completed_at - started_at).total_seconds())
        if len(skipped) > 1:
            skipped.sort()
        return [
            self.safe(key),
            rid,
            status,
            self._time(started_at),
            self._time(completed_at),
            (str(duration) if self.as_text else duration) if duration is not None else None,
            current if status != COMPLETED else None,
            (str(version) if self.as_text else version) if version is not None else None,
            self.safe(source),
            language or self.default_language,
            "; ".join([self.question_ids[i] for i in skipped]) or None,
        ]

    def tail(self, rid: int, consent: str | None) -> Cells:
        """The cells after the questions: the consent version, the seconds per question and the flags
        (analytics.quality); empty where a rule cannot judge, and for responses stored before they were kept."""
        judged = self.quality.responses.get(rid) if self.quality is not None else None
        if judged is None:
            return [self.safe(consent)] + [None] * (len(self.question_ids) + 6)
        num = self._number
        seconds = [num(round(judged.seconds[qid], 1)) if qid in judged.seconds else None for qid in self.question_ids]
        fast_share = None if judged.fast_share is None else num(round(judged.fast_share, 3))
        fast = None if judged.fast_share is None else num(int(Flag.FAST_ANSWERS in judged.flags))
        return [self.safe(consent), *seconds, "; ".join(judged.flags) or None,
                None if judged.speeder is None else num(int(judged.speeder)),
                fast_share, fast, None if judged.straightlining is None else num(int(judged.straightlining)),
                num(int(judged.duplicate_text))]

    def _number(self, value: float) -> object:
        return str(value) if self.as_text else value

    def batch(self, batch: ResponseBatch) -> list[Cells]:
        """Rows of a batch of responses (read into records here, in the caller's thread)."""
        out: list[Cells] = []
        base, tail, empty = self.base, self.tail, self.empty
        for response, answers in batch.each(self.memo):
            slots, skipped = placed(empty, answers)
            row = base(response, skipped)
            for cells in slots:
                row += cells  # the last slot (answers to removed questions) is always empty
            row += tail(response[0], response[-1])
            out.append(row)
        return out


class _CsvLines:
    """The CSV text of export rows, exactly as ``csv.writer`` writes them (excel dialect, QUOTE_MINIMAL).

    A question's answers repeat (a few options, a few scale points), so the CSV text of each question's cells is
    made once per distinct stored answer (``storage.records.AnswerMemo``) and reused: a 100,000-row export formats
    ~1.4 M answers from a few thousand distinct ones. The response-level cells (ids, times) are different in every
    row and encoded each time; the quality cells of responses without timings repeat and are encoded once.
    """

    def __init__(self, rows: _Rows, delimiter: str):
        self.rows, self.delimiter = rows, delimiter
        self._special = (delimiter, '"', "\r", "\n")
        self.header = self.line(rows.columns)
        join, field = delimiter.join, self.field
        self.empty = [join([field(c) for c in cells]) for cells in rows.empty]

        def encode(answer: AnswerRecord) -> tuple[int, str, bool]:
            i, cells, skipped = rows.answer_cells(answer)
            return i, join([field(c) for c in cells]), skipped

        self.memo = AnswerMemo(encode)
        self._tails: dict[tuple[object, ...], str] = {}
        self._repeated: dict[tuple[object, ...], tuple[str, str]] = {}

    def field(self, value: object) -> str:
        """One cell as csv.writer writes it: None empty, numbers by str(), a text quoted when it must be."""
        if value is None:
            return ""
        text = value if isinstance(value, str) else str(value)
        for c in self._special:
            if c in text:
                return '"' + text.replace('"', '""') + '"'
        return text

    def line(self, cells: Cells) -> str:
        """A whole row (an empty single cell is quoted, as csv.writer does, so the line is not blank)."""
        if len(cells) == 1 and cells[0] in ("", None):
            return '""\r\n' if cells[0] == "" else "\r\n"
        return self.delimiter.join([self.field(c) for c in cells]) + "\r\n"

    def tail(self, rid: int, consent: str | None) -> str:
        """The encoded ``_Rows.tail`` of a response; the same for every response without timings and with the same
        flags and consent, so those are encoded once."""
        rows = self.rows
        judged = rows.quality.responses.get(rid) if rows.quality is not None else None
        key: tuple[object, ...] | None = None
        if judged is None or not judged.seconds:
            # (fast share, speeder, straightlining, duplicate text, flags): what the tail shows besides timings
            key = (consent,) if judged is None else (consent, *judged[3:])
            hit = self._tails.get(key)
            if hit is not None:
                return hit
        field = self.field
        text = self.delimiter.join([field(c) for c in rows.tail(rid, consent)])
        if key is not None and len(self._tails) < 4096:
            self._tails[key] = text
        return text

    def text(self, batch: ResponseBatch) -> str:
        """The CSV lines of a batch of responses (the cells of ``_Rows.base``, the ``placed`` answers and ``tail``)."""
        field, join, base, tail, empty = self.field, self.delimiter.join, self.rows.base, self.tail, self.empty
        repeated = self._repeated
        out: list[str] = []
        for response, answers in batch.each(self.memo):
            slots, skipped = placed(empty, answers)
            slots[-1] = tail(response[0], response[-1])  # the slot of removed questions' answers is never written
            cells = base(response, skipped)
            # Status, last question, version, source, language and skips repeat from row to row: encoded once each.
            same = (cells[2], *cells[6:])
            encoded = repeated.get(same)
            if encoded is None:
                encoded = field(cells[2]), join([field(c) for c in cells[6:]])
                if len(repeated) < 4096:
                    repeated[same] = encoded
            # Ids, times and durations never hold a delimiter, a quote or a line break: written as they are.
            out.append(join((field(cells[0]), str(cells[1]), encoded[0], cells[3] or "", cells[4] or "",
                             cells[5] or "", encoded[1], *slots)))
        out.append("")
        return "\r\n".join(out)


@dataclass
class _Streamed:
    """What ``_stream`` read: the rows in all, this process's, and where a split export cut them (analytics.split)."""

    total: int = 0
    done: int = 0
    split: Lower | None = None  # the worker still to wait for, if the export was split
    at: int | None = None


async def _stream(
    engine: AsyncEngine,
    survey: Survey,
    completed_only: bool,
    rows: _Rows,
    sink: Callable[[ResponseBatch], None],
    where: Filter | None = None,
    progress: Progress | None = None,
    quality_rules: QualityRules | None = None,
    split: Lower | Upper | None = None,
) -> _Streamed:
    """Feed ``sink`` the responses in order, a batch at a time, in a worker thread (where the sink turns them into
    rows with ``rows``); ``progress`` hears (rows done, rows in all) before the first batch and after each;
    ``quality_rules``: the thresholds of the quality flags (analytics.quality); ``split``: this process's side of a
    split export (only its part of the rows is read; both sides read one snapshot)."""
    unresolved, engine = where, read_only(engine)
    if engine.dialect.name == "postgresql":  # every read of the export in one snapshot, as on SQLite
        engine = engine.execution_options(isolation_level="REPEATABLE READ")
    streamed = _Streamed()
    while True:  # a second time only when a split export's snapshot must start again (analytics.split.Confirm)
        async with engine.begin() as conn:
            if split is not None and not await split.pin(conn):
                split = None  # SQLite's write lock was busy: this process writes every row
            in_survey = Response.survey_id == survey.id
            where = await resolve_filter(conn, survey, unresolved)  # quality= conditions: read in this snapshot
            if where is not None:
                in_survey = and_(in_survey, where.predicate())
            counted = and_(in_survey, Response.status == COMPLETED) if completed_only else in_survey
            n_counted = await conn.scalar(select(func.count()).select_from(Response).where(counted)) or 0
            n_total = await conn.scalar(select(func.count()).select_from(Response)) or 0
            rules = quality_rules or (where.quality_rules if where is not None else None)
            # The flags judge every response of the survey (a split export's worker is handed this process's report).
            shared = await split.shared_quality() if split is not None else None
            rows.quality = shared or await read_quality(conn, survey, rules)
            if split is not None:
                confirmed = await split.confirm(rows.quality)
                match confirmed:
                    case Confirm.SPLIT:
                        pass
                    case Confirm.ALONE:
                        split = None
                    case Confirm.AGAIN:
                        continue
                    case _ as unreachable:
                        assert_never(unreachable)
            await _stream_part(conn, streamed, split, counted, n_counted, n_total, sink, progress)
        return streamed


async def _stream_part(
    conn: AsyncConnection,
    streamed: _Streamed,
    split: Lower | Upper | None,
    counted: ColumnElement[bool],
    n_counted: int,
    n_total: int,
    sink: Callable[[ResponseBatch], None],
    progress: Progress | None,
) -> None:
    """The second half of ``_stream``: this process's part of the ``counted`` responses, batch by batch, to ``sink``."""
    streamed.total = n_counted
    ids: tuple[int | None, int | None] = (None, None)
    others: Callable[[], int] = int  # rows the other side of a split export has written (0)
    wrote: Callable[[int], None] | None = None  # a split export's worker reports its rows to the exporter
    if split is not None:
        streamed.at = await split_point(conn, counted, n_counted)
        ids = split_range(split.upper, streamed.at)
        split.told(streamed.at, n_counted)
        match split:
            case Lower():
                streamed.split, others = split, split.others
            case Upper():
                wrote = split.wrote
            case _ as unreachable:
                assert_never(unreachable)
    if progress is not None:
        progress(0, n_counted)

    def write(batch: ResponseBatch) -> None:
        sink(batch)
        streamed.done += len(batch)
        if wrote is not None:
            wrote(streamed.done)
        if progress is not None:
            progress(streamed.done + others(), n_counted)
    batches = stream_responses(
        conn, ResponseSet.of(counted, n_counted, n_total), batch_size=RESPONSE_BATCH, answer_batch_size=ANSWER_BATCH,
        ids=ids,
    )
    writing: asyncio.Future[None] | None = None
    try:
        async for batch in batches:
            # Format this batch in a worker thread while the database reads the next one;
            # awaiting the previous batch first keeps the rows in order.
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(asyncio.to_thread(write, batch))
        if writing is not None:
            await writing
    finally:
        if writing is not None and not writing.done():
            await asyncio.wait([writing])
        await batches.aclose()


# CSV ------------------------------------------------------------------------------------


async def export_csv(
    engine: AsyncEngine,
    survey: Survey,
    out: Out,
    *,
    completed_only: bool = False,
    pseudonymize: Callable[[str], str] | None = None,
    where: Filter | None = None,
    delimiter: str = ",",
    tz_name: str = DEFAULT_TIMEZONE,
    quality_rules: QualityRules | None = None,
    progress: Progress | None = None,
    split_min_rows: int | None = SPLIT_MIN_ROWS,
    split: Upper | None = None,
) -> int:
    """Write the raw data as CSV (UTF-8 with BOM) to a binary stream or a path; returns the row count.

    ``delimiter``: ``;`` for Excel in a Russian locale; ``tz_name``: the zone of the ISO 8601 times;
    ``progress``: hears (rows done, rows in all) as the rows are written; ``split_min_rows``: from how many
    responses a worker process writes half the rows (analytics.split; None: never); ``split``: set in that worker.
    """
    if isinstance(out, (str, Path)):
        with open(out, "wb") as fh:
            return await export_csv(
                engine, survey, fh, completed_only=completed_only, pseudonymize=pseudonymize, where=where,
                delimiter=delimiter, tz_name=tz_name, quality_rules=quality_rules, progress=progress,
                split_min_rows=split_min_rows, split=split,
            )
    rows = _Rows(survey, pseudonymize, as_text=True, tz_name=tz_name)
    # The worker's part is appended to this process's: no byte-order mark and no header of its own.
    text = io.TextIOWrapper(out, encoding="utf-8" if split is not None else "utf-8-sig", newline="",
                            write_through=False)
    lines = _CsvLines(rows, delimiter)
    if split is None:
        text.write(lines.header)
    count = 0

    def sink(batch: ResponseBatch) -> None:
        nonlocal count
        text.write(lines.text(batch))  # None becomes an empty field
        count += len(batch)

    side: Lower | Upper | None = split
    try:
        if side is None and await worth_splitting(engine, survey, pseudonymize, split_min_rows):
            side = await Lower.start(engine, survey, completed_only=completed_only, where=where, delimiter=delimiter,
                                     tz_name=tz_name, quality_rules=quality_rules)
        streamed = await _stream(engine, survey, completed_only, rows, sink, where, progress, quality_rules, side)
        if streamed.split is not None:
            text.flush()
            report = None if progress is None else (lambda theirs: progress(count + theirs, streamed.total))
            count += await streamed.split.finish(streamed.at, streamed.total, out, report or (lambda _: None))
    finally:
        text.flush()
        text.detach()  # leave the caller's stream open
        if isinstance(side, Lower):
            await side.close()
    return count


# XLSX -----------------------------------------------------------------------------------



def _questionnaire_rows(t: Translator, survey: Survey) -> list[list]:
    out: list[list] = [[t.gettext("Number"), t.gettext("Question ID"), t.gettext("Type"), t.gettext("Question"),
                        t.gettext("Code"), t.gettext("Option")]]
    for q in survey.questions:
        codes: list[list] = [[None, None]]  # (code, what it stands for): none for a text
        match q.type:
            case QuestionType.SINGLE | QuestionType.MULTIPLE:
                codes = [[neutralize(o.id), neutralize(o.text)] for o in q.options]
                if q.other_allowed:
                    codes.append([OTHER, neutralize(survey.other_label(q))])
            case QuestionType.SCALE:
                if q.scale is not None:
                    codes = [[None, f"{q.scale.min}–{q.scale.max}"]]
            case QuestionType.NUMBER:
                if q.buckets:
                    codes = [[None, "; ".join(q.buckets)]]
            case QuestionType.TEXT:
                pass
            case _ as unreachable:
                assert_never(unreachable)
        head = [survey.number(q.id), neutralize(q.id), t.gettext(TYPE_NAMES[q.type]), neutralize(q.text)]
        out += [head + pair for pair in codes]
    return out


def _summary_rows(t: Translator, summary: Summary) -> list[list]:
    out: list[list] = [
        [t.gettext("Measure"), t.gettext("Value")],
        [t.gettext("Started"), summary.started],
        [t.gettext("Completed"), summary.completed],
        [t.gettext("In progress"), summary.in_progress],
        [t.gettext("Completion rate, %"), as_float(summary.completion_rate)],
        [t.gettext("Completed questionnaires only"), t.gettext("yes") if summary.completed_only else t.gettext("no")],
        [],
        [t.gettext("Number"), t.gettext("Question"), t.gettext("Option"), t.gettext("Count"), t.gettext("Percent"),
         t.gettext("n (answered)"), t.gettext("Skipped"), t.gettext("Not reached")],
    ]
    for q in summary.questions:
        head = [q.number, neutralize(q.title)]
        tail = [q.n, q.skipped, q.not_reached]
        lines = [(o.label, o.count, as_float(o.percent)) for o in q.options]
        lines += [(b.label, b.count, as_float(b.percent)) for b in (q.buckets or q.groups)]
        if q.mean is not None:
            lines.append((t.gettext("Mean"), float(q.mean), None))
        if q.median is not None and q.mean is not None:
            lines.append((t.gettext("Median"), float(q.median), None))
        if not lines:
            out.append(head + [None, None, None] + tail)
        out += [head + [neutralize(label), count, pct] + tail for label, count, pct in lines]
    return out


async def export_xlsx(
    engine: AsyncEngine,
    survey: Survey,
    out: Out,
    *,
    completed_only: bool = False,
    pseudonymize: Callable[[str], str] | None = None,
    where: Filter | None = None,
    banner: str | None = None,
    tz_name: str = DEFAULT_TIMEZONE,
    quality_rules: QualityRules | None = None,
    progress: Progress | None = None,
) -> int:
    """Write the raw data as XLSX (sheets «Answers», «Questionnaire», «Summary», «Codebook», named in the
    questionnaire's default language); returns the row count (``progress``: as export_csv)."""
    t = translator(survey.default_language)
    book = workbook(str(out) if isinstance(out, Path) else out, streaming=True)
    date_format = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    bold = book.add_format({"bold": True})
    # XLSX cells are never formulas unless written as such: text goes in exactly as typed.
    rows = _Rows(survey, pseudonymize, guard=False, tz_name=tz_name)
    sheet = book.add_worksheet(t.gettext("Answers"))
    sheet.freeze_panes(1, 1)
    sheet.set_column(3, 4, 19)
    for c, name in enumerate(rows.columns):
        sheet.write_string(0, c, name, bold)
        if name in ("started_at", "completed_at"):
            sheet.write_comment(0, c, t.gettext("Time in the time zone {zone}").format(zone=tz_name))
    written = 0

    def sink(batch: ResponseBatch) -> None:
        nonlocal written
        for cells in rows.batch(batch):
            written += 1
            write_row(sheet, written, cells, date_format)
            if not written % 10:
                # Hand the interpreter lock over: XlsxWriter's pure-Python cell work otherwise kept the bot's loop
                # waiting 50–400 ms at a time (bench/exports.py: 202 ms worst; with this, under 50 ms).
                time.sleep(0)

    try:
        await _stream(engine, survey, completed_only, rows, sink, where, progress, quality_rules)
        summary = await build_summary(engine, survey, completed_only=completed_only, where=where,
                                      language=t.language)
        sheets = [(t.gettext("Questionnaire"), _questionnaire_rows(t, survey)),
                  (t.gettext("Summary"), _summary_rows(t, summary)), (t.gettext("Codebook"), codebook_rows(survey, tz_name))]
        if banner is not None:  # every question crossed by the banner question (analytics.crosstab)
            from analytics.crosstab_render import crosstab_sheet

            sheets.append(await crosstab_sheet(engine, survey, banner, where=where, completed_only=completed_only,
                                               language=t.language))

        def finish() -> None:
            for title, table in sheets:
                ws = book.add_worksheet(title)
                for r, cells in enumerate(table):
                    write_row(ws, r, cells, date_format)
            book.close()

        await asyncio.to_thread(finish)
    except BaseException:
        try:
            book.close()
        except Exception:
            pass
        raise
    return written


# Rows for pandas / SPSS -----------------------------------------------------------------


async def collect_rows(
    engine: AsyncEngine,
    survey: Survey,
    *,
    completed_only: bool = False,
    where: Filter | None = None,
    tz_name: str = DEFAULT_TIMEZONE,
    quality_rules: QualityRules | None = None,
    progress: Progress | None = None,
) -> tuple[list[str], list[Cells]]:
    """The export's columns and rows in memory (numbers as numbers, aware times, text as typed)."""
    rows = _Rows(survey, None, guard=False, tz_name=tz_name)
    rows.naive = False
    out: list[Cells] = []
    await _stream(engine, survey, completed_only, rows, lambda batch: out.extend(rows.batch(batch)), where, progress,
                  quality_rules)
    return rows.columns, out
