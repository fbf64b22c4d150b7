"""The watch cache over the real SQLite store: state, history, resume, selectors, 410."""

import asyncio

import pytest

from tinykube.api import errors
from tinykube.apiserver.watchcache import ADDED, DELETED, MODIFIED, WatchCache
from tinykube.storage.sqlite import SqliteStore
from tinykube.util import jsonutil

PREFIX = "/registry/core/configmaps/"


def cm(name: str, color: str = "red") -> bytes:
    return jsonutil.dumps({"metadata": {"name": name, "namespace": "ns", "labels": {"color": color}}})


@pytest.fixture
async def cache(tmp_path):
    store = SqliteStore(str(tmp_path / "db.sqlite"))
    await store.start()
    wc = WatchCache(store, history_seconds=300)
    task = asyncio.create_task(wc.run())
    await wc.ready.wait()
    yield wc
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await store.close()


async def next_event(watcher):
    return await asyncio.wait_for(watcher.next(), 5)


async def test_state_follows_the_store_with_resource_versions(cache):
    rev = await cache.store.create(PREFIX + "ns/a", cm("a"))
    await cache.wait_fresh()
    entry = cache.get(PREFIX + "ns/a")
    assert entry.rev == rev and entry.obj["metadata"]["resourceVersion"] == str(rev)
    assert b'"resourceVersion"' in entry.raw
    await cache.store.delete(PREFIX + "ns/a")
    await cache.wait_fresh()
    assert cache.get(PREFIX + "ns/a") is None


async def test_watch_from_now_then_resume_from_revision(cache):
    await cache.store.create(PREFIX + "ns/a", cm("a"))
    await cache.wait_fresh()
    everything = lambda obj: True  # noqa: E731
    initial = cache.start_watch(PREFIX, PREFIX, everything, None)
    assert (await next_event(initial))[0] == ADDED
    start = cache.revision
    r2 = await cache.store.update(PREFIX + "ns/a", cm("a", "blue"), expected_revision=start)
    await cache.store.delete(PREFIX + "ns/a")
    kinds = [(await next_event(initial))[0] for _ in range(2)]
    assert kinds == [MODIFIED, DELETED]
    resumed = cache.start_watch(PREFIX, PREFIX, everything, start)
    first = await next_event(resumed)
    assert first[0] == MODIFIED and first[1].rev == r2
    assert (await next_event(resumed))[0] == DELETED


async def test_object_leaving_a_selector_is_deleted_for_that_watch(cache):
    rev = await cache.store.create(PREFIX + "ns/a", cm("a", "red"))
    await cache.wait_fresh()
    reds = cache.start_watch(PREFIX, PREFIX, lambda o: o["metadata"]["labels"]["color"] == "red", rev)
    r2 = await cache.store.update(PREFIX + "ns/a", cm("a", "blue"), expected_revision=rev)
    kind, entry = await next_event(reds)
    assert kind == DELETED and entry.rev == r2
    assert entry.obj["metadata"]["labels"]["color"] == "red"  # the last state that matched
    await cache.store.update(PREFIX + "ns/a", cm("a", "red"), expected_revision=r2)
    assert (await next_event(reds))[0] == ADDED


async def test_too_old_revision_is_expired(cache):
    rev = await cache.store.create(PREFIX + "ns/a", cm("a"))
    for _ in range(3):
        rev = await cache.store.update(PREFIX + "ns/a", cm("a"), expected_revision=rev)
    await cache.wait_fresh()
    cache.forget_before(rev - 1)
    with pytest.raises(errors.Expired, match=r"too old resource version: 1 \("):
        cache.start_watch(PREFIX, PREFIX, lambda o: True, 1)


async def test_slow_watcher_is_closed_not_blocking(cache, monkeypatch):
    import tinykube.apiserver.watchcache as wc

    monkeypatch.setattr(wc, "WATCHER_QUEUE", 3)
    slow = cache.start_watch(PREFIX, PREFIX, lambda o: True, cache.revision)
    for i in range(6):
        await cache.store.create(PREFIX + f"ns/s{i}", cm(f"s{i}"))
    await cache.wait_fresh()
    assert slow.closed and slow.overflowed
    assert cache.stats["watchers_overflowed"] == 1
    drained = [await next_event(slow) for _ in range(3)]
    assert len(drained) == 3 and await next_event(slow) is None
