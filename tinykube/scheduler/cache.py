"""The scheduler's view of the cluster: NodeInfo per node, with its pods counted in.

`Cache` is fed by the informers (nodes, assigned pods) and by the scheduler itself:
`assume(pod, node)` counts a pod on its node the moment it is chosen, before the
binding is written, so the next scheduling cycle already sees the node's capacity
taken (a burst never overcommits a node). When the informer later reports the pod
bound, the assumed entry is confirmed in place; `forget` undoes a failed binding.

Every per-node figure the filters need is kept as an aggregate updated on each
change (requested cpu/memory/storage, pod count, host ports in use, image sizes), so
a filter is a few integer comparisons. The cache is changed only between scheduling
cycles (one asyncio task, no await inside a cycle), so a cycle reads it as a snapshot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tinykube.scheduler import resources as res

log = logging.getLogger(__name__)

NOT_READY_TAINT = "node.kubernetes.io/not-ready"
UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"


def _controller_uid(md: dict) -> str:
    for ref in md.get("ownerReferences") or ():
        if ref.get("controller"):
            return ref.get("uid", "")
    return ""


def _host_ports(spec: dict) -> tuple[tuple[str, str, int], ...]:
    ports = []
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        for port in container.get("ports") or ():
            host_port = port.get("hostPort") or 0
            if host_port > 0:
                ports.append((port.get("hostIP") or "0.0.0.0", port.get("protocol") or "TCP", host_port))
    return tuple(ports)


def pod_key(pod: dict) -> str:
    """"namespace/name", without building a PodInfo (the informer's events only need it)."""
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


class PodInfo:
    """What scheduling needs of a pod, computed once per version of the pod."""

    __slots__ = ("pod", "key", "uid", "namespace", "name", "labels", "spec", "requests",
                 "non_zero", "host_ports", "affinity", "tolerations", "node_selector",
                 "priority", "controller_uid", "node_name", "terminating", "images")

    def __init__(self, pod: dict):
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.pod = pod
        self.namespace, self.name = md.get("namespace", ""), md.get("name", "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid = md.get("uid", "")
        self.labels = md.get("labels") or {}
        self.spec = spec
        self.requests = res.pod_requests(pod)
        self.non_zero = res.pod_requests(pod, non_zero=True)
        self.host_ports = _host_ports(spec)
        self.affinity = spec.get("affinity") or {}
        self.tolerations = spec.get("tolerations") or ()
        self.node_selector = spec.get("nodeSelector") or {}
        self.priority = spec.get("priority") or 0
        self.controller_uid = _controller_uid(md)
        self.node_name = spec.get("nodeName") or ""
        self.terminating = bool(md.get("deletionTimestamp"))
        self.images = tuple(c.get("image", "") for c in spec.get("containers") or ())


def has_pod_affinity(info: PodInfo) -> bool:
    """Does the pod carry pod affinity or anti-affinity terms (upstream PodsWithAffinity)?"""
    return bool(info.affinity.get("podAffinity") or info.affinity.get("podAntiAffinity"))


def _ready(node: dict) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return False


def effective_taints(node: dict) -> list[dict]:
    """The node's taints, plus the not-ready taint the node lifecycle controller puts on a
    node that is not Ready (TaintNodesByCondition), if it is not there yet: the scheduler
    never places pods that do not tolerate it on such a node."""
    taints = list((node.get("spec") or {}).get("taints") or ())
    if not _ready(node) and not any(t.get("key") in (NOT_READY_TAINT, UNREACHABLE_TAINT) for t in taints):
        taints.append({"key": NOT_READY_TAINT, "effect": "NoSchedule"})
    return taints


class NodeInfo:
    __slots__ = ("name", "node", "labels", "unschedulable", "taints", "prefer_no_schedule",
                 "alloc_cpu", "alloc_mem", "alloc_eph", "alloc_pods", "alloc_other",
                 "req_cpu", "req_mem", "req_eph", "req_other", "nz_cpu", "nz_mem",
                 "pods", "ports", "images", "affinity_pods", "generation")

    def __init__(self, name: str):
        self.name = name
        self.node: dict | None = None
        self.labels: dict = {}
        self.unschedulable = False
        self.taints: list[dict] = []
        self.prefer_no_schedule: list[dict] = []
        self.alloc_cpu = self.alloc_mem = self.alloc_eph = self.alloc_pods = 0
        self.alloc_other: dict[str, int] = {}
        self.req_cpu = self.req_mem = self.req_eph = self.nz_cpu = self.nz_mem = 0
        self.req_other: dict[str, int] = {}
        self.pods: dict[str, PodInfo] = {}
        self.ports: dict[tuple, int] = {}
        self.images: dict[str, int] = {}
        self.affinity_pods = 0  # pods here with (anti-)affinity terms
        self.generation = 0

    def set_node(self, node: dict) -> None:
        self.node = node
        md, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
        self.labels = md.get("labels") or {}
        self.unschedulable = bool(spec.get("unschedulable"))
        taints = effective_taints(node)
        self.taints = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
        self.prefer_no_schedule = [t for t in taints if t.get("effect") == "PreferNoSchedule"]
        alloc = res.resource_list(status.get("allocatable") or status.get("capacity"))
        self.alloc_cpu, self.alloc_mem = alloc.pop(res.CPU, 0), alloc.pop(res.MEMORY, 0)
        self.alloc_eph, self.alloc_pods = alloc.pop(res.EPHEMERAL, 0), alloc.pop(res.PODS, 0)
        self.alloc_other = alloc
        self.images = {}
        for image in status.get("images") or ():
            for name in image.get("names") or ():
                self.images[_normalized_image(name)] = image.get("sizeBytes") or 0
        self.generation += 1

    def add_pod(self, info: PodInfo, sign: int = 1) -> None:
        r = info.requests
        self.req_cpu += sign * r.get(res.CPU, 0)
        self.req_mem += sign * r.get(res.MEMORY, 0)
        self.req_eph += sign * r.get(res.EPHEMERAL, 0)
        for name, qty in r.items():
            if name not in (res.CPU, res.MEMORY, res.EPHEMERAL):
                self.req_other[name] = self.req_other.get(name, 0) + sign * qty
        self.nz_cpu += sign * info.non_zero.get(res.CPU, 0)
        self.nz_mem += sign * info.non_zero.get(res.MEMORY, 0)
        for port in info.host_ports:
            self.ports[port] = self.ports.get(port, 0) + sign
            if not self.ports[port]:
                del self.ports[port]
        if has_pod_affinity(info):
            self.affinity_pods += sign
        if sign > 0:
            self.pods[info.key] = info
        else:
            self.pods.pop(info.key, None)
        self.generation += 1


def _normalized_image(name: str) -> str:
    """Upstream's normalizedImageName: a name without tag or digest means ':latest'."""
    if "@" in name or ":" in name.rsplit("/", 1)[-1]:
        return name
    return name + ":latest"


@dataclass
class Cache:
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    node_list: list[NodeInfo] = field(default_factory=list)  # nodes with a Node object, stable order
    pods: dict[str, tuple[PodInfo, str]] = field(default_factory=dict)  # key -> (info, node)
    assumed: set[str] = field(default_factory=set)
    by_controller: dict[str, dict[str, int]] = field(default_factory=dict)  # controller uid -> node -> pods
    namespaces: dict[str, dict] = field(default_factory=dict)  # name -> labels (pod affinity namespaceSelector)
    # how many nodes have taints / are cordoned / list images / have PreferNoSchedule
    # taints; pods with anti-affinity terms (affinity_pods), with any pod (anti-)affinity:
    # a plugin with nothing to look at in the whole cluster skips itself
    counts: dict[str, int] = field(default_factory=lambda: {"taints": 0, "unschedulable": 0, "images": 0,
                                                            "prefer_no_schedule": 0, "affinity_pods": 0,
                                                            "any_affinity_pods": 0})

    def _count(self, info: NodeInfo, sign: int) -> None:
        for name, present in (("taints", info.taints), ("unschedulable", info.unschedulable),
                              ("images", info.images), ("prefer_no_schedule", info.prefer_no_schedule)):
            if present:
                self.counts[name] += sign

    # --- nodes ---------------------------------------------------------------------------

    def add_or_update_node(self, node: dict) -> None:
        name = node["metadata"]["name"]
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        if info.node is None:
            self.node_list.append(info)
        else:
            self._count(info, -1)
        info.set_node(node)
        self._count(info, 1)

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None or info.node is None:
            return
        self.node_list.remove(info)
        self._count(info, -1)
        info.node = None
        if not info.pods:  # kept while pods still count against it (they go away by themselves)
            del self.nodes[name]

    # --- pods ----------------------------------------------------------------------------

    def _place(self, info: PodInfo, node_name: str) -> None:
        node = self.nodes.get(node_name)
        if node is None:
            node = self.nodes[node_name] = NodeInfo(node_name)
        node.add_pod(info)
        self.pods[info.key] = (info, node_name)
        if info.affinity.get("podAntiAffinity"):
            self.counts["affinity_pods"] += 1
        if has_pod_affinity(info):
            self.counts["any_affinity_pods"] += 1
        if info.controller_uid:
            per_node = self.by_controller.setdefault(info.controller_uid, {})
            per_node[node_name] = per_node.get(node_name, 0) + 1

    def _unplace(self, key: str) -> None:
        entry = self.pods.pop(key, None)
        if entry is None:
            return
        info, node_name = entry
        if info.affinity.get("podAntiAffinity"):
            self.counts["affinity_pods"] -= 1
        if has_pod_affinity(info):
            self.counts["any_affinity_pods"] -= 1
        per_node = self.by_controller.get(info.controller_uid)
        if per_node is not None and node_name in per_node:
            per_node[node_name] -= 1
            if not per_node[node_name]:
                del per_node[node_name]
                if not per_node:
                    del self.by_controller[info.controller_uid]
        node = self.nodes.get(node_name)
        if node is not None:
            node.add_pod(info, -1)
            if node.node is None and not node.pods:
                del self.nodes[node_name]

    def assume(self, info: PodInfo, node_name: str) -> None:
        self._unplace(info.key)
        self._place(info, node_name)
        self.assumed.add(info.key)

    def forget(self, key: str) -> None:
        if key in self.assumed:
            self.assumed.discard(key)
            self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        return key in self.assumed

    def add_or_update_pod(self, info: PodInfo) -> None:
        """An assigned pod as the informer sees it (confirms an assumed one)."""
        self.assumed.discard(info.key)
        self._unplace(info.key)
        self._place(info, info.node_name)

    def add_or_update_pod_object(self, pod: dict) -> None:
        """add_or_update_pod for a pod object. Most updates of a bound pod are its status
        (the node agent reports it): when nothing scheduling looks at changed (node, uid,
        spec, labels, deletion), the cached PodInfo stays and only its object is replaced,
        instead of working out the pod's requests again."""
        key = pod_key(pod)
        entry = self.pods.get(key)
        if entry is not None:
            info, node_name = entry
            md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
            if (key not in self.assumed and node_name == spec.get("nodeName") and info.uid == md.get("uid")
                    and info.terminating == bool(md.get("deletionTimestamp"))
                    and info.labels == (md.get("labels") or {}) and info.spec == spec):
                info.pod = pod
                return
        self.add_or_update_pod(PodInfo(pod))

    def remove_pod(self, key: str) -> None:
        self.assumed.discard(key)
        self._unplace(key)
