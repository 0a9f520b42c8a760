"""Raw updates of every kind Telegram can send a bot (Bot API 9), for the tests of issue 24, point 2."""

from __future__ import annotations

import time
from typing import Any

JSON = dict[str, Any]
GROUP = {"id": -100777000, "type": "supergroup", "title": "Отдел продаж"}
SMALL_GROUP = {"id": -777001, "type": "group", "title": "Друзья"}
CHANNEL = {"id": -100888000, "type": "channel", "title": "Новости"}
ADMIN_RIGHTS = {k: False for k in (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages", "can_manage_video_chats",
    "can_restrict_members", "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
    "can_edit_stories", "can_delete_stories")}


def member(user: JSON, status: str) -> JSON:
    """A ChatMember object of that status."""
    match status:
        case "administrator":
            return {"user": user, "status": status, **ADMIN_RIGHTS}
        case "kicked":
            return {"user": user, "status": status, "until_date": 0}
        case _:
            return {"user": user, "status": status}


def my_chat_member(chat: JSON, by: JSON, bot: JSON, old: str, new: str) -> JSON:
    """The bot's own status in ``chat`` changed from ``old`` to ``new`` (by the user ``by``)."""
    return {"my_chat_member": {"chat": chat, "from": by, "date": int(time.time()),
                               "old_chat_member": member(bot, old), "new_chat_member": member(bot, new)}}


def ignored(user: JSON, chat: JSON) -> dict[str, JSON]:
    """One update of every kind the bot does nothing with, by name (``user`` in their private ``chat``)."""
    now = int(time.time())
    post = {"message_id": 5, "date": now, "chat": CHANNEL, "text": "Новость дня"}
    business = {"message_id": 3, "date": now, "chat": chat, "from": user, "text": "Здравствуйте",
                "business_connection_id": "bc-1"}
    source = {"source": "premium", "user": user}
    return {
        "channel_post": {"channel_post": post},
        "edited_channel_post": {"edited_channel_post": {**post, "edit_date": now}},
        "inline_query": {"inline_query": {"id": "iq-1", "from": user, "query": "опрос", "offset": ""}},
        "chosen_inline_result": {"chosen_inline_result": {"result_id": "r-1", "from": user, "query": "опрос"}},
        "message_reaction": {"message_reaction": {"chat": chat, "message_id": 1, "user": user, "date": now,
                                                  "old_reaction": [],
                                                  "new_reaction": [{"type": "emoji", "emoji": "👍"}]}},
        "message_reaction_count": {"message_reaction_count": {
            "chat": GROUP, "message_id": 1, "date": now,
            "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 2}]}},
        "business_connection": {"business_connection": {"id": "bc-1", "user": user, "user_chat_id": chat["id"],
                                                        "date": now, "is_enabled": True}},
        "business_message": {"business_message": business},
        "edited_business_message": {"edited_business_message": {**business, "edit_date": now}},
        "deleted_business_messages": {"deleted_business_messages": {"business_connection_id": "bc-1",
                                                                    "chat": chat, "message_ids": [3]}},
        "poll": {"poll": {"id": "p-1", "question": "Кофе?", "options": [{"persistent_id": "o-1", "text": "да", "voter_count": 0}],
                          "total_voter_count": 0, "is_closed": False, "is_anonymous": True, "type": "regular",
                          "allows_multiple_answers": False, "allows_revoting": False, "members_only": False}},
        "poll_answer": {"poll_answer": {"poll_id": "p-1", "user": user, "option_ids": [0], "option_persistent_ids": ["o-1"]}},
        "chat_member": {"chat_member": {"chat": GROUP, "from": user, "date": now,
                                        "old_chat_member": member(user, "left"),
                                        "new_chat_member": member(user, "member")}},
        "chat_join_request": {"chat_join_request": {"chat": GROUP, "from": user, "user_chat_id": chat["id"],
                                                    "date": now}},
        "chat_boost": {"chat_boost": {"chat": CHANNEL, "boost": {"boost_id": "b-1", "add_date": now,
                                                                 "expiration_date": now + 86400,
                                                                 "source": source}}},
        "removed_chat_boost": {"removed_chat_boost": {"chat": CHANNEL, "boost_id": "b-1", "remove_date": now,
                                                      "source": source}},
        "shipping_query": {"shipping_query": {"id": "s-1", "from": user, "invoice_payload": "x", "shipping_address": {
            "country_code": "RU", "state": "", "city": "Москва", "street_line1": "ул. 1", "street_line2": "",
            "post_code": "101000"}}},
        "pre_checkout_query": {"pre_checkout_query": {"id": "pc-1", "from": user, "currency": "XTR",
                                                      "total_amount": 1, "invoice_payload": "x"}},
        "purchased_paid_media": {"purchased_paid_media": {"from": user, "paid_media_payload": "x"}},
        "a_kind_telegram_adds_later": {"a_kind_telegram_adds_later": {"id": 1, "from": user}},
    }
