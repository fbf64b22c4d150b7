"""Garbage collection for long-running tinykube processes (API server, controllers, agent).

CPython's cyclic collector makes a full pass over every tracked object each time the objects
that survived into the oldest generation grow by a quarter of it. The API server's heap is
millions of small dicts and lists (the watch cache, its history, informers) that churn all
the time, so full passes came every few seconds and took ~0.3 s each: measured, 7.2 s of
23 s of server CPU in a 4,000-pod scheduling run went to finding 60 collectable objects.

JSON-shaped data has no reference cycles; reference counting frees it. So each process
periodically moves what survived into the permanent generation (`gc.freeze()`), where the
collector no longer looks: the automatic collections then only walk objects made since the
last freeze. Cycles that were frozen while still alive and die later (a closed
connection's protocol objects, say) would never be found; a rare full pass with the frozen
objects put back (`gc.unfreeze()`, `gc.collect()`, `gc.freeze()`) collects them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

# Young objects are mostly a request's or an event's temporaries that reference counting
# frees within microseconds; collecting the youngest generation every 700 allocations (the
# default) walked each longer-lived one several times (2 s of the 23 s above).
YOUNG_THRESHOLD = 20_000
FREEZE_INTERVAL = 10.0          # seconds between young collections + freeze
FULL_COLLECTION_INTERVAL = 900.0  # seconds between full passes over everything
SLOW_FULL_COLLECTION = 0.5      # seconds: a full pass this long is logged


def freeze_survivors() -> None:
    """Collect the young generations (cheap), then freeze whatever survived."""
    gc.collect(1)
    gc.freeze()


def full_collection() -> int:
    """A full pass over every object, frozen ones included; returns what it collected."""
    started = time.monotonic()
    gc.unfreeze()
    collected = gc.collect()
    gc.freeze()
    took = time.monotonic() - started
    if took > SLOW_FULL_COLLECTION:
        log.info("gc: full collection took %.2f s, %d objects collected", took, collected)
    return collected


def install() -> None:
    """Tune the automatic collector for this process (call once, at start)."""
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)


async def run(freeze_interval: float = FREEZE_INTERVAL,
              full_interval: float = FULL_COLLECTION_INTERVAL) -> None:
    """Keep the collector's work proportional to new objects, until cancelled."""
    install()
    last_full = time.monotonic()
    try:
        while True:
            await asyncio.sleep(freeze_interval)
            if time.monotonic() - last_full >= full_interval:
                full_collection()
                last_full = time.monotonic()
            else:
                freeze_survivors()
    finally:
        gc.unfreeze()  # leave the collector as we found it (tests run many servers in one process)
