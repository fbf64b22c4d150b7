"""Disruption controller: pure tables for the budget arithmetic, and sync(key) once over a
FakeApiClient with informer stores filled by hand (no informer runs, no sleeps)."""

from __future__ import annotations

import datetime

import pytest

from tinykube.api import errors
from tinykube.controllers import disruption as dc
from tinykube.controllers.podutil import format_time

from .workload_fakes import NOW, make, writes

T = format_time
NS = "default"


def pdb(*, min_available=None, max_unavailable=None, selector=None, status=None, generation=2, name="web-pdb"):
    spec = {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    if selector == "nil":
        del spec["selector"]
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": NS, "uid": f"{name}-uid", "generation": generation},
            "spec": spec, "status": status or {}}


def owner_ref(kind, name, uid, api_version="apps/v1"):
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uid, "controller": True}


def pod(name, *, ready=True, deleting=False, owner=None, labels=None):
    md = {"name": name, "namespace": NS, "uid": f"{name}-uid", "labels": labels or {"app": "web"}}
    if owner is not None:
        md["ownerReferences"] = [owner]
    if deleting:
        md["deletionTimestamp"] = T(NOW)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": {"nodeName": "n1", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def workload(kind, name, replicas, *, owner=None):
    md = {"name": name, "namespace": NS, "uid": f"{name}-uid"}
    if owner is not None:
        md["ownerReferences"] = [owner]
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": md,
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}}}}


RS = workload("ReplicaSet", "web-rs", 4)
RS_POD = owner_ref("ReplicaSet", "web-rs", "web-rs-uid")
STS = workload("StatefulSet", "web", 5)
STS_POD = owner_ref("StatefulSet", "web", "web-uid")
DEPLOY = workload("Deployment", "web-deploy", 10)
DEPLOY_RS = workload("ReplicaSet", "web-deploy-abc", 3, owner=owner_ref("Deployment", "web-deploy", "web-deploy-uid"))
DEPLOY_POD = owner_ref("ReplicaSet", "web-deploy-abc", "web-deploy-abc-uid")


def pods(n, *, owner=None, unready=0, deleting=0):
    out = [pod(f"web-{i}", owner=owner) for i in range(n)]
    for p in out[:unready]:
        p["status"]["conditions"][0]["status"] = "False"
    for p in out[unready:unready + deleting]:
        p["metadata"]["deletionTimestamp"] = T(NOW)
    return out


async def sync_once(budget, *objects, now=NOW):
    controller, client = make(dc.DisruptionController, budget, *objects, now=now)
    await controller.sync(f"{NS}/{budget['metadata']['name']}")
    updates = writes(client, "update")
    return controller, (updates[-1].body["status"] if updates else None), updates


def counts(status):
    return (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"], status["disruptionsAllowed"])


def condition(status):
    (c,) = [c for c in status["conditions"] if c["type"] == "DisruptionAllowed"]
    return c["status"], c["reason"], c["message"]


# --- sync once: the status written ----------------------------------------------------------


@pytest.mark.parametrize("budget, objects, expected", [
    # minAvailable as an integer: expected = matching pods, desired = minAvailable
    (pdb(min_available=2), pods(3), (3, 2, 3, 1)),
    (pdb(min_available=3), pods(3), (3, 3, 3, 0)),
    (pdb(min_available=2), pods(3, unready=1), (3, 2, 2, 0)),
    (pdb(min_available=1), pods(3, unready=1, deleting=1), (3, 1, 1, 0)),  # being deleted: not healthy
    (pdb(min_available=0), [], (0, 0, 0, 0)),  # nothing expected: no disruption allowed
    # minAvailable as a percentage: the controllers' scale, rounded up
    (pdb(min_available="50%"), [RS, *pods(3, owner=RS_POD)], (4, 2, 3, 1)),
    (pdb(min_available="60%"), [STS, *pods(5, owner=STS_POD)], (5, 3, 5, 2)),
    # maxUnavailable: expected = scale, desired = expected - maxUnavailable
    (pdb(max_unavailable=1), [RS, *pods(4, owner=RS_POD)], (4, 3, 4, 1)),
    (pdb(max_unavailable=1), [RS, *pods(4, owner=RS_POD, unready=1)], (4, 3, 3, 0)),
    (pdb(max_unavailable=9), [RS, *pods(4, owner=RS_POD)], (4, 0, 4, 4)),  # desired not below 0
    (pdb(max_unavailable="30%"), [STS, *pods(5, owner=STS_POD)], (5, 3, 5, 2)),  # 1.5 -> 2 (up)
    (pdb(max_unavailable="25%"), [STS, *pods(5, owner=STS_POD, unready=2)], (5, 3, 3, 0)),
    # a Deployment's pods count with the Deployment's scale, not the ReplicaSet's
    (pdb(max_unavailable=2), [DEPLOY, DEPLOY_RS, *pods(3, owner=DEPLOY_POD)], (10, 8, 3, 0)),
    # a ReplicaSet and a StatefulSet selected together: their scales add up
    (pdb(max_unavailable=1), [RS, STS, pod("a", owner=RS_POD), pod("b", owner=STS_POD)], (9, 8, 2, 0)),
    # selectors: other labels and an empty selector (everything in the namespace)
    (pdb(min_available=1), [*pods(2), pod("other", labels={"app": "db"})], (2, 1, 2, 1)),
    (pdb(min_available=1, selector={}), [*pods(2), pod("other", labels={"app": "db"})], (3, 1, 3, 2)),
    (pdb(min_available=0, selector="nil"), pods(2), (0, 0, 0, 0)),
    # only unmanaged pods: nothing expected, so none may go although two are healthy
    (pdb(max_unavailable=1), pods(2), (0, 0, 2, 0)),
])
async def test_status_counts(budget, objects, expected):
    _, status, _ = await sync_once(budget, *objects)
    assert counts(status) == expected
    assert status["observedGeneration"] == 2
    allowed = expected[3] > 0
    assert condition(status) == (("True", "SufficientPods", "") if allowed else ("False", "InsufficientPods", ""))


async def test_pods_of_other_namespaces_are_not_counted():
    other = pod("elsewhere")
    other["metadata"]["namespace"] = "other"
    _, status, _ = await sync_once(pdb(min_available=1), *pods(1), other)
    assert counts(status) == (1, 1, 1, 0)


@pytest.mark.parametrize("objects, message", [
    # the controller reference names a kind without a scale subresource
    ([pod("web-0", owner=owner_ref("Job", "once", "job-uid", "batch/v1"))],
     "jobs.batch does not implement the scale subresource"),
    ([pod("web-0", owner=owner_ref("DaemonSet", "ds", "ds-uid"))],
     "daemonsets.apps does not implement the scale subresource"),
    # a scalable kind whose object is not there (or has another uid)
    ([pod("web-0", owner=owner_ref("StatefulSet", "gone", "gone-uid"))], 'found no controllers for pod "web-0"'),
    ([pod("web-0", owner=owner_ref("Frobnicator", "f", "f-uid", "example.com/v1"))],
     'no matches for kind "Frobnicator" in version "example.com/v1"'),
])
async def test_pod_without_a_scalable_controller_fails_safe(objects, message):
    old = {"disruptionsAllowed": 2, "currentHealthy": 3, "desiredHealthy": 1, "expectedPods": 3,
           "observedGeneration": 1, "conditions": [{"type": "DisruptionAllowed", "status": "True",
                                                    "reason": "SufficientPods", "message": "",
                                                    "observedGeneration": 1,
                                                    "lastTransitionTime": "2024-01-01T10:00:00Z"}]}
    controller, status, _ = await sync_once(pdb(max_unavailable=1, status=old), *objects)
    assert status["disruptionsAllowed"] == 0
    assert (status["currentHealthy"], status["expectedPods"]) == (3, 3)  # the rest of the old status kept
    assert condition(status) == ("False", "SyncFailed", message)
    assert status["conditions"][0]["lastTransitionTime"] == T(NOW)
    assert ("web-pdb", "Warning", "CalculateExpectedPodCountFailed",
            f"Failed to calculate the number of expected pods: {message}") in controller.recorder.events


async def test_pods_without_controller_are_left_out_with_a_warning():
    controller, status, _ = await sync_once(pdb(max_unavailable=1), RS, *pods(2, owner=RS_POD), pod("bare"))
    assert counts(status) == (4, 3, 3, 0)  # the bare pod counts as healthy, not as expected
    assert "UnmanagedPods" in [e[2] for e in controller.recorder.events]
    message = next(e[3] for e in controller.recorder.events if e[2] == "UnmanagedPods")
    assert message.startswith("Pods selected by this PodDisruptionBudget (selector: &LabelSelector{"
                              "MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},})")


async def test_minimum_available_percentage_with_an_invalid_value_fails_safe():
    _, status, _ = await sync_once(pdb(min_available="half"), RS, *pods(2, owner=RS_POD))
    assert condition(status)[:2] == ("False", "SyncFailed")


async def test_no_pods_event():
    controller, status, _ = await sync_once(pdb(min_available=1))
    assert ("web-pdb", "Normal", "NoPods", "No matching pods found") in controller.recorder.events
    assert counts(status) == (0, 1, 0, 0)


# --- disruptedPods --------------------------------------------------------------------------


async def test_disrupted_pods_are_not_healthy_until_the_deletion_timeout():
    evicted = T(NOW - datetime.timedelta(seconds=30))
    status = {"disruptedPods": {"web-0": evicted}}
    controller, written, _ = await sync_once(pdb(min_available=1, status=status), *pods(3))
    assert counts(written) == (3, 1, 2, 1)
    assert written["disruptedPods"] == {"web-0": evicted}
    # rechecked when the entry expires: 2 minutes after the eviction
    ready_at, _ = controller.queue._delayed[f"{NS}/web-pdb"]
    assert ready_at - controller.clock.monotonic() == pytest.approx(90)


@pytest.mark.parametrize("entry, objects, reason", [
    ({"web-0": T(NOW - datetime.timedelta(minutes=3))}, pods(3), "NotDeleted"),  # expired
    ({"gone": T(NOW)}, pods(3), None),  # the pod is gone
    ({"web-0": T(NOW)}, [pod("web-0", deleting=True), pod("web-1"), pod("web-2"), pod("web-3")], None),
])
async def test_disrupted_pods_entries_are_dropped(entry, objects, reason):
    controller, written, _ = await sync_once(pdb(min_available=1, status={"disruptedPods": entry}), *objects)
    assert "disruptedPods" not in written
    assert written["currentHealthy"] == 3
    assert f"{NS}/web-pdb" not in controller.queue._delayed
    events = [(e[0], e[2]) for e in controller.recorder.events if e[1] == "Warning"]
    assert events == ([("web-0", reason)] if reason else [])


# --- writes only when changed, conflicts, conditions ----------------------------------------


async def test_no_write_when_the_status_is_current():
    _, status, _ = await sync_once(pdb(min_available=2), *pods(3))
    _, again, updates = await sync_once(pdb(min_available=2, status=status), *pods(3))
    assert again is None and updates == []


async def test_last_transition_time_kept_while_the_condition_holds():
    earlier = "2024-01-01T09:00:00Z"
    old = {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3,
           "observedGeneration": 2, "conditions": [{"type": "DisruptionAllowed", "status": "True", "message": "",
                                                    "reason": "SufficientPods", "observedGeneration": 2,
                                                    "lastTransitionTime": earlier}]}
    _, status, _ = await sync_once(pdb(min_available=1, status=old), *pods(3))  # 2 allowed now
    assert status["disruptionsAllowed"] == 2
    assert status["conditions"][0]["lastTransitionTime"] == earlier
    _, status, _ = await sync_once(pdb(min_available=3, status=old), *pods(3))  # none allowed now
    assert condition(status) == ("False", "InsufficientPods", "")
    assert status["conditions"][0]["lastTransitionTime"] == T(NOW)


async def test_conflict_is_raised_for_the_queue_to_retry():
    controller, client = make(dc.DisruptionController, pdb(min_available=1), *pods(2))
    client.fail_next("update", "poddisruptionbudgets", errors.Conflict("the object has been modified"))
    with pytest.raises(errors.Conflict):
        await controller.sync(f"{NS}/web-pdb")


async def test_deleted_budget_is_a_no_op():
    controller, client = make(dc.DisruptionController, *pods(2))
    await controller.sync(f"{NS}/web-pdb")
    assert writes(client) == []


# --- triggers -------------------------------------------------------------------------------


def test_pod_events_queue_every_matching_budget():
    controller, _ = make(dc.DisruptionController, pdb(min_available=1), pdb(min_available=1, name="all", selector={}),
                         pdb(min_available=1, name="db", selector={"matchLabels": {"app": "db"}}))
    controller._pod_event(pod("web-0"))
    assert sorted(controller.queue._queue) == [f"{NS}/all", f"{NS}/web-pdb"]


def test_scale_changes_queue_the_budgets_that_count_scales():
    controller, _ = make(dc.DisruptionController, pdb(max_unavailable=1), pdb(min_available=1, name="int"),
                         pdb(min_available="50%", name="pct"))
    controller._scale_event(RS, RS)
    assert list(controller.queue._queue) == []
    controller._scale_event(RS, workload("ReplicaSet", "web-rs", 6))
    assert sorted(controller.queue._queue) == [f"{NS}/pct", f"{NS}/web-pdb"]


# --- pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize("spec, n_pods, scale, expected", [
    ({"minAvailable": 2}, 3, 5, dc.Counts(3, 2)),
    ({"minAvailable": "50%"}, 3, 5, dc.Counts(5, 3)),
    ({"minAvailable": "0%"}, 3, 5, dc.Counts(5, 0)),
    ({"maxUnavailable": "50%"}, 3, 5, dc.Counts(5, 2)),   # 2.5 -> 3 unavailable
    ({"maxUnavailable": 0}, 3, 5, dc.Counts(5, 5)),
    ({}, 3, 5, dc.Counts(0, 0)),
])
def test_expected_counts(spec, n_pods, scale, expected):
    scales = {"web-rs-uid": ("web-rs-uid", scale)}
    assert dc.expected_counts(spec, pods(n_pods, owner=RS_POD), scales) == expected


def test_live_disruptions_recheck_at_the_earliest_expiry():
    entries = {"web-0": T(NOW - datetime.timedelta(seconds=100)), "web-1": T(NOW - datetime.timedelta(seconds=10))}
    out = dc.live_disruptions(entries, pods(3), NOW)
    assert out.pods == entries and out.recheck_at == NOW + datetime.timedelta(seconds=20)


# --- stale DisruptionTarget conditions ------------------------------------------------------


def disrupted_pod(*, since, reason="EvictionByEvictionAPI", status="True", phase="Running", deleting=False):
    p = pod("web-0", deleting=deleting)
    p["status"]["phase"] = phase
    p["status"]["conditions"].append({"type": "DisruptionTarget", "status": status, "reason": reason,
                                      "message": "Eviction API: evicting", "lastTransitionTime": T(since)})
    return p


MINUTE = datetime.timedelta(minutes=1)


@pytest.mark.parametrize("target, expected", [
    (disrupted_pod(since=NOW - 3 * MINUTE), datetime.timedelta(0)),  # stale: clear now
    (disrupted_pod(since=NOW - MINUTE), MINUTE),                     # stale in a minute
    (disrupted_pod(since=NOW, deleting=True), None),                 # on its way out
    (disrupted_pod(since=NOW, status="False"), None),
    (disrupted_pod(since=NOW, reason="TerminationByKubelet"), None),
    (disrupted_pod(since=NOW, phase="Failed"), None),
    (pod("web-0"), None),
])
def test_stale_disruption_wait(target, expected):
    assert dc.stale_disruption_wait(target, NOW) == expected


async def test_a_stale_disruption_condition_is_set_back_to_false():
    controller, client = make(dc.DisruptionController, disrupted_pod(since=NOW - 3 * MINUTE))
    await controller.sync(f"pod:{NS}/web-0")
    (patch,) = writes(client, "patch")
    assert patch.subresource == "status"
    assert patch.body == {"status": {"conditions": [{"type": "DisruptionTarget", "status": "False",
                                                     "lastTransitionTime": T(NOW), "reason": None,
                                                     "message": None}]}}


async def test_a_fresh_disruption_condition_is_checked_again_when_it_goes_stale():
    controller, client = make(dc.DisruptionController, disrupted_pod(since=NOW - MINUTE))
    await controller.sync(f"pod:{NS}/web-0")
    assert writes(client, "patch") == []
    assert len(controller.queue) == 0  # the key comes back after the delay, not now
    controller.clock.advance(59)
    assert len(controller.queue) == 0
    controller.clock.advance(1)
    assert len(controller.queue) == 1 and controller.queue.is_processing("pod:default/web-0") is False
    # a pod event queues it the same way
    controller._pod_event(controller.pods.store.get(f"{NS}/web-0"))
    controller.clock.advance(60)
    assert len(controller.queue) == 1  # one key, queued once
