"""Admin commands for running the survey in the field: /survey (state, dates, quota), /open, /close."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler, filters

from analytics.summary import percent
from bot.admin.language import admin_t
from bot.context import Context
from bot.respondent import screens
from storage import field as field_store
from storage.models import utcnow
from survey.field import MANUAL_CLOSED, MANUAL_OPEN, Availability, Phase, Why, availability, aware
from survey.i18n import N_, Translator

FIELD_COMMANDS = (
    ("survey", N_("Survey state: dates, quota")),
    ("open", N_("Open the survey by hand")),
    ("close", N_("Close the survey by hand")),
)
PHASES = {Phase.OPEN: N_("open"), Phase.NOT_OPEN: N_("not open yet"), Phase.CLOSED: N_("closed")}
REASONS = {Why.ADMIN: N_("by hand"), Why.QUOTA: N_("by quota"), Why.DATES: N_("by the questionnaire's dates"),
           Why.ALWAYS: N_("no dates")}


def add_field_handlers(app: Application, only: filters.BaseFilter) -> None:
    """/survey, /open and /close behind the admin filter (others get the unknown-command reply)."""
    app.add_handler(CommandHandler("survey", survey_command, filters=only))
    app.add_handler(CommandHandler("open", open_command, filters=only))
    app.add_handler(CommandHandler("close", close_command, filters=only))


async def _availability(context: Context) -> Availability:
    data = context.bot_data
    state = await field_store.load(data.engine, data.survey.id)
    return availability(data.survey.survey, state, utcnow(), data.settings.close_grace, data.settings.zone())


async def survey_text(t: Translator, context: Context, av: Availability) -> str:
    """The /survey report: state and why, dates, grace, quota progress."""
    data = context.bot_data
    zone, meta = data.settings.zone(), data.survey.survey
    moment = lambda value: screens.fmt_moment(value, zone)  # noqa: E731
    unset = t.gettext("not set")
    lines = [
        "<b>" + t.gettext("Survey «{title}»").format(title=escape(meta.title)) + "</b>",
        t.gettext("State: {phase} ({why})").format(phase=f"<b>{t.gettext(PHASES[av.phase])}</b>",
                                                   why=t.gettext(REASONS[av.why])),
        t.gettext("Opens by the questionnaire: {when}").format(when=moment(av.opens_at) if av.opens_at else unset),
        t.gettext("Closes by the questionnaire: {when}").format(
            when=moment(aware(meta.closes_at, zone)) if meta.closes_at else unset),
    ]
    if av.phase == Phase.CLOSED and av.closes_at:
        lines.append(t.gettext("Closed: {when}").format(when=moment(av.closes_at)))
    if av.in_grace:
        lines.append(t.gettext("Questionnaires begun can be finished until {when}").format(when=moment(av.grace_until)))
    done = await field_store.completed(data.engine, data.survey.id)
    if meta.quota:
        share = t.percent(percent(done, meta.quota))
        note = "" if av.quota_applies else " " + t.gettext("(not in force: the survey was opened by hand)")
        lines.append(t.gettext("Quota: {done} of {quota} completed ({share})").format(
            done=done, quota=meta.quota, share=share) + note)
    else:
        lines.append(t.gettext("No quota set; completed questionnaires: {done}").format(done=done))
    lines.append("\n" + t.gettext("/open — open by hand, /close — close by hand, /open auto — by the dates and "
                                  "quota again"))
    return "\n".join(lines)


OPEN_USAGE = N_("I did not understand the command. /open — open the survey by hand, /open auto — by the "
                "questionnaire's dates and quota again. Nothing was changed.")
CLOSE_USAGE = N_("I did not understand the command: /close takes no parameters. Nothing was changed.")


async def survey_command(update: Update, context: Context) -> None:
    """/survey: the survey's state, dates and quota progress."""
    text = await survey_text(admin_t(context, update), context, await _availability(context))
    await context.bot.send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML)


async def open_command(update: Update, context: Context) -> None:
    """/open (by hand, over dates and quota) or /open auto (dates and quota decide again)."""
    data = context.bot_data
    t = admin_t(context, update)
    args = [a.lower() for a in context.args or []]
    if args not in ([], ["auto"]):  # a typo must not open the survey by hand over its dates and quota
        await context.bot.send_message(update.effective_chat.id, t.gettext(OPEN_USAGE))
        return
    auto = args == ["auto"]
    await field_store.set_manual(data.engine, data.survey.id, None if auto else MANUAL_OPEN, data.survey.survey.quota)
    av = await _availability(context)
    if auto:
        lead = t.gettext("The survey runs by the questionnaire's dates and quota again (the quota checked against "
                         "the number of completed questionnaires).")
    else:
        lead = t.gettext("The survey is open by hand: dates and quota are not in force until /close or /open auto.")
    await context.bot.send_message(update.effective_chat.id, f"{lead}\n\n{await survey_text(t, context, av)}",
                                   parse_mode=ParseMode.HTML)


async def close_command(update: Update, context: Context) -> None:
    """/close: no new respondents; those in progress may finish within CLOSE_GRACE."""
    data = context.bot_data
    t = admin_t(context, update)
    if context.args:
        await context.bot.send_message(update.effective_chat.id, t.gettext(CLOSE_USAGE))
        return
    await field_store.set_manual(data.engine, data.survey.id, MANUAL_CLOSED)
    av = await _availability(context)
    lead = t.gettext("The survey is closed. New participants get a polite refusal; questionnaires begun can be "
                     "finished until {when}.").format(when=screens.fmt_moment(av.grace_until, data.settings.zone()))
    await context.bot.send_message(update.effective_chat.id, f"{lead}\n\n{await survey_text(t, context, av)}",
                                   parse_mode=ParseMode.HTML)
