"""Scenario 5: start-up — ``surveybot run`` to its first getUpdates call.

A tiny Bot API on 127.0.0.1 (getMe, deleteWebhook, setMyCommands, getUpdates, anything else: ok)
records when the first getUpdates arrives; the bot runs as a real subprocess with a fresh SQLite
file each time (so migrations are part of the start) and is stopped with SIGINT afterwards. Floor in the same run, interleaved (issue 23): ``python -c "import telegram,
sqlalchemy"``, what any PTB + SQLAlchemy bot pays before it does anything; target ≤ 1.5 × floor + 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.common import ROOT, TOKEN, Row, log, median, report
from bench.floors import import_floor

TARGET_SECONDS = 2.0
BOT = {"id": 123456, "is_bot": True, "first_name": "Bench", "username": "bench_bot", "can_join_groups": False,
       "can_read_all_group_messages": False, "supports_inline_queries": False}


class FakeBotApi(ThreadingHTTPServer):
    """Answers the calls a starting bot makes; remembers when getUpdates first came."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.first_get_updates: float | None = None
        self.seen = threading.Event()
        self.methods: list[str] = []

    def handle_error(self, request: object, client_address: object) -> None:
        """A long poll cut short by the bot stopping is expected, not an error."""


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        method = self.path.rsplit("/", 1)[-1]
        server: FakeBotApi = self.server  # type: ignore[assignment]
        server.methods.append(method)
        result: object = True
        if method == "getMe":
            result = BOT
        elif method == "getUpdates":
            if server.first_get_updates is None:
                server.first_get_updates = time.perf_counter()
                server.seen.set()
            time.sleep(0.2)  # a short long-poll
            result = []
        body = json.dumps({"ok": True, "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        """Quiet."""


def command() -> list[str]:
    """The installed ``surveybot`` script when there is one, else the same entry point via -m."""
    script = shutil.which("surveybot") or str(Path(sys.executable).with_name("surveybot"))
    return [script, "run"] if Path(script).exists() else [sys.executable, "-m", "bot.cli", "run"]


def once(workdir: Path, n: int) -> float:
    """Seconds from spawning ``surveybot run`` to its first getUpdates."""
    api = FakeBotApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = dict(os.environ, BOT_TOKEN=TOKEN, TELEGRAM_API_URL=f"http://127.0.0.1:{api.server_port}",
               DATABASE_URL=f"sqlite+aiosqlite:///{workdir / f'start{n}.db'}", LOG_LEVEL="WARNING",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    start = time.perf_counter()
    proc = subprocess.Popen(command(), env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not api.seen.wait(30):
            proc.kill()
            raise SystemExit(f"the bot never called getUpdates: {proc.stderr.read().decode()[-2000:]}")
        return api.first_get_updates - start
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        api.shutdown()
        api.server_close()


def main() -> None:
    """Command line: --runs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        once(Path(tmp), 0)  # warm-up: the OS file cache
        import_floor()
        times, floor_times = [], []
        for r in range(args.runs):
            f = import_floor()
            t = once(Path(tmp), r + 1)
            times.append(t)
            floor_times.append(f)
            log(f"startup run {r + 1}/{args.runs}: {t:.2f} s to the first getUpdates; import floor {f:.2f} s")
    t, f = median(times), median(floor_times)
    # The target is affine (1.5 × floor + 0.5 s), so its "ratio" is the time over that allowance, run by run.
    ratio = median([x / (1.5 * y + 0.5) for x, y in zip(times, floor_times)])
    report([Row("5 start-up", "`surveybot run` to first getUpdates (fresh DB)", t, "s", f"≤ {TARGET_SECONDS:g} s",
                t <= TARGET_SECONDS),
            Row("5 start-up", "start-up vs the import floor (ratio: time / (1.5 × floor + 0.5 s))", t, "s",
                "≤ 1.5 × floor + 0.5 s", ratio <= 1.0, baseline=f, ratio=ratio)])


if __name__ == "__main__":
    main()
