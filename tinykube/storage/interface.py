"""The storage contract every backend (SQLite, etcd) implements.

The model is etcd's: a single, strictly increasing revision counts every write in the
whole store. Each key's value carries the revision that created it (create_revision)
and the revision of its last change (mod_revision). Writes are compare-and-swap on the
mod_revision the caller last saw. A watch from revision R delivers every change with a
revision greater than R, in revision order, with no gaps and no duplicates.

Values are opaque bytes (the API server stores Kubernetes JSON). Keys are strings like
"/registry/core/pods/default/web".

Guarantees a backend must give (checked by tests/unit/storage/conformance.py):
- an acknowledged write is durable (it survives kill -9 of the process);
- two writers racing from the same mod_revision: exactly one wins, the other gets
  Conflict;
- watchers see revision n before n+1, and a watcher that cannot keep up is closed with
  WatchClosed rather than allowed to block writers or other watchers;
- revisions at or below the compacted revision cannot be read or watched (Compacted).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import AsyncIterator


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclass(frozen=True)
class Event:
    """One change. For DELETE, `value` is the last value the key had before deletion."""

    type: str  # "PUT" (create or update) or "DELETE"
    key: str
    value: bytes
    create_revision: int
    mod_revision: int  # the revision of this change
    prev_value: bytes | None = None  # the value before this change, if any

    @property
    def is_create(self) -> bool:
        return self.type == PUT and self.create_revision == self.mod_revision


PUT = "PUT"
DELETE = "DELETE"


@dataclass(frozen=True)
class ListResult:
    items: list[KeyValue]
    revision: int  # the store revision the list was read at
    more: bool  # True when `limit` cut the list short
    count: int = 0  # items remaining after this page (approximate is fine), when more


class StorageError(Exception):
    """Base of storage errors."""


class KeyExists(StorageError):
    """create() of a key that already has a live value."""


class KeyNotFound(StorageError):
    """update()/delete() of a key with no live value."""


class Conflict(StorageError):
    """update()/delete() whose expected mod_revision is no longer current."""

    def __init__(self, message: str, current: KeyValue | None = None):
        super().__init__(message)
        self.current = current


class Compacted(StorageError):
    """A read or watch at a revision that compaction has removed."""

    def __init__(self, requested: int, compacted: int):
        super().__init__(f"required revision {requested} has been compacted (compacted: {compacted})")
        self.requested = requested
        self.compacted = compacted


class WatchClosed(StorageError):
    """The store closed a watch (slow consumer or shutdown); re-list and watch again."""


class Store(abc.ABC):
    """A revisioned key-value store with watch. All methods are coroutine-safe."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Open the store (create files, start background tasks)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush and release everything; pending watches end with WatchClosed."""

    @abc.abstractmethod
    def current_revision(self) -> int:
        """The revision of the last acknowledged write (0 for an empty store)."""

    @abc.abstractmethod
    def compacted_revision(self) -> int:
        """Revisions at or below this one can no longer be read or watched."""

    @abc.abstractmethod
    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        """The live value of key at `revision` (0 = latest), or None."""

    @abc.abstractmethod
    async def list(
        self, prefix: str, *, revision: int = 0, start_key: str = "", limit: int = 0
    ) -> ListResult:
        """Live keys under prefix, sorted by key, as of `revision` (0 = latest).

        start_key: return only keys > start_key (for continue tokens).
        limit: at most this many items (0 = all); `more` tells whether any remain.
        Raises Compacted when revision is at or below the compacted revision.
        """

    @abc.abstractmethod
    async def create(self, key: str, value: bytes) -> int:
        """Create key; returns the new revision. Raises KeyExists."""

    @abc.abstractmethod
    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Replace key's value if its mod_revision is still expected_revision.

        Returns the new revision. Raises KeyNotFound or Conflict (with the current
        value attached).
        """

    @abc.abstractmethod
    async def delete(self, key: str, *, expected_revision: int = 0) -> int:
        """Delete key (if expected_revision is 0, whatever its revision).

        Returns the revision of the deletion. Raises KeyNotFound or Conflict.
        """

    @abc.abstractmethod
    def watch(self, prefix: str, *, start_revision: int) -> AsyncIterator[Event]:
        """Every change under prefix with revision > start_revision, in order, forever.

        Raises Compacted (at once) when start_revision < compacted_revision(), and
        WatchClosed when the watcher fell too far behind or the store closed.
        """

    @abc.abstractmethod
    async def compact(self, revision: int) -> None:
        """Forget superseded values and tombstones at or below revision; reclaim space."""
