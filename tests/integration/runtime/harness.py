"""A stand-in for the agent in container-runtime tests: busybox "images", sandboxes and
containers with real runc, everything named with a per-run prefix and torn down by PID,
mount point and cgroup path, then checked gone.

The rootfs is Debian's static busybox (/bin/busybox) with one relative symlink per
applet, copied per container (a real agent gives each container its own overlay)."""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import signal
from dataclasses import replace
from pathlib import Path

from tests.waiting import async_wait_for, wait_for
from tinykube.agent.runtime import (Cgroups, ImageConfig, Runc, RuntimeConfig, Sandbox,
                                    SandboxConfig, container_spec, pod_cgroup_path)
from tinykube.agent.runtime import etcfiles
from tinykube.agent.runtime.hostinfo import probe_runtime_config
from tinykube.agent.runtime.linux import mount_points_under

BUSYBOX = "/bin/busybox"
REPO = str(Path(__file__).resolve().parents[3])


def missing_prerequisites() -> str:
    if os.geteuid() != 0:
        return "needs root"
    if not shutil.which("runc"):
        return "needs runc (scripts/install-deps.sh)"
    if not os.path.exists(BUSYBOX):
        return "needs busybox-static (/bin/busybox)"
    return ""


def busybox_rootfs(path: Path) -> Path:
    (path / "bin").mkdir(parents=True)
    for d in ("etc", "proc", "sys", "dev", "tmp", "root"):
        (path / d).mkdir()
    shutil.copy(BUSYBOX, path / "bin" / "busybox")
    applets = os.popen(f"{BUSYBOX} --list").read().split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", path / "bin" / applet)
    (path / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n")
    (path / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return path


# runtime tests poll fast: their states change in milliseconds
wait_until = functools.partial(wait_for, timeout=10.0, interval=0.02)
async_wait_until = functools.partial(async_wait_for, timeout=10.0, interval=0.02)


def pod(name: str, *, uid: str | None = None, containers=(), **spec) -> dict:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid or secrets.token_hex(8)},
            "spec": {"containers": list(containers), **spec}}


class Harness:
    def __init__(self, tmp: Path):
        self.prefix = f"tk-{secrets.token_hex(3)}-"
        self.tmp = tmp
        self.runtime: RuntimeConfig = probe_runtime_config(cgroup_root=f"/{self.prefix}cg", host_devices=())
        self.cgroups = Cgroups()
        self.runc = Runc(tmp / "state", cgroups=self.cgroups)
        self.sandbox_root = tmp / "sandboxes"
        self.sandboxes: list[Sandbox] = []
        self.container_ids: list[str] = []

    # --- building blocks -------------------------------------------------------------------

    async def sandbox(self, the_pod: dict, **config) -> Sandbox:
        hostname, _ = etcfiles.pod_hostname(the_pod)
        hosts = etcfiles.hosts_file(pod_ips=["10.42.0.5"], hostname=hostname)
        sid = f"{self.prefix}{the_pod['metadata']['name']}"
        sandbox = Sandbox(self.sandbox_root, SandboxConfig(
            id=sid, hostname=hostname, hosts=hosts, resolv_conf="nameserver 127.0.0.1\n", **config))
        self.sandboxes.append(sandbox)
        return await sandbox.create()

    def bundle(self, the_pod: dict, container: dict, sandbox: Sandbox, *, env=(), **kw) -> tuple[str, Path, dict]:
        cid = f"{self.prefix}{the_pod['metadata']['name']}-{container['name']}"
        bundle = self.tmp / "bundles" / cid
        rootfs = busybox_rootfs(bundle / "rootfs")
        spec = container_spec(pod=the_pod, container=container, image=ImageConfig(), rootfs=str(rootfs),
                              env=list(env), sandbox=sandbox.paths, container_id=cid,
                              runtime=kw.pop("runtime", self.runtime), **kw)
        (bundle / "config.json").write_text(json.dumps(spec.config, indent=1))
        return cid, bundle, spec.config

    async def run(self, the_pod: dict, container: dict, sandbox: Sandbox, **kw) -> str:
        """Create and start a container; its id. Its log is log_path(id)."""
        cid, bundle, _ = self.bundle(the_pod, container, sandbox, **kw)
        self.container_ids.append(cid)
        await self.runc.create(cid, bundle, log_path=self.log_path(cid))
        await self.runc.start(cid)
        return cid

    def log_path(self, cid: str) -> Path:
        return self.tmp / "logs" / f"{cid}.log"

    def log(self, cid: str) -> str:
        path = self.log_path(cid)
        return path.read_text() if path.exists() else ""

    def log_messages(self, cid: str, stream: str = "stdout") -> list[str]:
        """The message part of each CRI line of one stream."""
        lines = (line.split(" ", 3) for line in self.log(cid).splitlines())
        return [message for _stamp, s, _tag, message in lines if s == stream]

    def container_cgroup(self, the_pod: dict, cid: str) -> str:
        return f"{pod_cgroup_path(self.runtime, the_pod['metadata']['uid'])}/{cid}"

    def with_runtime(self, **changes) -> RuntimeConfig:
        return replace(self.runtime, **changes)

    # --- teardown and checks ---------------------------------------------------------------

    async def teardown(self) -> None:
        for cid in self.runc.ids():
            await self.runc.remove(cid)
        for sandbox in self.sandboxes:
            await sandbox.destroy()
        self.cgroups.remove(self.runtime.cgroup_root)
        self.kill_our_monitors()

    def our_monitors(self) -> list[int]:
        """PIDs of monitor processes started for this harness's state directory."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if str(self.runc.root).encode() in argv:
                    found.append(int(entry))
        return found

    def kill_our_monitors(self) -> None:
        for pid in self.our_monitors():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    async def leftovers(self) -> list[str]:
        """Everything this harness created that still exists."""
        found = [f"runc container {c['id']}" for c in await self.runc.list()]
        found += [f"mount {m}" for m in mount_points_under(str(self.tmp))]
        if self.cgroups.exists(self.runtime.cgroup_root):
            found.append(f"cgroup {self.runtime.cgroup_root}")
        found += [f"monitor process {pid}" for pid in self.our_monitors()]
        found += [f"container process {pid}" for pid in self.container_processes()]
        return found

    def container_processes(self) -> list[int]:
        """Processes whose root is one of our bundles' rootfs."""
        bundles = str(self.tmp / "bundles")
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    root = os.readlink(f"/proc/{entry}/root")
                except OSError:
                    continue
                if root.startswith(bundles):
                    found.append(int(entry))
        return found
