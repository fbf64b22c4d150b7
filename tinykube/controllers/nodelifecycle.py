"""Node lifecycle: lost nodes become Unknown and tainted; pods leave NoExecute-tainted nodes.

kube-controller-manager's node-lifecycle-controller and taint-eviction-controller.

Health (monitorNodeHealth): a node is heard from when its Lease in kube-node-lease is
renewed or its Ready condition's lastHeartbeatTime moves; the time is the controller's
own clock at that observation (never the node's, so clock skew does not matter). A
node not heard from for ``node_monitor_grace_period`` gets Ready, MemoryPressure,
DiskPressure and PIDPressure set to Unknown ("NodeStatusUnknown", "Kubelet stopped
posting node status."), and the pods on it Ready=False.

Taints (TaintNodesByCondition + the NoExecute pass): Ready False -> not-ready, Ready
Unknown -> unreachable, each as NoExecute (with timeAdded) and NoSchedule; the pressure
and network conditions and spec.unschedulable give their NoSchedule taints. Taints go
again when the condition clears (the node's agent reports Ready again).

Eviction: a pod on a node with NoExecute taints is deleted at once if some taint is not
tolerated, else when the earliest tolerated taint's ``timeAdded + tolerationSeconds``
passes (a toleration without tolerationSeconds tolerates for ever); before the delete
it gets the DisruptionTarget condition ("DeletionByTaintManager").

Pure: observe, stale_conditions, wanted_taints, eviction_delay; the shell writes.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.client import node_name_index
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.podutil import parse_time
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

NODES = REGISTRY.by_plural("", "v1", "nodes")
PODS = REGISTRY.by_plural("", "v1", "pods")
LEASES = REGISTRY.by_plural("coordination.k8s.io", "v1", "leases")
NODE_LEASE_NAMESPACE = "kube-node-lease"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
# condition type -> (status that taints, taint key) for NoSchedule (TaintNodesByCondition)
CONDITION_TAINTS = (
    ("Ready", "False", NOT_READY), ("Ready", "Unknown", UNREACHABLE),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
)
MONITORED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
NODE_INDEX = "nodeName"


# --- health ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class NodeHealth:
    probe: float  # monotonic time the node was last heard from
    renew_time: str = ""
    heartbeat: str = ""


def observe(saved: NodeHealth | None, *, renew_time: str, heartbeat: str, now: float) -> NodeHealth:
    """A new lease renewal or Ready heartbeat moves the probe time to now."""
    if saved is None:
        return NodeHealth(now, renew_time, heartbeat)
    if renew_time != saved.renew_time or heartbeat != saved.heartbeat:
        return NodeHealth(now, renew_time, heartbeat)
    return saved


def condition(obj: dict, type_: str) -> dict | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def stale_conditions(node: dict, now: str) -> list[dict] | None:
    """The node's conditions once it is known to be lost, or None if already so."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or ()]
    by_type = {c.get("type"): c for c in conditions}
    changed = False
    for type_ in MONITORED_CONDITIONS:
        current = by_type.get(type_)
        if current is None:
            conditions.append({"type": type_, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                               "message": "Kubelet never posted node status.",
                               "lastHeartbeatTime": node["metadata"].get("creationTimestamp"),
                               "lastTransitionTime": now})
            changed = True
        elif current.get("status") != "Unknown":
            current.update(status="Unknown", reason="NodeStatusUnknown",
                           message="Kubelet stopped posting node status.", lastTransitionTime=now)
            changed = True
    return conditions if changed else None


# --- taints ---------------------------------------------------------------------------------

def _managed(taint: dict) -> bool:
    key, effect = taint.get("key"), taint.get("effect")
    if effect == "NoExecute":
        return key in (NOT_READY, UNREACHABLE)
    return effect == "NoSchedule" and (key == UNSCHEDULABLE or any(key == k for _, _, k in CONDITION_TAINTS))


def wanted_taints(node: dict, now: str) -> list[dict] | None:
    """The node's taints with the controller's ones matching its conditions, or None
    when nothing changes. A taint that stays keeps its timeAdded."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or () if isinstance(t, dict)]
    wanted: list[tuple[str, str]] = []
    ready = condition(node, "Ready")
    if ready is not None and ready.get("status") in ("False", "Unknown"):
        wanted.append((NOT_READY if ready["status"] == "False" else UNREACHABLE, "NoExecute"))
    for type_, status, key in CONDITION_TAINTS:
        c = condition(node, type_)
        if c is not None and c.get("status") == status:
            wanted.append((key, "NoSchedule"))
    if (node.get("spec") or {}).get("unschedulable"):
        wanted.append((UNSCHEDULABLE, "NoSchedule"))
    existing = {(t.get("key"), t.get("effect")): t for t in taints if _managed(t)}
    out = [t for t in taints if not _managed(t)]
    for key, effect in wanted:
        taint = existing.get((key, effect)) or {"key": key, "effect": effect}
        if effect == "NoExecute" and "timeAdded" not in taint:
            taint = dict(taint, timeAdded=now)
        out.append(taint)
    return None if _same_taints(out, taints) else out


def _same_taints(a: list[dict], b: list[dict]) -> bool:
    key = lambda t: (t.get("key", ""), t.get("effect", ""), t.get("value", ""))  # noqa: E731
    return sorted(map(key, a)) == sorted(map(key, b))


# --- eviction -------------------------------------------------------------------------------

def tolerates(toleration: dict, taint: dict) -> bool:
    """v1.Toleration.ToleratesTaint."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    if toleration.get("operator") == "Exists":
        return True
    return toleration.get("value", "") == taint.get("value", "")


def eviction_delay(pod: dict, taints: list[dict], now: datetime.datetime) -> float | None:
    """Seconds until the pod must go (0: now), or None: it tolerates the taints for ever."""
    tolerations = [t for t in (pod.get("spec") or {}).get("tolerations") or () if isinstance(t, dict)]
    due: float | None = None
    for taint in taints:
        matching = [t for t in tolerations if tolerates(t, taint)]
        if not matching:
            return 0.0
        limits = [t["tolerationSeconds"] for t in matching if isinstance(t.get("tolerationSeconds"), int)]
        if len(limits) < len(matching):
            continue  # one toleration without a limit: tolerated for ever
        added = parse_time(taint.get("timeAdded")) or now
        left = max(0.0, (added - now).total_seconds() + max(0, min(limits)))
        due = left if due is None else min(due, left)
    return due


def no_execute_taints(node: dict) -> list[dict]:
    return [t for t in (node.get("spec") or {}).get("taints") or ()
            if isinstance(t, dict) and t.get("effect") == "NoExecute"]


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the controller -------------------------------------------------------------------------

class NodeLifecycleController(Controller):
    name = "nodelifecycle"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.grace = ctx.options.node_monitor_grace_period
        self.health: dict[str, NodeHealth] = {}
        self.nodes = ctx.informers.informer(NODES)
        self.leases = ctx.informers.informer(LEASES)
        self.pods = ctx.informers.informer(PODS, indexers={NODE_INDEX: node_name_index})
        self.nodes.add_event_handler(on_add=self._node_changed, on_update=self._node_updated,
                                     on_delete=lambda node: self.queue.add(("node", node["metadata"]["name"])))
        self.leases.add_event_handler(on_add=self._lease_changed, on_update=lambda old, new: self._lease_changed(new))
        self.pods.add_event_handler(on_add=self._pod_changed, on_update=lambda old, new: self._pod_changed(new))

    def _node_changed(self, node: dict) -> None:
        self.queue.add(("node", node["metadata"]["name"]))
        self._queue_pods(node)

    def _node_updated(self, old: dict, new: dict) -> None:
        self.queue.add(("node", new["metadata"]["name"]))
        if no_execute_taints(old) != no_execute_taints(new):
            self._queue_pods(new)

    def _queue_pods(self, node: dict) -> None:
        if no_execute_taints(node):
            for key in self.pods.store.index_keys(NODE_INDEX, node["metadata"]["name"]):
                self.queue.add(("pod", key))

    def _lease_changed(self, lease: dict) -> None:
        if lease["metadata"].get("namespace") == NODE_LEASE_NAMESPACE:
            self.queue.add(("node", lease["metadata"]["name"]))

    def _pod_changed(self, pod: dict) -> None:
        node = self.nodes.store.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is not None and no_execute_taints(node):
            self.enqueue_pod(pod)

    def enqueue_pod(self, pod: dict) -> None:
        self.queue.add(("pod", f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"))

    async def sync(self, item: tuple[str, str]) -> None:
        kind, key = item
        await (self.sync_node(key) if kind == "node" else self.sync_pod(key))

    # --- nodes ------------------------------------------------------------------------

    async def sync_node(self, name: str) -> None:
        node = self.nodes.store.get(name)
        if node is None:
            self.health.pop(name, None)
            return
        lease = self.leases.store.get_by_name(NODE_LEASE_NAMESPACE, name)
        ready = condition(node, "Ready") or {}
        health = self.health[name] = observe(
            self.health.get(name), renew_time=((lease or {}).get("spec") or {}).get("renewTime") or "",
            heartbeat=ready.get("lastHeartbeatTime") or "", now=self.clock.monotonic())
        now = _rfc3339(self.clock.now())
        left = health.probe + self.grace - self.clock.monotonic()
        if left > 0:
            self.queue.add_after(("node", name), left + 0.05)  # check again when it would expire
        else:
            node = await self._mark_unknown(node, now)
        await self._update_taints(node, now)
        if (condition(node, "Ready") or {}).get("status") not in (None, "True"):
            await self._mark_pods_not_ready(name)

    async def _mark_unknown(self, node: dict, now: str) -> dict:
        conditions = stale_conditions(node, now)
        if conditions is None:
            return node
        log.info("node %s: not heard from for %.0f s, its status is now Unknown", node["metadata"]["name"], self.grace)
        self.recorder.record(node, "Normal", "NodeNotReady", f"Node {node['metadata']['name']} status is now: NodeNotReady")
        node = jsonutil.deep_copy(node)
        node.setdefault("status", {})["conditions"] = conditions
        return await self.client.update_status(NODES, node)

    async def _update_taints(self, node: dict, now: str) -> None:
        taints = wanted_taints(node, now)
        if taints is None:
            return
        node = jsonutil.deep_copy(node)
        if taints:
            node.setdefault("spec", {})["taints"] = taints
        else:
            node.setdefault("spec", {}).pop("taints", None)
        await self.client.update(NODES, node)

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self.pods.store.by_index(NODE_INDEX, node_name):
            ready = condition(pod, "Ready")
            if ready is None or ready.get("status") != "True":
                continue
            pod = jsonutil.deep_copy(pod)
            condition(pod, "Ready").update(status="False", lastTransitionTime=_rfc3339(self.clock.now()))
            try:
                await self.client.update_status(PODS, pod)
            except (errors.NotFound, errors.Conflict):
                continue  # gone, or its agent wrote meanwhile: the next sync sees it

    # --- pods (taint eviction) --------------------------------------------------------

    async def sync_pod(self, key: str) -> None:
        pod = self.pods.store.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            return
        node = self.nodes.store.get((pod.get("spec") or {}).get("nodeName") or "")
        taints = no_execute_taints(node) if node is not None else []
        if not taints:
            return
        delay = eviction_delay(pod, taints, self.clock.now())
        if delay is None:
            return
        if delay > 0:
            self.queue.add_after(("pod", key), delay)
            return
        await self._evict(pod)

    async def _evict(self, pod: dict) -> None:
        md = pod["metadata"]
        self.recorder.record(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {md['namespace']}/{md['name']}")
        pod = jsonutil.deep_copy(pod)
        conditions = pod.setdefault("status", {}).setdefault("conditions", [])
        conditions[:] = [c for c in conditions if c.get("type") != "DisruptionTarget"]
        conditions.append({"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                           "message": "Taint manager: deleting due to NoExecute taint",
                           "lastTransitionTime": _rfc3339(self.clock.now())})
        try:
            await self.client.update_status(PODS, pod)
            await self.client.delete(PODS, md["name"], namespace=md["namespace"], preconditions={"uid": md["uid"]})
        except errors.NotFound:
            pass

