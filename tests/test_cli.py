"""The operator CLI reads the same database without Telegram."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
import pytest

from bot.cli import main
from tests.recording import SimUser


async def fill(bot) -> None:
    app, request = bot
    done = SimUser(app, request, 6001)
    await done.begin()
    await done.press("Аккаунт-менеджеры")
    for _ in range(13):
        await done.answer_current("12")
    partial = SimUser(app, request, 6002)
    await partial.begin()
    await partial.press("Руководитель компании")


@pytest.fixture
def env(monkeypatch, db_url, tmp_path):
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)  # reading the database needs no token
    monkeypatch.chdir(tmp_path)


async def test_stats_json_text_and_exports(bot, env, capsys, tmp_path):
    await fill(bot)
    # The CLI runs its own event loop, as it does from a shell.
    run = lambda *argv: asyncio.to_thread(main, list(argv))  # noqa: E731
    assert await run("stats", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["started"], data["completed"], data["in_progress"]) == (2, 1, 1)
    q1 = data["questions"][0]
    assert q1["n"] == 2
    assert {o["id"]: (o["count"], o["percent"]) for o in q1["options"]}["account_managers"] == (1, 50.0)
    assert await run("stats", "--completed", "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["questions"][0]["n"] == 1
    assert await run("stats") == 0
    text = capsys.readouterr().out
    assert "Аккаунт-менеджеры — 1 (50,0%)" in text and "<b>" not in text
    out = tmp_path / "all.csv"
    assert await run("export", "--format", "csv", "-o", str(out)) == 0
    assert len(pd.read_csv(out, encoding="utf-8-sig")) == 2
    out = tmp_path / "done.xlsx"
    assert await run("export", "--format", "xlsx", "--completed", "-o", str(out)) == 0
    assert len(pd.read_excel(out, sheet_name="Ответы")) == 1
