"""Crash safety with the real process: SIGKILL at random points while respondents answer (issue 4, point 3).

Respondents behave like people reading their chat: they tap what the newest message offers; when the bot
does not answer (it is dead, or it fetched their update and died before handling it) they send /start and
press «Продолжить». After every kill, while the bot is down, the test opens the database and checks that
every answer acknowledged so far (the bot showed the next question) is stored with the value given.
"""

from __future__ import annotations

import random
import re
import threading
import time
from pathlib import Path

import pytest

from bot.respondent import screens
from survey.i18n import translator
from survey.loader import load_survey
from survey.model import QuestionType
from tests.dbcheck import response_row, stored_answers, stored_choices
from tests.fake_botapi import FakeBotAPI
from tests.harness import E2E_TOKEN, BotProcess

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

KILLS = 22
RESPONDENTS = 12
THINK = 0.15  # seconds, at most, between reading and tapping
REPLY_WAIT = 1.5  # a person waits this long before trying again
SURVEY = load_survey(None)
QUESTION_RE = re.compile(r"Вопрос (\d+) из \d+")


def plan_for(user_id: int) -> dict[str, tuple[str, object]]:
    """Each respondent's intended answer per question (fixed, so a repeated attempt gives the same)."""
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


def matches(plan: tuple[str, object], row: dict | None, choices: list[str] | None) -> bool:
    """Whether a stored answer row is the planned answer."""
    kind, value = plan
    if row is None:
        return False
    if kind == "skip":
        return bool(row["skipped"])
    if kind == "option":
        return choices == [value] and not row["skipped"]
    return row["number"] == value


class Person:
    """One respondent in its own thread."""

    def __init__(self, api: FakeBotAPI, user_id: int, stop: threading.Event):
        self.api, self.user, self.stop = api, api.user(user_id), stop
        self.plan = plan_for(user_id)
        self.think = random.Random(-user_id)
        self.acked: dict[str, tuple[str, object]] = {}
        self.retries = 0
        self.done = False
        self.error: BaseException | None = None

    def newest(self):
        msgs = self.user.messages()
        return msgs[-1] if msgs else None

    def wait_change(self, mark: int, callback: str | None) -> None:
        """Wait until a bot message changes after ``mark`` or the tap is answered, or give up."""
        deadline = time.monotonic() + REPLY_WAIT
        while time.monotonic() < deadline and not self.stop.is_set():
            if any(m.seq > mark for m in self.user.messages()):
                time.sleep(0.05)  # let the rest of the reply (edit + new message) arrive
                return
            if callback and any(a.get("text") for a in self.user.callback_answers() if a["callback_query_id"] == callback):
                return
            time.sleep(0.01)
        self.retries += 1

    def act(self) -> None:
        """Look at the chat and do what a person would."""
        msg = self.newest()
        text = msg.content if msg else ""
        if msg and ("Спасибо за участие" in text or text == RU(screens.COMPLETED_TEXT)):
            self.done = True
            return
        mark = self.api._stamp
        buttons = {t: d for row in (msg.keyboard if msg else []) for t, d in row}
        q_match = QUESTION_RE.search(text)
        if not buttons or not (q_match or "Начать" in buttons or "Продолжить" in buttons):
            self.user.send("/start")
            self.wait_change(mark, None)
            return
        if "Продолжить" in buttons or "Начать" in buttons:
            self.user.press(msg.message_id, buttons.get("Продолжить") or buttons["Начать"])
            self.wait_change(mark, self.user.callback_ids[-1])
            self._after_tap()
            return
        number = int(q_match.group(1))
        q = SURVEY.questions[number - 1]
        kind, value = self.plan[q.id]
        final = True
        if kind == "skip":
            data = next(d for d in buttons.values() if d.endswith(":s"))
        elif q.type == QuestionType.MULTIPLE:
            label, data = next((t, d) for t, d in buttons.items() if d.endswith(f":t:{value}"))
            if label.startswith(screens.CHECK):  # selected already: confirm
                data = next(d for d in buttons.values() if d.endswith(":d"))
            else:
                final = False
        elif kind == "option" or q.type == QuestionType.SCALE:
            data = next(d for d in buttons.values() if d.endswith(f":o:{value}"))
        else:
            self.user.send(str(value))
            self.wait_change(mark, None)
            self._acknowledged(number, q.id, tapped=False)
            return
        self.user.press(msg.message_id, data)
        self.wait_change(mark, self.user.callback_ids[-1])
        if final:
            self._acknowledged(number, q.id, tapped=True)
        else:
            self._after_tap()

    def _after_tap(self) -> None:
        """A stale or unanswered tap: a person asks the bot where they are."""
        answers = [a for a in self.user.callback_answers() if a["callback_query_id"] == self.user.callback_ids[-1]]
        if answers and answers[-1].get("text"):
            mark = self.api._stamp
            self.user.send("/start")
            self.wait_change(mark, None)

    def _acknowledged(self, number: int, qid: str, tapped: bool) -> None:
        """The bot showed the next question (or the thank-you) right after the answer: it is acknowledged."""
        msg = self.newest()
        text = msg.content if msg else ""
        shown = QUESTION_RE.search(text)
        if (shown and int(shown.group(1)) > number and msg.keyboard) or "Спасибо за участие" in text:
            self.acked[qid] = self.plan[qid]
        elif tapped:
            self._after_tap()

    def run(self) -> None:
        """Act until the survey is completed or the test stops."""
        try:
            while not self.done and not self.stop.is_set():
                self.act()
                time.sleep(self.think.uniform(0.0, THINK))  # people read before they tap
        except BaseException as exc:
            self.error = exc


def check_acked(db_url: str, people: list[Person]) -> list[str]:
    """Acknowledged answers missing or different in the database."""
    lost = []
    for p in people:
        if not p.acked:
            continue
        rows, choices = stored_answers(db_url, p.user.id), stored_choices(db_url, p.user.id)
        for qid, plan in list(p.acked.items()):
            if not matches(plan, rows.get(qid), choices.get(qid)):
                lost.append(f"user {p.user.id} {qid}: acknowledged {plan}, stored {rows.get(qid)}")
    return lost


@pytest.mark.slow
@pytest.mark.e2e
def test_sigkill_at_random_points_loses_no_acknowledged_answer(tmp_path: Path):
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    started = time.monotonic()
    with FakeBotAPI() as api:
        api._server.handle_error = lambda request, address: None  # killed clients reset connections: expected
        # These people tap every 0.15 s, far faster than Telegram lets a bot answer in one chat (about 1/s):
        # pacing is off here; the sending limits have tests of their own (tests/test_outgoing.py).
        bot = BotProcess(tmp_path, {"BOT_TOKEN": E2E_TOKEN, "TELEGRAM_API_URL": api.url, "DATABASE_URL": db_url,
                                    "LOG_LEVEL": "INFO", "OUTGOING_MAX_RATE": "0"})
        stop = threading.Event()
        people = [Person(api, 610_000 + i, stop) for i in range(RESPONDENTS)]
        threads = [threading.Thread(target=p.run, daemon=True) for p in people]
        kills, acked_at_kill = 0, []
        try:
            for t in threads:
                t.start()
            for _ in range(KILLS):
                polls = len(api.calls_of("getUpdates"))
                bot.start()
                while len(api.calls_of("getUpdates")) <= polls:  # this run is up and polling
                    assert bot.proc.poll() is None, bot.output()[-3000:]
                    time.sleep(0.01)
                time.sleep(rng.uniform(0.02, 0.9))
                bot.kill()
                kills += 1
                lost = check_acked(db_url, people)
                acked_at_kill.append((sum(len(p.acked) for p in people), sum(p.done for p in people)))
                assert not lost, f"seed {seed}, kill {kills}: " + "; ".join(lost[:5])
            bot.start()  # the last run: everybody must be able to finish
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and not all(p.done or p.error for p in people):
                time.sleep(0.1)
            bot.stop()
        finally:
            stop.set()
            bot.kill()
            for t in threads:
                t.join(5)
        errors = [f"user {p.user.id}: {p.error!r}" for p in people if p.error]
        assert not errors, errors
        stuck = [p.user._dump() for p in people if not p.done]
        assert not stuck, f"seed {seed}: stuck respondents:\n" + "\n\n".join(stuck[:2])
        assert not api.errors, api.errors
    lost = check_acked(db_url, people)
    assert not lost, f"seed {seed}: " + "; ".join(lost[:5])
    for p in people:  # completed, and exactly the planned answers (a repeated attempt never doubled anything)
        assert response_row(db_url, p.user.id)["status"] == "completed"
        rows, choices = stored_answers(db_url, p.user.id), stored_choices(db_url, p.user.id)
        assert set(rows) == set(p.plan), p.user.id
        assert all(matches(p.plan[q], rows[q], choices.get(q)) for q in p.plan), (p.user.id, rows)
    output = bot.output()
    assert "Traceback" not in output and " ERROR " not in output, output[-3000:]
    print(f"\nseed {seed}: {RESPONDENTS} respondents, {kills} SIGKILLs, (acknowledged answers, respondents done) at the kills "
          f"{acked_at_kill}, {sum(p.retries for p in people)} unanswered attempts retried, "
          f"{time.monotonic() - started:.1f}s")
