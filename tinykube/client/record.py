"""EventRecorder: core/v1 Events about objects, written in the background.

`record(obj, type, reason, message)` never blocks and never raises: it puts the event
on a bounded queue (a full queue drops the event, logged and counted) and `run()`
writes them in order. As client-go's recorder (EventCorrelator's logger), a repeat of
the same event (same source, involved object, type, reason and message) within
`aggregate_window` seconds is not a new Event: the existing one is patched with
count + 1, a new lastTimestamp (and firstTimestamp kept), so `kubectl describe` shows
"(x3 over 2m)". If that Event is gone (expired, deleted) a new one is created.

Writes may be rate limited (`qps`, `burst`: a token bucket, as the rate limiter of the
client-go client upstream components give their event broadcaster: kube-scheduler's and
the kubelet's allow 50 per second with bursts of 100). While the writer waits, recorded
events queue up; past `max_queued` new ones are dropped, as client-go's broadcaster does
(DropIfChannelFull): a burst of thousands of pods keeps the API server for the pods.

Writes that fail for a retryable reason (no connection, 429, 5xx) are retried up to
`max_tries` times; others are logged, counted and dropped: events are best effort.
Not done (client-go has them): the spam filter (token bucket per object) and the
aggregation of *similar* events with different messages.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
from dataclasses import dataclass

from tinykube.api import errors
from tinykube.client import rest
from tinykube.client.clock import REAL_CLOCK, Clock
from tinykube.client.ratelimit import BucketRateLimiter
from tinykube.client.status import is_retryable

log = logging.getLogger(__name__)

EVENT = ("v1", "Event")
NORMAL, WARNING = "Normal", "Warning"
MAX_QUEUED = 1000  # client-go's maxQueuedEvents
MAX_SEEN = 4096  # client-go's maxLruCacheEntries
MAX_MESSAGE = 1024
TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"  # metav1.Time


@dataclass(frozen=True)
class _Pending:
    involved: dict
    type: str
    reason: str
    message: str
    at: float  # monotonic
    timestamp: str


@dataclass(frozen=True)
class _Seen:
    name: str
    namespace: str
    count: int
    first_timestamp: str
    at: float


class EventRecorder:
    def __init__(self, client: rest.ApiClient, *, component: str, host: str = "",
                 aggregate_window: float = 600.0, max_queued: int = MAX_QUEUED,
                 max_tries: int = 12, retry_sleep: float = 10.0, clock: Clock = REAL_CLOCK,
                 qps: float = 0.0, burst: int = 1):
        self.client, self.component, self.host = client, component, host or socket.gethostname()
        self.aggregate_window, self.max_tries, self.retry_sleep = aggregate_window, max_tries, retry_sleep
        self.clock = clock
        self.stats: collections.Counter = collections.Counter()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue(max_queued)
        self._seen: collections.OrderedDict[tuple, _Seen] = collections.OrderedDict()
        self._last_name_ns = 0
        self._limiter = BucketRateLimiter(qps, burst, clock) if qps > 0 else None

    # --- the caller's side: never blocks, never raises -----------------------------------

    def record(self, obj: dict, type: str, reason: str, message: str, *, field_path: str = "") -> None:
        """Record an event about obj (an object, or an ObjectReference dict)."""
        try:
            self._enqueue(obj, type, reason, message, field_path)
        except Exception as exc:  # a bad argument must not break the caller's work
            self.stats["dropped"] += 1
            log.warning("event recorder: could not record %s %s: %r", type, reason, exc)

    def _enqueue(self, obj: dict, type: str, reason: str, message: str, field_path: str) -> None:
        if type not in (NORMAL, WARNING):
            raise ValueError(f"event type must be Normal or Warning, not {type!r}")
        pending = _Pending(involved_object(obj, field_path), type, reason, message[:MAX_MESSAGE],
                           self.clock.monotonic(), self.clock.now().strftime(TIMESTAMP))
        try:
            self._queue.put_nowait(pending)
        except asyncio.QueueFull:
            self.stats["dropped"] += 1
            dropped = self.stats["dropped"]
            if dropped & (dropped - 1) == 0:  # 1, 2, 4, 8, ...: a burst does not flood the log
                log.warning("event recorder: queue full, dropped %s event %s on %s (%d dropped so far)",
                            type, reason, pending.involved.get("name"), dropped)

    # --- the writer ------------------------------------------------------------------------

    async def run(self) -> None:
        """Write recorded events until cancelled."""
        while True:
            pending = await self._queue.get()
            try:
                if self._limiter is not None and (delay := self._limiter.when(None)) > 0:
                    await self.clock.sleep(delay)
                await self._write_with_retries(pending)
            finally:
                self._queue.task_done()

    async def flush(self) -> None:
        """Wait until every event recorded so far was written (or dropped)."""
        await self._queue.join()

    async def _write_with_retries(self, pending: _Pending) -> None:
        for attempt in range(1, self.max_tries + 1):
            try:
                await self._write(pending)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_retryable(exc) or attempt == self.max_tries:
                    self.stats["failed"] += 1
                    log.warning("event recorder: dropped %s %s on %s: %s", pending.type, pending.reason,
                                pending.involved.get("name"), exc)
                    return
                self.stats["retries"] += 1
                await self.clock.sleep(self.retry_sleep)

    async def _write(self, pending: _Pending) -> None:
        key = self._key(pending)
        seen = self._seen.get(key)
        if seen is not None and pending.at - seen.at <= self.aggregate_window:
            try:
                await self._patch_repeat(seen, pending)
                self._remember(key, seen.name, seen.namespace, seen.count + 1, seen.first_timestamp, pending.at)
                return
            except errors.NotFound:
                pass  # the Event is gone: create a new one
        event = await self.client.create(EVENT, self._new_event(pending))
        md = event.get("metadata") or {}
        self._remember(key, md.get("name", ""), md.get("namespace", ""), 1, pending.timestamp, pending.at)
        self.stats["created"] += 1

    async def _patch_repeat(self, seen: _Seen, pending: _Pending) -> None:
        patch = {"count": seen.count + 1, "lastTimestamp": pending.timestamp, "message": pending.message}
        await self.client.patch(EVENT, seen.name, patch, namespace=seen.namespace, patch_type="merge")
        self.stats["aggregated"] += 1

    def _new_event(self, pending: _Pending) -> dict:
        involved = pending.involved
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": self._event_name(involved.get("name", "")),
                         "namespace": involved.get("namespace") or "default"},
            "involvedObject": involved,
            "reason": pending.reason, "message": pending.message, "type": pending.type,
            "source": {"component": self.component, "host": self.host},
            "firstTimestamp": pending.timestamp, "lastTimestamp": pending.timestamp, "count": 1,
            "reportingComponent": self.component, "reportingInstance": self.host,
        }

    def _event_name(self, object_name: str) -> str:
        """client-go names events "<object>.<unix nanoseconds in hex>"; kept unique here."""
        nanos = int(self.clock.now().timestamp() * 1e9)
        self._last_name_ns = max(nanos, self._last_name_ns + 1)
        return f"{object_name}.{self._last_name_ns:x}"

    def _key(self, pending: _Pending) -> tuple:
        """client-go's getEventKey: source, involved object, type, reason, message."""
        i = pending.involved
        return (self.component, self.host, i.get("kind"), i.get("namespace"), i.get("name"),
                i.get("fieldPath"), i.get("uid"), i.get("apiVersion"), pending.type, pending.reason,
                pending.message)

    def _remember(self, key: tuple, name: str, namespace: str, count: int, first: str, at: float) -> None:
        self._seen[key] = _Seen(name, namespace, count, first, at)
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_SEEN:
            self._seen.popitem(last=False)


def involved_object(obj: dict, field_path: str = "") -> dict:
    """The ObjectReference of an object (or a reference given as is)."""
    md = obj.get("metadata")
    if md is None:  # already a reference
        ref = {k: v for k, v in obj.items() if v}
    else:
        ref = {"kind": obj.get("kind"), "namespace": md.get("namespace"), "name": md.get("name"),
               "uid": md.get("uid"), "apiVersion": obj.get("apiVersion"),
               "resourceVersion": md.get("resourceVersion")}
        ref = {k: v for k, v in ref.items() if v}
    if field_path:
        ref["fieldPath"] = field_path
    if not ref.get("kind") or not ref.get("name"):
        raise ValueError("the involved object needs a kind and a name")
    return ref
