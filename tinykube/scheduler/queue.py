"""The scheduling queue (upstream PriorityQueue): active, back-off and unschedulable pods.

- activeQ: pods ready to be tried, highest spec.priority first, then first-come;
- backoffQ: pods that failed, waiting out their back-off (1 s doubling per attempt,
  capped at 10 s), moved to activeQ by `flush_backoff_completed` (called every second);
- unschedulable: pods that fit nowhere, parked until the cluster changes in a way that
  may help (`move_all_to_active_or_backoff`, called by the event handlers) or at the
  latest after 5 minutes (`flush_unschedulable_leftover`, every 30 s).

A pod whose attempt failed while a cluster change happened during that attempt goes to
the back-off queue, not to unschedulable (upstream's moveRequestCycle): the change may
be what it needed. The queue's bookkeeping is synchronous and pure apart from the
clock; `pop()` is the one awaiting method.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field

from tinykube.client import REAL_CLOCK, Clock

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0
UNSCHEDULABLE_MAX_DURATION = 300.0


@dataclass
class QueuedPod:
    key: str
    pod: dict
    priority: int = 0
    timestamp: float = 0.0  # when it was added (first-come order within a priority)
    attempts: int = 0
    initial_attempt: float | None = None
    unschedulable_since: float = 0.0
    unschedulable_plugins: set[str] = field(default_factory=set)


def backoff_duration(attempts: int, initial: float = INITIAL_BACKOFF, maximum: float = MAX_BACKOFF) -> float:
    if attempts <= 0:
        return 0.0
    return min(initial * 2 ** (attempts - 1), maximum)


class SchedulingQueue:
    def __init__(self, *, clock: Clock = REAL_CLOCK, initial_backoff: float = INITIAL_BACKOFF,
                 max_backoff: float = MAX_BACKOFF, unschedulable_max: float = UNSCHEDULABLE_MAX_DURATION):
        self.clock = clock
        self.initial_backoff, self.max_backoff, self.unschedulable_max = initial_backoff, max_backoff, unschedulable_max
        self._active: list[tuple] = []  # (-priority, timestamp, seq, key)
        self._backoff: list[tuple] = []  # (expiry, seq, key)
        self._where: dict[str, str] = {}  # key -> "active" | "backoff" | "unschedulable" | "in-flight"
        # the keys parked as unschedulable, so that a cluster change looks at them only, not at
        # every queued pod (thousands pending made each bound pod's event scan them all)
        self._parked: dict[str, None] = {}
        self._pods: dict[str, QueuedPod] = {}
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self.scheduling_cycle = 0
        self.move_request_cycle = -1
        self.closed = False

    # --- what is where -------------------------------------------------------------------

    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def __len__(self) -> int:
        return len(self._pods)

    def pending_counts(self) -> dict[str, int]:
        counts = {"active": 0, "backoff": 0, "unschedulable": 0, "in-flight": 0}
        for place in self._where.values():
            counts[place] += 1
        return counts

    def backoff_expiry(self, qp: QueuedPod) -> float:
        return qp.timestamp + backoff_duration(qp.attempts, self.initial_backoff, self.max_backoff)

    # --- adding --------------------------------------------------------------------------

    def add(self, pod: dict) -> None:
        """A new pending pod (or one seen again): straight to activeQ."""
        key = _key(pod)
        qp = self._pods.get(key)
        if qp is None:
            qp = self._pods[key] = QueuedPod(key, pod, (pod.get("spec") or {}).get("priority") or 0,
                                             self.clock.monotonic())
        else:
            qp.pod = pod
        if self._where.get(key) in (None, "unschedulable"):
            self._to_active(qp)

    def update(self, pod: dict) -> None:
        """The pod changed: keep the newest version; a parked pod gets another try."""
        key = _key(pod)
        qp = self._pods.get(key)
        if qp is None:
            self.add(pod)
            return
        spec_changed = (qp.pod.get("spec") != pod.get("spec")
                        or (qp.pod.get("metadata") or {}).get("labels") != (pod.get("metadata") or {}).get("labels"))
        qp.pod = pod
        if spec_changed and self._where.get(key) == "unschedulable":
            self._to_active_or_backoff(qp)

    def delete(self, key: str) -> None:
        self._pods.pop(key, None)
        self._where.pop(key, None)  # heap entries of a gone key are skipped when popped
        self._parked.pop(key, None)

    def _to_active(self, qp: QueuedPod) -> None:
        self._where[qp.key] = "active"
        self._parked.pop(qp.key, None)
        heapq.heappush(self._active, (-qp.priority, qp.timestamp, next(self._seq), qp.key))
        self._ready.set()

    def _to_backoff(self, qp: QueuedPod) -> None:
        self._where[qp.key] = "backoff"
        self._parked.pop(qp.key, None)
        heapq.heappush(self._backoff, (self.backoff_expiry(qp), next(self._seq), qp.key))

    def _to_active_or_backoff(self, qp: QueuedPod) -> None:
        if self.backoff_expiry(qp) > self.clock.monotonic():
            self._to_backoff(qp)
        else:
            self._to_active(qp)

    # --- the scheduler's side ----------------------------------------------------------------

    def pop_nowait(self) -> QueuedPod | None:
        while self._active:
            _, _, _, key = heapq.heappop(self._active)
            if self._where.get(key) != "active":
                continue  # stale entry: deleted or moved since
            qp = self._pods[key]
            self._where[key] = "in-flight"
            qp.attempts += 1
            if qp.initial_attempt is None:
                qp.initial_attempt = self.clock.monotonic()
            self.scheduling_cycle += 1
            return qp
        self._ready.clear()
        return None

    async def pop(self) -> QueuedPod:
        while True:
            qp = self.pop_nowait()
            if qp is not None:
                return qp
            await self._ready.wait()

    def done(self, key: str) -> None:
        """The pod was bound (or is being bound): it leaves the queue."""
        if self._where.get(key) == "in-flight":
            self.delete(key)

    def add_unschedulable(self, qp: QueuedPod, *, plugins: set[str] = frozenset(),
                          pod_cycle: int | None = None, error: bool = False) -> None:
        """The attempt failed: park the pod, or back it off if the cluster moved meanwhile
        (or the failure was an error, which is retried with back-off)."""
        if qp.key not in self._pods or self._where.get(qp.key) != "in-flight":
            return  # deleted while being scheduled
        now = self.clock.monotonic()
        qp.timestamp = now
        qp.unschedulable_plugins = set(plugins)
        cycle = self.scheduling_cycle if pod_cycle is None else pod_cycle
        if error or self.move_request_cycle >= cycle:
            self._to_backoff(qp)
        else:
            qp.unschedulable_since = now
            self._where[qp.key] = "unschedulable"
            self._parked[qp.key] = None

    # --- moving pods back ---------------------------------------------------------------------

    def move_all_to_active_or_backoff(self, *, only=None) -> int:
        """A cluster change that may make parked pods schedulable. `only(qp)` limits the
        move to the pods the change can help (upstream's queueing hints, coarsely)."""
        moved = 0
        for key in list(self._parked):
            qp = self._pods[key]
            if only is None or only(qp):
                self._to_active_or_backoff(qp)
                moved += 1
        self.move_request_cycle = self.scheduling_cycle
        return moved

    def flush_backoff_completed(self) -> int:
        now, moved = self.clock.monotonic(), 0
        while self._backoff and self._backoff[0][0] <= now:
            _, _, key = heapq.heappop(self._backoff)
            if self._where.get(key) == "backoff":
                self._to_active(self._pods[key])
                moved += 1
        return moved

    def flush_unschedulable_leftover(self) -> int:
        now, moved = self.clock.monotonic(), 0
        for key in list(self._parked):
            if now - self._pods[key].unschedulable_since >= self.unschedulable_max:
                self._to_active_or_backoff(self._pods[key])
                moved += 1
        return moved

    def close(self) -> None:
        self.closed = True
        self._ready.set()


def _key(pod: dict) -> str:
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"
