"""DaemonSet controller tables: eligible nodes, the daemon pod, rolling updates, status."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.controllers.daemonset import DaemonSetController, daemon_pod, node_should_run, plan, target_node

from .workload_fakes import NOW, make, writes

UID = "ds-uid"


def ds(*, strategy=None, template_spec=None, min_ready=0):
    spec = {"containers": [{"name": "c", "image": "busybox:1"}]}
    spec.update(template_spec or {})
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "default", "uid": UID, "generation": 3,
                         "annotations": {"deprecated.daemonset.template.generation": "2"}},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "minReadySeconds": min_ready,
                     "updateStrategy": strategy or {"type": "RollingUpdate",
                                                    "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "revisionHistoryLimit": 10,
                     "template": {"metadata": {"labels": {"app": "agent"}}, "spec": spec}},
            "status": {}}


def node(name, labels=None, taints=None):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or []}}


def pod(name, node_name, *, rev="h1", ready=True, phase="Running", bound=True):
    p = daemon_pod(ds(), node_name, rev)
    p["metadata"].update(name=name, uid=f"uid-{name}", creationTimestamp="2024-01-01T11:00:00Z")
    if bound:
        p["spec"]["nodeName"] = node_name
    p["status"] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                                   "lastTransitionTime": "2024-01-01T11:00:00Z"}]}
    return p


def names(pods):
    return sorted(p["metadata"]["name"] for p in pods)


@pytest.mark.parametrize("template_spec, n, expected", [
    ({}, node("a"), (True, True)),
    ({"nodeSelector": {"disk": "ssd"}}, node("a"), (False, False)),
    ({"nodeSelector": {"disk": "ssd"}}, node("a", {"disk": "ssd"}), (True, True)),
    ({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["z1"]}]}]}}}},
     node("a", {"zone": "z1"}), (False, False)),
    ({}, node("a", taints=[{"key": "gpu", "value": "x", "effect": "NoSchedule"}]), (False, True)),
    ({}, node("a", taints=[{"key": "gpu", "effect": "NoExecute"}]), (False, False)),
    ({"tolerations": [{"key": "gpu", "operator": "Exists"}]}, node("a", taints=[{"key": "gpu", "effect": "NoExecute"}]),
     (True, True)),
    # the default daemon tolerations: an unschedulable or not-ready node still runs daemons
    ({}, node("a", taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                           {"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]), (True, True)),
    ({"nodeName": "b"}, node("a"), (False, False)),
    ({}, node("a", taints=[{"key": "x", "effect": "PreferNoSchedule"}]), (True, True)),
])
def test_node_should_run(template_spec, n, expected):
    d = ds(template_spec=template_spec)
    assert node_should_run(n, d) == expected


def test_daemon_pod_is_pinned_by_affinity_and_tolerates_node_conditions():
    p = daemon_pod(ds(template_spec={"hostNetwork": True}), "n1", "h1")
    assert "nodeName" not in p["spec"]  # the default scheduler binds it
    assert p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}
    keys = [(t["key"], t["effect"]) for t in p["spec"]["tolerations"]]
    assert keys == [("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
                    ("node.kubernetes.io/disk-pressure", "NoSchedule"), ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                    ("node.kubernetes.io/pid-pressure", "NoSchedule"), ("node.kubernetes.io/unschedulable", "NoSchedule"),
                    ("node.kubernetes.io/network-unavailable", "NoSchedule")]
    assert p["metadata"]["labels"] == {"app": "agent", "controller-revision-hash": "h1", "pod-template-generation": "2"}
    assert target_node(p) == "n1"


def test_one_pod_per_eligible_node():
    nodes = [node("a"), node("b"), node("c", taints=[{"key": "k", "effect": "NoSchedule"}])]
    step = plan(ds(), nodes, [pod("agent-a", "a"), pod("agent-x", "gone")], "h1", NOW)
    assert step.create == ["b"] and names(step.delete) == ["agent-x"]
    s = step.status
    assert (s["desiredNumberScheduled"], s["currentNumberScheduled"], s["numberReady"], s["numberAvailable"],
            s["updatedNumberScheduled"], s["numberMisscheduled"], s["numberUnavailable"], s["observedGeneration"]) == (
        2, 1, 1, 1, 1, 0, 1, 3)


def test_misscheduled_and_surplus_and_failed_pods():
    nodes = [node("a"), node("b", {"role": "x"})]
    d = ds(template_spec={"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "role", "operator": "DoesNotExist"}]}]}}}})
    pods = [pod("a1", "a"), pod("a2", "a"), pod("b1", "b")]
    pods[1]["metadata"]["creationTimestamp"] = "2024-01-01T11:30:00Z"
    step = plan(d, nodes, pods, "h1", NOW)
    assert names(step.delete) == ["a2", "b1"] and step.status["numberMisscheduled"] == 1
    failed = plan(ds(), [node("a")], [pod("a1", "a", phase="Failed")], "h1", NOW)
    assert names(failed.delete) == ["a1"] and failed.create == ["a"]


def test_rolling_update_respects_max_unavailable():
    nodes = [node("a"), node("b"), node("c")]
    pods = [pod("pa", "a", rev="old"), pod("pb", "b", rev="old"), pod("pc", "c", rev="old")]
    assert names(plan(ds(), nodes, pods, "new", NOW).delete) == ["pa"]
    pods[0] = pod("pa2", "a", rev="new", ready=False)  # a is being replaced: no room for another
    assert plan(ds(), nodes, pods, "new", NOW).delete == []
    two = ds(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "50%", "maxSurge": 0}})
    assert names(plan(two, nodes, pods, "new", NOW).delete) == ["pb"]  # ceil(50% of 3) = 2


def test_rolling_update_with_surge_starts_new_pods_first():
    surge = ds(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    nodes = [node("a"), node("b")]
    step = plan(surge, nodes, [pod("pa", "a", rev="old"), pod("pb", "b", rev="old")], "new", NOW)
    assert step.create == ["a"] and step.delete == []
    step = plan(surge, nodes, [pod("pa", "a", rev="old"), pod("pa2", "a", rev="new"), pod("pb", "b", rev="old")], "new", NOW)
    assert names(step.delete) == ["pa"] and step.create == ["b"]


def test_on_delete_leaves_old_pods():
    on_delete = ds(strategy={"type": "OnDelete"})
    assert plan(on_delete, [node("a")], [pod("pa", "a", rev="old")], "new", NOW).delete == []


def test_unscheduled_pod_counts_for_its_node():
    step = plan(ds(), [node("a")], [pod("pa", "a", bound=False, ready=False, phase="Pending")], "h1", NOW)
    assert step.create == [] and step.status["currentNumberScheduled"] == 1


def test_sync_creates_revision_and_pods():
    controller, client = make(DaemonSetController, ds(), node("a"), node("b"))
    asyncio.run(controller.sync("default/agent"))
    created = writes(client, "create")
    assert [a.plural for a in created] == ["controllerrevisions", "pods", "pods"]
    revision_hash = created[0].body["metadata"]["labels"]["controller-revision-hash"]
    assert created[0].body["metadata"]["name"] == f"agent-{revision_hash}"
    assert sorted(target_node(a.body) for a in created[1:]) == ["a", "b"]
    assert controller.recorder.reasons() == ["SuccessfulCreate", "SuccessfulCreate"]
    status = client._objects[("apps", "daemonsets", "default", "agent")]["status"]
    assert status["desiredNumberScheduled"] == 2 and status["currentNumberScheduled"] == 0
    asyncio.run(controller.sync("default/agent"))  # pods not in the cache yet: expectations hold
    assert len(writes(client, "create")) == 3
