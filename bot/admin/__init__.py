"""The researchers' commands, for the numeric Telegram ids in ADMIN_IDS only (checked on every call and button).

- ``commands``: this side's wiring — its handlers, its command menu, the progress note hook;
- ``stats``: /stats views (summary, one question, charts, funnel) and /export, and the summary's buttons;
- ``analysis``: the comparison with the 2020 wave and the cross-tabs;
- ``field``: /survey, /open, /close — running the survey in the field (pure rule: survey/field.py,
  its SQL: storage/field.py);
- ``testmode``: /test — an admin takes the survey with answers kept apart (survey/testmode.py, storage/testmode.py);
- ``args``: the words after /stats and /export, parsed; ``albums``: charts sent as albums of ten.

May import: telegram, survey, storage, analytics, bot.context, bot.callbacks, bot.service, bot.sending and
bot.respondent (its screens and ui helpers). Nothing outside bot/admin imports it but the wiring (bot/app.py).
"""
