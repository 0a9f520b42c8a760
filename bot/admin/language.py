"""The language of the admins' texts: ``ADMIN_LANGUAGE`` when set, else the admin's Telegram language (ru or en).

Question and option labels stay in the questionnaire's default language whatever the admin reads: figures are
compared across respondents who answered in different languages, under one set of labels.
"""

from __future__ import annotations

from telegram import Update

from bot.context import BotData, Context
from survey.i18n import CATALOG_LANGUAGES, Translator, catalog_language, translator


def admin_language(data: BotData, update: Update | None) -> str:
    """ADMIN_LANGUAGE, else the admin's Telegram language when the bot's texts ship in it (English when they do
    not), else (Telegram did not say) the questionnaire's default language when they ship in it."""
    if data.settings.admin_language:
        return data.settings.admin_language
    user = update.effective_user if update is not None else None
    if user is not None and user.language_code:
        return catalog_language(user.language_code)
    default = data.survey.default_language
    return default if default in CATALOG_LANGUAGES else "en"


def admin_t(context: Context, update: Update | None) -> Translator:
    """The admin's translator for this update."""
    return translator(admin_language(context.bot_data, update))
