"""One pod's containers on disk: ids, overlay root filesystems, OCI bundles, logs.

A container instance is named `<pod uid>_<container name>_<attempt>` (container names are
DNS labels, so `_` cannot appear in them): from runc's and the monitors' directories alone
a restarted agent knows every instance of every pod, its restart count (the latest
attempt) and how the previous one ended.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

from tinykube.agent.runtime import linux

OVERLAY_FLAGS = 0


@dataclass(frozen=True)
class InstanceId:
    pod_uid: str
    name: str
    attempt: int

    def __str__(self) -> str:
        return f"{self.pod_uid}_{self.name}_{self.attempt}"

    @classmethod
    def parse(cls, text: str) -> "InstanceId | None":
        parts = text.split("_")
        if len(parts) != 3 or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]))


def instances_of(ids: list[str], pod_uid: str) -> dict[str, list[InstanceId]]:
    """{container name: its instances, oldest first} for one pod."""
    out: dict[str, list[InstanceId]] = {}
    for text in ids:
        parsed = InstanceId.parse(text)
        if parsed and parsed.pod_uid == pod_uid:
            out.setdefault(parsed.name, []).append(parsed)
    for instances in out.values():
        instances.sort(key=lambda i: i.attempt)
    return out


class PodDirs:
    """DATA/pods/<uid>/: volumes/, containers/<instance>/ (bundle), and the pod's logs."""

    def __init__(self, data_dir: str, pod: dict):
        md = pod["metadata"]
        self.uid = md["uid"]
        self.root = os.path.join(data_dir, "pods", self.uid)
        self.logs = os.path.join(data_dir, "logs", f'{md.get("namespace", "")}_{md["name"]}_{self.uid}')

    def volume(self, name: str) -> str:
        return os.path.join(self.root, "volumes", name)

    def bundle(self, instance: InstanceId) -> str:
        return os.path.join(self.root, "containers", str(instance))

    def log(self, instance: InstanceId) -> str:
        """The kubelet's layout: <logs>/<container>/<restart count>.log."""
        return os.path.join(self.logs, instance.name, f"{instance.attempt}.log")

    def termination_log(self, instance: InstanceId) -> str:
        return os.path.join(self.bundle(instance), "termination-log")


def mount_rootfs(bundle: str, layers: list[str]) -> str:
    """An overlayfs of the image's layers (read-only, shared) under a private upper dir."""
    rootfs, upper, work = (os.path.join(bundle, d) for d in ("rootfs", "upper", "work"))
    for path in (rootfs, upper, work):
        os.makedirs(path, exist_ok=True)
    if os.path.ismount(rootfs):
        return rootfs
    lower = ":".join(reversed(layers))  # overlayfs lists the top layer first
    linux.mount("overlay", rootfs, "overlay", OVERLAY_FLAGS,
                f"lowerdir={lower},upperdir={upper},workdir={work}")
    return rootfs


def write_bundle(bundle: str, config: dict) -> None:
    path = os.path.join(bundle, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump(config, f)
    os.replace(path + ".tmp", path)


def remove_bundle(bundle: str) -> None:
    """Unmount the container's root filesystem and delete its directory."""
    rootfs = os.path.join(bundle, "rootfs")
    if os.path.ismount(rootfs):
        linux.umount(rootfs)
    shutil.rmtree(bundle, ignore_errors=True)
