"""XLSForms written as a researcher writes them run through the real ``surveybot run`` process end to end."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from tests.dbcheck import response_row, stored_answers, stored_choices
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, ROOT, BotProcess
from tests.xlsforms import (
    BASIC_CHOICES,
    BASIC_SETTINGS,
    BASIC_SURVEY,
    TWO_LANGUAGE_CHOICES,
    TWO_LANGUAGE_SETTINGS,
    TWO_LANGUAGE_SURVEY,
    workbook,
)

pytestmark = pytest.mark.e2e
ADMIN = 770001


def live(user, text: str):
    """The live (keyboard-bearing) message showing ``text``."""
    return user.wait_for(lambda m: bool(m.keyboard) and (text in m.content or text in str(m.keyboard)), timeout=30,
                         what=text)


def shown(user, text: str):
    """A message showing ``text`` (a typed question may have no buttons)."""
    return user.wait_for(lambda m: text in m.content, timeout=30, what=text)


def begin(user, start: str = "Start") -> None:
    """/start and the start button, in the questionnaire's language (the bot's own words follow it)."""
    user.send("/start")
    live(user, start)
    user.press_button(start)


def export_csv(tmp_path, env: dict[str, str]) -> list[dict[str, str]]:
    out = tmp_path / "answers.csv"
    done = subprocess.run([sys.executable, "-m", "bot.cli", "export", "--format", "csv", "-o", str(out)],
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def test_a_basic_xlsform_end_to_end(tmp_path):
    form = workbook(tmp_path / "pets.xlsx", BASIC_SURVEY, BASIC_CHOICES, BASIC_SETTINGS)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'pets.db'}"
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url, "SURVEY_FILE": str(form),
               "ADMIN_IDS": str(ADMIN)}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            anna = api.user(770101, first_name="Anna")
            begin(anna)
            shown(anna, "What is your name?")
            anna.send("Anna")
            shown(anna, "How old are you?")
            anna.send("12")  # below the constraint's bound
            anna.wait_for(lambda m: "18" in m.content and "99" in m.content and "How old" not in m.content, timeout=30,
                          what="the out-of-range message")
            anna.send("30")
            live(anna, "Do you have a pet?")
            anna.press_button("Yes")
            live(anna, "Which pet?")
            anna.press_button("Other (please specify)")  # or_other: the bot asks for the text itself
            anna.wait_for(lambda m: m.keyboard is None or "Which pet?" not in m.content, timeout=30)
            anna.send("A parrot")
            msg = live(anna, "What does it eat?")
            anna.press_button("Fish", message=msg)
            msg = anna.wait_for(lambda m: m.message_id == msg.message_id and "✅" in str(m.keyboard), timeout=30)
            anna.press_button("Something else", message=msg)  # the `other` choice before a "specify" text
            anna.wait_for(lambda m: "What does it eat?" not in m.content or "✅" not in str(m.keyboard), timeout=30)
            anna.send("Seeds")
            msg = anna.wait_for(lambda m: "What does it eat?" in m.content and str(m.keyboard).count("✅") == 2,
                                timeout=30, what="two ticks")
            anna.press_button("Done", message=msg)
            anna.wait_for_text("That is all, thank you!", timeout=30)

            boris = api.user(770102, first_name="Boris")
            begin(boris)
            shown(boris, "What is your name?")
            boris.send("Boris")
            shown(boris, "How old are you?")
            boris.send("64")
            live(boris, "Do you have a pet?")
            boris.press_button("No")  # the pet questions are not relevant
            boris.wait_for_text("That is all, thank you!", timeout=30)

            admin = api.user(ADMIN, first_name="Admin")
            admin.send("/stats")
            stats = admin.wait_for(lambda m: "Do you have a pet" in m.content or "has_pet" in m.content, timeout=30,
                                   what="the /stats summary")
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    assert "Traceback" not in bot.output()
    text = stats.content
    assert "Yes" in text and "No" in text and "50,0" in text.replace(".", ","), text  # one of two each

    answers = stored_answers(db_url, 770101)
    assert answers["name"]["text"] == "Anna" and answers["age"]["number"] == 30
    assert stored_choices(db_url, 770101)["has_pet"] == ["yes"]
    assert stored_choices(db_url, 770101)["pet"] == ["other"] and answers["pet"]["other_text"] == "A parrot"
    assert sorted(stored_choices(db_url, 770101)["food"]) == ["fish", "other"]
    assert answers["food"]["other_text"] == "Seeds"
    assert set(stored_answers(db_url, 770102)) == {"name", "age", "has_pet"}
    assert response_row(db_url, 770101)["status"] == response_row(db_url, 770102)["status"] == "completed"
    assert response_row(db_url, 770101)["survey_id"] == "pets_form"

    rows = export_csv(tmp_path, {"DATABASE_URL": db_url, "SURVEY_FILE": str(form)})
    assert len(rows) == 2
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"Anna", "Boris"}
    assert by_name["Anna"]["age"] == "30" and by_name["Boris"]["age"] == "64"
    joined = " | ".join(by_name["Anna"].values())
    assert "A parrot" in joined and "Seeds" in joined


def test_a_two_language_xlsform_end_to_end(tmp_path):
    form = workbook(tmp_path / "tea.xlsx", TWO_LANGUAGE_SURVEY, TWO_LANGUAGE_CHOICES, TWO_LANGUAGE_SETTINGS)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'tea.db'}"
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url, "SURVEY_FILE": str(form),
               "ADMIN_IDS": str(ADMIN)}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            for uid, tea, cups in ((770201, "Да", "5"), (770202, "Да", "2"), (770203, "Нет", None)):
                user = api.user(uid, first_name="Ира")
                begin(user, "Начать")
                live(user, "Вы любите чай?")
                assert "Один ответ" in user.last_message().content  # the hint in the default language
                user.press_button(tea)
                if cups is not None:
                    live(user, "Сколько чашек в день?")
                    user.press_button(cups)
                if cups != "5":  # not(${cups} > 4) or ${likes_tea} = 'no'
                    shown(user, "Год рождения?")
                    user.send("1990")
                user.wait_for(lambda m: "Спасибо" in m.content, timeout=30, what="the thanks")
            admin = api.user(ADMIN, first_name="Admin")
            admin.send("/stats")
            stats = admin.wait_for(lambda m: "Вы любите чай" in m.content, timeout=30, what="the /stats summary")
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    assert "Traceback" not in bot.output()
    assert "Да" in stats.content and "66,7" in stats.content.replace(".", ",")  # two of three like tea
    assert set(stored_answers(db_url, 770201)) == {"likes_tea", "cups"}
    assert stored_answers(db_url, 770202)["year"]["number"] == 1990
    assert set(stored_answers(db_url, 770203)) == {"likes_tea", "year"}
    rows = export_csv(tmp_path, {"DATABASE_URL": db_url, "SURVEY_FILE": str(form)})
    assert sorted(r["cups"] for r in rows) == ["", "2", "5"]
