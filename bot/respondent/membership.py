"""The bot's own membership in a chat (``my_chat_member`` updates), routed on purpose:

- a private chat: the respondent blocked the bot (status ``kicked``) → marked blocked, so no reminder goes to them
  (storage/reminders.py skips respondents blocked since their last activity); unblocked (``member``) → the mark is
  cleared, so reminders follow them again. Nothing is sent: Telegram would refuse it, or they did not ask.
- a group or a supergroup the bot was added to: one short note that the survey runs in private chats, then the bot
  leaves (it has nothing to do there, and staying would let it read the group's messages);
- a channel the bot was added to: it leaves without posting (a post would go to every subscriber);
- the bot removed from a group or a channel: nothing to do.
"""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.context import Context
from bot.respondent import screens
from bot.respondent.language import speech, telegram_language

log = logging.getLogger(__name__)

PRESENT = frozenset({ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED})


async def on_my_chat_member(update: Update, context: Context) -> None:
    """The bot's status in a chat changed (see the module docstring)."""
    change = update.my_chat_member
    chat, status = change.chat, change.new_chat_member.status
    if chat.type == ChatType.PRIVATE:
        service = context.bot_data.service
        if status == ChatMember.BANNED:
            await service.mark_blocked(change.from_user.id)
            log.info("a respondent blocked the bot; marked (no reminders)")
        elif status in PRESENT:
            await service.mark_unblocked(change.from_user.id)
            log.info("a respondent unblocked the bot; reminders follow them again")
        return
    if status not in PRESENT:  # removed from a group or a channel: nothing to do
        return
    try:
        if chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            t = speech(context.bot_data.survey, telegram_language(update)).t
            await context.bot.send_message(chat.id, t.gettext(screens.GROUP_ONLY_PRIVATE))
        await context.bot.leave_chat(chat.id)
        log.info("added to a %s; left it", chat.type)
    except TelegramError as exc:  # not allowed to write there, or already removed: nothing more to do
        log.info("added to a %s; could not note it or leave: %s", chat.type, exc.message)
