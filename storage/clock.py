"""The bot's clock: the wall time it stamps and schedules by, which a step of the system clock cannot set back.

Every moment the bot stores or compares — last activity, reminders due, opens_at/closes_at and the grace after a
closing, the quota's moment, answer times and so completion durations — comes from ``utcnow()`` (re-exported by
storage/models.py). It reads the system clock once, at its first use, and from then on advances by the monotonic
clock (``time.monotonic``: what asyncio's timers use, never stepped, only slewed together with the wall clock):

- the system clock stepped BACK (an hour by hand, a bad NTP server, a VM restored from a snapshot) is ignored: no
  reminder goes out early, none twice, nothing closes early or late, no duration comes out negative;
- the system clock stepped FORWARD by more than ``FOLLOW_FORWARD`` seconds (typically the first NTP sync after a
  boot, a machine that started with a stale clock) is followed: the clock jumps forward with it, never back;
- a restart reads the system clock again (an operator who corrected a clock that was ahead restarts the bot).

One clock per process, like the logging configuration: every part of the bot must agree on "now", so it is a
module-level object, created on import without reading anything; its first ``now()`` reads the clocks.
Tests step the system clock of the real process with libfaketime (tests/test_clock.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

FOLLOW_FORWARD = 2.0  # seconds the wall clock may run ahead before the clock follows it (slewing stays far below)


class SteadyClock:
    """Wall-clock seconds that never go backwards: anchored on the system clock, advanced by the monotonic one."""

    def __init__(self, wall: Callable[[], float] = time.time, steady: Callable[[], float] = time.monotonic,
                 follow_forward: float = FOLLOW_FORWARD) -> None:
        self._wall, self._steady, self._follow = wall, steady, follow_forward
        self._anchor: tuple[float, float] | None = None  # (wall, steady) when last anchored
        self._lock = threading.Lock()  # the write path calls it from worker threads too

    def now(self) -> float:
        """Seconds since the epoch, as time.time() but immune to backward steps of the system clock."""
        wall, steady = self._wall(), self._steady()
        with self._lock:
            if self._anchor is None:
                self._anchor = (wall, steady)
                return wall
            projected = self._anchor[0] + (steady - self._anchor[1])
            if wall > projected + self._follow:  # stepped forward: follow it
                self._anchor = (wall, steady)
                return wall
            return projected

    def utcnow(self) -> datetime:
        """The same moment as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)


CLOCK = SteadyClock()


def utcnow() -> datetime:
    """The current time in UTC (aware), from the process's steady clock."""
    return CLOCK.utcnow()


def now() -> float:
    """The current time in seconds since the epoch, from the process's steady clock."""
    return CLOCK.now()
