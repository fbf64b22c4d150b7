"""The storage conformance suite: what every Store backend must do (interface.py).

Backend-neutral: every test takes a `store` fixture (a started Store, empty, closed by
the fixture afterwards). A backend's test module provides that fixture and does

    from tests.unit.storage.conformance import *  # noqa: F401,F403

to collect all of these tests. It may override `watch_overflow_writes` (how many writes
certainly overflow one watcher's buffer in that backend).

Tests never sleep to wait for a state: they read watches with a deadline.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from tinykube.storage.interface import (
    DELETE,
    PUT,
    Compacted,
    Conflict,
    KeyExists,
    KeyNotFound,
    KeyValue,
    WatchClosed,
)

DEADLINE = 10.0  # seconds a watch may take to deliver what a test expects


@pytest.fixture
def watch_overflow_writes() -> int:
    """Writes that surely overflow a watcher that never reads (backends may override)."""
    return 20_000


# --- helpers -------------------------------------------------------------------------


async def take(watch, n: int, *, timeout: float = DEADLINE) -> list:
    """The next n events of a watch, failing the test if they do not come in time."""
    async def collect():
        return [await anext(watch) for _ in range(n)]
    return await asyncio.wait_for(collect(), timeout)


async def take_until(watch, revision: int, *, timeout: float = DEADLINE) -> list:
    """Events up to and including the one at `revision`."""
    async def collect():
        events = []
        while not events or events[-1].mod_revision < revision:
            events.append(await anext(watch))
        return events
    return await asyncio.wait_for(collect(), timeout)


async def stop(watch) -> None:
    close = getattr(watch, "aclose", None)
    if close is not None:
        await close()


async def first_event(make_watch):
    """Starting a watch and reading from it; a backend may raise at either step."""
    watch = make_watch()
    try:
        return await asyncio.wait_for(anext(watch), DEADLINE)
    finally:
        await stop(watch)


async def write_many(store, keys: list[str], *, concurrency: int = 50) -> list[int]:
    """Create keys with up to `concurrency` writes in flight; their revisions, in order."""
    revisions = [0] * len(keys)
    async def worker(start: int):
        for i in range(start, len(keys), concurrency):
            revisions[i] = await store.create(keys[i], b"v")
    await asyncio.gather(*(worker(s) for s in range(min(concurrency, len(keys)))))
    return revisions


# --- create / get / update / delete ------------------------------------------------------


async def test_create_then_get(store):
    before = store.current_revision()
    rev = await store.create("/r/a", b"one")
    assert rev == before + 1 == store.current_revision()
    assert await store.get("/r/a") == KeyValue("/r/a", b"one", rev, rev)
    assert await store.get("/r/missing") is None


async def test_create_existing_key_raises_key_exists(store):
    await store.create("/r/a", b"one")
    with pytest.raises(KeyExists):
        await store.create("/r/a", b"two")
    assert (await store.get("/r/a")).value == b"one"


async def test_create_after_delete_starts_a_new_life(store):
    first = await store.create("/r/a", b"one")
    await store.delete("/r/a")
    again = await store.create("/r/a", b"two")
    kv = await store.get("/r/a")
    assert kv.create_revision == kv.mod_revision == again > first


async def test_update_compares_and_swaps_on_mod_revision(store):
    created = await store.create("/r/a", b"one")
    updated = await store.update("/r/a", b"two", expected_revision=created)
    assert updated == created + 1
    assert await store.get("/r/a") == KeyValue("/r/a", b"two", created, updated)
    with pytest.raises(Conflict) as caught:
        await store.update("/r/a", b"three", expected_revision=created)
    assert caught.value.current == KeyValue("/r/a", b"two", created, updated)
    assert store.current_revision() == updated


async def test_update_of_missing_or_deleted_key_raises_key_not_found(store):
    with pytest.raises(KeyNotFound):
        await store.update("/r/missing", b"x", expected_revision=1)
    rev = await store.create("/r/a", b"one")
    await store.delete("/r/a")
    with pytest.raises(KeyNotFound):
        await store.update("/r/a", b"x", expected_revision=rev)


async def test_delete(store):
    rev = await store.create("/r/a", b"one")
    deleted = await store.delete("/r/a", expected_revision=rev)
    assert deleted == rev + 1 == store.current_revision()
    assert await store.get("/r/a") is None
    with pytest.raises(KeyNotFound):
        await store.delete("/r/a")
    with pytest.raises(KeyNotFound):
        await store.delete("/r/never")


async def test_delete_compares_and_swaps_unless_expected_is_zero(store):
    created = await store.create("/r/a", b"one")
    updated = await store.update("/r/a", b"two", expected_revision=created)
    with pytest.raises(Conflict) as caught:
        await store.delete("/r/a", expected_revision=created)
    assert caught.value.current == KeyValue("/r/a", b"two", created, updated)
    assert (await store.get("/r/a")).value == b"two"
    assert await store.delete("/r/a") == updated + 1  # expected_revision=0: unconditional


async def test_every_write_advances_the_revision_by_exactly_one(store):
    seen = [store.current_revision()]
    seen.append(await store.create("/r/a", b"1"))
    seen.append(await store.create("/r/b", b"1"))
    with pytest.raises(KeyExists):  # failed writes consume no revision
        await store.create("/r/a", b"2")
    seen.append(await store.update("/r/a", b"2", expected_revision=seen[1]))
    with pytest.raises(Conflict):
        await store.update("/r/a", b"3", expected_revision=seen[1])
    seen.append(await store.delete("/r/b"))
    seen.append(await store.create("/r/c", b"1"))
    assert seen == list(range(seen[0], seen[0] + 6))
    assert store.current_revision() == seen[-1]


async def test_concurrent_writes_get_distinct_consecutive_revisions(store):
    before = store.current_revision()
    revisions = await write_many(store, [f"/r/k{i:03d}" for i in range(100)])
    assert sorted(revisions) == list(range(before + 1, before + 101))


async def test_get_at_an_older_revision(store):
    one = await store.create("/r/a", b"one")
    two = await store.update("/r/a", b"two", expected_revision=one)
    await store.delete("/r/a")
    assert await store.get("/r/a", revision=one) == KeyValue("/r/a", b"one", one, one)
    assert await store.get("/r/a", revision=two) == KeyValue("/r/a", b"two", one, two)
    assert await store.get("/r/a") is None


async def test_twenty_racing_updaters_from_one_revision_exactly_one_wins(store):
    rev = await store.create("/r/a", b"start")
    results = await asyncio.gather(
        *(store.update("/r/a", b"w%d" % i, expected_revision=rev) for i in range(20)),
        return_exceptions=True,
    )
    wins = [r for r in results if isinstance(r, int)]
    assert len(wins) == 1 and wins[0] == rev + 1
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, int))
    kv = await store.get("/r/a")
    assert kv.mod_revision == wins[0] and kv.value == b"w%d" % results.index(wins[0])


async def test_twenty_racing_creators_exactly_one_wins(store):
    results = await asyncio.gather(
        *(store.create("/r/a", b"c%d" % i) for i in range(20)), return_exceptions=True
    )
    assert sum(isinstance(r, int) for r in results) == 1
    assert sum(isinstance(r, KeyExists) for r in results) == 19


async def test_a_cancelled_caller_does_not_break_the_store(store):
    writes = [asyncio.ensure_future(store.create(f"/r/k{i}", b"v")) for i in range(10)]
    writes[3].cancel()
    await asyncio.gather(*writes, return_exceptions=True)
    rev = await store.create("/r/after", b"v")
    assert rev == store.current_revision()
    assert len((await store.list("/r/")).items) in (10, 11)  # the cancelled one may have landed


# --- list ----------------------------------------------------------------------------------


async def test_list_by_prefix_is_sorted_and_excludes_other_prefixes_and_deleted(store):
    names = [f"/r/pods/n{i:02d}" for i in range(20)]
    for name in random.Random(7).sample(names, len(names)):
        await store.create(name, name.encode())
    await store.create("/r/podsx", b"a sibling that shares the prefix string, not the dir")
    await store.create("/r/pod", b"shorter")
    await store.create("/r/services/s", b"other")
    await store.delete("/r/pods/n05")
    result = await store.list("/r/pods/")
    assert [kv.key for kv in result.items] == [n for n in names if n != "/r/pods/n05"]
    assert all(kv.value == kv.key.encode() for kv in result.items)
    assert result.revision == store.current_revision() and not result.more
    everything = await store.list("")
    assert [kv.key for kv in everything.items] == sorted(kv.key for kv in everything.items)
    assert len(everything.items) == 22


async def test_list_with_limit_and_start_key_pages_through_a_snapshot(store):
    names = [f"/r/p{i:02d}" for i in range(25)]
    for name in names:
        await store.create(name, b"v")
    first = await store.list("/r/", limit=10)
    assert [kv.key for kv in first.items] == names[:10]
    assert first.more and first.count >= 15
    # writes between pages must not show up in later pages of the same snapshot
    await store.delete("/r/p15")
    await store.create("/r/p12a", b"new")
    await store.update("/r/p20", b"changed", expected_revision=(await store.get("/r/p20")).mod_revision)
    pages, result = [first], first
    while result.more:
        result = await store.list("/r/", revision=first.revision, start_key=result.items[-1].key, limit=10)
        assert result.revision == first.revision
        pages.append(result)
    assert [kv.key for page in pages for kv in page.items] == names
    assert all(kv.value == b"v" for page in pages for kv in page.items)
    assert [len(p.items) for p in pages] == [10, 10, 5] and not pages[-1].more


async def test_list_with_limit_exactly_matching_has_no_more(store):
    for i in range(5):
        await store.create(f"/r/p{i}", b"v")
    result = await store.list("/r/", limit=5)
    assert len(result.items) == 5 and not result.more


async def test_list_at_an_older_revision_returns_that_snapshot(store):
    a = await store.create("/r/a", b"a1")
    b = await store.create("/r/b", b"b1")
    snapshot = store.current_revision()
    await store.update("/r/a", b"a2", expected_revision=a)
    await store.delete("/r/b", expected_revision=b)
    await store.create("/r/c", b"c1")
    old = await store.list("/r/", revision=snapshot)
    assert old.items == [KeyValue("/r/a", b"a1", a, a), KeyValue("/r/b", b"b1", b, b)]
    assert old.revision == snapshot
    now = await store.list("/r/")
    assert [(kv.key, kv.value) for kv in now.items] == [("/r/a", b"a2"), ("/r/c", b"c1")]


# --- watch -----------------------------------------------------------------------------------


async def test_watch_from_current_delivers_new_events_in_order(store):
    await store.create("/r/before", b"x")
    watch = store.watch("/r/", start_revision=store.current_revision())
    created = await store.create("/r/a", b"1")
    updated = await store.update("/r/a", b"2", expected_revision=created)
    deleted = await store.delete("/r/a")
    events = await take(watch, 3)
    await stop(watch)
    assert [(e.type, e.mod_revision) for e in events] == [(PUT, created), (PUT, updated), (DELETE, deleted)]
    assert events[0].is_create and events[0].value == b"1" and events[0].prev_value is None
    assert not events[1].is_create and events[1].value == b"2" and events[1].prev_value == b"1"
    assert all(e.create_revision == created and e.key == "/r/a" for e in events)


async def test_delete_event_carries_the_last_value(store):
    rev = await store.create("/r/a", b"first")
    rev = await store.update("/r/a", b"last", expected_revision=rev)
    watch = store.watch("/r/", start_revision=rev)
    deleted = await store.delete("/r/a")
    [event] = await take(watch, 1)
    await stop(watch)
    assert (event.type, event.mod_revision, event.value) == (DELETE, deleted, b"last")
    assert event.prev_value == b"last"


async def test_watch_filters_by_prefix(store):
    watch = store.watch("/r/pods/", start_revision=store.current_revision())
    await store.create("/r/podsx", b"no")
    await store.create("/r/services/s", b"no")
    wanted = await store.create("/r/pods/a", b"yes")
    await store.create("/r/pod", b"no")
    last = await store.create("/r/pods/b", b"yes")
    events = await take(watch, 2)
    await stop(watch)
    assert [(e.key, e.mod_revision) for e in events] == [("/r/pods/a", wanted), ("/r/pods/b", last)]


async def test_watch_from_an_older_revision_replays_history_then_goes_live(store):
    start = store.current_revision()
    history = await write_many(store, [f"/r/h{i:03d}" for i in range(300)])
    for i in range(0, 300, 3):  # history holds updates and deletes too
        await store.delete(f"/r/h{i:03d}")
    await store.create("/other/x", b"outside the prefix")
    watch = store.watch("/r/", start_revision=start)
    # these land while the watch replays: across the history/live boundary
    live = asyncio.ensure_future(write_many(store, [f"/r/l{i:03d}" for i in range(200)], concurrency=20))
    first_events = await take(watch, 10)
    last = max(await live)
    events = first_events + await take_until(watch, last)
    await stop(watch)
    revisions = [e.mod_revision for e in events]
    assert revisions == sorted(set(revisions)), "out of order or duplicated"
    outside = (await store.get("/other/x")).mod_revision
    assert revisions == [r for r in range(start + 1, last + 1) if r != outside], "gap"
    assert min(history) == start + 1
    assert sum(e.type == DELETE for e in events) == 100


async def test_watch_replay_sees_writes_made_between_watch_and_first_read(store):
    start = await store.create("/r/a", b"1")
    watch = store.watch("/r/", start_revision=start - 1)
    second = await store.create("/r/b", b"2")  # before the watcher reads anything
    events = await take(watch, 2)
    await stop(watch)
    assert [e.mod_revision for e in events] == [start, second]


async def test_watch_from_a_future_revision_skips_until_then(store):
    now = store.current_revision()
    watch = store.watch("/r/", start_revision=now + 2)
    for i in range(4):
        await store.create(f"/r/k{i}", b"v")
    events = await take(watch, 2)
    await stop(watch)
    assert [e.mod_revision for e in events] == [now + 3, now + 4]


async def test_many_watchers_see_the_same_sequence(store):
    start = store.current_revision()
    watches = [store.watch("/r/", start_revision=start) for _ in range(5)]
    revisions = await write_many(store, [f"/r/k{i:03d}" for i in range(100)])
    seen = [await take_until(w, max(revisions)) for w in watches]
    for w in watches:
        await stop(w)
    expected = list(range(start + 1, start + 101))
    assert all([e.mod_revision for e in events] == expected for events in seen)


async def test_a_slow_watcher_is_closed_and_a_fast_one_keeps_up(store, watch_overflow_writes):
    start = store.current_revision()
    slow = store.watch("/r/", start_revision=start)
    fast = store.watch("/r/", start_revision=start)
    fast_events = asyncio.ensure_future(take_until(fast, start + watch_overflow_writes, timeout=60))
    await write_many(store, [f"/r/k{i:06d}" for i in range(watch_overflow_writes)])
    received = await fast_events
    await stop(fast)
    assert [e.mod_revision for e in received] == list(range(start + 1, start + watch_overflow_writes + 1))
    # the slow one may hand out what it buffered before it was closed, never everything
    with pytest.raises(WatchClosed):
        await asyncio.wait_for(take(slow, watch_overflow_writes), DEADLINE)
    await stop(slow)
    assert (await store.create("/r/after", b"v")) == store.current_revision()  # writers unharmed


async def test_close_ends_watches_with_watch_closed(store):
    watch = store.watch("/r/", start_revision=store.current_revision())
    pending = asyncio.ensure_future(anext(watch))
    await asyncio.sleep(0)  # let the watcher start waiting (not waiting for a state)
    await store.close()
    with pytest.raises(WatchClosed):
        await asyncio.wait_for(pending, DEADLINE)


# --- compaction ------------------------------------------------------------------------------


async def _history_for_compaction(store) -> dict:
    a = await store.create("/r/a", b"a1")
    a2 = await store.update("/r/a", b"a2", expected_revision=a)
    b = await store.create("/r/b", b"b1")
    gone = await store.create("/r/gone", b"g1")
    await store.delete("/r/gone", expected_revision=gone)
    c = await store.create("/r/c", b"c1")
    return {"a": a, "a2": a2, "b": b, "c": c}


async def test_compaction_forgets_old_revisions_and_keeps_live_keys(store):
    revs = await _history_for_compaction(store)
    target = store.current_revision()
    after = await store.update("/r/c", b"c2", expected_revision=revs["c"])
    await store.compact(target)
    assert store.compacted_revision() == target
    for old in (revs["a"], revs["b"], target):
        with pytest.raises(Compacted):
            await store.get("/r/a", revision=old)
        with pytest.raises(Compacted):
            await store.list("/r/", revision=old)
    with pytest.raises(Compacted):
        await first_event(lambda: store.watch("/r/", start_revision=revs["a"]))
    latest = await store.list("/r/")
    assert [(kv.key, kv.value, kv.mod_revision) for kv in latest.items] == [
        ("/r/a", b"a2", revs["a2"]), ("/r/b", b"b1", revs["b"]), ("/r/c", b"c2", after)]
    assert (await store.list("/r/", revision=after)).items == latest.items
    assert (await store.get("/r/b")).create_revision == revs["b"]
    assert await store.get("/r/gone") is None


async def test_watch_from_the_compacted_revision_still_works(store):
    await _history_for_compaction(store)
    target = store.current_revision()
    await store.compact(target)
    watch = store.watch("/r/", start_revision=target)
    rev = await store.create("/r/new", b"n")
    [event] = await take(watch, 1)
    await stop(watch)
    assert event.mod_revision == rev


async def test_compaction_keeps_events_after_the_compacted_revision(store):
    revs = await _history_for_compaction(store)
    target = store.current_revision()
    updated = await store.update("/r/a", b"a3", expected_revision=revs["a2"])
    deleted = await store.delete("/r/b")
    await store.compact(target)
    events = await take(store.watch("/r/", start_revision=target), 2)
    assert [(e.type, e.mod_revision, e.value, e.prev_value) for e in events] == [
        (PUT, updated, b"a3", b"a2"), (DELETE, deleted, b"b1", b"b1")]


async def test_writes_keep_working_and_revisions_keep_counting_after_compaction(store):
    await _history_for_compaction(store)
    await store.delete("/r/c")  # the newest row is a tombstone that compaction removes
    target = store.current_revision()
    await store.compact(target)
    assert await store.create("/r/c", b"again") == target + 1
    await store.compact(target)  # compacting again at or below is a no-op
    assert store.compacted_revision() == target
