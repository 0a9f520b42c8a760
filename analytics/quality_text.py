"""The data-quality report (analytics.quality) for a reader: built from the database, and as Telegram HTML.

``/stats quality`` and ``surveybot stats --quality`` show the same text: how many responses each flag
marks, how many have no timings, and the flagged responses by their anonymous number (``response_id`` of
the exports; never a Telegram id).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.filters import Filter, resolve_filter
from analytics.messages import pack_blocks
from analytics.quality import FLAG_NAMES, Flag, QualityReport, QualityRules, read_quality
from analytics.summary_text import fmt_duration
from storage.db import read_only
from storage.models import Response
from survey.i18n import FALLBACK_LANGUAGE, Translator, catalog_language, translator
from survey.model import Survey

LISTED = 300  # flagged responses listed by number; the rest are in the exports (quality_flags)


@dataclass(frozen=True)
class QualityView:
    """The report, and the responses it is shown for (all of the survey's, or those a filter keeps)."""

    title: str
    report: QualityReport
    shown: list[int]  # response ids in scope, ascending
    filter: str | None = None
    language: str = FALLBACK_LANGUAGE  # of the texts made from it (the reader's, when the bot has it)


async def build_quality(engine: AsyncEngine, survey: Survey, rules: QualityRules | None = None,
                        where: Filter | None = None, language: str | None = None) -> QualityView:
    """Judge every response (the median is always that of all completed responses) and keep those ``where`` keeps."""
    async with read_only(engine).begin() as conn:
        rules = rules or (where.quality_rules if where is not None else None)
        report = await read_quality(conn, survey, rules)
        shown = sorted(report.responses)
        resolved = await resolve_filter(conn, survey, where)
        if resolved is not None:
            kept = await conn.scalars(select(Response.id).where(Response.survey_id == survey.id, resolved.predicate()))
            shown = sorted(kept)
    t = translator(catalog_language(language or survey.default_language))
    return QualityView(survey.survey.title, report, shown, None if where is None else where.describe(t), t.language)


def render_quality(view: QualityView) -> list[str]:
    """The report as Telegram HTML messages."""
    report, rules = view.report, view.report.rules
    judged = [report.responses[rid] for rid in view.shown if rid in report.responses]
    counts = {f: sum(1 for r in judged if f in r.flags) for f in Flag}
    flagged = [r for r in judged if r.flags]
    t = translator(view.language)
    name = {flag: t.gettext(FLAG_NAMES[flag]) for flag in Flag}
    head = ["<b>" + t.gettext("Quality of the answers: {title}").format(title=escape(view.title)) + "</b>"]
    if view.filter:
        head.append(t.gettext("Filter: {filter}").format(filter=escape(view.filter)))
    head += [
        t.gettext("Questionnaires: {count}; without flags: {clean}; with flags: {flagged}").format(
            count=len(judged), clean=len(judged) - len(flagged), flagged=len(flagged)),
        t.gettext("Median time of those who completed (all {completed}): {median}; faster than {ratio} of the median "
                  "({limit}) — speeder").format(completed=report.completed, median=fmt_duration(t, report.median_seconds),
                                              ratio=fmt_ratio(t, rules.speeder_ratio),
                                              limit=fmt_duration(t, report.speeder_seconds)),
        t.gettext("Without time measurements: {count} (collected before times were kept, or without answers)").format(
            count=sum(1 for r in judged if not r.timed)),
        "",
        f"{name[Flag.SPEEDER]} — {counts[Flag.SPEEDER]}",
        f"{name[Flag.FAST_ANSWERS]} " + t.gettext("(share of answers faster than {seconds} s — at least {share})").format(
            seconds=t.number(rules.fast_seconds), share=t.number(rules.fast_share)) + f" — {counts[Flag.FAST_ANSWERS]}",
        f"{name[Flag.STRAIGHTLINING]} " + t.gettext("(on every scale, from {count})").format(
            count=rules.straightline_min) + f" — {counts[Flag.STRAIGHTLINING]}",
        f"{name[Flag.DUPLICATE_TEXT]} — {counts[Flag.DUPLICATE_TEXT]}",
    ]
    blocks = [head]
    if flagged:
        lines = ["<b>" + t.gettext("Questionnaires with flags") + "</b> "
                 + t.gettext("(the number is the response_id in the export):")]
        for r in flagged[:LISTED]:
            total = f" — {fmt_duration(t, r.total_seconds)}" if r.total_seconds is not None else ""
            lines.append(f"№{r.response_id}: {', '.join(r.flags)}{total}")
        if len(flagged) > LISTED:
            lines.append(t.gettext("… and {count} more — in the export (the quality_flags column)").format(
                count=len(flagged) - LISTED))
        lines.append(t.gettext("The summary without them: /stats where quality=ok"))
        blocks.append(lines)
    return pack_blocks(blocks)


def fmt_ratio(t: Translator, value: float) -> str:
    """⅓ for one third, else the number with the language's decimal sign."""
    return "⅓" if abs(value - 1 / 3) < 1e-9 else t.number(value)


def quality_to_json(view: QualityView) -> dict:
    """The report as plain data (``surveybot stats --quality --format json``)."""
    report = view.report
    judged = [report.responses[rid] for rid in view.shown if rid in report.responses]
    return {
        "survey": {"title": view.title},
        "filter": view.filter,
        "responses": len(judged),
        "no_timings": sum(1 for r in judged if not r.timed),
        "completed_all": report.completed,
        "median_completion_seconds": report.median_seconds,
        "speeder_ratio": report.rules.speeder_ratio,
        "counts": {f.value: sum(1 for r in judged if f in r.flags) for f in Flag},
        "ok": sum(1 for r in judged if not r.flags),
        "flagged": [{"response_id": r.response_id, "flags": [f.value for f in r.flags],
                     "total_seconds": r.total_seconds, "fast_share": r.fast_share} for r in judged if r.flags],
    }
