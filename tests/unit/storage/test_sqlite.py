"""The SQLite backend: the shared conformance suite, plus what only a file can show
(reopening, a bounded file size, kill -9 durability, group commit)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys

import pytest

from tests.unit.storage import conformance
from tests.unit.storage.conformance import *  # noqa: F401,F403 -- collects the suite
from tests.unit.storage.conformance import write_many
from tinykube.storage import sqlite as sqlite_backend
from tinykube.storage.interface import PUT, Compacted, Event, StorageError
from tinykube.storage.sqlite import SqliteStore, key_range

CRASH_WRITER = os.path.join(os.path.dirname(__file__), "crash_writer.py")


@pytest.fixture
async def store(tmp_path):
    store = SqliteStore(str(tmp_path / "tinykube.db"), watch_queue_size=256)
    await store.start()
    yield store
    await store.close()


@pytest.fixture
def watch_overflow_writes() -> int:
    return 1000  # well past the fixture's watch_queue_size of 256


async def reopened(path: str, **options) -> SqliteStore:
    store = SqliteStore(path, **options)
    await store.start()
    return store


def file_size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


# --- pure helpers -------------------------------------------------------------------------


@pytest.mark.parametrize("prefix, start_key, expected", [
    ("/r/pods/", "", ("/r/pods/", "/r/pods0")),
    ("/r/pods/", "/r/pods/b", ("/r/pods/b\0", "/r/pods0")),
    ("/r/pods/", "/a", ("/r/pods/", "/r/pods0")),  # start_key before the prefix
    ("", "", ("", None)),
    ("a\U0010ffff", "", ("a\U0010ffff", "b")),
    ("\U0010ffff", "", ("\U0010ffff", None)),
    ("\ud7ff", "", ("\ud7ff", "\ue000")),  # skips the surrogates UTF-8 cannot hold
])
def test_key_range(prefix, start_key, expected):
    assert key_range(prefix, start_key) == expected


def test_synchronous_must_be_a_known_mode(tmp_path):
    with pytest.raises(ValueError):
        SqliteStore(str(tmp_path / "x.db"), synchronous="OFF")
    assert SqliteStore(str(tmp_path / "x.db")).synchronous == "FULL"


# --- the file ----------------------------------------------------------------------------


async def test_database_is_wal_with_incremental_auto_vacuum(store):
    await store.create("/r/a", b"v")
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
        with pytest.raises(sqlite3.IntegrityError):  # no two rows from the same revision
            conn.execute("INSERT INTO kv (name, created, deleted, create_revision, prev_revision)"
                         " VALUES ('/r/a', 1, 0, 99, 0)")
    finally:
        conn.close()


async def test_reopening_keeps_data_revision_and_compaction(tmp_path):
    path = str(tmp_path / "tinykube.db")
    store = await reopened(path)
    first = await store.create("/r/a", b"1")
    await store.update("/r/a", b"2", expected_revision=first)
    await store.create("/r/b", b"1")
    await store.compact(store.current_revision() - 1)
    await store.delete("/r/b")  # the newest row is a tombstone...
    await store.compact(store.current_revision())  # ...which compaction removes
    revision, compacted = store.current_revision(), store.compacted_revision()
    await store.close()

    store = await reopened(path)
    try:
        assert (store.current_revision(), store.compacted_revision()) == (revision, compacted)
        assert (await store.get("/r/a")).value == b"2"
        assert await store.get("/r/b") is None
        with pytest.raises(Compacted):
            await store.get("/r/a", revision=first)
        assert await store.create("/r/c", b"1") == revision + 1  # revisions are never reused
    finally:
        await store.close()


async def test_a_second_store_cannot_open_the_same_file(store):
    other = SqliteStore(store.path)
    with pytest.raises(StorageError):
        await other.start()


async def test_compaction_and_vacuum_bound_the_file_size(tmp_path):
    path = str(tmp_path / "tinykube.db")
    store = await reopened(path, synchronous="NORMAL")  # size, not durability, is tested here
    keys = [f"/r/k{i}" for i in range(4)]

    async def churn(key: str):
        revision = await store.create(key, os.urandom(10240))
        for _ in range(499):
            revision = await store.update(key, os.urandom(10240), expected_revision=revision)
        return revision

    try:
        finals = await asyncio.gather(*(churn(k) for k in keys))
        grown = file_size(path)
        await store.compact(store.current_revision())
        shrunk = file_size(path)
        assert grown > 2000 * 10240, "2,000 values of 10 KiB were written"
        assert shrunk < grown * 0.05, f"{grown} -> {shrunk} bytes"
        latest = await store.list("/r/")
        assert [kv.mod_revision for kv in latest.items] == finals
    finally:
        await store.close()


async def test_compaction_in_chunks_interleaves_with_consistent_reads_and_writes(store, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "COMPACT_CHUNK", 7)  # many small transactions
    revisions = await write_many(store, [f"/r/k{i:03d}" for i in range(60)])
    for i, revision in enumerate(revisions):
        revision = await store.update(f"/r/k{i:03d}", b"u1", expected_revision=revision)
        if i % 3 == 0:
            await store.delete(f"/r/k{i:03d}", expected_revision=revision)
    target = store.current_revision()
    expected = (await store.list("/r/")).items
    above = await store.create("/other/first", b"w")  # the oldest readable revision
    compaction = asyncio.ensure_future(store.compact(target))
    while not compaction.done():  # reads above the target must never see a hole
        assert (await store.list("/r/", revision=above)).items == expected
        await store.create(f"/other/{store.current_revision()}", b"w")
    await compaction
    assert (await store.list("/r/")).items == expected
    conn = sqlite3.connect(store.path)
    try:
        rows = conn.execute("SELECT COUNT(*) FROM kv WHERE name LIKE '/r/%'").fetchone()[0]
    finally:
        conn.close()
    assert rows == len(expected) == 40  # only the latest row of each live key is left


async def test_replay_in_many_small_pages(store, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "REPLAY_PAGE", 7)
    await conformance.test_watch_from_an_older_revision_replays_history_then_goes_live(store)


def test_an_empty_watch_buffer_takes_a_batch_larger_than_its_capacity():
    watcher = sqlite_backend._Watcher("/r/", capacity=2)
    events = [Event(PUT, f"/r/k{i}", b"v", i, i) for i in range(1, 5)]
    assert watcher.offer(events[:3])  # one group commit: the watcher is not behind
    assert not watcher.offer(events[3:])  # still holding 3 > 2: it is behind
    assert watcher.closed_because and not watcher.events


# --- durability and group commit ---------------------------------------------------------------


async def test_acknowledged_writes_survive_kill_9(tmp_path):
    path = str(tmp_path / "crash.db")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, CRASH_WRITER, path, stdout=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(20):
            assert await proc.stdout.readline() == b"ready\n"
            lines = [await proc.stdout.readline() for _ in range(500)]
            os.kill(proc.pid, signal.SIGKILL)  # mid-stream: writes are in flight
            lines += (await proc.stdout.read()).splitlines(keepends=True)
            assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
    acknowledged = [line.split() for line in lines if line.endswith(b"\n")]
    store = await reopened(path)
    try:
        for revision, key in acknowledged:
            kv = await store.get(key.decode())
            assert kv is not None and kv.mod_revision == int(revision), key
        assert store.current_revision() >= max(int(r) for r, _ in acknowledged)
    finally:
        await store.close()


async def test_group_commit_puts_many_concurrent_writes_in_one_transaction(store):
    before = store.stats["commits"]
    revisions = await asyncio.gather(*(store.create(f"/r/k{i:03d}", b"v") for i in range(200)))
    commits = store.stats["commits"] - before
    print(f"group commit: 200 concurrent creates in {commits} transactions")
    assert sorted(revisions) == list(range(revisions[0], revisions[0] + 200))
    assert commits <= 20, f"200 concurrent creates took {commits} transactions"


async def test_a_failed_op_does_not_fail_the_others_in_its_batch(store):
    await store.create("/r/taken", b"v")
    results = await asyncio.gather(
        *(store.create("/r/taken" if i % 2 else f"/r/k{i}", b"v") for i in range(40)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, int) for r in results) == 20
    assert len((await store.list("/r/")).items) == 21


async def test_concurrent_compactions_never_lower_the_barrier(store):
    await write_many(store, [f"/r/k{i:03d}" for i in range(50)])
    now = store.current_revision()
    await asyncio.gather(store.compact(now), store.compact(now - 20), store.compact(now - 40))
    assert store.compacted_revision() == now
    with pytest.raises(Compacted):
        await store.list("/r/", revision=now - 10)
    conn = sqlite3.connect(store.path)  # what a reopened store would see
    try:
        assert conn.execute("SELECT value FROM meta WHERE name = 'compact_rev'").fetchone() == (now,)
    finally:
        conn.close()
