"""The database stops taking writes, then takes them again, while respondents tap (the real ``surveybot run``).

The bot process loses the right to write files: its RLIMIT_FSIZE soft limit is set to 0 from outside
(``prlimit``), so every write SQLite makes fails with EFBIG and SQLite reports "disk I/O error" — what a
disk that went read-only or full looks like to the bot. A few seconds later the limit is lifted.
Each respondent is told (toast and one message), nothing is acknowledged that was not stored, the
admin gets one alert when the incident starts and one when it ends, and everybody finishes without /start.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.service.faults import FAULT_TEXT
from survey.i18n import translator
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess
from tests.walkers import Walker, stored_as_planned

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")]
ADMIN = 630_999
RESPONDENTS = 4
FAULT_SECONDS = 4.0


def set_file_writes(pid: int, allowed: bool) -> None:
    """Let the process write files again, or not at all (the soft file-size limit; the hard one stays)."""
    subprocess.run(["prlimit", f"--pid={pid}", "--fsize=unlimited:unlimited" if allowed else "--fsize=0:unlimited"],
                   check=True)


def test_database_unwritable_then_writable_while_respondents_tap(tmp_path: Path):
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'fault.db'}"
    with FakeBotAPI() as api:
        admin = api.user(ADMIN)
        bot = BotProcess(tmp_path, {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url,
                                    "ADMIN_IDS": str(ADMIN), "OUTGOING_MAX_RATE": "0", "LOG_LEVEL": "INFO"},
                         pipe=True)
        bot.start()
        walkers = [Walker(api, 630_000 + i, notice=RU(FAULT_TEXT), think=0.4, pause=0.7) for i in range(RESPONDENTS)]
        try:
            for w in walkers:
                w.start()
            api.wait_call("answerCallbackQuery", timeout=30)  # respondents are answering
            time.sleep(1.0)
            set_file_writes(bot.proc.pid, False)
            time.sleep(FAULT_SECONDS)
            assert bot.proc.poll() is None, "the bot keeps running during the fault"
            set_file_writes(bot.proc.pid, True)
            for w in walkers:
                w.join(120)
            admin.wait_for(lambda m: "снова отвечает" in m.content, timeout=10, what="the all-clear alert")
        finally:
            code = bot.stop()
        errors = [f"{w.user_id}: {w.error}" for w in walkers if w.error]
        assert not errors, "\n\n".join(errors[:2]) + "\n" + bot.output()[-3000:]
        assert all(w.done for w in walkers)
        starts = Counter(u["message"]["from"]["id"] for u in api._all_updates.values()
                         if u.get("message", {}).get("text") == "/start")
        assert set(starts.values()) == {1}, starts  # nobody had to start again
        told = [w for w in walkers if w.notices]
        assert len(told) >= RESPONDENTS - 1, [w.notices for w in walkers]  # the fault met (nearly) everyone
        for w in walkers:  # one message per respondent per minute, however often they tried
            assert sum(RU(FAULT_TEXT) in m.content for m in w.user.messages()) <= 1
        alerts = [m.content for m in admin.messages()]
        assert len(alerts) == 2 and "Сбой" in alerts[0] and "снова отвечает" in alerts[1], alerts
    assert code == 0, bot.output()[-3000:]
    # Every answer stored is exactly the one given: nothing acknowledged was lost, nothing doubled.
    problems = [p for w in walkers for p in stored_as_planned(db_url, w.user_id, w.plan)]
    assert not problems, "; ".join(problems[:5])
    log = bot.output()
    assert log.count("incident: database") == 1 and log.count("incident over: database") == 1, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    print(f"\nnotices per respondent {[w.notices for w in walkers]}, repeated actions {[w.attempts for w in walkers]}")
