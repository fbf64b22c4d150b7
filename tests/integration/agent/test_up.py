"""`tinykube up`: the control plane and a node agent in one process run a pod; `tinykube
 down` removes what a stopped node left."""

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


class SoloNode:
    """`tinykube up` as a user runs it, its node in a test network namespace."""

    def __init__(self, tmp_path, net: TestNetwork):
        self.tmp, self.net = tmp_path, net
        self.node = net.add_node("n1")
        self.data_dir = str(tmp_path / "cluster")
        self.env = {**os.environ, "KUBECONFIG": os.path.join(self.data_dir, "kubeconfig.yaml")}
        self.bridge = f"{net.prefix}b"
        node_flags = ["--data-dir", self.data_dir, "--host-netns", self.node.netns_path, "--bridge", self.bridge,
                      "--pod-cidr", "10.42.88.0/24"]
        self.up_argv = [sys.executable, "-m", "tinykube.cli.main", "up", "--port", str(free_port()),
                        "--node-name", "solo", "--node-ip", self.node.ip, *node_flags]
        self.down_argv = [sys.executable, "-m", "tinykube.cli.main", "down", *node_flags]
        self.proc: subprocess.Popen | None = None
        asyncio.run(_import(self.data_dir, busybox_archive(str(tmp_path))))  # as `tinykube image import` does

    def up(self, log_name: str) -> None:
        with open(self.tmp / log_name, "wb") as log:
            self.proc = subprocess.Popen(self.up_argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        wait_for(lambda: self.kubectl("get", "node", "solo").returncode == 0, timeout=30, what="node registered")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)

    def down(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.down_argv, capture_output=True, text=True, cwd=REPO, timeout=120)

    def kubectl(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=self.env, timeout=60, **kw)

    def running_uid(self, name: str) -> str:
        pod = json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout or "{}")
        return pod["metadata"]["uid"] if pod.get("status", {}).get("phase") == "Running" else ""


@pytest.fixture
def solo(tmp_path):
    reason = missing_prerequisites()
    if reason:
        pytest.skip(reason)
    net = TestNetwork()
    node = None
    try:
        node = SoloNode(tmp_path, net)
        yield node
    finally:
        if node is not None:
            node.stop()
            force_cleanup(node.data_dir)
        net.cleanup()


HELLO = ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: hello\nspec:\n  nodeName: solo\n"
         "  terminationGracePeriodSeconds: 1\n"
         "  containers:\n  - name: app\n    image: busybox:1.36\n    imagePullPolicy: Never\n"
         "    command: [/bin/busybox, sh, -c, 'while true; do sleep 1; done']\n"
         "    ports: [{containerPort: 8080, hostPort: 18080}]\n")


def test_up_runs_a_pod(solo):
    solo.up("up.log")
    assert solo.kubectl("apply", "-f", "-", input=HELLO).returncode == 0
    wait_for(lambda: solo.running_uid("hello"), timeout=30, what="pod running")
    wide = solo.kubectl("get", "pod", "hello", "-o", "wide").stdout
    assert "Running" in wide and "10.42.88." in wide and "solo" in wide
    assert solo.kubectl("delete", "pod", "hello", "--grace-period=1", "--timeout=30s").returncode == 0


def test_down_stops_a_stopped_nodes_pods_and_the_next_up_starts_them_again(solo):
    """`tinykube up` stopped leaves its pod running (adopted at the next start, as k3s);
    `tinykube down` (k3s-killall) stops it and removes the node's network; the objects
    stay, so the next `up` runs the pod again. `down` refuses while the node runs."""
    solo.up("up.log")
    assert solo.kubectl("apply", "-f", "-", input=HELLO).returncode == 0
    first = wait_for(lambda: solo.running_uid("hello"), timeout=30, what="pod running")

    busy = solo.down()
    assert busy.returncode == 1 and "a node agent is running on" in busy.stderr, busy
    stopping = time.monotonic()
    solo.stop()
    # the components stop before the API server, so they release their Leases and the
    # service proxy and DNS remove their table and interface through it, at once
    assert time.monotonic() - stopping < 8
    assert "could not release" not in (solo.tmp / "up.log").read_text()
    assert "tinykube-dns" not in solo.node.links()
    assert "table ip tinykube {" not in solo.node.run(["nft", "list", "ruleset"]).stdout
    runc = Runc(os.path.join(solo.data_dir, "runtime"))
    assert [runc.monitor_alive(i) for i in runc.ids()] == [True], "the pod outlives the stopped node"
    before = _host_network(solo.node, solo.bridge)
    assert before["bridge"] and before["unreachable routes"] and before["rules"], before

    done = solo.down()
    assert done.returncode == 0, done
    assert "1 pod(s) stopped and removed" in done.stdout, done.stdout
    assert runc.ids() == [] and os.listdir(os.path.join(solo.data_dir, "sandboxes")) == []
    assert _host_network(solo.node, solo.bridge) == {"bridge": False, "unreachable routes": "", "rules": []}
    ipam = os.path.join(solo.data_dir, "network", "ipam")
    assert not [f for _, _, files in os.walk(ipam) for f in files if f.startswith("10.42.")], "IPs released"

    solo.up("up-again.log")
    again = wait_for(lambda: solo.running_uid("hello"), timeout=60, what="the pod running again")
    assert again == first  # the same object; its containers started anew
    assert solo.kubectl("delete", "pod", "hello", "--timeout=30s").returncode == 0


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
