"""Incidents: when the database or the Bot API stops answering, and when it answers again.

``Health`` is told after every database request and every Bot API call whether it worked. A failure
that reached a respondent (a lasting fault, or a transient one that outlived its retries) opens an
incident of that part: one log line with its kind, one alert to the admins. The first success after
it closes the incident: one more log line and one more alert, with how long it lasted. Failures that
retries absorbed are only remembered for the health report (``snapshot``), never alerted.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from survey.i18n import N_, Translator, translator

log = logging.getLogger(__name__)

DATABASE, TELEGRAM = "database", "telegram"
PARTS = (DATABASE, TELEGRAM)  # the parts the health report speaks of, in its order
NAMES = {DATABASE: N_("The database"), TELEGRAM: N_("Telegram's Bot API")}
STALE_SECONDS = 120.0  # a part that has not answered for this long is reported as not answering recently


@dataclass
class PartState:
    """What is known about one part (the database or the Bot API)."""

    last_ok: float | None = None  # monotonic times (Health.clock): a step of the system clock changes no duration
    last_failure: float | None = None
    last_failure_kind: str | None = None
    incident_since: float | None = None
    incident_kind: str | None = None
    incident_failures: int = 0


class Health:
    """Tracks both parts; ``alert(text)`` is called once when an incident starts and once when it ends."""

    def __init__(self, alert: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic,
                 t: Translator | None = None, wall: Callable[[], float] = time.time):
        """``t``: the language of the alerts (the admins'; default: the fallback language). ``clock`` times the
        incidents and the "seconds ago" (monotonic: a step of the system clock changes none of them); ``wall``
        stamps the report's ``written_at``, which another process (``surveybot health``) compares with its own
        system clock."""
        self.alert = alert
        self.t = t or translator(None)
        self.clock, self.wall = clock, wall
        self.parts = {DATABASE: PartState(), TELEGRAM: PartState()}
        self.incidents = 0  # how many have started since the process did

    def answered(self, part: str, *, ends_incident: bool = True) -> None:
        """The part did what was asked just now; an open incident of it ends (unless this was a long poll,
        which may answer while sending still fails)."""
        state = self.parts[part]
        state.last_ok = now = self.clock()
        if state.incident_since is None or not ends_incident:
            return
        lasted = now - state.incident_since
        log.warning("incident over: %s answers again after %.0f s (%d failed requests)", part, lasted,
                    state.incident_failures)
        t = self.t
        self._alert("✅ " + t.gettext("{part} answers again. The failure («{kind}») lasted {duration}; failed requests "
                                     "meanwhile: {failures}. The bot works as usual.").format(
            part=t.gettext(NAMES[part]), kind=state.incident_kind, duration=_duration(t, lasted),
            failures=state.incident_failures))
        state.incident_since = state.incident_kind = None
        state.incident_failures = 0

    def failed(self, part: str, kind: str, *, lasting: bool = True) -> None:
        """The part failed; ``lasting`` when a respondent felt it (no retry is left), which opens an incident."""
        state = self.parts[part]
        state.last_failure, state.last_failure_kind = self.clock(), kind
        if not lasting:
            return
        state.incident_failures += 1
        if state.incident_since is not None:
            return
        state.incident_since, state.incident_kind = state.last_failure, kind
        self.incidents += 1
        log.warning("incident: %s failing (%s)", part, kind)
        t = self.t
        what = (t.gettext("respondents get a message about a technical hitch, their new answers are not saved")
                if part == DATABASE else t.gettext("messages to respondents may not arrive"))
        self._alert("⚠️ " + t.gettext("Failure: {part} does not answer ({kind}). While it lasts, {what}. The bot keeps "
                                     "working and will say when everything is back.").format(
            part=t.gettext(NAMES[part]), kind=kind, what=what))

    def in_incident(self, part: str) -> bool:
        """Whether an incident of the part is open."""
        return self.parts[part].incident_since is not None

    def report(self) -> dict:
        """The snapshot with when it was made and by which process (what /healthz and the health file hold)."""
        return {"written_at": round(self.wall(), 1), "pid": os.getpid(), **self.snapshot()}

    def snapshot(self) -> dict:
        """The state of both parts for monitoring (JSON-ready; times as seconds ago)."""
        now = self.clock()

        def ago(t: float | None) -> float | None:
            return None if t is None else round(now - t, 1)

        return {part: {"ok": s.incident_since is None, "last_ok_seconds_ago": ago(s.last_ok),
                       "last_failure_seconds_ago": ago(s.last_failure), "last_failure": s.last_failure_kind,
                       "incident": None if s.incident_since is None else
                       {"kind": s.incident_kind, "seconds": ago(s.incident_since), "failed_requests": s.incident_failures}}
                for part, s in self.parts.items()}

    def _alert(self, text: str) -> None:
        if self.alert is not None:
            self.alert(text)


def _duration(t: Translator, seconds: float) -> str:
    minutes, sec = divmod(round(seconds), 60)
    if minutes:
        return t.gettext("{minutes} min {seconds} s").format(minutes=minutes, seconds=sec)
    return t.gettext("{seconds} s").format(seconds=sec)


def problems(report: dict, now: float | None = None, stale: float = STALE_SECONDS) -> list[str]:
    """What is wrong according to a health report (``Health.report``); empty when all is well."""
    now = time.time() if now is None else now
    found = []
    age = now - report.get("written_at", now)
    if age > stale:
        found.append(f"the report is {age:.0f} s old: the bot is not running, or cannot write its health file")
    for part in PARTS:
        state = report.get(part) or {}
        incident = state.get("incident")
        if incident:
            found.append(f"{part}: failing for {incident['seconds']:.0f} s ({incident['kind']}), "
                         f"{incident['failed_requests']} failed requests")
        elif state.get("last_ok_seconds_ago") is None or state["last_ok_seconds_ago"] + age > stale:
            found.append(f"{part}: has not answered in the last {stale:.0f} s")
    return found



def verdict(report: dict) -> dict:
    """A health report with its verdict, as ``/healthz`` and ``surveybot health --format json`` show it:
    ``{"ok": …, "problems": […], **report}``."""
    found = problems(report)
    return {"ok": not found, "problems": found, **report}


def write_report(report: dict, path: Path) -> None:
    """Write a report atomically (a reader never sees half of it); a failure is only logged."""
    try:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # e.g. the disk is the incident; the file going stale says so
        log.debug("health file not written: %s", exc)
