"""Shared helpers of the benchmarks: medians, the results table, machine facts and memory readings."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT_USER = {"id": 777000111, "is_bot": True, "first_name": "Survey", "username": "surveybot_bench_bot"}
TOKEN = "123456:" + "A" * 35
RESULT_PREFIX = "BENCH-RESULT "


@dataclass
class Row:
    """One figure: what was measured, its median, the target and whether it is met."""

    scenario: str
    metric: str
    value: float
    unit: str
    target: str
    met: bool
    baseline: float | None = None
    ratio: float | None = None


def median(values: list[float]) -> float:
    """The median of the runs."""
    return statistics.median(values)


def machine() -> dict[str, str]:
    """The facts that make figures comparable: cores, CPU model, Python."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def rss_mb(pid: int | str = "self") -> tuple[float, float]:
    """(current, peak) resident memory of a process in MB, from /proc."""
    cur = peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            cur = int(line.split()[1]) / 1024
        elif line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cur, peak


def fmt(value: float | None, unit: str = "") -> str:
    """A figure with a sensible number of digits."""
    if value is None:
        return "—"
    digits = 3 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    return f"{value:,.{digits}f}{(' ' + unit) if unit else ''}"


def table(rows: list[Row]) -> str:
    """A Markdown table of figures beside their targets."""
    out = ["| scenario | metric | median | baseline or floor | ratio | target | met |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.scenario} | {r.metric} | {fmt(r.value, r.unit)} | {fmt(r.baseline, r.unit)} | "
                   f"{fmt(r.ratio) if r.ratio is not None else '—'} | {r.target} | {'yes' if r.met else 'NO'} |")
    return "\n".join(out)


def report(rows: list[Row]) -> None:
    """Print the table, and one machine-readable line per figure for bench/__main__.py."""
    print(table(rows))
    for r in rows:
        print(RESULT_PREFIX + json.dumps(asdict(r), ensure_ascii=False))
    sys.stdout.flush()


def log(msg: str) -> None:
    """Progress to stderr, so stdout stays the table."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def lean_request():
    """A PTB request object answering every Bot API call at once and remembering nothing.

    The tests' RecordingRequest keeps a message counter per chat even with record=False, which
    is the test double's memory, not the bot's; the memory scenario must not count it.
    """
    from telegram.request import BaseRequest

    class LeanRequest(BaseRequest):
        async def initialize(self) -> None:
            """Nothing to open."""

        async def shutdown(self) -> None:
            """Nothing to close."""

        @property
        def read_timeout(self) -> float:
            return 5.0

        async def do_request(self, url: str, method: str, request_data=None, **_: object) -> tuple[int, bytes]:
            endpoint = url.rsplit("/", 1)[-1]
            params = request_data.parameters if request_data else {}
            result: object = True
            if endpoint == "getMe":
                result = BOT_USER | {"can_join_groups": False, "can_read_all_group_messages": False,
                                     "supports_inline_queries": False}
            elif "chat_id" in params and endpoint.startswith(("send", "edit")):
                result = {"message_id": int(params.get("message_id") or 1), "date": int(time.time()),
                          "chat": {"id": int(params["chat_id"]), "type": "private"}, "from": BOT_USER, "text": "…"}
            elif endpoint == "getUpdates":
                result = []
            return 200, json.dumps({"ok": True, "result": result}).encode()

    return LeanRequest()
