"""Builders of nodes and pods for the scheduler's table tests."""

from __future__ import annotations

from tinykube.scheduler.cache import Cache, PodInfo
from tinykube.scheduler.framework import CycleState


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict | None = None,
         taints: list | None = None, unschedulable: bool = False, ready: bool = True, images: list | None = None) -> dict:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods, "ephemeral-storage": "100Gi"}
    return {"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": alloc, "capacity": alloc, "images": images or [],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pod(name: str, *, ns: str = "default", cpu: str = "", memory: str = "", labels: dict | None = None,
        node_name: str = "", **spec) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container = {"name": "c", "image": spec.pop("image", "busybox"), "resources": {"requests": requests}}
    if "ports" in spec:
        container["ports"] = spec.pop("ports")
    body = {"containers": [container], **spec}
    if node_name:
        body["nodeName"] = node_name
    return {"metadata": {"name": name, "namespace": ns, "uid": f"uid-{name}", "labels": labels or {}}, "spec": body}


def cache_with(nodes: list[dict], placed: list[tuple[dict, str]] = ()) -> Cache:
    cache = Cache()
    for n in nodes:
        cache.add_or_update_node(n)
    for p, node_name in placed:
        p["spec"]["nodeName"] = node_name
        cache.add_or_update_pod(PodInfo(p))
    return cache


def verdicts(plugin, pod_obj: dict, cache: Cache) -> dict[str, object]:
    """node name -> the plugin's reason (None: fits); {} when the plugin skips the pod."""
    state = CycleState(PodInfo(pod_obj), cache)
    check = plugin.pre_filter(state)
    if check is None:
        return {}
    return {n.name: check(n) for n in cache.node_list}
