"""Informer: client-go's reflector, indexed store and event distribution in one loop.

`run()` lists the resource (first at resourceVersion 0, which the API server answers
whole from its watch cache, as client-go's reflector asks), then watches from the list's
resourceVersion, and keeps the Store equal to the server's state:
- a watch the server ends normally (its timeout, a dropped slow watcher) is resumed at
  once from the last resourceVersion seen; bookmarks move that resourceVersion forward,
  so a quiet informer resumes from a recent point;
- a network error or a failed list is retried with back-off (0.8 s doubling to 30 s,
  jittered, as the reflector does);
- 410 Expired/Gone (the history no longer reaches back to our resourceVersion) means a
  relist: the new list replaces the store, with synthetic events for what changed
  (new -> on_add, changed -> on_update, gone -> on_delete, like DeltaFIFO.Replace; an
  object recreated under the same name, seen by its new uid, is a delete then an add).

Ordering and consistency: handlers run in the informer's task, one event at a time,
in the order the server sent the events, each after the store reflects that event, so
a handler reading the store sees at least the state the event describes. A handler
that raises is logged and counted, it never stops the informer. Handlers may be plain
functions (the usual: turn the object into a key and enqueue it) or coroutines; a slow
handler delays the informer, so do work in workers, not handlers.

Objects in the store and given to handlers are shared: read-only (see store.py).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import random
from dataclasses import dataclass
from typing import Any, Callable

from tinykube.api import errors
from tinykube.client import rest
from tinykube.client.clock import REAL_CLOCK, Clock
from tinykube.client.ratelimit import Backoff
from tinykube.client.store import IndexFunc, Store, object_key
from tinykube.client.watch import ADDED, BOOKMARK, DELETED, MODIFIED, WatchEvent

log = logging.getLogger(__name__)

MIN_WATCH_TIMEOUT = 300.0  # client-go's minWatchTimeout: watches last 5-10 minutes


class ShortWatch(Exception):
    """The server ended a watch at once with nothing in it: back off before retrying."""


@dataclass(frozen=True)
class EventHandlers:
    """client-go's ResourceEventHandlerFuncs; any of the three may be left out."""

    on_add: Callable[[dict], Any] | None = None
    on_update: Callable[[dict, dict], Any] | None = None  # (old, new)
    on_delete: Callable[[dict], Any] | None = None  # the object's last known state


class Informer:
    def __init__(self, client: rest.ApiClient, resource: rest.Resource, *, namespace: str = "",
                 label_selector: str = "", field_selector: str = "",
                 indexers: dict[str, IndexFunc] | None = None,
                 page_size: int = rest.DEFAULT_PAGE_SIZE, watch_timeout: float | None = None,
                 backoff: Backoff | None = None, clock: Clock = REAL_CLOCK):
        self.client = client
        self.rt = rest.resolve(resource)
        self.namespace, self.label_selector, self.field_selector = namespace, label_selector, field_selector
        self.page_size = page_size
        self.watch_timeout = watch_timeout  # None: random in [5, 10) minutes
        self.clock = clock
        self.store = Store(indexers)
        self.stats: collections.Counter = collections.Counter()
        self.last_sync_resource_version = ""
        self._backoff = backoff or Backoff(clock=clock)
        self._handlers: list[EventHandlers] = []
        self._synced = asyncio.Event()
        self._expired_in_a_row = 0
        self._last_sync_rv_unavailable = False  # after a 410: relist at the latest version

    @property
    def name(self) -> str:
        where = f" in {self.namespace}" if self.namespace else ""
        selectors = ",".join(s for s in (self.label_selector, self.field_selector) if s)
        return f"{self.rt.qualified_plural}{where}" + (f" [{selectors}]" if selectors else "")

    # --- the consumer's side ------------------------------------------------------------

    def add_event_handler(self, on_add: Callable[[dict], Any] | None = None,
                          on_update: Callable[[dict, dict], Any] | None = None,
                          on_delete: Callable[[dict], Any] | None = None) -> EventHandlers:
        """Register handlers. Added after the first sync, they get an on_add per cached object
        first (as in client-go), so every handler sees every object."""
        handlers = EventHandlers(on_add, on_update, on_delete)
        self._handlers.append(handlers)
        if self.has_synced() and on_add is not None:
            for obj in self.store.list():
                self._call_detached(on_add, obj)
        return handlers

    def has_synced(self) -> bool:
        """True once the first list is in the store and its on_add handlers have run."""
        return self._synced.is_set()

    async def wait_synced(self) -> None:
        await self._synced.wait()

    # --- the reflector ------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled."""
        need_list = True
        while True:
            try:
                if need_list:
                    await self._list_and_replace()
                    need_list = False
                await self._watch()
            except (errors.Expired, errors.Gone) as exc:
                self.stats["relists"] += 1
                self._last_sync_rv_unavailable = True
                log.info("informer %s: %s; relisting", self.name, exc)
                need_list = True
                self._expired_in_a_row += 1
                if self._expired_in_a_row > 1:  # expired again before any event: do not spin
                    await self.clock.sleep(self._backoff.next())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # network, overload, server errors: all retried
                self.stats["errors"] += 1
                delay = self._backoff.next()
                log.warning("informer %s: %s failed (%r); retrying in %.2fs", self.name,
                            "list" if need_list else "watch", exc, delay)
                await self.clock.sleep(delay)

    def _relist_resource_version(self) -> str:
        """client-go's relistResourceVersion: "0" for the first list (any version, served
        whole from the API server's watch cache), the last synced version for a relist
        after a failure, and "" (the latest, a consistent read) after a 410."""
        if self._last_sync_rv_unavailable:
            return ""
        return self.last_sync_resource_version or "0"

    async def _list_and_replace(self) -> None:
        result = await self.client.list(self.rt, namespace=self.namespace, label_selector=self.label_selector,
                                        field_selector=self.field_selector, limit=self.page_size,
                                        resource_version=self._relist_resource_version())
        self._last_sync_rv_unavailable = False
        self.stats["lists"] += 1
        await self._replace(result.items)
        self.last_sync_resource_version = result.resource_version
        self._backoff.reset()
        self._synced.set()

    async def _watch(self) -> None:
        timeout = self.watch_timeout or MIN_WATCH_TIMEOUT * (1 + random.random())
        started = self.clock.monotonic()
        count = 0
        stream = self.client.watch(self.rt, namespace=self.namespace, resource_version=self.last_sync_resource_version,
                                   label_selector=self.label_selector, field_selector=self.field_selector,
                                   allow_watch_bookmarks=True, timeout_seconds=timeout)
        self.stats["watches"] += 1
        async with stream:
            async for event in stream:
                count += 1
                await self._on_event(event)
                self._backoff.reset()
                self._expired_in_a_row = 0
        # Like the reflector: a watch that ends at once with nothing is a failure.
        if count == 0 and self.clock.monotonic() - started < min(1.0, timeout / 2):
            raise ShortWatch("the server ended the watch at once")

    # --- keeping the store ----------------------------------------------------------------

    async def _on_event(self, event: WatchEvent) -> None:
        type_, obj = event
        self.stats[f"events_{type_.lower()}"] += 1
        if type_ in (ADDED, MODIFIED):
            await self._upsert(rest.set_type_meta(self.rt, obj))
        elif type_ == DELETED:
            old = self.store.remove(object_key(obj))
            if old is not None:
                await self._notify("on_delete", rest.set_type_meta(self.rt, obj))
        elif type_ != BOOKMARK:
            log.warning("informer %s: ignoring watch event of type %r", self.name, type_)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.last_sync_resource_version = rv

    async def _upsert(self, obj: dict) -> None:
        key = object_key(obj)
        old = self.store.get(key)
        if old is None:
            self.store.put(obj)
            await self._notify("on_add", obj)
        elif _uid(old) != _uid(obj):  # recreated while we were not watching
            self.store.remove(key)
            await self._notify("on_delete", old)
            self.store.put(obj)
            await self._notify("on_add", obj)
        elif _rv(old) != _rv(obj):
            self.store.put(obj)
            await self._notify("on_update", old, obj)

    async def _replace(self, items: list[dict]) -> None:
        """A relist: the store becomes exactly `items`, with events for every difference."""
        listed = set()
        for obj in items:
            listed.add(object_key(obj))
            await self._upsert(obj)
        for key in [k for k in self.store.keys() if k not in listed]:
            old = self.store.remove(key)
            await self._notify("on_delete", old)

    async def _notify(self, method: str, *args: dict) -> None:
        for handlers in self._handlers:
            handler = getattr(handlers, method)
            if handler is None:
                continue
            try:
                result = handler(*args)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.stats["handler_errors"] += 1
                log.exception("informer %s: %s handler failed", self.name, method)

    def _call_detached(self, handler: Callable, obj: dict) -> None:
        try:
            result = handler(obj)
            if inspect.isawaitable(result):
                asyncio.ensure_future(result)
        except Exception:
            self.stats["handler_errors"] += 1
            log.exception("informer %s: on_add handler failed", self.name)


def _uid(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("uid", "")


def _rv(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("resourceVersion", "")
