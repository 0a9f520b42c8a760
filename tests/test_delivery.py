"""Bot API calls that fail in transit are made again (bot/sending/retries.py), against the fault-injecting fake."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from telegram import Bot
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.request import HTTPXRequest

from bot.sending.retries import WATCH_SECONDS, RetryingRequest
from tests.fake_botapi import FakeBotAPI, Faults

TIMEOUT = 0.5  # the bot's wait for one answer; the fake's "timeout" faults hold longer


def make_bot(api: FakeBotAPI, **retry: float) -> tuple[Bot, RetryingRequest]:
    request = RetryingRequest(HTTPXRequest(read_timeout=TIMEOUT, write_timeout=TIMEOUT, connect_timeout=TIMEOUT),
                              first_delay=0.01, **retry)
    return Bot(api.token, base_url=f"{api.url}/bot", request=request), request


async def test_every_message_arrives_although_a_third_of_the_calls_fail():
    with FakeBotAPI(faults=Faults(rate=0.3, hold=TIMEOUT * 2, seed=7)) as api:
        api.user(5001)
        bot, request = make_bot(api)
        async with bot:
            for i in range(40):
                msg = await bot.send_message(5001, f"сообщение {i}")
                assert msg.text == f"сообщение {i}"
                try:
                    await bot.edit_message_text(f"изменено {i}", chat_id=5001, message_id=msg.message_id)
                except BadRequest as exc:  # done, answer lost, made again: the handlers ignore this refusal
                    assert "not modified" in exc.message
    kinds = Counter(kind for _, kind in api.injected)
    assert set(kinds) == set(Faults().kinds), kinds  # every kind of fault was met
    texts = Counter(m.content for m in api.messages(5001))
    # Every message is there, edited; a call whose answer was lost after it was done may have left a copy.
    assert all(texts[f"изменено {i}"] >= 1 for i in range(40)), texts
    copies = sum(texts.values()) - 40
    assert copies <= sum(kinds[k] for k in ("slow_delivered", "lost", "garbled"))
    assert request.retries >= len(api.injected) // 2  # (an injected timeout may still beat the client's clock)


async def test_refusals_are_not_retried_and_the_budget_is_bounded():
    with FakeBotAPI(faults=Faults(rate=1.0, kinds=("http502",), methods=("sendMessage",))) as api:
        api.user(5002)
        bot, request = make_bot(api, retry_seconds=0.5)
        async with bot:
            with pytest.raises(BadRequest):  # 400: understood and refused, made once
                await bot.edit_message_text("x", chat_id=5002, message_id=999)
            assert len(api.calls_of("editMessageText")) == 1
            started = time.monotonic()
            with pytest.raises(NetworkError):  # Telegram keeps failing: given up after the budget
                await bot.send_message(5002, "никогда")
            assert time.monotonic() - started < 3
            assert len(api.calls_of("sendMessage")) >= 3 and request.retries >= 2


class _Silent(HTTPXRequest):
    """A transport whose answer never comes (a proxy that holds the connection open)."""

    async def do_request(self, *args, **kwargs):
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


async def test_an_answer_that_never_comes_times_out_at_the_deadline_and_the_caller_goes_on():
    request = RetryingRequest(_Silent(), deadline=0.3, retry_seconds=0.0)
    start = time.monotonic()
    with pytest.raises(TimedOut):
        await request.do_request("https://127.0.0.1/botTOKEN/sendMessage", "POST")
    took = time.monotonic() - start
    assert 0.3 <= took < 0.3 + 2 * WATCH_SECONDS + 0.5, took
    # The caller's task is not left cancelled: it awaits on as usual.
    await asyncio.sleep(0.01)
    assert asyncio.current_task().cancelling() == 0


async def test_a_caller_cancelled_from_outside_stays_cancelled():
    request = RetryingRequest(_Silent(), deadline=30.0)
    call = asyncio.create_task(request.do_request("https://127.0.0.1/botTOKEN/getUpdates", "POST"))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await request.shutdown()
