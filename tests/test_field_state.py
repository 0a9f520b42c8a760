"""Opening, closing and the quota: dates from the questionnaire, /open and /close, CLOSE_GRACE, and a quota that
closes the survey at exactly N completed responses even when many finish at once on two workers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.admin import field
from bot.respondent import screens
from bot.settings import Settings
from survey.field import MANUAL_CLOSED, MANUAL_OPEN, FieldState, Phase, Why, availability
from survey.i18n import translator
from survey.model import SurveyMeta
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import fetch, response_row
from tests.harness import running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def meta(**kw) -> SurveyMeta:
    return SurveyMeta(id="f", title="Поле", **kw)


def test_availability_dates_switch_quota_and_grace():
    grace = timedelta(hours=24)
    assert availability(meta(), FieldState(), NOW, grace, MSK).phase == Phase.OPEN
    # A date without a zone is read in TIMEZONE: 16:00 in Moscow is 13:00 UTC, after NOW.
    later = availability(meta(opens_at=datetime(2026, 12, 2, 16, 0)), FieldState(), NOW, grace, MSK)
    assert (later.phase, later.opens_at) == (Phase.NOT_OPEN, datetime(2026, 12, 2, 13, 0, tzinfo=UTC))
    assert availability(meta(opens_at=datetime(2026, 12, 2, 14, 0)), FieldState(), NOW, grace, MSK).phase == Phase.OPEN
    closed = availability(meta(closes_at=NOW - timedelta(hours=2)), FieldState(), NOW, grace, MSK)
    assert (closed.phase, closed.why, closed.may_continue(NOW)) == (Phase.CLOSED, Why.DATES, True)
    assert not closed.may_continue(NOW + DAY)
    # The admin's switch wins over the dates; a reached quota closes without grace.
    assert availability(meta(closes_at=NOW - DAY), FieldState(manual=MANUAL_OPEN), NOW, grace, MSK).phase == Phase.OPEN
    by_hand = availability(meta(), FieldState(manual=MANUAL_CLOSED, changed_at=NOW), NOW, grace, MSK)
    assert (by_hand.phase, by_hand.grace_until) == (Phase.CLOSED, NOW + grace)
    quota = availability(meta(quota=5), FieldState(quota_reached_at=NOW), NOW, grace, MSK)
    assert (quota.phase, quota.why, quota.may_continue(NOW)) == (Phase.CLOSED, Why.QUOTA, False)
    with pytest.raises(ValueError):
        meta(opens_at=NOW, closes_at=NOW - DAY)


def one_question(tmp_path: Path, name: str, **header) -> Path:
    raw = {"survey": {"id": "field", "title": "Полевой опрос", **header},
           "questions": [{"id": "f_role", "type": "single_choice", "text": "Кто вы?",
                          "options": [{"id": "dev", "text": "Разработчик"}, {"id": "pm", "text": "Менеджер"}]},
                         {"id": "f_size", "type": "number", "text": "Сколько вас?"}]}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def field_settings(db_url: str, survey_file: Path, **kw) -> Settings:
    return Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                    survey_file=survey_file, flood_messages=10_000, **kw)


async def test_not_yet_open_then_opened_by_admin(db_url, tmp_path):
    path = one_question(tmp_path, "s.yaml", opens_at="2099-03-01 10:00")
    async with running_app(field_settings(db_url, path)) as (app, request):
        u = SimUser(app, request, 8001)
        await u.send("/start")
        assert "ещё не начался: он откроется 01.03.2099 10:00 (Europe/Moscow)" in u.last().text
        assert u.last().keyboard is None
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/survey")
        assert "Состояние: <b>ещё не открыт</b>" in admin.last().text
        for typo in ("/open atuo", "/open now please"):  # explained; the dates still decide
            await admin.send(typo)
            assert admin.last().text == RU(field.OPEN_USAGE)
        await u.send("/start")
        assert "ещё не начался" in u.last().text
        await admin.send("/open")
        assert "Опрос открыт вручную" in admin.last().text
        await admin.send("/close now")  # explained; still open by hand
        assert admin.last().text == RU(field.CLOSE_USAGE)
        assert fetch(db_url, "SELECT manual FROM survey_state WHERE survey_id = 'field'")[0]["manual"] == "open"
        await u.begin()
        assert "Кто вы?" in u.last().text
        await admin.send("/open auto")
        assert "ещё не открыт" in admin.last().text
        # The one already in progress is not turned away by the dates (only a closing has a grace period).
        await u.press("Менеджер")
        assert "Сколько вас?" in u.last().text


async def test_closed_by_date_grace_for_those_in_progress(db_url, tmp_path):
    path = one_question(tmp_path, "s.yaml")
    async with running_app(field_settings(db_url, path)) as (app, request):
        early = SimUser(app, request, 8101)
        await early.begin()
    closing = one_question(tmp_path, "closed.yaml", closes_at=(datetime.now(UTC) - timedelta(minutes=5)).isoformat())
    async with running_app(field_settings(db_url, closing, accept_changes=True)) as (app, request):
        early, late = SimUser(app, request, 8101), SimUser(app, request, 8102)
        await late.send("/start")
        assert "Опрос «Полевой опрос» закрыт" in late.last().text and late.last().keyboard is None
        await early.send("/start")
        assert "вы можете закончить свои ответы до" in early.messages()[-2].text
        await early.press("Продолжить")
        await early.press("Разработчик")
        await early.send("3")
        assert "Спасибо" in early.last().text
    assert response_row(db_url, 8101)["status"] == "completed"
    assert response_row(db_url, 8102) is None
    # Without a grace period the respondent in progress is told politely, and nothing is stored.
    async with running_app(field_settings(db_url, path)) as (app, request):
        third = SimUser(app, request, 8103)
        await third.begin()
    async with running_app(field_settings(db_url, closing, close_grace="0s")) as (app, request):
        third = SimUser(app, request, 8103)
        await third.press_data(1, "a:1:o:dev")  # the keyboard «Начать» brought (version 1), tapped in Telegram
        assert third.last_toast() == RU(screens.CLOSED_TOAST)
        assert "закрыт" in third.last().text and "Ваши ответы сохранены" in third.last().text
    assert fetch(db_url, "SELECT count(*) AS n FROM answers a JOIN responses r ON r.id = a.response_id "
                         "JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = '8103'")[0]["n"] == 0


async def test_close_and_survey_by_admin_only(db_url, tmp_path):
    path = one_question(tmp_path, "s.yaml", quota=3)
    async with running_app(field_settings(db_url, path, close_grace="2h")) as (app, request):
        stranger = SimUser(app, request, 8201)
        for command in ("/survey", "/open", "/close", "/open auto"):
            await stranger.send(command)
            assert stranger.last().text == RU(screens.UNKNOWN_COMMAND)
        await stranger.begin()
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/survey")
        assert "Квота: 0 из 3 завершённых (0,0%)" in admin.last().text
        hesitant = SimUser(app, request, 8203)
        await hesitant.send("/start")  # saw the intro while it was open
        await admin.send("/close")
        await hesitant.press("Начать")
        assert "закрыт" in hesitant.last().text and "сохранены" not in hesitant.last().text
        assert "Опрос закрыт" in admin.last().text and "начатые анкеты можно закончить до" in admin.last().text
        newcomer = SimUser(app, request, 8202)
        await newcomer.send("/start")
        assert "закрыт" in newcomer.last().text
        await stranger.press("Разработчик")  # in progress: within the two hours of grace
        await stranger.send("2")
        assert "Спасибо" in stranger.last().text
        await admin.send("/survey")
        assert "Квота: 1 из 3 завершённых (33,3%)" in admin.last().text and "закрыт</b> (вручную)" in admin.last().text
    assert fetch(db_url, "SELECT manual FROM survey_state WHERE survey_id = 'field'")[0]["manual"] == "closed"


async def _ready(app, request, ids: range) -> list[SimUser]:
    users = [SimUser(app, request, i) for i in ids]
    for u in users:
        await u.begin()
        await u.press("Разработчик")
    return users


QUOTA = 5


@pytest.mark.parametrize("workers", [1, 2])
async def test_quota_closes_at_exactly_n_with_concurrent_finishers(db_url, tmp_path, workers):
    # Two bot instances on one database, each with its own writer and lock: on PostgreSQL the state row's
    # FOR UPDATE orders them, on SQLite the file's write lock (BEGIN IMMEDIATE) does.
    path = one_question(tmp_path, "s.yaml", quota=QUOTA)
    async with running_app(field_settings(db_url, path)) as (app_a, req_a), \
            running_app(field_settings(db_url, path)) as (app_b, req_b):
        apps = [(app_a, req_a), (app_b, req_b)][:workers]
        users = []
        for w, (app, request) in enumerate(apps):
            users += await _ready(app, request, range(9000 + 100 * w, 9000 + 100 * w + 12 // workers))
        # Everyone answers the last question at the same moment.
        await asyncio.gather(*(u.send("4") for u in users))
        told = [u for u in users if "собрали нужное число ответов" in u.last().text]
        thanked = [u for u in users if "Спасибо!" in u.last().text and u not in told]
        late = SimUser(app_a, req_a, 9999)
        await late.send("/start")
        assert "собрали нужное число ответов" in late.last().text
    completed = fetch(db_url, "SELECT count(*) AS n FROM responses WHERE status = 'completed'")[0]["n"]
    assert completed == QUOTA
    assert (len(thanked), len(told)) == (QUOTA, len(users) - QUOTA)
    state = fetch(db_url, "SELECT quota_reached_at FROM survey_state WHERE survey_id = 'field'")[0]
    assert state["quota_reached_at"] is not None


async def test_quota_mark_follows_completions_open_auto_and_the_file(db_url, tmp_path):
    full = "собрали нужное число ответов"
    async with running_app(field_settings(db_url, one_question(tmp_path, "one.yaml", quota=1))) as (app, request):
        first = SimUser(app, request, 8401)
        await first.begin()
        await first.press("Разработчик")
        await first.send("3")
        assert "Спасибо" in first.last().text
        second = SimUser(app, request, 8402)
        await second.send("/start")
        assert full in second.last().text
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/open")  # by hand: the quota does not apply
        await second.begin()
        await second.press("Менеджер")
        await second.send("2")
        assert "Спасибо" in second.last().text
        await admin.send("/open auto")  # back to the quota: 2 completed of 1, closed at once
        assert "закрыт</b> (по квоте)" in admin.last().text and "Квота: 2 из 1" in admin.last().text
        third = SimUser(app, request, 8403)
        await third.send("/start")
        assert full in third.last().text
    # The quota raised in the file: the next start reopens the survey.
    async with running_app(field_settings(db_url, one_question(tmp_path, "three.yaml", quota=3))) as (app, request):
        third = SimUser(app, request, 8403)
        await third.begin()
        assert "Кто вы?" in third.last().text
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/survey")
        assert "Состояние: <b>открыт</b>" in admin.last().text and "Квота: 2 из 3" in admin.last().text
    # Lowered to what is already completed: closed at the start, and the one in progress is told (no grace).
    async with running_app(field_settings(db_url, one_question(tmp_path, "two.yaml", quota=2))) as (app, request):
        third = SimUser(app, request, 8403)
        await third.send("/start")
        assert full in third.last().text and "Всё, что вы успели ответить, сохранено" in third.last().text
    assert fetch(db_url, "SELECT count(*) AS n FROM responses WHERE status = 'completed'")[0]["n"] == 2
