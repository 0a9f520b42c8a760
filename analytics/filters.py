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
from survey.i18n import N_, LocalizedError, Translator
from survey.model import OTHER, Question, QuestionType, Survey
from survey.text import clip

SYNTAX = N_("a filter is written so: where 11=2 (option 2 of question 11), 11=2,5 (any of them), 11=other, "
            "12=1-50 (a number from 1 to 50), 12=100+, source=channel_post, quality=ok (no quality flags) or "
            "quality=speeder; several conditions separated by spaces — all at once")
NO_SOURCE = "none"
_RANGE = re.compile(r"^(-?\d+)(?:-(-?\d+)|(\+))?$")


class FilterError(LocalizedError):
    """A filter that cannot be applied: said in one line by ``text(t)``, followed by the syntax."""

    def text(self, t: Translator) -> str:
        """The error in ``t``'s language, followed by the filter syntax."""
        return f"{super().text(t)}; {t.gettext(SYNTAX)}"


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
    number: int | None = None  # the question's number, as headers show it
    shown: tuple[str, ...] = ()  # the option labels (a choice) or the range ("1–50") as headers show them

    def describe(self, t: Translator) -> str:
        """How a header shows the condition: "11 = Digital-agency or Freelance", "source = channel_post"."""
        match self.kind:
            case ConditionKind.CHOICE:
                either = t.gettext(" or ")
                return f"{self.number} = {either.join(self.shown)}"
            case ConditionKind.RANGE:
                return f"{self.number} = {self.shown[0]}"
            case ConditionKind.SOURCE:
                values = ", ".join(t.gettext("no label") if v == NO_SOURCE else v for v in self.values)
                return t.gettext("source = {values}").format(values=values)
            case ConditionKind.QUALITY:
                values = ", ".join(t.gettext(N_("no flags")) if v == OK else t.gettext(N_("any flag"))
                                   if v not in set(Flag) else t.gettext(FLAG_NAMES[Flag(v)]) for v in self.values)
                return t.gettext("quality = {values}").format(values=values)
            case _:
                assert_never(self.kind)
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

    def describe(self, t: Translator) -> str:
        """A one-line description for headers in ``t``'s language: "11 = Digital-агентство полного цикла; 12 = 1–50"
        (option labels as the questionnaire writes them)."""
        return "; ".join(c.describe(t) for c in self.conditions)


def _question(survey: Survey, ref: str) -> Question:
    ref = ref.strip()
    if ref.isdigit():
        number = int(ref)
        for q in survey.questions:
            if survey.number(q.id) == number:
                return q
        raise FilterError(N_("there is no question {ref} (the questionnaire has {count})"), ref=ref,
                          count=len(survey.questions))
    try:
        return survey.get(ref)
    except KeyError:
        raise FilterError(N_("there is no question «{ref}» in the questionnaire"), ref=ref) from None


def _choice(survey: Survey, q: Question, number: int, raw: str) -> Condition:
    ids: list[str] = []
    labels: list[str] = []
    for value in raw.split(","):
        value = value.strip()
        if not value:
            raise FilterError(N_("an empty value in «{number}={raw}»"), number=number, raw=raw)
        if value.isdigit() and 1 <= int(value) <= len(q.options):
            option_id = q.options[int(value) - 1].id
        elif value.lower() == OTHER and q.other_allowed:
            option_id = OTHER
        elif q.option(value) is not None:
            option_id = value
        else:
            extra = ", other" if q.other_allowed else ""
            raise FilterError(N_("question {number} has no option «{value}»: the options are 1–{count}{extra} or their ids"),
                              number=number, value=value, count=len(q.options), extra=extra)
        if option_id not in ids:
            ids.append(option_id)
            labels.append(clip(q.option_label(option_id, survey.other_label(q)), 40))
    return Condition(ConditionKind.CHOICE, q.id, tuple(ids), number=number, shown=tuple(labels))


def _range(q: Question, number: int, raw: str) -> Condition:
    m = _RANGE.match(raw.replace(" ", ""))
    if not m:
        raise FilterError(N_("the value «{raw}» of question {number} is neither a number nor a range like 1-50 or 100+"),
                          number=number, raw=raw)
    low = int(m.group(1))
    high = None if m.group(3) else int(m.group(2)) if m.group(2) else low
    if high is not None and high < low:
        raise FilterError(N_("in the range «{raw}» the start is greater than the end"), raw=raw)
    shown = f"{low}+" if high is None else str(low) if high == low else f"{low}–{high}"
    return Condition(ConditionKind.RANGE, q.id, low=low, high=high, number=number, shown=(shown,))


def parse_condition(survey: Survey, token: str) -> Condition:
    """One ``left=right`` condition."""
    left, sep, right = token.partition("=")
    if not sep or not left.strip() or not right.strip():
        raise FilterError(N_("«{token}» is not a condition"), token=token)
    if left.strip().lower() == "quality":
        values = tuple(dict.fromkeys(v.strip().lower() for v in right.split(",") if v.strip()))
        unknown = [v for v in values if v not in FILTER_VALUES]
        if not values or unknown:
            raise FilterError(N_("quality={value}: the values are {values}"), value=right, values=", ".join(FILTER_VALUES))
        return Condition(ConditionKind.QUALITY, None, values)
    if left.strip().lower() == "source":
        values = tuple(dict.fromkeys(v.strip() for v in right.split(",") if v.strip()))
        if not values:
            raise FilterError(N_("an empty source"))
        return Condition(ConditionKind.SOURCE, None, values)
    q = _question(survey, left)
    number = survey.number(q.id)
    match q.type:  # a type without a case fails loudly (assert_never)
        case QuestionType.SINGLE | QuestionType.MULTIPLE:
            return _choice(survey, q, number, right.strip())
        case QuestionType.SCALE | QuestionType.NUMBER:
            return _range(q, number, right.strip())
        case QuestionType.TEXT:
            raise FilterError(N_("question {number} is free text, it cannot filter"), number=number)
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
        raise FilterError(N_("an empty filter"))
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
