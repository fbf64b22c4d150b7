"""ReplicaSet controller: pure ranking/status/batch tables, and sync(key) once over a
FakeApiClient with informer stores filled by hand (no informer runs, no sleeps)."""

from __future__ import annotations

import datetime

import pytest

from tinykube.api import errors
from tinykube.client import FakeApiClient, FakeClock, InformerFactory
from tinykube.controllers import podutil
from tinykube.controllers import replicaset as rsc
from tinykube.controllers.base import ControllerContext

NOW = datetime.datetime(2024, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
T = podutil.format_time


class FakeRecorder:
    """EventRecorder.record() into a list of (object name, type, reason, message)."""

    def __init__(self):
        self.events: list[tuple[str, str, str, str]] = []

    def record(self, obj: dict, type: str, reason: str, message: str, **_) -> None:
        self.events.append((obj["metadata"]["name"], type, reason, message))


def make(cls, *objects: dict, now: datetime.datetime = NOW):
    """cls over a FakeApiClient holding objects, its informer stores filled with them."""
    client = FakeApiClient()
    seeded = [client.seed(o) for o in objects]
    ctx = ControllerContext(client=client, informers=InformerFactory(client), recorder=FakeRecorder(),
                            clock=FakeClock(wall=now))
    controller = cls(ctx)
    for obj in seeded:
        put(controller, obj)
    return controller, client


def put(controller, obj: dict) -> None:
    for informer in controller.ctx.informers._informers.values():
        if (obj["apiVersion"], obj["kind"]) == (informer.rt.api_version, informer.rt.kind):
            informer.store.put(obj)


def rs(name="web", replicas=3, *, labels=None, uid="rs-uid", generation=1, status=None, min_ready=0, **meta):
    labels = labels or {"app": "web"}
    spec = {"replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}
    if min_ready:
        spec["minReadySeconds"] = min_ready
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": "default", "uid": uid, "generation": generation, **meta},
            "spec": spec, "status": status if status is not None else {"replicas": 0}}


def pod(name, *, owner="rs-uid", node="n1", phase="Running", ready=True, ready_since=None, labels=None,
        created="2024-01-01T11:00:00Z", restarts=0, deleting=False, uid=None, cost=None):
    md = {"name": name, "namespace": "default", "uid": uid or f"uid-{name}", "labels": labels or {"app": "web"},
          "creationTimestamp": created}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": owner,
                                  "controller": True, "blockOwnerDeletion": True}]
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T11:59:00Z"
    if cost is not None:
        md["annotations"] = {rsc.DELETION_COST: str(cost)}
    status = {"phase": phase, "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    if ready is not None:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                 "lastTransitionTime": ready_since or "2024-01-01T11:30:00Z"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": {"nodeName": node}, "status": status}


# --- pure tables ---------------------------------------------------------------------------


@pytest.mark.parametrize("count, batches", [(0, []), (1, [1]), (3, [1, 2]), (7, [1, 2, 4]), (10, [1, 2, 4, 3])])
def test_slow_start_batches(count, batches):
    assert rsc.slow_start_batches(count) == batches


@pytest.mark.parametrize("first, second", [
    (pod("a", node=""), pod("b")),                                          # unscheduled < scheduled
    (pod("a", phase="Pending", ready=False), pod("b", ready=False)),         # Pending < Running
    (pod("a", phase="Unknown"), pod("b")),                                  # Unknown < Running
    (pod("a", ready=False), pod("b")),                                      # not ready < ready
    (pod("a", cost=-5), pod("b")),                                          # lower deletion cost
    (pod("a", ready_since="2024-01-01T11:59:59Z"), pod("b", ready_since="2024-01-01T10:00:00Z")),  # ready less long
    (pod("a", restarts=3), pod("b")),                                       # more restarts
    (pod("a", created="2024-01-01T11:59:59Z", ready=False), pod("b", created="2024-01-01T01:00:00Z", ready=False)),
])
def test_deletion_ranking(first, second):
    assert rsc.pods_to_delete([second, first], [], 1, NOW) == [first]
    assert rsc.pods_to_delete([first, second], [], 1, NOW) == [first]


def test_doubled_up_pods_go_first():
    a, b, c = pod("a", node="n1"), pod("b", node="n1"), pod("c", node="n2")
    assert rsc.pods_to_delete([c, a, b], [a, b, c], 1, NOW)[0]["metadata"]["name"] in ("a", "b")


def test_calculate_status_counts_and_min_ready_seconds():
    pods = [pod("a", ready_since="2024-01-01T11:59:55Z"), pod("b"), pod("c", ready=False),
            pod("d", labels={"app": "web", "x": "1"})]
    obj = rs(min_ready=10, labels={"app": "web"})
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "web", "x": "1"}
    status = rsc.calculate_status(obj, pods, None, NOW)
    assert status == {"replicas": 4, "fullyLabeledReplicas": 1, "readyReplicas": 3, "availableReplicas": 2}


def test_calculate_status_replica_failure_set_and_cleared():
    failed = rsc.calculate_status(rs(replicas=3), [pod("a")], "pods \"x\" is forbidden", NOW)
    assert failed["conditions"] == [{"type": "ReplicaFailure", "status": "True", "lastTransitionTime": T(NOW),
                                     "reason": "FailedCreate", "message": "pods \"x\" is forbidden"}]
    cleared = rsc.calculate_status(rs(replicas=1, status=failed), [pod("a")], None, NOW)
    assert "conditions" not in cleared


# --- sync(key) once --------------------------------------------------------------------------


async def test_creates_missing_pods_from_template_with_controller_ref():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=3))
    await controller.sync("default/web")
    creates = [a for a in client.writes() if a.verb == "create"]
    assert len(creates) == 3
    body = creates[0].body
    assert body["metadata"]["generateName"] == "web-"
    assert body["metadata"]["labels"] == {"app": "web"}
    assert body["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                                    "uid": "rs-uid", "controller": True, "blockOwnerDeletion": True}]
    assert controller.expectations.pending("default/web") == (3, 0)
    assert [e[2] for e in controller.recorder.events] == ["SuccessfulCreate"] * 3


async def test_stale_cache_never_double_creates():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=2))
    await controller.sync("default/web")
    await controller.sync("default/web")  # the cache has not shown the new pods yet
    assert len([a for a in client.writes() if a.verb == "create"]) == 2


async def test_observed_creations_satisfy_expectations():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=1))
    await controller.sync("default/web")
    created = next(iter(o for k, o in client._objects.items() if k[1] == "pods"))
    put(controller, created)
    controller._pod_added(created)
    assert controller.expectations.satisfied("default/web")


async def test_create_failure_stops_slow_start_and_sets_replica_failure():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=5))
    client.fail_next("create", "pods", errors.Forbidden("pods \"web-\" is forbidden: exceeded quota"))
    with pytest.raises(errors.Forbidden):
        await controller.sync("default/web")
    assert len([a for a in client.writes() if a.verb == "create"]) == 1  # the first batch of 1 failed
    assert controller.expectations.satisfied("default/web")
    status = [a for a in client.writes() if a.subresource == "status"][-1].body["status"]
    assert status["conditions"][0]["reason"] == "FailedCreate"
    assert ("web", "Warning", "FailedCreate", "Error creating: pods \"web-\" is forbidden: exceeded quota") \
        in controller.recorder.events


async def test_deletes_extra_pods_by_rank_and_tracks_uids():
    pods = [pod("ready"), pod("pending", phase="Pending", ready=False), pod("unscheduled", node="", ready=False)]
    controller, client = make(rsc.ReplicaSetController, rs(replicas=1), *pods)
    await controller.sync("default/web")
    deletes = sorted(a.name for a in client.writes() if a.verb == "delete")
    assert deletes == ["pending", "unscheduled"]
    assert controller.expectations.pending("default/web") == (0, 2)
    gone = pod("pending", phase="Pending", ready=False)
    controller._pod_deleted(gone)
    controller._pod_deleted(gone)  # deletionTimestamp update, then the delete: counted once
    assert controller.expectations.pending("default/web") == (0, 1)


async def test_terminating_and_finished_pods_do_not_count():
    pods = [pod("a"), pod("b", deleting=True), pod("c", phase="Succeeded", ready=False)]
    controller, client = make(rsc.ReplicaSetController, rs(replicas=2), *pods)
    await controller.sync("default/web")
    assert len([a for a in client.writes() if a.verb == "create"]) == 1
    status = [a for a in client.writes() if a.subresource == "status"][-1].body["status"]
    assert status["replicas"] == 1


async def test_adopts_orphans_and_releases_non_matching():
    orphan = pod("orphan", owner="")
    stray = pod("stray", labels={"app": "other"})
    controller, client = make(rsc.ReplicaSetController, rs(replicas=1), orphan, stray)
    await controller.sync("default/web")
    patches = {a.name: a.body for a in client.writes() if a.verb == "patch"}
    assert patches["orphan"]["metadata"]["ownerReferences"][0]["uid"] == "rs-uid"
    assert patches["stray"]["metadata"]["ownerReferences"] == [{"$patch": "delete", "uid": "rs-uid"}]
    assert not [a for a in client.writes() if a.verb in ("create", "delete")]


async def test_other_controllers_pods_are_left_alone():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=1), pod("theirs", owner="someone-else"))
    await controller.sync("default/web")
    assert [a.verb for a in client.writes() if a.verb != "update"] == ["create"]


async def test_status_written_only_when_changed():
    current = {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
               "observedGeneration": 1}
    controller, client = make(rsc.ReplicaSetController, rs(replicas=1, status=current), pod("a"))
    await controller.sync("default/web")
    assert client.writes() == []


async def test_status_counts_and_observed_generation():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=2, generation=4), pod("a"), pod("b", ready=False))
    await controller.sync("default/web")
    [update] = [a for a in client.writes() if a.subresource == "status"]
    assert update.body["status"] == {"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1,
                                     "availableReplicas": 1, "observedGeneration": 4}


async def test_min_ready_seconds_requeues_until_available():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=1, min_ready=30),
                              pod("a", ready_since="2024-01-01T11:59:50Z"))
    await controller.sync("default/web")
    status = [a for a in client.writes() if a.subresource == "status"][-1].body["status"]
    assert status.get("availableReplicas") is None and status["readyReplicas"] == 1
    assert controller.clock.pending == 1  # add_after(minReadySeconds)


async def test_deleted_replicaset_forgets_expectations():
    controller, client = make(rsc.ReplicaSetController)
    controller.expectations.expect("default/web", adds=3)
    await controller.sync("default/web")
    assert controller.expectations.satisfied("default/web") and client.writes() == []


async def test_deleted_pod_is_replaced_in_one_sync():
    controller, client = make(rsc.ReplicaSetController, rs(replicas=2, status={"replicas": 2}), pod("a"),
                              pod("b", deleting=True))
    await controller.sync("default/web")
    assert len([a for a in client.writes() if a.verb == "create"]) == 1
