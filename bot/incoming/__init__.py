"""Incoming updates on their way to the handlers.

- ``webhook``: the webhook server of ``surveybot run --webhook`` — a Starlette app served by uvicorn (PTB's
  documented custom-webhook pattern): ``POST /<WEBHOOK_PATH>`` (secret token checked, the update handed over in
  ``deliver``), ``GET /healthz`` and ``GET /metrics``; ``serve`` runs the application's life around it;
- ``flood``: the per-user flood guard (handler group -1, before any handler touches the database);
- ``processor``: concurrent processing that keeps each user's updates in order (and counts every update handled).

May import: telegram, starlette, uvicorn, bot.context, bot.background.health and bot.background.metrics.
Never bot.respondent or bot.admin.
"""
