"""Processed update ids are forgotten after 48 hours, so an old id Telegram hands out again is not a 'duplicate'."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import Connection, update

from bot.settings import Settings
from storage.db import BatchWriter, create_engine
from storage.migrate import upgrade
from storage.models import ProcessedUpdate, utcnow
from storage.repository import claim_updates
from tests.conftest import TEST_TOKEN
from tests.dbcheck import count, stored_choices
from tests.harness import running_app
from tests.recording import SimUser

# Far above the ids SimUser numbers its own updates with (one counter for the whole test run), so
# the later press of "Начать" never lands on one of the ids claimed here.
BASE = 10**9


async def test_old_update_ids_are_pruned_at_start_and_may_come_again(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    writer = BatchWriter(engine)
    updates = ProcessedUpdate.__table__

    def claim_and_age(conn: Connection) -> None:
        ids = list(range(BASE + 1, BASE + 11))
        assert claim_updates(conn, ids) == set(ids)
        old, recent = updates.c.update_id <= BASE + 5, updates.c.update_id > BASE + 5
        conn.execute(update(updates).where(old).values(processed_at=utcnow() - timedelta(days=3)))
        conn.execute(update(updates).where(recent).values(processed_at=utcnow() - timedelta(hours=47)))

    await writer.run(claim_and_age)
    writer.dispose()
    await engine.dispose()

    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url)
    async with running_app(settings) as (app, request):
        keeper = app.bot_data.housekeeper
        while keeper.runs == 0:
            await asyncio.sleep(0.01)
        assert count(db_url, "processed_updates") == 5  # the three-day-old ids are gone, recent ones kept
        u = SimUser(app, request, 4801)
        start = u._message(text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}])
        await u.feed({"update_id": BASE + 3, "message": start})  # an old id handed out again: processed
        assert "Как устроен аккаунтинг" in u.last().text
        await u.press("Начать")
        q1 = u.last()
        tap = {"id": "q-hk", "from": u.user, "chat_instance": "1", "data": q1.button("Руководитель компании")["callback_data"],
               "message": {"message_id": q1.message_id, "date": 0, "chat": u.chat, "text": q1.text}}
        await u.feed({"update_id": BASE + 7, "callback_query": tap})  # a recent id: taken for a redelivery, ignored
        assert stored_choices(db_url, 4801) == {}
    assert keeper.task is None  # stopped with the application
