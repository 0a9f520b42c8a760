"""Running the real ``surveybot`` process against the fake Bot API server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fake_botapi import FakeBotAPI

ROOT = Path(__file__).resolve().parents[1]
E2E_TOKEN = "987654321:E2E-token-for-surveybot-process-test0"


class BotProcess:
    """``python -m bot.cli run`` as a child process with its output in a log file."""

    def __init__(self, api: FakeBotAPI, db_url: str, log_path: Path, *, args: tuple[str, ...] = ("run",),
                 token: str = E2E_TOKEN, **env: str):
        self.api, self.log_path, self.args = api, log_path, args
        self.env = os.environ | {
            "BOT_TOKEN": token,
            "TELEGRAM_API_URL": api.url,
            "DATABASE_URL": db_url,
            "LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
        } | env
        self.proc: subprocess.Popen | None = None

    def start(self) -> "BotProcess":
        """Start the bot; returns at once (wait on its replies, not on the process)."""
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", *self.args], cwd=ROOT, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        """Stop gracefully (SIGINT), then kill if needed; returns the exit code."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
