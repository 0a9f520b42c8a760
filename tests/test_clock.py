"""The clock lies (issue 24): the system clock of the running bot steps back an hour.

The real ``surveybot run`` runs under libfaketime (Debian ``faketime``): its system clock reads a timestamp file
that the test rewrites mid-run, while its monotonic clock stays real (``FAKETIME_DONT_FAKE_MONOTONIC``), exactly
what a step of the wall clock by hand or by NTP does. The bot's steady clock (storage/clock.py) must not notice:
reminders go out on time, once each; nothing opens or closes early or an hour late, nothing reopens; the grace after
a closing is neither stretched nor cut short; the quota's moment is the true one; no duration comes out negative;
an incident's length in the admins' alert is what it lasted. Each test here fails when the bot reads the system
clock instead (storage/clock.py's SteadyClock.now returning the wall clock).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage.clock import SteadyClock
from survey.i18n import translator
from survey.model import DEFAULT_REMINDER_TEXT
from tests.dbcheck import fetch, response_row
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess
from tests.test_field_state import one_question
from tests.test_reminders import daytime_zone
from tests.test_reminders_e2e import answer_first, reminder_calls

LIBFAKETIME = next((p for p in (Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
                                Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
                                Path("/usr/lib/faketime/libfaketime.so.1")) if p.exists()), None)
REMIND_AFTER = 12.0


class Ticks:
    """A wall clock and a monotonic clock the unit test moves by hand."""

    def __init__(self) -> None:
        self.wall, self.steady = 1_800_000_000.0, 500.0

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.steady += seconds



def wait_polling(bot: BotProcess, api: FakeBotAPI) -> None:
    """Until the started bot polls (a loaded machine starts slowly); its output if it dies first."""
    deadline = time.monotonic() + 120
    while not api.calls_of("getUpdates") and time.monotonic() < deadline:
        assert bot.proc is not None and bot.proc.poll() is None, bot.output()[-3000:]
        time.sleep(0.2)

def test_the_steady_clock_ignores_a_step_back_and_follows_a_step_forward():
    t = Ticks()
    clock = SteadyClock(wall=lambda: t.wall, steady=lambda: t.steady)
    assert clock.now() == 1_800_000_000.0
    t.advance(10)
    assert clock.now() == 1_800_000_010.0
    t.wall -= 3600  # stepped back an hour
    t.advance(5)
    assert clock.now() == 1_800_000_015.0, "a step back is ignored: time goes on from where it was"
    t.wall += 3600  # NTP puts it right again: no jump either way
    t.advance(5)
    assert clock.now() == 1_800_000_020.0
    t.wall += 600  # stepped forward (a first NTP sync after boot): followed
    assert clock.now() == 1_800_000_620.0
    t.wall += 1.0  # slewing, not a step: the steady clock keeps its own pace
    assert clock.now() == 1_800_000_620.0
    readings = []
    for step in (-7200, 0, 3, -1, 7300, -50):
        t.wall += step
        t.advance(1)
        readings.append(clock.now())
    assert readings == sorted(readings), "it never goes backwards"


@pytest.fixture
def faketime(tmp_path):
    """Environment that puts the bot under libfaketime; write an offset ("+0", "-1h") to the returned file."""
    if LIBFAKETIME is None:
        pytest.skip("libfaketime is not installed (Debian: apt-get install faketime)")
    spec = tmp_path / "faketime.rc"
    spec.write_text("+0\n")
    env = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME_TIMESTAMP_FILE": str(spec), "FAKETIME_CACHE_DURATION": "1",
           "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_DONT_RESET": "1"}
    return env, spec


@pytest.mark.e2e
def test_a_clock_step_back_sends_reminders_on_time_and_once(tmp_path: Path, faketime):
    env_clock, spec = faketime
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}"
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO",
               "REMIND_AFTER": f"{REMIND_AFTER:g}s", "REMIND_CHECK_EVERY": "0.5s", "REMIND_MAX": "2",
               "TIMEZONE": daytime_zone(), **env_clock}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            wait_polling(bot, api)
            user = answer_first(api, 640_001)
            last_activity = time.monotonic()
            spec.write_text("-1h\n")  # the bot's system clock now reads an hour earlier
            time.sleep(1.0)
            first = user.wait_for_text(translator("ru").gettext(DEFAULT_REMINDER_TEXT), timeout=REMIND_AFTER + 20)
            first_at = time.monotonic() - last_activity
            assert REMIND_AFTER - 1.0 <= first_at <= REMIND_AFTER + 8.0, f"first reminder after {first_at:.1f} s"
            user.wait_for(lambda m: len(reminder_calls(api, 640_001)) >= 2, timeout=REMIND_AFTER + 20)
            second_at = time.monotonic() - last_activity
            assert second_at >= 2 * REMIND_AFTER - 1.0, f"second reminder after {second_at:.1f} s: early"
            time.sleep(REMIND_AFTER + 2.0)
            assert len(reminder_calls(api, 640_001)) == 2, "REMIND_MAX=2: never a third, never one twice"
            row = response_row(db_url, 640_001)
            assert row["reminders_sent"] == 2
            assert first.keyboard  # «Продолжить»

            # The respondent comes back after the step and answers question 2: stamped after question 1, not
            # an hour before it (the completion time would come out negative).
            user.press_button("Продолжить", message=first)
            q2 = user.wait_for(lambda m: "Вопрос 2 из 14" in m.content and bool(m.keyboard), timeout=30, fresh=True)
            data = [d for row in q2.keyboard for _, d in row if d]
            user.press(q2.message_id, next(d for d in data if ":t:" in d))
            ticked = user.wait_for(lambda m: m.message_id == q2.message_id and "✅" in str(m.keyboard), timeout=30)
            user.press(q2.message_id, next(d for row in ticked.keyboard for _, d in row if d and d.endswith(":d")))
            user.wait_for_text("Вопрос 3 из 14", timeout=30)
            stamps = {r["question_id"]: str(r["answered_at"]) for r in fetch(
                db_url, "SELECT question_id, answered_at FROM answers")}
            assert stamps["q02_am_functions"] > stamps["q01_who_does_accounting"], stamps
            # The clock put right before stopping: libfaketime's own sleep calls fail (EINVAL) with a negative
            # offset, which would hang the interpreter's exit; that is the tool's artefact, not the bot's.
            spec.write_text("+0\n")
            time.sleep(1.5)
        finally:
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    output = bot.output()
    assert "Traceback" not in output and " ERROR " not in output, output[-3000:]


HEALTH_PROBE = """
import json, sys, time
from pathlib import Path
from bot.background.health import DATABASE, Health
from survey.i18n import translator
alerts = []
health = Health(alert=alerts.append, t=translator("en"))
health.failed(DATABASE, "I/O error")
began, before = time.monotonic(), time.time()
Path(sys.argv[1]).write_text("-1h\\n")
while time.time() > before - 1800:  # libfaketime rereads the file every second; its sleep is unusable backwards
    assert time.monotonic() - began < 10, "the step did not happen"
while time.monotonic() - began < 3.0:
    pass
health.answered(DATABASE)
print(json.dumps({"alerts": alerts, "report": health.report(), "wall": time.time(), "before": before}))
"""


def test_an_incident_across_a_clock_step_back_lasts_what_it_lasted(tmp_path: Path, faketime):
    """The health monitor's durations (an incident's length in the admins' alert, "seconds ago" in the report) are
    monotonic; the report's written_at stays on the system clock, which `surveybot health` compares with its own."""
    env_clock, spec = faketime
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **env_clock}
    done = subprocess.run([sys.executable, "-c", HEALTH_PROBE, str(spec)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["wall"] < out["before"] - 3000, "the probe's system clock did step back"
    over = out["alerts"][-1]
    lasted = int(re.search(r"lasted (-?\d+) s;", over)[1]) if re.search(r"lasted (-?\d+) s;", over) else None
    assert lasted is not None and 3 <= lasted <= 8, over
    db = out["report"]["database"]
    assert db["ok"] is True and 0 <= db["last_ok_seconds_ago"] <= 1 and 3 <= db["last_failure_seconds_ago"] <= 8, db
    assert abs(out["report"]["written_at"] - out["wall"]) < 2, "written_at: the (stepped) system clock"


# ------------------------------------------------------------------ opening, closing, the grace, the quota, durations
ADMIN = 700_000
STEP_SEEN = 3.0  # libfaketime rereads the file once the whole second of its last read + FAKETIME_CACHE_DURATION=1 has
                 # passed: a new offset takes up to 2 s to be seen (measured: 1.75-2.0 s)
RU = translator("ru").gettext


def step(spec: Path, offset: str) -> None:
    """Set the bot's system clock to real time plus ``offset`` ("-1h", "+0") and wait until it reads it."""
    spec.write_text(f"{offset}\n")
    time.sleep(STEP_SEEN)


def sleep_until(moment: float) -> None:
    """Wait until the test's own (true) clock reads ``moment``."""
    time.sleep(max(0.0, moment - time.time()))


def moment(value: float | datetime) -> str:
    """A moment as the bot writes it to people (TIMEZONE=UTC): «07.12.2026 18:05 (UTC)»."""
    when = value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)
    return f"{when.astimezone(UTC):%d.%m.%Y %H:%M} (UTC)"


def stamp(value) -> float:
    """A stored moment (SQLite: naive UTC text) as seconds since the epoch."""
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


@contextmanager
def bot_under_faketime(tmp_path: Path, faketime, db_url: str, survey: Path,
                       **settings: str) -> Iterator[tuple[FakeBotAPI, str, Path]]:
    """The real bot on ``survey`` under libfaketime (admin ADMIN, zone UTC); exits cleanly, logs free of errors."""
    env_clock, spec = faketime
    with FakeBotAPI() as api:
        env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url, "LOG_LEVEL": "INFO",
               "SURVEY_FILE": str(survey), "ADMIN_IDS": str(ADMIN), "TIMEZONE": "UTC", **settings, **env_clock}
        bot = BotProcess(tmp_path, env)
        bot.start()
        try:
            wait_polling(bot, api)
            yield api, db_url, spec
        finally:
            step(spec, "+0")  # libfaketime's own sleep fails with a negative offset, which hangs the exit
            code = bot.stop()
        assert code == 0, bot.output()[-3000:]
    output = bot.output()
    assert "Traceback" not in output and " ERROR " not in output, output[-3000:]


def begin(api: FakeBotAPI, user_id: int):
    """/start and «Начать»: the respondent in progress, with question 1 on screen."""
    user = api.user(user_id)
    user.send("/start")
    user.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30)
    user.press_button("Начать")
    return user, user.wait_for(lambda m: "Кто вы?" in m.content and bool(m.keyboard), timeout=30)


def finish(user, q1) -> None:
    """Answer both questions; the thanks must come."""
    user.press_button("Разработчик", message=q1)
    user.wait_for_text("Сколько вас?", timeout=30)
    user.send("3")
    user.wait_for_text(RU("Thank you! Your answers have been recorded."), timeout=30)


def turned_away(user, q1) -> None:
    """A respondent in progress taps an answer after the grace: told the survey closed, nothing asked next."""
    user.press_button("Разработчик", message=q1)
    user.wait_for_text(RU("Your answers are saved."), timeout=30, fresh=True)
    time.sleep(1.0)
    assert not any("Сколько вас?" in m.content for m in user.messages()), "answered after the grace"


def changed_at(db_url: str) -> float:
    return stamp(fetch(db_url, "SELECT changed_at FROM survey_state WHERE survey_id = 'field'")[0]["changed_at"])


@pytest.mark.e2e
def test_a_hand_closing_keeps_its_grace_across_clock_steps(tmp_path: Path, faketime, db_url: str):
    """/close, then the clock steps back an hour: the grace ends when it should (not an hour later); /close while the
    clock is an hour behind, then it is put right: the grace is not cut short."""
    grace = 30.0
    with bot_under_faketime(tmp_path, faketime, db_url, one_question(tmp_path, "s.yaml"),
                            CLOSE_GRACE=f"{grace:g}s") as (api, db_url, spec):
        admin = api.user(ADMIN)
        a, a_q1 = begin(api, 710_001)
        b, b_q1 = begin(api, 710_002)
        admin.send("/close")
        closed_at = time.time()
        admin.wait_for_text("Новые участники получают вежливый отказ", timeout=30)
        assert abs(changed_at(db_url) - closed_at) < 5
        step(spec, "-1h")
        finish(a, a_q1)  # within the grace
        newcomer = api.user(710_003)
        newcomer.send("/start")
        refused = newcomer.wait_for_text("Опрос «Полевой опрос» закрыт", timeout=30)
        assert not refused.keyboard
        sleep_until(closed_at + grace + 2)  # the grace is over by the true clock; the bot's system clock reads
        turned_away(b, b_q1)                # an hour earlier, when it had not even begun

        admin.send("/open")
        admin.wait_for_text("Опрос открыт вручную", timeout=30, fresh=True)
        d, d_q1 = begin(api, 710_004)
        admin.send("/close")  # the bot's system clock is still an hour behind
        closed_again = time.time()
        admin.wait_for(lambda m: "Новые участники получают вежливый отказ" in m.content, timeout=30, fresh=True)
        assert abs(changed_at(db_url) - closed_again) < 5, "stamped by the true time, not an hour before it"
        step(spec, "+0")  # NTP puts the clock right: the closing is not an hour old, the grace not over
        finish(d, d_q1)
    assert {k: (response_row(db_url, k) or {}).get("status") for k in (710_001, 710_002, 710_003, 710_004)} == {
        710_001: "completed", 710_002: "in_progress", 710_003: None, 710_004: "completed"}
    assert not fetch(db_url, "SELECT a.question_id FROM answers a JOIN responses r ON r.id = a.response_id "
                             "JOIN respondents p ON p.id = r.respondent_id WHERE p.user_key = '710002'")


@pytest.mark.e2e
def test_the_questionnaires_dates_hold_across_clock_steps(tmp_path: Path, faketime, db_url: str):
    """opens_at and closes_at with the bot's system clock an hour behind: it opens on time (not an hour late), closes
    on time, does not open again when the clock steps back after the closing, and the grace after the closing date
    lets the one in progress finish and ends on time."""
    grace = 25.0
    opens = math.ceil(time.time()) + 40
    closes = opens + 30
    iso = lambda t: datetime.fromtimestamp(t, UTC).isoformat()  # noqa: E731
    survey = one_question(tmp_path, "s.yaml", opens_at=iso(opens), closes_at=iso(closes))
    with bot_under_faketime(tmp_path, faketime, db_url, survey, CLOSE_GRACE=f"{grace:g}s") as (api, db_url, spec):
        assert time.time() < opens - 2 * STEP_SEEN - 3, "the bot started too slowly for this test's dates"
        step(spec, "-1h")
        early = api.user(711_001)
        early.send("/start")
        not_yet = early.wait_for_text("ещё не начался", timeout=30)
        assert moment(opens) in not_yet.content and not not_yet.keyboard
        sleep_until(opens + 1)
        a, a_q1 = begin(api, 711_002)  # open on time by the true clock
        c, c_q1 = begin(api, 711_003)
        a.press_button("Разработчик", message=a_q1)
        a.wait_for_text("Сколько вас?", timeout=30)
        sleep_until(closes + 1)
        late = api.user(711_004)
        late.send("/start")
        closed = late.wait_for_text("Опрос «Полевой опрос» закрыт", timeout=30)
        assert moment(closes) in closed.content and not closed.keyboard
        a.send("3")  # in the grace after the closing date
        a.wait_for_text(RU("Thank you! Your answers have been recorded."), timeout=30)
        step(spec, "+0")
        step(spec, "-1h")  # put right, then back an hour again after the closing: before the closing date again
        later = api.user(711_005)
        later.send("/start")
        still = later.wait_for_text("Опрос «Полевой опрос» закрыт", timeout=30)
        assert not still.keyboard, "opened again"
        sleep_until(closes + grace + 2)
        turned_away(c, c_q1)
        early.send("/start")
        again = early.wait_for(lambda m: "закрыт" in m.content, timeout=30, fresh=True)
        assert not again.keyboard
    assert {k: (response_row(db_url, k) or {}).get("status") for k in range(711_001, 711_006)} == {
        711_001: None, 711_002: "completed", 711_003: "in_progress", 711_004: None, 711_005: None}


@pytest.mark.e2e
def test_a_quota_and_the_answer_times_across_a_clock_step_back(tmp_path: Path, faketime, db_url: str):
    """A quota of 2 filled across a step back of an hour: exactly two completed, the third turned away by the quota,
    the quota's moment the true one; every answer's time (shown → answered) and every completion time positive and
    as long as the respondent took, none an hour negative (analytics/quality.py would count it a fast answer)."""
    with bot_under_faketime(tmp_path, faketime, db_url, one_question(tmp_path, "s.yaml", quota=2)) \
            as (api, db_url, spec):
        began = time.time()
        a, a_q1 = begin(api, 712_001)
        time.sleep(2.0)
        a.press_button("Разработчик", message=a_q1)
        a.wait_for_text("Сколько вас?", timeout=30)
        step(spec, "-1h")  # between question 2 being shown and answered
        time.sleep(0.5)
        a.send("3")
        a.wait_for_text(RU("Thank you! Your answers have been recorded."), timeout=30)
        b, b_q1 = begin(api, 712_002)
        time.sleep(2.0)
        finish(b, b_q1)
        filled = time.time()
        third = api.user(712_003)
        third.send("/start")
        over = third.wait_for_text("мы уже собрали нужное число ответов", timeout=30)
        assert not over.keyboard
        reached = stamp(fetch(db_url, "SELECT quota_reached_at FROM survey_state WHERE survey_id = 'field'")[0][
            "quota_reached_at"])
        assert began < reached < filled + 1, (began, reached, filled)
        admin = api.user(ADMIN)
        admin.send("/survey")
        state = admin.wait_for_text("Квота: 2 из 2", timeout=30)
        assert "по квоте" in state.content and f"Закрыт: {moment(reached)}" in state.content, state.content
        took = time.time() - began
    responses = fetch(db_url, "SELECT id, status, started_at, completed_at FROM responses ORDER BY id")
    assert [r["status"] for r in responses] == ["completed", "completed"]
    for r in responses:
        total = stamp(r["completed_at"]) - stamp(r["started_at"])
        assert 2.0 <= total <= took, f"response {r['id']} took {total:.1f} s"
    answers = fetch(db_url, "SELECT response_id, question_id, shown_at, answered_at FROM answers")
    assert len(answers) == 4
    for row in answers:
        assert row["shown_at"] is not None, row
        seconds = stamp(row["answered_at"]) - stamp(row["shown_at"])
        assert 0.0 <= seconds <= took, f"{row['question_id']} of response {row['response_id']}: {seconds:.1f} s"
    first = {r["question_id"]: stamp(r["answered_at"]) for r in answers if r["response_id"] == responses[0]["id"]}
    assert first["f_size"] - first["f_role"] >= STEP_SEEN, "question 2 answered at least the step's wait after 1"
