"""check-survey for people who write YAML by hand: file and line of every problem, 1-based positions,
"did you mean", everything in one pass; and the JSON Schema editors use."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.cli import main
from survey.loader import SurveyError, bundled_survey_path, load_survey
from survey.schema import survey_json_schema

ROOT = Path(__file__).resolve().parents[1]

HAND_WRITTEN = textwrap.dedent(
    """\
    survey:
      id: team_habits
      titel: Привычки команды
    questions:
    - id: t_role
      type: singel_choice
      text: Кто вы в команде?
      options: [{id: dev, text: Разработчик}]
    - id: t_tools
      type: multiple_choice
      text: Чем пользуетесь?
      options:
      - {id: jira, text: Jira}
      - {id: Figma, text: Figma}
      max_selectd: 2
    - id: t_love
      type: single_choice
      text: Нравится?
      options: [{id: yes_, text: Да}]
      min_selected: lots
      scale: {min: 1, max: 5}
    - id: t_when
      type: text
      text: Когда?
      show_if: {question: t_tools, any_of: [jiro]}
    """
)

# (line, text) of every problem, in the order of the file.
EXPECTED = [
    (3, "survey: titel: unknown key 'titel'; did you mean 'title'?"),
    (1, "survey: title: is required but missing"),
    (6, "question t_role: type: 'singel_choice' is not one of single_choice, multiple_choice, scale, number, "
        "text; did you mean 'single_choice'?"),
    (14, "question t_tools: options #2.id: 'Figma' is not a valid id: use lowercase latin letters, digits and _, "
         "starting with a letter (at most 32 characters)"),
    (15, "question t_tools: max_selectd: unknown key 'max_selectd'; did you mean 'max_selected'?"),
    (20, "question t_love: min_selected: expected a whole number, got 'lots'"),
    # Not hidden by the bad min_selected: the rest of the question is checked too.
    (21, "question t_love: scale: not allowed for type single_choice"),
    (25, "question t_when: show_if.any_of: 'jiro' is not an option of t_tools; did you mean 'jira'?"),
]


def test_every_problem_with_its_line_in_one_pass(tmp_path):
    path = tmp_path / "habits.yaml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    found = sorted((f.line, f.text) for f in info.value.findings)
    assert found == sorted(EXPECTED), found
    lines = [f.line for f in info.value.findings]
    assert lines == sorted(lines), "in the order of the file"


def test_cli_prints_file_and_line_of_every_problem(tmp_path, capsys):
    path = tmp_path / "habits.yaml"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    assert main(["check-survey", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    head, *rest = err.strip().splitlines()
    assert head == f"surveybot: invalid questionnaire {path}: {len(EXPECTED)} problems"
    assert sorted(rest) == sorted(f"{path}:{line}: {text}" for line, text in EXPECTED)
    # Every reported line really holds what the message names.
    source = HAND_WRITTEN.splitlines()
    for entry in rest:
        line = int(re.match(rf"{re.escape(str(path))}:(\d+): ", entry).group(1))
        assert 1 <= line <= len(source)
    assert "titel" in source[3 - 1] and "singel_choice" in source[6 - 1] and "max_selectd" in source[15 - 1]


def test_yaml_syntax_error_has_its_line(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("survey:\n  id: x\n  title: [unclosed\nquestions: []\n", encoding="utf-8")
    assert main(["check-survey", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"^{re.escape(str(path))}:4: not valid YAML: ", err, re.M), err


def test_a_valid_file_is_ok(capsys):
    assert main(["check-survey", str(bundled_survey_path())]) == 0
    assert capsys.readouterr().out.startswith("OK: Как устроен аккаунтинг")


def docs_questionnaire() -> str:
    """The example questionnaire of docs/authors/questionnaire.md."""
    text = (ROOT / "docs" / "authors" / "questionnaire.md").read_text(encoding="utf-8")
    section = text.split("## The format", 1)[1]
    blocks = [b.split("```", 1)[0] for b in section.split("```yaml\n")[1:]]
    return next(b for b in blocks if "questions:" in b)


def test_survey_schema_validates_real_files_and_flags_typos(tmp_path, capsys):
    assert main(["survey-schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == survey_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    bundled = yaml.safe_load(bundled_survey_path().read_text(encoding="utf-8"))
    assert list(validator.iter_errors(bundled)) == []
    example = docs_questionnaire()
    assert "# yaml-language-server: $schema=" in example, "the docs show the editor modeline"
    assert list(validator.iter_errors(yaml.safe_load(example))) == []
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")
    assert main(["check-survey", str(tmp_path / "example.yaml")]) == 0
    messages = [e.message for e in validator.iter_errors(yaml.safe_load(HAND_WRITTEN))]
    assert any("'titel' was unexpected" in m for m in messages), messages
    assert any("'singel_choice' is not one of" in m for m in messages), messages
    # -o writes the same schema to a file.
    capsys.readouterr()
    assert main(["survey-schema", "-o", str(tmp_path / "survey.schema.json")]) == 0
    assert json.loads((tmp_path / "survey.schema.json").read_text(encoding="utf-8")) == schema
