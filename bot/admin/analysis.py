"""Admin analysis views: the comparison with an earlier wave, and the replies about filters."""

from __future__ import annotations

import asyncio
from html import escape

from telegram import InputFile
from telegram.constants import ParseMode

from analytics import compare as comparing, crosstab_render
from analytics.crosstab import build_crosstabs, count_respondents
from analytics.filters import Filter
from analytics.messages import fits
from analytics.summary import Summary
from bot.admin.albums import send_album
from bot.context import Context
from survey.i18n import Translator, translator

MAX_TEXT_COLUMNS = 7  # wider tables wrap on a phone: they go as a file


def no_respondents_text(t: Translator, filter_text: str) -> str:
    """The reply when a filter leaves nobody: said plainly instead of an empty summary."""
    return t.gettext("No respondent matches the filter «{filter}» — nothing to count.").format(
        filter=escape(filter_text))


async def send_html(context: Context, chat_id: int, messages: list[str]) -> None:
    """Send HTML messages one after another."""
    for text in messages:
        await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)


async def send_comparison(context: Context, chat_id: int, summary: Summary, wave: str) -> None:
    """The comparison with ``wave`` as text, then one paired-bar chart per question."""
    survey = context.bot_data.survey
    comparison = comparing.compare(summary, survey, wave, summary.filter)
    await send_html(context, chat_id, await asyncio.to_thread(comparing.render_comparison, comparison))
    if not comparison.questions:
        return

    def draw() -> list[bytes]:
        from analytics.compare_charts import comparison_chart

        return [comparison_chart(q, t) for q in comparison.questions]

    t = translator(summary.language)
    images = await asyncio.to_thread(draw)
    caption = t.gettext("Now and {wave}").format(wave=comparison.wave)
    if comparison.filter:
        caption += "; " + t.gettext("filter: {filter}").format(filter=comparison.filter)
    named = [(f"compare_q{q.number}.png", png) for q, png in zip(comparison.questions, images)]
    await send_album(context, chat_id, named, caption)


async def send_crosstab(
    context: Context, chat_id: int, banner: str, question: str | None, where: Filter | None, completed_only: bool,
    t: Translator,
) -> None:
    """/stats N by M (one table: text when it fits, else XLSX + summary) and /stats by M (all, as XLSX); the
    tables' own words in ``t``'s language (the admin's)."""
    data = context.bot_data
    filter_text = None if where is None else where.describe(t)
    if where is not None and not await count_respondents(data.engine, data.survey, where, completed_only):
        await context.bot.send_message(chat_id, no_respondents_text(t, filter_text))
        return
    rows = None if question is None else [question]
    tables = await build_crosstabs(data.engine, data.survey, banner, rows, where=where, completed_only=completed_only,
                                   language=t.language)
    if question is not None and tables:
        table = tables[0]
        text = await asyncio.to_thread(crosstab_render.render_table, table, filter_text)
        if fits(text) and len(table.banner.columns) <= MAX_TEXT_COLUMNS:
            await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
            return
        summary = [await asyncio.to_thread(crosstab_render.render_short, table, filter_text)]
        name = f"{data.survey.id}_q{table.number}_by_{table.banner.number or 'source'}.xlsx"
    else:
        summary = await asyncio.to_thread(crosstab_render.render_overview, tables, filter_text, t.language)
        name = f"{data.survey.id}_by_{(tables[0].banner.number or 'source') if tables else banner}.xlsx"
    await send_html(context, chat_id, summary)
    content = await asyncio.to_thread(crosstab_render.tables_xlsx, tables, filter_text)
    await context.bot.send_document(chat_id, InputFile(content, filename=name), caption=t.gettext("Cross-tabulations"))
