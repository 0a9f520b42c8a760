"""Respondents in their own language, through the real ``surveybot run`` process and the Bot API double.

One respondent whose Telegram is in English takes the bundled study in English from /start to the thank-you while
another takes it in Russian at the same time: every text and button the English one is shown (messages, edits,
toasts) is checked for Cyrillic. /stats counts both together; /language switches mid-survey and redraws the
question; the choice survives a restart. Admin texts follow the admin's Telegram language (or ADMIN_LANGUAGE),
with the questionnaire's labels in its default language and numbers in the admin's format.
"""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest
from sqlalchemy import text

from bot import callbacks
from bot.respondent import screens
from bot.settings import Settings
from survey.i18n import translator
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import respondent_row, response_row, stored_answers
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess, running_app
from tests.recording import SimUser

RU = translator("ru").gettext
CYRILLIC = re.compile(r"[А-Яа-яЁё]")
ADMIN = 557900
WORDS = {
    "en": {"question": "Question {n} of {total}", "start": "Start", "done": "Done", "number": "whole number",
           "thanks": "Your answers:"},
    "ru": {"question": "Вопрос {n} из {total}", "start": "Начать", "done": "Готово", "number": "целое число",
           "thanks": "Ваши ответы:"},
}


def question(user, language: str, n: int, total: int = 14):
    """Wait for the live (keyboard-bearing) message of question n in ``language``."""
    head = WORDS[language]["question"].format(n=n, total=total)
    return user.wait_for(lambda m: head in m.content and bool(m.keyboard), timeout=30, what=f"{language} question {n}")


def answer(user, language: str, n: int) -> None:
    """Answer question n whatever its type, by what the screen offers: a number by message, a multiple choice by
    its first option and «Done», anything else by its first button."""
    words = WORDS[language]
    msg = question(user, language, n)
    buttons = [text for row in msg.keyboard for text, _ in row]
    if words["number"] in msg.content:
        user.send("25")
    elif words["done"] in buttons:
        first = msg.keyboard[0][0][0]
        user.press_button(first, message=msg)
        msg = user.wait_for(lambda m: m.message_id == msg.message_id and "✅" in str(m.keyboard), timeout=30)
        user.press_button(words["done"], message=msg)
    else:
        user.press_button(msg.keyboard[0][0][0], message=msg)


def shown_to(api: FakeBotAPI, user) -> list[str]:
    """Every text the bot showed one user: each message and edit (texts, captions, buttons) and each toast."""
    out: list[str] = []
    for method in ("sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto", "sendDocument"):
        for call in api.calls_of(method):
            if str(call.params.get("chat_id")) != str(user.id):
                continue
            out += [str(call.params.get(key) or "") for key in ("text", "caption")]
            markup = call.params.get("reply_markup") or {}
            if isinstance(markup, str):
                markup = json.loads(markup)
            out += [b.get("text", "") for row in markup.get("inline_keyboard", []) for b in row]
    out += [str(p.get("text") or "") for p in user.callback_answers()]
    return [text for text in out if text]


def cyrillic_in(texts: list[str]) -> list[str]:
    return [text for text in texts if CYRILLIC.search(text)]


@pytest.mark.e2e
def test_two_languages_at_once_and_language_switch(tmp_path):
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'langs.db'}"
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url,
               "ADMIN_IDS": str(ADMIN)}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            english = api.user(557001, first_name="John", language_code="en-US")
            russian = api.user(557002, first_name="Анна", language_code="ru")
            switcher = api.user(557003, first_name="Kim", language_code="en")
            for user in (english, russian, switcher):
                user.send("/start")
            english.wait_for(lambda m: "Start" in str(m.keyboard), timeout=30)
            russian.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30)
            switcher.wait_for(lambda m: "Start" in str(m.keyboard), timeout=30)
            english.press_button("Start")
            russian.press_button("Начать")
            switcher.press_button("Start")
            for n in range(1, 15):  # the two take the survey side by side
                answer(english, "en", n)
                answer(russian, "ru", n)
            english.wait_for_text(WORDS["en"]["thanks"], timeout=30)
            russian.wait_for_text(WORDS["ru"]["thanks"], timeout=30)
            english.send("/help")
            english.wait_for_text("/language", timeout=30)  # offered when the questionnaire has several languages

            # /language mid-survey: the current question comes back in the language chosen.
            for n in range(1, 4):
                answer(switcher, "en", n)
            question(switcher, "en", 4)
            switcher.send("/language")
            menu = switcher.wait_for(lambda m: "Русский" in str(m.keyboard), timeout=30)
            assert "English" in str(menu.keyboard)
            switcher.press_button("Русский", message=menu)
            question(switcher, "ru", 4)
            answer(switcher, "ru", 4)
            question(switcher, "ru", 5)
            bot.kill()  # the choice is stored: it survives a restart
            bot.start()
            switcher.send("/start")
            switcher.wait_for(lambda m: "Продолжить" in str(m.keyboard), timeout=30, fresh=True)

            admin = api.user(ADMIN, first_name="Admin", language_code="en")
            admin.send("/stats")
            summary = admin.wait_for(lambda m: "Started:" in m.content, timeout=60)
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]

    # The English respondent never saw a Cyrillic letter: not in a message, an edit, a button or a toast.
    seen = shown_to(api, english)
    assert len(seen) > 40 and not cyrillic_in(seen), cyrillic_in(seen)[:5]
    assert any("Question 14 of 14" in text for text in seen)
    # The Russian one read Russian throughout.
    assert any("Вопрос 14 из 14" in text for text in shown_to(api, russian))
    # Both are stored alike (option ids, not labels) with their languages; /stats counts them together.
    assert respondent_row(db_url, 557001)["language"] == "en"
    assert respondent_row(db_url, 557002)["language"] == "ru"
    assert respondent_row(db_url, 557003)["language"] == "ru"  # switched, and kept over the restart
    en_answers, ru_answers = stored_answers(db_url, 557001), stored_answers(db_url, 557002)
    assert en_answers.keys() == ru_answers.keys() and len(en_answers) == 14
    assert en_answers["q12_company_size"]["number"] == ru_answers["q12_company_size"]["number"] == 25
    assert response_row(db_url, 557001)["status"] == response_row(db_url, 557002)["status"] == "completed"
    assert "Started: 3" in summary.content and "Completed: 2" in summary.content
    assert "Как устроен аккаунтинг" in summary.content  # labels in the questionnaire's default language
    assert re.search(r"Completion rate: \d+\.\d%", summary.content)  # an English admin reads 66.7%
    assert "Traceback" not in bot.output()



# Admins: their own language for the bot's words, the questionnaire's default language for its labels ---------------


def _as(user: SimUser, language: str | None) -> SimUser:
    user.user["language_code"] = language
    return user


async def _walk_three(make_user) -> None:
    """Two completed responses (first answers differ) and one begun."""
    for uid, first, finish in ((3501, "Аккаунт-менеджеры", True), (3502, "Руководитель компании", True),
                               (3503, "Аккаунт-менеджеры", False)):
        u = make_user(uid)
        await u.begin()
        await u.press(first)
        if finish:
            await u.press("1. ")
            await u.press("5. ")
            await u.press("Готово")
            await u.press("Пропустить")
            for _ in range(11):
                await u.answer_current("40")


async def test_admin_reads_stats_in_the_telegram_language(make_user, bot):
    _, request = bot
    await _walk_three(make_user)
    admin = make_user(ADMIN_ID)
    await _as(admin, "en").send("/stats")
    english = "\n".join(m.text for m in admin.messages())
    assert "Started: 3" in english and "Completed: 2" in english and "Completion rate: 66.7%" in english
    assert "Аккаунт-менеджеры" in english  # the questionnaire's labels stay in its default language
    assert "(66.7%)" in english or "(33.3%)" in english  # shares with a decimal point
    assert [b["text"] for row in admin.last().keyboard for b in row][:2] == ["📊 Charts", "🔻 Funnel"]
    await admin.send("/stats where nope=1")
    assert admin.last().text.startswith("The filter is not applied: there is no question «nope»")
    before = len(admin.messages())
    await _as(admin, "ru").send("/stats")
    russian = "\n".join(m.text for m in admin.messages()[before:])
    assert "Начали: 3" in russian and "Доля завершивших: 66,7%" in russian
    await _as(admin, "de").send("/survey")  # a language the bot has no catalog of: English
    assert "Survey «" in admin.last().text and "State:" in admin.last().text


async def test_admin_language_setting_overrides_telegram(db_url):
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                        flood_messages=10_000, admin_language="ru")
    async with running_app(settings) as (app, request):
        admin = _as(SimUser(app, request, ADMIN_ID, "Admin"), "en")
        await admin.send("/stats funnel")
        text = "\n".join(m.text for m in admin.messages())
        assert "Воронка" in text and "Funnel" not in text



async def test_exports_carry_each_response_language(make_user, bot):
    """One respondent in English, one in Russian, one stored before languages existed (NULL): the CSV's language
    column says en / ru / the default; the codebook names the column in the questionnaire's default language."""
    app, request = bot
    english = _as(make_user(3601), "en")
    await english.send("/start")
    await english.press("Start")
    await english.press_data(english.keyboard_message().message_id,
                             next(b["callback_data"] for b in english.keyboard_message().buttons() if ":o:" in b["callback_data"]))
    russian = make_user(3602)
    await russian.begin()
    await russian.answer_current()
    old = make_user(3603)
    await old.begin()
    await old.answer_current()
    async with app.bot_data.engine.begin() as conn:  # a row stored before the migration added the column
        await conn.execute(text("UPDATE respondents SET language = NULL WHERE user_key = '3603'"))
    admin = make_user(ADMIN_ID)
    await admin.send("/export csv")
    docs = [p for name, p in request.calls if name == "sendDocument" and int(p["chat_id"]) == ADMIN_ID]
    files = dict(f for d in docs for f in d["_files"].values())
    data = next(content for name, content in files.items() if not name.endswith(".codebook.csv"))
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str)
    assert dict(zip(frame["respondent"], frame["language"])) == {"3601": "en", "3602": "ru", "3603": "ru"}
    codebook = next(content for name, content in files.items() if name.endswith(".codebook.csv"))
    assert "Язык, на котором пройден опрос" in codebook.decode("utf-8-sig")


def test_language_buttons_parse_strictly():
    assert callbacks.parse(callbacks.language("en")) == callbacks.LanguageButton("en")
    assert callbacks.parse(callbacks.language("zh-hant-tw")) == callbacks.LanguageButton("zh-hant-tw")
    assert callbacks.parse("l:EN") is None and callbacks.parse("l:") is None and callbacks.parse("l:en;drop") is None


async def test_a_forged_language_is_refused_and_nothing_changes(make_user, bot, db_url):
    """The bundled study is in ru and en: a button for another language (forged or from an older questionnaire)
    gets the stale toast, and the stored language stays."""
    u = make_user(3701)
    await u.begin()
    await u.send("/language")
    menu = u.last()
    assert [b["text"] for b in menu.buttons()] == ["✅ Русский", "English"]
    await u.press_data(menu.message_id, "l:de")
    assert u.last_toast() == RU(screens.STALE_TOAST)
    assert respondent_row(db_url, 3701)["language"] == "ru"
    await u.press("English", message=menu)
    assert respondent_row(db_url, 3701)["language"] == "en"
    assert "Question 1 of 14" in u.last().text  # the question under way, redrawn in English
