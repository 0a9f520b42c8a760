"""Privacy in what leaves the database: exports of an ANONYMOUS=true survey hold no Telegram identity, and a
forgotten respondent is no longer counted in the summary (issue 4, point 8; needs the analytics package)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from analytics import export, summary
from bot.settings import Settings
from tests.conftest import TEST_TOKEN
from tests.harness import running_app
from tests.recording import SimUser

KEY = "anonymity-key-for-tests-0123456789"
PEOPLE = [(7364519208, "Варвара", "varvara_secret_handle"), (6029384751, "Zebulon", "zebulon_q_private")]


async def walk(u: SimUser) -> None:
    await u.begin()
    await u.press("Руководитель компании")
    for _ in range(10):
        await u.press("Пропустить")
    await u.send("25")
    await u.press("Москва")
    await u.press("Аккаунт-менеджер")


async def test_anonymous_exports_hold_no_identity(tmp_path: Path):
    import openpyxl
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
                        anonymous=True, anonymity_key=KEY)
    async with running_app(settings) as (app, request):
        for uid, name, username in PEOPLE:
            u = SimUser(app, request, uid, name)
            u.user["username"] = username
            await walk(u)
        engine, survey = app.bot_data.engine, app.bot_data.survey
        buf = io.BytesIO()
        assert await export.export_csv(engine, survey, buf) == len(PEOPLE)
        xlsx = tmp_path / "a.xlsx"
        await export.export_xlsx(engine, survey, xlsx)
    forbidden = {str(uid) for uid, _, _ in PEOPLE} | {n for _, n, _ in PEOPLE} | {u for _, _, u in PEOPLE}
    cells = [c for row in csv.reader(io.StringIO(buf.getvalue().decode("utf-8-sig"))) for c in row]
    book = openpyxl.load_workbook(xlsx, read_only=True)
    cells += [str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert len(cells) > 50
    leaks = [c for c in cells for word in forbidden if word.lower() in c.lower()]
    assert not leaks, leaks[:5]


async def test_forgotten_respondent_is_not_counted(tmp_path: Path):
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}")
    async with running_app(settings) as (app, request):
        users = [SimUser(app, request, uid, name) for uid, name, _ in PEOPLE]
        for u in users:
            await walk(u)
        engine, survey = app.bot_data.engine, app.bot_data.survey
        before = await summary.build_summary(engine, survey)
        await users[0].send("/forget_me")
        await users[0].press("Да, удалить")
        after = await summary.build_summary(engine, survey)
    assert (before.started, before.completed) == (2, 2)
    assert (after.started, after.completed) == (1, 1)
