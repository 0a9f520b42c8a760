"""Survey summaries aggregated in SQL: header counts, per-question tables, the funnel.

Every count comes from a GROUP BY query over ``answers`` / ``answer_choices``; answer rows
are never loaded into Python. All queries run in one read-only (DEFERRED) transaction, so
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

``summary_to_json`` returns this stable shape (percentages are numbers with one decimal,
rounded half up; times are ISO 8601 strings in UTC or null)::

    {"survey": {"id", "version", "title"}, "completed_only": bool,
     "started", "completed", "in_progress", "completion_rate", "median_completion_seconds",
     "first_answer_at", "last_answer_at",
     "questions": [{"id", "number", "title", "type", "n", "skipped", "not_reached",
                    "options": [{"id", "label", "count", "percent"}],
                    "other_texts": [str], "mean", "median",
                    "buckets": [{"label", "count", "percent"}]}],
     "funnel": [{"id", "number", "reached", "answered", "skipped", "dropped"}]}

``options`` lists a choice question's options in questionnaire order (zero counts included)
followed by ``"other"`` when allowed, or a scale's points (id and label are the value as a
string); it is empty for number and text questions. ``buckets`` holds a number question's
buckets, or a scale's low / middle / high groups; otherwise it is empty. ``other_texts``
holds the typed "other" answers (the answers themselves for text questions). ``mean`` and
``median`` are null except for scale and number questions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import read_only
from storage.models import COMPLETED, IN_PROGRESS, Answer as AnswerRow, AnswerChoice, Response
from storage.sql import duration_seconds
from survey.model import CHOICE_TYPES, OTHER, Question, QuestionType, Survey

if TYPE_CHECKING:
    from analytics.filters import Filter

ONE_DECIMAL = Decimal("0.1")
# Answers kept for options or questions an edited questionnaire no longer has.
REMOVED = "_removed"
REMOVED_LABEL = "(удалён из анкеты)"


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


def scale_groups(low: int, high: int) -> list[tuple[str, int, int]]:
    """Low / middle / high groups of a scale: 1–10 gives 1–3, 4–7, 8–10; 1–5 gives 1–2, 3, 4–5."""
    points = high - low + 1
    # About 30 % of the points at each end, at least one: (3k + 5) // 10 is round(0.3 k).
    edge = max(1, (3 * points + 5) // 10)
    groups = [("low", low, low + edge - 1)]
    if high - edge >= low + edge:
        groups.append(("middle", low + edge, high - edge))
    groups.append(("high", high - edge + 1, high))
    return groups


def _range_label(low: int, high: int | None) -> str:
    if high is None:
        return f"{low}+"
    return str(low) if low == high else f"{low}–{high}"


# Result types ---------------------------------------------------------------------------


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
    key: str = ""  # "low" / "middle" / "high" for scale groups, "" for number buckets


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
    distribution: list[tuple[int, int]] = field(default_factory=list)  # (value, count), ascending
    buckets: list[Bucket] = field(default_factory=list)  # number questions with buckets
    groups: list[Bucket] = field(default_factory=list)  # scale low / middle / high
    scale_min: int | None = None
    scale_max: int | None = None
    min_label: str | None = None
    max_label: str | None = None

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


# Building -------------------------------------------------------------------------------


def _utc(value: datetime | str | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything is stored in UTC.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


async def _median_completion(conn, in_survey: Any, total: int) -> float | None:  # noqa: ANN001
    """Median of completed_at - started_at over the ``total`` completed responses with a completed_at."""
    where = and_(
        in_survey,
        Response.status == COMPLETED,
        Response.completed_at.is_not(None),
    )
    if not total:
        return None
    # The middle one or two rows, ordered in SQL; the duration itself is computed here from the
    # stored times, so SQLite (julianday, ~50 µs resolution) and PostgreSQL give the same figure.
    duration = duration_seconds(conn.dialect.name, Response.started_at, Response.completed_at)
    stmt = select(Response.started_at, Response.completed_at).where(where)
    if duration is not None:
        # Sorting bare ids (then fetching the one or two rows) keeps SQLite's sorter records small:
        # 2-3x faster than sorting the rows with their timestamps.
        middle = select(Response.id).where(where).order_by(duration).limit(1 if total % 2 else 2).offset((total - 1) // 2)
        stmt = select(Response.started_at, Response.completed_at).where(Response.id.in_(middle.scalar_subquery()))
    rows = (await conn.execute(stmt)).all()
    values = sorted((_utc(c) - _utc(s)).total_seconds() for s, c in rows)
    if duration is None:  # no portable ordering: all completed rows were fetched
        mid = len(values) // 2
        values = values[mid : mid + 1] if len(values) % 2 else values[mid - 1 : mid + 1]
    return round(sum(values) / len(values)) if values else None


def _median_from(distribution: list[tuple[int, int]], total: int) -> Decimal | None:
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


def _mean_from(distribution: list[tuple[int, int]], total: int) -> Decimal | None:
    if not total:
        return None
    mean = Decimal(sum(v * c for v, c in distribution)) / Decimal(total)
    return mean.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _removed_count(q: Question, n: int, options: list[OptionCount], choices: dict[str, int]) -> int:
    """Answers given to options the questionnaire no longer has (or stored in another question type).

    Single choice: whatever of n the current options do not account for, so the lines add up to n.
    Multiple choice: the selections of options that are gone.
    """
    if q.type == QuestionType.SINGLE:
        return max(0, n - sum(o.count for o in options))
    known = {o.id for o in options}
    return sum(count for option_id, count in choices.items() if option_id not in known)


def _question_summary(
    survey: Survey,
    q: Question,
    n: int,
    skipped: int,
    base: int,
    choices: dict[str, int],
    numbers: dict[int, int],
    texts: list[str],
) -> QuestionSummary:
    common: dict[str, Any] = dict(
        id=q.id,
        number=survey.number(q.id),
        title=q.short_title,
        text=q.text,
        type=q.type,
        n=n,
        skipped=skipped,
        not_reached=max(0, base - n - skipped),
        other_texts=texts,
    )
    if q.type in CHOICE_TYPES:
        options = [OptionCount(o.id, o.text, choices.get(o.id, 0), percent(choices.get(o.id, 0), n)) for o in q.options]
        other_label = None
        if q.other_allowed:
            other_label = survey.other_label(q)
            c = choices.get(OTHER, 0)
            options.append(OptionCount(OTHER, other_label, c, percent(c, n), is_other=True))
        removed = _removed_count(q, n, options, choices)
        if removed:
            options.append(OptionCount(REMOVED, REMOVED_LABEL, removed, percent(removed, n)))
        return QuestionSummary(**common, options=options, other_label=other_label)
    if q.type in (QuestionType.SCALE, QuestionType.NUMBER):
        distribution = sorted(numbers.items())
        total = sum(numbers.values())
        extra: dict[str, Any] = dict(
            distribution=distribution,
            mean=_mean_from(distribution, total),
            median=_median_from(distribution, total),
        )
        if q.type == QuestionType.SCALE and q.scale is not None:
            lo, hi = q.scale.min, q.scale.max
            values = sorted(set(range(lo, hi + 1)) | set(numbers))  # stray values stay visible
            extra["options"] = [OptionCount(str(v), str(v), numbers.get(v, 0), percent(numbers.get(v, 0), n)) for v in values]
            groups = []
            for key, g_lo, g_hi in scale_groups(lo, hi):
                c = sum(cnt for v, cnt in distribution if g_lo <= v <= g_hi)
                groups.append(Bucket(_range_label(g_lo, g_hi), g_lo, g_hi, c, percent(c, n), key=key))
            extra.update(groups=groups, scale_min=lo, scale_max=hi, min_label=q.scale.min_label, max_label=q.scale.max_label)
        elif q.buckets:
            buckets = []
            inside = 0
            for label, b_lo, b_hi in q.bucket_bounds():
                c = sum(cnt for v, cnt in distribution if v >= b_lo and (b_hi is None or v <= b_hi))
                inside += c
                buckets.append(Bucket(_range_label(b_lo, b_hi), b_lo, b_hi, c, percent(c, n)))
            if total - inside > 0:  # values the buckets do not cover are shown, not dropped
                buckets.append(Bucket("вне интервалов", 0, None, total - inside, percent(total - inside, n), key="outside"))
            extra["buckets"] = buckets
        return QuestionSummary(**common, **extra)
    return QuestionSummary(**common)


class _Counter:
    """Counts per key over a subset of responses, read from whichever side is cheaper.

    The whole-table GROUP BY runs on a covering index without touching ``responses``;
    a subset is then the total minus the (smaller) excluded part, or the part itself
    when the subset is the smaller one. Joining 1.4 M answer rows to their responses
    would cost seconds on SQLite; the excluded part is usually empty or small.
    """

    def __init__(self, conn, columns: list, table, where: list):  # noqa: ANN001
        self.conn, self.columns, self.table, self.where = conn, columns, table, where
        self._total: dict[tuple, int] | None = None

    async def _run(self, stmt) -> dict[tuple, int]:  # noqa: ANN001
        out: dict[tuple, int] = {}
        for row in await self.conn.execute(stmt):
            out[tuple(row[:-1])] = row[-1]
        return out

    async def total(self) -> dict[tuple, int]:
        if self._total is None:
            stmt = select(*self.columns, func.count()).where(*self.where).group_by(*self.columns)
            self._total = await self._run(stmt)
        return self._total

    async def part(self, responses_where) -> dict[tuple, int]:  # noqa: ANN001
        # IN (subquery) makes SQLite walk the response ids and seek each one's rows by the
        # (response_id, ...) primary/unique index, instead of scanning the whole answer table.
        stmt = (
            select(*self.columns, func.count())
            .where(self.table.response_id.in_(select(Response.id).where(responses_where)), *self.where)
            .group_by(*self.columns)
        )
        return await self._run(stmt)

    async def subset(self, included, n_included: int, excluded, n_excluded: int) -> dict[tuple, int]:  # noqa: ANN001
        """Counts over the responses matching ``included`` (``excluded`` is its complement)."""
        if n_excluded == 0:
            return dict(await self.total())
        if n_included < n_excluded:
            return await self.part(included)
        out = dict(await self.total())
        for key, count in (await self.part(excluded)).items():
            out[key] = out.get(key, 0) - count
        return out


def _restrict(stmt, response_id, included, n_included: int, excluded, n_excluded: int):  # noqa: ANN001, ANN202
    """Limit a statement to counted responses through whichever id list is shorter."""
    if n_excluded == 0:
        return stmt
    if n_included < n_excluded:
        return stmt.where(response_id.in_(select(Response.id).where(included)))
    return stmt.where(response_id.not_in(select(Response.id).where(excluded)))


async def _answer_time_bound(conn, scope: _Scope, first: bool) -> datetime | None:  # noqa: ANN001
    """The first (or last) answered_at among counted responses.

    MIN/MAX walk the ``answers(answered_at)`` index from one end and stop at the first
    counted row; a short list of counted responses is instead looked up response by response.
    """
    stmt = select((func.min if first else func.max)(AnswerRow.answered_at))
    stmt = _restrict(stmt, AnswerRow.response_id, scope.counted, scope.n_counted, scope.not_counted, scope.n_not_counted)
    return _utc(await conn.scalar(stmt))


@dataclass
class _Scope:
    """Which responses a summary counts, and how many are on each side."""

    survey: Survey
    completed_only: bool
    in_survey: Any
    not_in_survey: Any
    counted: Any
    not_counted: Any
    started: int = 0
    completed: int = 0
    in_progress: int = 0
    others: int = 0
    completed_timed: int = 0  # completed responses with a completed_at (the median's base)

    @property
    def n_counted(self) -> int:
        return self.completed if self.completed_only else self.started

    @property
    def n_not_counted(self) -> int:
        return self.others + (self.started - self.completed if self.completed_only else 0)


def _scope(survey: Survey, completed_only: bool, where: Any = None) -> _Scope:
    in_survey = Response.survey_id == survey.id
    not_in_survey = Response.survey_id != survey.id
    if where is not None:  # a respondent filter: the filtered-out responses count as "not in the survey"
        in_survey = and_(in_survey, where)
        not_in_survey = not_(in_survey)
    counted = and_(in_survey, Response.status == COMPLETED) if completed_only else in_survey
    not_counted = or_(not_in_survey, Response.status != COMPLETED) if completed_only else not_in_survey
    return _Scope(survey, completed_only, in_survey, not_in_survey, counted, not_counted)


async def _counts(conn, scope: _Scope) -> tuple:  # noqa: ANN001
    """Responses of the survey by status (and how many of them have a completed_at), and of other surveys."""
    by_status = {
        status: (count, timed)
        for status, count, timed in await conn.execute(
            select(Response.status, func.count(), func.count(Response.completed_at))
            .where(scope.in_survey)
            .group_by(Response.status)
        )
    }
    others = await conn.scalar(select(func.count()).select_from(Response).where(scope.not_in_survey)) or 0
    return (tuple(sorted(by_status.items())), others)


def _apply_counts(scope: _Scope, counts: tuple) -> None:
    by_status = dict(counts[0])
    scope.started = sum(count for count, _ in by_status.values())
    scope.completed, scope.completed_timed = by_status.get(COMPLETED, (0, 0))
    scope.in_progress = by_status.get(IN_PROGRESS, (0, 0))[0]
    scope.others = counts[1]


async def _answer_counts(conn, scope: _Scope) -> dict[str, Any]:  # noqa: ANN001
    """Answered / skipped per question (all responses and counted ones), standing, first/last."""
    answers = _Counter(conn, [AnswerRow.question_id, AnswerRow.skipped], AnswerRow, [])
    all_rows = await answers.subset(scope.in_survey, scope.started, scope.not_in_survey, scope.others)
    counted_rows = (
        await answers.subset(scope.counted, scope.n_counted, scope.not_counted, scope.n_not_counted)
        if scope.completed_only
        else all_rows
    )
    standing = {
        qid: count
        for qid, count in await conn.execute(
            select(Response.current_question, func.count())
            .where(scope.in_survey, Response.status == IN_PROGRESS, Response.current_question.is_not(None))
            .group_by(Response.current_question)
        )
    }
    first = await _answer_time_bound(conn, scope, first=True) if scope.n_counted else None
    last = await _answer_time_bound(conn, scope, first=False) if scope.n_counted else None
    return {"all": all_rows, "counted": counted_rows, "standing": standing, "first": first, "last": last}


async def _choice_counts(conn, scope: _Scope) -> dict[str, Any]:  # noqa: ANN001
    """Option counts and typed texts of the counted responses."""
    survey = scope.survey
    choice_ids = [q.id for q in survey.questions if q.type in CHOICE_TYPES]
    choices: dict[str, dict[str, int]] = {qid: {} for qid in choice_ids}
    if choice_ids:
        counter = _Counter(conn, [AnswerChoice.question_id, AnswerChoice.option_id], AnswerChoice, [])
        subset = await counter.subset(scope.counted, scope.n_counted, scope.not_counted, scope.n_not_counted)
        for (qid, option_id), count in subset.items():
            if qid in choices:
                choices[qid][option_id] = count

    texts: dict[str, list[str]] = {q.id: [] for q in survey.questions}
    other_ids = [q.id for q in survey.questions if q.type in CHOICE_TYPES and q.other_allowed]
    if other_ids:
        # Reached through the partial index ix_answers_other: only answers with a typed text are read.
        # "other" must still be among the answer's choices; the row's own comma-joined copy says so
        # without a probe into answer_choices per text (ids are [a-z0-9_], so LIKE is exact here).
        stmt = (
            select(AnswerRow.question_id, AnswerRow.other_text)
            .where(
                AnswerRow.question_id.in_(other_ids),
                AnswerRow.other_text.is_not(None),
                AnswerRow.other_text != "",
                (literal(",") + AnswerRow.choices + literal(",")).like(f"%,{OTHER},%"),
            )
            .order_by(AnswerRow.id)  # insertion order, i.e. when they were typed
        )
        stmt = _restrict(stmt, AnswerRow.response_id, scope.counted, scope.n_counted, scope.not_counted, scope.n_not_counted)
        for qid, text in await conn.execute(stmt):
            texts[qid].append(text)
    text_ids = [q.id for q in survey.questions if q.type == QuestionType.TEXT]
    if text_ids:
        stmt = (
            select(AnswerRow.question_id, AnswerRow.text)
            .where(
                AnswerRow.question_id.in_(text_ids),
                AnswerRow.skipped == False,  # noqa: E712 (SQL comparison)
                AnswerRow.text.is_not(None),
            )
            .order_by(AnswerRow.id)
        )
        stmt = _restrict(stmt, AnswerRow.response_id, scope.counted, scope.n_counted, scope.not_counted, scope.n_not_counted)
        for qid, text in await conn.execute(stmt):
            texts[qid].append(text)
    return {"choices": choices, "texts": texts}


async def _number_counts(conn, scope: _Scope) -> dict[str, Any]:  # noqa: ANN001
    """Value distributions of scale and number questions, and the median completion time."""
    survey = scope.survey
    numeric_ids = [q.id for q in survey.questions if q.type in (QuestionType.SCALE, QuestionType.NUMBER)]
    numbers: dict[str, dict[int, int]] = {qid: {} for qid in numeric_ids}
    if numeric_ids:
        counter = _Counter(
            conn,
            [AnswerRow.question_id, AnswerRow.number],
            AnswerRow,
            [
                AnswerRow.question_id.in_(numeric_ids),
                AnswerRow.skipped == False,  # noqa: E712 (SQL comparison)
                AnswerRow.number.is_not(None),
            ],
        )
        subset = await counter.subset(scope.counted, scope.n_counted, scope.not_counted, scope.n_not_counted)
        for (qid, value), count in subset.items():
            if count:
                numbers[qid][int(value)] = count
    median = await _median_completion(conn, scope.in_survey, scope.completed_timed)
    return {"numbers": numbers, "median": median}


async def _gather(engine: AsyncEngine, scope: _Scope) -> dict[str, Any]:
    # One connection, one read transaction: every figure comes from the same snapshot.
    async with read_only(engine).begin() as conn:
        _apply_counts(scope, await _counts(conn, scope))
        return {**await _answer_counts(conn, scope), **await _choice_counts(conn, scope), **await _number_counts(conn, scope)}


async def build_summary(
    engine: AsyncEngine, survey: Survey, *, completed_only: bool = False, where: Filter | None = None
) -> Summary:
    """Aggregate the survey's responses in SQL into a Summary (only the respondents ``where`` keeps)."""
    scope = _scope(survey, completed_only, None if where is None else where.predicate())
    data = await _gather(engine, scope)

    def split(rows: dict[tuple, int]) -> tuple[dict[str, int], dict[str, int]]:
        answered: dict[str, int] = {}
        skipped: dict[str, int] = {}
        for (qid, was_skipped), count in rows.items():
            target = skipped if was_skipped else answered
            target[qid] = target.get(qid, 0) + count
        return answered, skipped

    n_all, skipped_all = split(data["all"])
    n_counted_q, skipped_counted = split(data["counted"])
    standing = data["standing"]
    known_ids = {q.id for q in survey.questions}
    question_summaries = [
        _question_summary(
            survey,
            q,
            n_counted_q.get(q.id, 0),
            skipped_counted.get(q.id, 0),
            scope.n_counted,
            data["choices"].get(q.id, {}),
            data["numbers"].get(q.id, {}),
            data["texts"][q.id],
        )
        for q in survey.questions
    ]
    funnel = [
        FunnelStep(
            id=q.id,
            number=survey.number(q.id),
            title=q.short_title,
            reached=n_all.get(q.id, 0) + skipped_all.get(q.id, 0) + standing.get(q.id, 0),
            answered=n_all.get(q.id, 0),
            skipped=skipped_all.get(q.id, 0),
            dropped=standing.get(q.id, 0),
        )
        for q in survey.questions
    ]
    return Summary(
        survey_id=survey.id,
        survey_version=survey.version,
        title=survey.survey.title,
        completed_only=completed_only,
        started=scope.started,
        completed=scope.completed,
        in_progress=scope.in_progress,
        completion_rate=percent(scope.completed, scope.started),
        median_completion_seconds=data["median"],
        first_answer_at=data["first"],
        last_answer_at=data["last"],
        questions=question_summaries,
        funnel=funnel,
        removed_questions=sorted((qid, n) for qid, n in n_counted_q.items() if n and qid not in known_ids),
        filter=None if where is None else where.describe(),
    )


# JSON -----------------------------------------------------------------------------------


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary_to_json(summary: Summary) -> dict[str, Any]:
    """The summary as plain JSON-ready data, in the stable shape described in the module docstring."""
    questions = []
    for q in summary.questions:
        ranges = q.buckets if q.type == QuestionType.NUMBER else q.groups
        questions.append(
            {
                "id": q.id,
                "number": q.number,
                "title": q.title,
                "type": q.type.value,
                "n": q.n,
                "skipped": q.skipped,
                "not_reached": q.not_reached,
                "options": [
                    {"id": o.id, "label": o.label, "count": o.count, "percent": _num(o.percent)} for o in q.options
                ],
                "other_texts": list(q.other_texts),
                "mean": _num(q.mean),
                "median": _num(q.median),
                "buckets": [{"label": b.label, "count": b.count, "percent": _num(b.percent)} for b in ranges],
            }
        )
    return {
        "survey": {"id": summary.survey_id, "version": summary.survey_version, "title": summary.title},
        "completed_only": summary.completed_only,
        "filter": summary.filter,
        "started": summary.started,
        "completed": summary.completed,
        "in_progress": summary.in_progress,
        "completion_rate": _num(summary.completion_rate),
        "median_completion_seconds": summary.median_completion_seconds,
        "first_answer_at": _iso(summary.first_answer_at),
        "last_answer_at": _iso(summary.last_answer_at),
        "questions": questions,
        "removed_questions": [{"id": qid, "label": REMOVED_LABEL, "n": n} for qid, n in summary.removed_questions],
        "funnel": [
            {
                "id": f.id,
                "number": f.number,
                "reached": f.reached,
                "answered": f.answered,
                "skipped": f.skipped,
                "dropped": f.dropped,
            }
            for f in summary.funnel
        ],
    }
