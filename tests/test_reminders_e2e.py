"""Reminders with the real `surveybot run` process and SIGKILL: the schedule lives in the database.

1. The bot is killed before the reminder falls due and is down when it does: after the restart the reminder
   is sent (not forgotten).
2. The bot is killed right after the reminder reached Telegram: after the restart it is not sent again.
3. A respondent who blocked the bot (403) is tried once, marked, and never again, across the restart.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from survey.i18n import translator
from survey.model import DEFAULT_REMINDER_TEXT
from tests.dbcheck import respondent_row, response_row
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess
from tests.test_reminders import daytime_zone

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

REMIND_AFTER = 3.0


def reminder_calls(api: FakeBotAPI, chat_id: int) -> list:
    """sendMessage calls that carried the reminder to this chat (refused ones included)."""
    return [c for c in api.calls_of("sendMessage")
            if str(c.params.get("chat_id")) == str(chat_id) and c.params.get("text") == RU(DEFAULT_REMINDER_TEXT)]


def answer_first(api: FakeBotAPI, user_id: int):
    """/start, «Начать», the first option of question 1; returns the user once question 2 is shown."""
    user = api.user(user_id)
    user.send("/start")
    user.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30)
    user.press_button("Начать")
    msg = user.wait_for_text("Вопрос 1 из 14", timeout=20)
    user.press_button(lambda t: t == "Аккаунт-менеджеры", message=msg)
    user.wait_for_text("Вопрос 2 из 14", timeout=20)
    return user


@pytest.mark.e2e
def test_reminder_survives_sigkill_sent_once_never_twice(tmp_path: Path):
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'remind.db'}"
    with FakeBotAPI() as api:
        api._server.handle_error = lambda request, address: None  # a killed client resets its connections
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO",
               "REMIND_AFTER": f"{REMIND_AFTER}s", "REMIND_CHECK_EVERY": "0.3s", "REMIND_MAX": "1",
               "TIMEZONE": daytime_zone()}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            answer_first(api, 620_002)  # the older response: its refused reminder goes first
            user = answer_first(api, 620_001)
            api.block_user(620_002)
            bot.kill()  # well before REMIND_AFTER: nothing was due yet
            assert reminder_calls(api, 620_001) == []
            time.sleep(REMIND_AFTER + 1.0)  # due now, while the bot is down

            bot.start()
            msg = user.wait_for_text(RU(DEFAULT_REMINDER_TEXT), timeout=30)  # not forgotten
            bot.kill()  # right after it reached Telegram
            assert [b[0] for row in msg.keyboard for b in row] == ["Продолжить"]
            assert response_row(db_url, 620_001)["reminders_sent"] == 1

            bot.start()
            time.sleep(REMIND_AFTER + 2.0)  # many looks at the database: nothing left to send
            assert len(reminder_calls(api, 620_001)) == 1  # sent once, not twice
            assert len(reminder_calls(api, 620_002)) == 1  # the blocked one: tried once ...
            assert respondent_row(db_url, 620_002)["blocked_at"] is not None  # ... marked, never again
            assert response_row(db_url, 620_002)["first_reminded_at"] is None

            user.press_button("Продолжить", message=msg)  # resumes at question 2
            user.wait_for(lambda m: m.message_id == msg.message_id and "Вопрос 2 из 14" in m.content, timeout=20)
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    output = bot.output()
    assert "Traceback" not in output and " ERROR " not in output, output[-3000:]
    assert "reminders on: after 0:00:03" in output
