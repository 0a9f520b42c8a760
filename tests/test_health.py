"""Incidents open and close once, fault messages are rationed, database errors are told apart."""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import OperationalError

from bot.background.health import DATABASE, TELEGRAM, Health
from bot.service.faults import FaultNotices
from storage.faults import classify


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_alert_when_an_incident_starts_and_one_when_it_ends(caplog):
    clock, alerts = Clock(), []
    health = Health(alert=alerts.append, clock=clock)
    health.answered(DATABASE)
    health.failed(TELEGRAM, "timeout", lasting=False)  # absorbed by a retry: remembered, not alerted
    assert alerts == [] and not health.in_incident(TELEGRAM)
    for _ in range(50):  # fifty respondents meet the same fault
        clock.now += 0.1
        health.failed(DATABASE, "I/O error")
    assert len(alerts) == 1 and "База данных не отвечает (I/O error)" in alerts[0]
    snap = health.snapshot()
    assert snap[DATABASE]["ok"] is False and snap[DATABASE]["incident"]["failed_requests"] == 50
    assert snap[TELEGRAM]["ok"] is True and snap[TELEGRAM]["last_failure"] == "timeout"
    clock.now += 75
    health.answered(DATABASE)
    health.answered(DATABASE)
    assert len(alerts) == 2 and "снова отвечает" in alerts[1] and "1 мин 20 с" in alerts[1] and "50" in alerts[1]
    assert health.snapshot()[DATABASE]["ok"] is True and health.incidents == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.background.health"]
    assert lines == ["incident: database failing (I/O error)",
                     "incident over: database answers again after 80 s (50 failed requests)"]


def test_a_fault_message_at_most_once_a_minute_per_respondent():
    clock = Clock()
    notices = FaultNotices(every=60, clock=clock)
    assert notices.due(1) and not notices.due(1) and notices.due(2)
    clock.now += 59
    assert not notices.due(1)
    clock.now += 2
    assert notices.due(1) and not notices.due(1)


def test_database_errors_are_told_apart():
    def wrapped(message: str) -> OperationalError:
        return OperationalError("INSERT …", {}, sqlite3.OperationalError(message))

    assert classify(wrapped("disk I/O error")).transient is False
    assert classify(wrapped("database or disk is full")).kind == "disk full"
    assert classify(wrapped("attempt to write a readonly database")).kind == "read-only"
    assert classify(wrapped("database is locked")).transient is True
    assert classify(ConnectionRefusedError(111, "Connection refused")).kind == "connection refused"
    assert classify(OSError("Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5432)")).transient
    try:
        try:
            raise ConnectionResetError("reset by peer")
        except ConnectionResetError as exc:
            raise RuntimeError("while committing") from exc
    except RuntimeError as outer:
        assert classify(outer).kind == "connection lost"  # found among the causes
    assert classify(ValueError("a bug")) is None
    assert classify(wrapped("no such table: answers")) is None
