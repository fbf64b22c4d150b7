"""The node's presence in the cluster: register the Node, renew its Lease, report status.

As the kubelet does: the Lease in kube-node-lease is renewed every 10 s (the cheap
heartbeat the node lifecycle controller watches); the Node's status is written when it
changed, and at least every 5 minutes otherwise.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from typing import Callable

from tinykube.agent import node as nodes
from tinykube.api import errors

log = logging.getLogger(__name__)

NODES = ("v1", "Node")
LEASES = ("coordination.k8s.io/v1", "Lease")
LEASE_RENEW_SECONDS = 10.0
STATUS_REPORT_SECONDS = 300.0


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class NodeHeartbeat:
    def __init__(self, client, facts: nodes.MachineFacts, settings: nodes.NodeSettings, *,
                 conditions: Callable[[], nodes.NodeConditions] = nodes.NodeConditions,
                 lease_interval: float = LEASE_RENEW_SECONDS,
                 status_interval: float = STATUS_REPORT_SECONDS):
        self.client, self.facts, self.settings = client, facts, settings
        self.conditions = conditions
        self.lease_interval, self.status_interval = lease_interval, status_interval
        self.node: dict = {}
        self._last_report = 0.0

    async def register(self) -> dict:
        """Create the Node, or adopt the existing one (an agent restart), then report status."""
        wanted = nodes.node_object(self.facts, self.settings)
        try:
            self.node = await self.client.create(NODES, wanted)
        except errors.AlreadyExists:
            self.node = await self.client.get(NODES, self.settings.name)
            labels = {**(self.node["metadata"].get("labels") or {}), **wanted["metadata"]["labels"]}
            if labels != self.node["metadata"].get("labels"):
                self.node = await self.client.patch(NODES, self.settings.name, {"metadata": {"labels": labels}})
        await self.report_status(force=True)
        return self.node

    async def report_status(self, *, force: bool = False) -> None:
        previous = self.node.get("status") or {}
        status = nodes.node_status(self.facts, self.settings, self.conditions(), now=now_rfc3339(),
                                   previous=previous)
        due = time.monotonic() - self._last_report >= self.status_interval
        if not force and not due and _same_but_heartbeats(status, previous):
            return
        self.node["status"] = status
        self.node = await self.client.update_status(NODES, self.node)
        self._last_report = time.monotonic()

    async def renew_lease(self) -> None:
        name = self.settings.name
        try:
            lease = await self.client.get(LEASES, name, namespace=nodes.NODE_LEASE_NAMESPACE)
        except errors.NotFound:
            uid = self.node.get("metadata", {}).get("uid", "")
            await self.client.create(LEASES, nodes.lease_object(name, uid, now_micro=now_micro()))
            return
        lease["spec"]["renewTime"] = now_micro()
        lease["spec"]["holderIdentity"] = name
        await self.client.update(LEASES, lease)

    async def run(self) -> None:
        """Renew the lease and report status until cancelled; errors are logged and retried."""
        while True:
            for step in (self.renew_lease, self.report_status):
                try:
                    await step()
                except errors.Conflict:
                    self.node = await self._refetch()
                except Exception as exc:  # keep beating: the API server may be restarting
                    log.warning("node heartbeat: %s failed: %s", step.__name__, exc)
            await asyncio.sleep(self.lease_interval)

    async def _refetch(self) -> dict:
        try:
            return await self.client.get(NODES, self.settings.name)
        except Exception:
            return self.node


def _same_but_heartbeats(new: dict, old: dict) -> bool:
    """Equal apart from the conditions' heartbeat times (which change every report)."""
    def strip(status: dict) -> dict:
        conditions = [{k: v for k, v in c.items() if k != "lastHeartbeatTime"}
                      for c in status.get("conditions") or []]
        return {**status, "conditions": conditions}
    return strip(new) == strip(old)
