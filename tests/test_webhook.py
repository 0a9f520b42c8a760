"""Webhook mode of the real process: only requests with the secret token header are processed (issue 4, point 7)."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess

SECRET = "webhook-SECRET_value-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, update: dict, secret: str | None) -> int:
    """POST an update like Telegram does; returns the HTTP status."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def start_update(api: FakeBotAPI, update_id: int, user_id: int) -> dict:
    user = api.user(user_id).as_dict()
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": int(time.time()), "chat": api.chat(user_id), "from": user, "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}


@pytest.mark.e2e
def test_webhook_refuses_requests_without_the_right_secret(tmp_path: Path):
    port = free_port()
    with FakeBotAPI() as api:
        bot = BotProcess(tmp_path, {
            "BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "LOG_LEVEL": "DEBUG",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}",
            "WEBHOOK_URL": "https://bot.example.test/base", "WEBHOOK_LISTEN": "127.0.0.1",
            "WEBHOOK_PORT": str(port), "WEBHOOK_PATH": "tg-hook", "WEBHOOK_SECRET": SECRET,
        }, args=("--webhook",))
        bot.start()
        try:
            call = api.wait_call("setWebhook", timeout=20)
            assert call.params["url"] == "https://bot.example.test/base/tg-hook"
            assert call.params["secret_token"] == SECRET  # Telegram is told the secret it must send back
            url = f"http://127.0.0.1:{port}/tg-hook"
            for _ in range(200):  # the server listens right after setWebhook
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            assert post(url, start_update(api, 1, 7001), None) == 403
            assert post(url, start_update(api, 2, 7002), "wrong-secret") == 403
            assert post(url, start_update(api, 3, 7003), SECRET) == 200
            api.user(7003).wait_for_text("Как устроен аккаунтинг", timeout=15)
            assert api.messages(7001) == [] and api.messages(7002) == []
            assert len(api.messages(7003)) == 1
        finally:
            code = bot.stop()
    assert code == 0
    output = bot.output()
    assert SECRET not in output and E2E_TOKEN.split(":")[1] not in output
    # PTB logs each refused request (with a traceback, at DEBUG); nothing is logged as an error
    assert "did not include the secret token" in output and "wrong secret token" in output
    assert " ERROR " not in output and " CRITICAL " not in output
