"""Deployments end to end: `tinykube server` (controllers + scheduler), a real agent with
runc, and the real kubectl. The tests share one cluster and run in order on one
Deployment `web` (3 replicas, maxSurge 1, maxUnavailable 0)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from tests.integration.cluster import IMAGE, real_cluster

pytestmark = pytest.mark.integration

# the kubelet API on loopback: the node IP lives in the node's test namespace
AGENT_ARGS = ("--kubelet-address", "127.0.0.1", "--kubelet-port", "0")
SCRIPT = "trap 'exit 0' TERM; while true; do sleep 0.2; done"
DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector: {{matchLabels: {{app: web}}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: IfNotPresent
        command: [/bin/busybox, sh, -c, {json.dumps(SCRIPT)}]
        env:
        - {{name: POD_NAME, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with real_cluster(tmp_path_factory, nodes=("n1",), agent_args=AGENT_ARGS) as c:
        c.apply(DEPLOYMENT)
        yield c


def ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def live(cluster) -> list[dict]:
    """The Deployment's pods not being deleted."""
    return [p for p in cluster.pods("app=web") if not p["metadata"].get("deletionTimestamp")]


def running(cluster, n: int) -> list[dict] | None:
    pods = live(cluster)
    ok = len(pods) == n and all(p["status"].get("phase") == "Running" and ready(p) and p["spec"].get("nodeName")
                                for p in pods)
    return pods if ok else None


def rollout_status(cluster, timeout: str = "60s") -> str:
    return cluster.kubectl("rollout", "status", "deploy/web", f"--timeout={timeout}", timeout=90).stdout


def test_three_replicas_running_and_rolled_out(cluster):
    pods = cluster.wait_for(lambda: running(cluster, 3), "3 web pods Running")
    rs = cluster.get("rs", selector="app=web")["items"]
    assert len(rs) == 1 and rs[0]["metadata"]["name"].startswith("web-")
    h = rs[0]["metadata"]["labels"]["pod-template-hash"]
    assert rs[0]["metadata"]["name"] == f"web-{h}"
    assert all(p["metadata"]["name"].startswith(f"web-{h}-") for p in pods)
    assert all(p["metadata"]["ownerReferences"][0]["uid"] == rs[0]["metadata"]["uid"] for p in pods)
    assert 'deployment "web" successfully rolled out' in rollout_status(cluster)
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=web", "-o", "json").stdout
    assert f"Scaled up replica set web-{h} from 0 to 3" in events


def test_scale_up_and_down(cluster):
    cluster.kubectl("scale", "deploy/web", "--replicas=5")
    cluster.wait_for(lambda: running(cluster, 5), "5 web pods Running")
    cluster.kubectl("scale", "deploy/web", "--replicas=3")
    cluster.wait_for(lambda: running(cluster, 3), "back to 3 web pods")
    status = cluster.get("deploy", "web")["status"]
    cluster.wait_for(lambda: cluster.get("deploy", "web")["status"].get("availableReplicas") == 3, "3 available")
    assert status.get("observedGeneration")


def test_deleted_pod_replaced_at_once(cluster):
    before = {p["metadata"]["name"] for p in cluster.wait_for(lambda: running(cluster, 3), "3 Running")}
    victim = sorted(before)[0]
    started = time.monotonic()
    cluster.kubectl("delete", "pod", victim, "--wait=false")
    cluster.wait_for(lambda: (lambda pods: pods and {p["metadata"]["name"] for p in pods} - before)(running(cluster, 3)),
                     "a replacement Running", timeout=20)
    elapsed = time.monotonic() - started
    print(f"\nFIGURE deleted pod -> replacement Running and Ready: {elapsed:.2f}s (polled with kubectl)")
    assert elapsed < 10


def _container_pid(pod_name: str) -> int | None:
    """The host PID of the pod's app process (its environ names the pod)."""
    marker = f"POD_NAME={pod_name}".encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if marker in env and b"trap" in cmdline:
            return int(pid)
    return None


def test_killed_container_restarted_by_agent(cluster):
    pod = cluster.wait_for(lambda: running(cluster, 3), "3 Running")[0]
    name = pod["metadata"]["name"]
    pid = cluster.wait_for(lambda: _container_pid(name), f"the process of {name}")
    os.kill(pid, signal.SIGKILL)
    cluster.wait_for(lambda: (cluster.pod(name).get("status", {}).get("containerStatuses") or [{}])[0]
                     .get("restartCount", 0) >= 1, f"{name} restarted", timeout=30)
    assert name in {p["metadata"]["name"] for p in cluster.wait_for(lambda: running(cluster, 3), "3 Running")}


class PodWatch:
    """`kubectl get pods --watch -o json` in a thread, keeping the fewest ready live pods seen."""

    def __init__(self, cluster):
        self.pods: dict[str, dict] = {}
        self.min_ready: int | None = None
        cmd = ["kubectl", "--kubeconfig", cluster.server.kubeconfig, "get", "pods", "-l", "app=web", "--watch",
               "-o", "json", "--output-watch-events"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buffer += line
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
            except json.JSONDecodeError:
                continue
            buffer = buffer.lstrip()[end:]
            obj = event["object"]
            if event["type"] == "DELETED":
                self.pods.pop(obj["metadata"]["name"], None)
            else:
                self.pods[obj["metadata"]["name"]] = obj
            count = sum(1 for p in self.pods.values() if ready(p) and not p["metadata"].get("deletionTimestamp"))
            if len(self.pods) >= 3:  # after the initial listing
                self.min_ready = count if self.min_ready is None else min(self.min_ready, count)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


def test_set_image_rolls_without_losing_availability(cluster):
    cluster.wait_for(lambda: running(cluster, 3), "3 Running")
    watch = PodWatch(cluster)
    cluster.wait_for(lambda: watch.min_ready is not None, "the watch listing")
    cluster.kubectl("set", "image", "deploy/web", f"app=docker.io/library/{IMAGE}")
    assert "successfully rolled out" in rollout_status(cluster)
    watch.stop()
    assert watch.min_ready is not None and watch.min_ready >= 3  # replicas - maxUnavailable
    pods = cluster.wait_for(lambda: running(cluster, 3), "3 Running on the new template")
    assert all(p["spec"]["containers"][0]["image"] == f"docker.io/library/{IMAGE}" for p in pods)
    history = cluster.kubectl("rollout", "history", "deploy/web").stdout
    assert "1 " in history and "2 " in history
    rev1 = cluster.kubectl("rollout", "history", "deploy/web", "--revision=1").stdout
    assert f"Image:\t{IMAGE}" in rev1.replace("      ", "\t").replace(" ", "") or IMAGE in rev1


def test_undo_restores_previous_template(cluster):
    cluster.kubectl("rollout", "undo", "deploy/web")
    assert "successfully rolled out" in rollout_status(cluster)
    d = cluster.get("deploy", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    pods = cluster.wait_for(lambda: running(cluster, 3), "3 Running after undo")
    assert all(p["spec"]["containers"][0]["image"] == IMAGE for p in pods)
    rs = [r for r in cluster.get("rs", selector="app=web")["items"]
          if r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"]
    assert rs and rs[0]["metadata"]["annotations"].get("deployment.kubernetes.io/revision-history") == "1"


def test_pause_resume_restart(cluster):
    cluster.kubectl("rollout", "pause", "deploy/web")
    cluster.wait_for(lambda: any(c.get("reason") == "DeploymentPaused"
                                 for c in cluster.get("deploy", "web")["status"].get("conditions", [])), "paused")
    cluster.kubectl("set", "env", "deploy/web", "PAUSED=1")
    refused = cluster.kubectl("rollout", "restart", "deploy/web", check=False)
    assert refused.returncode != 0 and "paused" in refused.stderr  # kubectl's own check
    cluster.wait_for(lambda: cluster.get("deploy", "web")["status"].get("observedGeneration")
                     == cluster.get("deploy", "web")["metadata"]["generation"], "the paused change observed")
    assert len(cluster.get("rs", selector="app=web")["items"]) == 2  # no new ReplicaSet while paused
    cluster.kubectl("rollout", "resume", "deploy/web")
    assert "successfully rolled out" in rollout_status(cluster)
    cluster.kubectl("rollout", "restart", "deploy/web")
    assert "successfully rolled out" in rollout_status(cluster)
    pods = cluster.wait_for(lambda: running(cluster, 3), "3 Running after restart")
    assert all("kubectl.kubernetes.io/restartedAt" in (p["metadata"].get("annotations") or {}) for p in pods)


def test_server_kill9_mid_rollout_converges(cluster):
    cluster.kubectl("set", "env", "deploy/web", "ROUND=kill9")
    cluster.wait_for(lambda: len(cluster.get("rs", selector="app=web")["items"]) == 5, "the new ReplicaSet")
    cluster.server.kill9()
    cluster.server.start()
    assert "successfully rolled out" in rollout_status(cluster, "90s")
    pods = cluster.wait_for(lambda: running(cluster, 3), "3 Running after the restart", timeout=60)
    assert all(any(e.get("name") == "ROUND" for e in p["spec"]["containers"][0].get("env", [])) for p in pods)
    active = [r for r in cluster.get("rs", selector="app=web")["items"] if r["spec"]["replicas"]]
    assert len(active) == 1 and active[0]["status"]["replicas"] == 3
    assert len({p["metadata"]["name"] for p in pods}) == 3
