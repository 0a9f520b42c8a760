"""Scenario `soak`: the real bot for a long time under a steady load, watched for leaks (issue 24).

``python -m bench soak`` (default 10 minutes; ``--minutes 60`` for the long run) starts the real
``surveybot run`` (long polling, SQLite, the rate limiter on, reminders on) against the limit-enforcing Bot API
double (tests/fake_botapi.py) and keeps it busy:

- a steady stream of paced respondents: one arrives every ``1/--arrivals`` seconds, thinks 2–5 s before each
  action and waits for the bot's reply (bench/paced.py's respondent); one in four walks away after two
  answers, so reminders fall due (``REMIND_AFTER=40s``, two at most) and go out;
- an admin asks for ``/stats`` every minute and ``/export`` (CSV and XLSX) every three minutes.

Every ``--every`` seconds (10) it samples the bot process: RSS and threads (``/proc/PID/status``), open file
descriptors (``/proc/PID/fd``), the descriptors open on the database files (SQLite connections: the ``.db``
file, one descriptor per connection), and from the health file the process writes (bot/background/monitor.py
``process_figures``) its asyncio tasks and the connections its pool holds. After the warm-up
(``--warmup`` minutes, default 2) the growth of each is the median of the last minute's samples minus the
median of the first minute after the warm-up; a least-squares slope per hour is shown beside it.

Targets: RSS growth ≤ 10 MB; open files, database connections and tasks flat (growth ≤ 2, allowing for the
one or two in flight at the moment of a sample). Counts are compared by the floor of each minute (its minimum):
how many tasks are alive depends on how many respondents are mid-tap, a leak raises the floor. Last, the
process idle before the load and idle again after it (the load stopped, the last reminders out): the same tasks
and files.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import ROOT, Row, log, report, rss_mb
from bench.paced import ADMIN, QUESTION, TOKEN, TimedAPI, _pick
from survey.loader import load_survey
from tests.fake_botapi import TelegramLimits

RSS_TARGET_MB = 10.0
FLAT = 2  # open files, connections or tasks more at the end than after the warm-up: still "flat"
STATS_EVERY, EXPORT_EVERY = 60.0, 180.0
IDLE_AFTER = 150.0  # seconds from the end of the load to the idle sample: the last reminders are out by then


@dataclass
class Sample:
    """One reading of the bot process."""

    t: float  # seconds since the load started
    rss_mb: float
    fds: int
    threads: int
    db_fds: int
    tasks: int
    pool_out: int
    pool_in: int
    fd_kinds: dict[str, int] = field(default_factory=dict)  # socket, database (-wal, -shm), pipe, anon_inode, file

    @property
    def pool(self) -> int:
        """Connections the pool holds, idle or in use (−1 when the health file had no figures yet)."""
        return self.pool_in + self.pool_out if self.pool_in >= 0 else -1


@dataclass
class Load:
    """What the load did, to show the bot was really busy."""

    arrived: int = 0
    finished: int = 0
    walked_away: int = 0
    actions: int = 0
    unanswered: int = 0
    stats_asked: int = 0
    exports_asked: int = 0
    latencies: list[float] = field(default_factory=list)


def daytime_zone(now: float | None = None) -> str:
    """A fixed-offset IANA zone where it is early afternoon now, so the reminders' quiet hours (22:00–09:00
    local) never hold them back whenever the soak runs."""
    hour = time.gmtime(now).tm_hour
    offset = (13 - hour + 12) % 24 - 12  # within −12…+11 hours of UTC
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")  # POSIX sign: Etc/GMT-3 is UTC+3


def start_bot(tmp: Path, api_url: str) -> subprocess.Popen:
    """The real `surveybot run`, reminders on, the health file rewritten every 5 s."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": api_url,
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'soak.db'}", "OUTGOING_MAX_RATE": "30",
           "ADMIN_IDS": str(ADMIN), "LOG_LEVEL": "WARNING", "HEALTH_FILE": str(tmp / "health.json"),
           "HEALTH_INTERVAL_SECONDS": "5", "REMIND_AFTER": "40s", "REMIND_MAX": "2", "REMIND_CHECK_EVERY": "5s",
           "TIMEZONE": daytime_zone()}
    env.pop("SURVEY_FILE", None)
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp, env=env,
                            stdout=(tmp / "bot.out").open("wb"), stderr=subprocess.STDOUT)


def sample(pid: int, tmp: Path, t: float) -> Sample:
    """Read the process from outside (/proc) and its own figures from the health file."""
    rss, _ = rss_mb(pid)
    threads = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("Threads:"))
    fds = db_fds = 0
    kinds: dict[str, int] = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed between listing and reading
            continue
        fds += 1
        db_fds += target.endswith("soak.db")
        kind = ("database" if "soak.db" in target else target.split(":", 1)[0] if target.startswith(("socket:", "pipe:",
                "anon_inode:")) else "file")
        kinds[kind] = kinds.get(kind, 0) + 1
    try:
        process = json.loads((tmp / "health.json").read_text())["process"]
        tasks, pool = process["asyncio_tasks"], process["db_connections"]
        pool_out, pool_in = pool["checked_out"], pool["pooled"]
    except (OSError, ValueError, KeyError):
        tasks = pool_out = pool_in = -1
    return Sample(t, rss, fds, threads, db_fds, tasks, pool_out, pool_in, kinds)


async def respondent(api: TimedAPI, load: Load, uid: int, walk_away: bool) -> None:
    """/start, then think, act and wait for the reply until the thank-you (or walk away after two answers)."""
    rng = random.Random(uid)
    user = api.user(uid)
    event = api.events[uid]
    action: tuple[str, str] | None = ("send", "/start")
    answers = 0
    while action is not None:
        await asyncio.sleep(rng.uniform(2.0, 5.0))
        event.clear()
        mark, sent = api._stamp, time.monotonic()
        if action[0] == "send":
            user.send(action[1])
        else:
            newest = next(m for m in reversed(user.messages()) if m.keyboard)
            user.press(newest.message_id, action[1])
        load.actions += 1
        try:
            while api.last_seq[uid] <= mark:
                await asyncio.wait_for(event.wait(), 60.0)
                event.clear()
        except TimeoutError:
            load.unanswered += 1
            return
        load.latencies.append(api.changed_at[uid] - sent)
        msg = user.messages()[-1]
        if "Спасибо" in msg.content:
            load.finished += 1
            return
        if QUESTION.search(msg.content):
            answers += 1
            if walk_away and answers > 2:
                load.walked_away += 1  # the reminders loop will write to them
                return
        keyboard_msg = next((m for m in reversed(user.messages()) if m.keyboard), msg)
        action = _pick(rng, keyboard_msg if not QUESTION.search(msg.content) or not msg.keyboard else msg)
        if action is None:
            action = ("send", "/start")


async def arrivals(api: TimedAPI, load: Load, per_second: float, until: float) -> None:
    """One new respondent every 1/per_second seconds until `until`; the last ones are let finish."""
    tasks: set[asyncio.Task] = set()
    uid = 2_000_000
    while time.monotonic() < until:
        task = asyncio.create_task(respondent(api, load, uid, walk_away=uid % 4 == 3))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        load.arrived += 1
        uid += 1
        await asyncio.sleep(1 / per_second)
    for task in list(tasks):
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def admin(api: TimedAPI, load: Load, until: float) -> None:
    """/stats every minute, /export every three minutes."""
    user = api.user(ADMIN)
    start = time.monotonic()
    next_stats, next_export = start + 30.0, start + 90.0
    while time.monotonic() < until:
        now = time.monotonic()
        if now >= next_stats:
            user.send("/stats")
            load.stats_asked += 1
            next_stats += STATS_EVERY
        if now >= next_export:
            user.send("/export")
            load.exports_asked += 1
            next_export += EXPORT_EVERY
        await asyncio.sleep(1.0)


def slope_per_hour(samples: list[Sample], key: str) -> float:
    """Least-squares slope of a figure over the samples, per hour."""
    xs = [s.t for s in samples]
    ys = [float(getattr(s, key)) for s in samples]
    if len(xs) < 2 or max(xs) == min(xs):
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs) * 3600


def growth(samples: list[Sample], warmup: float, key: str) -> tuple[float, float, float]:
    """(after the warm-up, at the end, growth) of a figure over one-minute windows: the first minute after the
    warm-up against the last minute. RSS by the windows' medians; counts (files, tasks, connections) by their
    minimums, the floor left when nothing is in flight: a leak raises the floor, a busy moment does not."""
    after = [s for s in samples if s.t >= warmup]
    end_t = after[-1].t if after else 0.0
    first = [float(getattr(s, key)) for s in after if s.t < warmup + 60] or [0.0]
    last = [float(getattr(s, key)) for s in after if s.t > end_t - 60] or [0.0]
    pick = statistics.median if key == "rss_mb" else min
    a, b = pick(first), pick(last)
    return a, b, b - a


async def soak(minutes: float, per_second: float, every: float) -> tuple[list[Sample], Load, str, tuple[Sample, Sample]]:
    """Run the load for `minutes`, sampling every `every` seconds; the samples, the load, the bot's output and the
    idle samples before and after the load."""
    loop = asyncio.get_running_loop()
    load = Load()
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as name, TimedAPI(loop, TelegramLimits()) as api:
        tmp = Path(name)
        api._server.handle_error = lambda request, address: None
        bot = start_bot(tmp, api.url)
        try:
            while not api.calls_of("getUpdates"):
                if bot.poll() is not None:
                    raise SystemExit("the bot exited:\n" + (tmp / "bot.out").read_text()[-3000:])
                await asyncio.sleep(0.05)
            await asyncio.sleep(12)  # the health file written at least twice: the idle figures before any load
            idle_before = sample(bot.pid, tmp, 0.0)
            t0 = time.monotonic()
            until = t0 + minutes * 60
            work = [asyncio.create_task(arrivals(api, load, per_second, until)),
                    asyncio.create_task(admin(api, load, until))]
            next_log = t0
            while time.monotonic() < until:
                if bot.poll() is not None:
                    raise SystemExit("the bot exited:\n" + (tmp / "bot.out").read_text()[-3000:])
                s = sample(bot.pid, tmp, time.monotonic() - t0)
                samples.append(s)
                if time.monotonic() >= next_log:
                    log(f"{s.t / 60:5.1f} min: RSS {s.rss_mb:.1f} MB, {s.fds} fds ({s.db_fds} on the database), "
                        f"{s.threads} threads, {s.tasks} tasks, pool {s.pool_out} in use + {s.pool_in} idle; "
                        f"{load.arrived} arrived, {load.finished} finished, {load.actions} actions, "
                        f"{len(api.calls_of('sendMessage'))} sendMessage")
                    next_log += 60
                await asyncio.sleep(every)
            await asyncio.gather(*work)
            # Idle again: the last respondents cancelled, the reminders of those who walked away all sent
            # (REMIND_AFTER 40 s, two of them), then a minute of nothing.
            await asyncio.sleep(IDLE_AFTER)
            idle_after = sample(bot.pid, tmp, time.monotonic() - t0)
            log(f"idle before the load: {idle_before.tasks} tasks, {idle_before.fds} fds {idle_before.fd_kinds}, "
                f"pool {idle_before.pool}, {idle_before.rss_mb:.1f} MB; idle after it: {idle_after.tasks} tasks, "
                f"{idle_after.fds} fds {idle_after.fd_kinds}, pool {idle_after.pool}, {idle_after.rss_mb:.1f} MB")
            bundled = load_survey()  # what the bot runs (SURVEY_FILE unset): its reminder in each of its languages
            texts = tuple(bundled.in_language(code).survey.reminder_text[:20] for code in bundled.languages)
            reminders = sum(1 for c in api.calls_of("sendMessage") if c.status == 200
                            and str(c.params.get("text", "")).startswith(texts))
            log(f"load: {load.arrived} respondents arrived, {load.finished} finished, {load.walked_away} walked away, "
                f"{load.actions} actions, {load.unanswered} left without a reply for 60 s; admin: {load.stats_asked} "
                f"/stats, {load.exports_asked} /export, {len(api.calls_of('sendDocument'))} documents; "
                f"{reminders} reminders sent")
        finally:
            bot.send_signal(signal.SIGINT)
            try:
                bot.wait(30)
            except subprocess.TimeoutExpired:
                bot.kill()
        out = (tmp / "bot.out").read_text(errors="replace")
    return samples, load, out, (idle_before, idle_after)


def rows_for(samples: list[Sample], load: Load, minutes: float, warmup: float, idle: tuple[Sample, Sample]) -> list[Row]:
    """The growth of each figure beside its target."""
    rows = []
    name = f"soak {minutes:g} min"
    for key, what, unit, limit in (("rss_mb", "RSS", "MB", RSS_TARGET_MB), ("fds", "open file descriptors", "", FLAT),
                                   ("db_fds", "descriptors on the database file", "", FLAT),
                                   ("tasks", "asyncio tasks", "", FLAT), ("threads", "threads", "", FLAT),
                                   ("pool", "pooled DB connections (idle + in use)", "", FLAT)):
        a, b, grew = growth(samples, warmup, key)
        per_hour = slope_per_hour([s for s in samples if s.t >= warmup], key)
        rows.append(Row(name, f"{what} growth after {warmup / 60:g} min warm-up ({a:.1f} → {b:.1f}; "
                              f"slope {per_hour:+.1f}{(' ' + unit) if unit else ''}/h)",
                        grew, unit, f"≤ {limit:g}{(' ' + unit) if unit else ''}", grew <= limit, baseline=a))
    before, after = idle
    other_before = before.fds - before.fd_kinds.get("database", 0)
    other_after = after.fds - after.fd_kinds.get("database", 0)
    for what, a, b in (("asyncio tasks", before.tasks, after.tasks),
                       ("open file descriptors but the database's (sockets, pipes, files)", other_before, other_after)):
        rows.append(Row(name, f"{what} idle after the load vs idle before it ({a} → {b})", b - a, "",
                        f"≤ {FLAT}", b - a <= FLAT, baseline=a))
    # The database's descriptors follow the connection pools, which grow to their working size under load and
    # keep it (bounded by pool_size + max_overflow): shown, judged by the flat count during the load above.
    rows.append(Row(name, f"database descriptors idle after vs before ({before.fd_kinds.get('database', 0)} → "
                          f"{after.fd_kinds.get('database', 0)}; pooled connections {before.pool} → {after.pool})",
                    after.fd_kinds.get("database", 0) - before.fd_kinds.get("database", 0), "", "context", True))
    rows.append(Row(name, f"respondents left without a reply for 60 s ({load.arrived} arrived, {load.actions} actions)",
                    load.unanswered, "", "0", load.unanswered == 0))
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command line: --minutes, --warmup, --arrivals, --every."""
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10; 60 documented)")
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes left out of the growth (default 2)")
    parser.add_argument("--arrivals", type=float, default=0.5, help="new respondents per second (default 0.5)")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--samples", type=Path, help="also write every sample to this CSV file")
    args = parser.parse_args(argv)
    if args.minutes <= args.warmup + 1:
        parser.error("--minutes must exceed --warmup by more than a minute")
    samples, load, out, idle = asyncio.run(soak(args.minutes, args.arrivals, args.every))
    if "Traceback" in out or " ERROR " in out:
        log("the bot's output had errors:\n" + out[-3000:])
    if args.samples:
        with args.samples.open("w") as f:
            f.write("t,rss_mb,fds,threads,db_fds,tasks,pool_out,pool_in\n")
            for s in samples:
                f.write(f"{s.t:.0f},{s.rss_mb:.1f},{s.fds},{s.threads},{s.db_fds},{s.tasks},{s.pool_out},{s.pool_in}\n")
    rows = rows_for(samples, load, args.minutes, args.warmup * 60, idle)
    if "Traceback" in out:
        rows.append(Row(f"soak {args.minutes:g} min", "tracebacks in the bot's output", 1, "", "0", False))
    report(rows)


if __name__ == "__main__":
    main()
