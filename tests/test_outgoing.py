"""Outgoing calls (issue 11): the bot's sending budget, respondents before bulk sends, per-chat limits,
and the Bot API double that enforces Telegram's limits."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from bot.sending.limiter import BULK, Budget, ChatLimits, OutgoingLimiter, Priority, bulk, message_cost, priority_of
from bot.settings import Settings
from tests.conftest import TEST_TOKEN
from tests.fake_botapi import FakeBotAPI, TelegramLimits, _Limiter
from tests.harness import polling_app

# PTB's own RetryAfter reads its int retry_after when it builds the message
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


# ------------------------------------------------------------------ the budget alone
async def test_bulk_calls_wait_until_no_respondent_reply_is_waiting():
    budget = Budget(rate=40, burst=2)
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await budget.acquire(1, priority)
        order.append(name)

    # a broadcast of 20 queues first; 10 replies to respondents arrive a moment later
    bulk_jobs = [asyncio.create_task(call(f"b{i}", Priority.BULK)) for i in range(20)]
    await asyncio.sleep(0.06)
    arrived = len(order)
    replies = [asyncio.create_task(call(f"r{i}", Priority.INTERACTIVE)) for i in range(10)]
    await asyncio.gather(*bulk_jobs, *replies)
    after = order[arrived:]
    first_reply = after.index("r0")
    # at most one bulk call (already granted its token) goes between the replies' arrival and the first reply,
    # and no bulk call goes while a reply is waiting
    assert first_reply <= 1, order
    assert after[first_reply:first_reply + 10] == [f"r{i}" for i in range(10)], order
    assert sorted(order) == sorted([f"b{i}" for i in range(20)] + [f"r{i}" for i in range(10)])  # nothing lost
    assert budget.granted == [10, 20]


async def test_budget_keeps_the_rate_and_an_album_is_paid_from_spare_slots():
    budget = Budget(rate=50, burst=2)
    start = time.monotonic()
    await asyncio.gather(*(budget.acquire(1) for _ in range(40)), budget.acquire(10, Priority.BULK))
    took = time.monotonic() - start
    # 50 messages at 50/s with a burst of 2: about 0.96 s; never faster than the budget
    assert took >= (50 - 2) / 50 - 0.02
    assert budget.granted == [40, 10]


async def test_cancelled_waiters_give_their_tokens_back():
    budget = Budget(rate=20, burst=1)
    await budget.acquire(1)
    waiting = asyncio.create_task(budget.acquire(5, Priority.BULK))
    await asyncio.sleep(0.12)  # it has reserved about two tokens
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    start = time.monotonic()
    await budget.acquire(1)
    assert time.monotonic() - start < 0.06  # the reservation came back: no full token interval lost
    await budget.close()


async def test_one_chat_gets_a_burst_then_about_one_a_second_without_holding_up_others():
    chats = ChatLimits(chat_rate=5.0, chat_burst=3)  # fast numbers, same rules
    start = time.monotonic()
    times: dict[int, list[float]] = {1: [], 2: []}

    async def send(chat: int) -> None:
        await chats.wait(chat, 1)
        times[chat].append(time.monotonic() - start)

    await asyncio.gather(*(send(1) for _ in range(5)), *(send(2) for _ in range(2)))
    assert max(times[2]) < 0.05  # another chat is not slowed down by the busy one
    assert sorted(times[1])[:3] == pytest.approx([0, 0, 0], abs=0.05)  # the burst
    assert sorted(times[1])[4] >= 2 / 5 - 0.02  # then the chat's rate


async def test_a_group_gets_its_per_minute_window():
    chats = ChatLimits(group_per_minute=3)
    for _ in range(3):
        await asyncio.wait_for(chats.wait(-100500, 1), 0.1)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(chats.wait(-100500, 1), 0.3)  # the fourth waits for the minute to pass


def test_what_counts_against_the_limits_and_who_is_bulk():
    assert message_cost("sendMessage", {"chat_id": 1}) == 1
    assert message_cost("editMessageText", {"chat_id": 1, "message_id": 2}) == 1
    assert message_cost("sendMediaGroup", {"chat_id": 1, "media": [1, 2, 3]}) == 3
    assert message_cost("answerCallbackQuery", {"callback_query_id": "1"}) == 0
    assert message_cost("sendChatAction", {"chat_id": 1}) == 0
    assert message_cost("editMessageText", {"inline_message_id": "x"}) == 0
    assert priority_of(None) == Priority.INTERACTIVE
    assert priority_of(BULK) == Priority.BULK
    with bulk():
        assert priority_of(None) == Priority.BULK
        assert priority_of({"priority": Priority.INTERACTIVE}) == Priority.INTERACTIVE
    assert priority_of(None) == Priority.INTERACTIVE


# ------------------------------------------------------------------ the limit-enforcing double
def test_the_doubles_limits_follow_telegrams_rules():
    limiter = _Limiter(TelegramLimits())
    t = 1000.0
    assert all(limiter.check(1, 1, t) is None for _ in range(10))  # one chat: a burst of ten ...
    assert limiter.check(1, 1, t) == ("chat", pytest.approx(1.0))  # ... then one a second
    assert limiter.check(1, 1, t + 1.0) is None
    assert all(limiter.check(uid, 1, t + 1.0) is None for uid in range(2, 31))  # 30 spent (a burst of 30)
    assert limiter.check(99, 1, t + 1.0)[0] == "bot"
    assert limiter.check(99, 3, t + 1.1) is None  # 30 a second refill the bot's budget
    assert limiter.check(-5, 10, t + 2.0) is None and limiter.check(-5, 10, t + 30.0) is None  # an album counts 10
    assert limiter.check(-5, 1, t + 59.0) == ("group", pytest.approx(3.0))  # 20 a minute in one group
    assert limiter.check(-5, 1, t + 62.0) is None


async def test_the_double_answers_429_over_a_limit_over_http_and_changes_nothing():
    limits = TelegramLimits(per_bot=0.5, per_bot_burst=12, chat_burst=10, chat_rate=0.1)  # slow refills: no timing
    with FakeBotAPI(limits=limits) as api:
        for uid in (1, 2, 3):
            api.user(uid)
        bot = Bot(api.token, base_url=f"{api.url}/bot", base_file_url=f"{api.url}/file/bot")
        async with bot:
            for i in range(10):
                await bot.send_message(1, f"m{i}")
            with pytest.raises(RetryAfter):
                await bot.send_message(1, "m10")  # the chat's burst is spent
            await bot.send_message(2, "a")
            await bot.send_message(3, "b")
            with pytest.raises(RetryAfter):
                await bot.send_message(3, "c")  # the bot's budget is spent
        assert [len(api.messages(uid)) for uid in (1, 2, 3)] == [10, 1, 1]
        assert [h.limit for h in api.limit_hits] == ["chat", "bot"]
        assert all(h.retry_after >= 1 for h in api.limit_hits)


# ------------------------------------------------------------------ the real application over HTTP
async def test_bulk_sends_yield_to_respondents_over_http(tmp_path):
    """A broadcast of 30 bulk messages is under way when 6 respondents start; each respondent's reply goes
    ahead of the queued broadcast, answerCallbackQuery is never held, and the enforcing double sees no 429."""
    rate = 5.0  # a small budget makes the queue long enough to see who goes first
    with FakeBotAPI(limits=TelegramLimits(per_bot=rate, per_bot_burst=rate)) as api:
        settings = Settings(_env_file=None, bot_token=TEST_TOKEN, telegram_api_url=api.url, outgoing_max_rate=rate,
                            database_url=f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
        async with polling_app(settings) as app:
            await asyncio.to_thread(api.wait_call, "setMyCommands")
            readers = [api.user(7000 + i) for i in range(30)]
            respondents = [api.user(8000 + i) for i in range(6)]

            async def broadcast() -> None:
                with bulk():
                    for r in readers:
                        await app.bot.send_message(r.id, "Напоминание: опрос открыт")

            job = asyncio.create_task(broadcast())
            await asyncio.sleep(1.0)  # the broadcast has started and queued up
            bulk_before = len(api.calls_of("sendMessage"))
            for r in respondents:
                r.send("/start")
            await asyncio.gather(*(r.await_text("Как устроен аккаунтинг", timeout=20) for r in respondents))
            calls = api.calls_of("sendMessage")
            replies = [i for i, c in enumerate(calls) if c.params["chat_id"] in {r.id for r in respondents}]
            bulk_between = [c for c in calls[bulk_before:max(replies)] if c.params["chat_id"] < 8000]
            # one bulk call may already hold its token when the first reply arrives; the polling round trip and
            # the DB write of each /start may let through one or two more (spare slots, nobody waiting)
            assert len(bulk_between) <= 3, [c.params["chat_id"] for c in calls[bulk_before:]]
            assert not job.done()  # the broadcast is still waiting for spare budget

            # a tap: the answerCallbackQuery goes at once even though the budget is busy
            first = respondents[0]
            first.press_button("Начать")
            answer = await asyncio.to_thread(first.wait_callback_answer, 5)
            assert answer is not None
            await job
        assert len([c for c in api.calls_of("sendMessage") if c.params["chat_id"] < 8000 and c.status == 200]) == 30
        assert api.limit_hits == []
        assert not api.errors


async def test_limiter_waits_out_a_429_and_pauses_only_chat_bound_calls():
    limiter = OutgoingLimiter(100)
    attempts = 0

    async def flaky() -> bool:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise RetryAfter(1)
        return True

    start = time.monotonic()
    sent = asyncio.create_task(limiter.process_request(flaky, (), {}, "sendMessage", {"chat_id": 5}, None))
    await asyncio.sleep(0.2)

    async def free() -> bool:
        return True

    # answerCallbackQuery has no chat: it goes through during the pause
    t0 = time.monotonic()
    assert await limiter.process_request(free, (), {}, "answerCallbackQuery", {"callback_query_id": "1"}, None)
    assert time.monotonic() - t0 < 0.05
    assert await sent is True
    assert attempts == 2 and time.monotonic() - start >= 1.0
    assert limiter.retries == 1
    await limiter.shutdown()


async def test_an_admins_charts_albums_arrive_within_the_limits_over_http(tmp_path):
    """/stats charts: 14 images as albums (10 + 4) into one chat, bulk, paced by the chat's allowance: all
    delivered, and the limit-enforcing double never answers 429."""
    with FakeBotAPI(limits=TelegramLimits()) as api:
        settings = Settings(_env_file=None, bot_token=TEST_TOKEN, telegram_api_url=api.url, admin_ids="4242",
                            database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
        async with polling_app(settings):
            await asyncio.to_thread(api.wait_call, "setMyCommands")
            admin = api.user(4242)
            admin.send("/stats charts")
            await admin.await_for(lambda m: sum(x.kind == "photo" for x in admin.messages()) >= 14, timeout=60)
        photos = [m for m in admin.messages() if m.kind == "photo"]
        assert len(photos) == 14 and len({m.media_group_id for m in photos}) == 2
        assert api.limit_hits == [] and not api.errors
