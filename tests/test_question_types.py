"""Every question type through every layer: flow, what the respondent sees, /stats (text and JSON), charts
and the CSV / XLSX / SAV exports.

The test is parametrised over the QuestionType enum itself: a new member runs here at once and fails until
CASES says how to ask and answer it and every layer has a case for it (each layer's dispatch on the type
ends in ``assert_never``, see docs/CONTRIBUTING.md «Adding a question type»). ``test_a_type_no_layer_knows_fails_loudly``
shows that a type a layer has no case for raises instead of being rendered, exported or charted as something else.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyreadstat
import pytest
import yaml
from openpyxl import load_workbook

from analytics import charts, codebook, crosstab, export, jobs, summary, summary_text
from analytics.summary import QuestionSummary, build_summary, summary_to_json
from bot.respondent import screens
from bot.settings import Settings
from storage.db import create_engine
from survey import flow
from survey.i18n import translator
from survey.loader import load_survey
from survey.model import Question, QuestionType, Survey, SurveyMeta, type_traits
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import stored_answers, stored_choices
from tests.harness import running_app
from tests.recording import SimUser

QID = "q_only"
RESPONDENT = 6101


@dataclass
class Case:
    """How to ask a question of one type, answer it, and what every layer must then show."""

    question: dict[str, Any]  # the questionnaire entry (id, type and text are added)
    answer: Callable[[SimUser], Awaitable[Any]]  # the respondent's taps / messages
    screen_text: list[str]  # in the question message
    buttons: list[str]  # the answer buttons, in order (navigation excluded)
    stored: Callable[[dict, list[str]], bool]  # (stored answer row, stored choices) -> as answered
    stats_lines: list[str]  # in the admin's /stats text
    json_check: Callable[[dict], bool]  # on the question's entry of the summary JSON
    chart: bool  # a PNG chart; False: a documented "no chart" (the answers go out as a .txt file)
    cells: dict[str, Any]  # export column -> value in the CSV / XLSX / SAV row
    file_text: str | None = None  # in the .txt answers file when there is no chart
    navigation: list[str] = field(default_factory=lambda: ["Пропустить"])


async def _press_all(u: SimUser, *labels: str) -> None:
    for label in labels:
        await u.press(label)


CASES: dict[QuestionType, Case] = {
    QuestionType.SINGLE: Case(
        question={"options": [{"id": "a", "text": "Первый"}, {"id": "b", "text": "Второй"}], "other_allowed": True},
        answer=lambda u: u.press("Второй"),
        screen_text=["Выберите один вариант."],
        buttons=["Первый", "Второй", "Другое (укажите)"],
        stored=lambda row, choices: choices == ["b"],
        stats_lines=["Второй — 1 (100,0%)", "Первый — 0 (0,0%)"],
        json_check=lambda j: {o["id"]: o["count"] for o in j["options"]} == {"a": 0, "b": 1, "other": 0},
        chart=True,
        cells={QID: "Второй", f"{QID}__code": 2},
    ),
    QuestionType.MULTIPLE: Case(
        question={"options": [{"id": "a", "text": "Первый"}, {"id": "b", "text": "Второй"},
                              {"id": "c", "text": "Третий"}]},
        answer=lambda u: _press_all(u, "Первый", "Третий", "Готово"),
        screen_text=["Можно выбрать несколько вариантов", "«Готово»"],
        buttons=["Первый", "Второй", "Третий", "Готово"],
        stored=lambda row, choices: choices == ["a", "c"],
        stats_lines=["Первый — 1 (100,0%)", "Третий — 1 (100,0%)", "Второй — 0 (0,0%)"],
        json_check=lambda j: {o["id"]: o["count"] for o in j["options"]} == {"a": 1, "b": 0, "c": 1},
        chart=True,
        cells={QID: "Первый; Третий", f"{QID}__a": 1, f"{QID}__b": 0, f"{QID}__c": 1},
    ),
    QuestionType.SCALE: Case(
        question={"scale": {"min": 1, "max": 5, "min_label": "Плохо", "max_label": "Отлично"}},
        answer=lambda u: u.press("4"),
        screen_text=["1 — Плохо, 5 — Отлично", "Выберите оценку на кнопках."],
        buttons=["1", "2", "3", "4", "5"],
        stored=lambda row, choices: row["number"] == 4,
        stats_lines=["Среднее 4,0", "4 — 1 (100,0%)"],
        json_check=lambda j: j["mean"] == 4.0 and {o["id"]: o["count"] for o in j["options"]}["4"] == 1,
        chart=True,
        cells={QID: 4},
    ),
    QuestionType.NUMBER: Case(
        question={"min": 1, "max": 5000, "buckets": ["1-100", "101-1000", "1001+"]},
        answer=lambda u: u.send("250"),
        screen_text=["Напишите целое число от 1 до 5\u00a0000"],
        buttons=[],
        stored=lambda row, choices: row["number"] == 250,
        stats_lines=["Среднее 250", "101–1000 — 1 (100,0%)"],
        json_check=lambda j: j["mean"] == 250.0 and [b["count"] for b in j["buckets"]] == [0, 1, 0],
        chart=True,
        cells={QID: 250},
    ),
    QuestionType.TEXT: Case(
        question={"max_length": 200},
        answer=lambda u: u.send("Мой свободный ответ"),
        screen_text=["Напишите ответ одним сообщением (до 200 символов)."],
        buttons=[],
        stored=lambda row, choices: row["text"] == "Мой свободный ответ",
        stats_lines=["«Мой свободный ответ»"],
        json_check=lambda j: j["other_texts"] == ["Мой свободный ответ"],
        chart=False,  # a picture of free text says nothing: the answers go out as a file
        file_text="1. Мой свободный ответ",
        cells={QID: "Мой свободный ответ"},
    ),
}


def _questionnaire(tmp_path: Path, qtype: QuestionType, case: Case) -> Path:
    doc = {
        "survey": {"id": f"t_{qtype.name.lower()}", "title": "Проверка типа", "thanks_text": "Спасибо!"},
        "questions": [{"id": QID, "type": qtype.value, "text": f"Вопрос типа {qtype.value}?", **case.question}],
    }
    path = tmp_path / f"{qtype.value}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _sent(request, method: str) -> list[dict]:
    return [p for name, p in request.calls if name == method and int(p["chat_id"]) == ADMIN_ID]


def _files(request) -> dict[str, bytes]:
    return dict(f for p in _sent(request, "sendDocument") for f in p["_files"].values())


@pytest.mark.parametrize("qtype", list(QuestionType))
async def test_every_question_type_through_every_layer(qtype: QuestionType, db_url: str, tmp_path: Path) -> None:
    case = CASES.get(qtype)
    assert case is not None, f"new question type {qtype!r}: add it to CASES here and to every layer (docs/CONTRIBUTING.md)"
    survey_file = _questionnaire(tmp_path, qtype, case)
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, survey_file=survey_file,
                        admin_ids=str(ADMIN_ID), flood_messages=10_000)
    async with running_app(settings) as (app, request):
        # Flow and rendering: the screen the respondent sees, then the answer given the way the type asks for.
        u = SimUser(app, request, RESPONDENT)
        await u.begin()
        screen = u.keyboard_message()
        assert f"Вопрос типа {qtype.value}?" in screen.text
        for text in case.screen_text:
            assert text in screen.text
        labels = [b["text"] for b in screen.buttons()]
        assert labels == case.buttons + case.navigation
        await case.answer(u)
        assert "Спасибо!" in u.last().text
        row = stored_answers(db_url, RESPONDENT)[QID]
        assert case.stored(row, stored_choices(db_url, RESPONDENT).get(QID, []))

        # /stats as the admin reads it, and /stats charts: a PNG per question, or its answers as a file.
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/stats")
        stats = "\n".join(m.text for m in admin.messages())
        assert "n = 1" in stats
        for line in case.stats_lines:
            assert line in stats
        await admin.send("/stats charts")
        photos = _sent(request, "sendPhoto")
        if case.chart:
            assert len(photos) == 1
            ((name, png),) = photos[0]["_files"].values()
            assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
        else:
            assert photos == []
            answers = {n: c for n, c in _files(request).items() if n.endswith("_answers.txt")}
            assert len(answers) == 1 and case.file_text in next(iter(answers.values())).decode("utf-8")

        # Exports: CSV, XLSX and SAV each hold the answer in the question's columns.
        await admin.send("/export csv xlsx sav")
        files = _files(request)

    data_csv = next(c for n, c in files.items() if n.endswith(".csv") and not n.endswith(".codebook.csv"))
    (csv_row,) = list(csv.DictReader(io.StringIO(data_csv.decode("utf-8-sig"))))
    for column, value in case.cells.items():
        assert csv_row[column] == str(value), column

    book = load_workbook(io.BytesIO(next(c for n, c in files.items() if n.endswith(".xlsx"))), read_only=True)
    sheet = book.worksheets[0]
    header, values = [list(r) for r in sheet.iter_rows(max_row=2, values_only=True)]
    for column, value in case.cells.items():
        assert values[header.index(column)] == value, column

    sav = tmp_path / "answers.sav"
    sav.write_bytes(next(c for n, c in files.items() if n.endswith(".sav")))
    frame, _meta = pyreadstat.read_sav(str(sav))
    for column, value in case.cells.items():
        assert frame[column].iloc[0] == value, column

    # The summary's JSON (surveybot stats --json, /stats as data).
    survey = load_survey(survey_file)
    engine = create_engine(db_url)
    try:
        data = summary_to_json(await build_summary(engine, survey))
    finally:
        await engine.dispose()
    (entry,) = data["questions"]
    assert entry["type"] == qtype.value and entry["n"] == 1
    assert case.json_check(entry)


# A type no layer has a case for: each dispatch on the question type must refuse it, not guess.
class _NewType(str):
    value = "ranking"
    name = "RANKING"


NEW = _NewType("ranking")


def _unknown_type_question() -> Question:
    return Question.model_construct(id=QID, type=NEW, text="?", options=[], show_if=[], required=False, hint=None,
                                    other_allowed=False, max_length=100, number=None, title=None, heading=None,
                                    scale=None, min=None, max=None, buckets=None)


def _unknown_type_survey() -> tuple[Survey, Question]:
    q = _unknown_type_question()
    meta = SurveyMeta(id="t_new", title="Новый тип")
    return Survey.model_construct(survey=meta, questions=[q]), q


def _unknown_summary() -> QuestionSummary:
    return QuestionSummary(id=QID, number=1, title="?", text="?", type=NEW, n=1, skipped=0, not_reached=0)  # type: ignore[arg-type]


LAYERS: dict[str, Callable[[], object]] = {
    "survey.model.type_traits": lambda: type_traits(NEW),  # type: ignore[arg-type]
    "survey.flow (a typed answer)": lambda: flow.apply(
        _unknown_type_survey()[0], flow.Progress(current=QID), flow.TypeText("1")),
    "survey.flow (a button)": lambda: flow.apply(
        _unknown_type_survey()[0], flow.Progress(current=QID), flow.Choose("1")),
    "bot.respondent.screens.question_screen": lambda: screens.question_screen(
        translator("ru"), _unknown_type_survey()[0], flow.Progress(current=QID), 1),
    "bot.respondent.screens.answer_label": lambda: screens.answer_label(
        translator("ru"), _unknown_type_survey()[0], _unknown_type_question(), flow.Answer(number=1)),
    "analytics.summary (per-question tables)": lambda: summary._question_summary(
        *_unknown_type_survey(), summary._Figures({}, {}, {}, {}, {}, {}, {}, {}, None, None, None), 1),
    "analytics.summary_text (/stats text)": lambda: summary_text._question_lines(_unknown_summary(), t=translator("ru")),
    "analytics.charts": lambda: charts.has_chart(_unknown_summary()),
    "analytics.export (CSV/XLSX columns)": lambda: export._question_columns(*_unknown_type_survey()),
    "analytics.codebook (SAV labels)": lambda: codebook.question_variables(*_unknown_type_survey()),
    "analytics.export (questionnaire sheet)": lambda: export._questionnaire_rows(translator("ru"), _unknown_type_survey()[0]),
    "analytics.crosstab (a test per option?)": lambda: crosstab.CrossTab(
        QID, 1, "?", NEW, crosstab.Banner(crosstab.SOURCE, None, "источник", []), [], 0).tests_each_option,  # type: ignore[arg-type]
}


@pytest.mark.parametrize("layer", list(LAYERS))
def test_a_type_no_layer_knows_fails_loudly(layer: str) -> None:
    with pytest.raises(AssertionError, match="unreachable"):
        LAYERS[layer]()


def test_an_export_format_no_one_knows_is_refused() -> None:
    assert jobs.export_format("sav") is jobs.ExportFormat.SAV and set(jobs.FORMATS) == {"csv", "xlsx", "sav"}
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        jobs.export_format("pdf")
