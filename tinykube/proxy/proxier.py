"""The service proxy's loop: informers in, one nftables table out.

One level-triggered loop per node: informers on Services, EndpointSlices and this Node
mark the state dirty; the loop (at most once per `min_interval`, 50 ms by default, so a
burst of changes costs one sync) renders the whole table (render.py) and, only when the
text changed, applies it with one atomic `nft -f` transaction in the node's namespace:
a partial sync (only the chains and map elements that changed, `render.update`) when
the table in the kernel is known, a full sync (the whole table rewritten) at the start,
after a failure and every `full_sync_period` (an hour, kube-proxy's FullSyncPeriod), so
anything else that touched the table is put right. A failed apply is retried with
back-off and the next apply recreates the table from scratch. On shutdown the table and the Service route are removed. The proxy never
touches a table other than its own.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tinykube.api.registry import REGISTRY
from tinykube.client import ApiClient, InformerFactory
from tinykube.proxy import render as rules
from tinykube.proxy.nft import Host, NodeSetup

log = logging.getLogger(__name__)

SERVICES = REGISTRY.by_plural("", "v1", "services")
SLICES = REGISTRY.by_plural("discovery.k8s.io", "v1", "endpointslices")
NODES = REGISTRY.by_plural("", "v1", "nodes")


class Proxier:
    def __init__(self, client: ApiClient, *, node_name: str, table: str = "tinykube", netns: str = "",
                 cluster_cidr: str = "10.42.0.0/16", service_cidr: str = "10.43.0.0/16",
                 min_interval: float = 0.05, full_sync_period: float = 3600.0, host: Host | None = None):
        self.client, self.node_name, self.table = client, node_name, table
        self.cluster_cidr = cluster_cidr
        self.host = host or Host(netns)
        self.setup = NodeSetup(self.host, table=table, service_cidr=service_cidr)
        self.min_interval = min_interval
        self.dirty = asyncio.Event()
        self.applied: str | None = None  # the table text in the kernel (None: unknown)
        self.applied_table: rules.Table | None = None
        self.full_sync_period = full_sync_period
        self.last_full_sync = float("-inf")
        self.full_syncs = 0
        self.syncs = 0
        self.last_sync_seconds = 0.0
        self.synced = asyncio.Event()  # set after each successful apply (tests, benchmarks)

    async def run(self) -> None:
        informers = InformerFactory(self.client)
        self.services = informers.informer(SERVICES)
        self.slices = informers.informer(SLICES)
        self.nodes = informers.informer(NODES, field_selector=f"metadata.name={self.node_name}")
        for informer in (self.services, self.slices, self.nodes):
            informer.add_event_handler(on_add=self._changed, on_update=lambda o, n: self.dirty.set(),
                                       on_delete=self._changed)
        task = asyncio.create_task(informers.run(), name="proxy informers")
        try:
            await informers.wait_synced()
            try:
                await self.setup.install()
            except Exception:  # a node without some of it still gets its rules
                log.exception("proxy: preparing the node failed")
            log.info("proxy: caches synced; table ip %s on node %s", self.table, self.node_name)
            self.dirty.set()
            await self._loop()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await asyncio.shield(self.setup.remove())

    def _changed(self, _obj: dict) -> None:
        self.dirty.set()

    async def _loop(self) -> None:
        backoff = self.min_interval
        while True:
            await self.dirty.wait()
            self.dirty.clear()
            try:
                await self.sync_once()
                backoff = self.min_interval
            except Exception:
                log.exception("proxy: applying the rules failed; retrying in %.1fs", backoff)
                self.applied = self.applied_table = None
                self.dirty.set()
                backoff = min(backoff * 2, 5.0)
            await asyncio.sleep(backoff)

    async def sync_once(self) -> bool:
        """Render and, if the text changed, apply. True when something was applied."""
        start = time.perf_counter()
        node = self.nodes.store.get(self.node_name) or self.node_name
        table = rules.render_table(self.services.store.list(), self.slices.store.list(), node,
                                   cluster_cidr=self.cluster_cidr)
        text = table.text(self.table)
        if text == self.applied:
            return False
        script = self._partial(table)
        if script is None:
            script = rules.transaction(text, self.table, self.applied)
            self.last_full_sync = time.monotonic()
            self.full_syncs += 1
        await self.host.nft(script)
        self.applied, self.applied_table = text, table
        self.syncs += 1
        self.last_sync_seconds = time.perf_counter() - start
        log.debug("proxy: applied %d bytes in %.1f ms", len(text), self.last_sync_seconds * 1000)
        self.synced.set()
        return True

    def _partial(self, table: rules.Table) -> str | None:
        """The partial sync's script, or None when a full sync is due."""
        if self.applied_table is None or time.monotonic() - self.last_full_sync >= self.full_sync_period:
            return None
        try:
            return rules.update(table, self.applied_table, self.table)
        except ValueError:
            return None
