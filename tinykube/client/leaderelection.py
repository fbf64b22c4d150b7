"""Leader election through a coordination.k8s.io/v1 Lease, as client-go's leaderelection.

Candidates share one Lease (spec.holderIdentity, leaseDurationSeconds, acquireTime,
renewTime, leaseTransitions). A candidate takes the Lease when it does not exist, has no
holder, or has not changed for leaseDurationSeconds *as observed locally* (we time the
lease on our own monotonic clock from when we last saw its record change, as client-go
does, so clock skew between machines does not matter). Every write is a PUT carrying the
resourceVersion we read: of two candidates racing, one gets 409 Conflict and stays a
follower.

The leader renews every retry_period; if it cannot renew within renew_deadline it stops
leading (its work is cancelled) before the lease can expire for the others, since
renew_deadline < lease_duration. Defaults: 15 s / 10 s / 2 s, client-go's.

    async with elector.leading():      # waits to be leader; cancelled if leadership is lost
        await run_controllers()        # (then LeadershipLost is raised out of the block)

    await elector.run(on_started_leading, on_stopped_leading)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from typing import AsyncIterator, Awaitable, Callable

from tinykube.api import errors
from tinykube.client import rest
from tinykube.client.clock import REAL_CLOCK, Clock
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

LEASE = ("coordination.k8s.io/v1", "Lease")
JITTER_FACTOR = 1.2  # client-go's JitterFactor for the acquire loop
MICROTIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # metav1.MicroTime: 2006-01-02T15:04:05.000000Z


class LeadershipLost(Exception):
    """The lease could not be renewed in time: another candidate may lead now."""


class LeaderElector:
    def __init__(self, client: rest.ApiClient, *, name: str, identity: str,
                 namespace: str = "kube-system", lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0,
                 release_on_cancel: bool = False, clock: Clock = REAL_CLOCK):
        if not lease_duration > renew_deadline > retry_period * JITTER_FACTOR:
            raise ValueError("need lease_duration > renew_deadline > retry_period * 1.2")
        self.client, self.name, self.namespace, self.identity = client, name, namespace, identity
        self.lease_duration, self.renew_deadline = lease_duration, renew_deadline
        self.retry_period, self.release_on_cancel, self.clock = retry_period, release_on_cancel, clock
        self._lease: dict | None = None  # the Lease as last read or written (its resourceVersion)
        self._observed: dict = {}  # the lease spec as last seen
        self._observed_time = 0.0  # monotonic time the spec was last seen to change
        self._leading = False

    def is_leader(self) -> bool:
        return self._leading

    @property
    def leader(self) -> str:
        """The holder as last observed ("" if none)."""
        return self._observed.get("holderIdentity") or ""

    # --- the two ways to use it ---------------------------------------------------------

    @contextlib.asynccontextmanager
    async def leading(self) -> AsyncIterator[LeaderElector]:
        """Wait to become leader; renew while the block runs; cancel the block and raise
        LeadershipLost if renewing fails. Leaving the block stops renewing (and releases
        the lease if release_on_cancel)."""
        await self.acquire()
        body, lost = asyncio.current_task(), []

        def on_lost() -> None:
            lost.append(True)
            body.cancel()

        renewer = asyncio.create_task(self._renew_loop(on_lost), name=f"renew lease {self.name}")
        try:
            yield self
        except asyncio.CancelledError:
            if lost and body.uncancel() == 0:
                raise LeadershipLost(f"lost the lease {self.namespace}/{self.name}") from None
            raise
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
            if self.release_on_cancel and not lost:
                await self.release()
            self._leading = False

    async def run(self, on_started_leading: Callable[[], Awaitable[None]],
                  on_stopped_leading: Callable[[], None] | None = None) -> None:
        """Lead while on_started_leading runs; on_stopped_leading after, if we had led."""
        led = False
        try:
            async with self.leading():
                led = True
                await on_started_leading()
        except LeadershipLost as exc:
            log.warning("leader election: %s", exc)
        finally:
            if led and on_stopped_leading is not None:
                on_stopped_leading()

    # --- acquire, renew, release ----------------------------------------------------------

    async def acquire(self) -> None:
        """Try every retry_period (jittered) until we hold the lease."""
        while not await self.try_acquire_or_renew():
            await self.clock.sleep(self.retry_period * (1 + random.random() * JITTER_FACTOR))
        self._leading = True
        log.info("leader election: %s now leads %s/%s", self.identity, self.namespace, self.name)

    async def _renew_loop(self, on_lost: Callable[[], None]) -> None:
        while True:
            await self.clock.sleep(self.retry_period)
            if not await self._renew_before_deadline():
                self._leading = False
                log.warning("leader election: %s failed to renew %s/%s within %.1fs",
                            self.identity, self.namespace, self.name, self.renew_deadline)
                on_lost()
                return

    async def _renew_before_deadline(self) -> bool:
        deadline = self.clock.monotonic() + self.renew_deadline
        while True:
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    if await self.try_acquire_or_renew():
                        return True
            except TimeoutError:
                return False
            await self.clock.sleep(min(self.retry_period, max(0.0, deadline - self.clock.monotonic())))

    async def try_acquire_or_renew(self) -> bool:
        """One attempt; True if we hold the lease after it. Never raises API errors."""
        try:
            return await self._try_acquire_or_renew()
        except (errors.ApiError, ConnectionError) as exc:
            log.info("leader election: %s could not get or update %s/%s: %s",
                     self.identity, self.namespace, self.name, exc)
            return False

    async def _try_acquire_or_renew(self) -> bool:
        if self._leading and self._lease is not None and self._observed_valid():
            # Fast path: renew what we wrote last without reading it first; a Conflict
            # means someone else wrote, and the slow path reads what they wrote.
            if await self._update(self._next_spec(self._observed, self.identity)):
                return True
        try:
            lease = await self.client.get(LEASE, self.name, namespace=self.namespace)
        except errors.NotFound:
            return await self._create()
        spec = lease.get("spec") or {}
        if spec != self._observed:
            self._observe(spec)
        self._lease = lease
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity and self._observed_valid():
            return False  # someone else holds a live lease
        return await self._update(self._next_spec(spec, holder))

    def _next_spec(self, spec: dict, holder: str) -> dict:
        now = self._micro_time()
        new = {"holderIdentity": self.identity, "leaseDurationSeconds": self._duration_seconds(),
               "acquireTime": now, "renewTime": now,
               "leaseTransitions": int(spec.get("leaseTransitions") or 0)}
        if holder == self.identity:
            new["acquireTime"] = spec.get("acquireTime") or now
        else:
            new["leaseTransitions"] += 1
        return new

    async def _create(self) -> bool:
        now = self._micro_time()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": self._duration_seconds(),
                "acquireTime": now, "renewTime": now, "leaseTransitions": 0}
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.name, "namespace": self.namespace}, "spec": spec}
        try:
            created = await self.client.create(LEASE, lease)
        except errors.AlreadyExists:
            return False  # another candidate was first
        self._lease = created
        self._observe(created.get("spec") or {})
        return True

    async def _update(self, spec: dict) -> bool:
        lease = jsonutil.deep_copy(self._lease)
        lease["spec"] = spec
        try:
            updated = await self.client.update(LEASE, lease)  # carries the resourceVersion we read
        except errors.Conflict:
            return False
        self._lease = updated
        self._observe(updated.get("spec") or {})
        return True

    async def release(self) -> bool:
        """Give the lease up at once (holder cleared, 1 s duration) if we hold it."""
        if self._lease is None or self.leader != self.identity:
            return False
        now = self._micro_time()
        spec = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": now, "renewTime": now,
                "leaseTransitions": int(self._observed.get("leaseTransitions") or 0)}
        try:
            return await self._update(spec)
        except (errors.ApiError, ConnectionError) as exc:
            log.warning("leader election: %s could not release %s/%s: %s", self.identity,
                        self.namespace, self.name, exc)
            return False
        finally:
            self._leading = False

    # --- bookkeeping ----------------------------------------------------------------------

    def _observe(self, spec: dict) -> None:
        self._observed = jsonutil.deep_copy(spec)
        self._observed_time = self.clock.monotonic()

    def _observed_valid(self) -> bool:
        duration = self._observed.get("leaseDurationSeconds") or 0
        return self._observed_time + duration > self.clock.monotonic()

    def _duration_seconds(self) -> int:
        return max(1, math.ceil(self.lease_duration))

    def _micro_time(self) -> str:
        return self.clock.now().strftime(MICROTIME_FORMAT)
