"""Time, behind a small interface, so that back-off and delays can be tested exactly.

`RealClock` reads the monotonic clock and sleeps on the event loop. `FakeClock` only
moves when a test calls `advance()`; sleepers and timers due by then run, in time order.
Both give wall time (`now()`, UTC) separately from the monotonic time that every
duration in this package is measured with, so a wall-clock jump never shortens a
lease or a back-off.
"""

from __future__ import annotations

import asyncio
import datetime
import heapq
import itertools
import time
from typing import Callable, Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def now(self) -> datetime.datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(datetime.timezone.utc)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


REAL_CLOCK = RealClock()


class _FakeTimer:
    def __init__(self, callback: Callable[[], None]):
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that stands still until advance(); for tests of delays and back-off."""

    def __init__(self, start: float = 1000.0,
                 wall: datetime.datetime = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)):
        self._now = start
        self._start = start
        self._wall = wall
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def now(self) -> datetime.datetime:
        return self._wall + datetime.timedelta(seconds=self._now - self._start)

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _FakeTimer(callback)
        heapq.heappush(self._timers, (self._now + max(0.0, delay), next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:  # nothing to wait for, but let others run, as asyncio.sleep(0)
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        self.call_later(seconds, lambda: future.done() or future.set_result(None))
        await future

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, in order."""
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            due, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, due)
            if not timer.cancelled:
                timer.callback()
        self._now = target

    @property
    def pending(self) -> int:
        """Timers not yet run nor cancelled."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)
