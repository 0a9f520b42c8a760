"""The respondent's conversation: what a person taking the survey sends, and what they see back.

- ``handlers``: thin handlers (/start, /help, buttons, typed answers, stickers, edits, groups, errors) that
  call the service and pick the reply by an exhaustive match on what the request got;
- ``screens``: every respondent-facing text and keyboard (question, intro, resume, thank-you, notices);
- ``privacy``: /my_data and /forget_me (a long record goes as several messages, analytics/messages.py);
- ``ui``: send, edit and acknowledge, tolerant of Telegram's harmless refusals;
- ``preview``: the questionnaire as a respondent sees it, in the terminal (``surveybot preview``).

May import: telegram, survey, storage, analytics, bot.context, bot.callbacks, bot.service, bot.background.health.
Never bot.admin: what admins hang on the respondent side (the progress note on completion) is connected by
the wiring through ``BotData.on_completed``, and their buttons and /start test are routed to them first.
"""
