"""Health for operators with the real process: ``surveybot health`` (polling) and ``/healthz`` (webhook) say
whether the database and the Bot API answered recently, and an incident shows in both and in the log once."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fake_botapi import FakeBotAPI, Faults
from tests.harness import E2E_TOKEN, ROOT, BotProcess
from tests.test_webhook import SECRET, free_port, post, start_update

pytestmark = pytest.mark.e2e
FAST = {"HEALTH_INTERVAL_SECONDS": "0.3", "TELEGRAM_RETRY_SECONDS": "1.5", "TELEGRAM_TIMEOUT_SECONDS": "1",
        "OUTGOING_MAX_RATE": "0", "LOG_LEVEL": "INFO"}
TELEGRAM_DOWN = Faults(rate=1.0, kinds=("http502",), methods=("send", "edit", "answer"))


def health_cli(cwd: Path) -> tuple[int, str]:
    done = subprocess.run([sys.executable, "-m", "bot.cli", "health"], cwd=cwd, capture_output=True, text=True,
                          timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    return done.returncode, done.stdout + done.stderr


def wait_until(check, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {check()}")


def test_surveybot_health_for_a_polling_bot(tmp_path: Path):
    assert health_cli(tmp_path)[0] == 1  # nothing runs here yet: not healthy, and it says why
    with FakeBotAPI() as api:
        bot = BotProcess(tmp_path, {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url,
                                    "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", **FAST})
        bot.start()
        try:
            code, out = wait_until(lambda: (r := health_cli(tmp_path))[0] == 0 and r, timeout=120)
            assert out.startswith("OK") and "database: last answered" in out and "telegram: last answered" in out
            user = api.user(650_001)
            api.faults = TELEGRAM_DOWN  # Telegram fails every send: the intro is given up after its retries
            user.send("/start")
            code, out = wait_until(lambda: (r := health_cli(tmp_path))[0] == 1 and r)
            assert "PROBLEM: telegram: failing" in out and "http 502" in out, out
            api.faults = None
            user.send("/start")
            user.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30, fresh=True)
            code, out = wait_until(lambda: (r := health_cli(tmp_path))[0] == 0 and r)
        finally:
            assert bot.stop() == 0
    log = bot.output()
    assert log.count("incident: telegram failing (http 502)") == 1, log[-2000:]
    assert log.count("incident over: telegram") == 1, log[-2000:]
    report = json.loads((tmp_path / "surveybot-health.json").read_text())
    assert report["telegram"]["ok"] and report["database"]["ok"] and report["pid"] == bot.proc.pid


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def get_healthz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_healthz_in_webhook_mode(tmp_path: Path):
    port = free_port()
    with FakeBotAPI() as api:
        bot = BotProcess(tmp_path, {
            "BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, **FAST,
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}",
            "WEBHOOK_URL": "https://bot.example.test", "WEBHOOK_PORT": str(port), "WEBHOOK_SECRET": SECRET,
        }, args=("--webhook",))
        bot.start()
        try:
            api.wait_call("setWebhook", timeout=120)
            wait_until(lambda: listening(port))
            status, body = wait_until(lambda: (r := get_healthz(port))[0] == 200 and r)
            assert body["ok"] and body["database"]["last_ok_seconds_ago"] is not None
            assert body["telegram"]["last_ok_seconds_ago"] is not None and body["problems"] == []
            api.faults = TELEGRAM_DOWN
            assert post(f"http://127.0.0.1:{port}/telegram", start_update(api, 1, 650_002), SECRET) == 200
            status, body = wait_until(lambda: (r := get_healthz(port))[0] == 503 and r)
            assert body["telegram"]["incident"]["kind"] == "http 502" and not body["ok"]
            assert body["database"]["ok"]
        finally:
            assert bot.stop() == 0
