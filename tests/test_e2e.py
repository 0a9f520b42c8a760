"""End to end: the real ``surveybot run`` process over HTTP against a Bot API server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.dbcheck import count, response_row, stored_answers
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, ROOT, BotProcess

pytestmark = pytest.mark.e2e


def question(user, n: int):
    """Wait for the live (keyboard-bearing) message of question n."""
    return user.wait_for(lambda m: f"Вопрос {n} из 14" in m.content and bool(m.keyboard), timeout=20,
                         what=f"question {n}")


def answer(user, n: int) -> None:
    """Answer question n of the bundled study as a person would."""
    msg = question(user, n)
    if n == 2 or n in (7, 8):  # multiple choice: two options, then Готово
        user.press_button(lambda t: t.startswith("1. ") or t.startswith("Коммуникации"), message=msg)
        msg = user.wait_for(lambda m: m.message_id == msg.message_id and "✅" in str(m.keyboard), timeout=20)
        user.press_button("Готово", message=msg)
    elif n in (5, 6):
        user.press_button("7", message=msg)
    elif n == 12:
        user.send("25")
    else:
        first = msg.keyboard[0][0][0]
        user.press_button(first, message=msg)


def test_survey_over_http_survives_sigkill(tmp_path):
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            user = api.user(555001, first_name="Анна")
            user.send("/start")
            user.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30)
            assert api.calls_of("setMyCommands"), "the command list is registered with Telegram"
            user.press_button("Начать")
            for n in range(1, 7):
                answer(user, n)
            question(user, 7)  # the bot acknowledged answer 6 by showing question 7
            bot.kill()
            assert count(db_url, "answers") == 6

            bot.start()
            msg = question(user, 7)  # the old keyboard still works after the restart
            user.press_button(lambda t: t.startswith("1. "), message=msg)
            msg = user.wait_for(lambda m: m.message_id == msg.message_id and "✅" in str(m.keyboard), timeout=30)
            user.press_button("Готово", message=msg)
            for n in range(8, 15):
                answer(user, n)
            user.wait_for_text("Спасибо за участие", timeout=20)
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    answers = stored_answers(db_url, 555001)
    assert len(answers) == 14 and count(db_url, "answers") == 14
    assert answers["q12_company_size"]["number"] == 25
    assert response_row(db_url, 555001)["status"] == "completed"
    assert "Traceback" not in bot.output()


def test_missing_and_malformed_token_exit_2(tmp_path):
    for token in ("", "not-a-token"):
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "BOT_TOKEN": token}
        if not token:
            env.pop("BOT_TOKEN")
        done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
        assert "BOT_TOKEN" in done.stderr and "not-a-token" not in done.stderr


def test_corrupt_questionnaire_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("survey: {id: x, title: t}\nquestions:\n- {id: a, type: single_choice, text: q}\n", encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "BOT_TOKEN": E2E_TOKEN, "SURVEY_FILE": str(bad)}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "question a: options" in done.stderr and "Traceback" not in done.stderr
    check = subprocess.run([sys.executable, "-m", "bot.cli", "check-survey", str(bad)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 2 and "question a: options" in check.stderr
