"""The bot token never reaches the logs, even at DEBUG (issue 4, point 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess


@pytest.mark.e2e
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_token_appears_nowhere_in_debug_output(tmp_path: Path):
    secret_part = E2E_TOKEN.split(":", 1)[1]
    with FakeBotAPI() as api:
        bot = BotProcess(tmp_path, {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "LOG_LEVEL": "DEBUG",
                                    "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'sec.db'}"})
        bot.start()
        try:
            user = api.user(8001)
            user.send("/start")
            user.wait_for_text("Как устроен аккаунтинг", timeout=20)
            user.press_button("Начать")
            user.wait_for_text("Вопрос 1 из 14")
            user.press_button("Руководитель компании")
            user.wait_for_text("Вопрос 2 из 14")
            user.send("/my_data")
            user.wait_for_text("Что о вас сохранено")
            # error paths log too: a 429 waited out, a user who blocked the bot, a forged button
            api.flood("sendMessage", times=1, retry_after=1)
            user.send("/help")
            user.wait_for_text("/forget_me")
            user.press(user.last_message().message_id, "a:1:o:" + "x" * 40)
            user.wait_callback_answer()
            api.block_user(8002)
            blocked = api.user(8002)
            blocked.send("/start")
            api.wait_call("sendMessage", lambda c: c.params.get("chat_id") == 8002 and c.status == 403)
            api.wait_idle()
        finally:
            code = bot.stop()
        assert E2E_TOKEN in api.seen_tokens  # the bot did use the token on the wire
    output = bot.output()
    assert code == 0
    assert "DEBUG" in output and len(output.splitlines()) > 20  # it really logged at DEBUG
    assert E2E_TOKEN not in output
    assert secret_part not in output
    print(f"\n{len(output.splitlines())} log lines at DEBUG, token absent")
