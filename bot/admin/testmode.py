"""Test mode for admins: /test (or /start test) takes the survey as a respondent, with answers kept apart.

The test run is a response to the test copy of the questionnaire (survey.testmode): while an admin has
one in progress, their taps and messages go to it (bot/respondent/handlers.py ``service_for``); /test reset deletes it so it can be taken again.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.admin.language import admin_t
from bot.context import Context
from bot.respondent import screens
from bot.respondent.language import speech, telegram_language
from bot.respondent.ui import send
from bot.service.respondents import Standing
from storage.testmode import reset_test
from survey.i18n import N_

TEST_COMMANDS = (("test", N_("Take the survey in test mode: /test, /test reset")),)
TEST_LEAD = N_("🧪 Test mode: answer as a respondent. These answers are marked as test answers and stay out of /stats, "
               "charts, the funnel and exports — to see them: /stats test. To erase them and start again: /test reset.")
TEST_DONE = N_("🧪 The test run is done already. /stats test — see the answers, /test reset — erase them and start again.")
TEST_RESET = N_("🧪 The test answers are deleted. /test — take the survey again.")
TEST_USAGE = N_("🧪 I did not understand the command. /test — take the survey in test mode, /test reset — erase the "
                "test answers. Nothing was changed.")
TEST_NOTHING = N_("🧪 There are no test answers. /test — take the survey in test mode.")


def add_test_handlers(app: Application, only: filters.BaseFilter) -> None:
    """/test and /test reset behind the admin filter; an admin's /start test too (added before the respondent's
    /start, so it never reaches respondent code)."""
    app.add_handler(CommandHandler("test", test_command, filters=only))
    app.add_handler(CommandHandler("start", start_test, filters=only & filters.Regex(r"^/start(@\w+)?\s+test\s*$")))


async def start_test(update: Update, context: Context) -> None:
    """/start test from an admin: the same as /test."""
    await begin_test(context, update, update.effective_user.id, update.effective_chat.id)


async def test_command(update: Update, context: Context) -> None:
    """/test: begin or continue the admin's test run; /test reset: delete it."""
    data, user_id, chat_id = context.bot_data, update.effective_user.id, update.effective_chat.id
    t = admin_t(context, update)
    args = [a.lower() for a in context.args or []]
    if args not in ([], ["reset"]):
        await context.bot.send_message(chat_id, t.gettext(TEST_USAGE))
        return
    if args == ["reset"]:
        async with data.service.write_lock:
            found = await reset_test(data.engine, data.test_service.key(user_id), data.test_service.survey.id)
        await context.bot.send_message(chat_id, t.gettext(TEST_RESET if found else TEST_NOTHING))
        return
    await begin_test(context, update, user_id, chat_id)


async def begin_test(context: Context, update: Update, user_id: int, chat_id: int) -> None:
    """Start (or continue) the test run and show its current question (the test run's respondent speaks the
    admin's Telegram language when the questionnaire has it, as a respondent would)."""
    test = context.bot_data.test_service
    t = admin_t(context, update)
    if (await test.status(user_id, language=telegram_language(update))).standing == Standing.COMPLETED:
        await context.bot.send_message(chat_id, t.gettext(TEST_DONE))
        return
    state = await test.show(user_id, language=telegram_language(update))
    await context.bot.send_message(chat_id, t.gettext(TEST_LEAD))
    if state.standing == Standing.IN_PROGRESS and state.progress and state.progress.current:
        said = speech(context.bot_data.survey, state.language)
        await send(context, chat_id, screens.question_screen(said.t, said.survey, state.progress, state.version))
