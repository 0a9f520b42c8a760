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

import asyncio
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import islice
from types import MappingProxyType
from typing import Any, NamedTuple

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

    Made when read from a report (``Judged``), which keeps the fields as plain tuples."""

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


# A response's flags kept as bits (in Flag's order) while stored: the tuple of each combination, made once.
_FLAG_TUPLES = tuple(tuple(f for i, f in enumerate(Flag) if bits >> i & 1) for bits in range(1 << len(Flag)))


class Judged(Mapping[int, ResponseQuality]):
    """Every response's judgement by id, kept as plain tuples of plain values — each read as a ``ResponseQuality``.

    One named tuple per response, holding the flags' enum members, stays tracked by the garbage collector for as long
    as the report lives: 100,000 more objects for every full collection of the bot's process, which held its event
    loop 60–110 ms at a time during an export. Plain tuples of numbers, strings and such tuples are dropped from the
    collector's lists at its first look (bench/exports.py measures the stall).
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: dict[int, tuple[Any, ...]]):
        # id -> the fields of ResponseQuality, the seconds as (question, seconds) pairs and the flags as bits: a
        # tuple holding a dict (even an empty one) or an enum member is never dropped from the collector's lists.
        self._rows = rows

    @staticmethod
    def _read(row: tuple[Any, ...]) -> ResponseQuality:
        return tuple.__new__(ResponseQuality, (row[0], dict(row[1]), *row[2:7], _FLAG_TUPLES[row[7]]))

    def __getitem__(self, rid: int) -> ResponseQuality:
        return self._read(self._rows[rid])

    def get(self, rid: int, default: Any = None) -> Any:
        row = self._rows.get(rid)
        return default if row is None else self._read(row)

    def __contains__(self, rid: object) -> bool:
        return rid in self._rows

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def parts(self, size: int) -> Iterator[Judged]:
        """The judgements in parts of at most ``size`` responses, to be pickled a little at a time (pickling holds
        the interpreter lock: 100,000 judgements at once held the bot's loop ~90 ms)."""
        items = iter(self._rows.items())  # not a list: 100,000 pairs at once would be work for the collector
        while part := dict(islice(items, size)):
            yield Judged(part)

    def joined(self, parts: Iterable[Judged]) -> Judged:
        """These judgements and those of ``parts``, together again."""
        rows = dict(self._rows)
        for part in parts:
            rows.update(part.stored())
        return Judged(rows)

    def stored(self) -> Mapping[int, tuple[Any, ...]]:
        """The judgements as stored (plain tuples by response id), read-only."""
        return MappingProxyType(self._rows)


@dataclass(frozen=True)
class QualityReport:
    """Every response of the survey judged, and the figures behind the judgement."""

    rules: QualityRules
    responses: Mapping[int, ResponseQuality]
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
    """What the rules read of a response; ``read_quality`` hands ``assess`` the same fields as plain tuples."""

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

    judged: dict[int, tuple[Any, ...]] = {}
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
        bits = 0
        if speeder or fast or straight or duplicate:  # in Flag's order
            bits = (1 if speeder else 0) | (2 if fast else 0) | (4 if straight else 0) | (8 if duplicate else 0)
            counts.update(_FLAG_TUPLES[bits])
        judged[rid] = (rid, tuple(mine.items()) if mine else (), total, fast_share, speeder, straight, duplicate, bits)
    return QualityReport(rules, Judged(judged), completed=len(totals), median_seconds=median,
                         no_timings=sum(1 for r in responses if not seconds.get(r[0])),
                         counts={f: counts.get(f, 0) for f in Flag})


async def read_quality(conn: AsyncConnection, survey: Survey, rules: QualityRules | None = None) -> QualityReport:
    """Judge every response of the survey from what is stored, in the caller's read transaction."""
    rules = rules or QualityRules()
    in_survey = Response.survey_id == survey.id
    responses = await read_times(  # plain (id, status, started_at, completed_at) tuples: 100,000 of them
        conn, select(Response.id, Response.status, Response.started_at, Response.completed_at).where(in_survey))
    ids = select(Response.id).where(in_survey)
    # Answers of this survey's responses only, kept in Python (``judge`` below) rather than by an IN (this survey's
    # ids) in the SQL: the IN made SQLite look up every response's answers one by one instead of reading the table
    # once, for this and for the texts below (each a third of a second per 20,000 responses).
    timing_rows = await read_times(
        conn, select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.shown_at, AnswerRow.answered_at)
        .where(AnswerRow.shown_at.is_not(None)))
    scale_ids = [q.id for q in survey.questions if q.type == QuestionType.SCALE]
    scale_answers: Sequence[tuple[int, str, int]] = []
    if len(scale_ids) >= rules.straightline_min:
        scale_answers = (await conn.execute(
            select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.number)
            .where(AnswerRow.response_id.in_(ids), AnswerRow.question_id.in_(scale_ids), AnswerRow.skipped == False,  # noqa: E712
                   AnswerRow.number.is_not(None)))).all()
    text_ids = [q.id for q in survey.questions if q.type == QuestionType.TEXT]
    other_ids = set(q.id for q in survey.questions if q.other_allowed)
    # The texts are read through their indexes (ix_answers_question, the partial ix_answers_other).
    text_rows: Sequence[tuple[int, str, str | None]] = []
    if text_ids:
        text_rows = (await conn.execute(
            select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.text)
            .where(AnswerRow.question_id.in_(text_ids), AnswerRow.text.is_not(None)))).all()
    other_rows: Sequence[tuple[int, str, str | None]] = []
    if other_ids:
        # Every «other» text through the partial index ix_answers_other, the questions picked in ``judge``: with the
        # question ids in the SQL, SQLite took ix_answers_question and read every answer of those questions (1.3 s
        # against 0.13 s for 100,000 responses).
        other_rows = (await conn.execute(
            select(AnswerRow.response_id, AnswerRow.question_id, AnswerRow.other_text)
            .where(AnswerRow.other_text.is_not(None)))).all()

    def judge() -> QualityReport:
        kept = {r[0] for r in responses}
        timings = [row for row in timing_rows if row[0] in kept]
        texts = [(rid, qid, text) for rid, qid, text in text_rows if rid in kept and text is not None]
        texts += [(rid, f"{qid}__other", text) for rid, qid, text in other_rows
                  if rid in kept and qid in other_ids and text is not None]
        return assess(survey, rules, responses, timings, scale_answers, texts)

    # Judging 100,000 responses is ~0.4 s of Python: a worker thread does it, so the loop that serves respondents
    # is not held while an export or a quality= filter waits for it (bench/exports.py measures the stall).
    return await asyncio.to_thread(judge)
