"""The scheduler end to end: a real `tinykube server` (which runs the scheduler), nodes
simulated by `tinykube agent --simulate-only` processes, and the real kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml

from tests.e2e.conftest import REPO, start_server
from tests.waiting import wait_for


class SimAgent:
    def __init__(self, server, tmp, *args: str):
        self.log_path = os.path.join(tmp, f"sim-{uuid.uuid4().hex[:6]}.log")
        with open(os.path.join(server.data_dir, "token")) as f:
            token = f.read().strip()
        cmd = [sys.executable, "-m", "tinykube.cli.main", "agent", "--server", server.url, "--token", token,
               "--ca-file", os.path.join(server.data_dir, "pki", "ca.crt"), "--data-dir", tmp,
               "--simulate-only", *args]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    server = start_server(tmp_path_factory)
    agents = [SimAgent(server, str(tmp_path_factory.mktemp("sim")), "--simulate", "3", "--node-name", "e2e",
                       "--simulate-cpu", "4", "--simulate-memory", "8Gi")]
    try:
        wait_for(lambda: len(_ready_nodes(server)) == 3, "3 simulated nodes")
        yield server, agents, tmp_path_factory
    finally:
        for agent in agents:
            agent.stop()
        server.stop()


def _ready_nodes(server) -> list[str]:
    out = server.kubectl("get", "nodes", "-o", "json", check=False).stdout
    items = json.loads(out or "{}").get("items") or []
    return [n["metadata"]["name"] for n in items
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))]


def _namespace(server) -> str:
    name = f"sched-{uuid.uuid4().hex[:6]}"
    server.kubectl("create", "namespace", name)
    return name


def _pods(server, ns: str) -> list[dict]:
    return json.loads(server.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]


def _pod_manifest(name: str, spec_extra: dict | None = None, cpu: str = "100m") -> dict:
    spec = {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": cpu}}}]}
    spec.update(spec_extra or {})
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _create(server, ns: str, *manifests: dict) -> None:
    server.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(manifests))


def test_pods_are_bound_spread_and_running(cluster):
    server, _, _ = cluster
    ns = _namespace(server)
    _create(server, ns, *(_pod_manifest(f"p{i}") for i in range(6)))
    pods = wait_for(lambda: (lambda ps: ps if len(ps) == 6 and all(
        p["status"].get("phase") == "Running" for p in ps) else None)(_pods(server, ns)), "6 pods Running")
    per_node: dict[str, int] = {}
    for pod in pods:
        per_node[pod["spec"]["nodeName"]] = per_node.get(pod["spec"]["nodeName"], 0) + 1
        assert pod["status"]["podIP"].startswith("10.")
    assert per_node == {"e2e-sim-0": 2, "e2e-sim-1": 2, "e2e-sim-2": 2}
    events = server.kubectl("get", "events", "-n", ns, "--field-selector", "reason=Scheduled").stdout
    assert f"Successfully assigned {ns}/p0 to e2e-sim-" in events


def test_node_selector_affinity_and_taints(cluster):
    server, _, _ = cluster
    ns = _namespace(server)
    server.kubectl("label", "node", "e2e-sim-1", "disk=ssd")
    server.kubectl("taint", "node", "e2e-sim-2", "dedicated=db:NoSchedule")
    try:
        affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["e2e-sim-0"]}]}]}}}
        toleration = [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
        _create(server, ns, _pod_manifest("ssd", {"nodeSelector": {"disk": "ssd"}}),
                _pod_manifest("pinned", {"affinity": affinity}),
                _pod_manifest("db", {"tolerations": toleration, "nodeSelector": {"kubernetes.io/hostname": "e2e-sim-2"}}),
                *(_pod_manifest(f"plain{i}") for i in range(4)))
        pods = wait_for(lambda: (lambda ps: ps if len(ps) == 7 and all(
            p["spec"].get("nodeName") for p in ps) else None)(_pods(server, ns)), "7 pods bound")
        where = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
        assert where["ssd"] == "e2e-sim-1" and where["pinned"] == "e2e-sim-0" and where["db"] == "e2e-sim-2"
        assert all(where[f"plain{i}"] != "e2e-sim-2" for i in range(4)), where
    finally:
        server.kubectl("label", "node", "e2e-sim-1", "disk-")
        server.kubectl("taint", "node", "e2e-sim-2", "dedicated-")


def test_unschedulable_pod_is_explained_then_scheduled_on_a_new_node(cluster):
    server, agents, tmp_path_factory = cluster
    ns = _namespace(server)
    _create(server, ns, _pod_manifest("huge", cpu="100"))
    expected = ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                "3 No preemption victims found for incoming pod.")
    described = wait_for(lambda: (lambda out: out if expected in out else None)(
        server.kubectl("describe", "pod", "huge", "-n", ns).stdout), "FailedScheduling in describe")
    assert "FailedScheduling" in described and "default-scheduler" in described
    pod = _pods(server, ns)[0]
    assert pod["status"]["phase"] == "Pending" and not pod["spec"].get("nodeName")
    condition = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (condition["status"], condition["reason"], condition["message"]) == ("False", "Unschedulable", expected)
    agents.append(SimAgent(server, str(tmp_path_factory.mktemp("sim")), "--simulate", "1", "--node-name", "big",
                           "--simulate-cpu", "128"))
    wait_for(lambda: _pods(server, ns)[0]["spec"].get("nodeName") == "big-sim-0", "huge bound to the new node",
             timeout=30)
    wait_for(lambda: _pods(server, ns)[0]["status"].get("phase") == "Running", "huge Running")


def test_other_scheduler_names_are_left_alone_and_deletes_finish(cluster):
    server, _, _ = cluster
    ns = _namespace(server)
    _create(server, ns, _pod_manifest("mine"), _pod_manifest("theirs", {"schedulerName": "other"}))
    wait_for(lambda: any(p["metadata"]["name"] == "mine" and p["status"].get("phase") == "Running"
                         for p in _pods(server, ns)), "mine Running")
    theirs = next(p for p in _pods(server, ns) if p["metadata"]["name"] == "theirs")
    assert not theirs["spec"].get("nodeName") and not theirs["status"].get("conditions")
    server.kubectl("delete", "pod", "mine", "-n", ns, "--wait=true", timeout=20)
