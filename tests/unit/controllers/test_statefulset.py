"""StatefulSet controller tables: ordered creation, scale-down, partitioned rolling updates."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.controllers import revisions
from tinykube.controllers.statefulset import Revision, StatefulSetController, new_pod, plan

from .workload_fakes import NOW, make, writes

UID = "sts-uid"
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}
NEW_TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox:2"}]}}
OLD, NEW = Revision("web-old", TEMPLATE), Revision("web-new", NEW_TEMPLATE)


def sts(replicas=3, policy="OrderedReady", partition=0, strategy="RollingUpdate", template=TEMPLATE, status=None):
    update = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"partition": partition}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default", "uid": UID, "generation": 2},
            "spec": {"replicas": replicas, "serviceName": "web", "podManagementPolicy": policy,
                     "selector": {"matchLabels": {"app": "web"}}, "updateStrategy": update,
                     "revisionHistoryLimit": 10, "template": template},
            "status": status or {}}


def pod(ordinal, *, healthy=True, rev="web-old", phase=None, deleting=False):
    p = new_pod(sts(), ordinal, Revision(rev, TEMPLATE))
    p["metadata"].update(uid=f"uid-{ordinal}", creationTimestamp="2024-01-01T11:00:00Z")
    p["metadata"]["labels"]["controller-revision-hash"] = rev
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2024-01-01T12:00:30Z"
    p["status"] = {"phase": phase or ("Running" if healthy else "Pending"),
                   "conditions": [{"type": "Ready", "status": "True" if healthy else "False"}]}
    return p


def names(pods):
    return [p["metadata"]["name"] for p in pods]


@pytest.mark.parametrize("policy, pods, created, deleted", [
    ("OrderedReady", [], ["web-0"], []),
    ("OrderedReady", [pod(0)], ["web-1"], []),
    ("OrderedReady", [pod(0, healthy=False)], [], []),  # web-1 waits for web-0 Running and Ready
    ("OrderedReady", [pod(0), pod(1, phase="Failed")], [], ["web-1"]),
    ("Parallel", [], ["web-0", "web-1", "web-2"], []),
    ("Parallel", [pod(0, healthy=False)], ["web-1", "web-2"], []),
])
def test_creation_order(policy, pods, created, deleted):
    step = plan(sts(policy=policy), pods, OLD, OLD, NOW)
    assert names(step.create) == created and names(step.delete) == deleted


@pytest.mark.parametrize("policy, pods, deleted", [
    ("OrderedReady", [pod(0), pod(1), pod(2), pod(3)], ["web-3"]),
    ("OrderedReady", [pod(0), pod(1), pod(2), pod(3), pod(4)], ["web-4"]),  # highest first, one at a time
    ("OrderedReady", [pod(0), pod(1), pod(2), pod(3), pod(4, deleting=True)], []),
    ("OrderedReady", [pod(0, healthy=False), pod(1), pod(2), pod(3)], []),
    ("Parallel", [pod(0), pod(1), pod(2), pod(3), pod(4)], ["web-4", "web-3"]),
])
def test_scale_down_in_reverse(policy, pods, deleted):
    assert names(plan(sts(policy=policy), pods, OLD, OLD, NOW).delete) == deleted


@pytest.mark.parametrize("partition, pods, deleted", [
    (0, [pod(0), pod(1), pod(2)], ["web-2"]),
    (0, [pod(0), pod(1), pod(2, rev="web-new")], ["web-1"]),
    (0, [pod(0), pod(1), pod(2, rev="web-new", healthy=False)], []),  # wait for the updated one
    (2, [pod(0), pod(1), pod(2, rev="web-new")], []),  # below the partition: kept
    (1, [pod(0), pod(1), pod(2, rev="web-new")], ["web-1"]),
])
def test_rolling_update_with_partition(partition, pods, deleted):
    assert names(plan(sts(partition=partition), pods, OLD, NEW, NOW).delete) == deleted


def test_on_delete_never_deletes_for_an_update():
    assert plan(sts(strategy="OnDelete"), [pod(0), pod(1), pod(2)], OLD, NEW, NOW).delete == []


def test_recreated_pod_below_partition_keeps_the_current_revision():
    step = plan(sts(partition=2), [pod(0), pod(2, rev="web-new")], OLD, NEW, NOW)
    assert names(step.create) == ["web-1"] and step.create[0]["metadata"]["labels"]["controller-revision-hash"] == "web-old"
    assert step.create[0]["spec"]["containers"][0]["image"] == "busybox:1"


def test_pod_identity():
    p = new_pod(sts(), 2, OLD)
    assert p["metadata"]["name"] == "web-2" and p["spec"]["hostname"] == "web-2" and p["spec"]["subdomain"] == "web"
    assert p["metadata"]["labels"] == {"app": "web", "statefulset.kubernetes.io/pod-name": "web-2",
                                       "apps.kubernetes.io/pod-index": "2", "controller-revision-hash": "web-old"}
    assert p["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"


def test_status_counts_and_rollout_completion():
    status = plan(sts(replicas=2), [pod(0, rev="web-new"), pod(1, rev="web-new")], OLD, NEW, NOW).status
    assert status["currentRevision"] == status["updateRevision"] == "web-new"
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"], status["updatedReplicas"],
            status["currentReplicas"], status["observedGeneration"]) == (2, 2, 2, 2, 2, 2)
    midway = plan(sts(replicas=2), [pod(0), pod(1, rev="web-new")], OLD, NEW, NOW).status
    assert (midway["currentRevision"], midway["currentReplicas"], midway["updatedReplicas"]) == ("web-old", 1, 1)


def test_sync_creates_revision_and_first_pod():
    controller, client = make(StatefulSetController, sts())
    asyncio.run(controller.sync("default/web"))
    created = writes(client, "create")
    assert [a.plural for a in created] == ["controllerrevisions", "pods"]
    rev = created[0].body
    assert rev["revision"] == 1 and rev["metadata"]["labels"]["controller-revision-hash"] in rev["metadata"]["name"]
    assert created[1].body["metadata"]["labels"]["controller-revision-hash"] == rev["metadata"]["name"]
    assert controller.recorder.events[0][2:] == ("SuccessfulCreate", "create Pod web-0 in StatefulSet web successful")
    status = client._objects[("apps", "statefulsets", "default", "web")]["status"]
    assert status["updateRevision"] == status["currentRevision"] == rev["metadata"]["name"]


def test_revision_hash_is_stable_and_template_sensitive():
    a = revisions.hash_of(revisions.revision_data(TEMPLATE))
    assert a == revisions.hash_of(revisions.revision_data(TEMPLATE)) != revisions.hash_of(revisions.revision_data(NEW_TEMPLATE))
    assert set(a) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_rollback_renumbers_the_old_revision():
    old = revisions.new_revision(sts(), TEMPLATE, number=1)
    new = revisions.new_revision(sts(), NEW_TEMPLATE, number=2)
    controller, client = make(StatefulSetController, sts(template=TEMPLATE), old, new)
    asyncio.run(controller.sync("default/web"))
    patch = writes(client, "patch")[0]
    assert (patch.plural, patch.name, patch.body) == ("controllerrevisions", old["metadata"]["name"], {"revision": 3})


def test_orphan_pod_of_the_set_is_adopted():
    orphan = pod(0)
    orphan["metadata"].pop("ownerReferences")
    controller, client = make(StatefulSetController, sts(replicas=1), orphan)
    asyncio.run(controller.sync("default/web"))
    patch = writes(client, "patch")[0]
    assert (patch.plural, patch.name) == ("pods", "web-0")
    assert patch.body["metadata"]["ownerReferences"][0]["uid"] == UID
    assert [a.plural for a in writes(client, "create")] == ["controllerrevisions"]  # web-0 is not created again
