"""How long to wait before trying again: client-go's rate limiters and back-off.

- ItemExponentialFailureRateLimiter: per key, base * 2**failures, capped (5 ms .. 1000 s
  by default); forget(key) starts the key over.
- BucketRateLimiter: a token bucket over all keys (10 per second, burst 100), so that a
  storm of failures cannot requeue faster than that overall.
- MaxOfRateLimiter: the longest of several; default_controller_rate_limiter() is the
  two above, exactly client-go's DefaultControllerRateLimiter.
- Backoff: one failing activity (a watch, a list) waits initial * factor**n, capped,
  with jitter, and starts over after a quiet period (the reflector's back-off manager).

All are pure arithmetic on a Clock, so tests drive them with a FakeClock.
"""

from __future__ import annotations

import random
from typing import Hashable, Protocol

from tinykube.client.clock import REAL_CLOCK, Clock


class RateLimiter(Protocol):
    def when(self, item: Hashable) -> float: ...

    def forget(self, item: Hashable) -> None: ...

    def num_requeues(self, item: Hashable) -> int: ...


class ItemExponentialFailureRateLimiter:
    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0):
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, item: Hashable) -> float:
        failures = self._failures.get(item, 0)
        self._failures[item] = failures + 1
        if failures >= 64:  # 2**64 * anything is past any cap; avoid the float overflow
            return self.max_delay
        return min(self.base_delay * (2 ** failures), self.max_delay)

    def forget(self, item: Hashable) -> None:
        self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        return self._failures.get(item, 0)


class BucketRateLimiter:
    """A token bucket: `burst` tokens, refilled at `qps`; a missing token is a delay."""

    def __init__(self, qps: float = 10.0, burst: int = 100, clock: Clock = REAL_CLOCK):
        self.qps = qps
        self.burst = burst
        self.clock = clock
        self._tokens = float(burst)
        self._last = clock.monotonic()

    def when(self, item: Hashable) -> float:
        now = self.clock.monotonic()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0  # reserve a token, possibly one that arrives in the future
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, item: Hashable) -> None:
        pass

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    def __init__(self, *limiters: RateLimiter):
        self.limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self.limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self.limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self.limiters)


def default_controller_rate_limiter(clock: Clock = REAL_CLOCK) -> MaxOfRateLimiter:
    """client-go's DefaultControllerRateLimiter: 5 ms doubling to 1000 s per item,
    and 10 qps (burst 100) overall."""
    return MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.005, 1000.0),
                            BucketRateLimiter(10.0, 100, clock))


class Backoff:
    """Back-off for one activity that keeps failing, reset after `reset_after` quiet seconds."""

    def __init__(self, initial: float = 0.8, maximum: float = 30.0, *, factor: float = 2.0,
                 jitter: float = 1.0, reset_after: float = 120.0, clock: Clock = REAL_CLOCK):
        self.initial, self.maximum, self.factor = initial, maximum, factor
        self.jitter, self.reset_after, self.clock = jitter, reset_after, clock
        self._current = 0.0
        self._last = 0.0

    def next(self) -> float:
        """The next delay to wait (grows each call until the cap)."""
        now = self.clock.monotonic()
        if self._current == 0.0 or now - self._last > self.reset_after:
            self._current = self.initial
        else:
            self._current = min(self._current * self.factor, self.maximum)
        self._last = now
        return self._current * (1.0 + random.random() * self.jitter)

    def reset(self) -> None:
        self._current = 0.0
