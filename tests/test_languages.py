"""A questionnaire in several languages: texts as {ru: …, en: …}, Survey.in_language, check-survey's warnings."""

from __future__ import annotations

import textwrap

import pytest

from bot.cli import main
from survey.loader import SurveyError, check_survey_file, load_survey, parse_survey
from survey.model import Survey
from survey.testmode import copy_for_tests

TWO_LANGUAGES = textwrap.dedent("""\
    survey:
      id: pets
      title: {ru: Питомцы, en: Pets}
      language: ru
      intro_text: {ru: Три вопроса., en: Three questions.}
    questions:
    - id: has_pet
      type: single_choice
      text:
        ru: Есть ли у вас питомец?
        en: Do you have a pet?
      hint: {ru: Один ответ, en: One answer}
      options:
      - {id: "yes", text: {ru: Да, en: "Yes"}}
      - {id: "no", text: {ru: Нет, en: "No"}}
      other_allowed: true
      other_label: {ru: Сложно сказать (укажите), en: Hard to say (specify)}
    - id: happiness
      type: scale
      text:
        ru: Насколько питомец счастлив?
        en: How happy is the pet?
      scale: {min: 1, max: 5, min_label: {ru: Грустный, en: Sad}, max_label: {ru: Счастлив, en: Happy}}
      show_if: {question: has_pet, any_of: ["yes"]}
    - id: name
      type: text
      text: Как зовут питомца?
      show_if: {question: has_pet, any_of: ["yes"]}
    """)


def write(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_texts_in_the_default_language_and_in_another(tmp_path):
    ru = load_survey(write(tmp_path, TWO_LANGUAGES))
    assert ru.languages == ("ru", "en") and ru.default_language == "ru"
    assert ru.survey.title == "Питомцы" and ru.get("has_pet").text == "Есть ли у вас питомец?"
    assert [o.text for o in ru.get("has_pet").options] == ["Да", "Нет"]
    assert ru.survey.thanks_text.startswith("Спасибо")

    en = ru.in_language("en")
    assert en.survey.title == "Pets" and en.survey.intro_text == "Three questions."
    q = en.get("has_pet")
    assert (q.text, q.hint, [o.text for o in q.options]) == ("Do you have a pet?", "One answer", ["Yes", "No"])
    assert en.other_label(q) == "Hard to say (specify)"
    scale = en.get("happiness").scale
    assert scale is not None and (scale.min_label, scale.max_label) == ("Sad", "Happy")
    # A text without a translation is shown in the default language.
    assert en.get("name").text == "Как зовут питомца?"
    # The header texts the file leaves out are the bot's own, in that language.
    assert en.survey.thanks_text == "Thank you! Your answers have been recorded."
    assert en.survey.reminder_text.startswith("You started the survey")
    # The same questionnaire: ids, numbers, conditions, order.
    assert [x.id for x in en.questions] == [x.id for x in ru.questions]
    assert [en.number(x.id) for x in en.questions] == [1, 2, 3]
    assert en.get("happiness").show_if == ru.get("happiness").show_if
    assert (en.id, en.version, en.languages) == (ru.id, ru.version, ru.languages)


def test_in_language_is_cached_and_falls_back_to_the_default(tmp_path):
    ru = load_survey(write(tmp_path, TWO_LANGUAGES))
    en = ru.in_language("en")
    assert ru.in_language("en") is en
    assert ru.in_language("en-GB") is en and ru.in_language("EN_us") is en
    assert ru.in_language("de") is ru and ru.in_language("") is ru and ru.in_language("ru") is ru
    assert en.in_language("ru") is ru and en.in_language("en") is en


def test_a_copy_made_for_test_mode_translates_as_itself(tmp_path):
    ru = load_survey(write(tmp_path, TWO_LANGUAGES))
    test = copy_for_tests(ru)
    assert test.in_language("en").id == test.id != ru.id
    assert test.in_language("en").survey.title == "Pets"
    assert ru.in_language("en").id == ru.id


def test_a_single_language_file_is_unchanged(tmp_path):
    bundled = load_survey()
    assert bundled.default_language == "ru"
    assert bundled.in_language("xx") is bundled
    # Files written before languages existed still load: `language: ru` alone.
    old = "survey: {id: s, title: T, language: ru}\nquestions:\n- {id: q, type: text, text: Что}\n"
    survey = load_survey(write(tmp_path, old))
    assert survey.languages == ("ru",) and survey.in_language("en") is survey


def test_english_as_the_default_language(tmp_path):
    text = "survey: {id: s, title: Pets, language: en}\nquestions:\n- {id: q, type: text, text: Name}\n"
    survey = load_survey(write(tmp_path, text))
    assert survey.languages == ("en",)
    assert survey.survey.thanks_text == "Thank you! Your answers have been recorded."
    assert survey.other_label(survey.questions[0]) == "Other (please specify)"


def test_declared_languages_without_texts_fall_back(tmp_path):
    raw = {"survey": {"id": "s", "title": "T", "languages": ["ru", "en"]},
           "questions": [{"id": "q", "type": "text", "text": "Что?"}]}
    survey = parse_survey(raw)
    assert survey.languages == ("ru", "en")
    assert survey.in_language("en").questions[0].text == "Что?"


def test_missing_translations_are_warnings_with_their_line(tmp_path, capsys):
    path = write(tmp_path, TWO_LANGUAGES)
    survey, warnings = check_survey_file(path)
    assert survey.languages == ("ru", "en")
    assert warnings == [f"{path}:27: warning: question name: text: no translation into en (the ru text is shown instead)"]
    assert main(["check-survey", str(path)]) == 0
    out = capsys.readouterr().out
    assert "languages: ru, en (default ru)" in out and warnings[0] in out
    # --strict: the same finding is a problem, exit 2, with the line.
    assert main(["check-survey", str(path), "--strict"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:27: question name: text: no translation into en" in err
    with pytest.raises(SurveyError):
        check_survey_file(path, strict=True)


def test_a_missing_default_text_is_a_warning_and_falls_back(tmp_path):
    text = TWO_LANGUAGES.replace("text: Как зовут питомца?", "text: {en: Pet's name}")
    path = write(tmp_path, text)
    survey, warnings = check_survey_file(path)
    assert survey.get("name").text == "Pet's name"
    assert warnings == [f"{path}:27: warning: question name: text: no translation into ru (another language is "
                        "shown instead)"]


def test_bad_language_codes_and_translations_are_problems_with_lines(tmp_path):
    text = TWO_LANGUAGES.replace("language: ru", "language: ru\n  languages: [ru, en, English]")
    text = text.replace("hint: {ru: Один ответ, en: One answer}", "hint: {ru: Один ответ, en: One answer, de: Eine}")
    text = text.replace("{id: \"no\", text: {ru: Нет, en: \"No\"}}", "{id: \"no\", text: {ru: Нет, en: \"\"}}")
    path = write(tmp_path, text)
    with pytest.raises(SurveyError) as info:
        load_survey(path)
    assert info.value.lines() == [
        f"{path}:5: survey: languages #3: 'English' is not a language code like ru, en or pt-br",
        f"{path}:13: question has_pet: hint: 'de' is not one of the survey's languages (ru, en, English)",
        f"{path}:16: question has_pet: options #2.text: must not be empty (in en)",
    ]


def test_texts_as_mappings_outside_a_file_take_the_context_language():
    from survey.model import Option

    assert Option.model_validate({"id": "a", "text": {"ru": "Да", "en": "Yes"}}).text == "Да"
    assert Option.model_validate({"id": "a", "text": {"ru": "Да", "en": "Yes"}}, context={"language": "en"}).text == "Yes"


def test_survey_equality_ignores_what_was_built():
    raw = {"survey": {"id": "s", "title": {"ru": "Т", "en": "T"}}, "questions": [{"id": "q", "type": "text", "text": "Что?"}]}
    a, b = parse_survey(raw), parse_survey(raw)
    a.in_language("en")
    assert a == b and isinstance(a, Survey)


def test_the_json_schema_accepts_texts_in_several_languages():
    import jsonschema
    import yaml

    from survey.schema import survey_json_schema

    validator = jsonschema.Draft202012Validator(survey_json_schema())
    assert not list(validator.iter_errors(yaml.safe_load(TWO_LANGUAGES)))
    bad = yaml.safe_load(TWO_LANGUAGES)
    bad["questions"][0]["text"] = {"ru": 5}
    assert list(validator.iter_errors(bad))


def test_the_bundled_study_is_complete_in_english():
    import re

    from survey.loader import bundled_survey_path

    ru = load_survey()
    assert ru.languages == ("ru", "en")
    assert check_survey_file(bundled_survey_path(), strict=True)[1] == []  # nothing left untranslated
    en = ru.in_language("en")
    texts = [en.survey.title, en.survey.intro_text, en.survey.thanks_text, en.survey.reminder_text,
             en.survey.other_label_default]
    for q in en.questions:
        texts += [q.text, q.title, q.heading, q.hint, q.other_label, *(o.text for o in q.options)]
        texts += [q.scale.min_label, q.scale.max_label] if q.scale else []
    shown = [t for t in texts if t]
    assert len(shown) == 130
    assert [t for t in shown if re.search("[А-Яа-яЁё]", t)] == []
    assert en.get("q01_who_does_accounting").text == "Who handles account management (communication with clients) in your company?"
    # Same questionnaire otherwise: baselines and provenance untouched.
    for a, b in zip(ru.questions, en.questions, strict=True):
        assert (a.id, a.baseline, a.provenance, [o.provenance for o in a.options]) == \
               (b.id, b.baseline, b.provenance, [o.provenance for o in b.options])
