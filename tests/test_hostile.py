"""Hostile input, property-based: random messages, commands, stickers, edits, group chatter, redeliveries and
forged callback data from many users (issue 4, point 4)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from bot.respondent import screens
from bot.settings import Settings
from survey.flow import max_selected, other_text_limit
from survey.i18n import translator
from survey.loader import load_survey
from survey.model import OTHER, QuestionType, Survey
from tests.conftest import TEST_TOKEN
from tests.harness import running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

EXAMPLES = 32  # about 0.5 s each (most of it the final walk of every user to the end)
SURVEY = load_survey(None)
USERS = [4101, 4102, 4103, 4104, 1087968824]  # the last one is Telegram's anonymous-admin id
GROUP = -100777
OPTION_IDS = sorted({o.id for q in SURVEY.questions for o in q.options} | {OTHER})

versions = st.one_of(st.integers(0, 40), st.integers(-(10**12), 10**40))
answer_data = st.builds(lambda v, k, a: f"a:{v}:{k}:{a}", versions, st.sampled_from("otxdksbz"),
                        st.one_of(st.sampled_from(OPTION_IDS), st.text(max_size=12), st.integers(-3, 10**6).map(str)))
simple_data = st.builds(lambda v, k: f"a:{v}:{k}", versions, st.sampled_from("xdksbo"))
menu_data = st.builds(lambda v, c: f"m:{v}:{c}", versions, st.sampled_from(["begin", "cont", "restart", "drop", ""]))
callback_data = st.one_of(
    st.just("OWN"), st.just("OWN"), st.just("OWN"), st.just("OTHER_USER"),  # real buttons: mine, someone else's
    answer_data, simple_data, menu_data,
    st.sampled_from(["f:yes", "f:no", "st:charts", "st:funnel", "st:export_csv", "st:nope", "f:maybe", ""]),
    st.text(max_size=64), st.text(min_size=60, max_size=90),  # odd unicode, 64 bytes and beyond
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),  # bytes that are not UTF-8 text
)
texts = st.one_of(st.text(max_size=30), st.text(min_size=400, max_size=5000), st.integers(-10**15, 10**15).map(str),
                  st.sampled_from(["25", "1 500", "0", "-1", "１２", "²", "100000", "100001", " ", "\u200b", "Прочее"]))
commands = st.one_of(
    st.sampled_from(["/start", "/help", "/my_data", "/forget_me", "/stats", "/export", "/foo", "/start@surveybot_test_bot",
                     "/START", "/forget_me now"]),
    st.builds(lambda p: "/start " + p, st.text(min_size=1, max_size=300).filter(lambda s: not s.isspace())),
)
user = st.sampled_from(USERS)
op = st.one_of(
    st.tuples(st.just("text"), user, texts),
    st.tuples(st.just("command"), user, commands),
    st.tuples(st.just("press"), user, callback_data),
    st.tuples(st.just("press"), user, callback_data),
    st.tuples(st.just("media"), user, st.sampled_from(["sticker", "photo", "voice", "document"])),
    st.tuples(st.just("edit"), user, texts),
    st.tuples(st.just("group"), user, st.one_of(texts, commands)),
    st.tuples(st.just("group_press"), user, st.one_of(st.just("OWN"), callback_data)),
    st.tuples(st.just("redeliver"), user, st.integers(0, 200)),
)


class Errors(logging.Handler):
    """Collects records at ERROR and above."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def invalid_answers(path: str, survey: Survey) -> list[str]:
    """Every stored answer that is not a valid answer of its question."""
    bad = []
    with closing(sqlite3.connect(path)) as con:
        con.row_factory = sqlite3.Row
        choices: dict[tuple[int, str], set[str]] = {}
        for r in con.execute("SELECT * FROM answer_choices"):
            choices.setdefault((r["response_id"], r["question_id"]), set()).add(r["option_id"])
        for a in con.execute("SELECT * FROM answers"):
            qid, picked = a["question_id"], tuple(a["choices"].split(",")) if a["choices"] else ()
            if qid not in {q.id for q in survey.questions}:
                bad.append(f"unknown question {qid}")
                continue
            q = survey.get(qid)
            valid = set(q.option_ids) | ({OTHER} if q.other_allowed else set())
            if set(choices.get((a["response_id"], qid), set())) != set(picked):
                bad.append(f"{qid}: answer_choices differ from {picked}")
            if a["skipped"]:
                if picked or a["number"] is not None or a["text"] or a["other_text"]:
                    bad.append(f"{qid}: skipped with content {dict(a)}")
                continue
            if q.type in (QuestionType.SINGLE, QuestionType.MULTIPLE):
                limit = 1 if q.type == QuestionType.SINGLE else max_selected(q)
                if not picked or not set(picked) <= valid or len(picked) > limit or len(set(picked)) != len(picked):
                    bad.append(f"{qid}: invalid choices {picked}")
                if (OTHER in picked) != bool(a["other_text"]) or len(a["other_text"] or "") > other_text_limit(q):
                    bad.append(f"{qid}: other_text {a['other_text']!r} with {picked}")
            elif q.type == QuestionType.SCALE:
                if a["number"] is None or not q.scale.min <= a["number"] <= q.scale.max:
                    bad.append(f"{qid}: scale value {a['number']}")
            elif q.type == QuestionType.NUMBER:
                if a["number"] is None or (q.min is not None and a["number"] < q.min) or (q.max is not None and a["number"] > q.max):
                    bad.append(f"{qid}: number {a['number']}")
        for r in con.execute("SELECT * FROM responses"):
            if r["current_question"] is not None and r["current_question"] not in {q.id for q in survey.questions}:
                bad.append(f"position on unknown question {r['current_question']}")
    return bad


async def complete(u: SimUser) -> None:
    """Whatever happened before, the user can finish the survey (skipping where allowed)."""
    await u.send("/start")
    for _ in range(60):
        last = u.last()
        if last.text == RU(screens.COMPLETED_TEXT) or "Спасибо за участие" in last.text:
            return
        labels = [b["text"] for b in last.buttons()]
        if "Продолжить" in labels:
            await u.press("Продолжить", message=last)
        elif "Начать" in labels:
            await u.press("Начать", message=last)
        elif "Пропустить" in labels:
            await u.press("Пропустить", message=last)
        elif last.keyboard is None and "Вопрос" not in last.text:
            await u.send("/start")
        else:
            await u.send("/start")
    raise AssertionError(f"user {u.id} could not finish: " + " | ".join(m.text[:80] for m in u.messages()[-5:]))


async def scenario(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db_file = Path(tmp) / "hostile.db"
        settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=f"sqlite+aiosqlite:///{db_file}",
                            admin_ids="1087968824", flood_messages=10_000)
        errors = Errors()
        logging.getLogger().addHandler(errors)
        try:
            async with running_app(settings) as (app, request):
                users = {uid: SimUser(app, request, uid, "Хакер") for uid in USERS}
                group = SimUser(app, request, USERS[0], "Хакер")
                group.chat = {"id": GROUP, "type": "supergroup", "title": "g"}
                history: list[dict] = []
                for kind, uid, arg in ops:
                    u = users[uid]
                    if kind == "text" or kind == "command":
                        await u.send(arg)
                    elif kind == "media":
                        await getattr(u, arg)()
                    elif kind == "edit":
                        await u.edit(10_000, arg)
                    elif kind == "group":
                        group.user = u.user
                        await group.send(arg)
                    elif kind == "group_press":  # a button tapped in a group (forged: the bot puts none there)
                        group.user = u.user
                        await press(group, users, arg, own=u)
                    elif kind == "redeliver":
                        if history:
                            await u.feed(dict(history[arg % len(history)]))
                        continue
                    else:
                        await press(u, users, arg)
                    history.append(group.last_update if kind.startswith("group") else u.last_update)
                group_messages = [p for name, p in request.calls if str(p.get("chat_id")) == str(GROUP)]
                assert len(group_messages) <= 1, group_messages
                assert not invalid_answers(str(db_file), SURVEY), invalid_answers(str(db_file), SURVEY)
                for u in users.values():
                    await complete(u)
                assert not invalid_answers(str(db_file), SURVEY)
                await app.bot_data.engine.dispose()
                with closing(sqlite3.connect(db_file)) as con:
                    done = con.execute("SELECT COUNT(*) FROM responses WHERE status='completed'").fetchone()[0]
                assert done == len(USERS)
        finally:
            logging.getLogger().removeHandler(errors)
        assert not errors.records, [(r.getMessage(), r.exc_info) for r in errors.records[:3]]


async def press(u: SimUser, users: dict[int, SimUser], data: str, own: SimUser | None = None) -> None:
    """Tap: a real button of mine or of another user, or forged data, on my newest bot message."""
    messages = u.messages()
    own = own or u
    if data in ("OWN", "OTHER_USER"):
        others = [o for o in users.values() if o is not own and o.messages()]
        source = own if data == "OWN" or not others else others[0]
        keyboards = [m for m in source.messages() if m.keyboard]
        if not keyboards:
            await u.send("/start")
            return
        buttons = keyboards[-1].buttons()
        data = buttons[(len(messages) * 7 + len(buttons)) % len(buttons)]["callback_data"]
    message_id = messages[-1].message_id if messages else 1
    await u.press_data(message_id, data)


@hsettings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(op, min_size=1, max_size=40))
def test_random_hostile_updates_never_break_the_bot_or_the_data(ops):
    asyncio.run(scenario(ops))
