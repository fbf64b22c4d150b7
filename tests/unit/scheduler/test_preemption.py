"""DefaultPreemption as tables: which node, which victims, and what the pod is told."""

from __future__ import annotations

import random

from tinykube.scheduler.cache import PodInfo
from tinykube.scheduler.config import SchedulerConfig, instantiate
from tinykube.scheduler.framework import Framework
from tinykube.scheduler.messages import fit_error
from tinykube.scheduler.preemption import Preemption, budgets, pdb_violations, pick_one_node
from tests.unit.scheduler.helpers import cache_with, node, pod


def prio(name: str, priority: int, cpu: str, started: str = "2026-01-01T00:00:00Z", **kw) -> dict:
    p = pod(name, cpu=cpu, priority=priority, **kw)
    p["status"] = {"startTime": started}
    return p


def run(placed, preemptor: dict, nodes=None):
    cache = cache_with(nodes or [node("n1"), node("n2"), node("n3")], placed)
    framework = Framework(*instantiate(SchedulerConfig()))
    info = PodInfo(preemptor)
    result = framework.schedule(info, cache)
    assert not result.node, "the preemptor must not fit as is"
    before = {n.name: (n.req_cpu, len(n.pods)) for n in cache.node_list}
    outcome = Preemption().preempt(info, cache, framework, result.diagnosis)
    assert {n.name: (n.req_cpu, len(n.pods)) for n in cache.node_list} == before, "the dry run restores the cache"
    return outcome, fit_error(result.diagnosis, post_filter=outcome.message)


def victims(outcome) -> list[str]:
    return [v.name for v in outcome.victims]


def test_the_node_whose_highest_victim_priority_is_lowest():
    placed = [(prio("low-a", 1, "2"), "n1"), (prio("low-b", 1, "2"), "n1"), (prio("mid", 5, "4"), "n2"),
              (prio("top", 100, "4"), "n3")]
    outcome, message = run(placed, prio("new", 10, "3"))
    assert (outcome.node, sorted(victims(outcome))) == ("n1", ["low-a", "low-b"])
    assert message == "0/3 nodes are available: 3 Insufficient cpu."  # upstream: no preemption part on success


def test_then_the_lowest_sum_of_priorities():
    placed = [(prio("a", 1, "2"), "n1"), (prio("b", 1, "2"), "n1"), (prio("c", 1, "4"), "n2"),
              (prio("top", 100, "4"), "n3")]
    outcome, _ = run(placed, prio("new", 10, "3"))
    assert (outcome.node, victims(outcome)) == ("n2", ["c"])


def test_then_the_latest_started_highest_priority_victims():
    placed = [(prio("old", 1, "4", started="2026-01-01T00:00:00Z"), "n1"),
              (prio("young", 1, "4", started="2026-01-02T00:00:00Z"), "n2"),
              (prio("top", 100, "4"), "n3")]
    outcome, _ = run(placed, prio("new", 10, "1"))
    assert (outcome.node, victims(outcome)) == ("n2", ["young"])


def test_victims_that_fit_beside_the_pod_are_reprieved_most_important_first():
    placed = [(prio("p3", 3, "1"), "n1"), (prio("p2", 2, "1"), "n1"), (prio("p1", 1, "1"), "n1"),
              (prio("p0", 0, "1"), "n1")]
    outcome, _ = run(placed, prio("new", 10, "2"), nodes=[node("n1")])
    assert (outcome.node, victims(outcome)) == ("n1", ["p1", "p0"])  # 4 cpu: p3, p2 and the new pod's 2


def test_equal_or_higher_priority_pods_are_never_victims():
    placed = [(prio(f"same{i}", 10, "4"), f"n{i}") for i in (1, 2, 3)]
    outcome, message = run(placed, prio("new", 10, "1"))
    assert not outcome.node and not outcome.victims
    assert message == ("0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
                       "3 No preemption victims found for incoming pod.")


def test_a_node_where_even_evicting_every_lower_pod_is_not_enough():
    placed = [(prio("low", 1, "1"), "n1"), (prio("top", 100, "4"), "n2")]
    outcome, message = run(placed, prio("new", 10, "8"), nodes=[node("n1"), node("n2")])
    assert not outcome.node
    assert message == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                       "1 Insufficient cpu, 1 No preemption victims found for incoming pod.")


def test_nodes_failing_for_unresolvable_reasons_are_not_helped():
    tainted = node("n2", taints=[{"key": "k", "value": "v", "effect": "NoSchedule"}])
    placed = [(prio("low", 1, "4"), "n1"), (prio("low2", 1, "4"), "n2")]
    outcome, message = run(placed, prio("new", 10, "2", nodeSelector={"missing": "x"}), nodes=[node("n1"), tainted])
    assert not outcome.node
    assert message.endswith("preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.")
    outcome, _ = run(placed, prio("new", 10, "2"), nodes=[node("n1"), tainted])
    assert (outcome.node, victims(outcome)) == ("n1", ["low"])


def test_preemption_policy_never():
    outcome, message = run([(prio("low", 1, "4"), "n1")], prio("new", 10, "2", preemptionPolicy="Never"),
                           nodes=[node("n1")])
    assert not outcome.node
    assert message == "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."


def test_a_nominated_pod_waits_for_its_terminating_victims():
    going = prio("going", 1, "4")
    going["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    new = prio("new", 10, "2")
    new["status"]["nominatedNodeName"] = "n1"
    outcome, message = run([(going, "n1"), (prio("other", 1, "4"), "n2")], new, nodes=[node("n1"), node("n2")])
    assert not outcome.node
    assert message.endswith("preemption: not eligible due to a terminating pod on the nominated node.")


def test_pick_one_node_prefers_a_node_without_victims():
    low = PodInfo(prio("low", 1, "1"))
    assert pick_one_node({"a": [low], "b": []}) == "b"


def test_a_nominated_pod_holds_its_room_against_lower_or_equal_priority_pods():
    cache = cache_with([node("n1")])
    framework = Framework(*instantiate(SchedulerConfig()))
    preemption = Preemption()
    preemption.nominated["default/high"] = (PodInfo(prio("high", 10, "3")), "n1")
    for name, priority, fits in (("equal", 10, False), ("lower", 5, False), ("higher", 11, True)):
        info = PodInfo(prio(name, priority, "2"))
        assert bool(framework.schedule(info, cache, lambda: preemption.holding(info, cache)).node) is fits, name
        assert cache.nodes["n1"].req_cpu == 0 and not cache.pods
    preemption.forget("default/high")
    assert framework.schedule(PodInfo(prio("equal", 10, "2")), cache).node == "n1"


def _needs_db(name: str, priority: int) -> dict:
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "kubernetes.io/hostname"}
    return prio(name, priority, "1", affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})


def test_a_node_held_by_nominated_pods_must_also_fit_the_pod_without_them():
    """Upstream RunFilterPluginsWithNominatedPods: the filters run with the nominated pods
    and again without them, because the nominated pod may yet land elsewhere. A pod whose
    required affinity only the nominated (not yet bound) pod satisfies must wait."""
    cache = cache_with([node("n1"), node("n2")])
    framework = Framework(*instantiate(SchedulerConfig()))
    preemption = Preemption()
    db = PodInfo(prio("db", 10, "1", labels={"app": "db"}))
    preemption.nominated[db.key] = (db, "n1")
    web = PodInfo(_needs_db("web", 10))
    result = framework.schedule(web, cache, lambda: preemption.holding(web, cache))
    assert not result.node
    assert result.diagnosis.node_failures["n1"].reasons == ("node(s) didn't match pod affinity rules",)
    with preemption.holding(web, cache):  # a single pass with db in place would take n1
        assert framework.schedule(web, cache).node == "n1"
    # once db is bound there, web fits n1 (with or without the hold)
    preemption.forget(db.key)
    bound = cache_with([node("n1"), node("n2")],
                       [(prio("db", 10, "1", labels={"app": "db"}), "n1")])
    assert framework.schedule(web, bound, lambda: preemption.holding(web, bound)).node == "n1"


def test_a_held_node_that_fits_both_ways_stays_feasible():
    cache = cache_with([node("n1")])
    framework = Framework(*instantiate(SchedulerConfig()))
    preemption = Preemption()
    high = PodInfo(prio("high", 10, "3"))
    preemption.nominated[high.key] = (high, "n1")
    small = PodInfo(prio("small", 10, "1"))
    assert framework.schedule(small, cache, lambda: preemption.holding(small, cache)).node == "n1"
    assert not cache.pods and cache.nodes["n1"].req_cpu == 0


def test_lower_priority_nominations_on_the_chosen_node_are_cleared():
    cache = cache_with([node("n1")], [(prio("low", 1, "4"), "n1")])
    framework = Framework(*instantiate(SchedulerConfig()))
    preemption = Preemption()
    waiting = PodInfo(prio("waiting", 5, "4"))
    preemption.nominated[waiting.key] = (waiting, "n1")
    info = PodInfo(prio("new", 10, "2"))
    placed = preemption.reserve(info, cache)  # priority 5 < 10: holds nothing against "new"
    assert placed == []
    outcome = preemption.preempt(info, cache, framework, framework.schedule(info, cache).diagnosis)
    assert (outcome.node, victims(outcome), [p.name for p in outcome.cleared]) == ("n1", ["low"], ["waiting"])
    assert set(preemption.nominated) == {"default/new"}


def test_nominations_are_recovered_from_the_pods_status():
    """A new scheduler (restart, leader change) learns the nominations from
    status.nominatedNodeName, as upstream's nominator does, so the room stays held."""
    preemption = Preemption()
    high = prio("high", 10, "3")
    high["status"]["nominatedNodeName"] = "n1"
    preemption.observe(high)
    assert preemption.nominated["default/high"][1] == "n1"
    cache = cache_with([node("n1")])
    framework = Framework(*instantiate(SchedulerConfig()))
    info = PodInfo(prio("lower", 5, "2"))
    assert not framework.schedule(info, cache, lambda: preemption.holding(info, cache)).node  # 3 cpus held for "high"
    # an update without a nomination before or after keeps the one in memory ...
    plain = prio("plain", 10, "1")
    preemption.nominated["default/plain"] = (PodInfo(plain), "n1")
    preemption.observe(prio("plain", 10, "1"), prio("plain", 10, "1"))
    assert "default/plain" in preemption.nominated
    # ... and one removed from the status is dropped
    cleared = prio("high", 10, "3")
    preemption.observe(cleared, high)
    assert "default/high" not in preemption.nominated


def pdb(name: str, labels: dict, allowed: int, disrupted: dict | None = None, ns: str = "default") -> dict:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"matchLabels": labels}},
            "status": {"disruptionsAllowed": allowed, "disruptedPods": disrupted or {}}}


def test_pdb_violations_count_down_each_budget_in_order():
    pods = [PodInfo(prio(f"w{i}", 1, "1", labels={"app": "web"})) for i in range(3)]
    assert pdb_violations(pods, budgets([pdb("web", {"app": "web"}, 1)])) == {"default/w1", "default/w2"}
    # already counted by the eviction API: not counted again
    disrupted = pdb("web", {"app": "web"}, 1, {"w0": "2026-01-01T00:00:00Z"})
    assert pdb_violations(pods, budgets([disrupted])) == {"default/w2"}
    # other namespaces, empty selectors and pods without labels match nothing
    assert pdb_violations(pods, budgets([pdb("web", {"app": "web"}, 0, ns="other")])) == set()
    assert pdb_violations(pods, budgets([{"metadata": {"name": "all", "namespace": "default"},
                                          "spec": {"selector": {}}, "status": {"disruptionsAllowed": 0}}])) == set()
    assert pdb_violations([PodInfo(prio("bare", 1, "1"))], budgets([pdb("web", {}, 0)])) == set()


def test_preemption_prefers_the_node_whose_victims_violate_no_budget():
    # n1 and n2 each hold one low pod filling it; only n1's is covered by an exhausted budget
    placed = [(prio("guarded", 1, "4", labels={"app": "db"}), "n1"), (prio("free", 1, "4"), "n2")]
    cache = cache_with([node("n1"), node("n2")], placed)
    framework = Framework(*instantiate(SchedulerConfig()))
    info = PodInfo(prio("new", 10, "2"))
    diagnosis = framework.schedule(info, cache).diagnosis
    outcome = Preemption(lambda: [pdb("db", {"app": "db"}, 0)]).preempt(info, cache, framework, diagnosis)
    assert (outcome.node, victims(outcome)) == ("n2", ["free"])
    # without the budget it is a tie: the walk's random start decides (upstream's offset),
    # so over a few preemptions both nodes are chosen
    chosen = set()
    for seed in range(16):
        outcome = Preemption(rng=random.Random(seed)).preempt(info, cache, framework,
                                                              framework.schedule(info, cache).diagnosis)
        chosen.add((outcome.node, tuple(victims(outcome))))
    assert chosen == {("n1", ("guarded",)), ("n2", ("free",))}
    # a budget never forbids preemption: with both guarded, a node is still chosen
    both = [pdb("db", {"app": "db"}, 0), pdb("free", {"app": "free"}, 0)]
    placed = [(prio("a", 1, "4", labels={"app": "db"}), "n1"), (prio("b", 1, "4", labels={"app": "free"}), "n2")]
    cache = cache_with([node("n1"), node("n2")], placed)
    outcome = Preemption(lambda: both).preempt(info, cache, framework, framework.schedule(info, cache).diagnosis)
    assert (outcome.node, victims(outcome)) in (("n1", ["a"]), ("n2", ["b"]))


def test_budget_violating_victims_are_reprieved_first():
    # n1: two low pods of 2 cpus each, one guarded; the new pod needs 2 of the 4 cpus, so one
    # victim suffices: the guarded pod is reprieved even though it is the less important one
    guarded = prio("guarded", 1, "2", labels={"app": "db"})
    other = prio("other", 2, "2")
    cache = cache_with([node("n1")], [(guarded, "n1"), (other, "n1")])
    framework = Framework(*instantiate(SchedulerConfig()))
    info = PodInfo(prio("new", 10, "2"))
    outcome = Preemption(lambda: [pdb("db", {"app": "db"}, 0)]).preempt(
        info, cache, framework, framework.schedule(info, cache).diagnosis)
    assert victims(outcome) == ["other"]
    outcome = Preemption().preempt(info, cache, framework, framework.schedule(info, cache).diagnosis)
    assert victims(outcome) == ["guarded"]
