"""PostgreSQL stops for 4 s during a burst of respondents (the real ``surveybot run``): nobody gets silence,
nobody is told of a fault (the retry absorbs it as a delay), nobody has to /start again, nothing is lost.

The test runs its own throwaway server (scripts/pg-start), since it stops it: other tests may share
the one in TEST_POSTGRES_URL.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from bot.service.faults import FAULT_TEXT
from survey.i18n import translator
from tests import pg
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, ROOT, BotProcess
from tests.walkers import Walker, stored_as_planned

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

pytestmark = pytest.mark.e2e
RESPONDENTS = 6
OUTAGE = 4.0


class Server:
    """A PostgreSQL server of our own that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        done = subprocess.run([str(ROOT / "scripts" / "pg-start")], capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            if pg.required():
                pytest.fail(f"pg-start failed: {done.stderr[-500:]}")
            pytest.skip(f"PostgreSQL cannot be started here: {done.stderr.strip()[-200:]}")
        self.run, self.url = done.stdout.split()[:2]
        self.port = Path(self.run, "port").read_text().strip()
        self.bindir = Path(self.run, "bindir").read_text().strip()
        self.user = Path(self.run, "user").read_text().strip()

    def _ctl(self, *args: str) -> None:
        cmd = [f"{self.bindir}/pg_ctl", "-D", f"{self.run}/data", *args]
        if os.getuid() == 0 and self.user != "root":
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        """Fast shutdown: sessions are terminated, connections refused until start()."""
        self._ctl("-m", "fast", "-w", "stop")

    def start(self) -> None:
        """Start again with the options pg-start used."""
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.run} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._ctl("-l", f"{self.run}/server.log", "-o", opts, "-w", "-t", "60", "start")

    def remove(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "pg-stop"), self.run], capture_output=True, timeout=60)


def test_postgresql_stopped_for_four_seconds_during_a_burst(tmp_path: Path):
    server = Server()
    try:
        db_url = asyncio.run(pg.create_database(server.url))
        with FakeBotAPI() as api:
            bot = BotProcess(tmp_path, {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url,
                                        "OUTGOING_MAX_RATE": "0", "LOG_LEVEL": "INFO"})
            bot.start()
            walkers = [Walker(api, 640_000 + i, notice=RU(FAULT_TEXT), think=0.3) for i in range(RESPONDENTS)]
            try:
                for w in walkers:
                    w.start()
                api.wait_call("answerCallbackQuery", timeout=60)
                time.sleep(1.0)
                taps = len(api.calls_of("answerCallbackQuery"))
                server.stop()
                time.sleep(OUTAGE)
                server.start()
                for w in walkers:
                    w.join(120)
            finally:
                code = bot.stop()
            errors = [f"{w.user_id}: {w.error}" for w in walkers if w.error]
            assert not errors, "\n\n".join(errors[:2]) + "\n" + bot.output()[-3000:]
            assert all(w.done for w in walkers)
            assert len(api.calls_of("answerCallbackQuery")) > taps + RESPONDENTS  # the burst went on through it
            starts = Counter(u["message"]["from"]["id"] for u in api._all_updates.values()
                             if u.get("message", {}).get("text") == "/start")
            assert set(starts.values()) == {1}, starts
            assert [w.notices for w in walkers] == [0] * RESPONDENTS  # a short outage is only a delay
        assert code == 0, bot.output()[-3000:]
        problems = [p for w in walkers for p in stored_as_planned(db_url, w.user_id, w.plan)]
        assert not problems, "; ".join(problems[:5])
        assert "Traceback" not in bot.output(), bot.output()[-3000:]
    finally:
        server.remove()
