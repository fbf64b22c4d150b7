"""tests.waiting: the shared poll-with-a-deadline helper."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from tests.waiting import WaitTimeout, async_wait_for, wait_for


def test_returns_the_first_truthy_value():
    values = iter([0, None, "", "ready"])
    assert wait_for(lambda: next(values), "ready", timeout=5, interval=0) == "ready"


def test_fails_naming_what_and_details_as_assertion_and_timeout():
    calls = itertools.count()
    with pytest.raises(WaitTimeout) as err:
        wait_for(lambda: next(calls) and False, "the moon", timeout=0.05, interval=0.01, details=lambda: "log tail")
    assert str(err.value) == "timed out after 0.05s waiting for the moon\nlog tail"
    assert isinstance(err.value, AssertionError) and isinstance(err.value, TimeoutError)
    assert next(calls) > 1  # it polled more than once before giving up


def test_async_variant():
    values = iter([False, 7])

    async def probe():
        return next(values)
    assert asyncio.run(async_wait_for(probe, timeout=5, interval=0)) == 7
    with pytest.raises(TimeoutError):
        asyncio.run(async_wait_for(lambda: asyncio.sleep(0, result=None), timeout=0.02, interval=0.01))
