"""The API server's watch cache: N watchers cost one store watch.

One task lists the whole store once, then follows one store watch. It keeps:
- the current state of every object, decoded once per change (resourceVersion set)
  and serialized once, so that GETs and LISTs are served from memory;
- a history of recent events (bounded by age and count), so that a watch can resume
  from a resourceVersion without touching the store; older ones get 410 Expired;
- the watchers, each with a bounded queue. A watcher that falls too far behind is
  closed (the client re-lists), it never blocks the others.

Reads that must be consistent ("most recent") first wait until the cache has caught up
with the store's current revision; in one process that wait is a few microseconds.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from tinykube.api import errors
from tinykube.storage import interface as storage
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

ROOT = "/registry/"
ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
DEFAULT_HISTORY_SECONDS = 300.0
DEFAULT_HISTORY_EVENTS = 200_000
WATCHER_QUEUE = 10_000
MAX_EXPECTED = 10_000


@dataclass
class Entry:
    """One object as served: decoded with resourceVersion set; raw is its JSON."""

    key: str
    rev: int
    obj: dict
    _raw: bytes | None = None

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = jsonutil.dumps(self.obj)
        return self._raw


@dataclass(frozen=True)
class CacheEvent:
    rev: int
    key: str
    new: Entry | None  # None for deletions
    old: Entry | None  # None for creations
    at: float


def resource_prefix(key: str) -> str:
    """"/registry/core/pods/ns/name" -> "/registry/core/pods/"."""
    parts = key.split("/", 4)
    return "/".join(parts[:4]) + "/"


def decode(key: str, value: bytes, rev: int) -> Entry:
    obj = jsonutil.loads(value)
    obj.setdefault("metadata", {})["resourceVersion"] = str(rev)
    return Entry(key, rev, obj)


Predicate = Callable[[dict], bool]


@dataclass(eq=False)
class Watcher:
    """A client's watch: events for keys under key_prefix that pass the predicate."""

    key_prefix: str
    predicate: Predicate
    capacity: int
    queue: collections.deque = field(default_factory=collections.deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    closed: bool = False
    overflowed: bool = False

    def offer(self, event: tuple[str, Entry]) -> None:
        if self.closed:
            return
        if len(self.queue) >= self.capacity:
            self.overflowed = True
            self.closed = True
        else:
            self.queue.append(event)
        self.wakeup.set()

    def close(self) -> None:
        self.closed = True
        self.wakeup.set()

    async def next(self) -> tuple[str, Entry] | None:
        """The next event, or None once the watch is closed and drained."""
        while not self.queue:
            if self.closed:
                return None
            self.wakeup.clear()
            await self.wakeup.wait()
        return self.queue.popleft()

    def event_for(self, event: CacheEvent) -> tuple[str, Entry] | None:
        """Kubernetes' rule: an object that stops matching is delivered as DELETED."""
        new_ok = event.new is not None and self.predicate(event.new.obj)
        old_ok = event.old is not None and self.predicate(event.old.obj)
        if new_ok:
            return (MODIFIED if old_ok else ADDED), event.new
        if old_ok:
            return DELETED, _with_revision(event.old, event.rev)
        return None


def _with_revision(entry: Entry, rev: int) -> Entry:
    """The object's last state, carrying the revision of the event that removed it."""
    if entry.rev == rev:
        return entry
    obj = dict(entry.obj)
    obj["metadata"] = dict(obj["metadata"], resourceVersion=str(rev))
    return Entry(entry.key, rev, obj)


class WatchCache:
    def __init__(self, store: storage.Store, *, history_seconds: float = DEFAULT_HISTORY_SECONDS,
                 history_events: int = DEFAULT_HISTORY_EVENTS):
        self.store = store
        self.history_seconds = history_seconds
        self.history_events = history_events
        self.revision = 0
        self.complete_since = 0  # every event with rev > this is in history
        self.objects: dict[str, dict[str, Entry]] = {}
        self.history: collections.deque[CacheEvent] = collections.deque()
        self.watchers: dict[str, set[Watcher]] = {}
        self.ready = asyncio.Event()
        self._waiters: list[tuple[int, asyncio.Future]] = []
        self._expected: dict[int, tuple[bytes, dict]] = {}
        self.stats = collections.Counter()

    # --- the one store watch -----------------------------------------------------------

    async def run(self) -> None:
        """List, then follow the store forever; re-list if the store watch breaks."""
        while True:
            start = await self._load()
            try:
                async for event in self.store.watch(ROOT, start_revision=start):
                    self._apply(event)
            except (storage.WatchClosed, storage.Compacted) as exc:
                log.warning("watch cache: store watch ended (%s); re-listing", exc)
                self._close_all_watchers()

    async def _load(self) -> int:
        result = await self.store.list(ROOT)
        self.objects = {}
        for kv in result.items:
            entry = decode(kv.key, kv.value, kv.mod_revision)
            self.objects.setdefault(resource_prefix(kv.key), {})[kv.key] = entry
        self.history.clear()
        self.revision = self.complete_since = result.revision
        self.ready.set()
        self._wake_waiters()
        return result.revision

    # --- writes of this process --------------------------------------------------------

    def expect(self, value: bytes, obj: dict) -> None:
        """The object about to be stored as `value` by this API server: when its event
        comes back from the store, the cache keeps `obj` instead of decoding `value` again
        (a JSON decode per write, and the collector's work for a second copy). The writer
        must not change `obj` afterwards; `unexpect` if the write fails."""
        if len(self._expected) >= MAX_EXPECTED:  # writes whose events never came: forget them
            self._expected.clear()
        self._expected[id(value)] = (value, obj)

    def unexpect(self, value: bytes) -> None:
        self._expected.pop(id(value), None)

    def _entry(self, event: storage.Event) -> Entry:
        expected = self._expected.pop(id(event.value), None)
        if expected is None or expected[0] is not event.value:
            return decode(event.key, event.value, event.mod_revision)
        obj = expected[1]
        obj["metadata"]["resourceVersion"] = str(event.mod_revision)
        self.stats["decodes_saved"] += 1
        return Entry(event.key, event.mod_revision, obj)

    def _apply(self, event: storage.Event) -> None:
        prefix = resource_prefix(event.key)
        bucket = self.objects.setdefault(prefix, {})
        old = bucket.get(event.key)
        if event.type == storage.DELETE:
            bucket.pop(event.key, None)
            new = None
            if old is None:  # deleted before we saw it: use the value the store gives
                old = decode(event.key, event.value, event.mod_revision)
        else:
            new = bucket[event.key] = self._entry(event)
        cache_event = CacheEvent(event.mod_revision, event.key, new, old, time.monotonic())
        self._record(cache_event)
        self._dispatch(prefix, cache_event)
        self.revision = event.mod_revision
        self._wake_waiters()

    def _record(self, event: CacheEvent) -> None:
        self.history.append(event)
        horizon = event.at - self.history_seconds
        while self.history and (len(self.history) > self.history_events or self.history[0].at < horizon):
            self.complete_since = self.history.popleft().rev

    def forget_before(self, revision: int) -> None:
        """Drop history at or below a compacted revision."""
        while self.history and self.history[0].rev <= revision:
            self.complete_since = self.history.popleft().rev
        self.complete_since = max(self.complete_since, min(revision, self.revision))

    def _dispatch(self, prefix: str, event: CacheEvent) -> None:
        for watcher in list(self.watchers.get(prefix, ())):
            if not event.key.startswith(watcher.key_prefix):
                continue
            delivered = watcher.event_for(event)
            if delivered:
                watcher.offer(delivered)
                if watcher.overflowed:
                    log.warning("watch cache: closed a watcher that fell %d events behind", watcher.capacity)
                    self.stats["watchers_overflowed"] += 1
                    self.stop_watch(prefix, watcher)

    # --- consistency -------------------------------------------------------------------

    async def wait_fresh(self, revision: int | None = None) -> None:
        """Wait until the cache holds every write up to revision (default: the store's now)."""
        await self.ready.wait()
        target = self.store.current_revision() if revision is None else revision
        if self.revision >= target:
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((target, future))
        await asyncio.wait_for(future, timeout=10)

    def _wake_waiters(self) -> None:
        if not self._waiters:
            return
        still = []
        for target, future in self._waiters:
            if self.revision >= target:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self._waiters = still

    # --- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> Entry | None:
        return self.objects.get(resource_prefix(key), {}).get(key)

    def list(self, prefix: str, key_prefix: str) -> Iterator[Entry]:
        """Entries under key_prefix, sorted by key (the order Kubernetes lists in)."""
        bucket = self.objects.get(prefix, {})
        if key_prefix == prefix:
            keys = sorted(bucket)
        else:
            keys = sorted(k for k in bucket if k.startswith(key_prefix))
        return (bucket[k] for k in keys)

    def count(self, prefix: str) -> int:
        return len(self.objects.get(prefix, {}))

    # --- watches -------------------------------------------------------------------------

    def start_watch(self, prefix: str, key_prefix: str, predicate: Predicate,
                    since: int | None) -> Watcher:
        """Register a watcher. since=None: first an ADDED event per current object.

        Raises errors.Expired when `since` is older than the history we hold.
        """
        if since is not None and since < self.complete_since:
            raise errors.too_old_resource_version(since, self.complete_since + 1)
        if since is None:
            backlog = [(ADDED, e) for e in self.list(prefix, key_prefix) if predicate(e.obj)]
        else:
            backlog = self._replay(prefix, key_prefix, predicate, since)
        watcher = Watcher(key_prefix, predicate, capacity=len(backlog) + WATCHER_QUEUE)
        watcher.queue.extend(backlog)
        self.watchers.setdefault(prefix, set()).add(watcher)
        self.stats["watches_started"] += 1
        return watcher

    def _replay(self, prefix: str, key_prefix: str, predicate: Predicate, since: int):
        probe = Watcher(key_prefix, predicate, capacity=0)
        out = []
        for event in self.history:
            if event.rev > since and event.key.startswith(key_prefix):
                delivered = probe.event_for(event)
                if delivered:
                    out.append(delivered)
        return out

    def stop_watch(self, prefix: str, watcher: Watcher) -> None:
        watcher.close()
        self.watchers.get(prefix, set()).discard(watcher)

    def _close_all_watchers(self) -> None:
        for watchers in self.watchers.values():
            for watcher in watchers:
                watcher.close()
        self.watchers.clear()
