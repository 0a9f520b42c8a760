"""Data-quality flags derived from the stored timings and answers; nothing here is stored.

Each response is judged on four rules (docs/researchers/quality.md says the same for researchers):

* ``speeder``: a completed response whose total time (``completed_at − started_at``) is under
  ``speeder_ratio`` (⅓ by default, QUALITY_SPEEDER_RATIO) of the median total time of the survey's completed
  responses — the usual rule in survey methodology. Responses not completed are never speeders.
* ``fast_answers``: the share of its timed answers (shown → answered) given in under ``fast_seconds`` (1.5 s);
  flagged when that share is at least ``fast_share`` (½) of at least ``min_timed`` (3) timed answers.
* ``straightlining``: the same position (value − the scale's minimum) on every scale question answered, when at
  least ``straightline_min`` (3) were answered.
* ``duplicate_text``: a free-text answer (a text question, or an «other» text) identical to another response's
  answer to the same question once lowercased and stripped of punctuation, counted only when it says more than
  trivial words (at least three words, two of them not in ``TRIVIAL``).

Seconds per question are ``answered_at − shown_at`` of each answer (the rule for Back and redraws is in
storage/repository.py ``Position``); answers stored before timings were kept have no ``shown_at``: such
responses are counted as having no timings and get empty cells, never a flag from timings they lack.

``read_quality`` reads what the rules need in the caller's read transaction; ``assess`` is the pure part.
``analytics.filters.resolve_filter`` turns the ``quality=…`` conditions of a respondent filter into response
ids with it, in the same snapshot as the summary or export that uses them.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.models import COMPLETED, Answer as AnswerRow, Response
from storage.records import read_times
from survey.i18n import N_
from survey.model import QuestionType, Survey


class Flag(StrEnum):
    """A data-quality flag (its value is its name in exports and filters)."""

    SPEEDER = "speeder"
    FAST_ANSWERS = "fast_answers"
    STRAIGHTLINING = "straightlining"
    DUPLICATE_TEXT = "duplicate_text"


FLAG_NAMES = {
    Flag.SPEEDER: N_("too fast (speeder)"),
    Flag.FAST_ANSWERS: N_("many fast answers"),
    Flag.STRAIGHTLINING: N_("identical ratings (straightlining)"),
    Flag.DUPLICATE_TEXT: N_("another respondent's text repeated"),
}
OK = "ok"  # quality=ok: no flag
FLAGGED = "flagged"  # quality=flagged: any flag
FILTER_VALUES = (OK, FLAGGED, *(f.value for f in Flag))

# Words that do not make a free-text answer distinctive («не знаю», «всё хорошо, ничего»).
TRIVIAL = frozenset(
    ["нет", "да", "не", "ни", "и", "а", "но", "или", "все", "всё", "всего", "ничего", "никак", "знаю", "затрудняюсь", "ответить", "сказать", "хорошо", "нормально", "плохо", "так", "это", "то", "как", "что", "у", "в", "на", "по", "к", "с", "о", "без", "для", "ок", "ok", "no", "yes", "n", "a", "na", "none", "nothing", "idk"]
)
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class QualityRules:
    """The thresholds of the flags (``speeder_ratio`` comes from QUALITY_SPEEDER_RATIO)."""

    speeder_ratio: float = 1 / 3
    fast_seconds: float = 1.5
    fast_share: float = 0.5
    min_timed: int = 3
    straightline_min: int = 3


class ResponseQuality(NamedTuple):
    """One response's timings and flags; ``None`` where a rule cannot judge it (not completed, no timings …).

    A named tuple: one is made for each response of the survey on every export and filtered read."""

    response_id: int
    seconds: dict[str, float]  # per question with a timing
    total_seconds: float | None  # completed_at − started_at of a completed response
    fast_share: float | None  # share of timed answers under fast_seconds; None without timed answers
    speeder: bool | None
    straightlining: bool | None
    duplicate_text: bool
    flags: tuple[Flag, ...]

    @property
    def timed(self) -> bool:
        return bool(self.seconds)


@dataclass(frozen=True)
class QualityReport:
    """Every response of the survey judged, and the figures behind the judgement."""

    rules: QualityRules
    responses: dict[int, ResponseQuality]
    completed: int
    median_seconds: float | None  # of the completed responses' total times
    no_timings: int  # responses without a single timed answer (e.g. collected before timings were kept)
    counts: dict[Flag, int] = field(default_factory=dict)

    @property
    def speeder_seconds(self) -> float | None:
        """Completed under this many seconds: a speeder."""
        return None if self.median_seconds is None else self.median_seconds * self.rules.speeder_ratio

    def flagged(self) -> list[ResponseQuality]:
        """The responses with at least one flag, by id."""
        return [r for _, r in sorted(self.responses.items()) if r.flags]

    def matching(self, values: Iterable[str]) -> set[int]:
        """Ids of the responses a ``quality=`` filter with these values keeps (any of them)."""
        wanted = set(values)
        out = set()
        for rid, r in self.responses.items():
            if (OK in wanted and not r.flags) or (FLAGGED in wanted and r.flags) or wanted & set(r.flags):
                out.add(rid)
        return out


class ResponseTimes(NamedTuple):
    """What the rules read of a response (a named tuple: 100,000 of them are made for every export)."""

    response_id: int
    status: str
    started_at: datetime | None
    completed_at: datetime | None


def text_key(text: str) -> str | None:
    """A free-text answer as compared for duplicates; None when it says nothing beyond trivial words."""
    words = _WORD.findall(text.casefold().replace("ё", "е"))
    if len(words) < 3 or sum(1 for w in words if w not in TRIVIAL) < 2:
        return None
    return " ".join(words)


def assess(
    survey: Survey,
    rules: QualityRules,
    responses: Sequence[tuple[int, str, datetime | None, datetime | None]],
    timings: Iterable[tuple[int, str, datetime, datetime]],
    scale_answers: Iterable[tuple[int, str, int]],
    texts: Iterable[tuple[int, str, str]],
) -> QualityReport:
    """Judge every response (pure): ``timings`` are (response, question, shown_at, answered_at) of timed answers,
    ``scale_answers`` (response, question, value) of answered scale questions, ``texts`` (response, key, text) of
    free-text answers, the key naming the question (and whether it is its «other» text)."""
    seconds: dict[int, dict[str, float]] = defaultdict(dict)
    for rid, qid, shown, answered in timings:
        seconds[rid][qid] = max(0.0, (answered - shown).total_seconds())
    totals = {
        rid: (completed - started).total_seconds()
        for rid, status, started, completed in responses  # (ResponseTimes, or the same plain tuples)
        if status == COMPLETED and completed is not None and started is not None
    }
    median = statistics.median(totals.values()) if totals else None
    mins = {q.id: q.scale.min for q in survey.questions if q.type == QuestionType.SCALE and q.scale is not None}
    positions: dict[int, list[int]] = defaultdict(list)
    for rid, qid, value in scale_answers:
        if qid in mins:
            positions[rid].append(value - mins[qid])
    keyed: dict[tuple[str, str], set[int]] = defaultdict(set)
    for rid, where, text in texts:
        key = text_key(text)
        if key is not None:
            keyed[(where, key)].add(rid)
    duplicated = {rid for ids in keyed.values() if len(ids) > 1 for rid in ids}

    judged: dict[int, ResponseQuality] = {}
    counts: Counter[Flag] = Counter()
    threshold = None if median is None else median * rules.speeder_ratio
    fast_seconds, fast_share_min, min_timed = rules.fast_seconds, rules.fast_share, rules.min_timed
    straight_min = rules.straightline_min
    for rid, _status, _started, _completed in responses:
        mine = seconds.get(rid)
        total = totals.get(rid)
        speeder = None if total is None or threshold is None else total < threshold
        fast_share = None
        fast = False
        if mine:
            fast_share = sum(1 for s in mine.values() if s < fast_seconds) / len(mine)
            fast = len(mine) >= min_timed and fast_share >= fast_share_min
        pos = positions.get(rid)
        straight = None if pos is None or len(pos) < straight_min else len(set(pos)) == 1
        duplicate = rid in duplicated
        flags: tuple[Flag, ...] = ()
        if speeder or fast or straight or duplicate:
            flags = tuple(f for f, on in ((Flag.SPEEDER, speeder), (Flag.FAST_ANSWERS, fast),
                                          (Flag.STRAIGHTLINING, straight), (Flag.DUPLICATE_TEXT, duplicate)) if on)
            counts.update(flags)
        judged[rid] = ResponseQuality(rid, mine or {}, total, fast_share, speeder, straight, duplicate, flags)
    return QualityReport(rules, judged, completed=len(totals), median_seconds=median,
                         no_timings=sum(1 for r in responses if not seconds.get(r[0])),
                         counts={f: counts.get(f, 0) for f in Flag})


async def read_quality(conn: AsyncConnection, survey: Survey, rules: QualityRules | None = None) -> QualityReport:
    """Judge every response of the survey from what is stored, in the caller's read transaction."""
    rules = rules or QualityRules()
    in_survey = Response.survey_id == survey.id
    responses = await read_times(  # plain (id, status, started_at, completed_at) tuples: 100,000 of them
        conn, select(Response.id, Response.status, Response.started_at, Response.completed_at).where(in_survey))
    ids = select(Response.id).where(in_survey)
    # Answers of this survey's responses only, kept here rather than by an IN (this survey's ids) in the SQL: the
    # IN made SQLite look up every response's answers one by one instead of reading the table once, for this and
    # for the texts below (each a third of a second per 20,000 responses).
    kept = {r[0] for r in responses}
    timings = [row for row in await read_times(
        conn, select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.shown_at, AnswerRow.answered_at)
        .where(AnswerRow.shown_at.is_not(None))) if row[0] in kept]
    scale_ids = [q.id for q in survey.questions if q.type == QuestionType.SCALE]
    scale_answers = []
    if len(scale_ids) >= rules.straightline_min:
        scale_answers = (await conn.execute(
            select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.number)
            .where(AnswerRow.response_id.in_(ids), AnswerRow.question_id.in_(scale_ids), AnswerRow.skipped == False,  # noqa: E712
                   AnswerRow.number.is_not(None)))).all()
    text_ids = [q.id for q in survey.questions if q.type == QuestionType.TEXT]
    other_ids = [q.id for q in survey.questions if q.other_allowed]
    # The texts are read through their indexes (ix_answers_question, the partial ix_answers_other).
    texts: list[tuple[int, str, str]] = []
    if text_ids:
        texts += [(rid, qid, text) for rid, qid, text in await conn.execute(
            select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.text)
            .where(AnswerRow.question_id.in_(text_ids), AnswerRow.text.is_not(None))) if rid in kept]
    if other_ids:
        # Every «other» text through the partial index ix_answers_other, the questions picked here: with the
        # question ids in the SQL, SQLite took ix_answers_question and read every answer of those questions (1.3 s
        # against 0.13 s for 100,000 responses).
        wanted = set(other_ids)
        texts += [(rid, f"{qid}__other", text) for rid, qid, text in await conn.execute(
            select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.other_text)
            .where(AnswerRow.other_text.is_not(None))) if rid in kept and qid in wanted]
    return assess(survey, rules, responses, timings, scale_answers, texts)
