"""The collector tuning of long-running processes (tinykube/util/gctune.py), on the real gc."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from tinykube.util import gctune


class _Node:
    """A small object that can be part of a reference cycle and be watched by a weakref."""

    def __init__(self):
        self.other = None


@pytest.fixture(autouse=True)
def _restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_freeze_survivors_moves_live_objects_out_of_the_collectors_way():
    keep = [_Node() for _ in range(1000)]
    gctune.freeze_survivors()
    assert gc.get_freeze_count() >= len(keep)


def test_a_cycle_frozen_while_alive_is_collected_by_the_full_collection():
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    ref = weakref.ref(a)
    gctune.freeze_survivors()   # frozen while reachable
    del a, b                    # now garbage, but frozen: ordinary collections do not see it
    gc.collect()
    assert ref() is not None
    assert gctune.full_collection() >= 2
    assert ref() is None


def test_acyclic_data_is_freed_by_reference_counting_even_when_frozen():
    data = {"items": [{"metadata": {"name": f"p-{i}"}} for i in range(100)]}
    holder = _Node()
    holder.other = data
    ref = weakref.ref(holder)
    gctune.freeze_survivors()
    del holder
    assert ref() is None


async def test_run_installs_the_young_threshold_and_freezes_periodically():
    task = asyncio.create_task(gctune.run(freeze_interval=0.01, full_interval=3600))
    try:
        keep = [_Node() for _ in range(100)]
        for _ in range(200):
            await asyncio.sleep(0.01)
            if gc.get_freeze_count() >= len(keep):
                break
        assert gc.get_threshold()[0] == gctune.YOUNG_THRESHOLD
        assert gc.get_freeze_count() >= len(keep)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert gc.get_freeze_count() == 0  # left as found
