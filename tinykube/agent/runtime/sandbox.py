"""The pod sandbox: the namespaces and files a pod's containers share, for the pod's life.

Choice: pinned namespace files, as CRI-O does, not a pause process. A fresh thread
unshares new network, IPC and UTS namespaces, sets the pod's hostname and brings `lo` up in
them, and bind-mounts them onto files in the sandbox directory (linux.py); the bind
mounts keep them alive with no process at all. Why: nothing to start (sub-millisecond
instead of a runc container, which costs ~30 ms and a process per pod), nothing that can
die and take the pod's network with it, nothing to re-adopt after an agent restart (the
files are the state). The cost: no pod-wide PID namespace (shareProcessNamespace needs a
process to be its init), reported as a warning.

Layout of DIR/<id>/ (DIR on tmpfs, e.g. /run/tinykube/sandboxes: gone with a reboot,
as the namespaces are):
  ns/net ns/ipc ns/uts   pinned namespaces (absent for hostNetwork / hostIPC pods)
  shm/                   the pod's /dev/shm, a 64 MiB tmpfs (containerd's default)
  hostname hosts resolv.conf   bind-mounted into every container
  sandbox.json           the configuration, so a restarted agent can load the sandbox

The network part of the agent runs CNI ADD with `sandbox.netns_path` after `create`, and
CNI DEL before `destroy`. Side effects go through a host object (LinuxHost, or a fake).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from . import etcfiles
from .errors import SandboxError
from .model import SandboxPaths

SHM_SIZE = 64 * 1024 * 1024  # containerd's defaultShmSize
HOST_SHM = "/dev/shm"


@dataclass(frozen=True)
class SandboxConfig:
    """What a sandbox is made from. `hosts`/`resolv_conf` are file contents (None: the
    containers get no such mount); the hostname of a hostNetwork pod is the node's."""

    id: str
    hostname: str
    host_network: bool = False
    host_ipc: bool = False
    hosts: str | None = None
    resolv_conf: str | None = None
    shm_size: int = SHM_SIZE
    loopback_up: bool = True  # CNI's loopback plugin does it too; harmless twice


class Sandbox:
    def __init__(self, root: str | os.PathLike, config: SandboxConfig, *, host=None):
        self.config = config
        self.dir = Path(root) / config.id
        self.host = host if host is not None else _default_host()

    # --- paths -----------------------------------------------------------------------------

    def _namespaces(self) -> dict[str, str]:
        """The namespaces this sandbox pins: kind -> file."""
        kinds = ([] if self.config.host_network else ["net", "uts"]) + \
                ([] if self.config.host_ipc else ["ipc"])
        return {kind: str(self.dir / "ns" / kind) for kind in kinds}

    @property
    def netns_path(self) -> str | None:
        """For CNI (CNI_NETNS); None for hostNetwork pods."""
        return self._namespaces().get("net")

    @property
    def paths(self) -> SandboxPaths:
        ns = self._namespaces()
        return SandboxPaths(
            netns=ns.get("net"), ipcns=ns.get("ipc"), utsns=ns.get("uts"),
            shm=HOST_SHM if self.config.host_ipc else str(self.dir / "shm"),
            hostname=self.config.hostname, hostname_file=str(self.dir / "hostname"),
            hosts_file=str(self.dir / "hosts") if self.config.hosts is not None else None,
            resolv_conf=str(self.dir / "resolv.conf") if self.config.resolv_conf is not None else None)

    # --- lifecycle -----------------------------------------------------------------------

    async def create(self) -> "Sandbox":
        """Make the namespaces, /dev/shm and files; on failure undo everything."""
        try:
            self.dir.mkdir(parents=True)
        except FileExistsError:
            raise SandboxError(f"sandbox {self.config.id} already exists") from None
        try:
            await self._create()
        except BaseException as e:
            await self.destroy()
            if isinstance(e, OSError):
                raise SandboxError(f"creating sandbox {self.config.id}: {e}") from e
            raise
        return self

    async def _create(self) -> None:
        self._write("sandbox.json", json.dumps(asdict(self.config), indent=1))
        self._write_etc_files()
        if not self.config.host_ipc:
            (self.dir / "shm").mkdir()
            self.host.mount_tmpfs(str(self.dir / "shm"), f"mode=1777,size={self.config.shm_size}")
        files = self._namespaces()
        if files:
            (self.dir / "ns").mkdir()
            for path in files.values():
                Path(path).touch()
            await self.host.pin(files, hostname=self.config.hostname,
                                loopback=self.config.loopback_up)

    def _write_etc_files(self) -> None:
        self._write("hostname", etcfiles.hostname_file(self.config.hostname))
        if self.config.hosts is not None:
            self._write("hosts", self.config.hosts)
        if self.config.resolv_conf is not None:
            self._write("resolv.conf", self.config.resolv_conf)

    def write_hosts(self, text: str) -> None:
        """Rewrite /etc/hosts in place (the pod IP is known only after CNI ADD); the
        containers see it through their bind mounts, so the inode must stay."""
        with open(self.dir / "hosts", "w") as f:
            f.write(text)

    async def destroy(self) -> None:
        """Unmount everything under the sandbox directory (pinned namespaces, shm, even
        leftovers of a half-done create) and remove it. Safe to repeat."""
        if not self.dir.exists():
            return
        for point in self.host.mounts_under(str(self.dir)):
            self.host.unmount(point)
        shutil.rmtree(self.dir)

    def exists(self) -> bool:
        return (self.dir / "sandbox.json").exists()

    def _write(self, name: str, text: str) -> None:
        tmp = self.dir / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.dir / name)

    # --- loading after an agent restart ------------------------------------------------

    @classmethod
    def load(cls, root: str | os.PathLike, id: str, *, host=None) -> "Sandbox | None":
        try:
            with open(Path(root) / id / "sandbox.json") as f:
                config = SandboxConfig(**json.load(f))
        except FileNotFoundError:
            return None
        return cls(root, config, host=host)

    @staticmethod
    def ids(root: str | os.PathLike) -> list[str]:
        root = Path(root)
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def _default_host():
    from .linux import LinuxHost  # ctypes and libc only when really touching the machine
    return LinuxHost()
