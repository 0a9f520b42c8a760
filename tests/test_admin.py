"""Admin commands in the chat: only ADMIN_IDS get anything; the summary, charts, funnel and exports."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from openpyxl import load_workbook

from bot.respondent import screens
from bot.settings import Settings
from survey.i18n import translator
from tests.conftest import ADMIN_ID, TEST_TOKEN
from tests.harness import running_app
from tests.recording import SimUser

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

ADMIN_COMMANDS = ["/stats", "/stats completed", "/stats 1", "/stats charts", "/stats funnel", "/stats 99",
                  "/stats nonsense", "/export", "/export csv", "/export xlsx completed"]


async def walk(u, *, finish: bool) -> None:
    """Answer a few questions (all 14 when finish)."""
    await u.begin()
    await u.press("Аккаунт-менеджеры")
    await u.press("Коммуникации с")  # q02's options come in a random order: by label
    await u.press("Допродажи")
    await u.press("Готово")
    if not finish:
        return
    await u.press("Пропустить")
    for _ in range(11):
        await u.answer_current("40")
    assert "Спасибо" in u.last().text


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
async def test_non_admin_gets_unknown_command(make_user, bot, command):
    _, request = bot
    u = make_user(2001)
    await walk(u, finish=True)
    calls_before = len(request.calls)
    await u.send(command)
    new = request.calls[calls_before:]
    assert [name for name, _ in new] == ["sendMessage"]
    assert new[0][1]["text"] == RU(screens.UNKNOWN_COMMAND)


@pytest.mark.parametrize("data", ["st:charts", "st:funnel", "st:export_csv", "st:export_xlsx"])
async def test_non_admin_forged_stats_button(make_user, bot, data):
    _, request = bot
    u = make_user(2002)
    await walk(u, finish=False)
    calls_before = len(request.calls)
    await u.press_data(u.last().message_id, data)
    assert [name for name, _ in request.calls[calls_before:]] == ["answerCallbackQuery"]
    assert u.last_toast() == RU(screens.STALE_TOAST)


async def test_anonymous_group_admin_id_is_never_admin(db_url):
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids="1087968824,5")
    assert settings.admin_ids == frozenset({5})
    assert not settings.is_admin(1087968824)


async def test_admin_summary_and_buttons(make_user, bot):
    _, request = bot
    for uid in range(3001, 3004):
        await walk(make_user(uid), finish=True)
    await walk(make_user(3004), finish=False)
    admin = make_user(ADMIN_ID)
    await admin.send("/stats")
    texts = [m for m in admin.messages()]
    assert texts, "the admin got the summary"
    full = "\n".join(m.text for m in texts)
    assert all(len(m.text) <= 4096 for m in texts)
    assert "Аккаунт-менеджеры — 4 (100,0%)" in full
    assert "n = 4" in full
    assert texts[-1].keyboard is not None
    await admin.press("Графики")
    photos = [p for name, p in request.calls if name in ("sendMediaGroup", "sendPhoto") and int(p["chat_id"]) == ADMIN_ID]
    assert sum(len(p.get("media", [None])) for p in photos) == 14


async def test_admin_exports_open_and_round_trip(make_user, bot):
    _, request = bot
    await walk(make_user(3101), finish=True)
    await walk(make_user(3102), finish=False)
    admin = make_user(ADMIN_ID)
    await admin.send("/export")
    docs = [p for name, p in request.calls if name == "sendDocument" and int(p["chat_id"]) == ADMIN_ID]
    assert len(docs) == 3  # CSV, its codebook, XLSX (the codebook is a sheet inside)
    files = dict(f for d in docs for f in d["_files"].values())
    assert any(n.endswith(".codebook.csv") for n in files)
    csv_name = next(n for n in files if n.endswith(".csv") and not n.endswith(".codebook.csv"))
    xlsx_name = next(n for n in files if n.endswith(".xlsx"))
    assert files[csv_name].startswith(b"\xef\xbb\xbf")  # BOM for Excel
    frame = pd.read_csv(io.BytesIO(files[csv_name]), encoding="utf-8-sig")
    assert len(frame) == 2
    book = load_workbook(io.BytesIO(files[xlsx_name]), read_only=True)
    assert len(book.sheetnames) == 4
    await admin.send("/export csv completed")
    docs = [p for name, p in request.calls if name == "sendDocument" and int(p["chat_id"]) == ADMIN_ID]
    (_, content), = docs[-2]["_files"].values()  # the last one is its codebook
    frame = pd.read_csv(io.BytesIO(content), encoding="utf-8-sig")
    assert len(frame) == 1


async def test_stats_question_detail_and_funnel(make_user, bot):
    _, request = bot
    u = make_user(3201)
    await u.begin()
    await u.press("Прочее")
    await u.send("=HYPERLINK(\"x\") <script>")
    admin = make_user(ADMIN_ID)
    await admin.send("/stats 1")
    text = "\n".join(m.text for m in admin.messages())
    assert "&lt;script&gt;" in text and "<script>" not in text
    await admin.send("/stats funnel")
    assert any(name == "sendPhoto" for name, _ in request.calls)


async def test_admin_menu_scoped_to_admin_chat(bot):
    _, request = bot
    scoped = [p for name, p in request.calls if name == "setMyCommands" and "chat_id" in str(p.get("scope"))]
    assert len(scoped) == 1 and str(ADMIN_ID) in str(scoped[0]["scope"])
    assert any(c["command"] == "stats" for c in scoped[0]["commands"])
    default = [p for name, p in request.calls if name == "setMyCommands" and p not in scoped]
    assert all(c["command"] != "stats" for c in default[0]["commands"])


async def test_progress_notification_every_n(db_url):
    settings = Settings(_env_file=None, bot_token=TEST_TOKEN, database_url=db_url, admin_ids=str(ADMIN_ID),
                        notify_admins_every=2)
    async with running_app(settings) as (app, request):
        for uid in (3301, 3302, 3303):
            await walk(SimUser(app, request, uid), finish=True)
        notes = [p["text"] for name, p in request.calls if name == "sendMessage" and int(p["chat_id"]) == ADMIN_ID]
        assert notes == ["📈 «Как устроен аккаунтинг в разных digital-компаниях?»: завершено анкет — 2."]
