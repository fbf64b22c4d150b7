"""The mounts of a container's OCI spec (pure functions).

First containerd's default mounts for CRI containers (its default spec minus /run): /proc,
a tmpfs /dev, /dev/pts, /dev/mqueue, a read-only /sys and /sys/fs/cgroup (writable for
privileged containers). Then, as CRI mounts: the pod's /dev/shm, /etc/hostname,
/etc/hosts, /etc/resolv.conf from the sandbox, and the agent's volume mounts; a CRI mount
replaces a default mount with the same destination, and CRI mounts are ordered by depth
(parents first, stable), as containerd's WithMounts does.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from .model import SandboxPaths, VolumeMount

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]

# Kubernetes mountPropagation -> bind mount propagation option (containerd's WithMounts).
PROPAGATION = {"None": "rprivate", "HostToContainer": "rslave", "Bidirectional": "rshared"}


def default_mounts(*, privileged: bool) -> list[dict]:
    sys_mode = "rw" if privileged else "ro"
    return [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": list(_NOSUID_NOEXEC_NODEV)},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": list(_NOSUID_NOEXEC_NODEV)},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": [*_NOSUID_NOEXEC_NODEV, sys_mode]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": [*_NOSUID_NOEXEC_NODEV, "relatime", sys_mode]},
    ]


def bind(source: str, destination: str, *, read_only: bool = False, propagation: str = "None") -> dict:
    mode = "ro" if read_only else "rw"
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", PROPAGATION.get(propagation, "rprivate"), mode]}


def sandbox_mounts(sandbox: SandboxPaths, *, read_only_rootfs: bool) -> list[dict]:
    """/dev/shm, /etc/hostname, /etc/hosts and /etc/resolv.conf of the pod. hostname and
    resolv.conf follow readOnlyRootFilesystem as in containerd; /etc/hosts is the kubelet's
    mount, always writable."""
    out = [bind(sandbox.shm, "/dev/shm")]
    if sandbox.hostname_file:
        out.append(bind(sandbox.hostname_file, "/etc/hostname", read_only=read_only_rootfs))
    if sandbox.hosts_file:
        out.append(bind(sandbox.hosts_file, "/etc/hosts"))
    if sandbox.resolv_conf:
        out.append(bind(sandbox.resolv_conf, "/etc/resolv.conf", read_only=read_only_rootfs))
    return out


def volume_mounts(volumes: Sequence[VolumeMount]) -> list[dict]:
    return [bind(v.source, v.destination, read_only=v.read_only, propagation=v.propagation)
            for v in volumes]


def rootfs_propagation(volumes: Sequence[VolumeMount]) -> str:
    """rshared with a Bidirectional mount, rslave with a HostToContainer one (containerd),
    else "" (runc's default)."""
    kinds = {v.propagation for v in volumes}
    if "Bidirectional" in kinds:
        return "rshared"
    return "rslave" if "HostToContainer" in kinds else ""


def merge(defaults: list[dict], cri: list[dict]) -> list[dict]:
    """Defaults minus those a CRI mount replaces, then CRI mounts parents-first. Among CRI
    mounts with one destination the last wins (the agent's volumes over sandbox files)."""
    by_destination: dict[str, dict] = {}
    for m in cri:
        by_destination[posixpath.normpath(m["destination"])] = m
    kept = [m for m in defaults if posixpath.normpath(m["destination"]) not in by_destination]
    ordered = sorted(by_destination.values(), key=lambda m: _depth(m["destination"]))
    return kept + ordered


def _depth(destination: str) -> int:
    return len([p for p in posixpath.normpath(destination).split("/") if p])
