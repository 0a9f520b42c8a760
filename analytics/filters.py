"""Respondent filters: ``11=2 12=1-50 source=channel_post`` → a SQL condition on ``responses``.

Grammar (conditions separated by spaces are joined by AND)::

    Q=V[,V...]        a choice question Q (its number or id) answered with any of the options V:
                      the option's number in the questionnaire (1..k), ``other``, or its id;
                      a multiple-choice answer matches when any of them was selected
    Q=A-B | Q=A+ | Q=A  a scale or number question Q answered with a value in A..B (A+ : A or more)
    source=S[,S...]   the respondent came through the deep link ``?start=S`` (``source=none``: no link)
    quality=F[,F...]  the response's data-quality flags (analytics.quality): ``ok`` (none), ``flagged`` (any),
                      or a flag: ``speeder``, ``fast_answers``, ``straightlining``, ``duplicate_text``

A respondent who skipped or never reached Q does not match a condition on Q. The filter becomes
``responses.id IN (...)`` subqueries, so every summary, table and export runs on the same subset
in SQL, before anything is loaded. The flags are derived, not stored: ``resolve_filter`` reads them (in the
reading transaction of the summary or export) and turns a ``quality=`` condition into the response ids it
keeps; a filter without one is not touched, so the ordinary path costs nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import assert_never

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from analytics.quality import FILTER_VALUES, FLAG_NAMES, OK, Flag, QualityRules, read_quality
from storage.models import Answer as AnswerRow, AnswerChoice, Respondent, Response
from survey.model import OTHER, Question, QuestionType, Survey
from survey.text import clip

SYNTAX = (
    "фильтр пишется так: where 11=2 (вариант 2 вопроса 11), 11=2,5 (любой из них), 11=other, "
    "12=1-50 (число от 1 до 50), 12=100+, source=channel_post, quality=ok (без флагов качества) или "
    "quality=speeder; несколько условий через пробел — все сразу"
)
NO_SOURCE = "none"
_RANGE = re.compile(r"^(-?\d+)(?:-(-?\d+)|(\+))?$")


class FilterError(ValueError):
    """A filter that cannot be applied; the message is one line for the admin."""


class ConditionKind(StrEnum):
    """What a condition tests."""

    CHOICE = "choice"  # Q=2,5: one of these options of a choice question or scale
    RANGE = "range"  # Q=1-50: a number in a range
    SOURCE = "source"  # source=S: the deep link the respondent came through
    QUALITY = "quality"  # quality=ok / speeder …: data-quality flags (derived: resolve_filter gives the ids)


@dataclass(frozen=True)
class Condition:
    """One condition of a filter."""

    kind: ConditionKind
    question_id: str | None
    values: tuple[str, ...] = ()
    low: int | None = None
    high: int | None = None  # None: no upper bound
    text: str = ""  # how the header shows it
    # QUALITY, once resolved: the survey's responses it keeps and those it does not (the shorter list goes to SQL).
    ids: frozenset[int] | None = None
    others: frozenset[int] = frozenset()

    def predicate(self) -> ColumnElement:
        """The condition as ``responses.id IN (...)`` (or a respondent test for the source)."""
        match self.kind:
            case ConditionKind.CHOICE:
                # OR of equalities rather than IN (...): plain bound parameters, which the exports' raw
                # cursor (storage.records streams) can pass as they are.
                ids = select(AnswerChoice.response_id).where(
                    AnswerChoice.question_id == self.question_id,
                    or_(*(AnswerChoice.option_id == v for v in self.values)),
                )
                return Response.id.in_(ids)
            case ConditionKind.RANGE:
                tests = [AnswerRow.question_id == self.question_id, AnswerRow.skipped == False]  # noqa: E712
                tests.append(AnswerRow.number >= self.low)
                if self.high is not None:
                    tests.append(AnswerRow.number <= self.high)
                return Response.id.in_(select(AnswerRow.response_id).where(*tests))
            case ConditionKind.SOURCE:
                people = [Respondent.source == v for v in self.values if v != NO_SOURCE]
                if NO_SOURCE in self.values:
                    people.append(Respondent.source.is_(None))
                return Response.respondent_id.in_(select(Respondent.id).where(or_(*people)))
            case ConditionKind.QUALITY:
                assert self.ids is not None, "a quality condition is resolved (resolve_filter) before it is used"
                # Literal ids (rendered into the statement): the exports' raw cursor passes no expanding parameters.
                if len(self.ids) <= len(self.others):
                    return Response.id.in_(bindparam("quality_ids", sorted(self.ids), expanding=True,
                                                     literal_execute=True))
                return Response.id.not_in(bindparam("quality_others", sorted(self.others), expanding=True,
                                                    literal_execute=True))
            case _:
                assert_never(self.kind)


@dataclass(frozen=True)
class Filter:
    """Conditions joined by AND, and how to describe them."""

    conditions: tuple[Condition, ...]
    quality_rules: QualityRules = field(default_factory=QualityRules)  # the thresholds a quality= condition uses

    def predicate(self) -> ColumnElement:
        """All conditions as one SQL condition on ``responses``."""
        return and_(*(c.predicate() for c in self.conditions))

    def describe(self) -> str:
        """A one-line description for headers: "11 = Digital-агентство полного цикла; 12 = 1–50"."""
        return "; ".join(c.text for c in self.conditions)


def _question(survey: Survey, ref: str) -> Question:
    ref = ref.strip()
    if ref.isdigit():
        number = int(ref)
        for q in survey.questions:
            if survey.number(q.id) == number:
                return q
        raise FilterError(f"вопроса {ref} нет (в анкете {len(survey.questions)}); {SYNTAX}")
    try:
        return survey.get(ref)
    except KeyError:
        raise FilterError(f"вопроса «{ref}» нет в анкете; {SYNTAX}") from None


def _choice(survey: Survey, q: Question, number: int, raw: str) -> Condition:
    ids: list[str] = []
    labels: list[str] = []
    for value in raw.split(","):
        value = value.strip()
        if not value:
            raise FilterError(f"пустое значение в «{number}={raw}»; {SYNTAX}")
        if value.isdigit() and 1 <= int(value) <= len(q.options):
            option_id = q.options[int(value) - 1].id
        elif value.lower() == OTHER and q.other_allowed:
            option_id = OTHER
        elif q.option(value) is not None:
            option_id = value
        else:
            extra = ", other" if q.other_allowed else ""
            raise FilterError(
                f"у вопроса {number} нет варианта «{value}»: варианты 1–{len(q.options)}{extra} или их id; {SYNTAX}"
            )
        if option_id not in ids:
            ids.append(option_id)
            labels.append(clip(q.option_label(option_id, survey.other_label(q)), 40))
    return Condition(ConditionKind.CHOICE, q.id, tuple(ids), text=f"{number} = {' или '.join(labels)}")


def _range(q: Question, number: int, raw: str) -> Condition:
    m = _RANGE.match(raw.replace(" ", ""))
    if not m:
        raise FilterError(f"у вопроса {number} значение «{raw}» — не число и не диапазон вида 1-50 или 100+; {SYNTAX}")
    low = int(m.group(1))
    high = None if m.group(3) else int(m.group(2)) if m.group(2) else low
    if high is not None and high < low:
        raise FilterError(f"в диапазоне «{raw}» начало больше конца; {SYNTAX}")
    shown = f"{low}+" if high is None else str(low) if high == low else f"{low}–{high}"
    return Condition(ConditionKind.RANGE, q.id, low=low, high=high, text=f"{number} = {shown}")


def parse_condition(survey: Survey, token: str) -> Condition:
    """One ``left=right`` condition."""
    left, sep, right = token.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise FilterError(f"«{token}» — не условие; {SYNTAX}")
    if left.strip().lower() == "quality":
        values = tuple(dict.fromkeys(v.strip().lower() for v in right.split(",") if v.strip()))
        unknown = [v for v in values if v not in FILTER_VALUES]
        if not values or unknown:
            raise FilterError(f"quality={right}: значения {', '.join(FILTER_VALUES)}; {SYNTAX}")
        shown = ", ".join("без флагов" if v == OK else "с любым флагом" if v not in set(Flag) else FLAG_NAMES[Flag(v)]
                          for v in values)
        return Condition(ConditionKind.QUALITY, None, values, text=f"качество = {shown}")
    if left.strip().lower() == "source":
        values = tuple(dict.fromkeys(v.strip() for v in right.split(",") if v.strip()))
        if not values:
            raise FilterError(f"пустой source; {SYNTAX}")
        shown = ", ".join("без метки" if v == NO_SOURCE else v for v in values)
        return Condition(ConditionKind.SOURCE, None, values, text=f"источник = {shown}")
    q = _question(survey, left)
    number = survey.number(q.id)
    match q.type:  # a type without a case fails loudly (assert_never)
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            return _choice(survey, q, number, right.strip())
        case QuestionType.SCALE | QuestionType.NUMBER:
            return _range(q, number, right.strip())
        case QuestionType.TEXT:
            raise FilterError(f"вопрос {number} — свободный текст, по нему фильтровать нельзя; {SYNTAX}")
        case _ as unreachable:
            assert_never(unreachable)


def parse_filter(expr: str | Sequence[str], survey: Survey, quality_rules: QualityRules | None = None) -> Filter:
    """Parse a filter expression (a string or its space-separated tokens); FilterError when invalid.

    ``quality_rules``: the thresholds of ``quality=`` conditions (QUALITY_SPEEDER_RATIO; the defaults otherwise).
    """
    tokens = expr.split() if isinstance(expr, str) else [t for part in expr for t in part.split()]
    if tokens and tokens[0].lower() == "where":
        tokens = tokens[1:]
    if not tokens:
        raise FilterError(f"пустой фильтр; {SYNTAX}")
    return Filter(tuple(parse_condition(survey, t) for t in tokens), quality_rules or QualityRules())


async def resolve_filter(conn: AsyncConnection, survey: Survey, where: Filter | None) -> Filter | None:
    """The filter with its ``quality=`` conditions resolved to response ids (read in this snapshot); untouched,
    and nothing read, when it has none."""
    if where is None or not any(c.kind == ConditionKind.QUALITY for c in where.conditions):
        return where
    report = await read_quality(conn, survey, where.quality_rules)
    conditions = []
    for c in where.conditions:
        if c.kind == ConditionKind.QUALITY:
            keep = report.matching(c.values)
            c = replace(c, ids=frozenset(keep), others=frozenset(set(report.responses) - keep))
        conditions.append(c)
    return replace(where, conditions=tuple(conditions))
