"""Admin commands: /stats (summary, one question, charts, funnel) and /export, for ADMIN_IDS only.

Admins are checked by numeric Telegram id on every call, by the handler filter and again inside
each handler (buttons too); everyone else gets exactly the unknown-command reply.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from html import escape
from types import ModuleType
from typing import assert_never

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.constants import ChatType, ParseMode

from analytics import jobs, summary_text
from analytics.compare import baseline_waves
from analytics.crosstab import CrosstabError, resolve_banner
from analytics.filters import Filter, FilterError, parse_filter
from analytics.quality import QualityRules
from analytics.quality_text import build_quality, render_quality
from analytics.summary import Summary, build_summary
from bot import callbacks
from bot.admin import analysis
from bot.admin.albums import send_album
from bot.admin.args import StatsArgsError, StatsRequest, View, parse_stats_args
from bot.admin.filenote import FileNote
from bot.admin.language import admin_t
from bot.callbacks import StatsView
from bot.context import Context
from bot.respondent import screens
from bot.respondent.language import speech_of
from bot.respondent.ui import toast
from bot.sending.limiter import bulk_handler
from survey.i18n import N_, LocalizedError, Translator, translator

log = logging.getLogger(__name__)

ADMIN_COMMANDS = (
    ("stats", N_("Summary: /stats [completed | N | charts | funnel | quality | 2020] [by M] [where 11=2]")),
    ("export", N_("Export: /export [csv | xlsx | sav] [completed] [by M] [where 11=2]")),
)
STATS_USAGE = N_(
    "<b>/stats</b> — a summary of every question\n"
    "<b>/stats completed</b> — completed questionnaires only\n"
    "<b>/stats N</b> — question N in detail (and every «other» answer)\n"
    "<b>/stats charts</b> — charts of the questions\n"
    "<b>/stats funnel</b> — the completion funnel\n"
    "<b>/stats quality</b> — the quality of the answers: too fast, identical ratings, repeated texts; "
    "<b>/stats where quality=ok</b> — the summary without flagged questionnaires\n"
    "<b>/stats 2020</b> — comparison with the 2020 wave (z-test / Fisher's test)\n"
    "<b>/stats where 11=2</b> — only those who answered question 11 with option 2 (11=2,5 · 11=other · 12=1-50 · "
    "source=channel_post; conditions separated by spaces — all at once); works with every kind of /stats and with "
    "/export\n"
    "<b>/stats 2 by 1</b> — a table: question 2 by the options of question 1 (or by source), with a significance test; "
    "<b>/stats by 1</b> — every question by question 1 (as a file)\n"
    "<b>/export [csv|xlsx|sav] [completed]</b> — the answers as a file (sav — for SPSS, with a codebook); "
    "<b>/export xlsx by 1</b> — with a sheet of tables"
)
SUMMARY_VIEWS = ((N_("📊 Charts"), StatsView.CHARTS), (N_("🔻 Funnel"), StatsView.FUNNEL), ("⬇️ CSV", StatsView.EXPORT_CSV),
                 ("⬇️ Excel", StatsView.EXPORT_XLSX))
STORED_FILTERS = "stats_filters"  # chat_data key: filters too long for callback data, by key
STORED_FILTERS_KEPT = 50


def summary_buttons(t: Translator, context: Context | None = None, completed_only: bool = False,
                    where: tuple[str, ...] = ()) -> InlineKeyboardMarkup:
    """The buttons under a summary; each keeps the summary's filter (completed, where …)."""
    key = None
    if where and callbacks.stats_button_data(StatsView.EXPORT_XLSX, completed_only, where) is None and context is not None:
        # Too long to travel in the button: kept in this chat's memory under a short key.
        stored = context.chat_data.setdefault(STORED_FILTERS, {})
        key = f"{len(stored) + 1:x}"
        stored[key] = where
        for old in list(stored)[:-STORED_FILTERS_KEPT]:
            del stored[old]
    buttons = [
        InlineKeyboardButton(t.gettext(label),
                             callback_data=callbacks.stats_button_data(view, completed_only, () if key else where, key))
        for label, view in SUMMARY_VIEWS
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


async def _unknown_command(update: Update, context: Context) -> str:
    """What a non-admin gets for an admin command: exactly the respondents' unknown-command reply."""
    return (await speech_of(update, context)).t.gettext(screens.UNKNOWN_COMMAND)


def _is_admin(update: Update, context: Context) -> bool:
    user = update.effective_user
    return user is not None and context.bot_data.settings.is_admin(user.id)


async def _summary(t: Translator, context: Context, completed_only: bool, where: Filter | None = None, *,
                   test: bool = False) -> Summary:
    data = context.bot_data
    survey = data.test_service.survey if test else data.survey
    return await build_summary(data.engine, survey, completed_only=completed_only, where=where, language=t.language)


async def _send_html(context: Context, chat_id: int, messages: list[str], keyboard: InlineKeyboardMarkup | None = None) -> None:
    for i, text in enumerate(messages):
        last = i == len(messages) - 1
        await context.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=keyboard if last else None)


async def _bad_request(t: Translator, context: Context, chat_id: int, exc: LocalizedError) -> None:
    """A filter error is one line with the syntax; other bad words get the usage too."""
    if isinstance(exc, FilterError):
        await context.bot.send_message(chat_id, t.gettext("The filter is not applied: {error}.").format(error=exc.text(t)))
        return
    text = t.gettext("I did not understand the request: {error}.").format(error=escape(exc.text(t)))
    await context.bot.send_message(chat_id, f"{text}\n\n{t.gettext(STATS_USAGE)}", parse_mode=ParseMode.HTML)


def quality_rules(context: Context) -> QualityRules:
    """The data-quality thresholds (QUALITY_SPEEDER_RATIO)."""
    return QualityRules(speeder_ratio=context.bot_data.settings.quality_speeder_ratio)


def _parse(context: Context, formats: tuple[str, ...] = ()) -> tuple[StatsRequest, Filter | None]:
    """The command's words as a request and its filter; StatsArgsError / FilterError when invalid."""
    survey = context.bot_data.survey
    request = parse_stats_args(list(context.args or []), survey, baseline_waves(survey), formats)
    return request, (parse_filter(request.where, survey, quality_rules(context)) if request.where else None)


@bulk_handler  # everything an admin gets waits for spare budget: respondents come first
async def stats(update: Update, context: Context) -> None:
    """/stats [completed] [N | charts | funnel | 2020] [where COND ...]."""
    if not _is_admin(update, context):
        await update.effective_message.reply_text(await _unknown_command(update, context))
        return
    chat_id = update.effective_chat.id
    t = admin_t(context, update)
    # "/stats test": the admins' test runs, which every other view leaves out.
    test = any(a.lower() == "test" for a in context.args or [])
    if test:
        context.args = [a for a in context.args if a.lower() != "test"]
    try:
        request, where = _parse(context)
    except (StatsArgsError, FilterError) as exc:
        await _bad_request(t, context, chat_id, exc)
        return
    await context.bot.send_chat_action(chat_id, "typing")
    if request.view == View.QUALITY and not test:  # a report of its own, not a view of the summary
        view = await build_quality(context.bot_data.engine, context.bot_data.survey, quality_rules(context), where,
                                   language=t.language)
        await _send_html(context, chat_id, await asyncio.to_thread(render_quality, view))
        return
    if request.banner is not None:
        if test:
            await context.bot.send_message(chat_id, t.gettext("«by» tables are not built for test answers: /stats test or "
                                                              "/stats test N."))
            return
        try:
            await analysis.send_crosstab(context, chat_id, request.banner, request.question, where, request.completed_only,
                                         t)
        except CrosstabError as exc:
            await context.bot.send_message(chat_id, t.gettext("The table cannot be built: {error}.").format(
                error=exc.text(t)))
        return
    summary = await _summary(t, context, request.completed_only, where, test=test)
    if test:
        await context.bot.send_message(chat_id, t.gettext("🧪 Test answers (not in the usual statistics, charts, funnel "
                                                          "and exports):"))
    if where is not None and summary.started == 0:
        await context.bot.send_message(chat_id, analysis.no_respondents_text(t, where.describe(t)))
        return
    match request.view:
        case View.SUMMARY:
            messages = await asyncio.to_thread(summary_text.render_summary, summary)
            keyboard = None if test else summary_buttons(t, context, request.completed_only, request.where)
            await _send_html(context, chat_id, messages, keyboard)
        case View.CHARTS:
            await send_charts(context, chat_id, summary)
        case View.FUNNEL:
            await send_funnel(context, chat_id, summary)
        case View.COMPARE:
            await analysis.send_comparison(context, chat_id, summary, request.wave)
        case View.QUALITY:  # test runs: answered above for the real responses only
            await context.bot.send_message(chat_id, t.gettext("Quality flags are computed for real questionnaires only: "
                                                              "/stats quality."))
        case View.QUESTION:
            number = request.question
            try:
                number = summary.question(int(number) if number.isdigit() else number).number
            except KeyError:
                number = int(number) if number.isdigit() else 0
            await send_question(context, chat_id, summary, number)
        case _:
            assert_never(request.view)


async def send_question(context: Context, chat_id: int, summary: Summary, number: int) -> None:
    """The detail of one question, with every typed "other" text."""
    t = translator(summary.language)
    try:
        question = summary.question(number)
    except KeyError:
        await context.bot.send_message(chat_id, t.gettext("There is no question {number}: the questionnaire has {count} "
                                                          "questions.").format(number=number, count=len(summary.questions)))
        return
    messages = await asyncio.to_thread(summary_text.render_question, summary, number)
    if question.other_texts:
        messages += await asyncio.to_thread(summary_text.render_other_texts, summary, question.id)
    await _send_html(context, chat_id, messages)
    caption = t.gettext("Filter: {filter}").format(filter=summary.filter) if summary.filter else None
    charts = await _charts()
    if not charts.has_chart(question):
        await _send_answers_file(context, chat_id, summary, question)
        return
    chart = await asyncio.to_thread(charts.question_chart, question, _ordered(context, question.id), t)
    await context.bot.send_photo(chat_id, InputFile(chart, filename=f"q{number}.png"), caption=caption)


async def _charts() -> ModuleType:
    """analytics.charts, imported in a worker thread when a chart is first drawn: matplotlib costs ~1 s of start-up
    (a third of it, measured for issue 23) and must not stall the event loop when it loads."""
    return await asyncio.to_thread(importlib.import_module, "analytics.charts")


def _ordered(context: Context, question_id: str) -> bool:
    """Whether the questionnaire marks a question's options as ordered (charts keep their order)."""
    try:
        return bool(getattr(context.bot_data.survey.get(question_id), "ordered", False))
    except KeyError:
        return False


async def _send_answers_file(context: Context, chat_id: int, summary: Summary, question) -> None:
    """A text question's answers as a .txt document (a picture of free text says nothing)."""
    t = translator(summary.language)
    charts = await _charts()
    content = await asyncio.to_thread(charts.answers_file, question, summary.filter, t)
    caption = f"{question.number}. {question.title}: " + t.gettext("answers ({count})").format(
        count=len(question.other_texts))
    await context.bot.send_document(chat_id, InputFile(content, filename=f"q{question.number}_answers.txt"),
                                    caption=caption[:1024])


async def send_charts(context: Context, chat_id: int, summary: Summary) -> None:
    """One bar chart per question, as albums of up to ten photos."""
    t = translator(summary.language)
    charts = await _charts()
    drawn = [q for q in summary.questions if charts.has_chart(q)]
    images = await asyncio.to_thread(lambda: [charts.question_chart(q, _ordered(context, q.id), t) for q in drawn])
    caption = t.gettext("Filter: {filter}").format(filter=summary.filter) if summary.filter else None
    await send_album(context, chat_id, [(f"q{q.number}.png", png) for q, png in zip(drawn, images)], caption)
    for question in summary.questions:
        if not charts.has_chart(question):
            await _send_answers_file(context, chat_id, summary, question)


async def send_funnel(context: Context, chat_id: int, summary: Summary) -> None:
    """The completion funnel as text and one chart."""
    await _send_html(context, chat_id, await asyncio.to_thread(summary_text.render_funnel, summary))
    t = translator(summary.language)
    charts = await _charts()
    chart = await asyncio.to_thread(charts.funnel_chart, summary)
    caption = t.gettext("Filter: {filter}").format(filter=summary.filter) if summary.filter else None
    await context.bot.send_photo(chat_id, InputFile(chart, filename="funnel.png"), caption=caption)


@bulk_handler
async def export(update: Update, context: Context) -> None:
    """/export [csv|xlsx] [completed] [where COND ...]: the responses as files."""
    if not _is_admin(update, context):
        await update.effective_message.reply_text(await _unknown_command(update, context))
        return
    chat_id = update.effective_chat.id
    t = admin_t(context, update)
    try:
        request, where = _parse(context, jobs.FORMATS)
    except (StatsArgsError, FilterError) as exc:
        await _bad_request(t, context, chat_id, exc)
        return
    if where is not None:
        summary = await _summary(t, context, request.completed_only, where)
        if summary.started == 0:
            await context.bot.send_message(chat_id, analysis.no_respondents_text(t, where.describe(t)))
            return
    formats = list(request.formats) or ["csv", "xlsx"]  # SPSS only when asked for
    if request.banner is not None:
        try:
            resolve_banner(context.bot_data.survey, request.banner)
        except CrosstabError as exc:
            await context.bot.send_message(chat_id, t.gettext("The table cannot be built: {error}.").format(
                error=exc.text(t)))
            return
        formats = [f for f in formats if f == "xlsx"] or ["xlsx"]  # cross-tabs are a sheet of the XLSX file
    await send_exports(t, context, chat_id, formats, completed_only=request.completed_only, where=where,
                       banner=request.banner)


async def send_exports(
    t: Translator, context: Context, chat_id: int, formats: list[str], *, completed_only: bool,
    where: Filter | None = None, banner: str | None = None,
) -> None:
    """Build each export off the event loop and send it as a document (the files in the questionnaire's default
    language, the captions in the admin's)."""
    data = context.bot_data
    for fmt in formats:
        await context.bot.send_chat_action(chat_id, "upload_document")
        name = jobs.export_filename(data.survey, fmt, completed_only)
        if where is not None:
            name = name.replace(f".{fmt}", f"_filtered.{fmt}")
        # A file that takes a while shows how far it is (bot/admin/filenote.py), replaced by the file.
        async with FileNote(context, chat_id, t) as note:
            # The codebook comes with it: a sheet inside XLSX, a .codebook.csv file after CSV and SAV.
            files = await jobs.export_files(data.settings.database_url, data.survey, fmt, name.removesuffix(f".{fmt}"),
                                            completed_only=completed_only, where=where,
                                            banner=banner if fmt == "xlsx" else None,
                                            tz_name=getattr(data.settings, "timezone", "Europe/Moscow"),
                                            progress=note.tick, quality_rules=quality_rules(context))
        caption = (t.gettext("Completed questionnaires only") if completed_only
                   else t.gettext("All questionnaires, unfinished ones included (the status column)"))
        if where is not None:
            caption += "; " + t.gettext("filter: {filter}").format(filter=where.describe(t))
        for i, (file_name, content) in enumerate(files):
            text = caption if i == 0 else t.gettext("Codebook: the columns, the option codes and their labels")
            await context.bot.send_document(chat_id, InputFile(content, filename=file_name), caption=text[:1024])
        await note.remove()


@bulk_handler
async def stats_button(update: Update, context: Context) -> None:
    """Buttons under the summary (callback data ``st:…``); a non-admin tapping a forged one learns nothing."""
    button = callbacks.parse(update.callback_query.data)
    chat = update.effective_chat
    if not isinstance(button, callbacks.StatsButton) or chat is None or chat.type != ChatType.PRIVATE \
            or not _is_admin(update, context):
        await toast(update, (await speech_of(update, context)).t.gettext(screens.STALE_TOAST))
        return
    chat_id = update.effective_chat.id
    t = admin_t(context, update)
    words = button.where
    if button.key is not None:
        words = (context.chat_data or {}).get(STORED_FILTERS, {}).get(button.key)
        if words is None:  # kept in memory only: gone after a restart
            await toast(update, t.gettext("The button is out of date: send /stats with the filter again"))
            return
    try:
        where = parse_filter(list(words), context.bot_data.survey, quality_rules(context)) if words else None
    except FilterError:
        await toast(update, t.gettext(screens.STALE_TOAST))  # the questionnaire changed under an old button
        return
    await toast(update)
    match button.view:
        case StatsView.EXPORT_CSV:
            await send_exports(t, context, chat_id, ["csv"], completed_only=button.completed_only, where=where)
        case StatsView.EXPORT_XLSX:
            await send_exports(t, context, chat_id, ["xlsx"], completed_only=button.completed_only, where=where)
        case StatsView.CHARTS:
            await send_charts(context, chat_id, await _summary(t, context, button.completed_only, where))
        case StatsView.FUNNEL:
            await send_funnel(context, chat_id, await _summary(t, context, button.completed_only, where))
        case _:
            assert_never(button.view)
