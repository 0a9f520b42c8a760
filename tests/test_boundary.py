"""Admin and chat boundaries (issue 4, point 6): private chats only, admins by numeric id only."""

from __future__ import annotations

import pytest

from bot.respondent import screens
from bot.settings import SettingsError, load_settings
from survey.i18n import translator
from tests.conftest import ADMIN_ID
from tests.dbcheck import count, stored_choices

RU = translator("ru").gettext  # the bot's texts as a respondent whose Telegram is in Russian reads them

GROUPS = [{"id": -100500, "type": "supergroup", "title": "Рабочий чат"}, {"id": -4242, "type": "group", "title": "g"}]


async def test_groups_are_told_once_and_otherwise_ignored(make_user, bot, db_url):
    """Extends test_flow's group test: many members, every kind of update, two groups, and a real button
    of a respondent's private survey replayed in a group: one notice per group, nothing else, nothing stored."""
    app, request = bot
    private = make_user(4501)
    await private.begin()
    own_button = private.last().button("Руководитель компании")["callback_data"]
    before = (count(db_url, "respondents"), count(db_url, "answers"))
    for chat in GROUPS:
        for uid in (4501, 4502, ADMIN_ID):
            member = make_user(uid)
            member.chat = chat
            await member.send("/start")
            await member.send("/stats")
            await member.send("привет, бот")
            await member.sticker()
            await member.edit(10_000, "исправил")
            await member.press_data(1, own_button)  # the bot puts no buttons in groups: a forged tap
            await member.press_data(1, "a:1:o:ceo")
            assert member.last_toast() == RU(screens.STALE_TOAST)
    for chat in GROUPS:
        sent = [(name, p) for name, p in request.calls if str(p.get("chat_id")) == str(chat["id"])]
        assert [(name, p["text"]) for name, p in sent] == [("sendMessage", RU(screens.GROUP_ONLY_PRIVATE))]
    assert (count(db_url, "respondents"), count(db_url, "answers")) == before
    assert stored_choices(db_url, 4501) == {}
    await private.press_data(private.last().message_id, own_button)  # still works in the private chat
    assert stored_choices(db_url, 4501) == {"q01_who_does_accounting": ["ceo"]}


async def test_inline_message_button_without_a_chat_is_refused(make_user, bot, db_url):
    app, _ = bot
    u = make_user(4601)
    await u.begin()
    await u.feed({"callback_query": {"id": "inl1", "from": u.user, "chat_instance": "1", "inline_message_id": "AAA",
                                     "data": u.last().button("Руководитель компании")["callback_data"]}})
    assert u.last_toast() == RU(screens.STALE_TOAST)
    assert stored_choices(db_url, 4601) == {}


@pytest.mark.parametrize("value", ["@boss", "boss", "4242,@boss", "4242;5"])
def test_admins_are_configured_by_numeric_id_only(monkeypatch, value):
    monkeypatch.setenv("ADMIN_IDS", value)
    with pytest.raises(SettingsError, match="ADMIN_IDS"):
        load_settings(_env_file=None)


def test_anonymous_admin_id_is_never_an_admin(monkeypatch):
    monkeypatch.setenv("ADMIN_IDS", "1087968824,4242")
    settings = load_settings(_env_file=None)
    assert settings.admin_ids == frozenset({4242})
    assert not settings.is_admin(1087968824) and settings.is_admin(4242) and not settings.is_admin(None)


async def test_admin_commands_check_the_numeric_id_not_names(make_user, bot):
    app, _ = bot
    app.bot_data.settings.admin_ids = frozenset({ADMIN_ID, 1087968824})  # even if it slipped into the settings
    real = make_user(ADMIN_ID, "Админ")
    real.user["username"] = "the_admin"
    await real.send("/stats")
    assert real.last().text != RU(screens.UNKNOWN_COMMAND)
    impostors = [make_user(1087968824, "Group"), make_user(4701, "Админ"), make_user(4702, "the_admin")]
    impostors[0].user["username"] = "GroupAnonymousBot"
    impostors[1].user["username"] = "the_admin"  # same name and username as the admin, other id
    for u in impostors:
        for command in ("/stats", "/export", "/stats charts"):
            await u.send(command)
            assert u.last().text == RU(screens.UNKNOWN_COMMAND), (u.id, command)
        await u.press_data(u.last().message_id, "st:export_csv")
        assert all(m.kind == "text" for m in u.messages())  # no file was sent to them
