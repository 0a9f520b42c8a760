"""When a survey takes respondents: dates, the hand switch, the quota and the grace period (pure).

``availability`` combines the questionnaire's ``opens_at`` / ``closes_at`` / ``quota`` with the state
kept in the database (an admin's /open or /close, the moment the quota was reached) at a given time.
Precedence: an admin's /close or /open wins over everything; otherwise a reached quota closes, then
the dates decide. Respondents already in progress may finish within the grace period after a
closing by date or by hand; a quota closes at once (it counts completed responses exactly).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from survey.model import SurveyMeta

MANUAL_OPEN = "open"
MANUAL_CLOSED = "closed"


class Phase(StrEnum):
    """Whether new respondents are taken."""

    NOT_OPEN = "not_open"
    OPEN = "open"
    CLOSED = "closed"


class Why(StrEnum):
    """What decided the phase."""

    DATES = "dates"
    ADMIN = "admin"
    QUOTA = "quota"
    ALWAYS = "always"  # no dates, no switch: open


@dataclass(frozen=True)
class FieldState:
    """What the database holds for a survey: the admin's switch and when the quota was reached."""

    manual: str | None = None  # MANUAL_OPEN / MANUAL_CLOSED / None
    changed_at: datetime | None = None
    quota_reached_at: datetime | None = None


@dataclass(frozen=True)
class Availability:
    """The phase at a moment, with the dates to tell respondents and admins."""

    phase: Phase
    why: Why
    opens_at: datetime | None
    closes_at: datetime | None  # when it closed (or will close by date)
    grace_until: datetime | None  # in-progress respondents may finish until then (closed by date or hand)
    quota: int | None
    quota_applies: bool  # False once an admin opened it by hand

    def may_continue(self, now: datetime) -> bool:
        """Whether a respondent already in progress may go on answering."""
        if self.phase != Phase.CLOSED:
            return True
        return self.grace_until is not None and now < self.grace_until

    @property
    def in_grace(self) -> bool:
        """Closed, with a grace period for respondents in progress."""
        return self.phase == Phase.CLOSED and self.grace_until is not None


def aware(value: datetime | None, zone: tzinfo) -> datetime | None:
    """A questionnaire date with its zone (a date without one is in ``zone``)."""
    if value is None:
        return None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value


def availability(meta: SurveyMeta, state: FieldState, now: datetime, grace: timedelta, zone: tzinfo) -> Availability:
    """The survey's phase at ``now``."""
    opens, closes = aware(meta.opens_at, zone), aware(meta.closes_at, zone)

    def at(phase: Phase, why: Why, closes_at: datetime | None, grace_until: datetime | None = None) -> Availability:
        return Availability(phase, why, opens_at=opens, closes_at=closes_at, grace_until=grace_until, quota=meta.quota,
                            quota_applies=state.manual != MANUAL_OPEN)

    if state.manual == MANUAL_CLOSED:
        return at(Phase.CLOSED, Why.ADMIN, state.changed_at, (state.changed_at or now) + grace)
    if state.manual == MANUAL_OPEN:
        return at(Phase.OPEN, Why.ADMIN, None)
    if meta.quota is not None and state.quota_reached_at is not None:
        return at(Phase.CLOSED, Why.QUOTA, state.quota_reached_at)
    if closes is not None and now >= closes:
        return at(Phase.CLOSED, Why.DATES, closes, closes + grace)
    if opens is not None and now < opens:
        return at(Phase.NOT_OPEN, Why.DATES, closes)
    return at(Phase.OPEN, Why.DATES if opens or closes else Why.ALWAYS, closes)
