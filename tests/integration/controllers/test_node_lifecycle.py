"""Node lifecycle with a real agent killed: the node goes Unknown and tainted, its pod is
evicted after its toleration and the ReplicaSet's replacement runs on the other node.

The server runs with a 15 s node-monitor grace period (the agent renews its Lease every
10 s, so a shorter one would flap live nodes) and 3 s default tolerations.
"""

from __future__ import annotations

import signal

import pytest

from tests.integration.cluster import IMAGE, real_cluster

pytestmark = pytest.mark.integration

GRACE, TOLERATION = "15", "3"

REPLICASET = f"""
apiVersion: apps/v1
kind: ReplicaSet
metadata: {{name: survivor}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: survivor}}}}
  template:
    metadata: {{labels: {{app: survivor}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: IfNotPresent
        command: [/bin/busybox, sleep, "3600"]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with real_cluster(tmp_path_factory, nodes=("n1", "n2"),
                      server_args=("--node-monitor-grace-period", GRACE,
                                   "--default-toleration-seconds", TOLERATION)) as c:
        yield c


def running(cluster):
    return [p for p in cluster.pods("app=survivor")
            if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def condition(obj, type_):
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == type_), {})


def test_pods_leave_a_lost_node(cluster):
    cluster.apply(REPLICASET)
    first = cluster.wait_for(lambda: running(cluster), "the ReplicaSet's pod Running", timeout=30)[0]
    lost = first["spec"]["nodeName"]
    other = "n2" if lost == "n1" else "n1"
    tolerations = {t["key"]: t.get("tolerationSeconds") for t in first["spec"]["tolerations"]}
    assert tolerations["node.kubernetes.io/unreachable"] == int(TOLERATION)

    cluster.stop_agent(lost, signal.SIGKILL)

    node = cluster.wait_for(lambda: (n := cluster.get("node", lost)) and
                            condition(n, "Ready").get("status") == "Unknown" and n, f"{lost} Unknown", timeout=30)
    assert condition(node, "Ready")["reason"] == "NodeStatusUnknown"
    cluster.wait_for(lambda: any(t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute"
                                 for t in cluster.get("node", lost).get("spec", {}).get("taints") or []),
                     f"{lost} tainted unreachable:NoExecute", timeout=10)
    assert condition(cluster.get("node", other), "Ready").get("status") == "True"  # the live node does not flap

    evicted = cluster.wait_for(lambda: (p := cluster.pod(first["metadata"]["name"])) == {} or
                               (p["metadata"].get("deletionTimestamp") and p), "the pod evicted", timeout=15)
    if evicted:
        assert condition(evicted, "DisruptionTarget").get("reason") == "DeletionByTaintManager"
    replacement = cluster.wait_for(lambda: running(cluster), "a replacement Running", timeout=30)[0]
    assert replacement["spec"]["nodeName"] == other
