"""Tearing a node down after its agent stopped (`tinykube down`, k3s-killall's part).

A stopped agent leaves its pods running (they are adopted at its next start) and its
network in place, as k3s does. `tear_down` removes all of it, using the agent's own code
for a pod deleted while it was away: every pod's containers stopped (SIGTERM, then
SIGKILL after a short grace), their CNI attachments deleted (addresses back to IPAM,
hostPort rules gone), sandboxes, mounts and cgroups removed; then the unreachable routes,
the masquerade table and the pod bridge. The API objects are kept: the pods are started
again by the next `tinykube up`, as after a node reboot.

The agent holds `NodeLock` on its data dir while it runs, so a teardown never races a
live agent that would restart what it stops.
"""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass, field

from tinykube.agent.images import ImageService
from tinykube.agent.network import NetworkSettings, NodeNetwork
from tinykube.agent.network.host import run_process
from tinykube.agent.pods import NodeContext, pods_on_node, remove_orphan
from tinykube.agent.runtime import Cgroups, Runc
from tinykube.agent.runtime.hostinfo import probe_runtime_config

log = logging.getLogger(__name__)

LOCK_FILE = "agent.lock"


class NodeBusy(Exception):
    """A node agent is running on this data dir."""


class NodeLock:
    """An exclusive flock on <data dir>/agent.lock, held for an agent's lifetime (the
    kernel drops it when the process dies, even by SIGKILL)."""

    def __init__(self, data_dir: str):
        self.path = os.path.join(data_dir, LOCK_FILE)
        self.fd = -1

    def acquire(self) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_text(fd)
            os.close(fd)
            raise NodeBusy(f"a node agent is running on {os.path.dirname(self.path)}"
                           + (f" (pid {holder})" if holder else "") + ": stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> NodeLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _read_text(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode(errors="replace").strip()
    except OSError:
        return ""


@dataclass
class Teardown:
    """What tear_down removed."""
    pods: list[str] = field(default_factory=list)  # pod UIDs
    bridge: bool = False
    problems: list[str] = field(default_factory=list)


async def tear_down(settings: NetworkSettings) -> Teardown:
    """Stop and remove every pod the node agent of settings.data_dir left, then its host
    network. Raises NodeBusy while an agent runs there."""
    report = Teardown()
    with NodeLock(settings.data_dir):
        network = NodeNetwork(settings)
        await network.start()  # reads the network the pods were attached with
        images = ImageService(settings.data_dir)  # the containers' image leases are released
        try:
            await _remove_pods(_context(settings.data_dir, network, images), report)
        finally:
            await images.close()
        await network.stop(cleanup=True)  # unreachable routes, masquerade table
        report.bridge = await _delete_link(network.host.argv, settings.bridge, report)
    return report


async def _remove_pods(ctx: NodeContext, report: Teardown) -> None:
    for uid in sorted(pods_on_node(ctx)):
        try:
            await remove_orphan(ctx, uid)
            report.pods.append(uid)
        except Exception as exc:  # one stuck pod must not keep the rest running
            log.exception("tearing down pod %s", uid)
            report.problems.append(f"pod {uid}: {exc}")


def _context(data_dir: str, network: NodeNetwork, images: ImageService) -> NodeContext:
    return NodeContext(data_dir=data_dir, node_name="", host_ip="", client=None, recorder=None,
                       runc=Runc(os.path.join(data_dir, "runtime"), cgroups=Cgroups()), images=images,
                       image_manager=None, network=network, runtime_config=probe_runtime_config(),
                       configmaps=None, secrets=None)


async def _delete_link(argv, name: str, report: Teardown) -> bool:
    """Delete the pod bridge; False when there was none."""
    shown = await run_process(argv(["ip", "link", "show", "dev", name]))
    if shown.returncode:
        return False
    deleted = await run_process(argv(["ip", "link", "del", "dev", name]))
    if deleted.returncode:
        report.problems.append(f"bridge {name}: {deleted.stderr.decode(errors='replace').strip()}")
        return False
    return True
