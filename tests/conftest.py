"""Shared fixtures: a real database per test (SQLite file and PostgreSQL) and the application wired to a
recording request."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.settings import Settings  # noqa: E402
from tests import pg  # noqa: E402
from tests.harness import running_app  # noqa: E402
from tests.recording import SimUser  # noqa: E402

TEST_TOKEN = "123456789:TEST-token_for_the_surveybot_tests_0001"
ADMIN_ID = 4242


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path):
    """A fresh, empty database: a SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'survey.db'}"
        return
    async with pg.fresh_database() as url:
        yield url


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings for an in-process bot with one admin."""
    # Simulated respondents answer far faster than people: the flood limit has tests of its own.
    return Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                    flood_messages=10_000)


@pytest.fixture
async def bot(settings: Settings):
    """A running in-process application and its recording request."""
    async with running_app(settings) as (app, request):
        yield app, request


@pytest.fixture
def make_user(bot):
    """Factory of simulated users talking to the in-process bot."""
    app, request = bot
    return lambda user_id, name="Тест": SimUser(app, request, user_id, name)
