"""The clock lies (issue 24): the system clock of the running bot steps back an hour.

The real ``surveybot run`` runs under libfaketime (Debian ``faketime``): its system clock reads a timestamp file
that the test rewrites mid-run, while its monotonic clock stays real (``FAKETIME_DONT_FAKE_MONOTONIC``), exactly
what a step of the wall clock by hand or by NTP does. The bot's steady clock (storage/clock.py) must not notice:
reminders go out on time, once each; nothing closes early (or an hour late); no duration comes out negative.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.clock import SteadyClock
from survey.i18n import translator
from survey.model import DEFAULT_REMINDER_TEXT
from tests.dbcheck import fetch, response_row
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess
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
            deadline = time.monotonic() + 120  # a loaded machine starts slowly
            while not api.calls_of("getUpdates") and time.monotonic() < deadline:
                assert bot.proc is not None and bot.proc.poll() is None, bot.output()[-3000:]
                time.sleep(0.2)
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
