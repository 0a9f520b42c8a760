"""/my_data and /forget_me: a respondent sees, and can delete, what is stored about them."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from analytics.messages import split_messages
from analytics.summary_text import fmt_time
from bot import callbacks
from bot.context import Context
from bot.respondent import screens
from bot.respondent.ui import edit, toast

FORGET_ASK = (
    "Удалить все ваши ответы и запись о вас? Это нельзя отменить: ответы пропадут и из статистики исследования."
)
FORGOTTEN = "Готово: ваши ответы и запись о вас удалены. Если захотите пройти опрос снова — нажмите /start."
NOTHING_STORED = "О вас ничего не сохранено."
FORGET_CANCELLED = "Хорошо, ничего не удалено."
FORGET_HINT = "Удалить всё это можно командой /forget_me."


def your_id(user_id: int) -> str:
    """The line telling users their own numeric Telegram id (what an operator puts in ADMIN_IDS)."""
    return f"Ваш числовой Telegram id: <code>{user_id}</code>"


async def my_data(update: Update, context: Context) -> None:
    """/my_data: the stored record of the user, in words."""
    data = context.bot_data
    record = await data.service.record(update.effective_user.id)
    user_id = update.effective_user.id
    if record is None:
        # Also how a new admin learns the id for ADMIN_IDS (the quick start says so): Telegram knows it anyway.
        await update.effective_message.reply_text(f"{NOTHING_STORED}\n{your_id(user_id)}", parse_mode=ParseMode.HTML)
        return
    survey = data.survey
    anonymous = data.settings.anonymous
    who = "ключ-псевдоним (ваш Telegram id не хранится)" if anonymous else "ваш числовой Telegram id"
    lines = [
        "<b>Что о вас сохранено</b>",
        f"Идентификатор: {who} — <code>{escape(record['user_key'])}</code>",
        f"Первый визит: {fmt_time(record['first_seen'])}",
        f"Источник ссылки: {escape(record['source'] or '—')}",
        "Имя, username и другие данные профиля не сохраняются.",
        your_id(user_id) + (" (он не сохраняется)" if anonymous else ""),
    ]
    for resp in record["responses"]:
        status = "завершён" if resp["status"] == "completed" else "в процессе"
        lines += ["", f"Опрос: {status}; начат {fmt_time(resp['started_at'])}, завершён {fmt_time(resp['completed_at'])}"]
        if resp["survey_id"] != survey.id:
            lines.append(f"(анкета {escape(resp['survey_id'])})")
            continue
        for q in survey.questions:
            if q.id in resp["answers"]:
                label = screens.answer_label(survey, q, resp["answers"][q.id])
                lines.append(f"{survey.number(q.id)}. {escape(q.short_title)}: {escape(label)}")
    lines += ["", FORGET_HINT]
    # Long answers make the record longer than one message: it goes in parts, nothing cut, the hint last.
    for part in split_messages(lines):
        await context.bot.send_message(update.effective_chat.id, part, parse_mode=ParseMode.HTML)


async def forget_me(update: Update, context: Context) -> None:
    """/forget_me: ask for confirmation with two buttons."""
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Да, удалить", callback_data="f:yes"), InlineKeyboardButton("Отмена", callback_data="f:no")]]
    )
    await update.effective_message.reply_text(FORGET_ASK, reply_markup=keyboard)


async def forget_button(update: Update, context: Context, button: callbacks.ForgetButton) -> None:
    """The confirmation: delete everything, or leave it."""
    await toast(update)
    if not button.confirmed:
        await edit(update, screens.Screen(FORGET_CANCELLED))
        return
    found = await context.bot_data.service.forget(update.effective_user.id)
    await edit(update, screens.Screen(FORGOTTEN if found else NOTHING_STORED))
