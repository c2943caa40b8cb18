"""Adaptive micro-batching: the rows of concurrent /invocations requests joined into one predict call.

One Batcher per Scorer (so per served version, champion and challenger each: a request finishes on the version it
started with, and a swapped-out version's batcher just drains). Each request is parsed and validated on its own
before it is queued; the batcher only ever sees valid (texts, params).

When to close a batch: at `max_rows` rows, or `wait` seconds after its first request arrived, whichever comes
first, but a batch only waits while more requests are known to be on their way (`expect`: received, still
being parsed): with nobody else coming it goes to the model at once, so the wait never taxes a quiet server.
Requests that arrive while a batch is being predicted queue up and form the next one, so batches grow with the
load without any waiting.

Asyncio only, created lazily on the event loop that uses it (prefork forks workers after the app is built): the
consumer task runs while there is work and ends when the queue is empty, so nothing outlives its version.
A request cancelled while queued (its time limit) is skipped: its rows are never scored.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Pending:
    texts: list[str]
    params: dict | None
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)
    started: float = 0.0  # when its batch went to the model
    predict_seconds: float = 0.0


class Batcher:
    def __init__(self, scorer, max_rows: int, wait_seconds: float):
        self._scorer = weakref.ref(scorer)  # the scorer owns the batcher: no cycle keeps a swapped-out version
        self.max_rows = max_rows
        self.wait = wait_seconds
        self.loop = asyncio.get_running_loop()
        self._queue: deque[Pending] = deque()
        self._rows = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._coming = 0  # requests received, not yet queued (being parsed and validated)
        self.batches = 0  # batches sent to the model (for tests and benchmarks)

    def expect(self) -> None:
        """A request is on its way: a forming batch may wait for it. Then `submit` or `withdraw`, exactly once."""
        self._coming += 1

    def withdraw(self) -> None:
        """An expected request will not come (it was refused)."""
        self._coming -= 1
        self._wake.set()

    async def submit(self, texts: list[str], params: dict | None) -> tuple[Any, Pending]:
        """This request's rows (its own, in order, with its params), and its Pending (for the stage timings)."""
        self._coming -= 1
        pending = Pending(texts, params, self.loop.create_future())
        self._queue.append(pending)
        self._rows += len(texts)
        self._wake.set()
        if self._task is None:
            self._task = self.loop.create_task(self._consume())
        return await pending.future, pending  # cancelled here (time limit): its future too, so it is skipped

    async def _consume(self) -> None:
        try:
            while self._queue:
                await self._fill()
                batch = self._take()
                if batch:
                    await self._predict(batch)
        finally:
            self._task = None

    async def _fill(self) -> None:
        """Wait for more rows, up to the first request's deadline, while more requests are on their way."""
        if self.wait <= 0:
            return
        deadline = self._queue[0].enqueued + self.wait
        while self._rows < self.max_rows and self._coming > 0:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._wake.wait()
            except TimeoutError:
                return

    def _take(self) -> list[Pending]:
        batch, rows = [], 0
        while self._queue:
            pending = self._queue[0]
            if pending.future.done():  # cancelled while queued: never scored
                self._queue.popleft()
                self._rows -= len(pending.texts)
                continue
            if batch and rows + len(pending.texts) > self.max_rows:
                break
            self._queue.popleft()
            self._rows -= len(pending.texts)
            rows += len(pending.texts)
            batch.append(pending)
        return batch

    async def _predict(self, batch: list[Pending]) -> None:
        self.batches += 1
        scorer = self._scorer()
        started = time.perf_counter()
        for pending in batch:
            pending.started = started
        try:
            if scorer is None:
                raise RuntimeError("the served version is gone")
            results = await asyncio.to_thread(scorer.predict_many, [(p.texts, p.params) for p in batch])
        except asyncio.CancelledError:  # the loop is shutting down: nobody waits for these any more
            for pending in batch:
                pending.future.cancel()
            raise
        except Exception as exc:  # handed to each waiting request, raised there
            results = [exc] * len(batch)
        elapsed = time.perf_counter() - started
        for pending, result in zip(batch, results):
            pending.predict_seconds = elapsed
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
