"""Shared pieces of the reliability tests: users fed through the update processor, scripted
respondents whose expected answers the test computes itself, and the real bot as a subprocess."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import threading
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.settings import Settings
from survey.model import OTHER, QuestionType, Survey
from tests.recording import RecordingRequest, SimUser

ROOT = Path(__file__).resolve().parents[1]
# Recognisable, well-formed tokens: the secrets test greps the logs for the secret part.
E2E_TOKEN = "123456789:E2E-SECRET-tokenpart_0123456789abcdefXYZ"


@asynccontextmanager
async def running_app(settings: Settings, request: RecordingRequest | None = None):
    """An initialised in-process application (post_init done) with a recording request."""
    request = request or RecordingRequest()
    app = build_application(settings, request=request, rate_limiter=False)
    await app.initialize()
    await app.post_init(app)
    try:
        yield app, request
    finally:
        await app.post_shutdown(app)
        await app.shutdown()


class QueuedUser(SimUser):
    """A SimUser whose updates go through the application's update processor, as in production:
    users run concurrently, and one user's updates wait for each other."""

    async def feed(self, raw: dict) -> int:
        """Process one raw update through the update processor; returns its update_id."""
        raw.setdefault("update_id", next(self._update_ids))
        self.last_update = raw
        update = Update.de_json(raw, self.app.bot)
        await self.app.update_processor.process_update(update, self.app.process_update(update))
        return raw["update_id"]


def deliver(app: Application, raw: dict) -> asyncio.Task:
    """Start processing a raw update through the processor without waiting for it."""
    update = Update.de_json(raw, app.bot)
    return asyncio.ensure_future(app.update_processor.process_update(update, app.process_update(update)))


# ------------------------------------------------------------------ scripted respondents
@dataclass
class Expected:
    """What the test expects stored for one question."""

    choices: tuple[str, ...] = ()
    number: int | None = None
    other_text: str | None = None
    skipped: bool = False


@dataclass
class Respondent:
    """A respondent walking the survey with a random (seeded, logged) script: taps, backs, skips,
    keeps, redone answers, noise and double taps. ``expected`` is computed by the test, not read
    from the bot."""

    user: SimUser
    survey: Survey
    seed: int
    expected: dict[str, Expected] = field(default_factory=dict)
    script: list[str] = field(default_factory=list)
    double_taps: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    async def tap(self, pattern: str, double: bool = False) -> None:
        """Tap the button of the newest keyboard whose callback data matches a:<v>:<pattern>."""
        u = self.user
        msg = u.keyboard_message()
        button = msg.button(lambda b: re.fullmatch(rf"a:\d+:{pattern}", b.get("callback_data", "")))
        self.script.append(("2x " if double else "") + pattern)
        if double:  # two taps of one button delivered at once: one must count
            self.double_taps += 1
            await asyncio.gather(u.press_data(msg.message_id, button["callback_data"]),
                                 u.press_data(msg.message_id, button["callback_data"]))
        else:
            await u.press_data(msg.message_id, button["callback_data"])

    async def say(self, text: str) -> None:
        """Type a message."""
        self.script.append(f"say {text!r}")
        await self.user.send(text)

    async def run(self, noise: float = 0.04, double: float = 0.08) -> None:
        """Walk the survey to the end."""
        rng, questions = self.rng, self.survey.questions
        await self.say("/start")
        await self.user.press("Начать")
        self.script.append("Начать")
        pos = 0
        while pos < len(questions):
            q = questions[pos]
            r = rng.random()
            if r < noise:
                await self._noise()
                continue
            dbl = rng.random() < double
            if pos > 0 and r < 0.14:
                await self.tap("b", dbl)
                pos -= 1
            elif r < 0.24:
                await self.tap("s", dbl)
                self.expected[q.id] = Expected(skipped=True)
                pos += 1
            elif r < 0.34 and q.type != QuestionType.MULTIPLE and q.id in self.expected \
                    and not self.expected[q.id].skipped:  # "keep" is offered for a given answer only
                await self.tap("k", dbl)
                pos += 1
            else:
                await self._answer(q, dbl)
                pos += 1
        assert "Спасибо за участие" in self.user.last().text, self.describe()

    async def _noise(self) -> None:
        kind = self.rng.choice(["sticker", "text", "resume"])
        self.script.append(f"noise {kind}")
        if kind == "sticker":
            await self.user.sticker()
        elif kind == "text":
            await self.user.send("а можно без кнопок?")
        else:
            await self.user.send("/start")
            await self.user.press("Продолжить")

    async def _answer(self, q, dbl: bool) -> None:
        rng = self.rng
        if q.type == QuestionType.SINGLE:
            if q.other_allowed and rng.random() < 0.2:
                text = f"свой вариант {self.user.id}-{rng.randrange(1000)}"
                await self.tap("x", dbl)
                await self.say(text)
                self.expected[q.id] = Expected(choices=(OTHER,), other_text=text)
            else:
                opt = rng.choice(q.options).id
                await self.tap(f"o:{opt}", dbl)
                self.expected[q.id] = Expected(choices=(opt,))
        elif q.type == QuestionType.SCALE:
            value = rng.randint(q.scale.min, q.scale.max)
            await self.tap(f"o:{value}", dbl)
            self.expected[q.id] = Expected(number=value)
        elif q.type == QuestionType.NUMBER:
            if rng.random() < 0.2:
                await self.say("много")  # rejected: nothing stored, question asked again
            value = rng.randint(q.min or 1, q.max or 1000)
            await self.say(f"{value:,}".replace(",", " ") if rng.random() < 0.3 else str(value))
            self.expected[q.id] = Expected(number=value)
        elif q.type == QuestionType.MULTIPLE:
            await self._multiple(q, dbl)
        else:
            raise AssertionError(f"question type {q.type} not scripted")

    async def _multiple(self, q, dbl: bool) -> None:
        rng = self.rng
        prev = self.expected.get(q.id)
        draft = set(prev.choices) if prev and not prev.skipped else set()
        ids = [o.id for o in q.options]
        target = set(rng.sample(ids, rng.randint(1, 3)))
        with_other = q.other_allowed and rng.random() < 0.25
        first = True
        for oid in ids:
            if (oid in draft) != (oid in target):
                await self.tap(f"t:{oid}", dbl and first)
                first = False
        other_text = None
        if OTHER in draft:
            await self.tap("x")  # tapping a selected "other" unselects it
        if with_other:
            other_text = f"ещё {self.user.id}-{rng.randrange(1000)}"
            await self.tap("x")
            await self.say(other_text)
            target.add(OTHER)
        await self.tap("d")
        order = ids + [OTHER]
        self.expected[q.id] = Expected(choices=tuple(sorted(target, key=order.index)), other_text=other_text)

    def describe(self) -> str:
        """The seed and script, for a failure message."""
        return f"user {self.user.id} seed {self.seed}: " + " | ".join(self.script)


def stored_matches(db_answers: dict[str, dict], db_choices: dict[str, list[str]],
                   expected: dict[str, Expected]) -> list[str]:
    """Differences between what is stored and what the script implies (empty when equal)."""
    problems = []
    if set(db_answers) != set(expected):
        problems.append(f"questions stored {sorted(db_answers)} != expected {sorted(expected)}")
    for qid, exp in expected.items():
        row = db_answers.get(qid)
        if row is None:
            continue
        got = Expected(
            choices=tuple(row["choices"].split(",")) if row["choices"] else (),
            number=row["number"], other_text=row["other_text"], skipped=bool(row["skipped"]),
        )
        if got != exp:
            problems.append(f"{qid}: stored {got} != expected {exp}")
        if sorted(db_choices.get(qid, [])) != sorted(exp.choices):
            problems.append(f"{qid}: answer_choices {db_choices.get(qid)} != {exp.choices}")
    return problems


# ------------------------------------------------------------------ the real bot process
class BotProcess:
    """``python -m bot.cli run`` against a fake Bot API, with its output captured to files."""

    def __init__(self, tmp_path: Path, env: dict[str, str], args: tuple[str, ...] = (), *, pipe: bool = False):
        # pipe: output goes through a pipe copied to the files by this process, so the bot's log survives
        # a test that takes away the bot's right to write files.
        self.tmp_path, self.args, self.pipe = tmp_path, args, pipe
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **env}
        self.env.pop("BOT_TOKEN", None) if "BOT_TOKEN" not in env else None
        self.proc: subprocess.Popen | None = None
        self.runs = 0
        self.out_files: list[Path] = []

    def start(self) -> None:
        """Start (or restart) the process."""
        assert self.proc is None or self.proc.poll() is not None
        self.runs += 1
        out = self.tmp_path / f"bot-{self.runs}.out"
        err = self.tmp_path / f"bot-{self.runs}.err"
        self.out_files += [out, err]
        if not self.pipe:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", *self.args],
                cwd=self.tmp_path, env=self.env, stdout=out.open("wb"), stderr=err.open("wb"),
            )
            return
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run", *self.args],
                                     cwd=self.tmp_path, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for stream, path in ((self.proc.stdout, out), (self.proc.stderr, err)):
            threading.Thread(target=_copy, args=(stream, path), daemon=True).start()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        """SIGINT (a clean shutdown, as Ctrl-C) and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    def output(self) -> str:
        """Everything the process wrote to stdout and stderr, all runs."""
        return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in self.out_files if p.exists())


def _copy(stream, path: Path) -> None:
    """Copy a child's output pipe to a file, line by line, until it closes."""
    with path.open("ab") as f:
        for line in iter(stream.readline, b""):
            f.write(line)
            f.flush()


@asynccontextmanager
async def polling_app(settings: Settings):
    """The real application (rate limiter included) long-polling a fake Bot API, in-process."""
    app = build_application(settings)
    await app.initialize()
    await app.post_init(app)
    await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=["message", "edited_message", "callback_query"])
    await app.start()
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.post_shutdown(app)
        await app.shutdown()
