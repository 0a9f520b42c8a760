"""Admin commands for running the survey in the field: /survey (state, dates, quota), /open, /close."""

from __future__ import annotations

from html import escape

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler, filters

from bot.context import Context
from bot.respondent import screens
from storage import field as field_store
from storage.models import utcnow
from survey.field import MANUAL_CLOSED, MANUAL_OPEN, Availability, Phase, Why, availability, aware

FIELD_COMMANDS = [
    BotCommand("survey", "Состояние опроса: даты, квота"),
    BotCommand("open", "Открыть опрос вручную"),
    BotCommand("close", "Закрыть опрос вручную"),
]
PHASES = {Phase.OPEN: "открыт", Phase.NOT_OPEN: "ещё не открыт", Phase.CLOSED: "закрыт"}
REASONS = {Why.ADMIN: "вручную", Why.QUOTA: "по квоте", Why.DATES: "по датам в анкете", Why.ALWAYS: "дат нет"}


def add_field_handlers(app: Application, only: filters.BaseFilter) -> None:
    """/survey, /open and /close behind the admin filter (others get the unknown-command reply)."""
    app.add_handler(CommandHandler("survey", survey_command, filters=only))
    app.add_handler(CommandHandler("open", open_command, filters=only))
    app.add_handler(CommandHandler("close", close_command, filters=only))


async def _availability(context: Context) -> Availability:
    data = context.bot_data
    state = await field_store.load(data.engine, data.survey.id)
    return availability(data.survey.survey, state, utcnow(), data.settings.close_grace, data.settings.zone())


async def survey_text(context: Context, av: Availability) -> str:
    """The /survey report: state and why, dates, grace, quota progress."""
    data = context.bot_data
    zone, meta = data.settings.zone(), data.survey.survey
    moment = lambda value: screens.fmt_moment(value, zone)  # noqa: E731
    lines = [f"<b>Опрос «{escape(meta.title)}»</b>", f"Состояние: <b>{PHASES[av.phase]}</b> ({REASONS[av.why]})"]
    lines.append(f"Открытие по анкете: {moment(av.opens_at) if av.opens_at else 'не задано'}")
    lines.append(f"Закрытие по анкете: {moment(aware(meta.closes_at, zone)) if meta.closes_at else 'не задано'}")
    if av.phase == Phase.CLOSED and av.closes_at:
        lines.append(f"Закрыт: {moment(av.closes_at)}")
    if av.in_grace:
        lines.append(f"Начатые анкеты можно закончить до {moment(av.grace_until)}")
    done = await field_store.completed(data.engine, data.survey.id)
    if meta.quota:
        share = render_percent(done, meta.quota)
        note = "" if av.quota_applies else " (не действует: опрос открыт вручную)"
        lines.append(f"Квота: {done} из {meta.quota} завершённых ({share}){note}")
    else:
        lines.append(f"Квота не задана; завершённых анкет: {done}")
    lines.append("\n/open — открыть вручную, /close — закрыть вручную, /open auto — снова по датам и квоте")
    return "\n".join(lines)


def render_percent(count: int, base: int) -> str:
    from analytics.summary import percent
    from analytics.summary_text import fmt_percent

    return fmt_percent(percent(count, base))


OPEN_USAGE = ("Не понял команду. /open — открыть опрос вручную, /open auto — снова по датам и квоте из анкеты. "
              "Ничего не изменено.")
CLOSE_USAGE = "Не понял команду: /close пишется без параметров. Ничего не изменено."


async def survey_command(update: Update, context: Context) -> None:
    """/survey: the survey's state, dates and quota progress."""
    text = await survey_text(context, await _availability(context))
    await context.bot.send_message(update.effective_chat.id, text, parse_mode=ParseMode.HTML)


async def open_command(update: Update, context: Context) -> None:
    """/open (by hand, over dates and quota) or /open auto (dates and quota decide again)."""
    data = context.bot_data
    args = [a.lower() for a in context.args or []]
    if args not in ([], ["auto"]):  # a typo must not open the survey by hand over its dates and quota
        await context.bot.send_message(update.effective_chat.id, OPEN_USAGE)
        return
    auto = args == ["auto"]
    await field_store.set_manual(data.engine, data.survey.id, None if auto else MANUAL_OPEN, data.survey.survey.quota)
    av = await _availability(context)
    lead = "Опрос снова работает по датам и квоте из анкеты (квота сверена с числом завершённых анкет)." if auto else "Опрос открыт вручную: даты и квота не действуют до /close или /open auto."
    await context.bot.send_message(update.effective_chat.id, f"{lead}\n\n{await survey_text(context, av)}",
                                   parse_mode=ParseMode.HTML)


async def close_command(update: Update, context: Context) -> None:
    """/close: no new respondents; those in progress may finish within CLOSE_GRACE."""
    data = context.bot_data
    if context.args:
        await context.bot.send_message(update.effective_chat.id, CLOSE_USAGE)
        return
    await field_store.set_manual(data.engine, data.survey.id, MANUAL_CLOSED)
    av = await _availability(context)
    lead = (f"Опрос закрыт. Новые участники получают вежливый отказ; начатые анкеты можно закончить до "
            f"{screens.fmt_moment(av.grace_until, data.settings.zone())}.")
    await context.bot.send_message(update.effective_chat.id, f"{lead}\n\n{await survey_text(context, av)}",
                                   parse_mode=ParseMode.HTML)
