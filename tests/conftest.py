"""Shared fixtures: a real SQLite file per test and the application wired to a recording request."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.app import build_application  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tests.recording import RecordingRequest, SimUser  # noqa: E402

TEST_TOKEN = "123456789:TEST-token_for_the_surveybot_tests_0001"
ADMIN_ID = 4242


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite file database."""
    return f"sqlite+aiosqlite:///{tmp_path / 'survey.db'}"


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings for an in-process bot with one admin."""
    return Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID))


@pytest.fixture
async def bot(settings: Settings):
    """A running in-process application and its recording request."""
    request = RecordingRequest()
    app = build_application(settings, request=request, rate_limiter=False)
    await app.initialize()
    await app.post_init(app)
    try:
        yield app, request
    finally:
        await app.post_shutdown(app)
        await app.shutdown()


@pytest.fixture
def make_user(bot):
    """Factory of simulated users talking to the in-process bot."""
    app, request = bot
    return lambda user_id, name="Тест": SimUser(app, request, user_id, name)
