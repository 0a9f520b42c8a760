"""Respondents who never type /start again, for the fault tests with the real ``surveybot run``.

A ``Walker`` runs in its own thread against tests/fake_botapi.py. After every tap or message it waits
for the bot's reply: the next question, the redrawn keyboard of a multiple-choice toggle, the
thank-you — or the fault notice (in the chat or as the tap's toast), after which it waits a little and
does the same thing again on the newest keyboard, as a person told "try again" would. Nothing at all
within ``reply_wait`` seconds is silence: it is recorded and the walker gives up.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field

from bot.respondent import screens
from survey.loader import load_survey
from survey.model import QuestionType
from tests.dbcheck import response_row, stored_answers, stored_choices
from tests.fake_botapi import BotMessage, FakeBotAPI

SURVEY = load_survey(None)
QUESTION_RE = re.compile(r"Вопрос (\d+) из \d+")
THANKS = "Спасибо за участие"


def plan_for(user_id: int) -> dict[str, tuple[str, object]]:
    """A respondent's intended answer per question (fixed by the id, so a repeated attempt gives the same)."""
    rng = random.Random(user_id)
    plan: dict[str, tuple[str, object]] = {}
    for q in SURVEY.questions:
        if rng.random() < 0.15:
            plan[q.id] = ("skip", None)
        elif q.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
            plan[q.id] = ("option", rng.choice(q.options).id)
        elif q.type == QuestionType.SCALE:
            plan[q.id] = ("number", rng.randint(q.scale.min, q.scale.max))
        else:
            plan[q.id] = ("number", rng.randint(q.min or 1, 500))
    return plan


def stored_as_planned(db_url: str, user_id: int, plan: dict[str, tuple[str, object]]) -> list[str]:
    """Differences between the stored answers of a completed respondent and the plan (empty when equal)."""
    problems = []
    row = response_row(db_url, user_id)
    if row is None or row["status"] != "completed":
        problems.append(f"user {user_id}: response {row and row['status']}")
    rows, choices = stored_answers(db_url, user_id), stored_choices(db_url, user_id)
    if set(rows) != set(plan):
        problems.append(f"user {user_id}: answered {sorted(rows)}")
    for qid, (kind, value) in plan.items():
        got, opts = rows.get(qid), choices.get(qid)
        ok = got is not None and (
            bool(got["skipped"]) if kind == "skip"
            else (opts == [value] and not got["skipped"]) if kind == "option"
            else got["number"] == value)
        if not ok:
            problems.append(f"user {user_id} {qid}: planned {kind} {value}, stored {got and dict(got)} {opts}")
    return problems


@dataclass
class Walker:
    """One respondent walking the bundled study to the end without ever sending /start again."""

    api: FakeBotAPI
    user_id: int
    notice: str | None = None  # the fault notice's text (chat message and toast), when faults are expected
    reply_wait: float = 30.0
    pause: float = 0.5  # how long a person waits after a fault notice before trying again
    think: float = 0.0  # seconds, at most, between reading a question and answering it
    # After a fault message the bot stays quiet about further faults for a minute: a typed answer that
    # gets no reply within this time is then taken as not stored (the message on screen says so).
    quiet: float = 3.0
    plan: dict[str, tuple[str, object]] = field(init=False)
    silences: list[str] = field(default_factory=list)
    notices: int = 0  # fault notices received (chat messages and toasts)
    last_notice: float = float("-inf")
    attempts: int = 0  # actions made again after a notice
    done: bool = False
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self.user = self.api.user(self.user_id)
        self.plan = plan_for(self.user_id)
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"walker-{self.user_id}")

    def start(self) -> Walker:
        """Start walking in a thread."""
        self.thread.start()
        return self

    def join(self, timeout: float) -> None:
        """Wait for the walk to end."""
        self.thread.join(timeout)

    # -- the walk
    def _run(self) -> None:
        try:
            self.user.send("/start")
            intro = self.user.wait_for(lambda m: "Начать" in str(m.keyboard), self.reply_wait, what="the intro")
            self._act(lambda m: self.user.press_button("Начать", message=m), intro, self._question_after(0))
            while not self.done:
                time.sleep(random.uniform(0, self.think))
                msg = self._live_question()
                number = int(QUESTION_RE.search(msg.content).group(1))
                self._answer(msg, number)
        except BaseException as exc:
            self.error = exc

    def _live_question(self) -> BotMessage:
        msgs = [m for m in self.user.messages() if m.keyboard and QUESTION_RE.search(m.content)]
        if not msgs:
            raise AssertionError(f"no question on screen\n{self.user._dump()}")
        return max(msgs, key=lambda m: (int(QUESTION_RE.search(m.content).group(1)), m.message_id))

    def _answer(self, msg: BotMessage, number: int) -> None:
        q = SURVEY.questions[number - 1]
        kind, value = self.plan[q.id]
        data = {d: t for row in msg.keyboard for t, d in row}
        pick = (lambda suffix: lambda m: self.user.press(m.message_id, _data(m, suffix)))  # noqa: E731 - a factory of press actions, read inline
        nxt = self._question_after(number)
        if kind == "skip":
            self._act(pick(":s"), msg, nxt)
        elif q.type == QuestionType.MULTIPLE:
            if not any(t.startswith(screens.CHECK) for t in data.values()):
                self._act(pick(f":t:{value}"), msg, lambda m: m.message_id == msg.message_id and
                          any(t.startswith(screens.CHECK) for row in m.keyboard for t, _ in row))
                # msg is the tapped message as it is now (edits change it in place): «Готово» goes there,
                # not to a copy of the question that the toggle made stale.
            self._act(pick(":d"), msg, nxt)
        elif kind == "option" or q.type == QuestionType.SCALE:
            self._act(pick(f":o:{value}"), msg, nxt)
        else:
            self._act(lambda m: self.user.send(str(value)), msg, nxt)

    def _question_after(self, number: int):
        def reached(m: BotMessage) -> bool:
            if THANKS in m.content:
                self.done = True
                return True
            shown = QUESTION_RE.search(m.content)
            return bool(shown and m.keyboard and int(shown.group(1)) > number)
        return reached

    def _act(self, do, msg: BotMessage, reached) -> None:
        """Do something and wait for the reply; after a fault notice, do it again on the newest keyboard."""
        while True:
            mark, taps = self.api._stamp, len(self.user.callback_ids)
            do(msg)
            deadline = time.monotonic() + self.reply_wait
            told = False
            started = time.monotonic()
            while time.monotonic() < deadline:
                fresh = [m for m in self.user.messages() if m.seq > mark]
                if any(reached(m) for m in fresh):
                    return
                if self.notice and (any(self.notice in m.content for m in fresh) or self._toasted(taps)):
                    told = True
                    self.notices += 1
                    self.last_notice = time.monotonic()
                    break
                if (self.notice and time.monotonic() - started > self.quiet
                        and time.monotonic() - self.last_notice < 60):
                    told = True  # told less than a minute ago: the bot does not repeat itself
                    break
                time.sleep(0.02)
            if not told:
                self.silences.append(f"user {self.user_id}: nothing after {msg.content[:40]!r}")
                raise AssertionError(self.silences[-1] + "\n" + self.user._dump())
            self.attempts += 1
            time.sleep(self.pause)
            if msg.keyboard:  # the same question, from the newest message that shows it
                msg = self._live_question()

    def _toasted(self, taps: int) -> bool:
        new = set(self.user.callback_ids[taps:])
        return bool(new) and any(self.notice in (a.get("text") or "") for a in self.user.callback_answers()
                                 if a["callback_query_id"] in new)


def _data(msg: BotMessage, suffix: str) -> str:
    """The callback data of the button on msg whose data ends with suffix."""
    for row in msg.keyboard:
        for _, d in row:
            if d and d.endswith(suffix):
                return d
    raise AssertionError(f"no button ending {suffix!r} in {msg}")
