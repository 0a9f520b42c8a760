"""Every kind of update Telegram can send, through the real webhook process (issue 24, point 2): each is routed on
purpose — a respondent blocking or unblocking the bot is stored (and reminders follow it), the bot added to a group
says once where it works and leaves, added to a channel it leaves without a word, everything else is dropped
quietly; a tap on a keyboard drawn before a questionnaire edit gets a short answer. Every request is answered 200
and the log holds no error and no traceback."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import allowed_updates
from storage.db import create_engine
from storage.models import utcnow
from storage.reminders import due_reminders
from survey.loader import load_survey
from tests.dbcheck import respondent_row, stored_answers
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess
from tests.test_webhook import SECRET, forward, free_port, post, wait_listening, webhook_bot
from tests.update_kinds import CHANNEL, GROUP, SMALL_GROUP, ignored, my_chat_member

pytestmark = pytest.mark.e2e
GROUP_NOTE = "Я работаю только в личных сообщениях: откройте чат со мной и нажмите /start."  # screens, in Russian
EDITED_NOTE = "Изменение отправленного сообщения не меняет ответ"
ANSWERING = ("send", "edit", "answer", "leave", "copy", "forward", "delete")  # calls a user or a chat would see


def due(db_url: str) -> set[str]:
    """The user keys a reminder would go to, a week from now (reminders after 1 hour, at most 3)."""
    async def read() -> set[str]:
        engine = create_engine(db_url)
        try:
            found = await due_reminders(engine, load_survey().id, utcnow() + timedelta(days=7), timedelta(hours=1),
                                        3, 100)
            return {d.user_key for d in found}
        finally:
            await engine.dispose()
    return asyncio.run(read())


def test_every_update_kind_is_routed_on_purpose(tmp_path: Path):
    port = free_port()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}"
    with FakeBotAPI() as api:
        bot = webhook_bot(tmp_path, api, port, LOG_LEVEL="INFO")
        bot.start()
        try:
            registered = api.wait_call("setWebhook", timeout=60).params
            assert registered["allowed_updates"] == allowed_updates() == [
                "message", "edited_message", "callback_query", "my_chat_member"]
            assert registered["max_connections"] == 40
            wait_listening(port)
            url = f"http://127.0.0.1:{port}/telegram"
            update_ids = iter(range(900_000, 901_000))

            def send(body: dict) -> int:
                return post(url, {"update_id": next(update_ids), **body}, SECRET)

            alice = api.user(7301)
            assert forward(api, url, alice.send("/start")) == 200
            alice.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30)
            assert forward(api, url, alice.press_button("Начать")) == 200
            q1 = alice.wait_for_text("Вопрос 1 из 14", timeout=20)
            me, chat = api.bot_user(), api.chat(alice.id)
            assert due(db_url) == {str(alice.id)}  # in progress: a reminder would go out in time

            # The respondent blocks the bot: stored when the request is answered, and no reminder goes to them.
            assert send(my_chat_member(chat, alice.as_dict(), me, "member", "kicked")) == 200
            assert respondent_row(db_url, alice.id)["blocked_at"] is not None
            assert due(db_url) == set()
            # ... and unblocks it: reminders follow them again.
            assert send(my_chat_member(chat, alice.as_dict(), me, "kicked", "member")) == 200
            assert respondent_row(db_url, alice.id)["blocked_at"] is None
            assert due(db_url) == {str(alice.id)}
            assert alice.messages() == [q1]  # nothing was said about it

            # Added to groups: one short note each, then the bot leaves; added to a channel: it leaves, silently.
            assert send(my_chat_member(GROUP, alice.as_dict(), me, "left", "member")) == 200
            assert send(my_chat_member(SMALL_GROUP, alice.as_dict(), me, "left", "administrator")) == 200
            assert send(my_chat_member(CHANNEL, alice.as_dict(), me, "left", "administrator")) == 200
            for group in (GROUP, SMALL_GROUP):
                assert [m.content for m in api.messages(group["id"])] == [GROUP_NOTE]
            assert api.messages(CHANNEL["id"]) == []
            assert api.left_chats == [GROUP["id"], SMALL_GROUP["id"], CHANNEL["id"]]
            # Removed from a group (it left, or an admin removed it): nothing to do.
            assert send(my_chat_member(GROUP, alice.as_dict(), me, "member", "left")) == 200
            assert send(my_chat_member(CHANNEL, alice.as_dict(), me, "administrator", "kicked")) == 200
            assert len(api.left_chats) == 3 and len(api.messages(GROUP["id"])) == 1

            # Everything else is dropped without a word (each kind from another user: the flood guard counts).
            mark = len(api.calls)
            for n, kind in enumerate(ignored(alice.as_dict(), chat)):
                someone = api.user(7400 + n)
                assert send(ignored(someone.as_dict(), api.chat(someone.id))[kind]) == 200, kind
            seen = [c.method for c in api.calls[mark:] if c.method.lower().startswith(ANSWERING)]
            assert seen == [], seen

            # A tap on a keyboard drawn before the questionnaire was edited (an older version of the screen, or
            # an option the question no longer has): a short answer, nothing stored, the question stays.
            assert stored_answers(db_url, alice.id) == {}
            for data in ("a:0:o:account_managers", f"a:{q1.keyboard[0][0][1].split(':')[1]}:o:no_such_option",
                         "a:1:zz", "legacy-button-from-2023"):
                assert forward(api, url, alice.press(q1.message_id, data)) == 200
                toast = alice.wait_callback_answer(timeout=20)
                assert toast.get("text"), (data, toast)
            assert alice.messages() == [q1] and "Вопрос 1 из 14" in q1.content
            assert stored_answers(db_url, alice.id) == {}

            # An edited message in the private chat: told that edits change nothing; a message in a group: one note.
            assert forward(api, url, alice.edit(1, "/start again")) == 200
            alice.wait_for_text(EDITED_NOTE, timeout=20)
            assert forward(api, url, alice.group_message(GROUP["id"], "всем привет")) == 200
            assert len(api.messages(GROUP["id"])) == 2
        finally:
            code = bot.stop()
    assert code == 0
    output = bot.output()
    assert "Traceback" not in output and " ERROR " not in output and " CRITICAL " not in output, output[-5000:]
    assert "not an update" not in output  # every kind was understood, none refused with 400
    assert "blocked the bot; marked" in output and "left it" in output


def test_polling_asks_for_the_same_update_kinds(tmp_path: Path):
    with FakeBotAPI() as api:
        bot = BotProcess(tmp_path, {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url,
                                    "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'poll.db'}"})
        bot.start()
        try:
            call = api.wait_call("getUpdates", lambda c: "allowed_updates" in c.params, timeout=60)
            assert call.params["allowed_updates"] == allowed_updates()
            time.sleep(0.2)
        finally:
            assert bot.stop() == 0
