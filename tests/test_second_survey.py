"""Another questionnaire file runs through the bot with no code change."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import Settings
from tests.conftest import TEST_TOKEN
from tests.dbcheck import response_row, stored_answers, stored_choices
from tests.harness import running_app
from tests.recording import SimUser

TEAM = Path(__file__).with_name("data") / "team_survey.yaml"


@pytest.fixture
async def team_bot(db_url):
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, survey_file=TEAM)
    async with running_app(settings) as (app, request):
        yield app, request


async def test_team_survey_end_to_end(team_bot, db_url):
    app, request = team_bot
    u = SimUser(app, request, 501)
    await u.send("/start")
    assert "Привычки команды" in u.last().text
    await u.press("Начать")
    q1 = u.last()
    assert "Вопрос 1 из 5" in q1.text
    assert "Пропустить" not in [b["text"] for b in q1.buttons()]  # required
    await u.press("Дизайнер")
    await u.press("Figma")
    await u.press("Slack")
    await u.press("Jira")  # a third one is refused
    assert "не больше 2" in u.last_toast()
    await u.press("Готово")
    q3 = u.last()
    assert "Вопрос 3 из 5" in q3.text and "0 — Никак" in q3.text
    assert [b["text"] for b in q3.buttons()][:6] == ["0", "1", "2", "3", "4", "5"]
    await u.press("0")
    await u.send("1")
    assert "от 2 до 50" in u.messages()[-2].text
    await u.send("7")
    await u.send("Меньше созвонов <b>и</b> больше фокуса")
    assert "Спасибо, записали!" in u.last().text and "&lt;b&gt;" in u.last().text

    answers = stored_answers(db_url, 501)
    assert set(answers) == {"t_role", "t_tools", "t_figma_love", "t_team_size", "t_wish"}
    assert stored_choices(db_url, 501)["t_tools"] == ["figma", "slack"]
    assert answers["t_figma_love"]["number"] == 0
    assert answers["t_team_size"]["number"] == 7
    assert answers["t_wish"]["text"] == "Меньше созвонов <b>и</b> больше фокуса"
    row = response_row(db_url, 501)
    assert row["survey_id"] == "team_habits" and row["survey_version"] == 2 and row["status"] == "completed"


async def test_skip_logic_hides_question_and_back_unhides(team_bot, db_url):
    app, request = team_bot
    u = SimUser(app, request, 502)
    await u.begin()
    await u.press("Разработчик")
    await u.press("Figma")
    await u.press("Готово")
    await u.press("4")  # figma love
    await u.press("← Назад")
    await u.press("← Назад")  # back at the tools question, Figma still ticked
    assert u.last().button("Figma")["text"] == "✅ Figma"
    await u.press("✅ Figma")
    await u.press("Jira")
    await u.press("Готово")
    assert "Вопрос 4 из 5" in u.last().text  # scale question skipped by show_if
    assert "t_figma_love" not in stored_answers(db_url, 502)  # its old answer no longer applies
