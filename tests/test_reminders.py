"""Reminders (issue 12, part 1): quiet hours, the schedule from the database, claims, blocked / completed /
forgotten respondents, «Продолжить», REMIND_MAX, two claimers, and what /stats and the funnel show.

The in-process tests call ``Reminders.run_once(now)`` with a fixed clock (the loop itself ticks once an hour
there, i.e. never during a test); the end-to-end test with SIGKILL is in tests/test_reminders_e2e.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics.summary import build_summary, summary_to_json
from analytics.summary_text import render_funnel, render_summary
from bot.background.reminders import CONTINUE
from bot.settings import Settings, load_settings
from storage.reminders import ReminderCounts
from survey.i18n import translator
from survey.loader import load_survey
from survey.model import DEFAULT_REMINDER_TEXT
from survey.reminders import next_allowed
from survey.schema import survey_json_schema
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.dbcheck import fetch, respondent_row, response_row, stored_answers
from tests.harness import running_app
from tests.recording import RecordingRequest, SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

MSK = ZoneInfo("Europe/Moscow")
NY = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)


def local(zone: ZoneInfo, day: date, hh: int, mm: int = 0) -> datetime:
    """A wall-clock moment in a zone, as an aware UTC datetime."""
    return datetime.combine(day, time(hh, mm), tzinfo=zone).astimezone(UTC)


def in_days(n: int) -> date:
    """A Moscow date n days from today (the tests' clock is later than every stored time)."""
    return datetime.now(MSK).date() + timedelta(days=n)


def daytime_zone() -> str:
    """A fixed-offset zone where it is now between 12:00 and 18:00 (the real clock, outside quiet hours)."""
    now = datetime.now(UTC)
    for hours in range(-12, 15):
        name = f"Etc/GMT{-hours:+d}" if hours else "UTC"
        if 12 <= now.astimezone(ZoneInfo(name)).hour < 18:
            return name
    raise AssertionError("no zone in daytime")  # pragma: no cover


# ------------------------------------------------------------------ pure: quiet hours
@pytest.mark.parametrize(("hh", "mm", "expected"), [
    (21, 59, None),  # allowed: itself
    (22, 0, (1, 9)),  # quiet from 22:00: the next day at 09:00
    (23, 0, (1, 9)),
    (0, 30, (0, 9)),  # after midnight: the same day at 09:00
    (8, 59, (0, 9)),
    (9, 0, None),
    (14, 0, None),
])
def test_next_allowed_moscow(hh, mm, expected):
    day = date(2026, 3, 10)
    moment = local(MSK, day, hh, mm)
    got = next_allowed(moment, MSK)
    if expected is None:
        assert got == moment
    else:
        assert got == local(MSK, day + timedelta(days=expected[0]), expected[1])
        assert got.astimezone(MSK).time() == time(9, 0)
        assert got.tzinfo == UTC  # the zone of the moment given


def test_next_allowed_across_a_dst_change():
    # New York springs forward on 2026-03-08 at 02:00: 23:00 EST on the 7th -> 09:00 EDT on the 8th, 9 hours later
    moment = local(NY, date(2026, 3, 7), 23, 0)
    got = next_allowed(moment, NY)
    assert got.astimezone(NY).replace(tzinfo=None) == datetime(2026, 3, 8, 9, 0)
    assert got - moment == timedelta(hours=9)
    # ... and falls back on 2026-11-01: 23:00 EDT on Oct 31 -> 09:00 EST, 11 hours later
    moment = local(NY, date(2026, 10, 31), 23, 0)
    assert next_allowed(moment, NY) - moment == timedelta(hours=11)
    # Moscow has no DST: 22:30 -> 09:00 is always 10.5 hours
    for day in (date(2026, 3, 28), date(2026, 10, 24)):
        moment = local(MSK, day, 22, 30)
        assert next_allowed(moment, MSK) - moment == timedelta(hours=10, minutes=30)
    with pytest.raises(ValueError):
        next_allowed(datetime(2026, 3, 7, 23, 0), NY)


def test_settings_and_questionnaire_field():
    s = load_settings(_env_file=None, remind_after="24h", remind_max="2")
    assert s.remind_after == timedelta(hours=24) and s.remind_max == 2 and s.remind_period() == 60.0
    assert load_settings(_env_file=None, remind_after="90m").remind_after == timedelta(minutes=90)
    assert load_settings(_env_file=None, remind_after="30s").remind_period() == 3.0
    assert load_settings(_env_file=None).remind_after is None  # off by default
    assert load_settings(_env_file=None, remind_after="off").remind_after is None
    for bad in ("soon", "-1h", "0s"):
        with pytest.raises(Exception, match="REMIND_AFTER"):
            load_settings(_env_file=None, remind_after=bad)
    with pytest.raises(Exception, match="REMIND_MAX"):
        load_settings(_env_file=None, remind_max="0")
    assert load_survey(None).survey.reminder_text == RU(DEFAULT_REMINDER_TEXT)
    assert "reminder_text" in survey_json_schema()["$defs"]["SurveyMeta"]["properties"]


def test_reminder_text_is_validated(tmp_path):
    from survey.loader import SurveyError

    bad = tmp_path / "bad.yaml"
    bad.write_text("survey:\n  id: s\n  title: T\n  reminder_text: '   '\nquestions:\n- {id: q, type: text, text: Q}\n",
                   encoding="utf-8")
    with pytest.raises(SurveyError, match="reminder_text"):
        load_survey(bad)
    good = tmp_path / "good.yaml"
    good.write_text("survey:\n  id: s\n  title: T\n  reminder_text: Вернитесь к опросу!\nquestions:\n"
                    "- {id: q, type: text, text: Q}\n", encoding="utf-8")
    assert load_survey(good).survey.reminder_text == "Вернитесь к опросу!"


# ------------------------------------------------------------------ the bot in-process
def remind_settings(db_url: str, **extra) -> Settings:
    values = dict(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                  flood_messages=10_000, remind_after="1h", remind_check_every="1h", timezone="Europe/Moscow")
    return Settings(**(values | extra))


def reminders_to(request: RecordingRequest, chat_id: int) -> list[dict]:
    """The reminder messages sent to one chat (attempts included)."""
    return [p for name, p in request.calls
            if name == "sendMessage" and int(p["chat_id"]) == chat_id and RU(CONTINUE) in str(p.get("reply_markup"))
            and p["text"] == RU(DEFAULT_REMINDER_TEXT)]


async def started(app, request, user_id: int, answers: int = 1) -> SimUser:
    """A respondent who began and answered the first ``answers`` questions, then stopped."""
    u = SimUser(app, request, user_id)
    await u.begin()
    for _ in range(answers):
        await u.answer_current()
    return u


async def finish(u: SimUser) -> None:
    """Answer until the thank-you."""
    for _ in range(40):
        if "Спасибо" in u.last().text:
            return
        await u.answer_current()
    raise AssertionError(u.last().text)


async def test_quiet_hours_hold_the_reminder_until_nine(db_url):
    async with running_app(remind_settings(db_url)) as (app, request):
        await started(app, request, 5001)
        rem = app.bot_data.reminders
        tomorrow = in_days(1)
        late = await rem.run_once(local(MSK, tomorrow, 23, 0))
        assert late.quiet and late.sent == 0
        assert (await rem.run_once(local(MSK, tomorrow + timedelta(days=1), 8, 59))).sent == 0
        assert reminders_to(request, 5001) == []
        assert (await rem.run_once(local(MSK, tomorrow + timedelta(days=1), 9, 0))).sent == 1
        assert len(reminders_to(request, 5001)) == 1
        assert response_row(db_url, 5001)["reminders_sent"] == 1


async def test_continue_resumes_at_the_exact_question(db_url):
    async with running_app(remind_settings(db_url)) as (app, request):
        u = await started(app, request, 5002, answers=3)
        where = u.last().text
        assert "Вопрос 4 из 14" in where
        before = response_row(db_url, 5002)
        assert (await app.bot_data.reminders.run_once(local(MSK, in_days(2), 12))).sent == 1
        after = response_row(db_url, 5002)
        assert after["version"] == before["version"] and after["current_question"] == before["current_question"]
        reminder = u.last()
        assert reminder.text == RU(DEFAULT_REMINDER_TEXT) and [b["text"] for b in reminder.buttons()] == [RU(CONTINUE)]
        await u.press(RU(CONTINUE), message=reminder)
        shown = u.request.messages[u.id][reminder.message_id]  # the reminder became the question
        question = app.bot_data.survey.get(before["current_question"])
        assert shown.text.startswith("<b>Вопрос 4 из 14</b>") and question.text in shown.text and question.text in where
        assert [b["text"] for b in shown.buttons()] == [b["text"] for b in u.request.messages[u.id][
            max(k for k in u.request.messages[u.id] if k < reminder.message_id)].buttons()]
        await u.answer_current()
        assert "Вопрос 5 из 14" in u.last().text or "Вопрос 6 из 14" in u.last().text
        assert len(stored_answers(db_url, 5002)) == 4


async def test_blocked_completed_and_forgotten_are_skipped(db_url):
    async with running_app(remind_settings(db_url, remind_max=3)) as (app, request):
        blocked = await started(app, request, 5003)
        done = await started(app, request, 5004)
        await finish(done)
        gone = await started(app, request, 5005)
        await gone.send("/forget_me")
        await gone.press("Да, удалить")
        assert response_row(db_url, 5005) is None
        request.fail_chats[5003] = (403, "Forbidden: bot was blocked by the user")
        rem = app.bot_data.reminders
        t = local(MSK, in_days(2), 12)
        first = await rem.run_once(t)
        assert (first.sent, first.refused) == (0, 1)
        assert respondent_row(db_url, 5003)["blocked_at"] is not None
        row = response_row(db_url, 5003)
        assert row["reminders_sent"] == 1 and row["first_reminded_at"] is None  # refused: not counted as reminded
        for k in range(1, 6):  # never retried, however often and late the loop looks
            assert (await rem.run_once(t + k * 2 * HOUR)).refused == 0
        assert len(reminders_to(request, 5003)) == 1
        assert reminders_to(request, 5004) == [] and reminders_to(request, 5005) == []
        # One who unblocks and comes back counts as active again (and may be reminded later).
        del request.fail_chats[5003]
        await blocked.send("/start")
        await blocked.press(RU(CONTINUE))
        assert (await rem.run_once(t + 24 * HOUR)).sent == 1


async def test_remind_max_two_spaced_by_remind_after_never_three(db_url):
    async with running_app(remind_settings(db_url, remind_max=2)) as (app, request):
        await started(app, request, 5006)
        rem = app.bot_data.reminders
        t = local(MSK, in_days(2), 11)
        assert (await rem.run_once(t)).sent == 1
        assert (await rem.run_once(t + timedelta(minutes=30))).sent == 0  # not REMIND_AFTER since the first
        assert (await rem.run_once(t + HOUR - timedelta(seconds=1))).sent == 0
        assert (await rem.run_once(t + HOUR)).sent == 1
        for k in (2, 3, 8):
            assert (await rem.run_once(t + k * HOUR)).sent == 0
        sent = reminders_to(request, 5006)
        assert len(sent) == 2
        assert response_row(db_url, 5006)["reminders_sent"] == 2


async def test_two_workers_claim_each_reminder_once(db_url):
    """Two bots on one database look at the same moment: every respondent gets exactly one reminder."""
    people = list(range(5100, 5108))
    async with running_app(remind_settings(db_url)) as (app1, req1), running_app(remind_settings(db_url)) as (app2, req2):
        for uid in people:
            await started(app1 if uid % 2 else app2, req1 if uid % 2 else req2, uid)
        t = local(MSK, in_days(2), 12)
        one, two = await asyncio.gather(app1.bot_data.reminders.run_once(t), app2.bot_data.reminders.run_once(t))
        assert one.sent + two.sent == len(people)
        for uid in people:
            assert len(reminders_to(req1, uid)) + len(reminders_to(req2, uid)) == 1, uid
            assert response_row(db_url, uid)["reminders_sent"] == 1
        again = await asyncio.gather(app1.bot_data.reminders.run_once(t), app2.bot_data.reminders.run_once(t))
        assert sum(r.sent for r in again) == 0


async def test_stats_and_funnel_count_reminded_came_back_completed(db_url):
    # The real clock here (answers after the reminder must be later than it), in a zone where it is daytime now.
    settings = remind_settings(db_url, remind_after="0.3s", timezone=daytime_zone())
    async with running_app(settings) as (app, request):
        back = await started(app, request, 5201)
        finisher = await started(app, request, 5202)
        await started(app, request, 5203)  # reminded, never came back
        never = await started(app, request, 5204)
        await finish(never)  # completed without a reminder: not counted
        await asyncio.sleep(0.4)
        assert (await app.bot_data.reminders.run_once()).sent == 3
        await asyncio.sleep(0.01)
        await back.press(RU(CONTINUE))
        await back.answer_current()
        await finisher.press(RU(CONTINUE))
        await finish(finisher)
        summary = await build_summary(app.bot_data.engine, app.bot_data.survey)
        assert summary.reminders == ReminderCounts(reminded=3, came_back=2, completed=1)
        assert summary_to_json(summary)["reminders"] == {"reminded": 3, "came_back": 2, "completed": 1}
        line = "Напоминания: получили 3, вернулись 2 (66,7%), завершили 1 (33,3%)"
        assert line in render_summary(summary)[0]
        assert line in "\n".join(render_funnel(summary))
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/stats")
        assert any(line in m.text for m in admin.messages())


async def test_a_claim_is_won_once_and_refused_after_activity(db_url):
    """The storage contract on its own: the same due reminder claimed twice, and a respondent acting first."""
    from storage import reminders as store

    async with running_app(remind_settings(db_url)) as (app, request):
        u = await started(app, request, 5301)
        engine, sid = app.bot_data.engine, app.bot_data.survey.id
        t = local(MSK, in_days(2), 12)
        (due,) = await store.due_reminders(engine, sid, t, HOUR, 1, 10)
        async with engine.begin() as conn:
            assert await store.claim(conn, sid, due, t, HOUR, 1)
        async with engine.begin() as conn:
            assert not await store.claim(conn, sid, due, t, HOUR, 1)  # the same reminder: already claimed
        assert await store.due_reminders(engine, sid, t + 5 * HOUR, HOUR, 1, 10) == []  # REMIND_MAX reached
        # With reminders left, a respondent who acted since the read makes the claim match nothing.
        (due,) = await store.due_reminders(engine, sid, t + HOUR, HOUR, 2, 10)
        await u.answer_current()
        async with engine.begin() as conn:
            assert not await store.claim(conn, sid, due, t + HOUR, HOUR, 2)
        assert response_row(db_url, 5301)["reminders_sent"] == 1


async def test_the_schedule_counts_from_the_later_of_activity_and_the_last_reminder(db_url):
    """When a reminder falls due, through storage's SQL (the one rule the bot follows): REMIND_AFTER after the
    last activity and after the previous reminder, whichever is later; none once REMIND_MAX were claimed."""
    from sqlalchemy import update

    from storage import reminders as store
    from storage.models import Response

    minute = timedelta(minutes=1)
    async with running_app(remind_settings(db_url)) as (app, request):
        await started(app, request, 5401)
        engine, sid = app.bot_data.engine, app.bot_data.survey.id
        t = local(MSK, in_days(2), 12)

        async def due_at(moment: datetime) -> list:
            return await store.due_reminders(engine, sid, moment, HOUR, 2, 10)

        (due,) = await due_at(t)
        async with engine.begin() as conn:
            assert await store.claim(conn, sid, due, t, HOUR, 2)
        assert await due_at(t + HOUR - minute) == []  # spaced by REMIND_AFTER after the first
        assert len(await due_at(t + HOUR)) == 1
        async with engine.begin() as conn:  # activity since the reminder: the next one counts from it
            await conn.execute(update(Response).where(Response.id == due.response_id).values(updated_at=t + 3 * HOUR))
        assert await due_at(t + 4 * HOUR - minute) == []
        (due,) = await due_at(t + 4 * HOUR)
        async with engine.begin() as conn:
            assert await store.claim(conn, sid, due, t + 4 * HOUR, HOUR, 2)
        assert await due_at(t + 100 * HOUR) == []  # REMIND_MAX reached


async def test_reminders_are_bulk_sends(db_url):
    """With the sending budget on, every reminder is granted as a bulk call (after respondents' replies)."""
    from bot.app import build_application
    from bot.sending.limiter import OutgoingLimiter, Priority

    request = RecordingRequest()
    app = build_application(remind_settings(db_url, outgoing_max_rate=30), request=request, rate_limiter=True)
    await app.initialize()
    await app.post_init(app)
    try:
        for uid in (5401, 5402, 5403):
            await started(app, request, uid)
        limiter = app.bot.rate_limiter
        assert isinstance(limiter, OutgoingLimiter) and limiter.budget is not None
        bulk_before, interactive_before = limiter.budget.granted[Priority.BULK], limiter.budget.granted[Priority.INTERACTIVE]
        assert (await app.bot_data.reminders.run_once(local(MSK, in_days(2), 12))).sent == 3
        assert limiter.budget.granted[Priority.BULK] - bulk_before == 3
        assert limiter.budget.granted[Priority.INTERACTIVE] == interactive_before
    finally:
        await app.post_shutdown(app)
        await app.shutdown()


async def test_a_closed_survey_reminds_nobody(db_url):
    async with running_app(remind_settings(db_url)) as (app, request):
        await started(app, request, 5101)
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/close")
        rem = app.bot_data.reminders
        t = local(MSK, in_days(2), 12)
        closed = await rem.run_once(t)
        assert closed.closed and closed.sent == 0 and reminders_to(request, 5101) == []
        assert response_row(db_url, 5101)["reminders_sent"] == 0  # nothing claimed either
        await admin.send("/open")
        assert (await rem.run_once(t + HOUR)).sent == 1
        assert len(reminders_to(request, 5101)) == 1


async def test_admins_test_runs_are_never_reminded(db_url):
    """A test run (/test) is stored under the questionnaire's test copy: the reminder rounds never see it."""
    async with running_app(remind_settings(db_url, remind_max=3)) as (app, request):
        admin = SimUser(app, request, ADMIN_ID)
        await admin.send("/test")
        await admin.answer_current()
        assert "Вопрос 2 из 14" in admin.last().text
        real = await started(app, request, 5501)
        rem = app.bot_data.reminders
        t = local(MSK, in_days(2), 12)
        for k in range(3):
            await rem.run_once(t + k * 2 * HOUR)
        assert reminders_to(request, ADMIN_ID) == []
        assert len(reminders_to(request, real.id)) == 3
        test_rows = fetch(db_url, "SELECT survey_id, reminders_sent FROM responses r JOIN respondents p "
                                  "ON p.id = r.respondent_id WHERE p.user_key = :k", k=str(ADMIN_ID))
        assert [(row["survey_id"], row["reminders_sent"]) for row in test_rows] == [
            (app.bot_data.survey.id + "__test", 0)]
