"""Privacy: /my_data, /forget_me, and ANONYMOUS=true keeping no Telegram identity (issue 4, point 8)."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from bot.respondent.privacy import FORGET_CANCELLED, FORGOTTEN
from bot.settings import Settings
from survey.i18n import translator
from tests.conftest import TEST_TOKEN
from tests.dbcheck import all_cells, count, respondent_row, response_row, stored_answers, stored_choices
from tests.harness import running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

KEY = "anonymity-key-for-tests-0123456789"


async def answer_some(u) -> None:
    await u.begin()
    await u.press("Прочее")
    await u.send("Свой вариант ответа")
    await u.press("Коммуникации с")  # q02's order is random: by label
    await u.press("Готово")
    await u.press("4. ")


async def test_forget_me_with_confirmation_deletes_everything_and_allows_a_fresh_start(make_user, db_url):
    keep, leave = make_user(2001), make_user(2002)
    for u in (keep, leave):
        await answer_some(u)
    tables = ("respondents", "responses", "answers", "answer_choices")
    before = {t: count(db_url, t) for t in tables}

    await leave.send("/my_data")
    assert "Свой вариант ответа" in leave.last().text and "Руководитель" not in leave.last().text
    await leave.send("/forget_me")
    await leave.press("Отмена")
    assert leave.last().text == RU(FORGET_CANCELLED)
    assert {t: count(db_url, t) for t in tables} == before

    await leave.send("/forget_me")
    await leave.press("Да, удалить")
    assert leave.last().text == RU(FORGOTTEN) and leave.last().keyboard is None
    assert response_row(db_url, 2002) is None and stored_answers(db_url, 2002) == {}
    assert respondent_row(db_url, 2002) is None
    assert {t: count(db_url, t) for t in tables} == {
        "respondents": 1, "responses": 1, "answers": 3, "answer_choices": 3}  # only the other respondent's rows
    assert stored_choices(db_url, 2001)["q03_org_structure"] == ["account_director"]

    await leave.send("/my_data")
    assert leave.last().text == f"О вас ничего не сохранено.\nВаш числовой Telegram id: <code>{leave.id}</code>"
    # a respondent who forgot can take the survey again, from the beginning
    await leave.begin()
    assert "Вопрос 1 из 14" in leave.last().text
    await leave.press("Руководитель компании")
    assert stored_choices(db_url, 2002) == {"q01_who_does_accounting": ["ceo"]}


PEOPLE = [(7364519208, "Варвара", "varvara_secret_handle"), (6029384751, "Zebulon", "zebulon_q_private"),
          (5192837460, "Ёжик", "hedgehog_in_fog_88")]
FORBIDDEN = {str(uid) for uid, _, _ in PEOPLE} | {n for _, n, _ in PEOPLE} | {u for _, _, u in PEOPLE}


async def complete_anonymously(db_url: str) -> None:
    """The three PEOPLE, with names and usernames, take the survey with ANONYMOUS=true."""
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, anonymous=True, anonymity_key=KEY)
    async with running_app(settings) as (app, request):
        for uid, name, username in PEOPLE:
            u = SimUser(app, request, uid, name)
            u.user["username"] = username
            u.user["last_name"] = name + "ов"
            await u.send("/start campaign_a")
            await u.press("Начать")
            for _ in range(11):
                await u.press("Пропустить")
            await u.send("25")
            await u.press("Москва")
            await u.press("Аккаунт-менеджер")
            assert "Спасибо за участие" in u.last().text
            await u.send("/my_data")
            assert "Telegram id не хранится" in u.last().text
        await app.bot_data.engine.dispose()  # SQLite: checkpoint nothing pending, everything is in the files now


async def test_anonymous_mode_stores_no_telegram_identity(db_url):
    await complete_anonymously(db_url)
    cells = all_cells(db_url)  # every column of every table, read through SQL on either database
    assert len(cells) > 100
    leaks = [(t, c, v) for t, c, v in cells for word in FORBIDDEN if word.lower() in str(v).lower()]
    assert not leaks, leaks[:5]
    # the stored key is a keyed hash: not the plain id, and not a plain (unkeyed) hash of it
    keys = sorted(v for t, c, v in cells if (t, c) == ("respondents", "user_key"))
    expected = sorted(hmac.new(KEY.encode(), str(uid).encode(), hashlib.sha256).hexdigest() for uid, _, _ in PEOPLE)
    assert keys == expected
    assert not set(keys) & {hashlib.sha256(str(uid).encode()).hexdigest() for uid, _, _ in PEOPLE}
    assert count(db_url, "responses") == 3 and count(db_url, "answers") == 3 * 14


async def test_anonymous_mode_leaves_no_identity_in_the_sqlite_files(tmp_path: Path):
    # SQLite only: the database is a file (and its WAL) whose raw bytes, free pages included, can be read here;
    # PostgreSQL's files belong to its server. The tables themselves are checked on both databases above.
    db = tmp_path / "anon.db"
    await complete_anonymously(f"sqlite+aiosqlite:///{db}")
    files = list(tmp_path.glob("anon.db*"))
    assert files
    for f in files:
        raw = f.read_bytes()
        for word in FORBIDDEN:
            assert word.encode() not in raw, (f.name, word)


async def test_anonymous_forget_me_finds_the_hashed_respondent(db_url):
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, anonymous=True, anonymity_key=KEY)
    async with running_app(settings) as (app, request):
        u = SimUser(app, request, 7364519208, "Варвара")
        await answer_some(u)
        await u.send("/forget_me")
        await u.press("Да, удалить")
        assert u.last().text == RU(FORGOTTEN)
    assert count(db_url, "respondents") == 0 and count(db_url, "answers") == 0


async def test_forgotten_answers_are_not_left_in_the_database_file(tmp_path: Path):
    # SQLite only: PRAGMA secure_delete and the bytes of the database file are SQLite's own.
    db = tmp_path / "sd.db"
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=f"sqlite+aiosqlite:///{db}")
    async with running_app(settings) as (app, request):
        async with app.bot_data.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar() == 1
        u = SimUser(app, request, 5551)
        await u.begin()
        await u.press("Прочее")
        await u.send("Особый-маркер-ответа-5551")
        await u.send("/forget_me")
        await u.press("Да, удалить")
        await app.bot_data.engine.dispose()  # the last connection checkpoints the WAL into the file
    for f in tmp_path.glob("sd.db*"):
        assert "Особый-маркер-ответа-5551".encode() not in f.read_bytes(), f.name
