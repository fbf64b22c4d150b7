"""`tinykube up`: the control plane and a node agent in one process run a pod."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import KUBECTL, REPO, free_port
from tests.integration.agent.cleanup import force_cleanup
from tests.integration.images.ocibuild import busybox_archive
from tests.integration.network.nodens import TestNetwork, missing_prerequisites
from tests.waiting import wait_for
from tinykube.agent.images import ImageService
from tinykube.agent.runtime import Runc

pytestmark = pytest.mark.integration


def test_up_runs_a_pod(tmp_path):
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    net = TestNetwork()
    proc = None
    data_dir = str(tmp_path / "cluster")
    env = {**os.environ, "KUBECONFIG": os.path.join(data_dir, "kubeconfig.yaml")}
    try:
        node = net.add_node("n1")
        asyncio.run(_import(data_dir, busybox_archive(str(tmp_path))))  # as `tinykube image import` does
        port = free_port()
        log = open(tmp_path / "up.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tinykube.cli.main", "up", "--data-dir", data_dir, "--port", str(port),
             "--node-name", "solo", "--node-ip", node.ip, "--host-netns", node.netns_path,
             "--bridge", f"{net.prefix}b", "--pod-cidr", "10.42.88.0/24"],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()
        kubectl = lambda *a, **kw: subprocess.run([KUBECTL, *a], capture_output=True, text=True,  # noqa: E731
                                                  env=env, timeout=60, **kw)
        wait_for(lambda: kubectl("get", "node", "solo").returncode == 0, timeout=30, what="node registered")
        manifest = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\nspec:\n  nodeName: solo\n"
                    "  containers:\n  - name: app\n    image: busybox:1.36\n    imagePullPolicy: Never\n"
                    "    command: [/bin/busybox, sh, -c, 'while true; do sleep 1; done']\n")
        assert kubectl("apply", "-f", "-", input=manifest).returncode == 0
        wait_for(lambda: json.loads(kubectl("get", "pod", "hello", "-o", "json").stdout or "{}")
                 .get("status", {}).get("phase") == "Running", timeout=30, what="pod running")
        wide = kubectl("get", "pod", "hello", "-o", "wide").stdout
        assert "Running" in wide and "10.42.88." in wide and "solo" in wide
        assert kubectl("delete", "pod", "hello", "--grace-period=1", "--timeout=30s").returncode == 0
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        force_cleanup(data_dir)
        net.cleanup()


def test_down_stops_a_stopped_nodes_pods_and_the_next_up_starts_them_again(tmp_path):
    """`tinykube up` stopped leaves its pod running (adopted at the next start, as k3s);
    `tinykube down` (k3s-killall) stops it and removes the node's network; the objects
    stay, so the next `up` runs the pod again. `down` refuses while the node runs."""
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    net = TestNetwork()
    proc = None
    data_dir = str(tmp_path / "cluster")
    env = {**os.environ, "KUBECONFIG": os.path.join(data_dir, "kubeconfig.yaml")}
    try:
        node = net.add_node("n1")
        asyncio.run(_import(data_dir, busybox_archive(str(tmp_path))))
        node_flags = ["--data-dir", data_dir, "--host-netns", node.netns_path, "--bridge", f"{net.prefix}b",
                      "--pod-cidr", "10.42.88.0/24"]
        up = [sys.executable, "-m", "tinykube.cli.main", "up", "--port", str(free_port()), "--node-name", "solo",
              "--node-ip", node.ip, *node_flags]
        down = [sys.executable, "-m", "tinykube.cli.main", "down", *node_flags]
        kubectl = lambda *a, **kw: subprocess.run([KUBECTL, *a], capture_output=True, text=True,  # noqa: E731
                                                  env=env, timeout=60, **kw)
        proc = _start(up, tmp_path / "up.log")
        wait_for(lambda: kubectl("get", "node", "solo").returncode == 0, timeout=30, what="node registered")
        manifest = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\nspec:\n  nodeName: solo\n"
                    "  terminationGracePeriodSeconds: 1\n"
                    "  containers:\n  - name: app\n    image: busybox:1.36\n    imagePullPolicy: Never\n"
                    "    command: [/bin/busybox, sh, -c, 'while true; do sleep 1; done']\n"
                    "    ports: [{containerPort: 8080, hostPort: 18080}]\n")
        assert kubectl("apply", "-f", "-", input=manifest).returncode == 0
        first = wait_for(lambda: _running_uid(kubectl), timeout=30, what="pod running")

        busy = subprocess.run(down, capture_output=True, text=True, cwd=REPO, timeout=60)
        assert busy.returncode == 1 and "a node agent is running on" in busy.stderr, busy
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        # the components stop before the API server, so they release their Leases and the
        # service proxy and DNS remove their table and interface through it, at once
        assert time.monotonic() - stopping < 8
        assert "could not release" not in (tmp_path / "up.log").read_text()
        assert "tinykube-dns" not in node.links()
        assert "table ip tinykube {" not in node.run(["nft", "list", "ruleset"]).stdout
        runc = Runc(os.path.join(data_dir, "runtime"))
        assert [runc.monitor_alive(i) for i in runc.ids()] == [True], "the pod outlives the stopped node"
        before = _host_network(node, f"{net.prefix}b")
        assert before["bridge"] and before["unreachable routes"] and before["rules"], before

        done = subprocess.run(down, capture_output=True, text=True, cwd=REPO, timeout=120)
        assert done.returncode == 0, done
        assert "1 pod(s) stopped and removed" in done.stdout, done.stdout
        assert runc.ids() == [] and os.listdir(os.path.join(data_dir, "sandboxes")) == []
        assert _host_network(node, f"{net.prefix}b") == {"bridge": False, "unreachable routes": "", "rules": []}
        ipam = os.path.join(data_dir, "network", "ipam")
        assert not [f for _, _, files in os.walk(ipam) for f in files if f.startswith("10.42.")], "IPs released"

        proc = _start(up, tmp_path / "up-again.log")
        again = wait_for(lambda: _running_uid(kubectl), timeout=60, what="the pod running again")
        assert again == first  # the same object; its containers started anew
        assert kubectl("delete", "pod", "hello", "--timeout=30s").returncode == 0
    finally:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        force_cleanup(data_dir)
        net.cleanup()


def _start(argv: list[str], log_path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def _running_uid(kubectl) -> str:
    pod = json.loads(kubectl("get", "pod", "hello", "-o", "json").stdout or "{}")
    return pod["metadata"]["uid"] if pod.get("status", {}).get("phase") == "Running" else ""


def _host_network(node, bridge: str) -> dict:
    """What the node's network namespace holds of tinykube's."""
    routes = node.run(["ip", "route", "show", "type", "unreachable"]).stdout.strip()
    # portmap's shared CNI-HOSTPORT-* chains stay (other CNI users of the host may share
    # them, as with any CNI runtime); nothing of this node's pods or tables may
    ruleset = node.run(["nft", "list", "ruleset"]).stdout
    ours = [line.strip() for line in ruleset.splitlines()
            if "10.42." in line or "18080" in line or (line.startswith("table") and "tinykube" in line)]
    return {"bridge": bridge in node.links(), "unreachable routes": routes, "rules": ours}


async def _import(data_dir: str, archive: str) -> None:
    images = ImageService(data_dir)
    await images.import_archive(archive)
    await images.close()
