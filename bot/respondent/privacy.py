"""/my_data and /forget_me: a respondent sees, and can delete, what is stored about them."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from analytics.messages import split_messages
from analytics.summary_text import fmt_time
from bot import callbacks
from bot.context import Context
from bot.respondent import screens
from bot.respondent.language import speech_of
from bot.respondent.ui import edit, toast
from survey.i18n import N_, Translator

FORGET_ASK = N_("Delete all your answers and the record about you? This cannot be undone: the answers will also "
                "disappear from the study's statistics.")
FORGOTTEN = N_("Done: your answers and the record about you are deleted. If you want to take the survey again, "
               "press /start.")
NOTHING_STORED = N_("Nothing is stored about you.")
FORGET_CANCELLED = N_("All right, nothing is deleted.")
FORGET_HINT = N_("You can delete all of this with the /forget_me command.")


def your_id(t: Translator, user_id: int) -> str:
    """The line telling users their own numeric Telegram id (what an operator puts in ADMIN_IDS)."""
    return t.gettext("Your numeric Telegram id: {id}").format(id=f"<code>{user_id}</code>")


async def my_data(update: Update, context: Context) -> None:
    """/my_data: the stored record of the user, in words."""
    data = context.bot_data
    record = await data.service.record(update.effective_user.id)
    user_id = update.effective_user.id
    said = await speech_of(update, context)
    t, survey = said.t, said.survey
    if record is None:
        # Also how a new admin learns the id for ADMIN_IDS (the quick start says so): Telegram knows it anyway.
        await update.effective_message.reply_text(f"{t.gettext(NOTHING_STORED)}\n{your_id(t, user_id)}",
                                                  parse_mode=ParseMode.HTML)
        return
    anonymous = data.settings.anonymous
    who = (t.gettext("a pseudonymous key (your Telegram id is not stored)") if anonymous
           else t.gettext("your numeric Telegram id"))
    lines = [
        "<b>" + t.gettext("What is stored about you") + "</b>",
        t.gettext("Identifier: {who} — {key}").format(who=who, key=f"<code>{escape(record['user_key'])}</code>"),
        t.gettext("First visit: {when}").format(when=fmt_time(record["first_seen"])),
        t.gettext("Link source: {source}").format(source=escape(record["source"] or "—")),
    ]
    if record.get("language"):
        lines.append(t.gettext("Language: {language}").format(language=escape(record["language"])))
    lines += [
        t.gettext("Your name, username and other profile data are not stored."),
        your_id(t, user_id) + (" " + t.gettext("(it is not stored)") if anonymous else ""),
    ]
    for resp in record["responses"]:
        status = t.gettext("completed") if resp["status"] == "completed" else t.gettext("in progress")
        lines += ["", t.gettext("Survey: {status}; started {started}, completed {completed}").format(
            status=status, started=fmt_time(resp["started_at"]), completed=fmt_time(resp["completed_at"]))]
        if resp["survey_id"] != survey.id:
            lines.append(t.gettext("(questionnaire {id})").format(id=escape(resp["survey_id"])))
            continue
        for q in survey.questions:
            if q.id in resp["answers"]:
                label = screens.answer_label(t, survey, q, resp["answers"][q.id])
                lines.append(f"{survey.number(q.id)}. {escape(q.short_title)}: {escape(label)}")
    lines += ["", t.gettext(FORGET_HINT)]
    # Long answers make the record longer than one message: it goes in parts, nothing cut, the hint last.
    for part in split_messages(lines):
        await context.bot.send_message(update.effective_chat.id, part, parse_mode=ParseMode.HTML)


async def forget_me(update: Update, context: Context) -> None:
    """/forget_me: ask for confirmation with two buttons."""
    t = (await speech_of(update, context)).t
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton(t.gettext("Yes, delete"), callback_data="f:yes"),
          InlineKeyboardButton(t.gettext("Cancel"), callback_data="f:no")]]
    )
    await update.effective_message.reply_text(t.gettext(FORGET_ASK), reply_markup=keyboard)


async def forget_button(update: Update, context: Context, button: callbacks.ForgetButton) -> None:
    """The confirmation: delete everything, or leave it."""
    await toast(update)
    t = (await speech_of(update, context)).t  # read before the record (and its language) is deleted
    if not button.confirmed:
        await edit(update, screens.Screen(t.gettext(FORGET_CANCELLED)))
        return
    found = await context.bot_data.service.forget(update.effective_user.id)
    await edit(update, screens.Screen(t.gettext(FORGOTTEN if found else NOTHING_STORED)))
