"""The whole bot in-process: what a respondent sees and what ends up in the database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re

import pytest

from bot.respondent import screens
from survey.i18n import translator
from tests.dbcheck import count, respondent_row, response_row, stored_answers, stored_choices

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them


async def test_full_walk_every_reply_type(make_user, db_url):
    u = make_user(1001)
    await u.send("/start")
    assert "Как устроен аккаунтинг" in u.last().text
    await u.press("Начать")
    q1 = u.last()
    assert q1.text.startswith("<b>Вопрос 1 из 14</b>")
    # q01 is shown in a random order per respondent (randomize: true), «other» last
    assert sorted(b["text"] for b in q1.buttons()[:4]) == sorted([
        "Аккаунт-менеджеры", "Руководитель компании", "Непосредственные исполнители", "Руководитель отдела / группы",
    ]) and q1.buttons()[4]["text"] == "Прочее (укажите)"
    assert "← Назад" not in [b["text"] for b in q1.buttons()]  # nothing before question 1

    # q01: "other" asks for text, the typed text is the answer
    await u.press("Прочее (укажите)")
    assert "Напишите свой вариант" in u.request.messages[u.id][q1.message_id].text
    await u.send("Руководитель + помощница")
    q2 = u.last()
    assert "Вопрос 2 из 14" in q2.text and re.search(r"\n\d+\. Коммуникации с клиентами", q2.text)

    # q02: toggles mark chosen options with ✅, other asks for its text at once (its order is random: by label)
    await u.press("Коммуникации с")
    await u.press("Допродажи")
    await u.press("Консультирование")
    assert u.last().button("Консультирование")["text"].startswith("✅ ")
    await u.press(lambda b: b["text"].startswith("✅ ") and "Консультирование" in b["text"])  # untoggle
    assert not u.last().button("Консультирование")["text"].startswith("✅ ")
    await u.press("Другое (укажите)")
    await u.send("Веб-дизайн")
    redrawn = u.keyboard_message()
    assert redrawn.button("Другое")["text"].startswith("✅ ") and "Веб-дизайн" in redrawn.text
    await u.press("Готово")
    assert "Вопрос 3 из 14" in u.last().text

    # q03: long options are listed in full and abbreviated on the buttons
    q3 = u.last()
    assert "4. Есть аккаунт-директор (руководитель аккаунт-отдела) и аккаунт-менеджеры" in q3.text
    assert all(len(b["text"]) <= 41 for b in q3.buttons())
    await u.press("4. ")
    await u.press("Пропустить")  # q04
    assert "Вопрос 5 из 14" in u.last().text and "1 — Очень плохо" in u.last().text
    await u.press("7")  # q05 scale
    await u.press("9")  # q06
    await u.press("← Назад")  # q07 -> back to q06
    assert "Вопрос 6 из 14" in u.last().text
    assert u.last().button("9")["text"] == "✅ 9"
    await u.press("← Назад")  # -> q05 with its answer marked
    assert "Вопрос 5 из 14" in u.last().text and u.last().button("7")["text"] == "✅ 7"
    await u.press("8")  # change q05
    await u.press("Оставить ответ")  # keep q06 = 9
    assert "Вопрос 7 из 14" in u.last().text
    await u.press("1. ")
    await u.press("Готово")
    await u.press("Готово")  # q08: nothing chosen yet
    assert "хотя бы 1" in u.last_toast()
    assert "Вопрос 8 из 14" in u.last().text
    await u.press("Ничего специально")
    await u.press("Готово")
    await u.press("1. ")  # q09
    await u.press("В течение часа")  # q10
    await u.press("Веб-студия")  # q11
    assert "Вопрос 12 из 14" in u.last().text and "от 1 до 100" in u.last().text
    await u.send("много")
    assert "не похоже на целое число" in u.messages()[-2].text and "Вопрос 12 из 14" in u.last().text
    await u.send("0")
    assert "от 1 до 100" in u.messages()[-2].text
    await u.send("1 500")
    await u.press("Другая страна (укажите)")  # q13
    await u.send("Казахстан")
    await u.press("Аккаунт-менеджер")  # q14
    final = u.last().text
    assert "Спасибо за участие" in final and "Казахстан" in final and "1\u00a0500" in final

    answers = stored_answers(db_url, 1001)
    choices = stored_choices(db_url, 1001)
    assert len(answers) == 14
    assert answers["q01_who_does_accounting"]["other_text"] == "Руководитель + помощница"
    assert choices["q01_who_does_accounting"] == ["other"]
    assert choices["q02_am_functions"] == ["client_communication", "upsell", "other"]
    assert answers["q02_am_functions"]["other_text"] == "Веб-дизайн"
    assert choices["q03_org_structure"] == ["account_director"]
    assert answers["q04_subcontractors"]["skipped"] == 1
    assert answers["q05_subcontractor_rating"]["number"] == 8
    assert answers["q06_am_knowledge"]["number"] == 9
    assert choices["q08_loyalty_retention"] == ["nothing"]
    assert answers["q12_company_size"]["number"] == 1500
    assert answers["q13_region"]["other_text"] == "Казахстан"
    assert response_row(db_url, 1001)["status"] == "completed"

    # after completion: one response per respondent
    await u.send("/start")
    assert u.last().text == RU(screens.COMPLETED_TEXT)


async def test_answer_committed_before_next_question(make_user, db_url):
    u = make_user(1002)
    await u.begin()
    await u.press("Руководитель компании")
    assert "Вопрос 2" in u.last().text
    assert stored_choices(db_url, 1002) == {"q01_who_does_accounting": ["ceo"]}


async def test_a_tap_costs_one_message_call_and_states_the_answer_at_the_top(make_user):
    u = make_user(1003)
    await u.begin()
    q1 = u.last()
    before = len(u.request.calls)
    await u.press("Руководитель компании")
    calls = [name for name, _ in u.request.calls[before:]]
    assert calls == ["answerCallbackQuery", "editMessageText"]  # one rate-limited call per answer
    now = u.request.messages[u.id][q1.message_id]  # the tapped message became the next question
    assert now.text.startswith("✅ <i>1. Кто выполняет функции аккаунтинга — Руководитель компании</i>\n\n")
    assert "Вопрос 2 из 14" in now.text and now.button("Готово")
    assert u.last() is now  # no second message
    # a typed answer: one new message, with the answer on top as well
    await u.press("Пропустить")
    await u.press("Пропустить")
    await u.press("Пропустить")
    assert "⏭ <i>4. " in u.last().text
    for _ in range(7):
        await u.press("Пропустить")
    assert "Вопрос 12 из 14" in u.last().text
    before = len(u.request.calls)
    await u.send("25")
    assert [name for name, _ in u.request.calls[before:]] == ["sendMessage"]
    assert u.last().text.startswith("✅ <i>12. ") and "— 25</i>" in u.last().text and "Вопрос 13 из 14" in u.last().text


async def test_a_stale_keyboard_after_a_typed_answer_is_harmless(make_user, db_url):
    u = make_user(1006)
    await u.begin()
    asked = u.last()
    await u.press("Прочее")
    await u.send("Менеджер проекта")
    old = u.request.messages[u.id][asked.message_id]  # still shows the "type your variant" keyboard
    assert old is not u.last() and old.keyboard
    await u.press_data(old.message_id, old.button("Пропустить")["callback_data"])
    assert u.last_toast() == RU(screens.STALE_TOAST)
    assert stored_answers(db_url, 1006)["q01_who_does_accounting"]["other_text"] == "Менеджер проекта"
    assert "Вопрос 2 из 14" in u.last().text


async def test_resume_menu_continue_and_restart(make_user, db_url):
    u = make_user(1004)
    await u.begin()
    await u.press("Руководитель компании")
    await u.send("/start")
    assert "отвечено 1 из 14" in u.last().text
    await u.press("Продолжить")
    assert "Вопрос 2 из 14" in u.last().text
    await u.send("/start")
    await u.press("Начать заново")
    assert "Вопрос 1 из 14" in u.last().text
    assert stored_answers(db_url, 1004) == {}


async def test_back_then_change_replaces_answer_and_clears_other(make_user, db_url):
    u = make_user(1005)
    await u.begin()
    await u.press("Прочее")
    await u.send("Менеджер проекта")
    await u.press("← Назад")
    assert "Ваш вариант: <i>Менеджер проекта</i>" in u.last().text
    await u.press("Руководитель компании")
    answers = stored_answers(db_url, 1005)
    assert answers["q01_who_does_accounting"]["other_text"] is None
    assert stored_choices(db_url, 1005)["q01_who_does_accounting"] == ["ceo"]
    assert count(db_url, "answers") == 1


async def test_stale_double_and_forged_buttons_change_nothing(make_user, db_url):
    u = make_user(1006)
    await u.begin()
    q1 = u.last()
    await u.press("Руководитель компании", message=q1)
    before = (stored_answers(db_url, 1006), response_row(db_url, 1006)["version"])
    # a second tap on the same (now old) keyboard
    await u.press_data(q1.message_id, q1.button("Аккаунт-менеджеры")["callback_data"])
    assert u.last_toast() == RU(screens.STALE_TOAST)
    # forged data of every shape
    for data in ["a:999:o:ceo", "a:1:o:../../etc", "x" * 64, "a:2:o:" + "z" * 40, "", "m:1:drop", "a:-1:s", "a:2:t:ceo"]:
        await u.press_data(u.last().message_id, data)
        assert u.last_toast() == RU(screens.STALE_TOAST), data
    after = (stored_answers(db_url, 1006), response_row(db_url, 1006)["version"])
    assert before == after
    assert "Вопрос 2" in u.last().text


async def test_only_newest_keyboard_of_a_question_works(make_user, db_url):
    u = make_user(1007)
    await u.begin()
    old = u.last()
    await u.send("привет")  # text where a button is expected: reminder + the question again
    assert RU(screens.NEED_BUTTON) in u.messages()[-2].text
    new = u.last()
    assert new.message_id != old.message_id and "Вопрос 1 из 14" in new.text
    await u.press("Руководитель компании", message=old)
    assert u.last_toast() == RU(screens.STALE_TOAST)
    assert stored_answers(db_url, 1007) == {}
    await u.press("Руководитель компании", message=new)
    assert stored_choices(db_url, 1007) == {"q01_who_does_accounting": ["ceo"]}


@pytest.mark.parametrize("kind", ["sticker", "photo", "voice", "document"])
async def test_non_text_messages_reprompt(make_user, db_url, kind):
    u = make_user(1010)
    await u.begin()
    await getattr(u, kind)()
    assert "понимаю только текст" in u.messages()[-2].text
    assert "Вопрос 1 из 14" in u.last().text
    assert stored_answers(db_url, 1010) == {}


async def test_non_text_where_number_expected(make_user, db_url):
    u = make_user(1011)
    await u.begin()
    for _ in range(11):
        await u.press("Пропустить")
    assert "Вопрос 12" in u.last().text
    await u.sticker()
    assert "Вопрос 12" in u.last().text
    assert stored_answers(db_url, 1011)["q11_company_type"]["skipped"] == 1
    assert "q12_company_size" not in stored_answers(db_url, 1011)


async def test_huge_text_rejected(make_user, db_url):
    u = make_user(1012)
    await u.begin()
    await u.press("Прочее")
    await u.send("я" * 5000)
    assert "Слишком длинный" in u.messages()[-2].text
    assert stored_answers(db_url, 1012) == {}
    await u.send("коротко")
    assert stored_answers(db_url, 1012)["q01_who_does_accounting"]["other_text"] == "коротко"


async def test_edited_message_changes_nothing(make_user, db_url):
    u = make_user(1013)
    await u.begin()
    await u.press("Прочее")
    await u.send("первый вариант")
    await u.edit(10_000, "исправленный")
    assert u.last().text == RU(screens.EDITED)
    assert stored_answers(db_url, 1013)["q01_who_does_accounting"]["other_text"] == "первый вариант"


async def test_unknown_command_and_help(make_user, bot):
    u = make_user(1014)
    await u.send("/foo")
    assert u.last().text == RU(screens.UNKNOWN_COMMAND)
    await u.send("/stats")  # not an admin: same answer as any unknown command
    assert u.last().text == RU(screens.UNKNOWN_COMMAND)
    await u.send("/help")
    assert "/start" in u.last().text and "/forget_me" in u.last().text
    _, request = bot
    assert any(name == "setMyCommands" for name, _ in request.calls)


async def test_text_before_start_points_to_start(make_user, db_url):
    u = make_user(1015)
    await u.send("здравствуйте")
    assert "Начать" in u.last().button("Начать")["text"]
    assert count(db_url, "answers") == 0


async def test_first_question_back_and_multiple_limits(make_user):
    u = make_user(1016)
    await u.begin()
    await u.press("Пропустить")
    await u.press("← Назад")
    assert "Вопрос 1 из 14" in u.last().text and "Сейчас вопрос пропущен" in u.last().text


async def test_redelivered_update_is_applied_once(make_user, db_url):
    u = make_user(1017)
    await u.begin()
    q1 = u.last()
    await u.press("Руководитель компании", message=q1)
    raw = u.last_update
    n_messages = len(u.messages())
    await u.feed(raw)  # the same update_id again
    assert len(u.messages()) == n_messages
    assert count(db_url, "answers") == 1


async def test_blocked_user_is_marked(make_user, bot, db_url):
    _, request = bot
    u = make_user(1018)
    await u.begin()
    request.fail_chats[1018] = (403, "Forbidden: bot was blocked by the user")
    await u.press("Руководитель компании")
    assert response_row(db_url, 1018)["status"] == "in_progress"
    assert respondent_row(db_url, 1018)["blocked_at"] is not None
    # the answer itself was committed before the send failed
    assert stored_choices(db_url, 1018) == {"q01_who_does_accounting": ["ceo"]}


async def test_group_chat_told_once(make_user, bot):
    app, request = bot
    u = make_user(1019)
    u.chat = {"id": -100500, "type": "group", "title": "g"}
    await u.send("/start")
    await u.send("hello")
    sent = [p for name, p in request.calls if name == "sendMessage" and int(p["chat_id"]) == -100500]
    assert len(sent) == 1 and "личных сообщениях" in sent[0]["text"]


def test_conditions_combined_with_any_all_not_and_selected_counts():
    from survey.flow import Answer, condition_holds
    from survey.model import Condition

    yes, no = Answer(option_ids=("yes",)), Answer(option_ids=("no",))
    two = Answer(option_ids=("a", "b"))
    skipped = Answer(skipped=True)
    either = Condition.model_validate({"any": [{"question": "p", "any_of": ["yes"]}, {"question": "n", "min": 18}]})
    assert condition_holds(either, {"p": yes}) and condition_holds(either, {"p": no, "n": Answer(number=20)})
    assert not condition_holds(either, {"p": no, "n": Answer(number=10)}) and not condition_holds(either, {})
    both = Condition.model_validate({"all": [{"question": "p", "any_of": ["yes"]}, {"question": "n", "max": 5}]})
    assert condition_holds(both, {"p": yes, "n": Answer(number=5)}) and not condition_holds(both, {"p": yes})
    negated = Condition.model_validate({"not": {"question": "p", "any_of": ["yes"]}})
    assert condition_holds(negated, {"p": no}) and condition_holds(negated, {}) and not condition_holds(negated, {"p": yes})
    at_least_two = Condition(question="m", selected_min=2)
    assert condition_holds(at_least_two, {"m": two}) and not condition_holds(at_least_two, {"m": yes})
    at_most_one = Condition(question="m", selected_max=1)
    assert condition_holds(at_most_one, {"m": skipped}) and condition_holds(at_most_one, {}) and not condition_holds(at_most_one, {"m": two})
    # The stored form reads back: `not` is written under its own name.
    assert Condition.model_validate(negated.model_dump(by_alias=True)) == negated
    assert Condition.model_validate(negated.model_dump()) == negated
    for bad in ({"question": "p"}, {"any": []}, {"any": [{"question": "p", "answered": True}], "question": "p"},
                {"not": {"question": "p", "answered": True}, "all": [{"question": "p", "answered": True}]}):
        with pytest.raises(ValueError, match="show_if"):
            Condition.model_validate(bad)


def test_combined_conditions_are_cross_checked_with_their_lines():
    from survey.loader import SurveyError, parse_survey

    raw = {"survey": {"id": "s", "title": "T"}, "questions": [
        {"id": "p", "type": "single_choice", "text": "P", "options": [{"id": "yes", "text": "Да"}]},
        {"id": "n", "type": "number", "text": "N"},
        {"id": "q", "type": "text", "text": "Q", "show_if": {"any": [{"question": "p", "any_of": ["ys"]},
                                                                     {"not": {"question": "later", "answered": True}},
                                                                     {"question": "n", "selected_min": 2}]}},
        {"id": "later", "type": "text", "text": "L"},
    ]}
    with pytest.raises(SurveyError) as info:
        parse_survey(raw)
    assert info.value.problems == [
        "question q: show_if.any_of: 'ys' is not an option of p; did you mean 'yes'?",
        "question q: show_if.question: 'later' is not an earlier question",
        "question q: show_if.selected_min: question n is not a choice question",
    ]
