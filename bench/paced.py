"""Scenario `paced`: a rush of people inside Telegram's sending limits (issue 11).

The real ``surveybot run`` (long polling, rate limiter on, OUTGOING_MAX_RATE=30, SQLite) talks over HTTP
to tests/fake_botapi.py with ``limits=TelegramLimits()``: the double answers 429 past 30 messages/s per bot,
a burst of 10 then 1/s per chat, 20/min per group. N respondents arrive evenly over a ramp; each thinks
3–6 s (uniform) before every action (/start, «Начать», every tap, every typed answer) and waits for the
bot's reply before thinking again. Tap → reply latency is measured at the double: from the moment the update
is queued for the bot to the moment the bot's reply (the edited or new message in that chat) arrives.

Reported per run: p50/p95/p99 latency, actions served per second in the steady part (from the end of the
ramp until the first respondent finishes), rate-limited calls (send/edit) per respondent action, and the
429s the double answered. Optional: an admin asks for ``/stats charts`` (14 images) mid-run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, Row, log, report
from tests.fake_botapi import BotMessage, FakeBotAPI, TelegramLimits, message_cost

TOKEN = "123456789:PACED-bench-token_0123456789abcdefXYZ"
BUDGET = 30.0
ADMIN = 990_001
QUESTION = re.compile(r"Вопрос (\d+) из (\d+)")
RANGE = re.compile(r"от ([\d\u00a0 ]+) до ([\d\u00a0 ]+)")


class TimedAPI(FakeBotAPI):
    """The enforcing double, telling the bench's event loop when a chat changes and when."""

    def __init__(self, loop: asyncio.AbstractEventLoop, limits: TelegramLimits | None) -> None:
        super().__init__(TOKEN, limits=limits)
        self.loop = loop
        self.events: dict[int, asyncio.Event] = defaultdict(asyncio.Event)
        self.changed_at: dict[int, float] = {}
        self.last_seq: dict[int, int] = defaultdict(int)

    def _touch(self, msg: BotMessage) -> None:
        super()._touch(msg)
        self.changed_at[msg.chat_id] = time.monotonic()
        self.last_seq[msg.chat_id] = msg.seq
        self.loop.call_soon_threadsafe(self.events[msg.chat_id].set)


@dataclass
class Run:
    """The figures of one run."""

    users: int
    latencies: list[float] = field(default_factory=list)
    replies_at: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)
    actions: int = 0
    calls: int = 0
    hits: int = 0
    other_429: int = 0
    unanswered: int = 0
    steady: tuple[float, float] = (0.0, 0.0)
    charts_seconds: float | None = None
    hit_kinds: str = ""
    peak_per_s: int = 0
    steady_per_s: float = float("nan")

    def pct(self, p: float) -> float:
        """The p-th percentile of the latencies (nearest rank)."""
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs)) - 1))] if xs else float("nan")

    @property
    def served_per_s(self) -> float:
        """Respondent actions answered per second in the steady part of the run."""
        a, b = self.steady
        return sum(1 for t in self.replies_at if a <= t <= b) / (b - a) if b > a else float("nan")

    def line(self) -> str:
        """One log line."""
        return (f"N={self.users}: p50 {self.pct(50):.3f} s, p95 {self.pct(95):.3f} s, p99 {self.pct(99):.3f} s, "
                f"max {max(self.latencies, default=0):.2f} s; {self.served_per_s:.1f} actions/s served "
                f"(steady {self.steady[0]:.0f}–{self.steady[1]:.0f} s); {self.calls / max(1, self.actions):.2f} "
                f"calls/action; 429: {self.hits} (limits{self.hit_kinds}) + {self.other_429}; unanswered {self.unanswered}"
                + (f"; charts delivered in {self.charts_seconds:.1f} s" if self.charts_seconds else ""))


def _pick(rng: random.Random, msg: BotMessage) -> tuple[str, str] | None:
    """What a respondent does with the screen: ('press', data) or ('send', text); None when finished."""
    text = msg.content
    buttons = [d for row in msg.keyboard for _, d in row if d]
    if any(d.endswith(":begin") for d in buttons):
        return "press", next(d for d in buttons if d.endswith(":begin"))
    if QUESTION.search(text) is None:
        return None
    options = [d for d in buttons if ":o:" in d]
    toggles = [(label, d) for row in msg.keyboard for label, d in row if d and ":t:" in d]
    if options:
        return "press", rng.choice(options)
    if toggles:
        chosen = sum(1 for label, _ in toggles if label.startswith("✅"))
        if chosen >= 1 + (hash(msg.chat_id) % 2):
            return "press", next(d for d in buttons if d.endswith(":d"))
        return "press", rng.choice([d for label, d in toggles if not label.startswith("✅")])
    if m := RANGE.search(text):
        lo, hi = (int(re.sub(r"\D", "", g)) for g in m.groups())
        return "send", str(rng.randint(lo, min(hi, lo + 200)))
    return "send", "Свой ответ"


async def respondent(api: TimedAPI, run: Run, uid: int, delay: float, t0: float, think: tuple[float, float],
                     wait: float) -> None:
    """Arrive, then think, act and wait for the reply until the thank-you."""
    rng = random.Random(uid)
    user = api.user(uid)
    event = api.events[uid]
    await asyncio.sleep(delay)
    action: tuple[str, str] | None = ("send", "/start")
    while action is not None:
        await asyncio.sleep(rng.uniform(*think))
        event.clear()
        mark = api._stamp
        sent = time.monotonic()
        if action[0] == "send":
            user.send(action[1])
        else:
            newest = next(m for m in reversed(user.messages()) if m.keyboard)
            user.press(newest.message_id, action[1])
        run.actions += 1
        try:
            while api.last_seq[uid] <= mark:
                await asyncio.wait_for(event.wait(), wait)
                event.clear()
        except TimeoutError:
            run.unanswered += 1
            return
        replied = api.changed_at[uid]
        run.latencies.append(replied - sent)
        run.replies_at.append(replied - t0)
        msg = user.messages()[-1]
        if "Спасибо" in msg.content:
            run.done_at.append(time.monotonic() - t0)
            return
        keyboard_msg = next((m for m in reversed(user.messages()) if m.keyboard), msg)
        action = _pick(rng, keyboard_msg if not QUESTION.search(msg.content) or not msg.keyboard else msg)
        if action is None and "Спасибо" not in msg.content:
            action = ("send", "/start")


def start_bot(tmp: Path, api_url: str, rate: float) -> subprocess.Popen:
    """The real `surveybot run` as a subprocess."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url,
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'paced.db'}", "OUTGOING_MAX_RATE": str(rate),
           "ADMIN_IDS": str(ADMIN), "LOG_LEVEL": "WARNING"}
    env.pop("SURVEY_FILE", None)
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp, env=env,
                            stdout=(tmp / "bot.out").open("wb"), stderr=subprocess.STDOUT)


async def one_run(users: int, ramp: float, *, charts_at: float | None = None, rate: float = BUDGET,
                  limits: bool = True, think: tuple[float, float] = (3.0, 6.0)) -> Run:
    """One bot process, one double, `users` respondents."""
    loop = asyncio.get_running_loop()
    run = Run(users)
    with tempfile.TemporaryDirectory(prefix="bench-paced-") as tmp, \
            TimedAPI(loop, TelegramLimits() if limits else None) as api:
        api._server.handle_error = lambda request, address: None
        bot = start_bot(Path(tmp), api.url, rate)
        try:
            while not api.calls_of("getUpdates"):
                if bot.poll() is not None:
                    raise SystemExit("the bot exited:\n" + (Path(tmp) / "bot.out").read_text()[-3000:])
                await asyncio.sleep(0.05)
            t0 = time.monotonic()
            tasks = [respondent(api, run, 1_000_000 + i, ramp * i / users, t0, think, wait=60.0)
                     for i in range(users)]
            if charts_at is not None:
                tasks.append(admin_charts(api, run, charts_at))
            await asyncio.gather(*tasks)
            first_done = min(run.done_at, default=0.0)
            run.steady = (ramp, first_done) if first_done > ramp + 5 else (0.0, max(run.replies_at, default=0.0))
        finally:
            bot.send_signal(signal.SIGINT)
            try:
                bot.wait(20)
            except subprocess.TimeoutExpired:
                bot.kill()
        respondents = set(range(1_000_000, 1_000_000 + users))
        with api._lock:
            for c in api.calls:
                if c.params.get("chat_id") in respondents and c.status == 200:
                    run.calls += message_cost(c.method, c.params)
            run.hits = len(api.limit_hits)
            run.hit_kinds = "".join(f", {k}: {sum(h.limit == k for h in api.limit_hits)}"
                                    for k in sorted({h.limit for h in api.limit_hits}))
            run.other_429 = sum(1 for c in api.calls if c.status == 429) - run.hits
        out = (Path(tmp) / "bot.out").read_text(errors="replace")
        if "Traceback" in out:
            log("bot output had a traceback:\n" + out[-2000:])
    log(run.line())
    return run


async def admin_charts(api: TimedAPI, run: Run, at: float) -> None:
    """An admin asks for /stats charts `at` seconds into the run; time until all 14 images arrived."""
    await asyncio.sleep(at)
    admin = api.user(ADMIN)
    start = time.monotonic()
    admin.send("/stats charts")
    while sum(1 for m in admin.messages() if m.kind == "photo") < 14 and time.monotonic() - start < 240:
        await asyncio.sleep(0.2)
    run.charts_seconds = time.monotonic() - start


async def two_worker_run(users: int, ramp: float, pg_url: str, *, think: tuple[float, float] = (3.0, 6.0)) -> Run:
    """Two `surveybot run --webhook` workers on one PostgreSQL database behind a round-robin forwarder,
    sharing the 30/s budget; updates reach them as Telegram's webhook would (tests/test_two_workers.py)."""
    from tests import pg, test_two_workers as tw

    class TimedWebhookAPI(tw.WebhookTelegram):
        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            super().__init__(tw.TEST_TOKEN, loop, limits=TelegramLimits())
            self.changed_at: dict[int, float] = {}
            self.last_seq: dict[int, int] = defaultdict(int)

        def _touch(self, msg: BotMessage) -> None:
            super()._touch(msg)
            self.changed_at[msg.chat_id] = time.monotonic()
            self.last_seq[msg.chat_id] = msg.seq

    loop = asyncio.get_running_loop()
    run = Run(users)
    os.environ["TEST_POSTGRES_URL"] = pg_url
    async with pg.fresh_database() as db_url:
        with tempfile.TemporaryDirectory(prefix="bench-paced2-") as tmp:
            api = TimedWebhookAPI(loop).start()
            ports = [tw.free_port(), tw.free_port()]
            seen: dict[int, set[int]] = defaultdict(set)
            proxy = await tw.forwarder([f"http://127.0.0.1:{p}" for p in ports], seen)
            public = f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}/telegram"
            workers: list[subprocess.Popen] = []
            courier = None
            try:
                workers = [tw.start_worker(Path(tmp), n, port, api.url, db_url, public, rate=BUDGET)
                           for n, port in enumerate(ports)]
                for n, (port, proc) in enumerate(zip(ports, workers)):
                    await tw.wait_listening(port, proc, Path(tmp) / f"worker{n}.log")
                stats: dict = defaultdict(int)
                courier = asyncio.create_task(tw.deliver(api, public, stats))
                t0, wall0 = time.monotonic(), time.time()
                await asyncio.gather(*(respondent(api, run, 1_000_000 + i, ramp * i / users, t0, think, wait=60.0)
                                       for i in range(users)))
                first_done = min(run.done_at, default=0.0)
                run.steady = (ramp, first_done) if first_done > ramp + 5 else (0.0, max(run.replies_at, default=0.0))
            finally:
                if courier:
                    courier.cancel()
                    await asyncio.gather(courier, return_exceptions=True)
                for proc in workers:
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
            respondents = set(range(1_000_000, 1_000_000 + users))
            per_second: dict[int, int] = defaultdict(int)
            with api._lock:
                for c in api.calls:
                    cost = message_cost(c.method, c.params) if c.status == 200 else 0
                    if c.params.get("chat_id") in respondents:
                        run.calls += cost
                    if cost:
                        per_second[int(c.time)] += cost
                run.hits = len(api.limit_hits)
                run.other_429 = sum(1 for c in api.calls if c.status == 429) - run.hits
            a, b = run.steady
            steady = [per_second.get(int(wall0) + k, 0) for k in range(int(a) + 1, int(b))]
            run.peak_per_s = max(per_second.values(), default=0)
            run.steady_per_s = sum(steady) / len(steady) if steady else float("nan")
            for n in range(len(ports)):
                out = (Path(tmp) / f"worker{n}.log").read_text(errors="replace")
                if "Traceback" in out:
                    log(f"worker {n} had a traceback:\n" + out[-2000:])
    log(run.line() + f"; combined send rate steady {run.steady_per_s:.1f}/s, busiest second {run.peak_per_s}")
    return run


def rows_for(base: Run, saturation: list[Run], charts: Run | None) -> list[Row]:
    """The figures beside their targets."""
    rows = [
        Row("paced", f"p95 tap→reply, {base.users} respondents (p50 {base.pct(50):.2f}, p99 {base.pct(99):.2f} s)",
            base.pct(95), "s", "≤ 1.0 s", base.pct(95) <= 1.0),
        Row("paced", f"429 answered, {base.users} respondents", base.hits + base.other_429, "", "0",
            base.hits + base.other_429 == 0),
        Row("paced", f"message calls per respondent action, {base.users} respondents", base.calls / max(1, base.actions),
            "", "≤ 1", base.calls / max(1, base.actions) <= 1.0),
    ]
    if saturation:
        sat = next((r for r in saturation if r.pct(95) > 2.0), saturation[-1])
        rows.append(Row("paced", f"actions/s served at saturation (N={sat.users}, p95 {sat.pct(95):.2f} s)",
                        sat.served_per_s, "/s", f"≥ {0.9 * BUDGET:.0f}/s (0.9 × budget)",
                        sat.served_per_s >= 0.9 * BUDGET, baseline=BUDGET, ratio=sat.served_per_s / BUDGET))
        rows.append(Row("paced", f"429 answered at saturation (N={sat.users})", sat.hits + sat.other_429, "", "0",
                        sat.hits + sat.other_429 == 0))
    if charts is not None:
        grew = charts.pct(95) - base.pct(95)
        rows.append(Row("paced", f"p95 growth with /stats charts mid-run (charts in {charts.charts_seconds or 0:.1f} s)",
                        grew, "s", "≤ 0.3 s", grew <= 0.3, baseline=base.pct(95)))
    return rows


async def main_workers(args: argparse.Namespace) -> list[Row]:
    """Issue 15: two workers sharing the budget — p95 at 120 respondents, use of the budget when saturated."""
    pg_url = args.pg_url or os.environ.get("TEST_POSTGRES_URL")
    if not pg_url:
        raise SystemExit("--workers 2 needs PostgreSQL: --pg-url URL or TEST_POSTGRES_URL (scripts/pg-start)")
    base = await two_worker_run(args.users, args.ramp, pg_url, think=args.think)
    sat = await two_worker_run(args.saturate[-1] if args.saturate else 180, args.ramp, pg_url, think=args.think)
    return [
        Row("paced 2 workers", f"p95 tap→reply, {base.users} respondents over 2 workers (p50 {base.pct(50):.2f} s)",
            base.pct(95), "s", "≤ 1.0 s", base.pct(95) <= 1.0),
        Row("paced 2 workers", f"combined sends/s, steady part, N={sat.users} (busiest second {sat.peak_per_s})",
            sat.steady_per_s, "/s", f"≥ {0.8 * BUDGET:.0f}/s (0.8 × budget), ≤ {BUDGET:.0f}",
            0.8 * BUDGET <= sat.steady_per_s <= BUDGET, baseline=BUDGET, ratio=sat.steady_per_s / BUDGET),
        Row("paced 2 workers", "429 answered (both runs)", base.hits + base.other_429 + sat.hits + sat.other_429,
            "", "0", base.hits + base.other_429 + sat.hits + sat.other_429 == 0),
    ] + ([Row("paced 2 workers", "respondents left without a reply for 60 s", base.unanswered + sat.unanswered,
              "", "0", False)] if base.unanswered + sat.unanswered else [])


async def main_async(args: argparse.Namespace) -> list[Row]:
    """The runs the figures need, one after another."""
    if args.workers == 2:
        return await main_workers(args)
    if args.baseline:  # the bot's own speed on this machine now: no pacing, no limits (Telegram would refuse this)
        free = await one_run(args.users, args.ramp, think=args.think, rate=0, limits=False)
        log(f"baseline without pacing or limits: p95 {free.pct(95):.3f} s, {free.hits} limit hits")
    base = await one_run(args.users, args.ramp, think=args.think)
    charts = await one_run(args.users, args.ramp, charts_at=args.ramp + 10, think=args.think) if args.charts else None
    saturation = []
    for n in args.saturate:
        saturation.append(await one_run(n, args.ramp, think=args.think))
        if saturation[-1].pct(95) > 2.0:
            break
    rows = rows_for(base, saturation, charts)
    if args.baseline:
        rows.insert(1, Row("paced", f"p95 without pacing or limits, {free.users} respondents (the machine now)",
                           free.pct(95), "s", "context", True, baseline=None, ratio=None))
    lost = sum(r.unanswered for r in [base, charts, *saturation] if r)
    if lost:
        rows.append(Row("paced", "respondents left without a reply for 60 s", lost, "", "0", False))
    return rows


def main() -> None:
    """Command line: --users, --ramp, --saturate N,N,…, --no-charts."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=120)
    parser.add_argument("--ramp", type=float, default=30.0)
    parser.add_argument("--saturate", type=lambda s: [int(x) for x in s.split(",") if x], default=[150, 180, 210])
    parser.add_argument("--no-charts", dest="charts", action="store_false")
    parser.add_argument("--baseline", action="store_true", help="first the same N with pacing and limits off")
    parser.add_argument("--workers", type=int, choices=(1, 2), default=1,
                        help="2: two webhook workers on PostgreSQL sharing the budget (issue 15)")
    parser.add_argument("--pg-url", help="PostgreSQL server for --workers 2 (default: TEST_POSTGRES_URL)")
    parser.add_argument("--think", type=lambda s: tuple(float(x) for x in s.split(",")), default=(3.0, 6.0),
                        help="seconds a respondent thinks before each action: LO,HI (default 3,6)")
    args = parser.parse_args()
    report(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
