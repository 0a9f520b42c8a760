"""Editing a live questionnaire: nobody is stranded, nothing stored is lost or miscounted, and every kind of
change is reported (check-survey --against) and guarded (the bot refuses to start without --accept-changes)."""

from __future__ import annotations

import asyncio
import copy
import io
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
import yaml

from analytics.jobs import export_bytes, export_files
from analytics.summary import REMOVED, REMOVED_LABEL, build_summary, summary_to_json
from bot.app import ChangesNotAccepted
from bot.cli import main
from bot.respondent import screens
from bot.settings import Settings
from storage.definitions import check_changes, last_run
from survey import flow
from survey.changes import Severity, Usage, compare
from survey.flow import Answer, Progress
from survey.i18n import translator
from survey.loader import parse_survey
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import count, fetch, response_row, stored_answers
from tests.fake_botapi import FakeBotAPI
from tests.harness import ROOT, running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

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


def edited(change) -> dict:
    raw = copy.deepcopy(BASE)
    change(raw)
    return raw


def q(raw: dict, qid: str) -> dict:
    return next(x for x in raw["questions"] if x["id"] == qid)


def drop_question(qid: str):
    return lambda raw: raw["questions"].remove(q(raw, qid))


def drop_option(qid: str, oid: str):
    return lambda raw: q(raw, qid)["options"].remove(next(o for o in q(raw, qid)["options"] if o["id"] == oid))


def write(tmp_path: Path, raw: dict, name: str) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def settings_for(db_url: str, survey_file: Path, accept: bool = False) -> Settings:
    return Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                    survey_file=survey_file, flood_messages=10_000, accept_changes=accept)


# ---------------------------------------------------------------- the pure parts


def test_relocate_moves_off_a_removed_question_to_the_next_unanswered():
    survey = parse_survey(edited(drop_question("q_tools")))
    progress = Progress(current="q_tools", answers={"q_role": Answer(option_ids=("dev",))}, draft=("jira",))
    moved = flow.relocate(survey, progress)
    assert moved.current == "q_size" and moved.draft == () and moved.answers == progress.answers
    # Everything answered: the last question, whose «Оставить ответ» finishes the survey.
    done = {qid: Answer(number=3) for qid in ("q_role", "q_size", "q_mood", "q_wish")}
    assert flow.relocate(survey, Progress(current="q_tools", answers=done)).current == "q_wish"
    # A valid position is left alone; a pending selection loses only options that are gone.
    same = Progress(current="q_size", answers={})
    assert flow.relocate(survey, same) is same
    fewer = parse_survey(edited(drop_option("q_tools", "figma")))
    pending = Progress(current="q_tools", draft=("jira", "figma"))
    assert flow.relocate(fewer, pending).draft == ("jira",)


def test_compare_names_every_kind_of_change():
    old = parse_survey(BASE)
    usage = Usage(answered={"q_role": 4, "q_tools": 3, "q_size": 2, "q_wish": 1},
                  options={"q_role": {"dev": 2, "pm": 1, "qa": 1}, "q_tools": {"jira": 3, "figma": 1}},
                  numbers={"q_size": 2}, texts={"q_wish": 1}, standing={"q_size": 1, "q_mood": 2})

    def kinds(raw: dict) -> set[tuple[str, str, str | None]]:
        return {(c.severity.value, c.kind, c.option) for c in compare(old, parse_survey(raw), usage)}

    assert kinds(copy.deepcopy(BASE)) == set()
    assert ("blocking", "removed_question", None) in kinds(edited(drop_question("q_size")))
    assert ("notice", "stranded", None) in kinds(edited(drop_question("q_size")))
    assert kinds(edited(drop_question("q_mood"))) >= {("notice", "removed_question", None), ("notice", "stranded", None)}
    assert ("blocking", "removed_option", "qa") in kinds(edited(drop_option("q_role", "qa")))
    assert ("notice", "removed_option", "slack") in kinds(edited(drop_option("q_tools", "slack")))

    def retype(raw: dict) -> None:
        q(raw, "q_size").update(type="text")
        del q(raw, "q_size")["min"], q(raw, "q_size")["max"]
    assert ("blocking", "type_changed", None) in kinds(edited(retype))

    def rename(raw: dict) -> None:
        q(raw, "q_wish")["id"] = "q_wishes"
    assert ("blocking", "renamed", None) in kinds(edited(rename))

    def reword(raw: dict) -> None:
        q(raw, "q_role")["options"][0]["text"] = "Программист"
        q(raw, "q_role")["text"] = "Кем вы работаете?"
    assert kinds(edited(reword)) == {("harmless", "option_text_changed", "dev"), ("harmless", "text_changed", None)}

    def add(raw: dict) -> None:
        raw["questions"].insert(2, {"id": "q_new", "type": "number", "text": "Новый вопрос"})
    changes = compare(old, parse_survey(edited(add)), usage)
    assert [(c.severity, c.kind) for c in changes] == [(Severity.NOTICE, "new_question")]
    assert "3 in-progress respondent(s) are already past it" in changes[0].message


# ---------------------------------------------------------------- the bot on an edited questionnaire


async def walk_to_tools(u: SimUser) -> None:
    await u.begin()
    await u.press("Тестировщик")
    assert "Чем пользуетесь?" in u.last().text


async def test_respondent_on_removed_question_finishes_and_counts_add_up(db_url, tmp_path):
    first = write(tmp_path, BASE, "v1.yaml")
    async with running_app(settings_for(db_url, first)) as (app, request):
        done = SimUser(app, request, 7001)
        await walk_to_tools(done)
        await done.press("Jira")
        await done.press("Готово")
        await done.send("12")
        await done.press("4")
        await done.send("Меньше встреч")
        assert "Спасибо" in done.last().text
        standing = SimUser(app, request, 7002)
        await walk_to_tools(standing)
        await standing.press("Figma")  # a pending selection on the question about to be removed
        other = SimUser(app, request, 7003)
        await other.begin()
        await other.press("Разработчик")
    answers_before = count(db_url, "answers")
    first_definition = response_row(db_url, 7001)["definition_id"]
    assert first_definition is not None

    # The file loses q_tools (where 7002 stands) and the option «Тестировщик» (chosen by 7001 and 7002).
    raw = edited(lambda r: (drop_question("q_tools")(r), drop_option("q_role", "qa")(r)))
    second = write(tmp_path, raw, "v2.yaml")
    async with running_app(settings_for(db_url, second, accept=True)) as (app, request):
        standing = SimUser(app, request, 7002)
        # A tap on the old keyboard of the removed question (version 3: begin, role, Figma) is not applied to
        # another question: the respondent is told and gets the question where they continue.
        await standing.press_data(555, "a:3:t:jira")
        assert standing.last_toast() == RU(screens.RELOCATED)
        assert "Сколько человек в команде?" in standing.last().text
        await standing.send("/start")
        await standing.press("Продолжить")
        assert "Сколько человек в команде?" in standing.last().text
        await standing.send("7")
        await standing.press("2")
        await standing.press("Пропустить")
        assert "Спасибо" in standing.last().text
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/stats")
        full = "\n".join(m.text for m in admin.messages())
        summary = await build_summary(app.bot_data.engine, app.bot_data.survey)
        fresh = await last_run(app.bot_data.engine, "edits")
        csv_bytes = await export_bytes(db_url, app.bot_data.survey, "csv")
        files = await export_files(db_url, app.bot_data.survey, "xlsx", "answers") + \
            await export_files(db_url, app.bot_data.survey, "sav", "answers")

    # Nothing stored was rewritten or lost: the old answers are all there, the new ones added.
    assert count(db_url, "answers") == answers_before + 3
    assert set(stored_answers(db_url, 7002)) == {"q_role", "q_size", "q_mood", "q_wish"}
    kept = fetch(db_url, "SELECT question_id, choices FROM answers a JOIN responses r ON r.id = a.response_id "
                         "JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = '7001' ORDER BY question_id")
    assert {row["question_id"]: row["choices"] for row in kept}["q_tools"] == "jira"
    assert {row["question_id"]: row["choices"] for row in kept}["q_role"] == "qa"
    assert response_row(db_url, 7002)["status"] == "completed"
    assert response_row(db_url, 7002)["definition_id"] == first_definition  # the version it started on
    assert fresh.id != first_definition and fresh.survey.questions[1].id == "q_size"

    role = summary.question("q_role")
    counts = {o.id: o.count for o in role.options}
    assert counts == {"dev": 1, "pm": 0, REMOVED: 2} and sum(counts.values()) == role.n == 3
    assert summary.removed_questions == [("q_tools", 1)]
    data = summary_to_json(summary)
    assert data["removed_questions"] == [{"id": "q_tools", "label": RU(REMOVED_LABEL), "n": 1}]
    assert f"{RU(REMOVED_LABEL)} — 2 (66,7%)" in full
    assert "q_tools — n = 1" in full
    # Exports keep the answers to the removed question (a column after the current ones) and the removed option.
    table = pd.read_csv(io.BytesIO(csv_bytes), encoding="utf-8-sig", dtype=str).set_index("respondent")
    columns = list(table.columns)
    assert "q_tools" in columns and columns.index("q_tools") > columns.index("q_wish")
    # A removed option keeps its label from the stored questionnaire and gets a code after the current options
    # (issue 21: before, its id stood in the label column and the code cell was empty).
    assert table.loc["7001", "q_tools"] == "Jira" and table.loc["7001", "q_role"] == "Тестировщик (удалён из анкеты)"
    assert table.loc["7001", "q_role__code"] == "3"
    assert table.loc["7002", "q_role"] == "Тестировщик (удалён из анкеты)" and pd.isna(table.loc["7002", "q_tools"])
    # XLSX and SPSS keep it too, and the codebooks describe the removed question's column.
    named = dict(files)
    sheet = pd.read_excel(io.BytesIO(named["answers.xlsx"]), sheet_name="Ответы", dtype=str).set_index("respondent")
    assert sheet.loc["7001", "q_tools"] == "Jira"
    book = pd.read_excel(io.BytesIO(named["answers.xlsx"]), sheet_name="Кодбук", dtype=str)
    assert book.apply(lambda row: row.astype(str).str.contains("q_tools").any(), axis=1).any()
    sav = tmp_path / "answers.sav"
    sav.write_bytes(named["answers.sav"])
    frame, _meta = pyreadstat.read_sav(str(sav))
    assert "q_tools" in frame.columns
    assert b"q_tools" in named["answers.codebook.csv"]


async def test_taps_and_typing_meant_for_removed_questions_are_not_applied_elsewhere(db_url, tmp_path):
    async with running_app(settings_for(db_url, write(tmp_path, BASE, "v1.yaml"))) as (app, request):
        standing = SimUser(app, request, 7002)
        await walk_to_tools(standing)
        await standing.press("Figma")  # a pending selection on the question about to be removed
        typing = SimUser(app, request, 7003)
        await typing.begin()
        await typing.press("Разработчик")
        await typing.press("Jira")
        await typing.press("Готово")
        assert "Сколько человек" in typing.last().text

    # The file loses q_tools (where 7002 stands) and q_size (where 7003 is asked to type a number).
    raw = edited(lambda r: (drop_question("q_tools")(r), drop_question("q_size")(r)))
    async with running_app(settings_for(db_url, write(tmp_path, raw, "v2.yaml"), accept=True)) as (app, request):
        standing = SimUser(app, request, 7002)
        # A tap on the old keyboard of the removed question is not applied to another question: the respondent
        # is told and gets the question where they continue.
        await standing.press_data(555, "a:3:t:jira")
        assert standing.last_toast() == RU(screens.RELOCATED)
        assert "Как настроение?" in standing.last().text
        await standing.send("/start")
        await standing.press("Продолжить")
        assert "Как настроение?" in standing.last().text
        await standing.press("2")
        await standing.press("Пропустить")
        assert "Спасибо" in standing.last().text

        typing = SimUser(app, request, 7003)
        await typing.send("12")  # meant for the removed number question: not stored anywhere else
        assert any(RU(screens.RELOCATED) in m.text for m in typing.messages())
        assert "Как настроение?" in typing.last().text
        await typing.press("4")
        await typing.send("Меньше встреч")
        assert "Спасибо" in typing.last().text

    # Nothing stored was rewritten or lost; the removed question's answer stays.
    assert response_row(db_url, 7002)["status"] == "completed"
    assert set(stored_answers(db_url, 7002)) == {"q_role", "q_mood", "q_wish"}
    assert set(stored_answers(db_url, 7003)) == {"q_role", "q_tools", "q_mood", "q_wish"}


# ---------------------------------------------------------------- check-survey --against and the start guard


async def fill_v1(db_url: str, tmp_path: Path) -> Path:
    first = write(tmp_path, BASE, "v1.yaml")
    async with running_app(settings_for(db_url, first)) as (app, request):
        u = SimUser(app, request, 7101)
        await walk_to_tools(u)
        await u.press("Jira")
        await u.press("Готово")
    return first


@pytest.fixture
def env(monkeypatch, db_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)


async def test_check_survey_against_reports_and_exits(db_url, env, tmp_path, capsys):
    first = await fill_v1(db_url, tmp_path)
    run = lambda *argv: asyncio.to_thread(main, list(argv))  # noqa: E731
    assert await run("check-survey", str(first), "--against") == 0
    assert "no changes that affect stored answers" in capsys.readouterr().out
    reworded = write(tmp_path, edited(lambda r: q(r, "q_role")["options"][2].update(text="QA-инженер")), "v2.yaml")
    assert await run("check-survey", str(reworded), "--against") == 0
    out = capsys.readouterr().out
    assert "option qa reworded" in out and "Safe" in out
    removed = write(tmp_path, edited(drop_option("q_role", "qa")), "v3.yaml")
    assert await run("check-survey", str(removed), "--against") == 1
    out = capsys.readouterr().out
    assert "option qa is removed but was chosen 1 time(s)" in out and "--accept-changes" in out
    # Checking changes nothing: the stored answers are the same, and the definition last run is still v1.
    assert count(db_url, "answers") == 2


async def test_bot_refuses_to_start_on_orphaning_change_unless_accepted(db_url, tmp_path):
    await fill_v1(db_url, tmp_path)
    removed = write(tmp_path, edited(drop_question("q_tools")), "v2.yaml")
    with pytest.raises(ChangesNotAccepted, match="question q_tools is removed but holds 1 stored answer"):
        async with running_app(settings_for(db_url, removed)):
            pass
    with FakeBotAPI() as api:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "BOT_TOKEN": TEST_TOKEN, "DATABASE_URL": db_url,
               "SURVEY_FILE": str(removed), "TELEGRAM_API_URL": api.url}
        proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                                       capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "question q_tools is removed but holds 1 stored answer(s)" in proc.stderr
    assert "--accept-changes" in proc.stderr
    engine_changes = await _changes(db_url, removed)
    assert [c.kind for c in engine_changes if c.severity == Severity.BLOCKING] == ["removed_question"]
    # Accepted (the bot registers the file it runs on): the same file is no longer a change.
    async with running_app(settings_for(db_url, removed, accept=True)):
        pass
    assert await _changes(db_url, removed) == []
    assert count(db_url, "answers") == 2  # q_tools' answer is still stored


async def _changes(db_url: str, path: Path):
    from storage.db import create_engine
    from survey.loader import load_survey

    engine = create_engine(db_url)
    try:
        return await check_changes(engine, load_survey(path))
    finally:
        await engine.dispose()


# ---------------------------------------------------------------- each kind of change, on a database with answers


async def fill_answers(db_url: str, tmp_path: Path) -> None:
    """7201 completes every question; 7202 answered the first one and stands on q_tools."""
    async with running_app(settings_for(db_url, write(tmp_path, BASE, "v1.yaml"))) as (app, request):
        done = SimUser(app, request, 7201)
        await done.begin()
        await done.press("Разработчик")
        await done.press("Jira")
        await done.press("Готово")
        await done.send("12")
        await done.press("4")
        await done.send("Меньше встреч")
        assert "Спасибо" in done.last().text
        standing = SimUser(app, request, 7202)
        await standing.begin()
        await standing.press("Менеджер")
        assert "Чем пользуетесь?" in standing.last().text


STORED = ("SELECT p.user_key, a.question_id, a.skipped, a.number, a.text, a.choices FROM answers a "
          "JOIN responses r ON r.id = a.response_id JOIN respondents p ON p.id = r.respondent_id "
          "ORDER BY p.user_key, a.question_id")


async def start_on(db_url: str, path: Path, severities: set[Severity]):
    """The changes the file makes (of the expected severities only); blocking ones refuse a start without accept."""
    changes = await _changes(db_url, path)
    assert {c.severity for c in changes} == severities, changes
    if Severity.BLOCKING in severities:
        with pytest.raises(ChangesNotAccepted):
            async with running_app(settings_for(db_url, path)):
                pass
    return changes


async def admin_stats(app, request, *args: str) -> str:
    admin = SimUser(app, request, ADMIN_ID)
    before = len(admin.messages())
    await admin.send(" ".join(("/stats", *args)))
    return "\n".join(m.text for m in admin.messages()[before:])


async def test_reworded_question_and_option_are_harmless(db_url, tmp_path):
    await fill_answers(db_url, tmp_path)
    before = fetch(db_url, STORED)

    def reword(raw: dict) -> None:
        q(raw, "q_role")["text"] = "Кем вы работаете?"
        q(raw, "q_role")["options"][0]["text"] = "Программист"
    path = write(tmp_path, edited(reword), "v2.yaml")
    changes = await start_on(db_url, path, {Severity.HARMLESS})
    assert {(c.kind, c.option) for c in changes} == {("text_changed", None), ("option_text_changed", "dev")}
    async with running_app(settings_for(db_url, path)) as (app, request):  # starts without --accept-changes
        text = await admin_stats(app, request, "1")
        # The answers keep their ids: the count is under the new wording.
        assert "Кем вы работаете?" in text and "Программист — 1 (50,0%" in text and "Менеджер — 1 (50,0%" in text
        standing = SimUser(app, request, 7202)
        await standing.send("/start")
        await standing.press("Продолжить")
        assert "Чем пользуетесь?" in standing.last().text
    assert fetch(db_url, STORED) == before


async def test_new_question_is_asked_of_those_in_progress_when_they_reach_it(db_url, tmp_path):
    await fill_answers(db_url, tmp_path)
    before = fetch(db_url, STORED)

    def add(raw: dict) -> None:
        raw["questions"].insert(2, {"id": "q_office", "type": "single_choice", "text": "Где вы работаете?",
                                    "options": [{"id": "home", "text": "Дома"}, {"id": "office", "text": "В офисе"}]})
    path = write(tmp_path, edited(add), "v2.yaml")
    changes = await start_on(db_url, path, {Severity.NOTICE})
    assert [(c.kind, c.question) for c in changes] == [("new_question", "q_office")]
    assert "1 in-progress respondent(s) are already past it" not in changes[0].message  # 7202 stands before it
    async with running_app(settings_for(db_url, path)) as (app, request):
        standing = SimUser(app, request, 7202)
        await standing.send("/start")
        await standing.press("Продолжить")
        await standing.press("Slack")
        await standing.press("Готово")
        assert "Где вы работаете?" in standing.last().text  # the new question, where it now stands
        await standing.press("Дома")
        assert "Сколько человек в команде?" in standing.last().text
        summary = await build_summary(app.bot_data.engine, app.bot_data.survey)
    # The respondent who completed before the edit keeps a completed response; the new question counts only
    # those who were asked it.
    office = summary.question("q_office")
    assert office.n == 1 and {o.id: o.count for o in office.options} == {"home": 1, "office": 0}
    assert summary.completed == 1 and summary.question("q_role").n == 2
    after = fetch(db_url, STORED)
    assert [r for r in after if r not in before] and all(r in after for r in before)


async def test_renamed_id_keeps_old_answers_under_the_old_id(db_url, tmp_path):
    await fill_answers(db_url, tmp_path)
    before = fetch(db_url, STORED)
    path = write(tmp_path, edited(lambda r: q(r, "q_wish").update(id="q_wishes")), "v2.yaml")
    changes = await start_on(db_url, path, {Severity.BLOCKING, Severity.NOTICE})
    assert [(c.kind, c.question) for c in changes] == [("renamed", "q_wish"), ("new_question", "q_wishes")]
    async with running_app(settings_for(db_url, path, accept=True)) as (app, request):
        text = await admin_stats(app, request)
        summary = await build_summary(app.bot_data.engine, app.bot_data.survey)
        csv_bytes = await export_bytes(db_url, app.bot_data.survey, "csv")
    assert summary.question("q_wishes").n == 0 and summary.removed_questions == [("q_wish", 1)]
    assert RU(REMOVED_LABEL) in text and "q_wish — n = 1" in text
    table = pd.read_csv(io.BytesIO(csv_bytes), encoding="utf-8-sig", dtype=str).set_index("respondent")
    assert table.loc["7201", "q_wish"] == "Меньше встреч" and pd.isna(table.loc["7201", "q_wishes"])
    assert fetch(db_url, STORED) == before


async def test_changed_type_is_refused_then_stored_answers_stay_as_they_were(db_url, tmp_path):
    await fill_answers(db_url, tmp_path)
    before = fetch(db_url, STORED)

    def retype(raw: dict) -> None:
        q(raw, "q_size").update(type="text")
        del q(raw, "q_size")["min"], q(raw, "q_size")["max"]
    path = write(tmp_path, edited(retype), "v2.yaml")
    changes = await start_on(db_url, path, {Severity.BLOCKING})
    assert [(c.kind, c.question) for c in changes] == [("type_changed", "q_size")]
    async with running_app(settings_for(db_url, path, accept=True)) as (app, request):
        text = await admin_stats(app, request)  # the summary is still built; the number stays stored as one
        assert "<b>3. Сколько человек в команде?</b>\nn = 1 " in text  # counted in n (a number is no text to list)
        standing = SimUser(app, request, 7202)
        await standing.send("/start")
        await standing.press("Продолжить")
        await standing.press("Jira")
        await standing.press("Готово")
        await standing.send("человек пять")  # now a text answer
        assert "Как настроение?" in standing.last().text
    after = fetch(db_url, STORED)
    assert all(r in after for r in before)
    size = {r["user_key"]: r for r in after if r["question_id"] == "q_size"}
    assert (size["7201"]["number"], size["7201"]["text"]) == (12, None)  # the old number, not rewritten
    assert size["7202"]["text"] == "человек пять"
    # The export writes both as the text question's column: the old number as it was given, the new text.
    table = pd.read_csv(io.BytesIO(await export_bytes(db_url, parse_survey(edited(retype)), "csv")),
                        encoding="utf-8-sig", dtype=str).set_index("respondent")
    assert (table.loc["7201", "q_size"], table.loc["7202", "q_size"]) == ("12", "человек пять")
