"""The questionnaire as data: the bundled study loads; a broken file reports every problem."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from survey.i18n import translator
from survey.loader import SurveyError, bundled_survey_path, load_survey, parse_survey
from survey.model import DEFAULT_OTHER_LABEL, QuestionType

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them


@pytest.fixture(scope="module")
def bundled():
    return load_survey()


# The bundled study ----------------------------------------------------------------------


def test_bundled_survey_loads(bundled):
    assert bundled_survey_path().is_file()
    assert bundled.id == "manao_accounting_digital"
    assert bundled.version == 1
    assert len(bundled.questions) == 14
    assert bundled.survey.questions_total == 14
    assert [q.number for q in bundled.questions] == list(range(1, 15))
    assert [q.id[:3] for q in bundled.questions] == [f"q{i:02d}" for i in range(1, 15)]


def test_load_survey_with_explicit_path_is_the_same(bundled):
    assert load_survey(bundled_survey_path()) == bundled


def test_q01_keeps_published_options_verbatim(bundled):
    q = bundled.questions[0]
    assert q.id == "q01_who_does_accounting"
    assert q.type == QuestionType.SINGLE
    assert [o.text for o in q.options] == [
        "Аккаунт-менеджеры",
        "Руководитель компании",
        "Непосредственные исполнители",
        "Руководитель отдела / группы",
    ]
    assert all(o.provenance == "published" for o in q.options)
    assert q.other_allowed
    assert q.other_label == "Прочее (укажите)"
    assert bundled.other_label(q) == "Прочее (укажите)"


def test_q02_to_q04_published_options(bundled):
    q02, q03, q04 = bundled.questions[1:4]
    assert q02.type == QuestionType.MULTIPLE
    assert len(q02.options) == 22
    assert q02.options[0].text == "Коммуникации с клиентами"
    assert q02.options[-1].text == "Веб-аналитика"
    assert "Функции проджект-менеджера (подготовка ТЗ, разработка прототипов и прочее)" in [o.text for o in q02.options]
    assert all(o.provenance == "published" for o in q02.options)
    assert q03.type == QuestionType.SINGLE
    assert [o.text for o in q03.options] == [
        "Аккаунт-отдел отсутствует",
        "Есть аккаунт-менеджеры без разделения на грейды (нет должности аккаунт-директора)",
        "Есть аккаунт-менеджеры с разделением на грейды (нет должности аккаунт-директора)",
        "Есть аккаунт-директор (руководитель аккаунт-отдела) и аккаунт-менеджеры",
    ]
    assert q03.other_label == "Прочее (укажите)"
    assert q04.type == QuestionType.SINGLE
    assert [o.text for o in q04.options][:4] == [
        "Весь аккаунтинг ведем у себя",
        "Весь аккаунтинг ведется на стороне субподрядчика",
        "Делим аккаунтинг с субподрядчиком в разных пропорциях",
        "Оставляем себе только коммуникации с клиентом, остальное ведет аккаунт-менеджер субподрядчика",
    ]


def test_q05_is_a_one_to_ten_scale(bundled):
    q = bundled.questions[4]
    assert q.id == "q05_subcontractor_rating"
    assert q.type == QuestionType.SCALE
    assert q.scale is not None
    assert (q.scale.min, q.scale.max) == (1, 10)
    assert q.scale.min_label == "Очень плохо"
    assert q.scale.max_label == "Отлично"
    assert not q.options


def test_every_bundled_question_is_optional(bundled):
    assert all(q.required is False for q in bundled.questions)


def test_q12_is_a_bounded_number_with_buckets(bundled):
    q = bundled.get("q12_company_size")
    assert q.type == QuestionType.NUMBER
    assert (q.min, q.max) == (1, 100000)
    assert q.buckets == ["1-5", "6-15", "16-30", "31-50", "51-100", "101+"]
    assert q.bucket_bounds() == [
        ("1-5", 1, 5),
        ("6-15", 6, 15),
        ("16-30", 16, 30),
        ("31-50", 31, 50),
        ("51-100", 51, 100),
        ("101+", 101, None),
    ]


def test_choice_questions_have_unique_option_ids(bundled):
    for q in bundled.questions:
        if q.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
            assert len(set(q.option_ids)) == len(q.option_ids), q.id
            assert "other" not in q.option_ids


# Helpers of the model -------------------------------------------------------------------


def _mini(**q2):
    return parse_survey(
        {
            "survey": {"id": "mini", "title": "Mini"},
            "questions": [
                {"id": "a", "type": "text", "text": "A"},
                {"id": "b", "type": "single_choice", "text": "B", "options": [{"id": "x", "text": "X"}], **q2},
            ],
        }
    )


def test_number_falls_back_to_position(bundled):
    assert bundled.number("q01_who_does_accounting") == 1
    assert bundled.number("q14_role") == 14
    mini = _mini()
    assert mini.questions[1].number is None
    assert mini.number("a") == 1
    assert mini.number("b") == 2
    with pytest.raises(KeyError):
        mini.number("nope")


def test_other_label_default_and_override(bundled):
    mini = _mini(other_allowed=True)
    assert RU(DEFAULT_OTHER_LABEL) == "Другое (укажите)"
    assert mini.other_label(mini.get("b")) == "Другое (укажите)"
    assert mini.get("b").option_label("other", mini.other_label(mini.get("b"))) == "Другое (укажите)"
    assert mini.get("b").option_label("x", "?") == "X"
    assert bundled.other_label(bundled.get("q02_am_functions")) == "Другое (укажите)"
    assert bundled.other_label(bundled.get("q13_region")) == "Другая страна (укажите)"


def test_short_title():
    mini = _mini(title=None, text="Б" * 100)
    assert mini.get("a").short_title == "A"
    t = mini.get("b").short_title
    assert len(t) == 80 and t.endswith("…")  # survey.text.clip: at most the limit, the ellipsis included


def test_show_if_mapping_becomes_a_list():
    mini = _mini(show_if={"question": "a", "answered": True})
    assert len(mini.get("b").show_if) == 1
    assert mini.get("b").show_if[0].answered is True


# A broken file --------------------------------------------------------------------------

BROKEN = textwrap.dedent(
    """\
    survey:
      id: broken
      title: Broken
      questions_total: 12
    questions:
    - id: q1
      number: 1
      type: single_choice
      text: Only options here
      options:
      - {id: a, text: A}
      - {id: b, text: B}
    - id: q1
      type: text
      text: Same id again
    - id: q3
      type: single_choice
      text: No options at all
    - id: q4
      type: scale
      text: A scale without its scale
    - id: q5
      type: multiple_choice
      text: Twice the same option id
      options:
      - {id: same, text: One}
      - {id: same, text: Two}
    - id: q6
      type: single_choice
      text: A bad option id
      options:
      - {id: bad id, text: Spaces}
    - id: q7
      type: text
      text: Points to a later question
      show_if: {question: q9, answered: true}
    - id: q8
      type: text
      text: Points to an unknown question
      show_if: {question: nowhere, answered: true}
    - id: q9
      type: text
      text: Any of an unknown option
      show_if: {question: q1, any_of: [a, zzz]}
    - id: q10
      number: 3
      type: text
      text: Wrong number
    - id: q11
      type: single_choice
      text: A typo
      optons:
      - {id: a, text: A}
    """
)

EXPECTED = [
    "question q3: options: a choice question needs at least one option",
    "question q4: scale: a scale question needs scale.min and scale.max",
    "question q5: options: duplicate option id(s) same",
    "question q6: options #1.id: 'bad id' is not a valid id: use lowercase latin letters",
    "question q11: optons: unknown key 'optons'; did you mean 'options'?",
    "question q1: id: duplicate question id (also question #1, line 6)",
    "question q7: show_if.question: 'q9' is not an earlier question",
    "question q8: show_if.question: 'nowhere' is not an earlier question",
    "question q9: show_if.any_of: 'zzz' is not an option of q1",
    "question q10: number: is 3 but the question stands at position 10",
    "survey: questions_total: says 12 but the file has 11",
]


def test_broken_file_reports_every_problem_at_once(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    err = info.value
    assert err.source == str(path)
    for expected in EXPECTED:
        assert any(expected in p for p in err.problems), (expected, err.problems)
    # q11's typo also leaves it without options; nothing else is reported.
    assert "question q11: options: a choice question needs at least one option" not in err.problems
    assert len(err.problems) == len(EXPECTED), err.problems
    assert f"{len(EXPECTED)} problem(s)" in str(err)
    # Each problem names its question, or the survey header, and the line it is on.
    assert all(f.text.startswith(("question ", "survey: ")) and f.line for f in err.findings)
    assert all(p.startswith(f"line {f.line}: ") for p, f in zip(err.problems, err.findings))


def test_valid_questions_produce_no_problems(tmp_path: Path):
    # The first question of BROKEN is fine on its own.
    path = tmp_path / "ok.yaml"
    path.write_text(BROKEN.split("- id: q1\n  type: text")[0].replace("questions_total: 12", "questions_total: 1"))
    s = load_survey(path)
    assert [q.id for q in s.questions] == ["q1"]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ({"id": "q", "type": "text", "text": "T", "options": [{"id": "a", "text": "A"}]}, "options: not allowed for type text"),
        ({"id": "q", "type": "number", "text": "T", "other_allowed": True}, "other_allowed: only choice questions"),
        ({"id": "q", "type": "single_choice", "text": "T", "options": [{"id": "other", "text": "O"}]}, "reserved"),
        ({"id": "q", "type": "text", "text": "T", "scale": {"min": 1, "max": 5}}, "scale: not allowed for type text"),
        ({"id": "q", "type": "scale", "text": "T", "scale": {"min": 1, "max": 20}}, "at most 11 points"),
        ({"id": "q", "type": "scale", "text": "T", "scale": {"min": 5, "max": 5}}, "greater than scale.min"),
        (
            {"id": "q", "type": "single_choice", "text": "T", "options": [{"id": "a", "text": "A"}], "max_selected": 1},
            "min_selected/max_selected: only for multiple_choice",
        ),
        (
            {"id": "q", "type": "multiple_choice", "text": "T", "options": [{"id": "a", "text": "A"}], "max_selected": 3},
            "need 1 <= min <= max <= 1",
        ),
        ({"id": "q", "type": "text", "text": "T", "min": 1}, "min/max: only for number questions"),
        ({"id": "q", "type": "number", "text": "T", "min": 5, "max": 1}, "max: must not be below min"),
        ({"id": "q", "type": "number", "text": "T", "buckets": ["1-5", "lots"]}, "buckets: 'lots' is not like"),
        ({"id": "q", "type": "text", "text": "T", "buckets": ["1-5"]}, "buckets: only for number questions"),
        ({"id": "q", "type": "text", "text": "T", "max_length": 0}, "max_length: must be between 1 and 4000"),
        ({"id": "Q Bad", "type": "text", "text": "T"}, "question Q Bad: id: 'Q Bad' is not a valid id"),
        ({"id": "q", "type": "essay", "text": "T"}, "question q: type: 'essay' is not one of single_choice, multiple_choice, scale, number, text"),
        ({"id": "q", "type": "text"}, "question q: text: is required but missing"),
        ({"id": "q", "type": "text", "text": "T", "show_if": {"question": "q"}}, "show_if needs one of"),
    ],
)
def test_single_question_problems(question, expected):
    with pytest.raises(SurveyError) as info:
        parse_survey({"survey": {"id": "s", "title": "S"}, "questions": [question]})
    assert any(expected in p for p in info.value.problems), info.value.problems


def test_show_if_type_mismatches():
    raw = {
        "survey": {"id": "s", "title": "S"},
        "questions": [
            {"id": "t", "type": "text", "text": "T"},
            {"id": "c", "type": "single_choice", "text": "C", "options": [{"id": "a", "text": "A"}]},
            {"id": "u", "type": "text", "text": "U", "show_if": [{"question": "t", "any_of": ["a"]}, {"question": "c", "min": 3}]},
        ],
    }
    with pytest.raises(SurveyError) as info:
        parse_survey(raw)
    assert info.value.problems == [
        "question u: show_if.any_of: question t is not a choice question",
        "question u: show_if.min/max: question c is not a scale or number",
    ]


def test_show_if_other_is_an_option_only_when_allowed():
    def raw(other_allowed):
        return {
            "survey": {"id": "s", "title": "S"},
            "questions": [
                {"id": "c", "type": "single_choice", "text": "C", "options": [{"id": "a", "text": "A"}], "other_allowed": other_allowed},
                {"id": "u", "type": "text", "text": "U", "show_if": {"question": "c", "none_of": ["other"]}},
            ],
        }

    assert parse_survey(raw(True)).get("u").show_if[0].none_of == ["other"]
    with pytest.raises(SurveyError) as info:
        parse_survey(raw(False))
    assert info.value.problems == ["question u: show_if.none_of: 'other' is not an option of c"]


def test_header_problems_and_empty_questions():
    with pytest.raises(SurveyError) as info:
        parse_survey({"survey": {"id": "Bad Id", "title": "S", "colour": "red"}, "questions": []})
    problems = info.value.problems
    assert "survey: id: 'Bad Id' is not a valid id: use lowercase latin letters, digits and _, starting with a letter (at most 32 characters)" in problems
    assert "survey: colour: unknown key 'colour'; the keys here are id, version, title, intro_text" in "".join(problems)
    assert "survey: questions: the questionnaire has no questions" in problems
    assert len(problems) == 3

    with pytest.raises(SurveyError) as info:
        parse_survey({"survey": {"id": "s", "title": "S"}, "questions": []})
    assert info.value.problems == ["survey: questions: the questionnaire has no questions"]


def test_missing_questions_key():
    with pytest.raises(SurveyError) as info:
        parse_survey({"survey": {"id": "s", "title": "S"}})
    assert info.value.problems == ["survey: questions: is required but missing"]


def test_non_mapping_question_entry_is_reported_by_position():
    with pytest.raises(SurveyError) as info:
        parse_survey({"survey": {"id": "s", "title": "S"}, "questions": [{"id": "a", "type": "text", "text": "A"}, "oops"]})
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("question #2: ")


def test_not_yaml(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("survey: {id: [unclosed\nquestions: :\n", encoding="utf-8")
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    assert len(info.value.problems) == 1
    assert info.value.findings[0].text.startswith("not valid YAML: ")
    assert info.value.findings[0].line is not None
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    assert info.value.source == str(path)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("cannot read the file: ")


@pytest.mark.parametrize("content", ["- a\n- b\n", "just a string\n", "", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, content: str):
    path = tmp_path / "list.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    assert [f.text for f in info.value.findings] == ["the file must be a mapping with 'survey' and 'questions'"]


def test_parse_survey_rejects_non_mapping():
    with pytest.raises(SurveyError) as info:
        parse_survey(["survey"], source="x.yaml")
    assert info.value.source == "x.yaml"
    assert [f.text for f in info.value.findings] == ["the file must be a mapping with 'survey' and 'questions'"]
