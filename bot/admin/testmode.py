"""Test mode for admins: /test (or /start test) takes the survey as a respondent, with answers kept apart.

The test run is a response to the test copy of the questionnaire (survey.testmode): while an admin has
one in progress, their taps and messages go to it (bot/respondent/handlers.py ``service_for``); /test reset deletes it so it can be taken again.
"""

from __future__ import annotations

from telegram import BotCommand, Update
from telegram.ext import Application, CommandHandler, filters

from bot.context import Context
from bot.respondent import screens
from bot.respondent.ui import send
from bot.service.respondents import Standing
from storage.testmode import reset_test

TEST_COMMANDS = [BotCommand("test", "Пройти опрос в тестовом режиме: /test, /test reset")]
TEST_LEAD = ("🧪 Тестовый режим: отвечайте как респондент. Эти ответы помечены как тестовые и не попадут в /stats, "
             "графики, воронку и выгрузки — посмотреть их: /stats test. Стереть и пройти заново: /test reset.")
TEST_DONE = "🧪 Тестовый прогон уже пройден. /stats test — посмотреть ответы, /test reset — стереть и пройти заново."
TEST_RESET = "🧪 Тестовые ответы удалены. /test — пройти опрос ещё раз."
TEST_USAGE = ("🧪 Не понял команду. /test — пройти опрос в тестовом режиме, /test reset — стереть тестовые ответы. "
              "Ничего не изменено.")
TEST_NOTHING = "🧪 Тестовых ответов нет. /test — пройти опрос в тестовом режиме."


def add_test_handlers(app: Application, only: filters.BaseFilter) -> None:
    """/test and /test reset behind the admin filter; an admin's /start test too (added before the respondent's
    /start, so it never reaches respondent code)."""
    app.add_handler(CommandHandler("test", test_command, filters=only))
    app.add_handler(CommandHandler("start", start_test, filters=only & filters.Regex(r"^/start(@\w+)?\s+test\s*$")))


async def start_test(update: Update, context: Context) -> None:
    """/start test from an admin: the same as /test."""
    await begin_test(context, update.effective_user.id, update.effective_chat.id)


async def test_command(update: Update, context: Context) -> None:
    """/test: begin or continue the admin's test run; /test reset: delete it."""
    data, user_id, chat_id = context.bot_data, update.effective_user.id, update.effective_chat.id
    args = [a.lower() for a in context.args or []]
    if args not in ([], ["reset"]):
        await context.bot.send_message(chat_id, TEST_USAGE)
        return
    if args == ["reset"]:
        async with data.service.write_lock:
            found = await reset_test(data.engine, data.test_service.key(user_id), data.test_service.survey.id)
        await context.bot.send_message(chat_id, TEST_RESET if found else TEST_NOTHING)
        return
    await begin_test(context, user_id, chat_id)


async def begin_test(context: Context, user_id: int, chat_id: int) -> None:
    """Start (or continue) the test run and show its current question."""
    test = context.bot_data.test_service
    if (await test.status(user_id)).standing == Standing.COMPLETED:
        await context.bot.send_message(chat_id, TEST_DONE)
        return
    state = await test.show(user_id)
    await context.bot.send_message(chat_id, TEST_LEAD)
    if state.standing == Standing.IN_PROGRESS and state.progress and state.progress.current:
        await send(context, chat_id, screens.question_screen(context.bot_data.survey, state.progress, state.version))
