"""/report: the study as one self-contained HTML file (analytics/report.py), sent as a document; ADMIN_IDS only.

``/report [completed] [by Q] [where COND ...] [lang CODE]`` reads its words as /stats does (bot/admin/args.py,
analytics/filters.py); a non-admin gets exactly the unknown-command reply. The report is written in ``lang CODE``
(one of the questionnaire's languages), else in the admin's language when the questionnaire is written in it, else
in the questionnaire's default language.
"""

from __future__ import annotations

import asyncio
from html import escape

from telegram import InputFile, Update
from telegram.constants import ParseMode

from analytics.crosstab import CrosstabError, resolve_banner
from analytics.filters import FilterError, parse_filter
from analytics.report import ReportLanguageError, build_report, check_language, render_report, report_filename
from bot.admin.analysis import no_respondents_text
from bot.admin.args import StatsArgsError, parse_stats_args, take_language
from bot.admin.filenote import FileNote
from bot.admin.language import admin_language, admin_t
from bot.context import Context
from bot.respondent import screens
from bot.respondent.language import speech_of
from bot.sending.limiter import bulk_handler
from survey.i18n import N_

REPORT_COMMANDS = (("report", N_("The report as one HTML file: /report [completed] [by M] [where 11=2]")),)
REPORT_USAGE = N_(
    "<b>/report</b> — the whole report as one HTML file: charts, tables, the comparison with 2020, the course of the "
    "survey, the method (opens in any browser without a network; «Print → Save as PDF» gives A4 pages)\n"
    "<b>/report completed</b> — completed questionnaires only\n"
    "<b>/report where 11=2</b> — only the respondents a filter keeps (as in /stats)\n"
    "<b>/report by 11</b> — with an appendix: every question by the options of question 11 (or by source)"
)
REPORT_LANG_USAGE = N_("<b>/report lang en</b> — the report in another of the questionnaire's languages: {languages}")
FORMAT_WORD = "html"  # "/report html" is accepted too: the one format there is


@bulk_handler  # waits for spare budget: respondents come first
async def report(update: Update, context: Context) -> None:
    """/report [completed] [by Q] [where COND ...] [lang CODE]: the HTML report as a document."""
    data = context.bot_data
    user = update.effective_user
    if user is None or not data.settings.is_admin(user.id):
        await update.effective_message.reply_text((await speech_of(update, context)).t.gettext(screens.UNKNOWN_COMMAND))
        return
    chat_id = update.effective_chat.id
    t = admin_t(context, update)
    survey = data.survey
    try:
        words, code = take_language(list(context.args or []))
        language = check_language(survey, code) if code else survey.language_for(admin_language(data, update))
        request = parse_stats_args(words, survey, [], (FORMAT_WORD,))
        where = parse_filter(request.where, survey) if request.where else None
        if request.banner is not None:
            resolve_banner(survey, request.banner)
    except ReportLanguageError as exc:
        await context.bot.send_message(chat_id, t.gettext("The report cannot be written in that language: {error}.")
                                       .format(error=exc.text(t)))
        return
    except FilterError as exc:
        await context.bot.send_message(chat_id, t.gettext("The filter is not applied: {error}.").format(error=exc.text(t)))
        return
    except CrosstabError as exc:
        await context.bot.send_message(chat_id, t.gettext("The «by» appendix cannot be built: {error}.").format(
            error=exc.text(t)))
        return
    except StatsArgsError as exc:
        text = t.gettext("I did not understand the request: {error}.").format(error=escape(exc.text(t)))
        usage = t.gettext(REPORT_USAGE)
        if len(survey.languages) > 1:
            usage += "\n" + t.gettext(REPORT_LANG_USAGE).format(languages=escape(", ".join(survey.languages)))
        await context.bot.send_message(chat_id, f"{text}\n\n{usage}", parse_mode=ParseMode.HTML)
        return
    await context.bot.send_chat_action(chat_id, "upload_document")
    # A report that takes a while shows how far it is (questions drawn), replaced by the file (bot/admin/filenote.py).
    async with FileNote(context, chat_id, t) as note:
        built = await build_report(data.engine, survey, completed_only=request.completed_only, where=where,
                                   banner=request.banner, tz_name=data.settings.timezone, language=language)
        nobody = where is not None and built.summary.started == 0
        content = b"" if nobody else (await asyncio.to_thread(render_report, built, note.tick)).encode("utf-8")
    if nobody and where is not None:
        await note.remove()
        await context.bot.send_message(chat_id, no_respondents_text(t, where.describe(t)))
        return
    name = report_filename(survey, completed_only=request.completed_only, filtered=where is not None)
    caption = t.gettext("The report «{title}»: started {started}, completed {completed}").format(
        title=built.survey.survey.title, started=built.summary.started, completed=built.summary.completed)
    if where is not None:
        caption += "; " + t.gettext("filter: {filter}").format(filter=where.describe(t))
    await context.bot.send_document(chat_id, InputFile(content, filename=name), caption=caption[:1024])
    await note.remove()
