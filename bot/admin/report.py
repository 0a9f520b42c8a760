"""/report: the study as one self-contained HTML file (analytics/report.py), sent as a document; ADMIN_IDS only.

``/report [completed] [by Q] [where COND ...]`` reads its words as /stats does (bot/admin/args.py,
analytics/filters.py); a non-admin gets exactly the unknown-command reply.
"""

from __future__ import annotations

import asyncio
from html import escape

from telegram import BotCommand, InputFile, Update
from telegram.constants import ParseMode

from analytics.crosstab import CrosstabError, resolve_banner
from analytics.filters import FilterError, parse_filter
from analytics.report import build_report, render_report, report_filename
from bot.admin.analysis import no_respondents_text
from bot.admin.args import StatsArgsError, parse_stats_args
from bot.admin.filenote import FileNote
from bot.context import Context
from bot.respondent import screens
from bot.sending.limiter import bulk_handler

REPORT_COMMANDS = [BotCommand("report", "Отчёт одним HTML-файлом: /report [completed] [by M] [where 11=2]")]
REPORT_USAGE = (
    "<b>/report</b> — весь отчёт одним HTML-файлом: графики, таблицы, сравнение с 2020, ход опроса, метод "
    "(открывается в любом браузере без сети; «Печать → Сохранить как PDF» даёт страницы A4)\n"
    "<b>/report completed</b> — только завершённые анкеты\n"
    "<b>/report where 11=2</b> — только отобранные фильтром респонденты (как в /stats)\n"
    "<b>/report by 11</b> — с приложением: все вопросы по вариантам вопроса 11 (или by source)"
)
FORMAT_WORD = "html"  # "/report html" is accepted too: the one format there is


@bulk_handler  # waits for spare budget: respondents come first
async def report(update: Update, context: Context) -> None:
    """/report [completed] [by Q] [where COND ...]: the HTML report as a document."""
    data = context.bot_data
    user = update.effective_user
    if user is None or not data.settings.is_admin(user.id):
        await update.effective_message.reply_text(screens.UNKNOWN_COMMAND)
        return
    chat_id = update.effective_chat.id
    survey = data.survey
    try:
        request = parse_stats_args(list(context.args or []), survey, [], (FORMAT_WORD,))
        where = parse_filter(request.where, survey) if request.where else None
        if request.banner is not None:
            resolve_banner(survey, request.banner)
    except FilterError as exc:
        await context.bot.send_message(chat_id, f"Фильтр не применён: {exc}.")
        return
    except CrosstabError as exc:
        await context.bot.send_message(chat_id, f"Приложение «by» не построить: {exc}.")
        return
    except StatsArgsError as exc:
        await context.bot.send_message(chat_id, f"Не понял запрос: {escape(str(exc))}.\n\n{REPORT_USAGE}",
                                       parse_mode=ParseMode.HTML)
        return
    await context.bot.send_chat_action(chat_id, "upload_document")
    # A report that takes a while shows how far it is (questions drawn), replaced by the file (bot/admin/filenote.py).
    async with FileNote(context, chat_id) as note:
        built = await build_report(data.engine, survey, completed_only=request.completed_only, where=where,
                                   banner=request.banner, tz_name=data.settings.timezone)
        nobody = where is not None and built.summary.started == 0
        content = b"" if nobody else (await asyncio.to_thread(render_report, built, note.tick)).encode("utf-8")
    if nobody and where is not None:
        await note.remove()
        await context.bot.send_message(chat_id, no_respondents_text(where.describe()))
        return
    name = report_filename(survey, completed_only=request.completed_only, filtered=where is not None)
    caption = f"Отчёт «{survey.survey.title}»: начали {built.summary.started}, завершили {built.summary.completed}"
    if where is not None:
        caption += f"; фильтр: {where.describe()}"
    await context.bot.send_document(chat_id, InputFile(content, filename=name), caption=caption[:1024])
    await note.remove()
