"""Webhook mode of the real process (bot/incoming/webhook.py): only requests with the secret token header are
processed (issue 4, point 7), a body that is not an update is refused, and ``/metrics`` counts what happened."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.background.metrics import Metrics
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess

SECRET = "webhook-SECRET_value-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def webhook_bot(tmp_path: Path, api: FakeBotAPI, port: int, **settings: str) -> BotProcess:
    """``surveybot run --webhook`` on 127.0.0.1:port with the test secret (and a SQLite file in tmp_path)."""
    env = {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}",
           "WEBHOOK_URL": "https://bot.example.test", "WEBHOOK_LISTEN": "127.0.0.1", "WEBHOOK_PORT": str(port),
           "WEBHOOK_SECRET": SECRET, **settings}
    return BotProcess(tmp_path, env, args=("--webhook",))


def post(url: str, update: dict | bytes, secret: str | None) -> int:
    """POST an update like Telegram does (bytes: that body as it is); returns the HTTP status."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = update if isinstance(update, bytes) else json.dumps(update).encode()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
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
        bot = webhook_bot(tmp_path, api, port, LOG_LEVEL="DEBUG", WEBHOOK_URL="https://bot.example.test/base",
                          WEBHOOK_PATH="tg-hook")
        bot.start()
        try:
            call = api.wait_call("setWebhook", timeout=60)  # start-up on a loaded machine
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
    # each refused request is logged at DEBUG; nothing is logged as an error
    assert "did not include the secret token" in output and "wrong secret token" in output
    assert " ERROR " not in output and " CRITICAL " not in output


def wait_listening(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def forward(api: FakeBotAPI, url: str, update_id: int) -> int:
    """POST, as Telegram would, an update the fake queued for getUpdates (which a webhook bot never calls)."""
    return post(url, api._all_updates[update_id], SECRET)


def get_metrics(port: int) -> tuple[str, dict[tuple[str, tuple], float]]:
    """GET /metrics: its content type and every sample, keyed by (name, sorted labels)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        ctype, text = response.headers["Content-Type"], response.read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    return ctype, samples


def total(samples: dict[tuple[str, tuple], float], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include these."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def test_each_application_counts_on_its_own_registry():
    first, second = Metrics(), Metrics()  # the global default registry would refuse the second
    first.answers.inc()
    assert b"surveybot_answers_stored_total 1.0" in first.exposition()
    assert b"surveybot_answers_stored_total 0.0" in second.exposition()


@pytest.mark.e2e
def test_webhook_metrics_and_bodies_that_are_not_updates(tmp_path: Path):
    port = free_port()
    with FakeBotAPI() as api:
        bot = webhook_bot(tmp_path, api, port, LOG_LEVEL="INFO")
        bot.start()
        try:
            api.wait_call("setWebhook", timeout=60)
            wait_listening(port)
            url = f"http://127.0.0.1:{port}/telegram"
            for body in (b"{not json", b"[1, 2]", b'{"message": {"text": "no update_id"}}', b""):
                assert post(url, body, SECRET) == 400, body
            assert post(url, b"{not json", None) == 403  # the secret is checked first
            user = api.user(7101)
            assert forward(api, url, user.send("/start")) == 200
            user.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30)
            assert forward(api, url, user.press_button("Начать")) == 200
            msg = user.wait_for_text("Вопрос 1 из 14", timeout=20)
            assert forward(api, url, user.press_button(lambda t: t == "Аккаунт-менеджеры", message=msg)) == 200
            user.wait_for_text("Вопрос 2 из 14", timeout=20)

            def counted():
                ctype, samples = get_metrics(port)
                done = total(samples, "surveybot_answers_stored_total") >= 1 and \
                    total(samples, "surveybot_updates_handled_total") >= 3
                return done and (ctype, samples)

            deadline = time.monotonic() + 20
            while not (found := counted()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert found, get_metrics(port)
            ctype, samples = found
            assert ctype.startswith("text/plain; version=0.0.4")
            assert total(samples, "surveybot_updates_handled_total", kind="message") == 1
            assert total(samples, "surveybot_updates_handled_total", kind="callback") == 2
            assert total(samples, "surveybot_answers_stored_total") == 1
            calls = "surveybot_bot_api_calls_total"
            assert total(samples, calls, method="setWebhook", outcome="ok") == 1
            assert total(samples, calls, method="sendMessage", outcome="ok") >= 1
            assert total(samples, calls, method="answerCallbackQuery", outcome="ok") == 2
            assert total(samples, calls, outcome="failed") == 0
            assert total(samples, "surveybot_bot_api_retries_total") == 0
            assert total(samples, "surveybot_bot_api_throttled_total") == 0
            assert total(samples, "surveybot_reply_queue_wait_seconds_count") >= 2  # the replies were paced
            assert total(samples, "surveybot_db_transaction_seconds_count") >= 3
            assert total(samples, "surveybot_reminders_sent_total") == 0
            assert not api.calls_of("getUpdates")  # delivered by POST only
        finally:
            bot.proc.send_signal(signal.SIGTERM)  # what systemd and docker send
            with contextlib.suppress(subprocess.TimeoutExpired):
                bot.proc.wait(20)
            code = bot.stop()
    assert code == 0
    output = bot.output()
    assert "storage closed" in output  # post_shutdown ran
    assert " ERROR " not in output and " CRITICAL " not in output, output[-3000:]
    assert "Аккаунт-менеджеры" not in output  # a body is never logged


@pytest.mark.e2e
def test_an_update_not_applied_in_time_is_answered_503_and_its_redelivery_changes_nothing(tmp_path: Path):
    """Issue 24: Telegram is answered only once the update is applied; past WEBHOOK_ANSWER_SECONDS it is told 503
    (deliver it again) while the update goes on being applied, and the redelivery is a duplicate: one reply."""
    port = free_port()
    with FakeBotAPI() as api:
        bot = webhook_bot(tmp_path, api, port, LOG_LEVEL="INFO", WEBHOOK_ANSWER_SECONDS="1")
        bot.start()
        try:
            api.wait_call("setWebhook", timeout=60)
            wait_listening(port)
            url = f"http://127.0.0.1:{port}/telegram"
            user = api.user(7201)
            api.flood("sendMessage", times=3, retry_after=1)  # the reply waits some 3 s for Telegram's flood control
            update_id = user.send("/start")
            started = time.monotonic()
            assert forward(api, url, update_id) == 503
            assert time.monotonic() - started < 3  # answered at the deadline, not when the reply went out
            user.wait_for(lambda m: "Начать" in str(m.keyboard), timeout=30)  # it went on being applied
            assert forward(api, url, update_id) == 200  # Telegram's redelivery: already applied and answered
            time.sleep(0.5)
            assert len(api.messages(user.id)) == 1
        finally:
            code = bot.stop()
    assert code == 0
    output = bot.output()
    assert f"update {update_id} not applied within 1 s" in output
    assert "Traceback" not in output and " ERROR " not in output, output[-3000:]
