"""Prometheus metrics of one running bot, served at ``GET /metrics`` in webhook mode (bot/incoming/webhook.py).

``Metrics`` holds every counter and histogram on a ``CollectorRegistry`` of its own (one per application, kept on
``BotData.metrics``), never on prometheus_client's global default registry: two applications in one process (the
tests) count apart. The wiring (bot/app.py) creates it and hands it to the choke points it instruments; each takes
it as an optional argument, None meaning "not counted":

- ``surveybot_updates_handled_total{kind}``: updates processed (bot/incoming/processor.py); kind is ``message``,
  ``callback``, ``edited`` or ``other``;
- ``surveybot_answers_stored_total``: answers committed — respondent actions that stored an answer
  (bot/service/respondents.py, after COMMIT; admins' test runs are not counted);
- ``surveybot_db_transaction_seconds``: how long one respondent write transaction (a batch) took;
- ``surveybot_bot_api_calls_total{method,outcome}``: Bot API calls once done (bot/sending/retries.py); outcome is
  ``ok``, ``refused`` (Telegram answered with an error: blocked, not modified, 429, …) or ``failed`` (given up in
  transit after the retries);
- ``surveybot_bot_api_retries_total{method}``: attempts made again after failing in transit;
- ``surveybot_bot_api_throttled_total{method}``: 429 "retry after" answers (bot/sending/limiter.py);
- ``surveybot_reply_queue_wait_seconds``: how long a reply to a respondent (an interactive message call) waited in
  the outgoing limiter for its chat's allowance and the shared budget;
- ``surveybot_reminders_sent_total``: reminders delivered (bot/background/reminders.py).

Polling mode counts them too; only webhook mode has an endpoint to read them from.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

# The text exposition format generate_latest writes (version 0.0.4), the one every Prometheus scraper reads.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

UPDATE_KINDS = ("message", "callback", "edited", "other")
OK, REFUSED, FAILED = "ok", "refused", "failed"  # outcomes of a Bot API call

# Seconds: a reply waits milliseconds when the budget is idle, up to seconds under a flood or after a 429.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Seconds: a batch commits in milliseconds on a healthy database; a slow disk or a lock shows in the tail.
TRANSACTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric of one application, on its own registry."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.updates = Counter("surveybot_updates_handled", "Telegram updates handled, by kind", ["kind"],
                               registry=registry)
        self.answers = Counter("surveybot_answers_stored", "Respondents' answers committed to the database",
                               registry=registry)
        self.transaction = Histogram("surveybot_db_transaction_seconds",
                                     "Duration of one respondent write transaction (a batch of requests)",
                                     buckets=TRANSACTION_BUCKETS, registry=registry)
        self.api_calls = Counter("surveybot_bot_api_calls", "Bot API calls, by method and outcome (ok, refused, failed)",
                                 ["method", "outcome"], registry=registry)
        self.api_retries = Counter("surveybot_bot_api_retries", "Bot API calls made again after failing in transit",
                                   ["method"], registry=registry)
        self.api_throttled = Counter("surveybot_bot_api_throttled", "Bot API 429 'retry after' answers, by method",
                                     ["method"], registry=registry)
        self.reply_wait = Histogram("surveybot_reply_queue_wait_seconds",
                                    "Time a reply to a respondent waited in the outgoing limiter",
                                    buckets=WAIT_BUCKETS, registry=registry)
        self.reminders = Counter("surveybot_reminders_sent", "Reminders delivered to respondents", registry=registry)
        for kind in UPDATE_KINDS:  # every kind shows from the start, at 0
            self.updates.labels(kind)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)
