"""What every controller shares: its context and the queue-and-workers shell.

A controller subclasses `Controller`, asks the shared factory for the informers it
needs in `__init__` (adding handlers that call `self.enqueue(obj)` or
`self.queue.add(key)`), and implements `async def sync(self, key)`. `run()` waits for
the informer caches, then runs `workers` concurrent syncs (the queue never gives one
key to two workers at once).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from tinykube.client import (REAL_CLOCK, ApiClient, Clock, EventRecorder, InformerFactory, WorkQueue,
                             default_controller_rate_limiter, object_key)

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ControllerOptions:
    """Knobs of kube-controller-manager's flags that tests and users tune."""
    # node lifecycle: a node whose Lease is older than this is NotReady/Unknown (upstream 50 s)
    node_monitor_grace_period: float = 50.0
    node_monitor_period: float = 5.0
    # default tolerationSeconds for not-ready/unreachable taints added to pods at admission
    default_toleration_seconds: int = 300
    # pod GC: terminated pods kept above this count are deleted, oldest first
    terminated_pod_gc_threshold: int = 12500
    # the workers per controller (kube-controller-manager's --concurrent-*-syncs)
    workers: dict[str, int] = dataclasses.field(default_factory=dict)
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ControllerContext:
    client: ApiClient
    informers: InformerFactory
    recorder: EventRecorder
    options: ControllerOptions = dataclasses.field(default_factory=ControllerOptions)
    clock: Clock = REAL_CLOCK


class Controller:
    """Base of every controller: a named work queue and `workers` syncs of it."""

    name = "controller"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder
        self.clock = ctx.clock
        self.queue = WorkQueue(self.name, rate_limiter=default_controller_rate_limiter(ctx.clock), clock=ctx.clock)
        self.workers = ctx.options.workers.get(self.name, self.workers)

    def enqueue(self, obj: dict) -> None:
        """Queue obj's key ("ns/name", or "name" for cluster-scoped objects)."""
        self.queue.add(object_key(obj))

    async def sync(self, key: str) -> None:  # pragma: no cover - every controller overrides it
        raise NotImplementedError

    async def run(self) -> None:
        await self.ctx.informers.wait_synced()
        log.info("%s controller: caches synced, %d workers", self.name, self.workers)
        await self.queue.run_workers(self.workers, self.sync)
