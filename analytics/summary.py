"""Survey summaries aggregated in SQL: header counts, per-question tables, the funnel.

The full summary (every response, no filter) reads the answer counts kept with every write
(storage/answer_counts.py: a few hundred rows instead of 1.4 M answers). Any other scope — a
respondent filter, completed responses only, or counts that do not add up to the stored rows —
counts with GROUP BY queries over ``answers`` / ``answer_choices``; answer rows are never loaded
into Python. All queries run in one read-only (DEFERRED) transaction, so
the figures come from one snapshot. Joining every answer row to ``responses`` to filter by
survey and status would cost seconds on SQLite, so whole-table counts on covering indexes
are corrected by subtracting the (usually small) set of responses that are not counted.

Definitions (per question, among the responses of ``survey.id``):

* ``n`` — responses with a non-skipped answer row (the base of every percentage, multiple
  choice included, so multiple-choice percentages may sum to more than 100 %);
* ``skipped`` — responses with a skipped answer row;
* ``not_reached`` — counted responses minus ``n`` minus ``skipped`` (never shown the
  question, or hidden by skip logic).

With ``completed_only=True`` the per-question figures count completed responses only; the
header counts (started / completed / in progress) and the funnel always cover all responses,
because a funnel of finished responses would show no drop-off at all.

``summary_to_json`` gives the stable JSON form, typed by ``SummaryJSON`` below (the one
source of its shape; the example in docs/researchers/json.md is checked against real output by a test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict, assert_never

from sqlalchemy import ColumnElement, and_, false, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import InstrumentedAttribute

from analytics.filters import resolve_filter
from storage.answer_counts import survey_counts
from storage.consent import ConsentCounts, consent_counts
from storage.db import read_only
from storage.models import COMPLETED, IN_PROGRESS, Answer as AnswerRow, AnswerChoice, Response
from storage.records import ResponseSet, S, as_utc, choices_include
from storage.reminders import ReminderCounts, reminder_counts
from storage.sql import duration_seconds
from survey.i18n import FALLBACK_LANGUAGE, N_, Translator, catalog_language, translator
from survey.model import CHOICE_TYPES, NUMERIC_TYPES, OTHER, Question, QuestionType, Survey

if TYPE_CHECKING:
    from analytics.filters import Filter

ONE_DECIMAL = Decimal("0.1")
# Answers kept for options or questions an edited questionnaire no longer has.
REMOVED = "_removed"
REMOVED_LABEL = N_("(removed from the questionnaire)")
OUTSIDE_LABEL = N_("outside the intervals")


# Number helpers -------------------------------------------------------------------------


def round_half_up(value: Decimal | int | float | str, places: int = 1) -> Decimal:
    """Round to ``places`` decimals, halves away from zero (12.25 -> 12.3)."""
    # Going through str keeps a float like 6.25 exact instead of 6.2499999...
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def percent(count: int, base: int) -> Decimal | None:
    """count / base as a percentage with one decimal, rounded half up; None when base is 0."""
    if not base:
        return None
    return (Decimal(count) * 100 / Decimal(base)).quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def wilson_interval(count: int, n: int, z: float = 1.96) -> tuple[Decimal, Decimal] | None:
    """The 95 % Wilson score interval of count/n, as percentages with one decimal."""
    if n <= 0:
        return None
    p = count / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    return round_half_up(round(low * 100, 9)), round_half_up(round(high * 100, 9))


class ScaleGroup(NamedTuple):
    """A low / middle / high group of scale points, both ends included."""

    key: str  # "low", "middle" or "high"
    low: int
    high: int


def scale_groups(low: int, high: int) -> list[ScaleGroup]:
    """Low / middle / high groups of a scale: 1–10 gives 1–3, 4–7, 8–10; 1–5 gives 1–2, 3, 4–5."""
    points = high - low + 1
    # About 30 % of the points at each end, at least one: (3k + 5) // 10 is round(0.3 k).
    edge = max(1, (3 * points + 5) // 10)
    groups = [ScaleGroup("low", low, low + edge - 1)]
    if high - edge >= low + edge:
        groups.append(ScaleGroup("middle", low + edge, high - edge))
    groups.append(ScaleGroup("high", high - edge + 1, high))
    return groups


def range_label(low: int, high: int | None) -> str:
    """A value range as shown: "4–7", "5", or "101+" when open-ended."""
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}–{high}"


# Result types ---------------------------------------------------------------------------


class ValueCount(NamedTuple):
    """How many answers gave one value of a scale or number question."""

    value: int
    frequency: int


@dataclass(frozen=True)
class OptionCount:
    """One line of a question table: an option (or "other", or a scale point) and its count."""

    id: str
    label: str
    count: int
    percent: Decimal | None
    is_other: bool = False


@dataclass(frozen=True)
class Bucket:
    """A range of values (number bucket or scale group) with its count and share."""

    label: str
    low: int
    high: int | None
    count: int
    percent: Decimal | None
    key: str = ""  # "low" / "middle" / "high" for scale groups, "outside" or "" for number buckets


@dataclass(frozen=True)
class QuestionSummary:
    """Counts and statistics of one question."""

    id: str
    number: int
    title: str
    text: str
    type: QuestionType
    n: int
    skipped: int
    not_reached: int
    options: list[OptionCount] = field(default_factory=list)
    other_label: str | None = None
    other_texts: list[str] = field(default_factory=list)
    mean: Decimal | None = None  # exact-ish (4 decimals); renderers round for display
    median: Decimal | None = None
    distribution: list[ValueCount] = field(default_factory=list)  # ascending by value
    buckets: list[Bucket] = field(default_factory=list)  # number questions with buckets
    groups: list[Bucket] = field(default_factory=list)  # scale low / middle / high
    scale_min: int | None = None
    scale_max: int | None = None
    min_label: str | None = None
    max_label: str | None = None
    # Carry-forward (options_from): the earlier question whose choices it offers; those with nothing to be
    # offered were not asked it (counted in not_reached, not as skipped).
    options_from: str | None = None
    options_take: str = "selected"

    @property
    def is_choice(self) -> bool:
        """Single or multiple choice."""
        return self.type in CHOICE_TYPES

    @property
    def is_multiple(self) -> bool:
        """Multiple choice (percentages may sum to more than 100)."""
        return self.type == QuestionType.MULTIPLE

    @property
    def other(self) -> OptionCount | None:
        """The "other" line, if the question allows one."""
        return next((o for o in self.options if o.is_other), None)


@dataclass(frozen=True)
class FunnelStep:
    """How many responses reached, answered, skipped and stopped at one question."""

    id: str
    number: int
    title: str
    reached: int
    answered: int
    skipped: int
    dropped: int


@dataclass(frozen=True)
class Summary:
    """The whole summary of a survey's responses."""

    survey_id: str
    survey_version: int
    title: str
    completed_only: bool
    started: int
    completed: int
    in_progress: int
    completion_rate: Decimal | None
    median_completion_seconds: float | None
    first_answer_at: datetime | None
    last_answer_at: datetime | None
    questions: list[QuestionSummary]
    funnel: list[FunnelStep]
    # Question ids no longer in the questionnaire that still hold answers of counted responses: (id, answers).
    removed_questions: list[tuple[str, int]] = field(default_factory=list)
    filter: str | None = None  # the respondent filter's description (analytics.filters), when one applies
    # The language of the texts made from the summary (/stats, charts): the reader's, when the bot has it.
    language: str = FALLBACK_LANGUAGE
    # Of the responses in the survey (and the filter): reminded, came back after it, completed (storage/reminders.py).
    reminders: ReminderCounts = field(default_factory=ReminderCounts)
    # With a consent step in the questionnaire: responses that agreed (of those counted here) and declines.
    consent: ConsentCounts | None = None

    @property
    def base(self) -> int:
        """Responses the question tables count (all started, or the completed ones)."""
        return self.completed if self.completed_only else self.started

    def question(self, ref: str | int) -> QuestionSummary:
        """A question summary by id or by number; KeyError when unknown."""
        for q in self.questions:
            if q.id == ref or (isinstance(ref, int) and q.number == ref):
                return q
        raise KeyError(ref)


# Reading: one snapshot, each count taken from the cheaper side -------------------------


@dataclass(frozen=True)
class _Scope:
    """The responses a summary reads: the survey's (header, funnel) and the counted ones (question tables)."""

    survey: Survey
    completed_only: bool
    started: int
    completed: int
    in_progress: int
    completed_timed: int  # completed responses with a completed_at: the median's base
    in_survey: ResponseSet
    counted: ResponseSet
    filtered: bool = False  # a respondent filter applies (the kept answer counts cover every response)


async def _scope(
    conn: AsyncConnection, survey: Survey, completed_only: bool, where: ColumnElement[bool] | None = None
) -> _Scope:
    """Responses of the survey by status (and how many have a completed_at), and of other surveys."""
    in_survey: ColumnElement[bool] = Response.survey_id == survey.id
    not_in_survey: ColumnElement[bool] = Response.survey_id != survey.id
    if where is not None:  # a respondent filter: the filtered-out responses count as "not in the survey"
        in_survey = and_(in_survey, where)
        not_in_survey = not_(in_survey)
    by_status: dict[str, tuple[int, int]] = {
        status: (count, timed)
        for status, count, timed in await conn.execute(
            select(Response.status, func.count(), func.count(Response.completed_at))
            .where(in_survey)
            .group_by(Response.status)
        )
    }
    others = await conn.scalar(select(func.count()).select_from(Response).where(not_in_survey)) or 0
    started = sum(count for count, _ in by_status.values())
    completed, completed_timed = by_status.get(COMPLETED, (0, 0))
    survey_set = ResponseSet(in_survey, not_in_survey, started, others)
    counted = survey_set
    if completed_only:
        counted = ResponseSet(
            and_(in_survey, Response.status == COMPLETED),
            or_(not_in_survey, Response.status != COMPLETED),
            completed,
            others + started - completed,
        )
    return _Scope(
        survey=survey,
        completed_only=completed_only,
        started=started,
        completed=completed,
        in_progress=by_status.get(IN_PROGRESS, (0, 0))[0],
        completed_timed=completed_timed,
        in_survey=survey_set,
        counted=counted,
        filtered=where is not None,
    )


class _GroupCounts:
    """``COUNT(*) GROUP BY columns`` over one table's rows, for any ResponseSet, read from the cheaper side.

    The whole-table GROUP BY runs on a covering index without touching ``responses`` (once, then
    reused). For a set: with an empty complement it is that whole-table count; when the set is the
    smaller side its own rows are counted; otherwise it is the whole table minus the complement's
    counts. Joining 1.4 M answer rows to their responses instead would cost seconds on SQLite, and
    the complement (other questionnaires, unfinished responses) is usually empty or small.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        response_id: InstrumentedAttribute[int],
        columns: Sequence[InstrumentedAttribute[Any]],
        where: Sequence[ColumnElement[bool]] = (),
    ):
        self.conn, self.response_id, self.columns, self.where = conn, response_id, columns, where
        self._whole_table: dict[tuple[Any, ...], int] | None = None

    async def _count(self, *where: ColumnElement[bool]) -> dict[tuple[Any, ...], int]:
        stmt = select(*self.columns, func.count()).where(*self.where, *where).group_by(*self.columns)
        return {tuple(row[:-1]): row[-1] for row in await self.conn.execute(stmt)}

    async def _of(self, responses_where: ColumnElement[bool]) -> dict[tuple[Any, ...], int]:
        # IN (subquery) makes SQLite walk the response ids and seek each one's rows by the
        # (response_id, ...) primary/unique index, instead of scanning the whole table.
        return await self._count(self.response_id.in_(select(Response.id).where(responses_where)))

    async def _whole(self) -> dict[tuple[Any, ...], int]:
        if self._whole_table is None:
            self._whole_table = await self._count()
        return self._whole_table

    async def over(self, responses: ResponseSet) -> dict[tuple[Any, ...], int]:
        """The counts per key over the rows of ``responses``."""
        if responses.complement_size == 0:
            return dict(await self._whole())
        if responses.size < responses.complement_size:
            return await self._of(responses.where)
        out = dict(await self._whole())
        for key, count in (await self._of(responses.complement)).items():
            out[key] = out.get(key, 0) - count
        return out


@dataclass(frozen=True)
class _Figures:
    """Everything a summary reads from the database, taken in one snapshot."""

    answered_all: dict[str, int]  # per question, over all the survey's responses (the funnel)
    skipped_all: dict[str, int]
    answered: dict[str, int]  # per question, over the counted responses (the tables)
    skipped: dict[str, int]
    standing: dict[str, int]  # in-progress responses showing each question now
    choices: dict[str, dict[str, int]]  # question -> option id -> responses that chose it
    numbers: dict[str, dict[int, int]]  # question -> value -> responses that gave it
    texts: dict[str, list[str]]  # typed "other" texts, or a text question's answers, in typing order
    first_answer_at: datetime | None
    last_answer_at: datetime | None
    median_completion_seconds: float | None


def _by_question(rows: dict[tuple[Any, ...], int]) -> tuple[dict[str, int], dict[str, int]]:
    """(question_id, skipped, ...) counts split into answered and skipped per question."""
    answered: dict[str, int] = {}
    skipped: dict[str, int] = {}
    for (qid, was_skipped, *_), count in rows.items():
        target = skipped if was_skipped else answered
        target[qid] = target.get(qid, 0) + count
    return answered, skipped


def _restrict_walking(counted: ResponseSet, stmt: S, response_id: Any) -> S:
    """Like ``counted.restrict``, but a set of 1 % of the responses or more is tested row by row.

    ``response_id + 0`` keeps the database from walking the set's ids and seeking every one of
    their answers; the statement's own index (``answered_at`` for MIN/MAX, the partial index of
    "other" texts) is read instead, each row checked against the id list. A filter keeping a
    quarter of 100,000 responses: 1.0 s -> 0.18 s for MIN(answered_at) under load.
    """
    total = counted.size + counted.complement_size
    if counted.complement_size and counted.size < counted.complement_size and counted.size * 100 >= total:
        return stmt.where((response_id + 0).in_(select(Response.id).where(counted.where)))
    return counted.restrict(stmt, response_id)


async def _median_completion(conn: AsyncConnection, scope: _Scope) -> float | None:
    """Median of completed_at - started_at over the completed responses that have a completed_at."""
    total = scope.completed_timed
    if not total:
        return None
    where = and_(
        scope.in_survey.where,
        Response.status == COMPLETED,
        Response.completed_at.is_not(None),
    )
    # The middle one or two rows, ordered in SQL; the duration itself is computed here from the
    # stored times, so SQLite (julianday, ~50 µs resolution) and PostgreSQL give the same figure.
    duration = duration_seconds(conn.dialect.name, Response.started_at, Response.completed_at)
    stmt = select(Response.started_at, Response.completed_at).where(where)
    if duration is not None:
        # Sorting bare ids (then fetching the one or two rows) keeps SQLite's sorter records small:
        # 2-3x faster than sorting the rows with their timestamps.
        middle = (
            select(Response.id).where(where).order_by(duration).limit(1 if total % 2 else 2).offset((total - 1) // 2)
        )
        stmt = select(Response.started_at, Response.completed_at).where(Response.id.in_(middle.scalar_subquery()))
    values = sorted(
        (completed - started).total_seconds()
        for started, completed in await conn.execute(stmt)
        if started is not None and completed is not None  # the WHERE says so; this tells the type checker
    )
    if duration is None:  # no portable ordering: all completed rows were fetched
        mid = len(values) // 2
        values = values[mid : mid + 1] if len(values) % 2 else values[mid - 1 : mid + 1]
    return round(sum(values) / len(values)) if values else None


async def _answer_time(conn: AsyncConnection, counted: ResponseSet, *, first: bool) -> datetime | None:
    """The first (or last) answered_at among counted responses.

    MIN/MAX walk the ``answers(answered_at)`` index from one end and stop at the first
    counted row; a short list of counted responses is instead looked up response by response.
    """
    stmt = _restrict_walking(counted, select((func.min if first else func.max)(AnswerRow.answered_at)), AnswerRow.response_id)
    return as_utc(await conn.scalar(stmt))


async def _texts(conn: AsyncConnection, scope: _Scope) -> dict[str, list[str]]:
    """Typed "other" texts of choice questions and the answers of text questions, in typing order."""
    survey = scope.survey
    texts: dict[str, list[str]] = {q.id: [] for q in survey.questions}
    other_ids = [q.id for q in survey.questions if q.type in CHOICE_TYPES and q.other_allowed]
    if other_ids:
        # Reached through the partial index ix_answers_other: only answers with a typed text are read.
        # "other" must still be among the answer's choices; the row's own copy of them says so
        # without a probe into answer_choices per text.
        stmt = (
            select(AnswerRow.question_id, AnswerRow.other_text)
            .where(
                AnswerRow.question_id.in_(other_ids),
                AnswerRow.other_text.is_not(None),
                AnswerRow.other_text != "",
                choices_include(OTHER),
            )
            .order_by(AnswerRow.id)  # insertion order, i.e. when they were typed
        )
        for qid, text in await conn.execute(_restrict_walking(scope.counted, stmt, AnswerRow.response_id)):
            texts[qid].append(text or "")
    text_ids = [q.id for q in survey.questions if q.type == QuestionType.TEXT]
    if text_ids:
        stmt = (
            select(AnswerRow.question_id, AnswerRow.text)
            .where(AnswerRow.question_id.in_(text_ids), AnswerRow.skipped == false(), AnswerRow.text.is_not(None))
            .order_by(AnswerRow.id)
        )
        for qid, text in await conn.execute(scope.counted.restrict(stmt, AnswerRow.response_id)):
            texts[qid].append(text or "")
    return texts


async def _count_answers(
    conn: AsyncConnection, scope: _Scope, choices: dict[str, dict[str, int]], numbers: dict[str, dict[int, int]]
) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
    """Answered / skipped per question over the survey's and over the counted responses, counted from the answers;
    fills ``choices`` and ``numbers`` (their keys are the questions wanted) over the counted responses."""
    # One pass over the answers gives answered / skipped per question and the values of scales and
    # numbers: on the whole table one scan of the covering index (question_id, skipped, number); for a
    # filtered set one walk over its answers instead of two.
    answers = _GroupCounts(conn, AnswerRow.response_id, [AnswerRow.question_id, AnswerRow.skipped, AnswerRow.number])
    all_rows = await answers.over(scope.in_survey)
    answered_all, skipped_all = _by_question(all_rows)
    counted_rows = await answers.over(scope.counted) if scope.completed_only else all_rows
    answered, skipped = _by_question(counted_rows) if scope.completed_only else (answered_all, skipped_all)
    if choices:
        chosen = _GroupCounts(conn, AnswerChoice.response_id, [AnswerChoice.question_id, AnswerChoice.option_id])
        for (qid, option_id), count in (await chosen.over(scope.counted)).items():
            if qid in choices:
                choices[qid][option_id] = count
    for (qid, was_skipped, value), count in counted_rows.items():
        if qid in numbers and not was_skipped and value is not None and count:
            numbers[qid][int(value)] = count
    return answered_all, skipped_all, answered, skipped


async def _read_figures(conn: AsyncConnection, scope: _Scope) -> _Figures:
    """Every count the summary needs, over the scope's responses."""
    survey = scope.survey
    choices: dict[str, dict[str, int]] = {q.id: {} for q in survey.questions if q.type in CHOICE_TYPES}
    numeric_ids = [q.id for q in survey.questions if q.type in NUMERIC_TYPES]
    numbers: dict[str, dict[int, int]] = {qid: {} for qid in numeric_ids}
    # Every response of the survey: the answer counts kept with each write (storage/answer_counts.py), not the
    # answers themselves; None when they do not add up to the stored rows, and then the answers are counted.
    kept = None if scope.filtered or scope.completed_only else await survey_counts(conn, survey.id)
    if kept is not None:
        answered_all, skipped_all = kept.answered, kept.skipped
        answered, skipped = answered_all, skipped_all
        for qid, options in kept.options.items():
            if qid in choices:
                choices[qid] = dict(options)
        for qid in numeric_ids:
            numbers[qid] = dict(kept.values.get(qid, {}))
    else:
        answered_all, skipped_all, answered, skipped = await _count_answers(conn, scope, choices, numbers)
    standing: dict[str, int] = {
        qid or "": count
        for qid, count in await conn.execute(
            select(Response.current_question, func.count())
            .where(scope.in_survey.where, Response.status == IN_PROGRESS, Response.current_question.is_not(None))
            .group_by(Response.current_question)
        )
    }

    any_counted = scope.counted.size > 0
    return _Figures(
        answered_all=answered_all,
        skipped_all=skipped_all,
        answered=answered,
        skipped=skipped,
        standing=standing,
        choices=choices,
        numbers=numbers,
        texts=await _texts(conn, scope),
        first_answer_at=await _answer_time(conn, scope.counted, first=True) if any_counted else None,
        last_answer_at=await _answer_time(conn, scope.counted, first=False) if any_counted else None,
        median_completion_seconds=await _median_completion(conn, scope),
    )


# Shaping: figures into per-question results -----------------------------------------------


def median_from(distribution: Sequence[tuple[int, int]], total: int) -> Decimal | None:
    """The median of ``total`` values given as (value, count) pairs in ascending order; None when empty."""
    if not total:
        return None

    def nth(k: int) -> int:  # the k-th value (0-based) in sorted order
        seen = 0
        for value, count in distribution:
            seen += count
            if k < seen:
                return value
        raise IndexError(k)

    if total % 2:
        return Decimal(nth(total // 2))
    return (Decimal(nth(total // 2 - 1)) + Decimal(nth(total // 2))) / 2


def mean_from(distribution: Sequence[tuple[int, int]], total: int) -> Decimal | None:
    """The mean (4 decimals, half up) of ``total`` values given as (value, count) pairs; None when empty."""
    if not total:
        return None
    mean = Decimal(sum(v * c for v, c in distribution)) / Decimal(total)
    return mean.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _choice_summary(survey: Survey, q: Question, base: QuestionSummary, chosen: dict[str, int]) -> QuestionSummary:
    """Every option in questionnaire order (zero counts too), then "other" when allowed."""
    n = base.n
    options = [OptionCount(o.id, o.text, chosen.get(o.id, 0), percent(chosen.get(o.id, 0), n)) for o in q.options]
    other_label = None
    if q.other_allowed:
        other_label = survey.other_label(q)
        count = chosen.get(OTHER, 0)
        options.append(OptionCount(OTHER, other_label, count, percent(count, n), is_other=True))
    removed = _removed_count(q, n, options, chosen)
    if removed:  # answers to options an edit removed: a line of their own, so the lines add up to n
        options.append(OptionCount(REMOVED, REMOVED_LABEL, removed, percent(removed, n)))
    return replace(base, options=options, other_label=other_label)


def _removed_count(q: Question, n: int, options: list[OptionCount], chosen: dict[str, int]) -> int:
    """Answers given to options the questionnaire no longer has (or stored as another question type).

    Single choice: whatever of n the current options do not account for, so the lines add up to n.
    Multiple choice: the selections of options that are gone.
    """
    match q.type:
        case QuestionType.SINGLE:
            return max(0, n - sum(o.count for o in options))
        case QuestionType.MULTIPLE:
            known = {o.id for o in options}
            return sum(count for option_id, count in chosen.items() if option_id not in known)
        case QuestionType.SCALE | QuestionType.NUMBER | QuestionType.TEXT:
            raise ValueError(f"{q.id}: removed options are counted for choice questions only")
        case _ as unreachable:
            assert_never(unreachable)


def _numeric(base: QuestionSummary, values: dict[int, int]) -> QuestionSummary:
    """Distribution, mean and median of a scale or number question."""
    distribution = [ValueCount(v, c) for v, c in sorted(values.items())]
    total = sum(values.values())
    return replace(
        base, distribution=distribution, mean=mean_from(distribution, total), median=median_from(distribution, total)
    )


def _scale_summary(q: Question, base: QuestionSummary, values: dict[int, int]) -> QuestionSummary:
    """One line per scale point (stray stored values stay visible) and the low / middle / high groups."""
    assert q.scale is not None  # the loader requires it for scales
    s = _numeric(base, values)
    lo, hi = q.scale.min, q.scale.max
    options = [OptionCount(str(v), str(v), values.get(v, 0), percent(values.get(v, 0), s.n))
               for v in sorted(set(range(lo, hi + 1)) | set(values))]
    groups = []
    for key, g_lo, g_hi in scale_groups(lo, hi):
        count = sum(c for v, c in s.distribution if g_lo <= v <= g_hi)
        groups.append(Bucket(range_label(g_lo, g_hi), g_lo, g_hi, count, percent(count, s.n), key=key))
    return replace(s, options=options, groups=groups, scale_min=lo, scale_max=hi, min_label=q.scale.min_label,
                   max_label=q.scale.max_label)


def _number_summary(q: Question, base: QuestionSummary, values: dict[int, int]) -> QuestionSummary:
    """The bucket table when the question has buckets; values outside every bucket get a line of their own."""
    s = _numeric(base, values)
    if not q.buckets:
        return s
    buckets = []
    inside = 0
    for _label, b_lo, b_hi in q.bucket_bounds():
        count = sum(c for v, c in s.distribution if v >= b_lo and (b_hi is None or v <= b_hi))
        inside += count
        buckets.append(Bucket(range_label(b_lo, b_hi), b_lo, b_hi, count, percent(count, s.n)))
    outside = sum(values.values()) - inside
    if outside > 0:  # shown, not dropped
        buckets.append(Bucket(OUTSIDE_LABEL, 0, None, outside, percent(outside, s.n), key="outside"))
    return replace(s, buckets=buckets)


def _question_summary(survey: Survey, q: Question, figures: _Figures, base_count: int) -> QuestionSummary:
    """One question's table from the figures (``base_count``: the responses counted)."""
    n, skipped = figures.answered.get(q.id, 0), figures.skipped.get(q.id, 0)
    base = QuestionSummary(
        id=q.id,
        number=survey.number(q.id),
        title=q.short_title,
        text=q.text,
        type=q.type,
        n=n,
        skipped=skipped,
        not_reached=max(0, base_count - n - skipped),
        other_texts=figures.texts.get(q.id, []),
        options_from=q.options_from.question if q.options_from else None,
        options_take=q.options_from.take if q.options_from else "selected",
    )
    match q.type:
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            return _choice_summary(survey, q, base, figures.choices.get(q.id, {}))
        case QuestionType.SCALE:
            return _scale_summary(q, base, figures.numbers.get(q.id, {}))
        case QuestionType.NUMBER:
            return _number_summary(q, base, figures.numbers.get(q.id, {}))
        case QuestionType.TEXT:
            return base  # the answers are in other_texts
        case _ as unreachable:
            assert_never(unreachable)


def _funnel_step(survey: Survey, q: Question, figures: _Figures) -> FunnelStep:
    answered, skipped, standing = (figures.answered_all.get(q.id, 0), figures.skipped_all.get(q.id, 0),
                                   figures.standing.get(q.id, 0))
    return FunnelStep(id=q.id, number=survey.number(q.id), title=q.short_title, reached=answered + skipped + standing,
                      answered=answered, skipped=skipped, dropped=standing)


def _labels_in(t: Translator, questions: list[QuestionSummary]) -> list[QuestionSummary]:
    """The summary's own labels (a removed option's line, numbers outside the intervals) in ``t``'s language;
    the questionnaire's labels stay as they are."""
    out = []
    for q in questions:
        options = [replace(o, label=t.gettext(REMOVED_LABEL)) if o.id == REMOVED else o for o in q.options]
        buckets = [replace(b, label=t.gettext(OUTSIDE_LABEL)) if b.key == "outside" else b for b in q.buckets]
        out.append(replace(q, options=options, buckets=buckets))
    return out


async def build_summary(
    engine: AsyncEngine, survey: Survey, *, completed_only: bool = False, where: Filter | None = None,
    language: str | None = None,
) -> Summary:
    """Aggregate the survey's responses in SQL into a Summary (only the respondents ``where`` keeps), its own
    words in ``language`` (the reader's; default: the questionnaire's default language when the bot speaks it)."""
    t = translator(catalog_language(language or survey.default_language))
    # One connection, one read transaction: every figure comes from the same snapshot.
    async with read_only(engine).begin() as conn:
        resolved = await resolve_filter(conn, survey, where)  # quality= conditions: read in this snapshot
        scope = await _scope(conn, survey, completed_only, None if resolved is None else resolved.predicate())
        figures = await _read_figures(conn, scope)
        reminded = await reminder_counts(conn, scope.in_survey.where)
        consent = None
        if survey.survey.consent is not None:
            consent = await consent_counts(conn, survey.id, scope.in_survey.where)
    return Summary(
        survey_id=survey.id,
        survey_version=survey.version,
        title=survey.survey.title,
        completed_only=completed_only,
        started=scope.started,
        completed=scope.completed,
        in_progress=scope.in_progress,
        completion_rate=percent(scope.completed, scope.started),
        median_completion_seconds=figures.median_completion_seconds,
        first_answer_at=figures.first_answer_at,
        last_answer_at=figures.last_answer_at,
        questions=_labels_in(t, [_question_summary(survey, q, figures, scope.counted.size) for q in survey.questions]),
        funnel=[_funnel_step(survey, q, figures) for q in survey.questions],
        removed_questions=sorted((qid, n) for qid, n in figures.answered.items()
                                 if n and qid not in {q.id for q in survey.questions}),
        filter=None if where is None else where.describe(t),
        reminders=reminded,
        language=t.language,
        consent=consent,
    )


# JSON -----------------------------------------------------------------------------------
#
# The stable shape of `surveybot stats --format json`: new keys may be added, none removed or
# renamed. Percentages are numbers with one decimal, rounded half up, of the question's n
# (null when n = 0); times are ISO 8601 strings in UTC or null.


class SurveyRefJSON(TypedDict):
    id: str
    version: int
    title: str


class OptionJSON(TypedDict):
    """A choice option in questionnaire order (zero counts too), "other", or a scale point (id = label = value)."""

    id: str
    label: str
    count: int
    percent: float | None


class BucketJSON(TypedDict):
    """A number question's bucket, or a scale's low / middle / high group."""

    label: str
    count: int
    percent: float | None


class QuestionJSON(TypedDict):
    """One question: ``options`` empty for number and text questions, ``buckets`` empty unless number
    buckets or scale groups apply, ``other_texts`` the typed "other" answers (a text question's answers),
    ``mean`` / ``median`` null except for scale and number questions."""

    id: str
    number: int
    title: str
    type: str
    n: int
    skipped: int
    not_reached: int
    options: list[OptionJSON]
    other_texts: list[str]
    mean: float | None
    median: float | None
    buckets: list[BucketJSON]


class FunnelStepJSON(TypedDict):
    """The funnel always counts every started response (a funnel of completed ones shows no drop-off)."""

    id: str
    number: int
    reached: int
    answered: int
    skipped: int
    dropped: int


class RemovedQuestionJSON(TypedDict):
    """A question an edited questionnaire no longer has that still holds answers of counted responses."""

    id: str
    label: str  # always «(удалён из анкеты)»
    n: int


class RemindersJSON(TypedDict):
    """Responses reminded (a reminder delivered), of them came back (answered after it) and completed."""

    reminded: int
    came_back: int
    completed: int


class SummaryJSON(TypedDict):
    survey: SurveyRefJSON
    completed_only: bool
    filter: str | None  # the respondent filter's description, null without one
    started: int
    completed: int
    in_progress: int
    completion_rate: float | None
    median_completion_seconds: float | None
    first_answer_at: str | None
    last_answer_at: str | None
    questions: list[QuestionJSON]
    removed_questions: list[RemovedQuestionJSON]
    funnel: list[FunnelStepJSON]
    reminders: RemindersJSON


def as_float(value: Decimal | None) -> float | None:
    """A Decimal figure as a float for JSON and spreadsheet cells (None stays None)."""
    return None if value is None else float(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _question_json(q: QuestionSummary) -> QuestionJSON:
    ranges = q.buckets if q.type == QuestionType.NUMBER else q.groups
    return {
        "id": q.id,
        "number": q.number,
        "title": q.title,
        "type": q.type.value,
        "n": q.n,
        "skipped": q.skipped,
        "not_reached": q.not_reached,
        "options": [{"id": o.id, "label": o.label, "count": o.count, "percent": as_float(o.percent)} for o in q.options],
        "other_texts": list(q.other_texts),
        "mean": as_float(q.mean),
        "median": as_float(q.median),
        "buckets": [{"label": b.label, "count": b.count, "percent": as_float(b.percent)} for b in ranges],
    }


def summary_to_json(summary: Summary) -> SummaryJSON:
    """The summary as plain JSON-ready data, in the stable shape ``SummaryJSON``."""
    return {
        "survey": {"id": summary.survey_id, "version": summary.survey_version, "title": summary.title},
        "completed_only": summary.completed_only,
        "filter": summary.filter,
        "started": summary.started,
        "completed": summary.completed,
        "in_progress": summary.in_progress,
        "completion_rate": as_float(summary.completion_rate),
        "median_completion_seconds": summary.median_completion_seconds,
        "first_answer_at": _iso(summary.first_answer_at),
        "last_answer_at": _iso(summary.last_answer_at),
        "questions": [_question_json(q) for q in summary.questions],
        "removed_questions": [{"id": qid, "label": translator(summary.language).gettext(REMOVED_LABEL), "n": n}
                              for qid, n in summary.removed_questions],
        "funnel": [
            {"id": f.id, "number": f.number, "reached": f.reached, "answered": f.answered, "skipped": f.skipped,
             "dropped": f.dropped}
            for f in summary.funnel
        ],
        "reminders": {"reminded": summary.reminders.reminded, "came_back": summary.reminders.came_back,
                      "completed": summary.reminders.completed},
    }
