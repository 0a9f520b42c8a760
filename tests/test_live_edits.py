"""An edited questionnaire never strands anyone: a respondent standing on a removed question continues at the next
question that exists, and a tap on the removed question's old keyboard is not applied to another question."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from bot import render
from bot.settings import Settings
from survey import flow
from survey.flow import Answer, Progress
from survey.loader import parse_survey
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import response_row, stored_answers
from tests.harness import running_app
from tests.recording import SimUser

BASE = {
    "survey": {"id": "edits", "version": 1, "title": "Правки на ходу"},
    "questions": [
        {"id": "q_role", "type": "single_choice", "text": "Кто вы?",
         "options": [{"id": "dev", "text": "Разработчик"}, {"id": "pm", "text": "Менеджер"},
                     {"id": "qa", "text": "Тестировщик"}]},
        {"id": "q_tools", "type": "multiple_choice", "text": "Чем пользуетесь?",
         "options": [{"id": "jira", "text": "Jira"}, {"id": "figma", "text": "Figma"}, {"id": "slack", "text": "Slack"}]},
        {"id": "q_size", "type": "number", "text": "Сколько человек в команде?", "min": 1, "max": 500},
        {"id": "q_mood", "type": "scale", "text": "Как настроение?", "scale": {"min": 1, "max": 5}},
        {"id": "q_wish", "type": "text", "text": "Что бы вы изменили?"},
    ],
}


def without(qid: str | None = None, option: tuple[str, str] | None = None) -> dict:
    raw = copy.deepcopy(BASE)
    if qid:
        raw["questions"] = [q for q in raw["questions"] if q["id"] != qid]
    if option:
        q = next(q for q in raw["questions"] if q["id"] == option[0])
        q["options"] = [o for o in q["options"] if o["id"] != option[1]]
    return raw


def write(tmp_path: Path, raw: dict, name: str) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def settings_for(db_url: str, survey_file: Path) -> Settings:
    return Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                    survey_file=survey_file, flood_messages=10_000)


def test_relocate_moves_off_a_removed_question_to_the_next_unanswered():
    survey = parse_survey(without("q_tools"))
    progress = Progress(current="q_tools", answers={"q_role": Answer(option_ids=("dev",))}, draft=("jira",))
    moved = flow.relocate(survey, progress)
    assert moved.current == "q_size" and moved.draft == () and moved.answers == progress.answers
    # Everything answered: the last question, whose «Оставить ответ» finishes the survey.
    done = {qid: Answer(number=3) for qid in ("q_role", "q_size", "q_mood", "q_wish")}
    assert flow.relocate(survey, Progress(current="q_tools", answers=done)).current == "q_wish"
    # A valid position is left alone; a pending selection loses only the options that are gone.
    same = Progress(current="q_size", answers={})
    assert flow.relocate(survey, same) is same
    fewer = parse_survey(without(option=("q_tools", "figma")))
    assert flow.relocate(fewer, Progress(current="q_tools", draft=("jira", "figma"))).draft == ("jira",)


async def test_respondent_on_removed_question_finishes(db_url, tmp_path):
    async with running_app(settings_for(db_url, write(tmp_path, BASE, "v1.yaml"))) as (app, request):
        standing = SimUser(app, request, 7002)
        await standing.begin()
        await standing.press("Тестировщик")
        assert "Чем пользуетесь?" in standing.last().text
        await standing.press("Figma")  # a pending selection on the question about to be removed
        typing = SimUser(app, request, 7003)
        await typing.begin()
        await typing.press("Разработчик")
        await typing.press("Jira")
        await typing.press("Готово")
        assert "Сколько человек" in typing.last().text

    # The file loses q_tools (where 7002 stands) and q_size (where 7003 is asked to type a number).
    edited = without("q_tools")
    edited["questions"] = [q for q in edited["questions"] if q["id"] != "q_size"]
    async with running_app(settings_for(db_url, write(tmp_path, edited, "v2.yaml"))) as (app, request):
        standing = SimUser(app, request, 7002)
        # A tap on the old keyboard of the removed question is not applied to another question: the respondent
        # is told and gets the question where they continue.
        await standing.press_data(555, "a:3:t:jira")
        assert standing.last_toast() == render.RELOCATED
        assert "Как настроение?" in standing.last().text
        await standing.send("/start")
        await standing.press("Продолжить")
        assert "Как настроение?" in standing.last().text
        await standing.press("2")
        await standing.press("Пропустить")
        assert "Спасибо" in standing.last().text

        typing = SimUser(app, request, 7003)
        await typing.send("12")  # meant for the removed number question: not stored anywhere else
        assert any(render.RELOCATED in m.text for m in typing.messages())
        assert "Как настроение?" in typing.last().text
        await typing.press("4")
        await typing.send("Меньше встреч")
        assert "Спасибо" in typing.last().text

    # Nothing stored was rewritten or lost; the removed question's answer stays.
    assert response_row(db_url, 7002)["status"] == "completed"
    assert set(stored_answers(db_url, 7002)) == {"q_role", "q_mood", "q_wish"}
    assert set(stored_answers(db_url, 7003)) == {"q_role", "q_tools", "q_mood", "q_wish"}
