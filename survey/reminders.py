"""When a reminder may go out (pure: no clock, no I/O): the quiet hours.

Nothing is sent between ``QUIET_FROM`` (22:00) and ``QUIET_UNTIL`` (09:00) local time in the bot's TIMEZONE;
a reminder that falls due then goes out at 09:00. When one falls due (``REMIND_AFTER`` after the response's
last activity and after its previous reminder, ``REMIND_MAX`` times at most) is the SQL of storage/reminders.py.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, tzinfo

QUIET_FROM = time(22, 0)
QUIET_UNTIL = time(9, 0)


def next_allowed(moment: datetime, zone: tzinfo, quiet_from: time = QUIET_FROM,
                 quiet_until: time = QUIET_UNTIL) -> datetime:
    """The first moment at or after ``moment`` (aware) outside the quiet hours of ``zone``; ``moment`` itself if allowed.

    Quiet hours may span midnight (22:00-09:00) or not (e.g. 13:00-14:00). The answer keeps the zone of
    ``moment``; local wall times are built in ``zone``, so a DST change between now and then is respected.
    """
    if moment.tzinfo is None:
        raise ValueError("next_allowed needs an aware datetime")
    local = moment.astimezone(zone)
    now = local.time().replace(tzinfo=None)
    if quiet_from > quiet_until:  # spans midnight
        quiet = now >= quiet_from or now < quiet_until
        day = local.date() + timedelta(days=1) if now >= quiet_from else local.date()
    else:
        quiet = quiet_from <= now < quiet_until
        day = local.date()
    if not quiet:
        return moment
    # Wall-clock 09:00 of that day in the zone (fold=0: the first of two if the clock is set back then).
    return datetime.combine(day, quiet_until, tzinfo=zone).astimezone(moment.tzinfo)

