"""XLSForm questionnaires: read with pyxform into the survey model, every unsupported row and bad input refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bot.cli import main
from survey.flow import Answer, is_visible
from survey.loader import SurveyError, check_survey_file, load_survey
from survey.model import QuestionType
from tests.xlsforms import (
    BASIC_CHOICES,
    BASIC_SETTINGS,
    BASIC_SURVEY,
    TWO_LANGUAGE_CHOICES,
    TWO_LANGUAGE_SETTINGS,
    TWO_LANGUAGE_SURVEY,
    workbook,
)


def test_a_basic_form_maps_onto_the_survey_model(tmp_path):
    path = workbook(tmp_path / "pets.xlsx", BASIC_SURVEY, BASIC_CHOICES, BASIC_SETTINGS)
    survey, notes = check_survey_file(path)
    assert (survey.id, survey.version, survey.survey.title, survey.languages) == ("pets_form", 2, "Pets", ("en",))
    assert notes == []
    # start, end, today, deviceid and pyxform's meta/instanceID are the bot's own records: no questions.
    assert [q.id for q in survey.questions] == ["name", "age", "has_pet", "pet", "food"]
    name, age, has_pet, pet, food = survey.questions
    assert (name.type, name.required, name.hint) == (QuestionType.TEXT, True, "Your first name is enough")
    assert survey.survey.intro_text == "Three short questions about your pets."  # the note before the first question
    assert survey.survey.thanks_text == "That is all, thank you!"  # the note after the last one
    assert (age.type, age.min, age.max, age.hint, age.required) == (QuestionType.NUMBER, 18, 99, "Between 18 and 99", False)
    assert (has_pet.type, [(o.id, o.text) for o in has_pet.options], has_pet.required) == \
           (QuestionType.SINGLE, [("yes", "Yes"), ("no", "No")], True)
    # or_other: pyxform's generated "other" choice and "specify other" text become our "other (specify)".
    assert (pet.option_ids, pet.other_allowed, survey.other_label(pet)) == (["cat", "dog"], True, "Other (please specify)")
    # An `other` choice followed by a text asked when it is selected: the same, with the choice's label.
    assert (food.type, food.option_ids, food.other_allowed, food.other_label) == \
           (QuestionType.MULTIPLE, ["meat", "fish"], True, "Something else")
    assert [c.model_dump(exclude_none=True) for c in pet.show_if] == [{"question": "has_pet", "any_of": ["yes"]}]
    assert not is_visible(pet, {"has_pet": Answer(option_ids=("no",))})
    assert is_visible(pet, {"has_pet": Answer(option_ids=("yes",))})


def test_two_language_columns(tmp_path):
    path = workbook(tmp_path / "tea.xlsx", TWO_LANGUAGE_SURVEY, TWO_LANGUAGE_CHOICES, TWO_LANGUAGE_SETTINGS)
    survey, warnings = check_survey_file(path, strict=True)
    assert warnings == []
    assert (survey.languages, survey.default_language) == (("ru", "en"), "ru")
    assert [q.text for q in survey.questions] == ["Вы любите чай?", "Сколько чашек в день?", "Год рождения?"]
    en = survey.in_language("en")
    assert [q.text for q in en.questions] == ["Do you like tea?", "Cups a day?", "Year of birth?"]
    assert [o.text for o in en.get("likes_tea").options] == ["Yes", "No"] and en.get("likes_tea").hint == "One answer"
    assert [o.text for o in survey.get("likes_tea").options] == ["Да", "Нет"]
    cups = survey.get("cups")
    assert cups.type == QuestionType.SCALE and cups.scale is not None and (cups.scale.min, cups.scale.max) == (0, 5)
    # not(${cups} > 4) or ${likes_tea} = 'no'
    year = survey.get("year")
    assert is_visible(year, {"cups": Answer(number=3)}) and is_visible(year, {})
    assert not is_visible(year, {"cups": Answer(number=5), "likes_tea": Answer(option_ids=("yes",))})
    assert is_visible(year, {"cups": Answer(number=5), "likes_tea": Answer(option_ids=("no",))})


def test_a_csv_form(tmp_path):
    path = tmp_path / "form.csv"
    path.write_text("survey,,,\n,type,name,label\n,text,name,Your name?\n,integer,age,Your age?\n"
                    "settings,,,\n,form_title,form_id,\n,Short,short,\n", encoding="utf-8")
    survey = load_survey(path)
    assert (survey.id, [q.type for q in survey.questions]) == ("short", [QuestionType.TEXT, QuestionType.NUMBER])


def test_notes_are_shown_by_check_survey_and_randomize_is_read(tmp_path, capsys):
    rows = [["type", "name", "label", "parameters"],
            ["select_one c", "colour", "Colour?", "randomize=true"],
            ["decimal", "height", "Height?"]]
    path = workbook(tmp_path / "f.xlsx", rows, [["list_name", "name", "label"], ["c", "red", "Red"]], None)
    assert main(["check-survey", str(path), "--strict"]) == 0
    out = capsys.readouterr().out
    assert "randomize" not in out  # parameters randomize=true is read as randomize: true (survey.randomize)
    assert load_survey(path).get("colour").randomize is True
    assert f"{path}:survey:3: note: decimal: the bot asks for a whole number" in out


UNSUPPORTED = [
    ["type", "name", "label", "relevant", "calculation", "choice_filter"],
    ["text", "name", "Name?"],                                   # 2
    ["geopoint", "where", "Where are you?"],                     # 3
    ["image", "photo", "A photo"],                               # 4
    ["begin repeat", "kids", "Children"],                        # 5
    ["text", "kid", "Child's name"],                             # 6
    ["end repeat"],                                              # 7
    ["calculate", "twice", None, None, "2 * 2"],                 # 8
    ["select_one c", "colour", "Colour?", None, None, "a = 1"],  # 9
    ["text", "why", "Why?", "today() > '2020-01-01'"],           # 10
    ["integer", "n", "N?", "string-length(${name}) > 3"],        # 11
]


def test_every_unsupported_row_is_listed_in_one_pass(tmp_path, capsys):
    path = workbook(tmp_path / "form.xlsx", UNSUPPORTED, [["list_name", "name", "label"], ["c", "red", "Red"]], None)
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    assert info.value.lines() == [
        f"{path}:survey:3: type geopoint is not supported in a chat survey",
        f"{path}:survey:4: type image is not supported in a chat survey",
        f"{path}:survey:5: type repeat is not supported in a chat survey",
        f"{path}:survey:8: type calculate is not supported in a chat survey",
        f"{path}:survey:9: choice_filter is not supported in a chat survey",
        f"{path}:survey:10: relevant 'today() > '2020-01-01'': the function today() is not supported (only selected, "
        "count-selected, not)",
        f"{path}:survey:11: relevant 'string-length(${{name}}) > 3': the function string-length() is not supported "
        "(only selected, count-selected, not)",
    ]
    assert main(["check-survey", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count(f"{path}:survey:") == 7


def test_bad_input_each_on_one_line_with_sheet_and_row(tmp_path):
    survey = [
        ["type", "name", "label", "label::Klingon", "relevant"],
        ["text", "name", "Name?"],                                           # 2
        ["integer", "name", "Age?"],                                         # 3 duplicate
        ["select_one colours", "colour", "Colour?"],                         # 4 no such list
        ["text", "early", "Early?", None, "${late} = 'x'"],                  # 5 refers to a later question
        ["text", "unknown", "Unknown?", None, "${nobody} != ''"],            # 6 refers to no question
        ["select_one yn", "late", "Late?"],                                  # 7
    ]
    path = workbook(tmp_path / "bad.xlsx", survey, [["list_name", "name", "label"], ["yn", "yes", "Yes"]], None)
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    assert info.value.lines() == [
        f"{path}:survey:1: column 'label::Klingon': the language 'Klingon' has no code; write it like 'label::English (en)'",
        f"{path}:survey:3: name 'name' is used twice (also row 2): each question needs its own name",
        f"{path}:survey:4: List name not in choices sheet: colours",
        f"{path}:survey:5: relevant '${{late}} = 'x'' refers to ${{late}}, which comes later in the form",
        f"{path}:survey:6: On the 'survey' sheet, the 'relevant' value is invalid. Reference variables must contain "
        "a name from the 'survey' sheet. Could not find the name 'nobody'.",
    ]


def test_unreadable_workbooks_and_a_missing_survey_sheet(tmp_path):
    import io

    from msoffcrypto.format.ooxml import OOXMLFile

    good = workbook(tmp_path / "good.xlsx", BASIC_SURVEY, BASIC_CHOICES, BASIC_SETTINGS)
    locked = tmp_path / "locked.xlsx"
    with good.open("rb") as f:
        out = io.BytesIO()
        OOXMLFile(f).encrypt("secret", out)
    locked.write_bytes(out.getvalue())
    corrupt = tmp_path / "corrupt.xlsx"
    corrupt.write_bytes(good.read_bytes()[:300])
    no_survey = workbook(tmp_path / "nosurvey.xlsx", [["type"]], BASIC_CHOICES, BASIC_SETTINGS,
                         sheet_names=("questions", "choices", "settings"))
    expected = {
        locked: "the workbook is password-protected: save a copy without the password",
        corrupt: "cannot read the workbook: it is damaged, password-protected, or not an XLSX file",
        no_survey: "the workbook has no sheet named 'survey' (its sheets: questions, choices, settings)",
        tmp_path / "missing.xlsx": "cannot read the file: No such file or directory",
    }
    for path, line in expected.items():
        with pytest.raises(SurveyError) as info:
            load_survey(path)
        assert info.value.lines() == [f"{path}: {line}"]


def test_the_cli_refuses_a_bad_form_without_a_traceback(tmp_path):
    path = workbook(tmp_path / "form.xlsx", UNSUPPORTED, [["list_name", "name", "label"], ["c", "red", "Red"]], None)
    run = subprocess.run([sys.executable, "-m", "bot.cli", "preview", str(path)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert f"{path}:survey:3: type geopoint is not supported in a chat survey" in run.stderr


def test_run_refuses_a_bad_form_before_starting(tmp_path):
    from tests.harness import E2E_TOKEN, ROOT

    path = workbook(tmp_path / "form.xlsx", UNSUPPORTED, [["list_name", "name", "label"], ["c", "red", "Red"]], None)
    db = tmp_path / "never.db"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "BOT_TOKEN": E2E_TOKEN, "SURVEY_FILE": str(path),
           "DATABASE_URL": f"sqlite+aiosqlite:///{db}", "TELEGRAM_API_URL": "http://127.0.0.1:9"}
    run = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.count(f"{path}:survey:") == 7
    assert not db.exists()  # nothing started: no database was even created
