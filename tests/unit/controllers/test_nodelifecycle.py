"""Node lifecycle: health, taints and eviction as tables; a sync marks a lost node."""

from __future__ import annotations

import datetime

import pytest

from tinykube.controllers import nodelifecycle as nl
from tinykube.controllers.nodelifecycle import NodeLifecycleController

from .helpers_gc import fake_context, seed, writes

T0 = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)


def test_observe_moves_probe_only_on_renewal():
    h = nl.observe(None, renew_time="r1", heartbeat="h1", now=10)
    assert nl.observe(h, renew_time="r1", heartbeat="h1", now=20).probe == 10
    assert nl.observe(h, renew_time="r2", heartbeat="h1", now=20).probe == 20
    assert nl.observe(h, renew_time="r1", heartbeat="h2", now=30).probe == 30


def node(ready=None, taints=None, unschedulable=False, **conditions):
    conds = [{"type": "Ready", "status": ready, "reason": "KubeletReady"}] if ready else []
    conds += [{"type": t, "status": s} for t, s in conditions.items()]
    spec = {"taints": taints} if taints else {}
    if unschedulable:
        spec["unschedulable"] = True
    return {"metadata": {"name": "n1", "creationTimestamp": "c"}, "spec": spec, "status": {"conditions": conds}}


def test_stale_conditions():
    out = {c["type"]: c for c in nl.stale_conditions(node("True", MemoryPressure="False"), "now")}
    assert out["Ready"]["status"] == "Unknown" and out["Ready"]["reason"] == "NodeStatusUnknown"
    assert out["Ready"]["message"] == "Kubelet stopped posting node status."
    assert out["MemoryPressure"]["status"] == "Unknown"
    assert out["DiskPressure"]["reason"] == "NodeStatusNeverUpdated"
    assert nl.stale_conditions({"metadata": {}, "status": {"conditions": list(out.values())}}, "later") is None


KEYS = lambda taints: sorted((t["key"].rpartition("/")[2], t["effect"]) for t in taints or [])  # noqa: E731


@pytest.mark.parametrize("n, expected", [
    (node("True"), None),
    (node("Unknown"), [("unreachable", "NoExecute"), ("unreachable", "NoSchedule")]),
    (node("False"), [("not-ready", "NoExecute"), ("not-ready", "NoSchedule")]),
    (node("True", DiskPressure="True"), [("disk-pressure", "NoSchedule")]),
    (node("True", unschedulable=True), [("unschedulable", "NoSchedule")]),
    (node("True", taints=[{"key": nl.UNREACHABLE, "effect": "NoExecute"}, {"key": "mine", "effect": "NoSchedule"}]),
     [("mine", "NoSchedule")]),
    (node("False", taints=[{"key": nl.UNREACHABLE, "effect": "NoExecute"}]),
     [("not-ready", "NoExecute"), ("not-ready", "NoSchedule")]),
])
def test_wanted_taints(n, expected):
    got = nl.wanted_taints(n, "now")
    assert (got if got is None else KEYS(got)) == expected


def test_kept_taint_keeps_its_time_added():
    taints = [{"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": "then"},
              {"key": nl.UNREACHABLE, "effect": "NoSchedule"}]
    assert nl.wanted_taints(node("Unknown", taints=taints), "now") is None
    assert nl.wanted_taints(node("Unknown"), "now")[0]["timeAdded"] == "now"


UNREACHABLE_AT_T0 = [{"key": nl.UNREACHABLE, "effect": "NoExecute", "timeAdded": "2024-01-01T00:00:00Z"}]


@pytest.mark.parametrize("tolerations, now_offset, expected", [
    ([], 0, 0.0),
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}], 100, 200.0),
    ([{"key": nl.UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}], 400, 0.0),
    ([{"key": nl.UNREACHABLE, "operator": "Exists"}], 1000, None),
    ([{"operator": "Exists"}], 0, None),
    ([{"key": nl.NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}], 0, 0.0),
    ([{"key": nl.UNREACHABLE, "operator": "Equal", "value": "x", "effect": "NoExecute"}], 0, 0.0),
])
def test_eviction_delay(tolerations, now_offset, expected):
    pod = {"spec": {"tolerations": tolerations}}
    assert nl.eviction_delay(pod, UNREACHABLE_AT_T0, T0 + datetime.timedelta(seconds=now_offset)) == expected


async def test_lost_node_becomes_unknown_tainted_and_its_pods_not_ready():
    ctx, client, clock = fake_context(node_monitor_grace_period=40)
    controller = NodeLifecycleController(ctx)
    informers = [controller.nodes, controller.leases, controller.pods]
    seed(client, informers, {"apiVersion": "v1", "kind": "Node", **node("True")},
         {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
          "metadata": {"name": "n1", "namespace": "kube-node-lease"}, "spec": {"renewTime": "r1"}},
         {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
          "spec": {"nodeName": "n1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    await controller.sync_node("n1")
    assert writes(client) == []  # just seen: within the grace period
    clock.advance(41)
    await controller.sync_node("n1")
    assert writes(client) == [("update", "nodes", "n1", "status"), ("update", "nodes", "n1", ""),
                              ("update", "pods", "p", "status")]
    taints = client.writes()[1].body["spec"]["taints"]
    assert KEYS(taints) == [("unreachable", "NoExecute"), ("unreachable", "NoSchedule")]
    assert client.writes()[2].body["status"]["conditions"][0]["status"] == "False"


async def test_untolerating_pod_on_tainted_node_is_evicted():
    ctx, client, _ = fake_context()
    controller = NodeLifecycleController(ctx)
    seed(client, [controller.nodes, controller.pods],
         {"apiVersion": "v1", "kind": "Node", **node("Unknown", taints=UNREACHABLE_AT_T0)},
         {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
          "spec": {"nodeName": "n1"}})
    await controller.sync_pod("default/p")
    assert writes(client) == [("update", "pods", "p", "status"), ("delete", "pods", "p", "")]
    condition = client.writes()[0].body["status"]["conditions"][-1]
    assert (condition["type"], condition["reason"]) == ("DisruptionTarget", "DeletionByTaintManager")
