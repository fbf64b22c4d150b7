"""WorkQueue: client-go's queue semantics, as tables of operations, and its workers."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tinykube.api.errors import Conflict, NotFound
from tinykube.client.clock import FakeClock
from tinykube.client.ratelimit import ItemExponentialFailureRateLimiter
from tinykube.client.workqueue import ShutDown, WorkQueue


def drain_now(queue: WorkQueue) -> list:
    """Keys queued right now, in order, without marking them processing."""
    return list(queue._queue)


# Each case: a list of operations, then the keys queued after them (in order).
# ("add", k), ("get",) takes the head (marks it processing), ("done", k).
CASES = {
    "adds come out in first-added order": ([("add", "a"), ("add", "b"), ("add", "c")], ["a", "b", "c"]),
    "adding a queued key is a no-op": ([("add", "a"), ("add", "b"), ("add", "a")], ["a", "b"]),
    "a key being processed is not queued twice": ([("add", "a"), ("get",), ("add", "a")], []),
    "...it is queued again at done()": ([("add", "a"), ("get",), ("add", "a"), ("done", "a")], ["a"]),
    "many adds while processing: one requeue": (
        [("add", "a"), ("get",), ("add", "a"), ("add", "a"), ("add", "a"), ("done", "a")], ["a"]),
    "done without a new add: not requeued": ([("add", "a"), ("get",), ("done", "a")], []),
    "requeued key goes to the back": (
        [("add", "a"), ("add", "b"), ("get",), ("add", "a"), ("done", "a")], ["b", "a"]),
}


@pytest.mark.parametrize("ops,expected", list(CASES.values()), ids=list(CASES))
async def test_queue_semantics(ops, expected):
    queue = WorkQueue("t")
    for op in ops:
        if op[0] == "add":
            queue.add(op[1])
        elif op[0] == "get":
            await queue.get()
        else:
            queue.done(op[1])
    assert drain_now(queue) == expected


async def test_a_key_is_never_processed_by_two_workers_at_once():
    queue = WorkQueue("t")
    running: set = set()
    overlaps = []
    seen = []

    async def sync(key):
        if key in running:
            overlaps.append(key)
        running.add(key)
        seen.append(key)
        await asyncio.sleep(0)  # let other workers run while we hold the key
        queue.add(key)  # a change arrives during the sync
        await asyncio.sleep(0)
        running.discard(key)
        if len(seen) >= 20:
            queue.shut_down()

    queue.add("a")
    queue.add("b")
    await asyncio.wait_for(queue.run_workers(4, sync), 5)
    assert overlaps == []
    assert {"a", "b"} <= set(seen)


async def test_get_waits_for_an_add_and_shutdown_drains_then_stops():
    queue = WorkQueue("t")
    getter = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    assert not getter.done()
    queue.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"
    queue.add("y")
    queue.shut_down()
    queue.add("z")  # refused after shut_down
    assert await queue.get() == "y"  # what was queued is still handed out
    with pytest.raises(ShutDown):
        await queue.get()


async def test_shutdown_wakes_waiting_getters():
    queue = WorkQueue("t")
    getters = [asyncio.create_task(queue.get()) for _ in range(3)]
    await asyncio.sleep(0)
    queue.shut_down()
    results = await asyncio.gather(*getters, return_exceptions=True)
    assert all(isinstance(r, ShutDown) for r in results)


async def test_cancelled_getter_passes_its_wakeup_on():
    queue = WorkQueue("t")
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.add("k")  # wakes `first` ...
    first.cancel()  # ... which leaves before taking it
    assert await asyncio.wait_for(second, 1) == "k"


async def test_add_after_uses_the_clock_and_the_earliest_time_wins():
    clock = FakeClock()
    queue = WorkQueue("t", clock=clock)
    queue.add_after("a", 10)
    queue.add_after("a", 5)  # earlier: replaces
    queue.add_after("a", 20)  # later: ignored
    queue.add_after("b", 0)  # now
    assert drain_now(queue) == ["b"]
    clock.advance(4.9)
    assert drain_now(queue) == ["b"]
    clock.advance(0.1)
    assert drain_now(queue) == ["b", "a"]
    clock.advance(100)
    assert drain_now(queue) == ["b", "a"]  # the replaced timers never fire


async def test_shutdown_cancels_delayed_adds():
    clock = FakeClock()
    queue = WorkQueue("t", clock=clock)
    queue.add_after("a", 1)
    queue.shut_down()
    clock.advance(2)
    assert len(queue) == 0 and clock.pending == 0


@pytest.mark.parametrize("failures,delay", [(0, 0.005), (1, 0.01), (2, 0.02), (10, 5.12), (17, 655.36),
                                            (18, 1000.0), (100, 1000.0)])
def test_exponential_failure_rate_limiter(failures, delay):
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(failures):
        limiter.when("k")
    assert limiter.when("k") == pytest.approx(delay)
    assert limiter.num_requeues("k") == failures + 1
    assert limiter.when("other") == 0.005  # per key
    limiter.forget("k")
    assert limiter.num_requeues("k") == 0 and limiter.when("k") == 0.005


async def test_rate_limited_requeue_backs_off_per_key_and_forget_resets():
    clock = FakeClock()
    queue = WorkQueue("t", clock=clock, rate_limiter=ItemExponentialFailureRateLimiter(1.0, 60.0))
    queue.add_rate_limited("k")  # 1 s
    clock.advance(0.99)
    assert len(queue) == 0
    clock.advance(0.01)
    assert drain_now(queue) == ["k"]
    await queue.get()
    queue.add_rate_limited("k")  # 2 s; processing: it becomes dirty when the delay is over
    queue.done("k")
    clock.advance(1.5)
    assert len(queue) == 0
    clock.advance(0.5)
    assert drain_now(queue) == ["k"]
    assert queue.num_requeues("k") == 2
    queue.forget("k")
    assert queue.num_requeues("k") == 0


async def test_run_workers_requeues_failures_with_backoff_and_counts_them():
    queue = WorkQueue("t", rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))
    attempts: dict = {}

    async def sync(key):
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] < 3:
            raise RuntimeError("not yet")
        if all(n >= 3 for n in attempts.values()) and len(attempts) == 2:
            queue.shut_down()

    queue.add("a")
    queue.add("b")
    await asyncio.wait_for(queue.run_workers(2, sync), 5)
    assert attempts == {"a": 3, "b": 3}
    assert queue.stats["sync_errors"] == 4 and queue.stats["syncs"] == 2
    assert queue.num_requeues("a") == 0  # forgotten after the success


@pytest.mark.parametrize("error, level, traceback", [
    (Conflict("the object has been modified"), logging.INFO, False),
    (NotFound("pods \"p\" not found"), logging.WARNING, False),
    (KeyError("spec"), logging.WARNING, True),
])
async def test_failed_sync_logged_in_one_line_for_api_errors_with_traceback_otherwise(caplog, error, level,
                                                                                       traceback):
    queue = WorkQueue("t", rate_limiter=ItemExponentialFailureRateLimiter(0.001, 0.01))

    def sync(key):
        raise error

    queue.add("k")
    with caplog.at_level(logging.INFO, logger="tinykube.client.workqueue"):
        assert await queue.process_next(sync)
    [record] = caplog.records
    assert record.levelno == level and "t: sync of 'k' failed (requeue 1)" in record.getMessage()
    assert (record.exc_info is not None) is traceback
    if not traceback:
        assert str(error) in record.getMessage()
    queue.shut_down()


async def test_run_workers_cancelled_shuts_the_queue_down():
    queue = WorkQueue("t")
    started = asyncio.Event()

    async def sync(key):
        started.set()
        await asyncio.Event().wait()  # hangs until cancelled

    queue.add("a")
    runner = asyncio.create_task(queue.run_workers(2, sync))
    await asyncio.wait_for(started.wait(), 1)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert queue.shutting_down and not queue.is_processing("a")


async def test_plain_function_sync_is_accepted():
    queue = WorkQueue("t")
    seen = []
    queue.add("a")
    assert await queue.process_next(seen.append)
    assert seen == ["a"] and queue.stats["syncs"] == 1
