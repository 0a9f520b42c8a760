"""The words after /stats and /export: what to show, for which respondents, crossed by what.

    /stats [completed] [N | charts | funnel | quality | 2020] [by Q] [where COND ...]
    /export [csv | xlsx] [completed] [by Q] [where COND ...]
    /report [completed] [by Q] [where COND ...] [lang CODE]

``where`` takes every following ``Q=V`` token (analytics.filters checks them against the
questionnaire); ``by`` takes the next token: a question number or id, or ``source``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import StrEnum

from survey.i18n import CATALOG_LANGUAGES, N_, LocalizedError, translator
from survey.model import Survey


class View(StrEnum):
    """What a /stats request shows."""

    SUMMARY = "summary"
    QUESTION = "question"  # one question in detail
    CHARTS = "charts"
    FUNNEL = "funnel"
    COMPARE = "compare"  # the comparison with an earlier wave
    QUALITY = "quality"  # the data-quality flags (analytics.quality)


VIEWS = (View.CHARTS, View.FUNNEL, View.QUALITY)  # the views named by their own word
COMPARE = N_("compare")  # the word asking for the comparison; its translation in every catalog works too
QUALITY = N_("quality")  # the word asking for the quality flags; likewise


@functools.cache
def words(msgid: str) -> frozenset[str]:
    """A command word and its translation in every catalog ("compare", "сравнение"), built at first use."""
    return frozenset({msgid} | {translator(code).gettext(msgid).lower() for code in CATALOG_LANGUAGES})


class StatsArgsError(LocalizedError):
    """Words that do not make a request; ``text(t)`` says which."""


@dataclass(frozen=True)
class StatsRequest:
    """A parsed /stats or /export request."""

    completed_only: bool = False
    view: View = View.SUMMARY
    question: str | None = None  # as typed: a number or an id
    wave: str | None = None
    banner: str | None = None
    where: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()


LANG_WORD = "lang"  # /report lang en: the language the report is written in


def take_language(args: list[str]) -> tuple[list[str], str | None]:
    """The words without ``lang CODE``, and the CODE (None when not given); StatsArgsError when ``lang`` has no
    code after it or is given twice."""
    rest: list[str] = []
    code: str | None = None
    i = 0
    while i < len(args):
        if args[i].lower() != LANG_WORD:
            rest.append(args[i])
            i += 1
            continue
        if i + 1 >= len(args):
            raise StatsArgsError(N_("lang needs a language code after it, for example lang en"))
        if code is not None:
            raise StatsArgsError(N_("lang can be given once"))
        code = args[i + 1]
        i += 2
    return rest, code


def parse_stats_args(args: list[str], survey: Survey, waves: list[str], formats: tuple[str, ...] = ()) -> StatsRequest:
    """Parse the words of a /stats (or, with ``formats``, /export) command."""
    fields: dict = {}
    where: list[str] = []
    chosen: list[str] = []
    question_ids = {q.id for q in survey.questions}
    i = 0
    view = View.SUMMARY

    def set_view(new: View, word: str) -> None:
        nonlocal view
        if view != View.SUMMARY:
            raise StatsArgsError(N_("one request takes only one of: N, charts, funnel, quality, compare (extra: «{word}»)"),
                                 word=word)
        view = new

    while i < len(args):
        word = args[i]
        low = word.lower()
        i += 1
        if low == "where":
            while i < len(args) and "=" in args[i]:
                where.append(args[i])
                i += 1
            if not where:
                raise StatsArgsError(N_("where needs a condition after it, for example where 11=2"))
        elif "=" in word:
            raise StatsArgsError(N_("the condition «{word}» is written after the word where: where {word}"), word=word)
        elif low == "by":
            if i >= len(args):
                raise StatsArgsError(N_("by needs a question after it: by 1 (a number or an id) or by source"))
            if "banner" in fields:
                raise StatsArgsError(N_("by can be given once"))
            fields["banner"] = args[i]
            i += 1
        elif low == "completed":
            fields["completed_only"] = True
        elif low in formats:
            chosen.append(low)
        elif formats:
            raise StatsArgsError(N_("an unknown word «{word}»"), word=word)
        elif low in words(QUALITY):
            set_view(View.QUALITY, word)
        elif low in VIEWS:
            set_view(View(low), word)
        elif low in words(COMPARE) or (low in waves):
            set_view(View.COMPARE, word)
            fields["wave"] = low if low in waves else (waves[0] if waves else None)
        elif low.isdigit() or word in question_ids:
            set_view(View.QUESTION, word)
            fields["question"] = word
        else:
            raise StatsArgsError(N_("an unknown word «{word}»"), word=word)
    if view == View.COMPARE and not fields.get("wave"):
        raise StatsArgsError(N_("the questionnaire has no figures of an earlier wave (baseline) — nothing to compare with"))
    if fields.get("banner") and view not in (View.SUMMARY, View.QUESTION):
        raise StatsArgsError(N_("by works with the summary or with a question: /stats 2 by 1"))
    return StatsRequest(view=view, where=tuple(where), formats=tuple(dict.fromkeys(chosen)), **fields)
