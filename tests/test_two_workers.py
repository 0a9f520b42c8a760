"""Two webhook bot processes (`surveybot run --webhook`) on one PostgreSQL database behind a round-robin forwarder.

Telegram is played by the fake Bot API (tests/fake_botapi.py), changed to deliver updates to a webhook
the way Telegram does: POST with the secret token header, at most setWebhook's ``max_connections`` at once,
retried until answered 200, and now and then delivered twice. The forwarder stands for the reverse proxy and
alternates between the workers per request (skipping a worker that stopped answering), so one respondent's
updates reach both processes. Every respondent's stored answers must be exactly the ones they gave: none lost,
none doubled — also when one worker is SIGKILLed in the middle of the rush (issue 24): a worker answers only
once the update is applied, so whatever it dies with is delivered again, and every respondent finishes without
tapping anything twice.
"""

from __future__ import annotations

import asyncio
import bisect
import copy
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from survey.loader import load_survey
from survey.model import QuestionType
from tests import pg
from tests.conftest import ROOT, TEST_TOKEN
from tests.dbcheck import fetch
from tests.fake_botapi import HOST, BotMessage, FakeBotAPI, TelegramLimits, _Handler, _Server, message_cost

RESPONDENTS = int(os.environ.get("TWO_WORKER_RESPONDENTS", "300"))
DUPLICATE_RATE = 0.05  # share of updates Telegram delivers twice (as after a lost acknowledgement: after the 200)
SECRET = "two-workers-secret_0123456789"
QUESTION = re.compile(r"Вопрос (\d+) из (\d+)")
FINISHED = "Спасибо за участие"
# The bot's sending budget, enforced by the fake Telegram as its per-bot limit (30 in production; 60 here keeps
# 300 respondents to a couple of minutes). Two workers that did not share it would send up to twice as much.
BUDGET = 60
WAIT = 120.0  # seconds a respondent waits for the bot before the test fails (a hang, not a timing check)

pytestmark = pytest.mark.slow


class WebhookTelegram(FakeBotAPI):
    """The fake Bot API, but updates go out to a webhook instead of waiting for getUpdates."""

    def __init__(self, token: str, loop: asyncio.AbstractEventLoop, limits: TelegramLimits | None = None) -> None:
        super().__init__(token, limits=limits)
        self.loop = loop
        self.outbox: asyncio.Queue[dict] = asyncio.Queue()
        self.events: dict[int, asyncio.Event] = defaultdict(asyncio.Event)

    def start(self) -> WebhookTelegram:
        self._server = _Server((HOST, 0), _Handler)
        self._server.api = self
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-botapi", daemon=True).start()
        return self

    def inject_raw(self, update: dict) -> int:
        with self._cond:
            update = dict(update)
            update.setdefault("update_id", next(self._update_ids))
            self._all_updates[update["update_id"]] = update
        self.loop.call_soon_threadsafe(self.outbox.put_nowait, copy.deepcopy(update))
        return update["update_id"]

    def _touch(self, msg: BotMessage) -> None:
        super()._touch(msg)
        self.loop.call_soon_threadsafe(self.events[msg.chat_id].set)

    def newest(self, chat_id: int) -> BotMessage | None:
        """The newest bot message in a chat (message ids are per chat, shared with the user's)."""
        with self._lock:
            for mid in range(self._msg_ids.get(chat_id, 0), 0, -1):
                msg = self._messages.get((chat_id, mid))
                if msg is not None and not msg.deleted:
                    return msg
        return None


async def until(api: WebhookTelegram, chat_id: int, check) -> BotMessage:
    """Wait until check() returns a message; woken by every change in the chat."""
    event = api.events[chat_id]
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        event.clear()
        found = check()
        if found is not None:
            return found
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(event.wait(), max(remaining, 0.01))
        except TimeoutError:
            raise AssertionError(f"respondent {chat_id} got no answer: {api.user(chat_id)._dump()}") from None


class MiniClient:
    """HTTP/1.1 POSTs with kept-alive connections to one 127.0.0.1 server.

    httpx would do, but it retries a failing `import sniffio` on every request, and this test process
    (fake Telegram, forwarder and 300 respondents) is the bottleneck of the whole run.
    """

    def __init__(self, base: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        reader, writer = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        try:
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
                         .encode("latin-1") + body)
            lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            fields = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if h)}
            payload = await reader.readexactly(int(fields.get("content-length", "0")))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            writer.close()
            raise OSError(f"request to {self.host}:{self.port} failed: {exc!r}") from exc
        if fields.get("connection", "").lower() == "close":
            writer.close()
        else:
            self.idle.append((reader, writer))
        return status, payload

    def close(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def callback(msg: BotMessage, prefix: str) -> list[str]:
    """Callback data on a message's keyboard matching a kind, e.g. 'o' for options."""
    return [cb for row in msg.keyboard for _, cb in row if cb and re.fullmatch(rf"a:\d+:{prefix}(:.*)?", cb)]


async def respondent(api: WebhookTelegram, survey, uid: int, rng: random.Random) -> dict[str, tuple]:
    """One person completing the questionnaire; returns what they answered, by question id."""
    by_number = {survey.number(q.id): q for q in survey.questions}
    user = api.user(uid)
    user.send("/start")
    menu = await until(api, uid, lambda: next((m for m in [api.newest(uid)] if m and any(
        cb and cb.endswith(":begin") for row in m.keyboard for _, cb in row)), None))
    mark = api._stamp
    user.press(menu.message_id, next(cb for row in menu.keyboard for _, cb in row if cb and cb.endswith(":begin")))

    def screen_after(mark: int, answered_number: int = 0):
        # The reply is the message changed last after the action that shows a later question (or the thank-you):
        # a tap edits the tapped message into the next question, a typed answer gets a new message. (An update
        # delivered again after its worker died is answered again with the screen it led to, so the question just
        # answered may show once more for a moment before the reply to the answer comes: that is not the reply.)
        def check() -> BotMessage | None:
            shown = [m for m in api.messages(uid) if m.seq > mark and (FINISHED in m.content or (
                (number := QUESTION.search(m.content)) and m.keyboard and int(number[1]) > answered_number))]
            return max(shown, key=lambda m: m.seq) if shown else None
        return check

    screen = await until(api, uid, screen_after(mark))
    answered: dict[str, tuple] = {}
    while FINISHED not in screen.content:
        q = by_number[int(QUESTION.search(screen.content)[1])]
        mark = api._stamp
        if q.type in (QuestionType.SINGLE, QuestionType.SCALE):
            data = rng.choice(callback(screen, "o"))
            value = data.rsplit(":", 1)[1]
            answered[q.id] = ("number", int(value)) if q.type == QuestionType.SCALE else ("choices", (value,))
            user.press(screen.message_id, data)
        elif q.type == QuestionType.MULTIPLE:
            options = [cb.rsplit(":", 1)[1] for cb in callback(screen, "t")]
            least, most = q.min_selected or 1, min(q.max_selected or len(options), len(options), 3)
            chosen = rng.sample(options, rng.randint(least, max(least, most)))
            for option in chosen:
                before = screen.keyboard
                user.press(screen.message_id, next(cb for cb in callback(screen, "t") if cb.endswith(f":{option}")))
                await until(api, uid, lambda: screen if screen.keyboard != before else None)  # noqa: B023 - awaited in this iteration
            answered[q.id] = ("choices", tuple(o for o in q.option_ids if o in chosen))
            mark = api._stamp
            user.press(screen.message_id, callback(screen, "d")[0])
        elif q.type == QuestionType.NUMBER:
            value = rng.randint(q.min if q.min is not None else 0, q.max if q.max is not None else 10_000)
            answered[q.id] = ("number", value)
            user.send(str(value))
        else:
            text = f"ответ {uid} {rng.randint(0, 999)}"
            answered[q.id] = ("text", text)
            user.send(text)
        screen = await until(api, uid, screen_after(mark, survey.number(q.id)))
    return answered


async def deliver(api: WebhookTelegram, url: str, stats: Counter) -> None:
    """Telegram's side of a webhook: POST each update until it is answered 200, never more than setWebhook's
    max_connections requests at once (Telegram's default, 40, if it was not given); some of them twice, as when
    the 200 was lost on its way back (the second delivery comes up to 0.3 s after the first was answered)."""
    rng = random.Random(66)
    registered = api.calls_of("setWebhook")[-1].params
    limit = asyncio.Semaphore(int(registered.get("max_connections", 40)))
    stats["max_connections"] = int(registered.get("max_connections", 40))
    base, path = url.rsplit("/", 1)
    client = MiniClient(base)
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
    try:

        async def post(update: dict, again: float | None = None) -> None:
            body = json.dumps(update).encode()
            for attempt in range(2 if again is not None else 1):
                if attempt:  # Telegram did not see the 200 (lost on its way): it delivers the update once more
                    await asyncio.sleep(again)
                async with limit:
                    for _ in range(100):
                        try:
                            status, _ = await client.post(f"/{path}", body, headers)
                            if status == 200:
                                stats["delivered"] += 1
                                break
                            stats[f"http {status}"] += 1
                        except OSError:
                            stats["connection errors"] += 1
                        await asyncio.sleep(0.1)
                    else:
                        stats["given up"] += 1

        tasks: set[asyncio.Task] = set()
        try:
            while True:
                update = await api.outbox.get()
                again = None
                if rng.random() < DUPLICATE_RATE:
                    stats["duplicates"] += 1
                    again = rng.uniform(0, 0.3)
                task = asyncio.create_task(post(update, again))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        client.close()


async def forwarder(backends: list[str], seen: dict[int, set[int]]) -> asyncio.Server:
    """A minimal reverse proxy on 127.0.0.1: each request goes to the next backend in turn; a failed request is
    answered 502 (not sent elsewhere), and a backend that no longer accepts connections is skipped from then on."""
    turn = itertools.count()
    clients = [MiniClient(b) for b in backends]
    dead: set[int] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, path, _ = head[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                i = next(turn) % len(backends)
                while i in dead and len(dead) < len(backends):
                    i = next(turn) % len(backends)
                update = json.loads(body or b"{}")
                who = (update.get("message") or update.get("callback_query") or {}).get("from", {}).get("id")
                seen[who].add(i)
                keep = {k: headers[k] for k in ("content-type", "x-telegram-bot-api-secret-token") if k in headers}
                try:
                    status, payload = await clients[i].post(path, body, keep)
                except OSError:  # a kept-alive connection the worker closed, or the worker is gone
                    status, payload = 502, b""
                    try:
                        _, probe = await asyncio.open_connection(clients[i].host, clients[i].port)
                        probe.close()
                    except OSError:
                        dead.add(i)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    server.clients = clients  # type: ignore[attr-defined]
    return server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(tmp_path: Path, n: int, port: int, api_url: str, db_url: str, public_url: str,
                 rate: float = BUDGET) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BOT_TOKEN", "ADMIN_IDS")}
    env.update(PYTHONPATH=str(ROOT), BOT_TOKEN=TEST_TOKEN, TELEGRAM_API_URL=api_url, DATABASE_URL=db_url,
               WEBHOOK_SECRET=SECRET, WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(port), WEBHOOK_URL=public_url,
               WEBHOOK_PATH="telegram", LOG_LEVEL="WARNING", OUTGOING_MAX_RATE=str(rate))
    log = open(tmp_path / f"worker{n}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--webhook"], cwd=tmp_path, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


async def wait_listening(port: int, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}:\n{log.read_text()}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"worker did not listen on {port}:\n{log.read_text()}")


@pytest.fixture
async def pg_url():
    async with pg.fresh_database() as url:
        yield url


async def rush(pg_url: str, tmp_path: Path, respondents: int, kill_after: int | None = None):
    """``respondents`` people answer at once through two workers; with ``kill_after``, worker 1 is SIGKILLed once
    that many updates were answered 200. Returns (uids, what each answered, delivery stats, seen, api)."""
    survey = load_survey()
    api = WebhookTelegram(TEST_TOKEN, asyncio.get_running_loop(),
                          limits=TelegramLimits(per_bot=BUDGET, per_bot_burst=BUDGET)).start()
    ports = [free_port(), free_port()]
    seen: dict[int, set[int]] = defaultdict(set)
    proxy = await forwarder([f"http://127.0.0.1:{p}" for p in ports], seen)
    proxy_url = f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    workers = [start_worker(tmp_path, n, port, api.url, pg_url, f"{proxy_url}/telegram")
               for n, port in enumerate(ports)]
    stats: Counter = Counter()
    courier = killer = None

    async def kill() -> None:
        while stats["delivered"] < kill_after:
            await asyncio.sleep(0.05)
        workers[1].send_signal(signal.SIGKILL)
        stats["killed after"] = stats["delivered"]

    try:
        # Both start at once on an empty database: their migrations must take turns.
        for n, (port, proc) in enumerate(zip(ports, workers)):
            await wait_listening(port, proc, tmp_path / f"worker{n}.log")
        await asyncio.to_thread(api.wait_call, "setWebhook", timeout=30)
        courier = asyncio.create_task(deliver(api, f"{proxy_url}/telegram", stats))
        if kill_after is not None:
            killer = asyncio.create_task(kill())
        rng = random.Random(300)
        uids = [700_000 + i for i in range(respondents)]
        given = await asyncio.gather(*(respondent(api, survey, uid, random.Random(rng.random())) for uid in uids))
    finally:
        for task in (courier, killer):
            if task:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in workers:
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
        proxy.close()
        for client in proxy.clients:  # type: ignore[attr-defined]
            client.close()
        api.stop()
    return uids, given, stats, seen, api


def busiest_second(api: WebhookTelegram) -> int:
    """The most chat-bound calls (messages sent or edited) Telegram received within any sliding second."""
    times = sorted(c.time for c in api.calls if message_cost(c.method, c.params))
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


def check_stored(pg_url: str, uids: list[int], given: list[dict[str, tuple]]) -> int:
    """Every respondent's stored answers are exactly the ones given, each response completed; the answer count."""
    rows = fetch(pg_url, "SELECT p.user_key, a.question_id, a.choices, a.number, a.text, a.other_text, a.skipped "
                               "FROM answers a JOIN responses r ON r.id = a.response_id "
                               "JOIN respondents p ON p.id = r.respondent_id")
    stored: dict[int, dict[str, tuple]] = defaultdict(dict)
    for row in rows:
        kind_value = (("choices", tuple(row["choices"].split(","))) if row["choices"] else
                      ("number", row["number"]) if row["number"] is not None else ("text", row["text"]))
        assert row["question_id"] not in stored[int(row["user_key"])], "two rows for one question"
        stored[int(row["user_key"])][row["question_id"]] = kind_value
    for uid, answers in zip(uids, given):
        assert stored[uid] == answers, uid
    choices = fetch(pg_url, "SELECT p.user_key, c.question_id, c.option_id FROM answer_choices c "
                                  "JOIN responses r ON r.id = c.response_id JOIN respondents p ON p.id = r.respondent_id")
    chosen: dict[tuple[int, str], set[str]] = defaultdict(set)
    for row in choices:
        chosen[(int(row["user_key"]), row["question_id"])].add(row["option_id"])
    assert chosen == {(uid, qid): set(v[1]) for uid, a in zip(uids, given) for qid, v in a.items() if v[0] == "choices"}
    status = fetch(pg_url, "SELECT status, COUNT(*) AS n FROM responses GROUP BY status")
    assert status == [{"status": "completed", "n": len(uids)}]
    assert len(fetch(pg_url, "SELECT id FROM respondents")) == len(uids)
    return len(rows)


async def test_two_webhook_workers_share_one_database(pg_url, tmp_path):
    uids, given, stats, seen, api = await rush(pg_url, tmp_path, RESPONDENTS)
    answers = check_stored(pg_url, uids, given)
    # Both processes worked, one respondent's updates went to both, and redeliveries happened.
    assert sum(len(w) == 2 for uid, w in seen.items() if uid in set(uids)) >= RESPONDENTS * 0.9, seen
    assert stats["duplicates"] > 0 and stats["given up"] == 0, stats
    assert stats["max_connections"] == 40  # WEBHOOK_MAX_CONNECTIONS, registered by setWebhook
    # The workers shared one budget and kept every chat's pace: Telegram never had to say "retry after".
    assert api.limit_hits == [], api.limit_hits[:5]
    assert not [c for c in api.calls if c.status == 429]
    # The sliding-second bound of the shared schedule (33 at 30/s) is asserted in tests/test_shared_budget.py; here
    # the busiest second is printed only: the double stamps calls when its server thread gets to them, and a
    # loaded machine bunches them (81 seen once at a budget of 60 — open in issue 24's note).
    for n in range(2):
        log = (tmp_path / f"worker{n}.log").read_text()
        assert "Traceback" not in log and " ERROR " not in log, log[-5000:]
    print(f"\n{RESPONDENTS} respondents, {answers} answers; deliveries: {dict(stats)}; "
          f"busiest second: {busiest_second(api)} messages (budget {BUDGET}/s)")


async def test_a_worker_killed_in_a_rush_loses_no_tap(pg_url, tmp_path):
    """Issue 24: 200 respondents at once, worker 1 SIGKILLed in the middle. Each respondent taps every button once
    and waits (``respondent`` never taps again): whatever the killed worker had received but not applied was not
    answered 200, so Telegram delivered it again to the other worker; what it had applied but not yet answered
    comes again as a duplicate, answered with where the respondent stands. Every answer is stored exactly once."""
    respondents = 200
    uids, given, stats, seen, api = await rush(pg_url, tmp_path, respondents, kill_after=respondents * 6)
    answers = check_stored(pg_url, uids, given)
    assert stats["killed after"] >= respondents * 6 and stats["given up"] == 0, stats
    # the kill cost requests in flight: Telegram was answered 502 (by the proxy) and delivered them again
    assert stats["http 502"] + stats["connection errors"] > 0, stats
    log = (tmp_path / "worker0.log").read_text()  # the survivor
    assert "Traceback" not in log and " ERROR " not in log, log[-5000:]
    print(f"\n{respondents} respondents, {answers} answers, one worker killed; deliveries: {dict(stats)}; "
          f"busiest second: {busiest_second(api)} messages (budget {BUDGET}/s)")
