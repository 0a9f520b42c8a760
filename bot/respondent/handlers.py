"""Thin Telegram handlers for respondents: parse the update, call the service, render the result.

Every reply is chosen by an exhaustive ``match`` on what the request got (``Result``) and where the
respondent stands (``Standing``), both from bot/service/respondents.py.
"""

from __future__ import annotations

import logging
from datetime import UTC, tzinfo
from html import escape
from typing import assert_never

from telegram import Update
from telegram.constants import ChatType
from telegram.error import Forbidden, NetworkError

from bot import callbacks
from bot.background.health import DATABASE
from bot.context import Context
from bot.respondent import screens
from bot.respondent.privacy import forget_button
from bot.respondent.ui import edit_or_send, send, toast
from bot.service.faults import StorageUnavailable, fault_of, tell_fault
from bot.service.respondents import Reply, Result, Standing, SurveyService
from storage.models import utcnow
from survey import flow
from survey.field import Phase
from survey.flow import Kind
from survey.model import Survey

log = logging.getLogger(__name__)


async def service_for(context: Context, user_id: int) -> SurveyService:
    """The service a user's update goes to: an admin's test run while one is in progress (bot/admin/testmode.py)."""
    data = context.bot_data
    test = data.test_service
    if data.settings.is_admin(user_id) and (await test.status(user_id)).standing == Standing.IN_PROGRESS:
        return test
    return data.service


async def show_current(update: Update, context: Context, lead: str | None = None) -> None:
    """Send the respondent's current question again (the old keyboards stop working)."""
    user, chat_id = update.effective_user, update.effective_chat.id
    service = await service_for(context, user.id)
    state = await service.show(user.id)
    if lead:
        await context.bot.send_message(chat_id, lead)
    await show_state(context, chat_id, state)


def state_screen(survey: Survey, state: Reply, zone: tzinfo = UTC, source: str | None = None) -> screens.Screen | None:
    """The screen of where a respondent stands: the question, the thank-you, the intro (or consent step, keeping
    the deep link ``source``), or why the survey does not take them now (dates shown in ``zone``); None when the
    reply says nothing of it (stale, duplicate)."""
    match state.standing:
        case Standing.CLOSED:
            if state.availability is None:
                return None
            return screens.Screen(escape(screens.availability_text(survey, state.availability, zone,
                                                                   in_progress=state.in_progress)))
        case Standing.IN_PROGRESS:
            if state.progress and state.progress.current:
                return screens.question_screen(survey, state.progress, state.version)
            return None
        case Standing.COMPLETED:
            return screens.Screen(escape(screens.COMPLETED_TEXT))
        case Standing.NEW:
            return screens.start_screen(survey, source)
        case None:
            return None
        case _:
            assert_never(state.standing)


async def show_state(context: Context, chat_id: int, state: Reply, source: str | None = None) -> None:
    """Send the screen of a state (the question, the thank-you or the intro) as a new message."""
    screen = state_screen(context.bot_data.survey, state, context.bot_data.settings.zone(), source)
    if screen is not None:
        await send(context, chat_id, screen)


async def answer_again(update: Update, context: Context, state: Reply, *, edit_in_place: bool) -> None:
    """An update delivered again (Telegram re-sends what a worker that died, or took too long, never answered):
    it was applied once, but its reply may never have gone out. When it may not have (the first handling is not
    known to have ended) and the respondent has done nothing since (``state.unchanged``), they are shown where they
    stand (the screen the first delivery led to): the tapped message becomes that screen, or it comes as a new
    message. Otherwise they had their reply, and a copy of an older screen would only mislead: nothing is sent."""
    if not state.unchanged:
        return
    screen = state_screen(context.bot_data.survey, state, context.bot_data.settings.zone())
    if edit_in_place:
        await toast(update)
    if screen is None:
        return
    if edit_in_place:
        await edit_or_send(update, context, screen)
    else:
        await send(context, update.effective_chat.id, screen)


async def start(update: Update, context: Context) -> None:
    """/start [source]: greet, offer to resume, or say the answers are recorded (an admin's /start test is
    routed to bot/admin/testmode.py by the wiring)."""
    source = context.args[0][:64] if context.args else None
    data = context.bot_data
    user_id, chat_id = update.effective_user.id, update.effective_chat.id
    service = await service_for(context, user_id)
    state = await service.status(user_id, source=source, update_id=update.update_id)
    if state.result == Result.DUPLICATE and not state.unchanged:  # delivered again, and they have moved on since
        return
    av, zone = state.availability, data.settings.zone()
    match state.standing:
        case Standing.NEW if av is not None and av.phase != Phase.OPEN:
            await context.bot.send_message(chat_id, screens.availability_text(data.survey, av, zone))
        case Standing.IN_PROGRESS if av is not None and not av.may_continue(utcnow()):
            await context.bot.send_message(chat_id, screens.availability_text(data.survey, av, zone, in_progress=True))
        case Standing.IN_PROGRESS:
            if av is not None and av.in_grace:
                await context.bot.send_message(chat_id, screens.grace_note(av, zone))
            await send(context, chat_id, screens.resume_screen(data.survey, state.answered, state.version))
        case Standing.NEW | Standing.COMPLETED | Standing.CLOSED | None:
            await show_state(context, chat_id, state, source)
        case _:
            assert_never(state.standing)


async def help_command(update: Update, context: Context) -> None:
    """/help: what the bot does and its commands."""
    await update.effective_message.reply_text(screens.HELP_TEXT.format(title=context.bot_data.survey.survey.title))


async def unknown_command(update: Update, context: Context) -> None:
    """Any command the bot does not know (admin commands included, for non-admins)."""
    await update.effective_message.reply_text(screens.UNKNOWN_COMMAND)


async def on_button(update: Update, context: Context) -> None:
    """Every inline button of the respondent's: parsed strictly, then routed by its kind (the admins' summary
    buttons are routed to bot/admin by the wiring before this handler)."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        # The bot puts no buttons in groups or inline messages: such a tap is forged; answer nothing there.
        await toast(update, screens.STALE_TOAST)
        return
    match callbacks.parse(update.callback_query.data):
        case callbacks.AnswerButton() as button:
            await _answer_button(update, context, button)
        case callbacks.MenuButton() as button:
            await _menu_button(update, context, button)
        case callbacks.ForgetButton() as button:
            await forget_button(update, context, button)
        case callbacks.ConsentButton() as button:
            await _consent_button(update, context, button)
        case callbacks.StatsButton() | None:  # not an admin's (or not private): forged or stale
            await toast(update, screens.STALE_TOAST)
        case unknown:
            assert_never(unknown)


async def _menu_button(update: Update, context: Context, button: callbacks.MenuButton) -> None:
    service = await service_for(context, update.effective_user.id)
    restart = button.choice == callbacks.MenuChoice.RESTART
    state = await service.show(update.effective_user.id, button.version, restart=restart, update_id=update.update_id)
    match state.result:
        case Result.DUPLICATE:
            await answer_again(update, context, state, edit_in_place=True)
            return
        case Result.STALE:
            await toast(update, screens.STALE_TOAST)
            return
        case Result.APPLIED | Result.REFUSED | Result.RELOCATED:
            await toast(update)
        case _:
            assert_never(state.result)
    screen = state_screen(context.bot_data.survey, state, context.bot_data.settings.zone())
    if screen is not None:  # the menu message becomes the question: one call, and its buttons are gone
        await edit_or_send(update, context, screen)


async def _consent_button(update: Update, context: Context, button: callbacks.ConsentButton) -> None:
    """«Agree» starts the response (the first thing stored about the respondent); «decline» adds one to the
    declines' counter and stores nothing else; /start offers the choice again."""
    data = context.bot_data
    user_id = update.effective_user.id
    consent = data.survey.survey.consent
    if consent is None:  # the questionnaire no longer asks for consent: the ordinary greeting
        await toast(update)
        await edit_or_send(update, context, screens.intro_screen(data.survey))
        return
    if button.agreed:
        state = await data.service.show(user_id, consented=True, source=button.source, update_id=update.update_id)
        if state.result == Result.DUPLICATE:
            await toast(update)
            return
        await toast(update)
        screen = state_screen(data.survey, state, data.settings.zone())
        if screen is not None:
            await edit_or_send(update, context, screen)
        return
    state = await data.service.status(user_id)
    if state.standing != Standing.NEW:  # already agreed and answering: /forget_me withdraws
        await toast(update, screens.CONSENT_ALREADY_GIVEN)
        return
    await data.service.decline(update.update_id)
    await toast(update)
    await edit_or_send(update, context, screens.Screen(escape(consent.declined_text)))


def refusal_toast(standing: Standing | None) -> str:
    """The toast on a button the respondent's standing does not take."""
    match standing:
        case Standing.NEW:
            return screens.NOT_STARTED
        case Standing.COMPLETED:
            return screens.COMPLETED_TEXT
        case Standing.CLOSED:
            return screens.CLOSED_TOAST
        case Standing.IN_PROGRESS | None:
            return screens.STALE_TOAST
        case _:
            assert_never(standing)


async def _answer_button(update: Update, context: Context, button: callbacks.AnswerButton) -> None:
    data = context.bot_data
    service = await service_for(context, update.effective_user.id)
    state = await service.act(update.effective_user.id, button.action, button.version, update.update_id)
    match state.result:
        case Result.DUPLICATE:
            await answer_again(update, context, state, edit_in_place=True)
        case Result.STALE:
            await toast(update, screens.STALE_TOAST)
        case Result.RELOCATED:
            await toast(update, screens.RELOCATED)
            await show_state(context, update.effective_chat.id, state)
        case Result.REFUSED:
            await toast(update, refusal_toast(state.standing))
            if state.standing == Standing.CLOSED:
                await show_state(context, update.effective_chat.id, state)
        case Result.APPLIED:
            outcome = state.outcome
            if outcome.kind == Kind.REJECTED:
                await toast(update, screens.reason_text(data.survey, outcome))
                return
            await toast(update)
            await _render_outcome(update, context, state, edit_in_place=True, test=service is not data.service)
        case _:
            assert_never(state.result)


async def _render_outcome(update: Update, context: Context, state: Reply, *, edit_in_place: bool,
                          test: bool = False) -> None:
    """Show what an applied action led to, in one message: the tapped message is edited into the next screen
    (a typed answer gets a new message), with the answer just given stated at its top."""
    survey, outcome = context.bot_data.survey, state.outcome
    match outcome.kind:
        case Kind.FINISHED:
            screen = screens.finished_screen(survey, outcome.progress)  # lists every answer, the last one too
        case Kind.ADVANCED:  # the next question, with the answer just given stated at its top
            answered_qid = next(iter(outcome.changed))
            screen = screens.after_answer(survey, answered_qid, outcome.changed[answered_qid],
                                          screens.question_screen(survey, outcome.progress, state.version))
        case Kind.BACK | Kind.REDRAW | Kind.ASK_OTHER | Kind.REJECTED:  # the question as it stands now
            screen = screens.question_screen(survey, outcome.progress, state.version)
        case _:
            assert_never(outcome.kind)
    if edit_in_place:
        await edit_or_send(update, context, screen)
    else:
        await send(context, update.effective_chat.id, screen)
    if outcome.kind == Kind.FINISHED and not test:  # a test run is no completed response
        for hook in context.bot_data.on_completed:  # e.g. the admins' progress note, hung there by the wiring
            await hook(update, context)


async def on_text(update: Update, context: Context) -> None:
    """A typed message: a number, a text answer, the 'other' text, or a reminder to use buttons."""
    data = context.bot_data
    text = update.effective_message.text or ""
    service = await service_for(context, update.effective_user.id)
    state = await service.act(update.effective_user.id, flow.TypeText(text), None, update.update_id)
    chat_id = update.effective_chat.id
    match state.result:
        case Result.DUPLICATE:
            await answer_again(update, context, state, edit_in_place=False)
        case Result.RELOCATED:
            await context.bot.send_message(chat_id, screens.RELOCATED)
            await show_state(context, chat_id, state)
        case Result.STALE:  # a typed answer carries no keyboard version; shown the question all the same
            await show_current(update, context)
        case Result.REFUSED:
            match state.standing:
                case Standing.COMPLETED:
                    await context.bot.send_message(chat_id, screens.COMPLETED_TEXT)
                case Standing.NEW | Standing.CLOSED:
                    await show_state(context, chat_id, state)
                case Standing.IN_PROGRESS | None:
                    await show_current(update, context)
                case _:
                    assert_never(state.standing)
        case Result.APPLIED:
            outcome = state.outcome
            if outcome.kind == Kind.REJECTED:
                await show_current(update, context, lead=screens.reason_text(data.survey, outcome))
                return
            await _render_outcome(update, context, state, edit_in_place=False, test=service is not data.service)
        case _:
            assert_never(state.result)


async def on_other_message(update: Update, context: Context) -> None:
    """Stickers, photos, voice, files and the like: explained, and the question shown again."""
    service = await service_for(context, update.effective_user.id)
    state = await service.status(update.effective_user.id, update_id=update.update_id)
    if state.result == Result.DUPLICATE:
        return
    if state.standing == Standing.IN_PROGRESS:
        await show_current(update, context, lead=screens.NON_TEXT)
    else:
        await update.effective_message.reply_text(f"{screens.NON_TEXT_ONLY} {screens.NOT_STARTED}")


async def on_edited(update: Update, context: Context) -> None:
    """Edited messages never change answers; say so."""
    await context.bot.send_message(update.effective_chat.id, screens.EDITED)


async def on_group(update: Update, context: Context) -> None:
    """In groups the bot says once that it works in private chats, then stays silent."""
    told = context.bot_data.groups_told
    chat_id = update.effective_chat.id
    if chat_id not in told:
        told.add(chat_id)
        await context.bot.send_message(chat_id, screens.GROUP_ONLY_PRIVATE)


async def on_error(update: object, context: Context) -> None:
    """Log errors without secrets; a respondent who blocked the bot is marked and skipped; a database
    fault is told to the respondent (the incident itself is logged once, by bot/background/health.py)."""
    error = context.error
    fault = fault_of(error)
    if fault is not None and isinstance(update, Update):
        data = context.bot_data
        if not isinstance(error, StorageUnavailable):
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
