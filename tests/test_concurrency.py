"""Many respondents at once, and one user's updates in order (issue 4, points 1 and 2)."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time

import pytest
from telegram import Update

from bot.incoming.processor import PerUserUpdateProcessor
from tests.dbcheck import count, response_row, stored_answers, stored_choices
from tests.harness import QueuedUser, Respondent, deliver, stored_matches

RESPONDENTS = int(os.environ.get("REL_RESPONDENTS", "300"))


@pytest.mark.slow
async def test_300_respondents_concurrently_store_exactly_their_answers(bot, db_url, caplog):
    app, request = bot
    caplog.set_level(logging.INFO)
    seeds = random.Random().randrange(10**9)
    rng = random.Random(seeds)
    people = [Respondent(QueuedUser(app, request, 500_000 + i), app.bot_data.survey, rng.randrange(10**9))
              for i in range(RESPONDENTS)]
    started = time.perf_counter()
    results = await asyncio.gather(*(p.run() for p in people), return_exceptions=True)
    elapsed = time.perf_counter() - started
    failures = [f"{p.describe()}\n  {r!r}" for p, r in zip(people, results) if isinstance(r, BaseException)]
    assert not failures, f"master seed {seeds}\n" + "\n".join(failures[:3])

    problems = []
    for p in people:
        diff = stored_matches(stored_answers(db_url, p.user.id), stored_choices(db_url, p.user.id), p.expected)
        if diff or response_row(db_url, p.user.id)["status"] != "completed":
            problems.append(p.describe() + "\n  " + "\n  ".join(diff))
    assert not problems, f"master seed {seeds}\n" + "\n".join(problems[:3])
    questions = len(app.bot_data.survey.questions)
    assert count(db_url, "respondents") == RESPONDENTS
    assert count(db_url, "responses") == RESPONDENTS
    assert count(db_url, "answers") == RESPONDENTS * questions
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or "database is locked" in r.getMessage()]
    assert not bad, [r.getMessage() for r in bad[:5]]
    updates = count(db_url, "processed_updates")
    print(f"\n{RESPONDENTS} respondents, {updates} updates, {sum(p.double_taps for p in people)} double taps, "
          f"{sum(len(p.script) for p in people)} scripted steps in {elapsed:.1f}s ({updates / elapsed:.0f} updates/s)")


async def test_processor_keeps_each_users_updates_in_order():
    processor = PerUserUpdateProcessor(8)
    rng = random.Random(7)
    started: dict[int, list[int]] = {u: [] for u in range(10)}
    running: dict[int, int] = {u: 0 for u in range(10)}
    overlap = {"max": 0, "now": 0}

    async def work(user: int, seq: int) -> None:
        assert running[user] == 0, f"user {user}: two updates at once"
        running[user] += 1
        overlap["now"] += 1
        overlap["max"] = max(overlap["max"], overlap["now"])
        started[user].append(seq)
        await asyncio.sleep(rng.random() / 500)  # later updates would overtake earlier ones if allowed
        overlap["now"] -= 1
        running[user] -= 1

    def update(user: int, seq: int) -> Update:
        return Update.de_json({"update_id": user * 1000 + seq, "message": {
            "message_id": seq, "date": 0, "chat": {"id": user + 1, "type": "private"},
            "from": {"id": user + 1, "is_bot": False, "first_name": "x"}, "text": str(seq)}}, None)

    order = [(u, s) for s in range(30) for u in range(10)]
    tasks = [asyncio.ensure_future(processor.process_update(update(u, s), work(u, s))) for u, s in order]
    await asyncio.gather(*tasks)
    assert all(seqs == list(range(30)) for seqs in started.values()), started
    assert overlap["max"] == 8  # different users did run at once, up to the limit
    assert processor.active_users == 0  # no lock is kept for idle users


async def test_one_users_burst_is_applied_in_order_among_others(bot, db_url):
    """Ten typed messages of one user arrive at once while others answer: the first one is the
    'other' text that gets stored, the rest are reminders on the next question."""
    app, request = bot
    u = QueuedUser(app, request, 9001)
    others = [QueuedUser(app, request, 9100 + i) for i in range(20)]
    await u.begin()
    await u.press("Прочее")

    async def other_walk(o: QueuedUser) -> None:
        await o.begin()
        await o.press("Руководитель компании")

    burst = [deliver(app, {"update_id": 70_000 + i, "message": u._message(text=f"вариант {i}")}) for i in range(10)]
    await asyncio.gather(*burst, *(other_walk(o) for o in others))
    assert stored_answers(db_url, 9001)["q01_who_does_accounting"]["other_text"] == "вариант 0"
    assert all(stored_choices(db_url, o.id) == {"q01_who_does_accounting": ["ceo"]} for o in others)


async def test_other_users_are_not_held_up_by_one_users_queue():
    """Updates queued behind one busy user do not occupy the concurrency slots."""
    processor = PerUserUpdateProcessor(4)
    release = asyncio.Event()
    done: list[str] = []

    def update(user: int, n: int) -> Update:
        return Update.de_json({"update_id": user * 1000 + n, "message": {
            "message_id": n, "date": 0, "chat": {"id": user, "type": "private"},
            "from": {"id": user, "is_bot": False, "first_name": "x"}, "text": "x"}}, None)

    async def slow(n: int) -> None:
        await release.wait()  # e.g. a send waiting out Telegram's retry_after
        done.append(f"busy {n}")

    async def quick(user: int) -> None:
        done.append(f"user {user}")

    busy = [asyncio.ensure_future(processor.process_update(update(1, n), slow(n))) for n in range(50)]
    await asyncio.sleep(0)
    others = [asyncio.ensure_future(processor.process_update(update(100 + i, 0), quick(100 + i))) for i in range(10)]
    await asyncio.wait_for(asyncio.gather(*others), 5)
    assert done == [f"user {100 + i}" for i in range(10)]
    release.set()
    await asyncio.gather(*busy)
    assert done[10:] == [f"busy {n}" for n in range(50)]


@pytest.mark.parametrize("kind", ["tap", "text", "start"])
async def test_same_update_twice_changes_nothing(make_user, db_url, kind):
    """Extends test_flow's redelivered tap: also a typed answer and /start, compared row by row."""
    u = make_user(1201)
    await u.begin()
    if kind == "tap":
        await u.press("Руководитель компании")
    elif kind == "text":
        await u.press("Прочее")
        await u.send("мой вариант")
    else:
        await u.send("/start")
    raw = u.last_update
    snapshot = (stored_answers(db_url, 1201), stored_choices(db_url, 1201), response_row(db_url, 1201),
                count(db_url, "processed_updates"), len(u.request.calls))
    await u.feed(dict(raw))
    after = (stored_answers(db_url, 1201), stored_choices(db_url, 1201), response_row(db_url, 1201),
             count(db_url, "processed_updates"), len(u.request.calls))
    assert after == snapshot  # no row changed, and the bot did not even answer the second time (it had)


@pytest.mark.parametrize("kind", ["tap", "text", "start"])
async def test_an_update_whose_reply_was_lost_is_answered_again_with_the_same_screen(make_user, db_url, kind):
    """Issue 24: a worker that dies after committing an update but before its handling ended (the reply may not
    have gone out) leaves Telegram to deliver it again: the second delivery changes nothing and shows the screen
    the first led to, nothing else (the answer stated at its top the first time is left out)."""
    u = make_user(1203)
    await u.begin()
    processor = u.app.update_processor
    hook, processor.on_handled = processor.on_handled, None  # the handling of the next update never "ends"
    if kind == "tap":
        await u.press("Руководитель компании")
    elif kind == "text":
        await u.press("Прочее")
        await u.send("мой вариант")
    else:
        await u.send("/start")
    processor.on_handled = hook
    raw, calls = u.last_update, len(u.request.calls)
    snapshot = (stored_answers(db_url, 1203), stored_choices(db_url, 1203), response_row(db_url, 1203),
                count(db_url, "processed_updates"))
    await u.feed(dict(raw))
    after = (stored_answers(db_url, 1203), stored_choices(db_url, 1203), response_row(db_url, 1203),
             count(db_url, "processed_updates"))
    assert after == snapshot  # no row changed
    shown = [p.get("text") for m, p in u.request.calls[:calls] if m in ("sendMessage", "editMessageText")]
    again = [p.get("text") for m, p in u.request.calls[calls:] if m in ("sendMessage", "editMessageText")]
    assert len(again) == 1 and shown[-1].endswith(again[0]), (shown[-1:], again)


async def test_an_update_delivered_again_after_the_respondent_moved_on_shows_nothing_old(make_user, db_url):
    """Issue 24: a redelivered update whose reply may have been lost is answered again only while the respondent
    has done nothing since; once they have moved on they had their reply, and an older screen would mislead."""
    u = make_user(1202)
    await u.begin()
    processor = u.app.update_processor
    hook, processor.on_handled = processor.on_handled, None
    await u.press("Руководитель компании")
    processor.on_handled = hook
    raw = u.last_update
    q2 = u.keyboard_message()
    await u.press_data(q2.message_id, q2.button(lambda b: b.get("callback_data", "").endswith(":s"))["callback_data"])
    answers, calls = stored_answers(db_url, 1202), len(u.request.calls)
    await u.feed(dict(raw))  # the question 1 tap again, after the respondent skipped question 2: nothing at all
    assert u.request.calls[calls:] == [] and stored_answers(db_url, 1202) == answers


async def test_double_tap_delivered_at_once_records_one_answer_and_advances_once(bot, db_url):
    app, request = bot
    u = QueuedUser(app, request, 1202)
    await u.begin()
    q1 = u.last()
    data = q1.button("Руководитель компании")["callback_data"]
    await asyncio.gather(u.press_data(q1.message_id, data), u.press_data(q1.message_id, data))
    questions_shown = [m for m in u.messages() if "Вопрос 2 из 14" in m.text]
    assert len(questions_shown) == 1
    assert stored_choices(db_url, 1202) == {"q01_who_does_accounting": ["ceo"]}
    assert count(db_url, "answers") == 1
    assert response_row(db_url, 1202)["current_question"] == "q02_am_functions"
    assert count(db_url, "processed_updates") == 4  # /start, Начать and both taps: the second was refused
