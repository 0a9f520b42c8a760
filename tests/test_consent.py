"""Consent (issue 21, point 3): nothing about a respondent is stored before they agree; a decline is a bare count."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import yaml

from analytics.jobs import export_bytes
from bot.settings import Settings
from survey.loader import load_survey
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import all_cells, count, fetch, response_row
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess, running_app
from tests.recording import SimUser

CONSENT_SURVEY = {
    "survey": {
        "id": "consented", "version": 1, "title": "Опрос с согласием", "intro_text": "Пять коротких вопросов.",
        "consent": {"text": "Ответы обезличены и хранятся до конца исследования. Участие добровольное.",
                    "agree": "Согласен(на)", "decline": "Не согласен(на)", "version": "ethics-2026-03"},
    },
    "questions": [
        {"id": "q_role", "type": "single_choice", "text": "Кто вы?",
         "options": [{"id": "dev", "text": "Разработчик"}, {"id": "pm", "text": "Менеджер"}]},
        {"id": "q_mood", "type": "scale", "text": "Как настроение?", "scale": {"min": 1, "max": 5}},
    ],
}
# Who declines: their id, name and username must be nowhere.
DECLINER = (6029384751, "Zebulon", "zebulon_q_private")


def consent_settings(db_url: str, tmp_path: Path, raw: dict = CONSENT_SURVEY) -> Settings:
    path = tmp_path / "consent.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                    survey_file=path, flood_messages=10_000)


async def test_decline_stores_nothing_but_a_count_and_start_offers_consent_again(db_url, tmp_path):
    settings = consent_settings(db_url, tmp_path)
    async with running_app(settings) as (app, request):
        agree = SimUser(app, request, 7364519208, "Варвара")
        await agree.send("/start campaign_a")
        screen = agree.last()
        assert "Ответы обезличены" in screen.text and "Пять коротких вопросов" in screen.text
        assert [b["text"] for b in screen.buttons()] == ["Согласен(на)", "Не согласен(на)"]
        assert count(db_url, "respondents") == 0  # /start alone stores nothing
        await agree.press("Согласен(на)")
        assert "Кто вы?" in agree.last().text
        await agree.press("Разработчик")
        await agree.press("4")
        assert "Спасибо" in agree.last().text

        uid, name, username = DECLINER
        no = SimUser(app, request, uid, name)
        no.user["username"] = username
        await no.send("/start campaign_b")
        await no.send("Привет")  # typing before choosing stores nothing either
        await no.press("Не согласен(на)")
        assert "ничего о вас не сохранили" in no.last().text and not no.last().keyboard
        await no.send("/start")  # a decline can be reversed: the consent step again
        assert "Ответы обезличены" in no.last().text and no.last().keyboard

        again = SimUser(app, request, 5192837460, "Ёжик")
        await again.send("/start")
        await again.press("Не согласен(на)")
        await again.send("/start")
        await again.press("Согласен(на)")
        assert "Кто вы?" in again.last().text

        admin = SimUser(app, request, ADMIN_ID, "Админ")
        await admin.send("/stats")
        assert "Согласие: дали 2, отказались 2" in admin.messages()[-1].text or \
            any("Согласие: дали 2, отказались 2" in m.text for m in admin.messages())
        await app.bot_data.engine.dispose()

    # The respondents who agreed are stored with the consent text's version; the deep link rode on «agree».
    assert response_row(db_url, 7364519208)["consent_version"] == "ethics-2026-03"
    assert fetch(db_url, "SELECT source FROM respondents WHERE user_key = :k", k="7364519208") == [{"source": "campaign_a"}]
    assert response_row(db_url, 5192837460)["consent_version"] == "ethics-2026-03"
    assert fetch(db_url, "SELECT survey_id, consent_version, declines FROM consent_declines") == [
        {"survey_id": "consented", "consent_version": "ethics-2026-03", "declines": 2}]
    # Every column of every table: nothing of the decliner (id, name, username, deep link).
    cells = all_cells(db_url)
    assert len(cells) > 20
    forbidden = [str(uid), name, username, "campaign_b"]
    leaks = [(t, c, v) for t, c, v in cells for word in forbidden if word.lower() in str(v).lower()]
    assert not leaks, leaks[:5]
    # Nor in any export; the consent version is a column of each.
    survey = load_survey(settings.survey_file)
    csv = (await export_bytes(db_url, survey, "csv")).decode("utf-8-sig")
    xlsx = await export_bytes(db_url, survey, "xlsx")
    sav = await export_bytes(db_url, survey, "sav")
    for word in forbidden:
        assert word not in csv
    frame = pd.read_csv(io.StringIO(csv))
    assert list(frame["consent_version"]) == ["ethics-2026-03", "ethics-2026-03"]
    sheet = pd.read_excel(io.BytesIO(xlsx), sheet_name="Ответы")
    assert str(uid) not in sheet.to_csv() and list(sheet["consent_version"]) == ["ethics-2026-03"] * 2
    assert str(uid).encode() not in sav


def test_the_json_schema_and_check_survey_accept_a_consent_block(tmp_path, capsys):
    import jsonschema

    from bot.cli import main
    from survey.schema import survey_json_schema

    validator = jsonschema.Draft202012Validator(survey_json_schema())
    assert not list(validator.iter_errors(CONSENT_SURVEY))
    both = {**CONSENT_SURVEY, "survey": {**CONSENT_SURVEY["survey"], "consent": {
        "text": {"ru": "Участие добровольное.", "en": "Taking part is voluntary."},
        "agree": {"ru": "Согласен(на)", "en": "I agree"}, "version": "v2"}}}
    assert not list(validator.iter_errors(both))
    for broken in ({"text": "Без версии"}, {"text": "Опечатка", "version": "v1", "agre": "Да"}):
        bad = {**CONSENT_SURVEY, "survey": {**CONSENT_SURVEY["survey"], "consent": broken}}
        assert list(validator.iter_errors(bad)), broken
    path = tmp_path / "consent.yaml"
    path.write_text(yaml.safe_dump(both, allow_unicode=True), encoding="utf-8")
    assert main(["check-survey", str(path)]) == 0
    english = load_survey(path).in_language("en").survey.consent
    assert english is not None and (english.text, english.agree, english.version) == (
        "Taking part is voluntary.", "I agree", "v2")


@pytest.mark.e2e
def test_consent_through_the_real_bot_process(tmp_path):
    """`surveybot run` against the Bot API double: agree, decline, and /start after a decline."""
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'consent.db'}"
    path = tmp_path / "consent.yaml"
    path.write_text(yaml.safe_dump(CONSENT_SURVEY, allow_unicode=True), encoding="utf-8")
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url, "SURVEY_FILE": str(path)}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            yes = api.user(555101, first_name="Анна")
            yes.send("/start ads_march")
            yes.wait_for(lambda m: "Ответы обезличены" in m.content and "Согласен(на)" in str(m.keyboard), timeout=30)
            yes.press_button("Согласен(на)")
            yes.wait_for(lambda m: "Кто вы?" in m.content and bool(m.keyboard), timeout=20)
            yes.press_button("Разработчик")
            yes.wait_for(lambda m: "Как настроение?" in m.content and bool(m.keyboard), timeout=20)

            no = api.user(555102, first_name="Борис")
            no.send("/start")
            no.wait_for(lambda m: "Не согласен(на)" in str(m.keyboard), timeout=20)
            no.press_button("Не согласен(на)")
            no.wait_for_text("ничего о вас не сохранили", timeout=20)
            assert count(db_url, "respondents") == 1
            no.send("/start")  # a decline is reversed with /start
            again = no.wait_for(lambda m: "Ответы обезличены" in m.content and "Согласен(на)" in str(m.keyboard),
                                timeout=20, fresh=True)
            no.press_button("Согласен(на)", message=again)
            no.wait_for(lambda m: "Кто вы?" in m.content and bool(m.keyboard), timeout=20)
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    assert "Traceback" not in bot.output()
    assert response_row(db_url, 555101)["consent_version"] == "ethics-2026-03"
    assert response_row(db_url, 555102)["consent_version"] == "ethics-2026-03"
    assert fetch(db_url, "SELECT source FROM respondents WHERE user_key = '555101'") == [{"source": "ads_march"}]
    assert fetch(db_url, "SELECT declines FROM consent_declines") == [{"declines": 1}]
