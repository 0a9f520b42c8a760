"""Flood: a per-user limit with one polite warning; outgoing messages wait out 429 (issue 4, point 5)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.incoming.flood import TAP_FACTOR, WARNING_TEXT, FloodGuard, Verdict
from bot.settings import Settings
from survey.i18n import translator
from tests.conftest import TEST_TOKEN
from tests.dbcheck import count, stored_choices
from tests.fake_botapi import FakeBotAPI
from tests.harness import QueuedUser, deliver, polling_app, running_app

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

LIMIT = 10


def guard_of(app):
    """The flood guard registered on an application (group -1), to drive its clock and read its counters."""
    return next(h.callback.__self__ for h in app.handlers.get(-1, [])
                if isinstance(getattr(h.callback, "__self__", None), FloodGuard))


class Clock:
    """A hand-driven monotonic clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_guard_window_warns_once_and_forgets_idle_users():
    clock = Clock()
    guard = FloodGuard(5, 10.0, clock=clock)
    verdicts = [guard.verdict(1) for _ in range(50)]
    assert verdicts[:5] == [Verdict.PASS] * 5
    assert verdicts[5] == Verdict.WARN and set(verdicts[6:]) == {Verdict.DROP}
    assert guard.verdict(2) == Verdict.PASS  # another user is not affected
    clock.now += 5
    assert guard.verdict(1) == Verdict.DROP  # still within the window: slowed down, no new warning
    clock.now += 5.01
    assert [guard.verdict(1) for _ in range(5)] == [Verdict.PASS] * 5  # the window slid on
    assert guard.verdict(1) == Verdict.WARN  # a new flood, a window later, gets one new notice
    # taps have a larger allowance than messages
    assert [guard.verdict(3, tap=True) for _ in range(5 * TAP_FACTOR)] == [Verdict.PASS] * (5 * TAP_FACTOR)
    assert guard.verdict(3, tap=True) == Verdict.WARN
    clock.now += 100
    guard.verdict(4)
    assert guard.tracked_users == 1  # idle users are forgotten


def test_guard_memory_is_bounded():
    clock = Clock()
    guard = FloodGuard(3, 60.0, clock=clock, max_users=100)
    for user in range(10_000):
        clock.now += 0.001
        assert guard.verdict(user) == Verdict.PASS
    assert guard.tracked_users == 100


@pytest.fixture
def flood_settings(db_url: str) -> Settings:
    return Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, flood_messages=LIMIT,
                    flood_window_seconds=60)


async def test_flooding_user_is_warned_once_and_excess_never_reaches_the_db(flood_settings, db_url, caplog):
    caplog.set_level(logging.INFO)
    async with running_app(flood_settings) as (app, request):
        clock = Clock()
        guard_of(app).clock = clock
        flooder = QueuedUser(app, request, 3001)
        others = [QueuedUser(app, request, 3100 + i) for i in range(10)]

        async def walk(o: QueuedUser) -> None:
            await o.begin()
            await o.press("Руководитель компании")

        # 50 messages at once from one user ("50 a second"), while ten others answer
        burst = [deliver(app, {"update_id": 90_000 + i, "message": flooder._message(text=f"спам {i}")})
                 for i in range(50)]
        await asyncio.gather(*burst, *(walk(o) for o in others))

        warnings = [m for m in flooder.messages() if m.text == RU(WARNING_TEXT)]
        assert len(warnings) == 1
        # only the first LIMIT messages were processed (each claims its update id); the rest cost no SQL
        assert count(db_url, "processed_updates") == LIMIT + 3 * len(others)
        assert guard_of(app).dropped == 50 - LIMIT
        for o in others:  # nobody else was slowed down or warned
            assert stored_choices(db_url, o.id) == {"q01_who_does_accounting": ["ceo"]}
            assert all(m.text != RU(WARNING_TEXT) for m in o.messages())

        # more flooding inside the window: still dropped, and no second warning
        await flooder.send("ещё")
        assert len([m for m in flooder.messages() if m.text == RU(WARNING_TEXT)]) == 1
        # once the window has passed the user is served again
        clock.now += 61
        await flooder.send("/start")
        assert "Начать" in flooder.last().button("Начать")["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's limiter reads int retry_after
async def test_retry_after_from_telegram_is_waited_out_and_delivered(tmp_path):
    """Over HTTP: the server answers 429 retry_after=1 to the bot's reply; the rate limiter waits and resends."""
    with FakeBotAPI() as api:
        settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=f"sqlite+aiosqlite:///{tmp_path / 'f.db'}",
                            telegram_api_url=api.url)
        async with polling_app(settings):
            user = api.user(3201)
            await asyncio.to_thread(api.wait_call, "setMyCommands")
            api.flood("sendMessage", times=2, retry_after=1)
            user.send("/start")
            await user.await_text("Как устроен аккаунтинг", timeout=15)
        statuses = [c.status for c in api.calls_of("sendMessage")]
        assert statuses == [429, 429, 200]
        assert len(user.messages()) == 1  # delivered once, not duplicated by the retries
        assert not api.errors


async def test_flood_in_a_group_adds_no_message_to_the_group(flood_settings, db_url):
    async with running_app(flood_settings) as (app, request):
        member = QueuedUser(app, request, 3301)
        member.chat = {"id": -100900, "type": "supergroup", "title": "g"}
        for i in range(3 * LIMIT):
            await member.send(f"сообщение {i}")
        sent = [p["text"] for name, p in request.calls if name == "sendMessage"]
        assert len(sent) == 1 and "личных сообщениях" in sent[0]
        assert guard_of(app).dropped == 2 * LIMIT
