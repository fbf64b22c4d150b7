"""A work queue of keys with client-go's semantics (workqueue.RateLimitingInterface).

Guarantees, as in client-go:
- a key is handed to at most one worker at a time: get() marks it processing until
  done(key);
- adding a key that is already queued is a no-op (many events, one sync);
- adding a key while it is processing marks it dirty: it is queued again at done(), so
  a change seen during a sync is never lost;
- keys come out in the order they were first added;
- add_after(key, delay) adds later (the earliest pending time wins);
  add_rate_limited(key) adds after the rate limiter's delay for that key (5 ms doubling
  to 1000 s by default); forget(key) resets it once the key synced fine;
- shut_down() refuses new keys, lets workers drain what is queued, then get() raises
  ShutDown.

`run_workers(n, sync)` runs n workers: sync(key) returning means success (forget);
raising means requeue with back-off (logged and counted in `stats`).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from typing import Any, Awaitable, Callable, Hashable

from tinykube.api.errors import ApiError, Conflict
from tinykube.client.clock import REAL_CLOCK, Clock, Timer
from tinykube.client.ratelimit import RateLimiter, default_controller_rate_limiter

log = logging.getLogger(__name__)

Sync = Callable[[Any], Awaitable[None] | None]


class ShutDown(Exception):
    """The queue was shut down and every queued key has been handed out."""


class WorkQueue:
    def __init__(self, name: str = "", *, rate_limiter: RateLimiter | None = None,
                 clock: Clock = REAL_CLOCK):
        self.name = name
        self.clock = clock
        self.rate_limiter = rate_limiter or default_controller_rate_limiter(clock)
        self.stats: collections.Counter = collections.Counter()
        self._queue: collections.deque = collections.deque()
        self._dirty: set = set()  # queued, or to be queued again at done()
        self._processing: set = set()
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._delayed: dict[Hashable, tuple[float, Timer]] = {}
        self._shutting_down = False

    # --- adding ---------------------------------------------------------------------------

    def add(self, key: Hashable) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        self.stats["adds"] += 1
        if key in self._processing:
            return  # queued again by done()
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: Hashable, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self.clock.monotonic() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= ready_at:
                return  # an earlier add already covers this one
            pending[1].cancel()
        timer = self.clock.call_later(delay, lambda: self._delay_over(key))
        self._delayed[key] = (ready_at, timer)

    def _delay_over(self, key: Hashable) -> None:
        self._delayed.pop(key, None)
        self.add(key)

    def add_rate_limited(self, key: Hashable) -> None:
        self.stats["retries"] += 1
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: Hashable) -> None:
        self.rate_limiter.forget(key)

    def num_requeues(self, key: Hashable) -> int:
        return self.rate_limiter.num_requeues(key)

    # --- taking -----------------------------------------------------------------------------

    async def get(self) -> Hashable:
        """The next key, now marked processing; call done(key) after. Raises ShutDown."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            await self._wait()
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    async def _wait(self) -> None:
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._wake_one()  # we were woken but leave: pass the wake-up on
            elif future in self._waiters:
                self._waiters.remove(future)
            raise

    def _wake_one(self) -> None:
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)
                return

    def done(self, key: Hashable) -> None:
        self._processing.discard(key)
        if key in self._dirty:  # changed while processing (also drained after shut_down)
            self._queue.append(key)
            self._wake_one()

    # --- lifecycle --------------------------------------------------------------------------

    def shut_down(self) -> None:
        self._shutting_down = True
        for _, timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        """Keys queued now (not counting those processing or waiting for a delay)."""
        return len(self._queue)

    def is_processing(self, key: Hashable) -> bool:
        return key in self._processing

    # --- workers ----------------------------------------------------------------------------

    async def process_next(self, sync: Sync) -> bool:
        """Take one key and sync it; False once the queue is shut down and empty."""
        try:
            key = await self.get()
        except ShutDown:
            return False
        try:
            result = sync(key)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.stats["sync_errors"] += 1
            self._log_sync_error(key, exc)
            self.add_rate_limited(key)
        else:
            self.stats["syncs"] += 1
            self.forget(key)
        finally:
            self.done(key)
        return True

    def _log_sync_error(self, key: Hashable, exc: Exception) -> None:
        """An API error is the server's answer, said in one line (a Conflict is a stale cache,
        routine for a controller: kube-controller-manager logs it only at -v=2); anything
        else is a bug and gets its traceback."""
        name, requeue = self.name or "workqueue", self.num_requeues(key) + 1
        if isinstance(exc, ApiError):
            level = logging.INFO if isinstance(exc, Conflict) else logging.WARNING
            log.log(level, "%s: sync of %r failed (requeue %d), will retry with back-off: %s", name, key, requeue, exc)
        else:
            log.warning("%s: sync of %r failed (requeue %d), will retry with back-off", name, key, requeue,
                        exc_info=exc)

    async def run_workers(self, n: int, sync: Sync) -> None:
        """Run n workers until the queue is shut down and drained (or until cancelled,
        which shuts the queue down)."""
        workers = [asyncio.create_task(self._worker(sync), name=f"{self.name}-worker-{i}")
                   for i in range(n)]
        try:
            await asyncio.gather(*workers)
        finally:
            self.shut_down()
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self, sync: Sync) -> None:
        while await self.process_next(sync):
            pass
