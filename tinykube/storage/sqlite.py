"""The embedded SQLite backend: etcd's model over one append-only table (as k3s's kine).

Table `kv` is a log. Every write appends one row and the row id *is* the revision:
  id (INTEGER PRIMARY KEY AUTOINCREMENT, so ids are never reused, even after compaction
  deletes the newest row), name, created/deleted flags, create_revision, prev_revision
  (the id of the row this one supersedes), value and old_value (the value it replaced,
  so a PUT event can carry prev_value after compaction removed the older row).
  A tombstone keeps the last value in `value` (DELETE events carry it).
  UNIQUE(name, prev_revision) makes two writes from the same revision impossible even if
  the Python-side compare-and-swap had a bug. Table `meta` holds two numbers:
  compact_rev (the read barrier) and compact_done (how far compaction has deleted).

Writes. One writer connection lives in one dedicated thread. Callers put ops on a queue
and await a future. The thread takes what is queued (up to MAX_BATCH ops: group
commit), checks each op's compare-and-swap in order inside one BEGIN IMMEDIATE
transaction (a failed check fails that op only), commits once -- one fsync for the
batch with synchronous=FULL -- and hands the results to the event loop in one
callback, which advances current_revision(), publishes the events to watchers in
revision order and only then resolves the callers' futures. So an acknowledged write is
durable, and a caller that got revision n can read and watch it at once.

Reads use their own connections (WAL lets readers run beside the writer): lists and
watch replays in a small thread pool, point gets inline on the event loop thread (a
~20 us indexed lookup is cheaper than a ~90 us thread hop). Each read is one read
transaction that also reads compact_rev, so a read never observes a half-compacted
state at a revision it may not see. A list is evaluated as of a single revision R
(latest row per key with id <= R), which is what makes continue tokens consistent.

Watch. A watcher is registered for live events first (with the revision it starts at),
then replays older rows from the table, then drains its live buffer, skipping anything
already yielded: no gap, no duplicate. Each watcher has a bounded buffer; one that fills
is closed with WatchClosed (it never blocks writers or other watchers).

Compaction runs in the writer thread, one short transaction per chunk, so writes
interleave with it: first the barrier (compact_rev) is committed, then rows superseded
at or below the revision (found, as kine does, through prev_revision of newer rows)
and tombstones are deleted, chunk by chunk, then freed pages are returned to the file
system (auto_vacuum=INCREMENTAL) and the WAL is checkpointed and truncated, so neither
the database nor the WAL grows without bound.

One process per database file: a lock file next to it enforces that, because the
in-memory revision counter assumes it is the only writer.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import fcntl
import logging
import os
import queue
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator

from tinykube.storage.interface import (
    DELETE,
    PUT,
    Compacted,
    Conflict,
    Event,
    KeyExists,
    KeyNotFound,
    KeyValue,
    ListResult,
    StorageError,
    Store,
    WatchClosed,
)

log = logging.getLogger(__name__)

MAX_BATCH = 512  # ops per group commit; bounds how long one transaction holds the writer
REPLAY_PAGE = 1000  # rows per read when a watch replays history
COMPACT_CHUNK = 5000  # revisions per compaction transaction, so writes interleave
VACUUM_CHUNK = 4096  # pages returned to the file system per step
READ_THREADS = 4
WATCH_QUEUE = 10_000  # events a watcher may fall behind before it is closed
SYNCHRONOUS_MODES = ("FULL", "EXTRA", "NORMAL")

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB,
    old_value BLOB,
    UNIQUE (name, prev_revision)
);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

LATEST = "SELECT id, deleted, create_revision, value FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1"
INSERT = (
    "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value, old_value)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
GET_AT = (
    "SELECT id, deleted, create_revision, value FROM kv"
    " WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1"
)
HISTORY = (
    "SELECT id, name, deleted, create_revision, value, old_value FROM kv"
    " WHERE id > ? AND id <= ? AND name >= ? {upper} ORDER BY id LIMIT ?"
)
# Walks the (name, id) index in key order and keeps each key's newest row at or below
# the revision; ORDER BY needs no sort and LIMIT stops the walk early.
LIST_AT = (
    "SELECT k.name, k.value, k.create_revision, k.id FROM kv AS k"
    " WHERE k.name >= :lo {upper} AND k.id <= :rev AND k.deleted = 0"
    " AND k.id = (SELECT MAX(n.id) FROM kv AS n WHERE n.name = k.name AND n.id <= :rev)"
    " ORDER BY k.name LIMIT :limit"
)
# Approximate (allowed for remainingItemCount): also counts keys deleted but not yet
# compacted, in exchange for an index-only scan several times faster than an exact count.
COUNT_AT = "SELECT COUNT(DISTINCT name) FROM kv WHERE name >= :lo {upper} AND id <= :rev"
# Kine's trick: a row is superseded exactly when a newer row names it as prev_revision,
# so a compaction only has to look at the rows written since the previous one.
DELETE_SUPERSEDED = (
    "DELETE FROM kv WHERE id IN"
    " (SELECT prev_revision FROM kv WHERE id > ? AND id <= ? AND prev_revision != 0)"
)
DELETE_TOMBSTONES = "DELETE FROM kv WHERE id > ? AND id <= ? AND deleted = 1"
META_GET = "SELECT value FROM meta WHERE name = ?"
META_SET = "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)"


# --- records passed between the event loop and the writer thread -------------------------


@dataclass(eq=False)
class _Write:
    verb: str  # "create" | "update" | "delete"
    key: str
    value: bytes | None
    expected: int
    future: asyncio.Future


@dataclass(eq=False)
class _Task:
    """A multi-transaction job (compaction): the writer runs one step per turn."""

    steps: Iterator[None]
    future: asyncio.Future


_STOP = object()


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


# --- pure helpers ---------------------------------------------------------------------


def key_range(prefix: str, start_key: str = "") -> tuple[str, str | None]:
    """[lo, hi) bounds of the keys under prefix that sort after start_key.

    SQLite compares TEXT as UTF-8 bytes, which orders like code points, so the keys
    starting with prefix are exactly those below prefix with its last char incremented.
    hi is None when no such bound exists (empty prefix, or only U+10FFFF chars).
    """
    lo = max(prefix, start_key + "\0") if start_key else prefix
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        code = 0xE000 if code == 0xD800 else code  # surrogates cannot be encoded
        if code <= 0x10FFFF:
            return lo, prefix[:i] + chr(code)
    return lo, None


def _upper(hi: str | None, param: str) -> str:
    return "" if hi is None else f"AND name < {param}"


def row_event(row: tuple) -> Event:
    rev, key, deleted, create_rev, value, old = row
    if deleted:  # a tombstone keeps the last value: DELETE events carry it twice
        return Event(DELETE, key, value, create_rev, rev, value)
    return Event(PUT, key, value, create_rev, rev, old)


def read_revision(requested: int, current: int, compacted: int) -> int:
    """The revision a read is evaluated at. 0 means latest, which is always readable."""
    if requested == 0:
        return max(current, compacted)
    if requested <= compacted:
        raise Compacted(requested, compacted)
    return min(requested, current)  # the future is not stable yet: read the present


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, str):  # SQLite would keep it as TEXT and hand back a str
        raise TypeError("values are bytes, not str")
    return bytes(value)


def _settle(future: asyncio.Future, result: Any) -> None:
    """Resolve future on the loop thread; a caller that stopped waiting is skipped."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves; timeout is the busy timeout
    return sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)


def _meta(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute(META_GET, (name,)).fetchone()
    return row[0] if row else 0


# --- the writer thread --------------------------------------------------------------


class _Writer:
    """Owns the one writer connection; everything here runs in the writer thread."""

    def __init__(self, path: str, synchronous: str, post: Callable[..., None]):
        self.path = path
        self.synchronous = synchronous
        self.post = post  # schedules a callback on the event loop thread
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.conn: sqlite3.Connection | None = None
        self.rev = 0  # last committed revision, as seen by this thread

    def run(self, ready: asyncio.Future, on_batch: Callable, stopped: asyncio.Future) -> None:
        try:
            self._open()
        except BaseException as exc:  # report any failure to start(), which awaits ready
            if self.conn is not None:
                self.conn.close()
            self.post(_settle, ready, StorageError(f"cannot open {self.path}: {exc}"))
            return
        self.post(_settle, ready, (self.rev, _meta(self.conn, "compact_rev")))
        try:
            self._serve(on_batch)
        finally:
            self.conn.close()
            self._fail_leftovers()
            self.post(_settle, stopped, None)

    def _open(self) -> None:
        conn = self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only takes effect before the schema
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise StorageError("SQLite refused WAL mode")
        conn.execute(f"PRAGMA synchronous = {self.synchronous}")
        conn.execute("PRAGMA journal_size_limit = 67108864")  # a reset WAL shrinks to 64 MiB
        conn.executescript(SCHEMA)
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'kv'").fetchone()
        self.rev = row[0] if row else 0  # not MAX(id): compaction may delete the newest row

    def _serve(self, on_batch: Callable) -> None:
        carry = None
        while True:
            job = carry if carry is not None else self.queue.get()
            carry = None
            if job is _STOP:
                return
            if isinstance(job, _Write):
                batch, carry = self._drain(job)
                self.post(on_batch, batch, self._commit(batch))
            else:
                self._step(job)

    def _drain(self, first: _Write) -> tuple[list[_Write], Any]:
        """Everything already queued joins this transaction (group commit)."""
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(job, _Write):
                return batch, job  # a task or stop: run it after this batch
            batch.append(job)
        return batch, None

    def _commit(self, batch: list[_Write]) -> list[Event | Exception]:
        results: list[Event | Exception] = []
        rev = self.rev
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            for op in batch:
                results.append(self._attempt(op, rev + 1))
                rev += isinstance(results[-1], Event)
            self.conn.execute("COMMIT")
        except Exception as exc:  # the transaction is gone: every op in it failed
            self._rollback()
            log.error("sqlite: write batch of %d failed: %s", len(batch), exc)
            return [StorageError(f"write failed: {exc}") for _ in batch]
        self.rev = rev
        return results

    def _attempt(self, op: _Write, rev: int) -> Event | StorageError:
        """One op inside the batch; its failure must not fail the others."""
        try:
            return self._apply(op, rev)
        except StorageError as exc:
            return exc
        except sqlite3.IntegrityError as exc:  # UNIQUE(name, prev_revision): lost a race
            return Conflict(f"{op.key}: {exc}")

    def _apply(self, op: _Write, rev: int) -> Event:
        row = self.conn.execute(LATEST, (op.key,)).fetchone()
        live = row is not None and not row[1]
        if op.verb == "create":
            if live:
                raise KeyExists(op.key)
            self._insert(rev, op.key, 1, 0, rev, row[0] if row else 0, op.value, None)
            return Event(PUT, op.key, op.value, rev, rev)
        if not live:
            raise KeyNotFound(op.key)
        prev, _, create_rev, old = row
        if op.expected != prev and (op.verb == "update" or op.expected):
            current = KeyValue(op.key, old, create_rev, prev)
            raise Conflict(f"{op.key}: expected revision {op.expected}, is {prev}", current)
        if op.verb == "update":
            self._insert(rev, op.key, 0, 0, create_rev, prev, op.value, old)
            return Event(PUT, op.key, op.value, create_rev, rev, old)
        self._insert(rev, op.key, 0, 1, create_rev, prev, old, None)
        return Event(DELETE, op.key, old, create_rev, rev, old)

    def _insert(self, *row: Any) -> None:
        self.conn.execute(INSERT, row)

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def _step(self, task: _Task) -> None:
        """One transaction of a task; then back of the queue so waiting writes go first."""
        try:
            next(task.steps)
        except StopIteration:
            self.post(_settle, task.future, None)
        except Exception as exc:
            self._rollback()
            self.post(_settle, task.future, exc)
        else:
            self.queue.put(task)

    def _fail_leftovers(self) -> None:
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                return
            if job is not _STOP:
                self.post(_settle, job.future, StorageError("store closed"))

    # compaction, as a generator: each `yield` lets queued writes run

    def compaction(self, target: int, on_barrier: Callable[[int], None]) -> Iterator[None]:
        self._transaction(lambda: self.conn.execute(META_SET, ("compact_rev", target)))
        self.post(on_barrier, target)
        # compact_done < compact_rev after a crash mid-compaction: this picks it up
        done = _meta(self.conn, "compact_done")
        while done < target:
            upto = min(done + COMPACT_CHUNK, target)
            self._transaction(self._delete_chunk, done, upto)
            done = upto
            yield
        while self._vacuum_step():
            yield
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database and truncate it to zero bytes.

        TRUNCATE waits for readers of older snapshots; wait briefly, not the full busy
        timeout, since writes queue up meanwhile. If a reader is still busy the WAL stays
        as it is and the next compaction tries again.
        """
        self.conn.execute("PRAGMA busy_timeout = 500")
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        finally:
            self.conn.execute("PRAGMA busy_timeout = 10000")

    def _transaction(self, work: Callable, *args: Any) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            work(*args)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def _delete_chunk(self, after: int, upto: int) -> None:
        # superseded rows first: a tombstone must never go before the rows it hides
        self.conn.execute(DELETE_SUPERSEDED, (after, upto))
        self.conn.execute(DELETE_TOMBSTONES, (after, upto))
        self.conn.execute(META_SET, ("compact_done", upto))

    def _vacuum_step(self) -> bool:
        before = self.conn.execute("PRAGMA freelist_count").fetchone()[0]
        if before == 0:
            return False
        self.conn.execute(f"PRAGMA incremental_vacuum({VACUUM_CHUNK})").fetchall()
        # stops, too, on a file made without auto_vacuum, where nothing is released
        return self.conn.execute("PRAGMA freelist_count").fetchone()[0] < before


# --- the read side --------------------------------------------------------------------


class _Readers:
    """Read connections; one read = one read transaction (one consistent snapshot).

    Lists and replays run in a few threads, each with its own connection. A point get
    costs ~20 us of SQLite but ~90 us to hop to a thread and back, so gets run inline
    on the event loop thread, on a connection of their own.
    """

    def __init__(self, path: str, threads: int):
        self.path = path
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="sqlite-read")
        self.local = threading.local()
        self.conns: list[sqlite3.Connection] = []
        self.lock = threading.Lock()
        self.inline_conn = self._open()

    async def run(self, query: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self._call, query, args)

    def inline(self, query: Callable, *args: Any) -> Any:
        return self._snapshot(self.inline_conn, query, args)

    def _call(self, query: Callable, args: tuple) -> Any:
        conn = getattr(self.local, "conn", None) or self._thread_conn()
        return self._snapshot(conn, query, args)

    @staticmethod
    def _snapshot(conn: sqlite3.Connection, query: Callable, args: tuple) -> Any:
        conn.execute("BEGIN")  # the barrier check and the data come from one snapshot
        try:
            return query(conn, *args)
        finally:
            conn.execute("COMMIT")

    def _thread_conn(self) -> sqlite3.Connection:
        conn = self.local.conn = self._open()
        return conn

    def _open(self) -> sqlite3.Connection:
        conn = _connect(self.path)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA cache_size = -16384")  # 16 MiB: a 10k-object list fits
        with self.lock:
            self.conns.append(conn)
        return conn

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        for conn in self.conns:
            conn.close()


def _query_get(conn: sqlite3.Connection, key: str, requested: int, current: int) -> KeyValue | None:
    rev = read_revision(requested, current, _meta(conn, "compact_rev"))
    row = conn.execute(GET_AT, (key, rev)).fetchone()
    if row is None or row[1]:
        return None
    return KeyValue(key, row[3], row[2], row[0])


def _query_list(conn, prefix: str, start_key: str, limit: int, requested: int, current: int) -> ListResult:
    rev = read_revision(requested, current, _meta(conn, "compact_rev"))
    lo, hi = key_range(prefix, start_key)
    params = {"lo": lo, "hi": hi, "rev": rev, "limit": limit + 1 if limit > 0 else -1}
    rows = conn.execute(LIST_AT.format(upper=_upper(hi, ":hi")), params).fetchall()
    more = limit > 0 and len(rows) > limit
    items = [KeyValue(r[0], r[1], r[2], r[3]) for r in (rows[:limit] if more else rows)]
    count = _count_after(conn, items[-1].key, hi, rev) if more else 0
    return ListResult(items, rev, more, count)


def _count_after(conn: sqlite3.Connection, key: str, hi: str | None, rev: int) -> int:
    params = {"lo": key + "\0", "hi": hi, "rev": rev}
    return conn.execute(COUNT_AT.format(upper=_upper(hi, ":hi")), params).fetchone()[0]


def _query_history(conn, prefix: str, after: int, upto: int, page: int) -> list[Event]:
    compacted = _meta(conn, "compact_rev")
    if after < compacted:  # compaction overtook a replay in progress
        raise Compacted(after, compacted)
    lo, hi = key_range(prefix)
    sql = HISTORY.format(upper=_upper(hi, "?"))
    params = (after, upto, lo, hi, page) if hi is not None else (after, upto, lo, page)
    return [row_event(r) for r in conn.execute(sql, params)]


# --- watchers ---------------------------------------------------------------------------


class _Watcher:
    """A bounded buffer of live events for one watch; lives on the event loop thread."""

    def __init__(self, prefix: str, capacity: int):
        self.prefix = prefix
        self.capacity = capacity
        self.events: collections.deque[Event] = collections.deque()
        self.closed_because: str | None = None
        self._wakeup: asyncio.Future | None = None

    def offer(self, events: list[Event]) -> bool:
        """Buffer events; False (and closed) when they do not fit.

        An empty buffer takes any batch, so a watcher that keeps up is never closed
        because one group commit was larger than its capacity.
        """
        if self.events and len(self.events) + len(events) > self.capacity:
            self.close(f"watcher fell more than {self.capacity} events behind")
            return False
        self.events.extend(events)
        self._wake()
        return True

    def close(self, reason: str) -> None:
        self.closed_because = reason
        self.events.clear()  # the consumer must re-list anyway; free the memory now
        self._wake()

    async def next(self) -> Event:
        while not self.events:
            if self.closed_because is not None:
                raise WatchClosed(self.closed_because)
            self._wakeup = asyncio.get_running_loop().create_future()
            await self._wakeup
        return self.events.popleft()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)


# --- the store ---------------------------------------------------------------------------


class SqliteStore(Store):
    """Store on one SQLite file. See the module docstring for the design.

    synchronous="FULL" (default) makes every acknowledged write survive power loss;
    "NORMAL" survives a crash of the process but may lose the last commits on power
    loss -- an explicit choice for speed. watch_queue_size bounds each watcher's buffer.
    """

    def __init__(self, path: str, *, synchronous: str = "FULL", watch_queue_size: int = WATCH_QUEUE):
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
        self.path = path
        self.synchronous = synchronous.upper()
        self.watch_queue_size = watch_queue_size
        self.stats: collections.Counter = collections.Counter()  # commits, writes, ...
        self._state = _State.NEW
        self._revision = 0
        self._compacted = 0
        self._watchers: set[_Watcher] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: _Writer | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future | None = None
        self._readers: _Readers | None = None
        self._lock_fd: int | None = None
        self._compacting = asyncio.Lock()  # one compaction at a time: the barrier only rises

    # lifecycle

    async def start(self) -> None:
        if self._state is not _State.NEW:
            raise StorageError(f"store is {self._state.value}, cannot start")
        self._loop = asyncio.get_running_loop()
        self._lock_file()
        self._writer = _Writer(self.path, self.synchronous, self._post)
        ready, self._stopped = self._loop.create_future(), self._loop.create_future()
        self._thread = threading.Thread(
            target=self._writer.run, args=(ready, self._on_batch, self._stopped),
            name="sqlite-writer", daemon=True,
        )
        self._thread.start()
        try:
            self._revision, self._compacted = await ready
        except BaseException:
            self._unlock_file()
            raise
        self._readers = _Readers(self.path, READ_THREADS)
        self._state = _State.OPEN

    async def close(self) -> None:
        """Finish queued writes, end watches with WatchClosed, release the file."""
        if self._state is not _State.OPEN:
            return
        self._state = _State.CLOSING  # from here on new writes are refused
        self._writer.queue.put(_STOP)
        await self._stopped  # callbacks run in order: every batch has been delivered
        await asyncio.to_thread(self._thread.join)
        for watcher in self._watchers:
            watcher.close("store closed")
        self._watchers.clear()
        await asyncio.to_thread(self._readers.close)
        self._unlock_file()
        self._state = _State.CLOSED

    def _lock_file(self) -> None:
        fd = os.open(self.path + "-lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(f"{self.path} is in use by another process") from None
        self._lock_fd = fd

    def _unlock_file(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _post(self, callback: Callable, *args: Any) -> None:
        """From the writer thread: run callback on the event loop thread."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is gone (interpreter shutdown); nobody is waiting
            pass

    def _check_open(self) -> None:
        if self._state is not _State.OPEN:
            raise StorageError(f"store is {self._state.value}")

    # revisions

    def current_revision(self) -> int:
        return self._revision

    def compacted_revision(self) -> int:
        return self._compacted

    # reads

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        self._check_open()
        return self._readers.inline(_query_get, key, revision, self._revision)

    async def list(self, prefix: str, *, revision: int = 0, start_key: str = "", limit: int = 0) -> ListResult:
        self._check_open()
        read_revision(revision, self._revision, self._compacted)  # fail fast, no thread hop
        return await self._readers.run(_query_list, prefix, start_key, limit, revision, self._revision)

    # writes

    async def create(self, key: str, value: bytes) -> int:
        return await self._write("create", key, _as_bytes(value), 0)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        return await self._write("update", key, _as_bytes(value), expected_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> int:
        return await self._write("delete", key, None, expected_revision)

    async def _write(self, verb: str, key: str, value: bytes | None, expected: int) -> int:
        # a caller cancelled while waiting does not undo the write: it may still land
        self._check_open()
        future = self._loop.create_future()
        self._writer.queue.put(_Write(verb, key, value, expected, future))
        return await future

    def _on_batch(self, batch: list[_Write], results: list[Event | Exception]) -> None:
        """On the loop thread after a commit: revision, then watchers, then callers."""
        events = [r for r in results if isinstance(r, Event)]
        self.stats["commits"] += 1
        self.stats["writes"] += len(events)
        if events:
            self._revision = events[-1].mod_revision
            self._publish(events)
        for op, result in zip(batch, results):
            _settle(op.future, result.mod_revision if isinstance(result, Event) else result)

    # watch

    def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[Event]:
        if self._state is not _State.OPEN:
            raise WatchClosed(f"store is {self._state.value}")
        if start_revision < self._compacted:
            raise Compacted(start_revision, self._compacted)
        # registered now, before any await, so no live event can slip past the replay
        watcher = _Watcher(prefix, self.watch_queue_size)
        self._watchers.add(watcher)
        return self._stream(watcher, start_revision, self._revision)

    async def _stream(self, watcher: _Watcher, start: int, live_from: int) -> AsyncIterator[Event]:
        try:
            last = start
            async for event in self._replay(watcher, start, live_from):
                last = event.mod_revision
                yield event
            while True:
                event = await watcher.next()
                if event.mod_revision > last:  # the replay may have covered it already
                    last = event.mod_revision
                    yield event
        finally:
            self._watchers.discard(watcher)

    async def _replay(self, watcher: _Watcher, after: int, upto: int) -> AsyncIterator[Event]:
        """History (after, upto] from the table; live events start at upto + 1."""
        while after < upto:
            if watcher.closed_because is not None:
                raise WatchClosed(watcher.closed_because)
            if self._state is not _State.OPEN:
                raise WatchClosed("store closed")
            page = await self._readers.run(_query_history, watcher.prefix, after, upto, REPLAY_PAGE)
            for event in page:
                yield event
            if len(page) < REPLAY_PAGE:
                return
            after = page[-1].mod_revision

    def _publish(self, events: list[Event]) -> None:
        for watcher in list(self._watchers):
            mine = [e for e in events if e.key.startswith(watcher.prefix)]
            if mine and not watcher.offer(mine):
                self._watchers.discard(watcher)
                self.stats["watchers_closed_slow"] += 1
                log.warning("sqlite: closed a watch on %r that fell behind", watcher.prefix)

    # compaction

    async def compact(self, revision: int) -> None:
        self._check_open()
        if revision > self._revision:
            raise ValueError(f"cannot compact at {revision}: current revision is {self._revision}")
        async with self._compacting:
            if revision <= self._compacted:
                return
            future = self._loop.create_future()
            self._writer.queue.put(_Task(self._writer.compaction(revision, self._on_compacted), future))
            await future
            self.stats["compactions"] += 1

    def _on_compacted(self, revision: int) -> None:
        self._compacted = max(self._compacted, revision)
