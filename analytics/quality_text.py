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
from survey.model import Survey

LISTED = 300  # flagged responses listed by number; the rest are in the exports (quality_flags)


@dataclass(frozen=True)
class QualityView:
    """The report, and the responses it is shown for (all of the survey's, or those a filter keeps)."""

    title: str
    report: QualityReport
    shown: list[int]  # response ids in scope, ascending
    filter: str | None = None


async def build_quality(engine: AsyncEngine, survey: Survey, rules: QualityRules | None = None,
                        where: Filter | None = None) -> QualityView:
    """Judge every response (the median is always that of all completed responses) and keep those ``where`` keeps."""
    async with read_only(engine).begin() as conn:
        rules = rules or (where.quality_rules if where is not None else None)
        report = await read_quality(conn, survey, rules)
        shown = sorted(report.responses)
        resolved = await resolve_filter(conn, survey, where)
        if resolved is not None:
            kept = await conn.scalars(select(Response.id).where(Response.survey_id == survey.id, resolved.predicate()))
            shown = sorted(kept)
    return QualityView(survey.survey.title, report, shown, None if where is None else where.describe())


def render_quality(view: QualityView) -> list[str]:
    """The report as Telegram HTML messages."""
    report, rules = view.report, view.report.rules
    judged = [report.responses[rid] for rid in view.shown if rid in report.responses]
    counts = {f: sum(1 for r in judged if f in r.flags) for f in Flag}
    flagged = [r for r in judged if r.flags]
    head = [f"<b>Качество ответов: {escape(view.title)}</b>"]
    if view.filter:
        head.append(f"Фильтр: {escape(view.filter)}")
    head += [
        f"Анкет: {len(judged)}; без флагов: {len(judged) - len(flagged)}; с флагами: {len(flagged)}",
        f"Медианное время завершивших (все {report.completed}): {fmt_duration(report.median_seconds)}; "
        f"быстрее {fmt_ratio(rules.speeder_ratio)} медианы ({fmt_duration(report.speeder_seconds)}) — speeder",
        f"Без замеров времени: {sum(1 for r in judged if not r.timed)} (собраны до учёта времени или без ответов)",
        "",
        f"{FLAG_NAMES[Flag.SPEEDER]} — {counts[Flag.SPEEDER]}",
        f"{FLAG_NAMES[Flag.FAST_ANSWERS]} (доля ответов быстрее {fmt_number(rules.fast_seconds)} с — "
        f"не меньше {fmt_number(rules.fast_share)}) — {counts[Flag.FAST_ANSWERS]}",
        f"{FLAG_NAMES[Flag.STRAIGHTLINING]} (на всех шкалах, от {rules.straightline_min}) — {counts[Flag.STRAIGHTLINING]}",
        f"{FLAG_NAMES[Flag.DUPLICATE_TEXT]} — {counts[Flag.DUPLICATE_TEXT]}",
    ]
    blocks = [head]
    if flagged:
        lines = ["<b>Анкеты с флагами</b> (номер — response_id в выгрузке):"]
        for r in flagged[:LISTED]:
            total = f" — {fmt_duration(r.total_seconds)}" if r.total_seconds is not None else ""
            lines.append(f"№{r.response_id}: {', '.join(r.flags)}{total}")
        if len(flagged) > LISTED:
            lines.append(f"… и ещё {len(flagged) - LISTED} — в выгрузке (столбец quality_flags)")
        lines.append("Сводка без них: /stats where quality=ok")
        blocks.append(lines)
    return pack_blocks(blocks)


def fmt_ratio(value: float) -> str:
    """⅓ for one third, else the number with a decimal comma."""
    return "⅓" if abs(value - 1 / 3) < 1e-9 else fmt_number(value)


def fmt_number(value: float) -> str:
    """A short number with a decimal comma (1,5)."""
    return f"{value:g}".replace(".", ",")


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
