"""The Telegram side of surveybot: everything that talks to the Bot API, grouped by who it serves.

- ``app``: the one wiring function, ``build_application``, and how the bot runs (polling or webhook);
- ``context``: the typed ``context.bot_data`` every handler reaches; ``settings``: configuration from the
  environment (no telegram import: the CLI reads it too); ``callbacks``: the data format of every button;
- ``respondent/``: the respondent's conversation; ``admin/``: the researchers' commands;
- ``service/``: the respondent service (the write path) and its fault guard;
- ``sending/``: outgoing calls under Telegram's limits; ``incoming/``: updates on their way in;
- ``background/``: loops that run beside the handlers; ``cli/``: the ``surveybot`` command.

Imports point one way, bot → analytics → storage → survey; inside bot/, respondent code never imports admin
code (the wiring connects them), and the CLI's offline commands never import telegram (tests/test_layering.py).
"""
