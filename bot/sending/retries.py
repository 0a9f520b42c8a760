"""Bot API calls that fail in transit are made again, with backoff, for a bounded time.

``RetryingRequest`` wraps the HTTP transport (PTB's ``BaseRequest``), below any rate limiter, so it
composes with whatever decides *when* a call may go out: it only decides what to do when a call that
went out came back broken. Retried: a 5xx answer, a timeout, a dropped connection and an answer of any
status that is not readable JSON (an HTML error page or a truncated body from a proxy in front of the Bot API:
Telegram itself always answers JSON, so a 403 page from a proxy is not "blocked by the user"). Not retried:
4xx answers in JSON (the call was understood and refused: blocked, "message is not modified", a 429 that
the rate limiter waits out) and ``getUpdates`` (the updater polls again by itself; an unreadable answer to it
is raised as a ``NetworkError``, which the updater waits out quietly).

Every attempt has a deadline, ``deadline`` seconds (plus the read timeout a call asks for: getUpdates' long
poll): HTTP timeouts count per read, so an answer that trickles in forever would otherwise hold the call for
ever. An attempt past its deadline is cancelled and counts as a time-out.

A call that timed out or lost its answer may already have been carried out, so retrying a
``sendMessage`` can deliver the message twice. For the respondent that is the lesser harm: every
keyboard carries the response's version, so two copies of a question are one question, while a
question that never arrives leaves them in silence. A repeated edit or callback answer is refused
by Telegram with a 400, which the handlers already treat as harmless.

Every call is counted here once it is done (``surveybot_bot_api_calls_total`` by method and outcome), and every
attempt made again (``surveybot_bot_api_retries_total``), when the wiring passes ``metrics``
(bot/background/metrics.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.background.metrics import FAILED, OK, REFUSED

if TYPE_CHECKING:
    from bot.background.metrics import Metrics

log = logging.getLogger(__name__)

RETRY_SECONDS = 20.0  # no new attempt starts later than this after the first one
DEADLINE = 20.0  # the longest one attempt may take (see the module docstring)
FIRST_DELAY, MAX_DELAY = 0.25, 4.0
NOT_RETRIED = frozenset({"getUpdates"})

# Told after every attempt: (None, False) when the Bot API answered, else (the kind of failure, whether
# the call is given up, i.e. the failure reaches the caller).
Observer = Callable[[str | None, bool], None]


class RetryingRequest(BaseRequest):
    """A ``BaseRequest`` that makes a call again when it failed in transit (see the module docstring)."""

    def __init__(self, inner: BaseRequest, *, retry_seconds: float = RETRY_SECONDS,
                 first_delay: float = FIRST_DELAY, max_delay: float = MAX_DELAY, observe: Observer | None = None,
                 metrics: Metrics | None = None, deadline: float = DEADLINE):
        """``observe``: told the outcome of every attempt (Health); ``metrics``: where calls and retries are
        counted (None: not counted); ``deadline``: the longest one attempt may take."""
        self.inner = inner
        self.deadline = deadline
        self.retry_seconds, self.first_delay, self.max_delay = retry_seconds, first_delay, max_delay
        self.observe = observe
        self.metrics = metrics
        self.retries = 0  # for tests and diagnostics: attempts made again so far
        # The JSON of answers checked here, by id of their body, until PTB asks for it (parse_json_payload): read
        # once, not twice. An entry PTB never asks for (a failed attempt) is dropped with the next overflow.
        self._read: dict[int, tuple[bytes, dict[str, Any]]] = {}
        self._flight: dict[int, _InFlight] = {}  # the attempts under way, by id, for the watchdog of deadlines
        self._watcher: asyncio.Task[None] | None = None

    @property
    def read_timeout(self) -> float | None:
        """The wrapped transport's read timeout."""
        return self.inner.read_timeout

    async def initialize(self) -> None:
        """Initialise the wrapped transport."""
        await self.inner.initialize()

    async def shutdown(self) -> None:
        """Shut the wrapped transport down (and the watchdog of deadlines)."""
        await self.inner.shutdown()
        if self._watcher is not None:
            self._watcher.cancel()

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         **timeouts: object) -> tuple[int, bytes]:
        """Make the call; make it again while it fails in transit and the time budget lasts."""
        endpoint = url.rsplit("/", 1)[-1]
        try:
            if endpoint in NOT_RETRIED:
                code, payload = await self._once(url, method, request_data, **timeouts)
            else:
                code, payload = await self._until_done(endpoint, url, method, request_data, **timeouts)
        except NetworkError:
            self._count(endpoint, FAILED)
            raise
        # A 2xx whose body is unreadable was made again or raised above (getUpdates: PTB raises on it).
        self._count(endpoint, OK if 200 <= code < 300 else REFUSED if code < 500 else FAILED)
        return code, payload

    def _count(self, endpoint: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.api_calls.labels(endpoint, outcome).inc()

    async def _until_done(self, endpoint: str, url: str, method: str, request_data: RequestData | None,
                          **timeouts: object) -> tuple[int, bytes]:
        """Attempts until one is not a failure in transit, or the time budget is spent."""
        deadline = time.monotonic() + self.retry_seconds
        delay = self.first_delay
        while True:
            error: NetworkError | None = None
            try:
                code, payload = await self._attempt(url, method, request_data, **timeouts)
                failure = self._failure(code, payload)
            except NetworkError as exc:  # TimedOut included
                failure, error = ("timeout" if isinstance(exc, TimedOut) else "network error"), exc
            give_up = failure is not None and time.monotonic() + delay > deadline
            if self.observe is not None:
                self.observe(failure, give_up)
            if failure is None:
                return code, payload
            if give_up:
                if error is not None:
                    raise error
                if code >= 300 and failure != UNREADABLE:
                    return code, payload  # PTB raises NetworkError with the status
                # PTB would log the unreadable body (it may hold a respondent's text) at ERROR level.
                raise NetworkError(f"unreadable answer from the Bot API ({endpoint}, HTTP {code})")
            self.retries += 1
            if self.metrics is not None:
                self.metrics.api_retries.labels(endpoint).inc()
            log.debug("Bot API %s failed (%s); trying again in %.2f s", endpoint, failure, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)

    async def _once(self, url: str, method: str, request_data: RequestData | None, **timeouts: object
                    ) -> tuple[int, bytes]:
        """One attempt, reported to the observer (a long poll that answers shows the Bot API is there)."""
        try:
            code, payload = await self._attempt(url, method, request_data, **timeouts)
        except NetworkError as exc:
            if self.observe is not None:
                self.observe("timeout" if isinstance(exc, TimedOut) else "network error", False)
            raise
        failure = self._failure(code, payload)
        if self.observe is not None:
            self.observe(failure, False)
        if failure == UNREADABLE:  # PTB would log the body with a traceback; the updater polls again
            raise NetworkError(f"unreadable answer from the Bot API (getUpdates, HTTP {code})")
        return code, payload

    async def _attempt(self, url: str, method: str, request_data: RequestData | None, **timeouts: object
                       ) -> tuple[int, bytes]:
        """One call to the transport, cut off at the deadline (a ``TimedOut``).

        The deadlines are kept by one watchdog task (``_watch``) that looks at the calls in flight every
        ``WATCH_SECONDS``, not by a timer per call (``asyncio.timeout`` costs a timer handle and its cancellation
        on every call, measurable at hundreds of calls a second); a call may overrun its deadline by up to that."""
        asked = timeouts.get("read_timeout")
        limit = self.deadline + (asked if isinstance(asked, int | float) else 0.0)
        task = asyncio.current_task()
        assert task is not None
        call = _InFlight(task, time.monotonic() + limit, task.cancelling())
        self._flight[id(call)] = call
        loop = asyncio.get_running_loop()
        if self._watcher is None or self._watcher.done() or self._watcher.get_loop() is not loop:
            self._watcher = loop.create_task(self._watch(), name="bot-api-deadlines")
        try:
            return await self.inner.do_request(url, method, request_data, **timeouts)
        except asyncio.CancelledError:
            # Cancelled by the watchdog (and by nothing else meanwhile, as asyncio.timeout tells them apart).
            if call.expired and task.uncancel() <= call.cancelling:
                raise TimedOut(f"no complete answer within {limit:.0f} s") from None
            raise
        finally:
            del self._flight[id(call)]

    async def _watch(self) -> None:
        """Cancel the calls past their deadline; ends when none is in flight (the next call starts it again)."""
        try:
            while self._flight:
                await asyncio.sleep(WATCH_SECONDS)
                now = time.monotonic()
                for call in list(self._flight.values()):
                    if not call.expired and call.deadline <= now:
                        call.expired = True
                        call.task.cancel()
        finally:
            if self._watcher is asyncio.current_task():
                self._watcher = None

    def _failure(self, code: int, payload: bytes) -> str | None:
        """Why an HTTP answer counts as failed in transit, or None when it is a real answer."""
        try:
            data = json.loads(payload.decode("utf-8", "replace"))  # as PTB's parse_json_payload reads it
        except ValueError:
            return UNREADABLE  # Telegram answers JSON, whatever the status: this came from something in between
        if len(self._read) >= READ_LIMIT:
            self._read.clear()
        self._read[id(payload)] = (payload, data)
        return f"http {code}" if code >= 500 else None

    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]  # PTB's is static
        """The answer's JSON (PTB's hook for reading it): the one read when the answer was checked, if it was."""
        known = self._read.pop(id(payload), None)
        if known is not None and known[0] is payload:
            return known[1]
        return BaseRequest.parse_json_payload(payload)


@dataclass
class _InFlight:
    """An attempt under way: its task, when its deadline falls (monotonic), and the task's cancellation count then."""

    task: asyncio.Task[Any]
    deadline: float
    cancelling: int
    expired: bool = False


UNREADABLE = "unreadable answer"
WATCH_SECONDS = 0.5  # how often the deadlines are looked at (a call may overrun its deadline by up to this)
READ_LIMIT = 4096  # answers checked and not yet read by PTB (at most the calls in flight, unless some failed)
