"""Thin Telegram handlers for respondents: parse the update, call the service, render the result."""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo
from html import escape

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, NetworkError

from bot import callbacks, render
from bot.admin import notify_progress, stats_button
from bot.context import Context
from bot.guard import StorageUnavailable, fault_of, tell_fault
from bot.health import DATABASE
from bot.privacy import forget_button
from bot.service import Reply, ReplyStatus
from bot.testmode import begin_test, respondent_service
from bot.ui import edit_or_send, send, toast
from storage.models import utcnow
from survey import flow
from survey.field import Phase
from survey.flow import Kind
from survey.model import Survey

log = logging.getLogger(__name__)


async def show_current(update: Update, context: Context, lead: str | None = None) -> None:
    """Send the respondent's current question again (the old keyboards stop working)."""
    user, chat_id = update.effective_user, update.effective_chat.id
    service = await respondent_service(context, user.id)
    state = await service.show(user.id)
    if lead:
        await context.bot.send_message(chat_id, lead)
    await show_state(context, chat_id, state)


def state_screen(survey: Survey, state: Reply, zone: tzinfo = UTC) -> render.Screen | None:
    """The screen of a state that is not an answer outcome: the question, the thank-you, the intro, or why the
    survey does not take it now (dates shown in ``zone``)."""
    if state.status == ReplyStatus.CLOSED and state.availability is not None:
        return render.Screen(escape(render.availability_text(survey, state.availability, zone,
                                                             in_progress=state.in_progress)))
    if state.status == ReplyStatus.IN_PROGRESS and state.progress and state.progress.current:
        return render.question_screen(survey, state.progress, state.version)
    if state.status == ReplyStatus.COMPLETED:
        return render.Screen(escape(render.COMPLETED_TEXT))
    if state.status == ReplyStatus.NEW:
        return render.intro_screen(survey)
    return None


async def show_state(context: Context, chat_id: int, state: Reply) -> None:
    """Send the screen of a state (the question, the thank-you or the intro) as a new message."""
    screen = state_screen(context.bot_data.survey, state, context.bot_data.settings.zone())
    if screen is not None:
        await send(context, chat_id, screen)


async def start(update: Update, context: Context) -> None:
    """/start [source]: greet, offer to resume, or say the answers are recorded."""
    source = context.args[0][:64] if context.args else None
    data = context.bot_data
    user_id = update.effective_user.id
    if source == "test" and data.settings.is_admin(user_id) and data.test_service is not None:
        await begin_test(context, user_id, update.effective_chat.id)
        return
    service = await respondent_service(context, user_id)
    state = await service.status(user_id, source=source, update_id=update.update_id)
    chat_id = update.effective_chat.id
    av, zone = state.availability, data.settings.zone()
    if state.status == ReplyStatus.NEW and av is not None and av.phase != Phase.OPEN:
        await context.bot.send_message(chat_id, render.availability_text(data.survey, av, zone))
    elif state.status == ReplyStatus.IN_PROGRESS and av is not None and not av.may_continue(utcnow()):
        await context.bot.send_message(chat_id, render.availability_text(data.survey, av, zone, in_progress=True))
    elif state.status == ReplyStatus.IN_PROGRESS:
        if av is not None and av.in_grace:
            await context.bot.send_message(chat_id, render.grace_note(av, zone))
        await send(context, chat_id, render.resume_screen(data.survey, state.answered, state.version))
    elif state.status != ReplyStatus.DUPLICATE:
        await show_state(context, chat_id, state)


async def help_command(update: Update, context: Context) -> None:
    """/help: what the bot does and its commands."""
    await update.effective_message.reply_text(render.HELP_TEXT.format(title=context.bot_data.survey.survey.title))


async def unknown_command(update: Update, context: Context) -> None:
    """Any command the bot does not know (admin commands included, for non-admins)."""
    await update.effective_message.reply_text(render.UNKNOWN_COMMAND)


async def on_button(update: Update, context: Context) -> None:
    """Every inline button: parsed strictly, then routed by its kind."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        # The bot puts no buttons in groups or inline messages: such a tap is forged; answer nothing there.
        await toast(update, render.STALE_TOAST)
        return
    parsed = callbacks.parse(update.callback_query.data)
    if isinstance(parsed, callbacks.AnswerButton):
        await _answer_button(update, context, parsed)
    elif isinstance(parsed, callbacks.MenuButton):
        await _menu_button(update, context, parsed)
    elif isinstance(parsed, callbacks.ForgetButton):
        await forget_button(update, context, parsed)
    elif isinstance(parsed, callbacks.StatsButton):
        await stats_button(update, context, parsed)
    else:
        await toast(update, render.STALE_TOAST)


async def _menu_button(update: Update, context: Context, button: callbacks.MenuButton) -> None:
    service = await respondent_service(context, update.effective_user.id)
    state = await service.show(
        update.effective_user.id, button.version, restart=button.choice == "restart", update_id=update.update_id
    )
    if state.status in (ReplyStatus.STALE, ReplyStatus.DUPLICATE):
        await toast(update, render.STALE_TOAST if state.status == ReplyStatus.STALE else None)
        return
    await toast(update)
    screen = state_screen(context.bot_data.survey, state, context.bot_data.settings.zone())
    if screen is not None:  # the menu message becomes the question: one call, and its buttons are gone
        await edit_or_send(update, context, screen)


async def _answer_button(update: Update, context: Context, button: callbacks.AnswerButton) -> None:
    data = context.bot_data
    service = await respondent_service(context, update.effective_user.id)
    state = await service.act(update.effective_user.id, button.action, button.version, update.update_id)
    if state.status == ReplyStatus.DUPLICATE:
        return
    if state.relocated:
        await toast(update, render.RELOCATED)
        await show_state(context, update.effective_chat.id, state)
        return
    if state.status == ReplyStatus.CLOSED:
        await toast(update, render.CLOSED_TOAST)
        await show_state(context, update.effective_chat.id, state)
        return
    if state.status != ReplyStatus.APPLIED:
        notice = {ReplyStatus.STALE: render.STALE_TOAST, ReplyStatus.NEW: render.NOT_STARTED, ReplyStatus.COMPLETED: render.COMPLETED_TEXT}
        await toast(update, notice.get(state.status, render.STALE_TOAST))
        return
    outcome = state.outcome
    if outcome.kind == Kind.REJECTED:
        await toast(update, render.reason_text(data.survey, outcome))
        return
    await toast(update)
    await _render_outcome(update, context, state, edit_in_place=True, test=service is not data.service)


async def _render_outcome(update: Update, context: Context, state: Reply, *, edit_in_place: bool,
                          test: bool = False) -> None:
    """Show what an applied action led to, in one message: the tapped message is edited into the next screen
    (a typed answer gets a new message), with the answer just given stated at its top."""
    survey, outcome = context.bot_data.survey, state.outcome
    if outcome.kind == Kind.FINISHED:
        screen = render.finished_screen(survey, outcome.progress)  # lists every answer, the last one too
    else:
        screen = render.question_screen(survey, outcome.progress, state.version)
        if outcome.kind == Kind.ADVANCED:
            answered_qid = next(iter(outcome.changed))
            screen = render.after_answer(survey, answered_qid, outcome.changed[answered_qid], screen)
    if edit_in_place:
        await edit_or_send(update, context, screen)
    else:
        await send(context, update.effective_chat.id, screen)
    if outcome.kind == Kind.FINISHED and not test:  # a test run is no completed response
        await notify_progress(context)


async def on_text(update: Update, context: Context) -> None:
    """A typed message: a number, a text answer, the 'other' text, or a reminder to use buttons."""
    data = context.bot_data
    text = update.effective_message.text or ""
    service = await respondent_service(context, update.effective_user.id)
    state = await service.act(update.effective_user.id, flow.TypeText(text), None, update.update_id)
    chat_id = update.effective_chat.id
    if state.status == ReplyStatus.DUPLICATE:
        return
    if state.relocated:
        await context.bot.send_message(chat_id, render.RELOCATED)
        await show_state(context, chat_id, state)
        return
    if state.status == ReplyStatus.CLOSED:
        await show_state(context, chat_id, state)
        return
    if state.status == ReplyStatus.NEW:
        await show_state(context, chat_id, Reply(ReplyStatus.NEW))
        return
    if state.status == ReplyStatus.COMPLETED:
        await context.bot.send_message(chat_id, render.COMPLETED_TEXT)
        return
    outcome = state.outcome
    if outcome.kind == Kind.REJECTED:
        await show_current(update, context, lead=render.reason_text(data.survey, outcome))
        return
    await _render_outcome(update, context, state, edit_in_place=False, test=service is not data.service)


async def on_other_message(update: Update, context: Context) -> None:
    """Stickers, photos, voice, files and the like: explained, and the question shown again."""
    service = await respondent_service(context, update.effective_user.id)
    state = await service.status(update.effective_user.id, update_id=update.update_id)
    if state.status == ReplyStatus.IN_PROGRESS:
        await show_current(update, context, lead=render.NON_TEXT)
    elif state.status != ReplyStatus.DUPLICATE:
        await update.effective_message.reply_text(f"{render.NON_TEXT_ONLY} {render.NOT_STARTED}")


async def on_edited(update: Update, context: Context) -> None:
    """Edited messages never change answers; say so."""
    await context.bot.send_message(update.effective_chat.id, render.EDITED)


async def on_group(update: Update, context: Context) -> None:
    """In groups the bot says once that it works in private chats, then stays silent."""
    told = context.bot_data.groups_told
    chat_id = update.effective_chat.id
    if chat_id not in told:
        told.add(chat_id)
        await context.bot.send_message(chat_id, render.GROUP_ONLY_PRIVATE)


async def on_error(update: object, context: Context) -> None:
    """Log errors without secrets; a respondent who blocked the bot is marked and skipped; a database
    fault is told to the respondent (the incident itself is logged once, by bot/health.py)."""
    error = context.error
    fault = fault_of(error)
    if fault is not None and isinstance(update, Update):
        data = context.bot_data
        if not isinstance(error, StorageUnavailable) and data.health is not None:
            data.health.failed(DATABASE, fault.kind)  # met outside the service (e.g. /stats reading)
        await tell_fault(update, context.bot, data.notices)
        log.debug("update %s not handled: database %s", update.update_id, fault.kind)
        return
    if isinstance(error, Forbidden) and isinstance(update, Update) and update.effective_user:
        await context.bot_data.service.mark_blocked(update.effective_user.id)
        log.info("user blocked the bot; marked")
        return
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, NetworkError):  # given up after retries: the Telegram incident is logged once
        log.debug("update %s: Bot API call given up: %s", update_id, error)
        return
    log.error("error while handling update %s", update_id, exc_info=error)
