"""Piping ({q01}) and carry-forward (options_from) through the real conversation (issue 21, point 2), on SQLite
and PostgreSQL: what the respondent sees, what is offered, what «Назад» re-asks, and what check-survey refuses."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from bot.cli import main
from bot.settings import Settings
from survey.loader import SurveyError, load_survey
from survey.schema import survey_json_schema
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import stored_answers, stored_choices
from tests.harness import running_app
from tests.recording import SimUser

PIPED = """\
survey:
  id: piping_demo
  title: Команды
  randomize: true
questions:
- id: q01
  type: text
  text: Как называется ваша команда?
- id: q02
  type: multiple_choice
  text: Какими каналами пользуется {q01|ваша команда}?
  options:
  - {id: email, text: Почта}
  - {id: phone, text: Телефон}
  - {id: chat, text: Чат}
  - {id: meet, text: Встречи}
  other_allowed: true
- id: q03
  type: single_choice
  text: Какой из них главный для «{q01|вашей команды}»?
  hint: 'Вы отметили: {q02}'
  options_from: q02
- id: q04
  type: multiple_choice
  text: Какие из остальных хотели бы попробовать?
  options_from: {question: q02, take: not_selected}
- id: q05
  type: number
  text: Сколько человек в «{q01|команде}»?
- id: q06
  type: text
  text: 'Вы сказали: {q05|несколько} человек, главный канал — {q03|не выбран}. Почему так?'
"""
HOSTILE = '<b>x</b><script>alert("x")</script>'


@pytest.fixture
async def chat(db_url: str, tmp_path: Path):
    path = tmp_path / "piped.yaml"
    path.write_text(PIPED, encoding="utf-8")
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                        flood_messages=10_000, survey_file=path)
    async with running_app(settings) as (app, request):
        yield lambda user_id: SimUser(app, request, user_id)


def answer_buttons(u: SimUser) -> list[str]:
    """The labels of the answer buttons on screen (without «Назад», «Пропустить», «Готово», «Оставить ответ»)."""
    data = {b["text"]: b["callback_data"] for b in u.keyboard_message().buttons()}
    return sorted(t.removeprefix("✅ ") for t, d in data.items() if d.split(":")[2] in ("o", "t", "x"))


async def test_piped_answer_is_shown_escaped_and_only_earlier_choices_are_offered(chat, db_url):
    u = chat(41_001)
    await u.begin()
    assert "Как называется ваша команда?" in u.last().text
    await u.send(HOSTILE)
    q02 = u.last().text
    # The answer as typed, as text: the markup is escaped, never interpreted.
    assert "Какими каналами пользуется &lt;b&gt;x&lt;/b&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;?" in q02
    assert "<script>" not in q02 and "<b>x</b>" not in q02
    await u.press("Почта")
    await u.press("Чат")
    await u.press("Готово")
    q03 = u.last().text
    assert "главный для «&lt;b&gt;x&lt;/b&gt;&lt;script&gt;" in q03 and "<script>" not in q03
    assert "Вы отметили: Почта; Чат" in q03
    assert answer_buttons(u) == ["Почта", "Чат"]  # only what was chosen in q02 («other» not allowed here)
    await u.press("Чат")
    assert answer_buttons(u) == ["Встречи", "Телефон"]  # q04: what was not chosen
    await u.press("Встречи")
    await u.press("Готово")
    await u.send("12")
    assert "Вы сказали: 12 человек, главный канал — Чат. Почему так?" in u.last().text
    choices = stored_choices(db_url, 41_001)
    assert choices["q03"] == ["chat"] and choices["q04"] == ["meet"]
    assert stored_answers(db_url, 41_001)["q01"]["text"] == HOSTILE  # stored as typed, escaped only when shown


async def test_back_on_the_source_re_asks_what_depends_on_it(chat, db_url):
    u = chat(41_002)
    await u.begin()
    await u.send("Альфа")
    await u.press("Почта")
    await u.press("Чат")
    await u.press("Готово")
    await u.press("Чат")  # q03
    await u.press("Телефон")  # q04
    await u.press("Готово")
    assert "Сколько человек в «Альфа»?" in u.last().text
    for _ in range(3):  # q05 -> q04 -> q03 -> q02
        await u.press("← Назад")
    assert "Какими каналами" in u.last().text
    # The same selection again: nothing that depends on it changes, the answers stay.
    await u.press("Готово")
    assert answer_buttons(u) == ["Почта", "Чат"] and u.keyboard_message().button("Оставить ответ")
    await u.press("← Назад")
    # Changed: «Чат» out, «Телефон» in. q03 and q04 offered other options: their answers are cleared and asked again.
    await u.press("✅ Чат")
    await u.press("Телефон")
    await u.press("Готово")
    assert "q03" not in stored_answers(db_url, 41_002) and "q04" not in stored_answers(db_url, 41_002)
    assert answer_buttons(u) == ["Почта", "Телефон"]
    assert "Оставить ответ" not in [b["text"] for b in u.keyboard_message().buttons()]
    assert "Вы отметили: Почта; Телефон" in u.last().text
    await u.press("Телефон")
    assert answer_buttons(u) == ["Встречи", "Чат"]
    await u.press("Пропустить")
    assert stored_choices(db_url, 41_002)["q03"] == ["phone"]
    assert stored_answers(db_url, 41_002)["q04"]["skipped"] == 1
    # Back on q01 with a new name: the questions piping it show the new name; their answers stay.
    for _ in range(4):  # q05 -> q01
        await u.press("← Назад")
    assert "Как называется ваша команда?" in u.last().text
    await u.send("Бета")
    assert "пользуется Бета?" in u.last().text
    await u.press("Готово")
    assert "главный для «Бета»" in u.last().text
    assert u.keyboard_message().button("✅ Телефон") and u.keyboard_message().button("Оставить ответ")
    assert stored_choices(db_url, 41_002)["q03"] == ["phone"]


async def test_nothing_to_offer_is_not_applicable_not_skipped(chat, db_url):
    u = chat(41_003)
    await u.begin()
    await u.press("Пропустить")  # q01: the fallback is shown instead
    assert "Какими каналами пользуется ваша команда?" in u.last().text
    for label in ("Почта", "Телефон", "Чат", "Встречи"):
        await u.press(label)
    await u.press("Готово")
    await u.press("Телефон")  # q03
    # q04 would offer what was not chosen: nothing. It is passed over, and not stored as the respondent's skip.
    assert "Сколько человек в «команде»?" in u.last().text
    rows = stored_answers(db_url, 41_003)
    assert "q04" not in rows and rows["q01"]["skipped"] == 1
    await u.press("← Назад")
    assert "главный для" in u.last().text  # «Назад» passes over it too

    v = chat(41_004)
    await v.begin()
    await v.send("Гамма")
    await v.press("Пропустить")  # q02 skipped: q03 and q04 have nothing to offer
    assert "Сколько человек в «Гамма»?" in v.last().text
    assert set(stored_answers(db_url, 41_004)) == {"q01", "q02"}

    admin = chat(ADMIN_ID)
    await admin.send("/stats")
    text = "\n".join(m.text for m in admin.messages())
    assert "Варианты — не выбранные в q02; кому предложить было нечего, тем вопрос не задавался" in text, text


async def test_long_piped_answers_are_cut_at_100_characters(chat):
    u = chat(41_005)
    await u.begin()
    await u.send("Я" * 300)
    piped = u.last().text.split("<b>Какими каналами пользуется ", 1)[1].split("?</b>", 1)[0]
    assert piped == "Я" * 99 + "…"  # 100 characters with the ellipsis


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("survey:\n  id: s\n  title: S\nquestions:\n" + body, encoding="utf-8")
    return path


def test_check_survey_refuses_later_unknown_and_wrong_type_references(tmp_path, capsys):
    path = _write(tmp_path, """\
- id: q1
  type: text
  text: Hello {q2|you}
- id: q2
  type: single_choice
  text: Pick
  hint: about {nope}
  options: [{id: a, text: 'A {q2}'}]
- id: q3
  type: single_choice
  text: From a single choice
  options_from: q2
- id: q4
  type: multiple_choice
  text: From a later one
  options_from: {question: q5, take: not_selected}
- id: q5
  type: multiple_choice
  text: Five
  options: [{id: a, text: A}, {id: b, text: B}]
- id: q6
  type: single_choice
  text: From unknown
  options_from: q99
- id: q7
  type: text
  text: typed
  options_from: q5
""")
    assert main(["check-survey", str(path)]) == 2
    err = capsys.readouterr().err
    expected = [
        ":7: question q1: text: '{q2}' is a later question",
        ":11: question q2: hint: '{nope}' is not a question",
        ":12: question q2: options #1.text: '{q2}' is this question itself",
        ":16: question q3: options_from: question q2 is single_choice, not multiple_choice",
        ":20: question q4: options_from: 'q5' is a later question",
        ":28: question q6: options_from: 'q99' is not a question",
        ":32: question q7: options_from: not allowed for type text",
    ]
    for line in expected:
        assert line in err, (line, err)
    with pytest.raises(SurveyError):
        load_survey(path)


def test_a_carry_forward_question_takes_its_options_from_the_source(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(PIPED, encoding="utf-8")
    survey = load_survey(path)
    assert survey.get("q03").option_ids == survey.get("q02").option_ids
    # The questionnaire stored as JSON (survey_definitions) reads back the same.
    assert type(survey).model_validate(json.loads(survey.model_dump_json())) == survey


def test_carried_options_are_translated_as_the_source_is(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("""survey: {id: t, title: {ru: Т, en: T}}
questions:
- id: q1
  type: multiple_choice
  text: {ru: Выбор, en: Pick}
  options: [{id: a1, text: {ru: А, en: A}}, {id: a2, text: {ru: Б, en: B}}]
- id: q2
  type: single_choice
  text: {ru: 'Главный из {q1}?', en: 'Main of {q1}?'}
  options_from: q1
""", encoding="utf-8")
    survey = load_survey(path)
    assert [o.text for o in survey.get("q2").options] == ["А", "Б"]
    assert [o.text for o in survey.in_language("en").get("q2").options] == ["A", "B"]


def test_preview_shows_where_carried_options_come_from(tmp_path):
    from bot.respondent.preview import preview_lines
    path = tmp_path / "p.yaml"
    path.write_text(PIPED, encoding="utf-8")
    text = "\n".join(preview_lines(load_survey(path)))
    assert "↳ варианты — выбранные в вопросе 2 (q02); предложить нечего — вопрос не задаётся" in text
    assert "↳ варианты — не выбранные в вопросе 2 (q02)" in text
    assert "↳ варианты — в случайном порядке для каждого респондента" in text
    assert "Какими каналами пользуется ваша команда?" in text  # the fallback while q01 is not answered


def test_the_json_schema_accepts_the_new_keys():
    validator = jsonschema.Draft202012Validator(survey_json_schema())
    raw = yaml.safe_load(PIPED)
    raw["survey"]["randomize_questions"] = ["profile"]
    raw["questions"][1]["options"][3]["fixed"] = True
    raw["questions"][1]["randomize"] = False
    assert list(validator.iter_errors(raw)) == []
    raw["questions"][2]["options_from"] = {"question": "q02", "take": "sometimes"}
    assert [e.message for e in validator.iter_errors(raw)], "a wrong 'take' is flagged"
