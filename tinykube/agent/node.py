"""The Node object an agent registers, built from the machine it runs on.

`machine_facts()` reads what the kubelet's cadvisor would (cpu count, memory, boot id,
machine id, OS image, kernel); `node_object()` and `node_status()` are pure functions of
those facts, so the agent writes the Node only when something changed.
"""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import dataclass, field

from tinykube import __version__

DEFAULT_MAX_PODS = 110  # the kubelet's default
NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40


@dataclass(frozen=True)
class MachineFacts:
    cpus: int
    memory_bytes: int
    boot_id: str = ""
    machine_id: str = ""
    os_image: str = "Linux"
    kernel_version: str = ""
    architecture: str = "amd64"
    hostname: str = ""
    ephemeral_storage_bytes: int = 0


@dataclass(frozen=True)
class NodeConditions:
    """The agent's own view of the node's health (Ready and the pressure conditions)."""

    ready: bool = True
    ready_message: str = "kubelet is posting ready status"
    memory_pressure: bool = False
    disk_pressure: bool = False
    pid_pressure: bool = False


@dataclass(frozen=True)
class NodeSettings:
    name: str
    addresses: tuple[tuple[str, str], ...] = ()  # (type, address): InternalIP, Hostname
    pod_cidr: str = ""
    max_pods: int = DEFAULT_MAX_PODS
    labels: dict = field(default_factory=dict)
    taints: tuple[dict, ...] = ()
    system_reserved_memory: int = 0
    kubelet_port: int = 10250  # the kubelet API's port (server.py), in daemonEndpoints


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def _memory_bytes() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def machine_facts(data_dir: str = "/") -> MachineFacts:
    stat = os.statvfs(data_dir)
    return MachineFacts(
        cpus=os.cpu_count() or 1, memory_bytes=_memory_bytes(),
        boot_id=_read("/proc/sys/kernel/random/boot_id"), machine_id=_read("/etc/machine-id"),
        os_image=_os_image(), kernel_version=platform.release(), architecture=_architecture(),
        hostname=socket.gethostname(), ephemeral_storage_bytes=stat.f_blocks * stat.f_frsize)


def capacity(facts: MachineFacts, settings: NodeSettings) -> dict:
    return {
        "cpu": str(facts.cpus),
        "memory": f"{facts.memory_bytes // 1024}Ki",
        "pods": str(settings.max_pods),
        "ephemeral-storage": f"{facts.ephemeral_storage_bytes // 1024}Ki",
    }


def allocatable(facts: MachineFacts, settings: NodeSettings) -> dict:
    """Capacity less what the node keeps for itself (system-reserved memory)."""
    alloc = capacity(facts, settings)
    memory = max(0, facts.memory_bytes - settings.system_reserved_memory)
    alloc["memory"] = f"{memory // 1024}Ki"
    return alloc


def node_labels(facts: MachineFacts, settings: NodeSettings) -> dict:
    """The well-known labels every kubelet sets, plus the user's own."""
    return {
        "kubernetes.io/arch": facts.architecture,
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": settings.name,
        "beta.kubernetes.io/arch": facts.architecture,
        "beta.kubernetes.io/os": "linux",
        **settings.labels,
    }


def node_object(facts: MachineFacts, settings: NodeSettings) -> dict:
    """The Node the agent creates when it first registers."""
    spec: dict = {}
    if settings.pod_cidr:
        spec["podCIDR"] = settings.pod_cidr
        spec["podCIDRs"] = [settings.pod_cidr]
    if settings.taints:
        spec["taints"] = [dict(t) for t in settings.taints]
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": settings.name, "labels": node_labels(facts, settings)},
            "spec": spec}


def node_info(facts: MachineFacts) -> dict:
    return {
        "machineID": facts.machine_id, "systemUUID": facts.machine_id, "bootID": facts.boot_id,
        "kernelVersion": facts.kernel_version, "osImage": facts.os_image,
        "containerRuntimeVersion": f"runc://tinykube-{__version__}",
        "kubeletVersion": "v1.32.0-tinykube", "kubeProxyVersion": "",
        "operatingSystem": "linux", "architecture": facts.architecture,
    }


def node_status(facts: MachineFacts, settings: NodeSettings, conditions: NodeConditions, *,
                now: str, previous: dict | None = None) -> dict:
    """status of the Node; condition transition times move only when a status flips."""
    addresses = [{"type": t, "address": a} for t, a in settings.addresses]
    if not any(t == "Hostname" for t, _ in settings.addresses):
        addresses.append({"type": "Hostname", "address": settings.name})
    return {
        "capacity": capacity(facts, settings),
        "allocatable": allocatable(facts, settings),
        "conditions": _conditions(conditions, now, (previous or {}).get("conditions") or []),
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": settings.kubelet_port}},
        "nodeInfo": node_info(facts),
    }


_PRESSURE = (
    ("MemoryPressure", "memory_pressure", "KubeletHasSufficientMemory", "KubeletHasInsufficientMemory",
     "kubelet has sufficient memory available", "kubelet has insufficient memory available"),
    ("DiskPressure", "disk_pressure", "KubeletHasNoDiskPressure", "KubeletHasDiskPressure",
     "kubelet has no disk pressure", "kubelet has disk pressure"),
    ("PIDPressure", "pid_pressure", "KubeletHasSufficientPID", "KubeletHasInsufficientPID",
     "kubelet has sufficient PID available", "kubelet has insufficient PID available"),
)


def _conditions(state: NodeConditions, now: str, previous: list[dict]) -> list[dict]:
    before = {c.get("type"): c for c in previous}
    out = []
    for kind, attr, ok_reason, bad_reason, ok_message, bad_message in _PRESSURE:
        bad = getattr(state, attr)
        out.append(_condition(kind, "True" if bad else "False", bad_reason if bad else ok_reason,
                              bad_message if bad else ok_message, now, before.get(kind)))
    ready = "True" if state.ready else "False"
    reason = "KubeletReady" if state.ready else "KubeletNotReady"
    out.append(_condition("Ready", ready, reason, state.ready_message, now, before.get("Ready")))
    return out


def _condition(kind: str, status: str, reason: str, message: str, now: str, before: dict | None) -> dict:
    changed = before is None or before.get("status") != status
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now if changed else before.get("lastTransitionTime", now)}


def lease_object(node_name: str, node_uid: str, *, now_micro: str) -> dict:
    """The node's Lease in kube-node-lease, owned by its Node (as the kubelet makes it)."""
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": node_name, "namespace": NODE_LEASE_NAMESPACE,
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": node_name,
                                          "uid": node_uid}]},
        "spec": {"holderIdentity": node_name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                 "renewTime": now_micro},
    }
