"""Incoming updates on their way to the handlers.

- ``flood``: the per-user flood guard (handler group -1, before any handler touches the database);
- ``processor``: concurrent processing that keeps each user's updates in order.

May import: telegram, bot.context. Never bot.respondent or bot.admin.
"""
