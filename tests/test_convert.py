"""`surveybot convert`: YAML ↔ XLSForm, checked by pyxform's own conversion and by reading the result back."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import openpyxl
import pytest
from pyxform.xls2xform import convert as xls2xform

from bot.cli import main
from survey.loader import bundled_survey_path, load_survey
from survey.model import QuestionType, Survey

# Every question type, every kind of condition, scale labels, research metadata, and two languages.
EVERY_TYPE = textwrap.dedent("""\
    survey:
      id: every_type
      version: 3
      title: {en: Every type, ru: Все типы}
      language: en
      languages: [en, ru]
      intro_text: {en: Five questions., ru: Пять вопросов.}
      thanks_text: {en: Thanks!, ru: Спасибо!}
      reminder_text: {en: Come back, ru: Вернитесь}
      author: Tests
    questions:
    - id: pet
      type: single_choice
      title: {en: Pet, ru: Питомец}
      text: {en: "Which pet?", ru: "Какой питомец?"}
      hint: {en: One answer, ru: Один ответ}
      required: true
      options:
      - {id: cat, text: {en: Cat, ru: Кошка}, provenance: published}
      - {id: dog, text: {en: Dog, ru: Собака}}
      other_allowed: true
    - id: food
      type: multiple_choice
      text: {en: "What does it eat?", ru: "Чем кормите?"}
      options:
      - {id: meat, text: {en: Meat, ru: Мясо}}
      - {id: fish, text: {en: Fish, ru: Рыба}}
      - {id: grain, text: {en: Grain, ru: Зерно}}
      other_allowed: true
      other_label: {en: Something else, ru: Что-то другое}
      min_selected: 1
      max_selected: 2
      show_if: {question: pet, any_of: [cat, dog]}
    - id: happy
      type: scale
      text: {en: "How happy is it?", ru: "Насколько он счастлив?"}
      scale: {min: 0, max: 5, min_label: {en: Sad, ru: Грустный}, max_label: {en: Happy, ru: Счастлив}}
      show_if:
      - {question: food, none_of: [grain]}
      - {any: [{question: pet, none_of: [dog]}, {question: food, selected_min: 2}]}
    - id: age
      type: number
      text: {en: "How old is it?", ru: "Сколько ему лет?"}
      min: 0
      max: 40
      buckets: [0-5, 6+]
      show_if: {not: {question: happy, min: 0, max: 1}}
    - id: story
      type: text
      text: {en: Tell a story, ru: Расскажите историю}
      max_length: 500
      show_if: [{question: age, answered: true}, {question: age, min: 2}]
    """)


def surveys_equal(a: Survey, b: Survey) -> None:
    assert a.languages == b.languages
    for code in a.languages:
        assert a.in_language(code).model_dump() == b.in_language(code).model_dump(), code


@pytest.fixture
def every_type(tmp_path) -> Path:
    path = tmp_path / "every.yaml"
    path.write_text(EVERY_TYPE, encoding="utf-8")
    return path


def test_every_type_round_trips_through_xlsform_and_yaml(tmp_path, every_type, capsys):
    original = load_survey(every_type)
    assert {q.type for q in original.questions} == set(QuestionType)
    xlsx, yaml_back = tmp_path / "every.xlsx", tmp_path / "back.yaml"
    assert main(["convert", str(every_type), "-o", str(xlsx)]) == 0
    assert f"wrote {xlsx}: an XLSForm, 5 questions in en, ru" in capsys.readouterr().out
    from_xlsx = load_survey(xlsx)
    surveys_equal(original, from_xlsx)
    assert main(["convert", str(xlsx), "-o", str(yaml_back)]) == 0
    surveys_equal(original, load_survey(yaml_back))
    # pyxform converts the written form to an XForm without errors.
    result = xls2xform(xlsform=str(xlsx))
    assert "<h:title>Every type</h:title>" in result.xform
    # The workbook is an ordinary XLSForm a researcher can read: label columns per language, the choices.
    book = openpyxl.load_workbook(xlsx, read_only=True)
    header = next(book["survey"].iter_rows(values_only=True))
    assert header[:4] == ("type", "name", "label::English (en)", "label::Русский (ru)")
    types = [r[0] for r in book["survey"].iter_rows(min_row=2, values_only=True)]
    assert types == ["note", "select_one pet or_other", "select_multiple food", "text", "range", "integer", "text",
                     "note"]
    book.close()


def test_the_bundled_study_converts_validates_and_comes_back(tmp_path):
    bundled = load_survey()
    xlsx = tmp_path / "study.xlsx"
    assert main(["convert", str(bundled_survey_path()), "-o", str(xlsx)]) == 0
    warnings: list[str] = []
    result = xls2xform(xlsform=str(xlsx), warnings=warnings)
    assert result.xform and "manao_accounting_digital" in result.xform
    assert all("or_other" in w for w in warnings), warnings  # pyxform's advice on or_other with translations only
    back = load_survey(xlsx)
    surveys_equal(bundled, back)
    assert back.get("q01_who_does_accounting").baseline == bundled.get("q01_who_does_accounting").baseline


def test_pyxform_command_line_accepts_the_written_form(tmp_path, every_type):
    xlsx = tmp_path / "every.xlsx"
    assert main(["convert", str(every_type), "-o", str(xlsx)]) == 0
    run = subprocess.run([sys.executable, "-m", "pyxform.xls2xform", str(xlsx), str(tmp_path / "every.xml"), "--json"],
                         capture_output=True, text=True, timeout=120)
    said = run.stdout + run.stderr  # the JSON report goes to stderr
    assert run.returncode == 0 and ('"code": 100' in said or '"code": 101' in said), said
    assert (tmp_path / "every.xml").read_text(encoding="utf-8").count("<bind ") >= 5


def test_convert_refuses_what_it_cannot_write(tmp_path, every_type, capsys):
    assert main(["convert", str(every_type), "-o", str(tmp_path / "out.json")]) == 2
    assert "give a file ending in .yaml, .yml" in capsys.readouterr().err
    assert main(["convert", str(every_type), "-o", str(every_type)]) == 2
    assert "it is the file being converted" in capsys.readouterr().err
    assert main(["convert", str(every_type), "-o", str(tmp_path / "no" / "out.xlsx")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("survey: {id: s, title: T}\nquestions: []\n", encoding="utf-8")
    assert main(["convert", str(bad), "-o", str(tmp_path / "out.xlsx")]) == 2
    assert not (tmp_path / "out.xlsx").exists()
