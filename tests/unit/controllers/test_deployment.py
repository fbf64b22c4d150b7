"""Deployment controller: sync(key) once over a FakeApiClient with filled informer
stores; assert the writes (ReplicaSets created/scaled, status, events)."""

from __future__ import annotations

from tinykube.api import errors
from tinykube.controllers.deployment import revisions
from tinykube.controllers.deployment.controller import DeploymentController

from tests.unit.controllers.test_replicaset import make
from tests.unit.controllers.test_deployment_rolling import deploy

KEY = "default/web"


def owned_rs(d: dict, name: str, replicas: int, *, template=None, revision=1, available=None,
             created="2024-01-01T10:00:00Z", desired=None) -> dict:
    obj = revisions.new_rs_object(d, name.rsplit("-", 1)[1], replicas)
    obj["metadata"]["name"] = name
    obj["metadata"].update(uid=f"uid-{name}", creationTimestamp=created, generation=1)
    want = d["spec"]["replicas"] if desired is None else desired
    obj["metadata"]["annotations"] = {revisions.REVISION: str(revision), revisions.DESIRED_REPLICAS: str(want),
                                      revisions.MAX_REPLICAS: str(want + 1)}
    if template is not None:
        obj["spec"]["template"] = template
    avail = replicas if available is None else available
    obj["status"] = {"replicas": replicas, "readyReplicas": avail, "availableReplicas": avail,
                     "observedGeneration": 1}
    return obj


def writes(client, verb=None, plural=None):
    return [a for a in client.writes() if (verb is None or a.verb == verb) and (plural is None or a.plural == plural)]


def old_template():
    return {"metadata": {"labels": {"app": "web", "pod-template-hash": "old"}},
            "spec": {"containers": [{"name": "c", "image": "old"}]}}


async def test_new_deployment_creates_replica_set_and_status():
    d = deploy(replicas=3, surge=1, unavailable=0)
    controller, client = make(DeploymentController, d)
    await controller.sync(KEY)
    [create] = writes(client, "create", "replicasets")
    rs = create.body
    h = revisions.compute_hash(d["spec"]["template"], None)
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["replicas"] == 3
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": h}
    assert rs["metadata"]["annotations"] == {revisions.REVISION: "1", revisions.DESIRED_REPLICAS: "3",
                                             revisions.MAX_REPLICAS: "4"}
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    assert ("web", "Normal", "ScalingReplicaSet", f"Scaled up replica set web-{h} from 0 to 3") \
        in controller.recorder.events
    status_writes = writes(client, "update", "deployments")
    assert all(a.subresource == "status" for a in status_writes)
    first = status_writes[0].body
    assert first["metadata"]["annotations"][revisions.REVISION] == "1"
    progressing = [c for c in first["status"]["conditions"] if c["type"] == "Progressing"][0]
    assert (progressing["reason"], progressing["message"]) == ("NewReplicaSetCreated",
                                                               f'Created new replica set "web-{h}"')


async def test_rolling_update_surges_new_rs_first():
    d = deploy(replicas=3, surge=1, unavailable=0)
    d["metadata"]["generation"] = 2
    old = owned_rs(d, "web-old", 3, template=old_template())
    controller, client = make(DeploymentController, d, old)
    await controller.sync(KEY)
    [create] = writes(client, "create", "replicasets")
    assert create.body["spec"]["replicas"] == 1  # 3 + maxSurge 1 = 4 pods at most
    assert create.body["metadata"]["annotations"][revisions.REVISION] == "2"
    assert not [a for a in writes(client, "update", "replicasets") if a.name == "web-old"]  # maxUnavailable 0


async def test_rolling_update_scales_old_down_when_new_available():
    d = deploy(replicas=3, surge=1, unavailable=0)
    h = revisions.compute_hash(d["spec"]["template"], None)
    old = owned_rs(d, "web-old", 3, template=old_template())
    new = owned_rs(d, f"web-{h}", 1, revision=2, created="2024-01-01T11:00:00Z")
    controller, client = make(DeploymentController, d, old, new)
    await controller.sync(KEY)
    scaled = {a.name: a.body["spec"]["replicas"] for a in writes(client, "update", "replicasets")}
    assert scaled == {"web-old": 2}
    assert ("web", "Normal", "ScalingReplicaSet", "Scaled down replica set web-old from 3 to 2") \
        in controller.recorder.events


async def test_never_below_min_available():
    d = deploy(replicas=4, surge=1, unavailable=1)
    h = revisions.compute_hash(d["spec"]["template"], None)
    old = owned_rs(d, "web-old", 3, template=old_template())
    new = owned_rs(d, f"web-{h}", 2, revision=2, available=0, created="2024-01-01T11:00:00Z")
    controller, client = make(DeploymentController, d, old, new)
    await controller.sync(KEY)
    # 5 pods, 3 available, min available 3, 2 new unavailable: nothing may go
    assert writes(client, "update", "replicasets") == []


async def test_scaling_event_resizes_the_single_rs():
    d = deploy(replicas=5, surge=1, unavailable=0)
    h = revisions.compute_hash(d["spec"]["template"], None)
    new = owned_rs(d, f"web-{h}", 3, desired=3)
    controller, client = make(DeploymentController, d, new)
    await controller.sync(KEY)
    [update] = writes(client, "update", "replicasets")
    assert update.body["spec"]["replicas"] == 5
    assert update.body["metadata"]["annotations"][revisions.DESIRED_REPLICAS] == "5"


async def test_paused_deployment_does_not_roll_and_reports_paused():
    d = deploy(replicas=3, surge=1, unavailable=0)
    d["spec"]["paused"] = True
    old = owned_rs(d, "web-old", 3, template=old_template())
    controller, client = make(DeploymentController, d, old)
    await controller.sync(KEY)
    assert writes(client, "create", "replicasets") == []
    cond = [c for c in writes(client, "update", "deployments")[0].body["status"]["conditions"]
            if c["type"] == "Progressing"][0]
    assert cond["reason"] == "DeploymentPaused"


async def test_recreate_scales_old_to_zero_first_then_waits_for_pods():
    d = deploy(replicas=2, strategy="Recreate")
    old = owned_rs(d, "web-old", 2, template=old_template())
    controller, client = make(DeploymentController, d, old)
    await controller.sync(KEY)
    assert [(a.name, a.body["spec"]["replicas"]) for a in writes(client, "update", "replicasets")] == [("web-old", 0)]
    assert writes(client, "create", "replicasets") == []


async def test_recreate_creates_new_when_old_pods_gone():
    d = deploy(replicas=2, strategy="Recreate")
    old = owned_rs(d, "web-old", 0, template=old_template())
    old["status"] = {"replicas": 0, "observedGeneration": 1}
    controller, client = make(DeploymentController, d, old)
    await controller.sync(KEY)
    [create] = writes(client, "create", "replicasets")
    assert create.body["spec"]["replicas"] == 2


async def test_complete_rollout_cleans_up_history():
    d = deploy(replicas=1, surge=1, unavailable=0)  # revisionHistoryLimit 2
    h = revisions.compute_hash(d["spec"]["template"], None)
    olds = [owned_rs(d, f"web-r{i}", 0, revision=i, template=old_template()) for i in (1, 2, 3)]
    for o in olds:
        o["status"] = {"replicas": 0, "observedGeneration": 1}
    new = owned_rs(d, f"web-{h}", 1, revision=4, created="2024-01-01T11:00:00Z")
    d["status"] = {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    controller, client = make(DeploymentController, d, *olds, new)
    await controller.sync(KEY)
    assert [a.name for a in writes(client, "delete", "replicasets")] == ["web-r1"]


async def test_hash_collision_bumps_collision_count():
    d = deploy(replicas=1)
    h = revisions.compute_hash(d["spec"]["template"], None)
    squatter = owned_rs(d, f"web-{h}", 1, template=old_template())
    squatter["metadata"]["ownerReferences"][0]["uid"] = "someone-else"
    controller, client = make(DeploymentController, d, squatter)
    try:
        await controller.sync(KEY)
    except errors.AlreadyExists:
        pass
    else:
        raise AssertionError("a collision must fail the sync so it is retried")
    status = writes(client, "update", "deployments")[-1].body["status"]
    assert status["collisionCount"] == 1


async def test_adopts_orphan_replica_set():
    d = deploy(replicas=1)
    orphan = owned_rs(d, "web-orphan", 1, template=old_template())
    del orphan["metadata"]["ownerReferences"]
    controller, client = make(DeploymentController, d, orphan)
    await controller.sync(KEY)
    [patch] = writes(client, "patch", "replicasets")
    assert patch.name == "web-orphan" and patch.body["metadata"]["ownerReferences"][0]["uid"] == "d-uid"


async def test_steady_deployment_writes_nothing():
    d = deploy(replicas=2, surge=1, unavailable=0)
    h = revisions.compute_hash(d["spec"]["template"], None)
    new = owned_rs(d, f"web-{h}", 2)
    new["metadata"]["annotations"][revisions.MAX_REPLICAS] = "3"
    d["metadata"]["annotations"] = {revisions.REVISION: "1"}
    controller, client = make(DeploymentController, d, new)
    await controller.sync(KEY)
    status = writes(client, "update", "deployments")[-1].body
    controller.d_informer.store.put(dict(d, status=status["status"]))
    client.actions.clear()
    await controller.sync(KEY)
    assert client.writes() == []


async def test_deleted_deployment_is_a_no_op():
    controller, client = make(DeploymentController)
    await controller.sync(KEY)
    assert client.writes() == []
