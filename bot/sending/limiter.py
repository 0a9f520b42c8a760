"""Outgoing Bot API calls: the bot's sending budget, respondents' replies first, bulk sends from spare budget.

The contract (docs/operators/performance.md explains the settings):

- Calls that deliver no message (answerCallbackQuery, getMe, setMyCommands, sendChatAction, deleteMessage, …)
  pass at once: Telegram does not count them against the bot's message limits.
- Every call that sends or edits a message costs one token per message (sendMediaGroup: one per item) from the
  bot's budget: ``OUTGOING_MAX_RATE`` tokens a second, a burst of a few.
- **Interactive** calls (the default: replies to a respondent) are granted before any **bulk** call. Bulk calls
  (inside ``with bulk():``, in a handler decorated with ``@bulk_handler``, or with ``rate_limit_args=BULK``) are
  granted from spare budget only and never take the token kept for the next interactive call, so a bulk job delays
  a respondent by at most one token interval (1/30 s).
- Per chat: a private chat gets a burst of ``CHAT_BURST`` messages, then ``CHAT_RATE`` a second; a group or channel
  ``GROUP_PER_MINUTE`` a minute. A call waits for its chat's allowance *before* it queues for the shared budget, so
  a busy chat never holds up the others.
- A 429 "retry after N" pauses that chat and the shared budget for N seconds; the call is then made again
  (up to ``max_retries`` times). A 429 on a call that sends no message (answerCallbackQuery, setMyCommands, …)
  is waited out the same way, for that call alone: it never reaches the handler while retries are left.

Bulk senders (admin charts, exports, reminders, alerts, broadcasts) use the small API here::

    from bot.sending.limiter import bulk, bulk_handler, BULK

    with bulk():                                   # every call of this task inside waits for spare budget
        await context.bot.send_media_group(chat_id, media)
    await context.bot.send_message(chat_id, text, rate_limit_args=BULK)   # one call

Both work whether or not the limiter paces anything (``OUTGOING_MAX_RATE=0`` makes it a pass-through).

With ``metrics`` (bot/background/metrics.py) the limiter counts 429 answers by method
(``surveybot_bot_api_throttled_total``) and times how long each reply to a respondent (an interactive call that
sends a message) waited for its chat and the shared budget (``surveybot_reply_queue_wait_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from datetime import timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.background import cancel

if TYPE_CHECKING:
    from bot.background.metrics import Metrics

log = logging.getLogger(__name__)

CHAT_BURST = 10  # Telegram tolerates short bursts in one chat (albums of 10 must fit) ...
CHAT_RATE = 0.9  # ... then about one message a second; a little under it, so clock skew never trips it
GROUP_PER_MINUTE = 19  # Telegram: 20 a minute in one group; one under it for the same reason
BURST_SECONDS = 0.1  # the shared budget holds at most this many seconds' worth of tokens (3 at 30/s)
MAX_RETRIES = 12  # 429s waited out per call (at 35 % of calls answered 429, twelve in a row: 3 in a million)


class Priority(IntEnum):
    """Who waits for whom: lower values are granted first."""

    INTERACTIVE = 0  # a reply to a respondent's action
    BULK = 1  # admin charts, exports, progress notes, reminders, broadcasts


BULK: dict[str, Any] = {"priority": Priority.BULK}  # rate_limit_args for a single bulk call
_priority: ContextVar[Priority] = ContextVar("surveybot_outgoing_priority", default=Priority.INTERACTIVE)


@contextlib.contextmanager
def bulk() -> Iterator[None]:
    """Inside this block, every Bot API call of the current task waits for spare budget."""
    token = _priority.set(Priority.BULK)
    try:
        yield
    finally:
        _priority.reset(token)


def bulk_handler(func: Callable[..., Awaitable[Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """Decorate a handler (or any coroutine function) whose sends are all bulk."""

    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        with bulk():
            return await func(*args, **kwargs)

    return wrapper


def priority_of(rate_limit_args: object) -> Priority:
    """The priority of one call: its rate_limit_args, else the current task's (interactive by default)."""
    if isinstance(rate_limit_args, dict) and "priority" in rate_limit_args:
        return Priority(rate_limit_args["priority"])
    return _priority.get()


def message_cost(endpoint: str, data: dict[str, Any]) -> int:
    """How many messages a call counts as against Telegram's limits (0: not counted)."""
    if data.get("chat_id") is None or endpoint == "sendChatAction":
        return 0
    if endpoint == "sendMediaGroup":
        return max(1, len(data.get("media") or ()))
    return 1 if endpoint.startswith(("send", "edit", "copy", "forward")) else 0


class TokenSource(Protocol):
    """Where the shared budget's tokens come from (the local clock, or a budget shared by workers)."""

    def refill(self, now: float) -> float:
        """Tokens earned since the last call (never more than fit)."""

    def seconds_for(self, tokens: float) -> float:
        """A guess of how long until that many more tokens are earned."""


class ClockSource:
    """RATE tokens a second from the local clock."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate, self._stamp = rate, now

    def refill(self, now: float) -> float:
        """Tokens earned since the last call."""
        earned, self._stamp = max(0.0, now - self._stamp) * self.rate, now
        return earned

    def seconds_for(self, tokens: float) -> float:
        """Seconds until that many tokens are earned."""
        return max(0.0, tokens) / self.rate


class _Waiter:
    __slots__ = ("future", "need", "reserved")

    def __init__(self, need: float, future: asyncio.Future) -> None:
        self.need, self.reserved, self.future = need, 0.0, future


class Budget:
    """The bot's shared sending budget: a token bucket with two strict-priority queues.

    A waiting bulk call collects spare tokens one by one (a reservation), so an album of ten photos is paid
    for by ten slots nobody else wanted; the bucket always keeps ``floor`` tokens for the next interactive
    call. Interactive calls are served first come, first served.
    """

    def __init__(self, rate: float, burst: float | None = None, *, source: TokenSource | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate * BURST_SECONDS)
        self.floor = 1.0 if self.burst >= 2 else 0.0
        self.clock = clock
        self.source: TokenSource = source or ClockSource(rate, clock())
        self._tokens = self.burst
        self._paused_until = 0.0
        self._queues: tuple[deque[_Waiter], deque[_Waiter]] = (deque(), deque())
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.granted = [0, 0]  # messages granted per priority
        self.batch = self.burst  # most tokens asked of a shared source at once

    def share(self, source: TokenSource, batch: float) -> None:
        """Take tokens from a source shared with other workers (it keeps priorities across them)."""
        self.source, self.batch = source, batch
        # Tokens come in as their slots begin and are spent at once; a slot nobody here wanted is not hoarded
        # (spent later in a heap, it would bunch this worker's sends with the others'). A call needing more
        # collects them one by one (its reservation).
        self.burst = 2.0
        self.floor = 0.0  # the shared source keeps its own reserve for interactive calls
        self._tokens = 0.0

    def _refill(self) -> float:
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + self.source.refill(now))
        return now

    def pause(self, seconds: float) -> None:
        """Grant nothing for that long (Telegram said "retry after")."""
        now = self._refill()
        self._paused_until = max(self._paused_until, now + seconds)
        self._tokens = 0.0
        self._poke()

    async def acquire(self, need: float, priority: Priority = Priority.INTERACTIVE) -> None:
        """Wait until this call may go: interactive before bulk, first come first served within each."""
        now = self._refill()
        if now >= self._paused_until:
            floor = self.floor if priority == Priority.BULK else 0.0
            ahead = self._queues[0] if priority == Priority.INTERACTIVE else self._queues[0] or self._queues[1]
            if not ahead and self._tokens - floor >= need - 1e-9:
                self._tokens -= need
                self.granted[priority] += int(need)
                return
        waiter = _Waiter(need, asyncio.get_running_loop().create_future())
        self._queues[priority].append(waiter)
        self._poke()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if not waiter.future.cancelled():  # granted just as we were cancelled: give the tokens back
                self._tokens += need
            raise
        self.granted[priority] += int(need)

    def _poke(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._dispatch(), name="outgoing-budget")

    async def _dispatch(self) -> None:
        assert self._wake is not None
        fetch = getattr(self.source, "fetch", None)  # a shared source hands out tokens on request
        while self._queues[0] or self._queues[1]:
            self._wake.clear()
            if fetch is not None and self._head_missing() > 0 and (want := self._shortfall()) > 0:
                await fetch(want, bulk=not self._queues[0])
            delay = self._grant()
            if delay is None:
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def _head_missing(self) -> float:
        """Tokens the first waiting call still lacks (0: it can be granted from what is here)."""
        self._refill()
        interactive = bool(self._queues[0])
        queue = self._queues[0] if interactive else self._queues[1]
        floor = 0.0 if interactive else self.floor
        return max(0.0, queue[0].need - queue[0].reserved + floor - self._tokens)

    def _shortfall(self) -> float:
        """Tokens the waiting calls of the first non-empty priority still need beyond what is here."""
        self._refill()
        interactive = bool(self._queues[0])
        queue = self._queues[0] if interactive else self._queues[1]
        floor = 0.0 if interactive else self.floor
        need = sum(w.need - w.reserved for w in queue if not w.future.done())
        return max(0.0, min(need, self.batch) + floor - self._tokens)

    def _grant(self) -> float | None:
        """Serve the head waiter if possible; None to look again at once, else seconds to sleep."""
        now = self._refill()
        if now < self._paused_until:
            return self._paused_until - now
        interactive = bool(self._queues[0])
        queue = self._queues[0] if interactive else self._queues[1]
        head = queue[0]
        if head.future.done():  # cancelled while waiting: its reservation goes back
            queue.popleft()
            self._tokens = min(self.burst, self._tokens + head.reserved)
            return None
        floor = 0.0 if interactive else self.floor
        take = max(0.0, min(self._tokens - floor, head.need - head.reserved))
        head.reserved += take
        self._tokens -= take
        missing = head.need - head.reserved
        if missing <= 1e-9:
            queue.popleft()
            head.future.set_result(None)
            return None
        return max(0.001, self.source.seconds_for(missing + floor - self._tokens))

    async def close(self) -> None:
        """Stop the dispatcher; waiting calls are cancelled."""
        for queue in self._queues:
            while queue:
                queue.popleft().future.cancel()
        await cancel(self._task)


class _Allowance:
    """One chat's allowance: a token bucket (private chats) or a sliding window (groups)."""

    __slots__ = ("burst", "paused_until", "period", "rate", "stamp", "tokens", "window")

    def __init__(self, rate: float, burst: float, now: float, window: int = 0, period: float = 60.0) -> None:
        self.rate, self.burst, self.tokens, self.stamp = rate, burst, burst, now
        self.window: deque[float] | None = deque() if window else None
        self.period, self.paused_until = period, 0.0

    def delay(self, need: int, now: float) -> float:
        """Seconds until `need` messages may go to this chat (0: now)."""
        if now < self.paused_until:
            return self.paused_until - now
        if self.window is not None:
            while self.window and self.window[0] <= now - self.period:
                self.window.popleft()
            over = len(self.window) + need - self.burst
            return 0.0 if over <= 0 else self.window[int(over) - 1] + self.period - now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate

    def take(self, need: int, now: float) -> None:
        """Spend the allowance for `need` messages."""
        if self.window is not None:
            self.window.extend([now] * need)
        else:
            self.tokens -= need

    def idle(self, now: float) -> bool:
        """Whether forgetting this chat changes nothing (full allowance, no pause)."""
        return self.delay(int(self.burst), now) == 0.0


class ChatLimits:
    """Per-chat allowances, forgotten once a chat is idle again."""

    def __init__(self, chat_rate: float = CHAT_RATE, chat_burst: int = CHAT_BURST,
                 group_per_minute: int = GROUP_PER_MINUTE, clock: Callable[[], float] = time.monotonic) -> None:
        self.chat_rate, self.chat_burst, self.group_per_minute = chat_rate, chat_burst, group_per_minute
        self.clock = clock
        self._chats: dict[int | str, _Allowance] = {}

    def _of(self, chat_id: int | str, now: float) -> _Allowance:
        allowance = self._chats.get(chat_id)
        if allowance is None:
            if len(self._chats) >= 4096:
                self._chats = {k: v for k, v in self._chats.items() if not v.idle(now)}
            group = isinstance(chat_id, str) or chat_id < 0
            allowance = (_Allowance(0.0, self.group_per_minute, now, window=1) if group
                         else _Allowance(self.chat_rate, self.chat_burst, now))
            self._chats[chat_id] = allowance
        return allowance

    async def wait(self, chat_id: int | str, need: int) -> float:
        """Wait for this chat's allowance, then spend it; returns what is left (for ``sent``)."""
        while True:
            now = self.clock()
            allowance = self._of(chat_id, now)
            need = min(need, int(allowance.burst))
            delay = allowance.delay(need, now)
            if delay <= 0:
                allowance.take(need, now)
                return allowance.tokens
            await asyncio.sleep(delay)

    def sent(self, chat_id: int | str, left: float) -> None:
        """The call is done: the allowance does not grow while a call is in flight (an album's upload may
        take a second; Telegram counts it when it arrives, so the refill starts from now)."""
        allowance = self._chats.get(chat_id)
        if allowance is not None and allowance.window is None:
            now = self.clock()
            allowance.delay(0, now)
            allowance.tokens = min(allowance.tokens, left)

    def pause(self, chat_id: int | str, seconds: float) -> None:
        """Send nothing to this chat for that long."""
        now = self.clock()
        allowance = self._of(chat_id, now)
        allowance.paused_until = max(allowance.paused_until, now + seconds)
        allowance.tokens = 0.0

    def __len__(self) -> int:
        return len(self._chats)


def _chat_key(chat_id: object) -> int | str:
    with contextlib.suppress(TypeError, ValueError):
        return int(chat_id)  # type: ignore[call-overload]
    return str(chat_id)


def retry_seconds(exc: RetryAfter) -> float:
    """Telegram's retry_after in seconds, through the public attribute: a ``timedelta`` where PTB_TIMEDELTA is
    set, otherwise seconds (with PTB's deprecation warning of that form silenced here, where both are read)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class OutgoingLimiter(BaseRateLimiter[dict]):
    """PTB rate limiter: the budget above, per-chat allowances, priorities; rate 0 passes everything through."""

    def __init__(self, rate: float, *, budget: Budget | None = None, chats: ChatLimits | None = None,
                 max_retries: int = MAX_RETRIES, metrics: Metrics | None = None) -> None:
        """``metrics``: where 429s and replies' waits are counted (None: not counted)."""
        self.rate = rate
        self.metrics = metrics
        self.budget = budget if budget is not None else (Budget(rate) if rate > 0 else None)
        self.chats = chats if chats is not None else ChatLimits()
        self.max_retries = max_retries
        self.retries = 0  # 429 answers waited out
        self.shared: Any = None  # the shared source when several workers share the budget (bot/sending/sendbudget.py)

    async def initialize(self) -> None:
        """Nothing to open (the budget starts its dispatcher on first use)."""

    async def shutdown(self) -> None:
        """Stop the budget's dispatcher."""
        if self.budget is not None:
            await self.budget.close()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Make the call when its chat and the shared budget allow; wait out 429s."""
        cost = message_cost(endpoint, data)
        if self.budget is None or cost == 0:
            for attempt in range(self.max_retries + 1):
                try:
                    return await callback(*args, **kwargs)
                except RetryAfter as exc:
                    await asyncio.sleep(self._slowed_down(endpoint, exc, attempt, logging.INFO))
        chat = _chat_key(data["chat_id"])
        priority = priority_of(rate_limit_args)
        for attempt in range(self.max_retries + 1):
            queued = time.monotonic()
            left = await self.chats.wait(chat, cost)
            await self.budget.acquire(cost, priority)
            if self.metrics is not None and priority == Priority.INTERACTIVE:
                self.metrics.reply_wait.observe(time.monotonic() - queued)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = self._slowed_down(endpoint, exc, attempt, logging.WARNING)
                self.chats.pause(chat, seconds)
                self.budget.pause(seconds)
            finally:
                self.chats.sent(chat, left)
        raise AssertionError("unreachable")  # pragma: no cover

    def _slowed_down(self, endpoint: str, exc: RetryAfter, attempt: int, level: int) -> float:
        """A 429 on a call: counted and logged; the seconds to wait before the next attempt (the last one raises)."""
        if self.metrics is not None:
            self.metrics.api_throttled.labels(endpoint).inc()
        if attempt == self.max_retries:
            raise exc
        seconds = retry_seconds(exc) + 0.1
        self.retries += 1
        log.log(level, "Telegram asked to slow down (%s); waiting %.1f s", endpoint, seconds)
        return seconds


def limiter_from(rate: float) -> OutgoingLimiter:
    """The limiter for OUTGOING_MAX_RATE (0: no pacing, rate_limit_args still accepted)."""
    return OutgoingLimiter(rate)


__all__ = ["BULK", "Budget", "ChatLimits", "OutgoingLimiter", "Priority", "bulk", "bulk_handler", "limiter_from",
           "message_cost"]
