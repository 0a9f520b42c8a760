"""Outgoing Bot API calls under Telegram's limits: respondents' replies first, bulk sends from spare budget.

- ``limiter``: ``OutgoingLimiter`` — the bot's sending budget (~30 messages/s, ~1/s per chat), priorities,
  ``bulk`` / ``bulk_handler``, 429 handling;
- ``sendbudget``: several webhook workers share one budget through the database (its SQL: storage/sendbudget.py);
- ``retries``: ``RetryingRequest`` — calls that fail in transit are made again, for a bounded time.

May import: telegram, storage, bot.background (to stop its loops).
"""
