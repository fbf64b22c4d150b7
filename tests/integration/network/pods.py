"""Pod objects and probes shared by the pod-networking integration tests."""

from __future__ import annotations

import ipaddress
import os
import uuid

from .nodens import BUSYBOX, in_netns, run


def make_pod(name: str, *, host_ports: dict[int, int] | None = None) -> dict:
    """A minimal Pod as the agent sees it; host_ports maps hostPort -> containerPort."""
    ports = [{"containerPort": c, "hostPort": h, "protocol": "TCP"}
             for h, c in (host_ports or {}).items()]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "uid": str(uuid.uuid4())},
            "spec": {"containers": [{"name": "c", "image": "busybox", "ports": ports}]}}


def ping(netns_path: str, ip: str) -> bool:
    return run(in_netns(netns_path, [BUSYBOX, "ping", "-c1", "-W1", ip]), check=False).returncode == 0


def ipam_files(data_dir: str, network: str) -> set[str]:
    """The IPs host-local holds for `network` (one file per allocated address)."""
    directory = os.path.join(data_dir, "network", "ipam", network)
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return set()
    return {n for n in names if _is_ip(n)}


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False
