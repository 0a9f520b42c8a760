"""The language the bot speaks to a respondent, and /language to change it.

A respondent's language is one of the questionnaire's (``Survey.languages``): their Telegram ``language_code`` on
first contact when the questionnaire has it, else its default language; stored on the respondent
(``respondents.language``), so it survives restarts. ``speech`` gives what a screen needs in that language: the
bot's own words (``survey.i18n.Translator``) and the questionnaire's texts (``Survey.in_language``).
"""

from __future__ import annotations

from dataclasses import dataclass

from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot import callbacks
from bot.context import Context
from bot.respondent import screens
from bot.respondent.ui import edit, send, toast
from bot.service.respondents import Standing
from survey.i18n import Translator, language_name, translator
from survey.model import Survey


@dataclass(frozen=True)
class Speech:
    """The bot's words and the questionnaire's texts in one language."""

    t: Translator
    survey: Survey


# speech() per reply, remembered: (id of the questionnaire, language) -> (that questionnaire, its Speech). The
# questionnaire is kept in the entry, so its id is not reused while the entry lives; a live edit brings a new
# questionnaire and new entries, and the memo starts afresh when it outgrows SPOKEN_LIMIT.
_spoken: dict[tuple[int, str | None], tuple[Survey, Speech]] = {}
SPOKEN_LIMIT = 256


def speech(survey: Survey, language: str | None) -> Speech:
    """What to say to a respondent whose language is ``language`` (None or one the questionnaire lacks: its
    default language). Remembered per questionnaire and language: it is asked for on every reply."""
    key = (id(survey), language)
    known = _spoken.get(key)
    if known is not None and known[0] is survey:
        return known[1]
    code = survey.language_for(language)
    said = Speech(translator(code), survey.in_language(code))
    if len(_spoken) >= SPOKEN_LIMIT:
        _spoken.clear()
    _spoken[key] = (survey, said)
    return said


def telegram_language(update: Update) -> str | None:
    """The language the user's Telegram app is set to (``en``, ``ru``, ``pt-br``), when Telegram says."""
    user = update.effective_user
    return user.language_code if user is not None else None


async def speech_of(update: Update, context: Context) -> Speech:
    """The respondent's language for a message outside the batched requests (/help, /my_data, ...): stored, else
    their Telegram language (one read; answers and /start carry it in their Reply instead)."""
    survey = context.bot_data.survey
    if len(survey.languages) == 1:  # nothing to choose: no read
        return speech(survey, survey.default_language)
    user = update.effective_user
    return speech(survey, await context.bot_data.service.language(user.id, telegram_language(update)))


def bot_commands(t: Translator, commands: tuple[tuple[str, str], ...]) -> list[BotCommand]:
    """A command menu (command, msgid of its description) in ``t``'s language."""
    return [BotCommand(command, t.gettext(description)) for command, description in commands]


async def language_command(update: Update, context: Context) -> None:
    """/language: the questionnaire's languages as buttons (the current one ticked)."""
    survey = context.bot_data.survey
    current = await speech_of(update, context)
    rows = [[InlineKeyboardButton((screens.CHECK if code == current.t.language else "") + language_name(code),
                                  callback_data=callbacks.language(code))] for code in survey.languages]
    text = current.t.gettext("Choose the language of the survey:")
    if len(survey.languages) == 1:
        text = current.t.gettext("This survey is in one language only: {language}.").format(
            language=language_name(survey.default_language))
        rows = []
    await update.effective_message.reply_text(text, reply_markup=InlineKeyboardMarkup(rows) if rows else None)


async def language_button(update: Update, context: Context, button: callbacks.LanguageButton) -> None:
    """A language chosen: stored on the respondent; a survey under way is redrawn in it at once (the old
    keyboards stop working)."""
    data = context.bot_data
    survey, user_id = data.survey, update.effective_user.id
    if button.language not in survey.languages:
        await toast(update, speech(survey, None).t.gettext(screens.STALE_TOAST))
        return
    # The respondent is created on first contact; /language may come first, so make sure they exist.
    state = await data.service.status(user_id, language=button.language)
    await data.service.set_language(user_id, button.language)
    said = speech(survey, button.language)
    await toast(update)
    await edit(update, screens.Screen(said.t.gettext("The survey will continue in {language}.").format(
        language=language_name(button.language))))
    if state.standing == Standing.IN_PROGRESS:
        redrawn = await data.service.show(user_id)
        if redrawn.progress is not None and redrawn.progress.current:
            await send(context, update.effective_chat.id,
                       screens.question_screen(said.t, said.survey, redrawn.progress, redrawn.version))
