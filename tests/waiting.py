"""Polling with a deadline, the one way tests wait for a state (they never sleep for it).

`wait_for(predicate, what)` calls predicate until it returns something truthy and returns
that value; past the deadline it fails with WaitTimeout naming what it waited for, plus
`details()` (server or agent logs) when given. `async_wait_for` is the same for a coroutine
predicate. Suites with other habits bind their defaults with functools.partial.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError, TimeoutError):
    """A test failure (AssertionError) that callers probing for absence catch as a TimeoutError."""


def wait_for(predicate: Callable[[], T], what: str = "condition", *, timeout: float = 30.0,
             interval: float = 0.1, details: Callable[[], str] | None = None) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(_message(what, timeout, details))
        time.sleep(interval)


async def async_wait_for(predicate: Callable[[], Awaitable[T]], what: str = "condition", *, timeout: float = 30.0,
                         interval: float = 0.1, details: Callable[[], str] | None = None) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise WaitTimeout(_message(what, timeout, details))
        await asyncio.sleep(interval)


def _message(what: str, timeout: float, details: Callable[[], str] | None) -> str:
    message = f"timed out after {timeout}s waiting for {what}"
    return f"{message}\n{details()}" if details else message
