"""Pod GC: deletes terminated pods above a threshold, pods of vanished nodes, unbound terminating pods.

kube-controller-manager's pod-garbage-collector, run every ``GC_PERIOD`` seconds
(upstream 20 s) as one sync of the key "podgc":

- terminated (Succeeded/Failed) pods beyond ``terminated_pod_gc_threshold`` are
  deleted, evicted ones first, then the oldest (upstream's byEvictionAndCreationTimestamp);
- pods bound to a node that does not exist: the node name is quarantined for
  ``podgc_quarantine_seconds`` (ControllerOptions.extra, upstream 40 s) and, if the node
  is still absent (checked with a live GET), the pods are marked Failed with the
  DisruptionTarget condition ("DeletionByPodGC", "PodGC: node no longer exists") and
  force-deleted;
- terminating pods bound to no node are force-deleted.

Pure: terminated_to_delete, orphaned_pods; the shell reads the caches and writes.
"""

from __future__ import annotations

import datetime
import logging

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

PODS = REGISTRY.by_plural("", "v1", "pods")
NODES = REGISTRY.by_plural("", "v1", "nodes")
GC_PERIOD = 20.0
QUARANTINE_SECONDS = 40.0
KEY = "podgc"


def is_terminated(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def terminated_to_delete(pods: list[dict], threshold: int) -> list[dict]:
    """gcTerminated: the terminated pods beyond the threshold (<= 0: never)."""
    terminated = [p for p in pods if is_terminated(p) and not p["metadata"].get("deletionTimestamp")]
    excess = len(terminated) - threshold
    if threshold <= 0 or excess <= 0:
        return []
    terminated.sort(key=lambda p: ((p.get("status") or {}).get("reason") != "Evicted",
                                   p["metadata"].get("creationTimestamp") or "", p["metadata"].get("name", "")))
    return terminated[:excess]


def orphaned_pods(pods: list[dict], nodes: set[str]) -> dict[str, list[dict]]:
    """Pods by the name of the missing node they are bound to."""
    out: dict[str, list[dict]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node not in nodes:
            out.setdefault(node, []).append(pod)
    return out


def unscheduled_terminating(pods: list[dict]) -> list[dict]:
    return [p for p in pods if p["metadata"].get("deletionTimestamp") and not (p.get("spec") or {}).get("nodeName")]


class PodGC(Controller):
    name = "podgc"
    workers = 1

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.threshold = ctx.options.terminated_pod_gc_threshold
        self.quarantine = float(ctx.options.extra.get("podgc_quarantine_seconds", QUARANTINE_SECONDS))
        self.period = float(ctx.options.extra.get("podgc_period", GC_PERIOD))
        self.pods = ctx.informers.informer(PODS)
        self.nodes = ctx.informers.informer(NODES)
        self.missing_since: dict[str, float] = {}  # node name -> when first seen missing
        self.queue.add(KEY)

    async def sync(self, key: str) -> None:
        try:
            pods = self.pods.store.list()
            for pod in terminated_to_delete(pods, self.threshold):
                await self._delete(pod)
            await self._gc_orphaned(pods)
            for pod in unscheduled_terminating(pods):
                await self._delete(pod, force=True)
        finally:
            self.queue.add_after(KEY, self.period)

    async def _gc_orphaned(self, pods: list[dict]) -> None:
        nodes = {n["metadata"]["name"] for n in self.nodes.store.list()}
        orphaned = orphaned_pods(pods, nodes)
        now = self.clock.monotonic()
        self.missing_since = {n: self.missing_since.get(n, now) for n in orphaned}
        for node, its_pods in orphaned.items():
            if now - self.missing_since[node] < self.quarantine:
                continue
            if await self._node_exists(node):
                continue
            for pod in its_pods:
                await self._fail_and_delete(pod)

    async def _node_exists(self, name: str) -> bool:
        try:
            await self.client.get(NODES, name)
            return True
        except errors.NotFound:
            return False

    async def _fail_and_delete(self, pod: dict) -> None:
        pod = jsonutil.deep_copy(pod)
        status = pod.setdefault("status", {})
        if not is_terminated(pod):
            status["phase"] = "Failed"
        conditions = status.setdefault("conditions", [])
        conditions[:] = [c for c in conditions if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                           "message": "PodGC: node no longer exists", "lastTransitionTime":
                           self.clock.now().astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
        try:
            await self.client.update_status(PODS, pod)
        except errors.NotFound:
            return
        await self._delete(pod, force=True)

    async def _delete(self, pod: dict, *, force: bool = False) -> None:
        md = pod["metadata"]
        log.info("pod GC: deleting pod %s/%s", md["namespace"], md["name"])
        try:
            await self.client.delete(PODS, md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]},
                                     grace_period_seconds=0 if force else None)
        except (errors.NotFound, errors.Conflict):
            pass
