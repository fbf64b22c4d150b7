"""pods/eviction: the pure decisions as tables, then the shell over a real SQLite store and watch cache."""

from __future__ import annotations

import copy

import pytest

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.apiserver import eviction as ev
from tinykube.apiserver.resources import DeleteOptions, WriteContext

NS = "ns"
NOW = "2026-01-01T00:00:00Z"


def pod(name="web-1", phase="Running", ready=True, labels=None, deleting=False, ns=NS) -> dict:
    md = {"name": name, "namespace": ns, "labels": {"app": "web"} if labels is None else labels,
          "resourceVersion": "7", "uid": "u-" + name}
    if deleting:
        md["deletionTimestamp"] = NOW
    return {"metadata": md, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(name="web", selector=None, ns=NS, generation=1, policy=None, **status) -> dict:
    spec = {"selector": {"matchLabels": {"app": "web"}} if selector is None else selector}
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    return {"metadata": {"name": name, "namespace": ns, "generation": generation, "resourceVersion": "3"},
            "spec": spec, "status": {"observedGeneration": 1, "disruptionsAllowed": 0, "currentHealthy": 0,
                                     "desiredHealthy": 0, "expectedPods": 0, **status}}


# === pure decisions ========================================================================


@pytest.mark.parametrize("body, query_dry_run, error, dry_run", [
    ({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}}, False, None, False),
    ({"apiVersion": "policy/v1beta1", "kind": "Eviction", "metadata": {"name": "p"}}, False, None, False),
    ({"metadata": {"name": "p"}}, True, None, True),
    ({"metadata": {"name": "p"}, "deleteOptions": {"dryRun": ["All"]}}, False, None, True),
    ({"metadata": {"name": "q"}}, False, "name in URL does not match name in Eviction object", False),
    ({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}, False, "the API version in the data", False),
    ({"metadata": {"name": "p"}, "deleteOptions": {"dryRun": ["Some"]}}, False, 'Invalid value: "Some"', False),
])
def test_eviction_request(body, query_dry_run, error, dry_run):
    if error:
        with pytest.raises(errors.BadRequest, match=error):
            ev.eviction_request("p", body, query_dry_run)
        return
    assert ev.eviction_request("p", body, query_dry_run).dry_run is dry_run


def test_eviction_request_carries_the_delete_options():
    request = ev.eviction_request("p", {"metadata": {"name": "p"}, "deleteOptions": {
        "gracePeriodSeconds": 0, "preconditions": {"uid": "u"}, "propagationPolicy": "Background"}}, False)
    assert request.options == DeleteOptions(grace_period_seconds=0, propagation_policy="Background",
                                            preconditions={"uid": "u"})


@pytest.mark.parametrize("the_pod, ignore, enforce", [
    (pod(phase="Running"), False, True),
    (pod(phase="Pending"), True, True),
    (pod(phase="Succeeded"), True, False),
    (pod(phase="Failed"), True, False),
    (pod(phase="Running", deleting=True), True, False),
])
def test_pods_that_go_without_a_look_at_budgets(the_pod, ignore, enforce):
    assert ev.can_ignore_pdb(the_pod) is ignore
    assert ev.should_enforce_resource_version(the_pod) is enforce


@pytest.mark.parametrize("budget, covers", [
    (pdb(), True),
    (pdb(selector={"matchLabels": {"app": "db"}}), False),
    (pdb(selector={}), False),  # an empty selector covers nothing here
    (pdb(selector={"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}), True),
    (pdb(selector={"matchExpressions": [{"key": "app", "operator": "Bogus"}]}), False),
    (pdb(ns="other"), False),
])
def test_covering_pdbs(budget, covers):
    assert ev.covering_pdbs(pod(), [budget]) == ([budget] if covers else [])


@pytest.mark.parametrize("ready, policy, current, desired, may_go", [
    (True, None, 0, 0, False),
    (True, "AlwaysAllow", 0, 3, False),
    (False, "AlwaysAllow", 0, 3, True),
    (False, None, 3, 3, True),  # IfHealthyBudget (the unset default): the budget is met
    (False, "IfHealthyBudget", 2, 3, False),
    (False, None, 0, 0, False),
])
def test_unhealthy_pod_may_go(ready, policy, current, desired, may_go):
    budget = pdb(policy=policy, currentHealthy=current, desiredHealthy=desired)
    assert ev.unhealthy_pod_may_go(pod(ready=ready), budget) is may_go


def test_check_and_decrement_spends_one_disruption_and_records_the_pod():
    status = ev.check_and_decrement(pdb(disruptionsAllowed=2, disruptedPods={"old": NOW}), "web-1", NOW)
    assert status["disruptionsAllowed"] == 1 and "conditions" not in status
    assert status["disruptedPods"] == {"old": NOW, "web-1": NOW}
    last = ev.check_and_decrement(pdb(disruptionsAllowed=1), "web-1", NOW)
    assert last["disruptionsAllowed"] == 0
    assert last["conditions"] == [{"type": "DisruptionAllowed", "status": "False", "reason": "InsufficientPods",
                                   "message": "", "observedGeneration": 1, "lastTransitionTime": NOW}]


@pytest.mark.parametrize("budget, error, code, cause", [
    (pdb(disruptionsAllowed=0, currentHealthy=2, desiredHealthy=2), errors.TooManyRequests, 429,
     "The disruption budget web needs 2 healthy pods and has 2 currently"),
    (pdb(generation=2, disruptionsAllowed=5), errors.TooManyRequests, 429,
     "The disruption budget web is still being processed by the server."),
    (pdb(disruptionsAllowed=-1), errors.Forbidden, 403, None),
    (pdb(disruptionsAllowed=1, disruptedPods={f"p{i}": NOW for i in range(2001)}), errors.Forbidden, 403, None),
])
def test_check_and_decrement_refusals(budget, error, code, cause):
    with pytest.raises(error) as info:
        ev.check_and_decrement(budget, "web-1", NOW)
    status = info.value.to_status()
    assert status["code"] == code
    if cause:
        assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
        assert status["details"]["causes"] == [{"reason": "DisruptionBudget", "message": cause}]


def test_disruption_target_keeps_its_transition_time():
    marked = ev.with_disruption_target(pod(), NOW)
    target = [c for c in marked["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert target == [{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI",
                       "message": "Eviction API: evicting", "lastProbeTime": None, "lastTransitionTime": NOW}]
    assert ev.with_disruption_target(marked, "2030-01-01T00:00:00Z") == marked


# === the shell over a real store ============================================================

PODS = REGISTRY.by_plural("", "v1", "pods")
PDBS = REGISTRY.by_plural("policy", "v1", "poddisruptionbudgets")
CTX = WriteContext(field_manager="test")


async def running_pod(res, name: str) -> None:
    await res.create(PODS, NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
                                "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}, CTX)
    current = copy.deepcopy((await res.get(PODS, NS, name)).obj)  # never change the cache's own
    current["status"].update(phase="Running", conditions=[{"type": "Ready", "status": "True"}])
    await res.update(PODS, NS, name, current, CTX, "status")


async def budget(res, name: str = "web", **status) -> None:
    await res.create(PDBS, NS, {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
                                "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}, CTX)
    current = copy.deepcopy((await res.get(PDBS, NS, name)).obj)
    current["status"].update(observedGeneration=1, **status)
    await res.update(PDBS, NS, name, current, CTX, "status")


def evict_body(name: str, **delete_options) -> dict:
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": NS}}
    if delete_options:
        body["deleteOptions"] = delete_options
    return body


async def test_allowed_eviction_spends_the_budget_marks_and_deletes_the_pod(res):
    await running_pod(res, "web-1")
    await budget(res, disruptionsAllowed=1, currentHealthy=1, desiredHealthy=1)
    assert await ev.evict(res, NS, "web-1", evict_body("web-1"), CTX) == ev.SUCCESS
    status = (await res.get(PDBS, NS, "web")).obj["status"]
    assert status["disruptionsAllowed"] == 0 and list(status["disruptedPods"]) == ["web-1"]
    gone = (await res.get(PODS, NS, "web-1")).obj  # a bound pod waits for its node: graceful
    assert gone["metadata"]["deletionTimestamp"]
    assert {c["type"]: c.get("reason") for c in gone["status"]["conditions"]}["DisruptionTarget"] == \
        "EvictionByEvictionAPI"


async def test_refused_eviction_writes_nothing(res):
    await running_pod(res, "web-1")
    await budget(res, disruptionsAllowed=0, currentHealthy=1, desiredHealthy=1)
    before = (await res.get(PODS, NS, "web-1")).rev
    with pytest.raises(errors.TooManyRequests):
        await ev.evict(res, NS, "web-1", evict_body("web-1"), CTX)
    assert (await res.get(PODS, NS, "web-1")).rev == before


async def test_dry_run_checks_but_writes_nothing(res):
    await running_pod(res, "web-1")
    await budget(res, disruptionsAllowed=1, currentHealthy=1, desiredHealthy=1)
    revs = ((await res.get(PODS, NS, "web-1")).rev, (await res.get(PDBS, NS, "web")).rev)
    await ev.evict(res, NS, "web-1", evict_body("web-1", dryRun=["All"]), CTX)
    assert ((await res.get(PODS, NS, "web-1")).rev, (await res.get(PDBS, NS, "web")).rev) == revs


async def test_two_budgets_are_refused_and_none_deletes_at_once(res):
    await running_pod(res, "web-1")
    await running_pod(res, "web-2")
    await ev.evict(res, NS, "web-2", evict_body("web-2", gracePeriodSeconds=0), CTX)
    with pytest.raises(errors.NotFound):
        await res.get(PODS, NS, "web-2")
    await budget(res, "a", disruptionsAllowed=1)
    await budget(res, "b", disruptionsAllowed=1)
    with pytest.raises(errors.InternalError, match="more than one PodDisruptionBudget"):
        await ev.evict(res, NS, "web-1", evict_body("web-1"), CTX)


async def test_a_stale_resource_version_precondition_is_a_conflict(res):
    await running_pod(res, "web-1")
    with pytest.raises(errors.Conflict, match="Precondition failed"):
        await ev.evict(res, NS, "web-1", evict_body("web-1", preconditions={"resourceVersion": "1"}), CTX)
    with pytest.raises(errors.NotFound):
        await ev.evict(res, NS, "nope", evict_body("nope"), CTX)
