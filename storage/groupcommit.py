"""Group commit: the writes that arrive together go to the database in ONE transaction.

Callers ``await submit(item)``; whoever arrives while no batch is running starts a drain task that
takes everything queued (up to ``max_batch``), hands it to ``run_batch`` and repeats until the
queue is empty. ``run_batch`` commits before it resolves the futures, so each caller still learns
its result only once its write is durable. There is no long-lived task: the drain task ends when
the queue is empty, and the queue never holds more than the callers currently waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    """One queued item and the future its caller waits on."""

    __slots__ = ("future", "item")

    def __init__(self, item: T, future: asyncio.Future):
        self.item = item
        self.future = future

    def resolve(self, result: object) -> None:
        """Hand the result to the caller (unless the caller has gone)."""
        if not self.future.done():
            self.future.set_result(result)

    def fail(self, exc: BaseException) -> None:
        """Hand an exception to the caller (unless the caller has gone)."""
        if not self.future.done():
            self.future.set_exception(exc)


class GroupCommit(Generic[T]):
    """Queues items and runs them in batches; ``run_batch`` must resolve or fail every Pending it gets."""

    def __init__(self, run_batch: Callable[[list[Pending[T]]], Awaitable[None]], max_batch: int = 256,
                 linger: float = 0.0):
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._linger = linger
        self._queue: list[Pending[T]] = []
        self._task: asyncio.Task | None = None
        self.batches = 0  # for tests and benchmarks: how many transactions ran
        self.items = 0

    async def submit(self, item: T) -> object:
        """Queue one item; returns (or raises) what its batch decided, after the commit."""
        pending = Pending(item, asyncio.get_running_loop().create_future())
        self._queue.append(pending)
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await pending.future

    async def _drain(self) -> None:
        try:
            while self._queue:
                if len(self._queue) < self._max_batch:
                    # Let the callers that are about to submit join this batch: fewer, fuller transactions.
                    await asyncio.sleep(self._linger)
                batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
                self.batches += 1
                self.items += len(batch)
                try:
                    await self._run_batch(batch)
                except BaseException as exc:
                    for p in batch:
                        p.fail(exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._task = None
            if self._queue:  # cancelled with work left: fail it rather than hang the callers
                for p in self._queue:
                    p.fail(RuntimeError("group commit stopped"))
                self._queue = []
