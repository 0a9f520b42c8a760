"""The fake Bot API server works with the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
    Update,
)
from telegram.error import BadRequest, Forbidden, RetryAfter
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

sys.path.insert(0, str(Path(__file__).parent))
from fake_botapi import FakeBotAPI

KB = InlineKeyboardMarkup([[InlineKeyboardButton("Да", callback_data="q1:yes"),
                            InlineKeyboardButton("Нет", callback_data="q1:no")]])


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server
    assert not server.errors, server.errors


@pytest.fixture
async def bot(api: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=f"{api.url}/bot", base_file_url=f"{api.url}/file/bot") as b:
        yield b


def test_binds_loopback_and_unknown_method(api: FakeBotAPI) -> None:
    assert api.url.startswith("http://127.0.0.1:")
    req = urllib.request.Request(f"{api.url}/botX:Y/noSuchMethod", data=b"")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    assert err.value.code == 404
    assert json.load(err.value) == {"ok": False, "error_code": 404, "description": "Not Found"}
    # JSON bodies and case-insensitive method names work too
    req = urllib.request.Request(f"{api.url}/botX:Y/GETME", data=b"{}", headers={"Content-Type": "application/json"})
    assert json.load(urllib.request.urlopen(req, timeout=5))["result"]["username"] == "surveybot_test_bot"
    assert "X:Y" in api.seen_tokens


async def test_get_me_send_edit_and_not_modified(api: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.is_bot and me.username == "surveybot_test_bot" and me.can_join_groups
    user = api.user(1001)
    msg = await bot.send_message(1001, "<b>Вопрос 1</b>", parse_mode="HTML", reply_markup=KB)
    assert msg.text == "Вопрос 1" and msg.chat.type == "private" and msg.reply_markup == KB
    stored = user.last_message()
    assert stored and stored.source == "<b>Вопрос 1</b>" and stored.parse_mode == "HTML"
    assert user.last_keyboard() == [[("Да", "q1:yes"), ("Нет", "q1:no")]]
    second = await bot.send_message(1001, "ещё")
    assert second.message_id == msg.message_id + 1

    edited = await bot.edit_message_text("Вопрос 1 ✅", chat_id=1001, message_id=msg.message_id)
    assert isinstance(edited, type(msg)) and edited.text == "Вопрос 1 ✅" and edited.edit_date
    assert [m.content for m in user.messages()] == ["Вопрос 1 ✅", "ещё"]
    assert user.last_keyboard() == []  # editMessageText without reply_markup drops the keyboard
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await bot.edit_message_text("Вопрос 1 ✅", chat_id=1001, message_id=msg.message_id)
    await bot.edit_message_reply_markup(1001, msg.message_id, reply_markup=KB)
    assert user.messages()[0].keyboard[0][0] == ("Да", "q1:yes")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await bot.send_message(1001, "<b>oops", parse_mode="HTML")
    assert await bot.delete_message(1001, second.message_id)
    assert [m.message_id for m in user.messages()] == [msg.message_id]


async def test_callback_answer_and_commands(api: FakeBotAPI, bot: Bot) -> None:
    user = api.user(1002)
    msg = await bot.send_message(1002, "Выберите", reply_markup=KB)
    user.press_button("Нет")
    updates = await bot.get_updates(timeout=1)
    query = updates[0].callback_query
    assert query and query.data == "q1:no" and query.message.message_id == msg.message_id
    assert await query.answer("Принято", show_alert=True)
    assert user.wait_callback_answer(timeout=2)["text"] == "Принято"
    assert user.callback_answers()[0]["show_alert"] is True
    with pytest.raises(BadRequest, match="(?i)query is too old"):
        await query.answer("again")

    scope = BotCommandScopeChat(1002)
    cmds = [BotCommand("start", "Начать опрос"), BotCommand("stop", "Прервать")]
    assert await bot.set_my_commands(cmds, scope=scope, language_code="ru")
    assert await bot.get_my_commands(scope=scope, language_code="ru") == tuple(cmds)
    assert await bot.get_my_commands() == ()
    assert await bot.delete_my_commands(scope=scope, language_code="ru")
    assert await bot.get_my_commands(scope=scope, language_code="ru") == ()
    assert await bot.send_chat_action(1002, "typing")


async def test_uploads(api: FakeBotAPI, bot: Bot) -> None:
    user = api.user(1003)
    payload = bytes(range(256)) + b"\r\n--boundary\r\n"
    msg = await bot.send_document(1003, InputFile(payload, filename="отчёт.xlsx"), caption="Итоги")
    assert msg.document and msg.document.file_name == "отчёт.xlsx" and msg.caption == "Итоги"
    stored = user.last_message()
    assert stored and stored.kind == "document" and stored.file == payload and stored.filename == "отчёт.xlsx"
    # the uploaded file can be downloaded back through getFile + /file/bot...
    assert bytes(await (await bot.get_file(msg.document.file_id)).download_as_bytearray()) == payload

    group = await bot.send_media_group(1003, [InputMediaPhoto(b"\x89PNG-one", caption="first"),
                                              InputMediaPhoto(b"\x89PNG-two")])
    assert len(group) == 2 and group[0].media_group_id == group[1].media_group_id and group[0].photo
    assert [m.file for m in user.messages()[-2:]] == [b"\x89PNG-one", b"\x89PNG-two"]
    photo = await bot.send_photo(1003, group[0].photo[-1].file_id)  # resend by file_id
    assert user.last_message().file == b"\x89PNG-one" and photo.photo  # type: ignore[union-attr]


async def test_get_updates_offset_confirms(api: FakeBotAPI, bot: Bot) -> None:
    user = api.user(1004, first_name="Аня")
    first = user.send("/start ref")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first]
    msg = updates[0].message
    assert msg and msg.text == "/start ref" and msg.from_user.first_name == "Аня"
    assert msg.entities[0].type == "bot_command" and msg.entities[0].length == len("/start")
    bot_msg = await bot.send_message(1004, "Q?", reply_markup=KB)
    second = user.press(bot_msg.message_id, "q1:yes")
    updates = await bot.get_updates(offset=first + 1, timeout=0)
    assert [u.update_id for u in updates] == [second] and updates[0].callback_query.data == "q1:yes"
    assert updates[0].callback_query.message.text == "Q?"
    assert api.pending_updates() == 1
    assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    assert api.pending_updates() == 0

    api.redeliver(first)  # same update once more, even though it was confirmed
    again = await bot.get_updates(offset=second + 1, timeout=0)
    assert [u.update_id for u in again] == [first]

    started = time.monotonic()  # long poll is capped at ~1 s and returns early on new updates
    assert await bot.get_updates(offset=second + 1, timeout=30) == ()
    assert time.monotonic() - started < 2
    asyncio.get_running_loop().call_later(0.2, user.send_sticker)
    got = await bot.get_updates(offset=second + 1, timeout=5)
    assert got[0].message and got[0].message.sticker and got[0].message.sticker.emoji == "👍"


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # int retry_after
async def test_faults(api: FakeBotAPI, bot: Bot) -> None:
    api.user(1005)
    api.block_user(1005)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(1005, "hi")
    api.block_user(1005, blocked=False)
    api.flood("sendMessage", times=2, retry_after=7)
    for _ in range(2):
        with pytest.raises(RetryAfter) as err:
            await bot.send_message(1005, "hi")
        assert err.value.retry_after in (7, dt.timedelta(seconds=7))
    assert (await bot.send_message(1005, "hi")).text == "hi"
    assert [c.status for c in api.calls_of("sendmessage")] == [403, 429, 429, 200]


async def test_application_round_trip(api: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text("hi", reply_markup=KB)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text(f"chosen {update.callback_query.data}")

    app = (ApplicationBuilder().token(api.token).base_url(f"{api.url}/bot")
           .base_file_url(f"{api.url}/file/bot").build())
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    user = api.user(1006)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=1)
        user.send("/start")
        assert (await user.await_text("hi")).keyboard
        user.press_button("Да")
        await user.await_text("chosen q1:yes", fresh=True)
        await asyncio.to_thread(user.wait_callback_answer, 5)
        await asyncio.to_thread(api.wait_idle, 5)
        await app.updater.stop()
        await app.stop()
    assert [m.content for m in user.messages()] == ["chosen q1:yes"]
