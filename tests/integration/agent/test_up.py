"""`tinykube up`: the control plane and a node agent in one process run a pod."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys

import pytest

from tests.e2e.conftest import KUBECTL, REPO, free_port
from tests.integration.agent.cleanup import force_cleanup
from tests.integration.images.ocibuild import busybox_archive
from tests.integration.network.nodens import TestNetwork, missing_prerequisites
from tests.waiting import wait_for
from tinykube.agent.images import ImageService

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


async def _import(data_dir: str, archive: str) -> None:
    images = ImageService(data_dir)
    await images.import_archive(archive)
    await images.close()
