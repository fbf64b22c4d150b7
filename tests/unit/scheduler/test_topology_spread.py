"""PodTopologySpread as tables: minDomains, matchLabelKeys, nodeAffinityPolicy,
nodeTaintsPolicy, the every-key rule and the ScheduleAnyway score (upstream 1.32)."""

from __future__ import annotations

import pytest

from tinykube.scheduler.cache import PodInfo
from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins.topologyspread import PodTopologySpread
from tests.unit.scheduler.helpers import cache_with, node, pod, verdicts

SKEW = "node(s) didn't match pod topology spread constraints"
MISSING = "node(s) didn't match pod topology spread constraints (missing required label)"
TAINT = [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]


def zone_cache():
    """Zones a (a1: 2 pods v1), b (b1: 1 pod v2), c (c1: tainted, empty); a1, b1 in pool main."""
    nodes = [node("a1", labels={"zone": "a", "pool": "main"}), node("b1", labels={"zone": "b", "pool": "main"}),
             node("c1", labels={"zone": "c"}, taints=TAINT)]
    placed = [(pod("w1", labels={"app": "w", "v": "1"}), "a1"), (pod("w2", labels={"app": "w", "v": "1"}), "a1"),
              (pod("w3", labels={"app": "w", "v": "2"}), "b1")]
    return cache_with(nodes, placed)


def spread(**extra) -> dict:
    return {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "w"}}, **extra}


@pytest.mark.parametrize("constraint, pod_kw, expected", [
    # counts a2 b1 c0 (taints ignored by default): minimum 0
    (spread(), {}, {"a1": SKEW, "b1": SKEW, "c1": None}),
    # nodeTaintsPolicy Honor: c1's taint is not tolerated, zone c is not a domain: minimum 1
    (spread(nodeTaintsPolicy="Honor"), {}, {"a1": SKEW, "b1": None, "c1": None}),
    (spread(nodeTaintsPolicy="Honor"), {"tolerations": [{"key": "dedicated", "operator": "Exists"}]},
     {"a1": SKEW, "b1": SKEW, "c1": None}),
    # minDomains 3 with only 2 eligible domains: the global minimum counts as 0
    (spread(nodeTaintsPolicy="Honor", minDomains=3), {}, {"a1": SKEW, "b1": SKEW, "c1": None}),
    (spread(nodeTaintsPolicy="Honor", minDomains=2), {}, {"a1": SKEW, "b1": None, "c1": None}),
    # nodeAffinityPolicy Honor (default): only nodes of the pod's nodeSelector are domains
    (spread(), {"nodeSelector": {"pool": "main"}}, {"a1": SKEW, "b1": None, "c1": None}),
    (spread(nodeAffinityPolicy="Ignore"), {"nodeSelector": {"pool": "main"}}, {"a1": SKEW, "b1": SKEW, "c1": None}),
    # matchLabelKeys: only pods with the incoming pod's v=2 count (a0 b1 c0)
    (spread(matchLabelKeys=["v"]), {"labels": {"app": "w", "v": "2"}}, {"a1": None, "b1": SKEW, "c1": None}),
    (spread(matchLabelKeys=["absent"]), {}, {"a1": SKEW, "b1": SKEW, "c1": None}),
    # no labelSelector (selects nothing) + matchLabelKeys: the keys alone select (upstream merge)
    ({**spread(matchLabelKeys=["v"]), "labelSelector": None}, {"labels": {"app": "w", "v": "1"}},
     {"a1": SKEW, "b1": None, "c1": None}),
])
def test_spread_filter(constraint, pod_kw, expected):
    labels = pod_kw.pop("labels", {"app": "w"})
    p = pod("new", labels=labels, topologySpreadConstraints=[constraint], **pod_kw)
    assert verdicts(PodTopologySpread(), p, zone_cache()) == expected


def test_a_node_lacking_any_constraints_key_is_no_domain_for_the_others():
    nodes = [node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"}), node("nz")]
    placed = [(pod(f"w{i}", labels={"app": "w"}), "a1") for i in range(2)] + [(pod("w9", labels={"app": "w"}), "b1")]
    host = {**spread(), "topologyKey": "kubernetes.io/hostname"}
    p = pod("new", labels={"app": "w"}, topologySpreadConstraints=[host, spread(maxSkew=5)])
    # nz (0 pods) would make the hostname minimum 0; it lacks "zone", so the minimum is 1
    assert verdicts(PodTopologySpread(), p, cache_with(nodes, placed)) == {"a1": SKEW, "b1": None, "nz": MISSING}


def test_terminating_and_other_namespace_pods_do_not_count():
    gone = pod("gone", labels={"app": "w"})
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    placed = [(gone, "a1"), (pod("other", ns="other", labels={"app": "w"}), "a1")]
    cache = cache_with([node("a1", labels={"zone": "a"}), node("b1", labels={"zone": "b"})], placed)
    p = pod("new", labels={"app": "w"}, topologySpreadConstraints=[spread()])
    assert verdicts(PodTopologySpread(), p, cache) == {"a1": None, "b1": None}


def test_schedule_anyway_score_as_upstream():
    cache = zone_cache()
    cache.add_or_update_node(node("nz"))
    soft = spread(whenUnsatisfiable="ScheduleAnyway")
    state = CycleState(PodInfo(pod("new", labels={"app": "w"}, topologySpreadConstraints=[soft])), cache)
    # raw: a 2*log(5)=3.2 -> 3, b 1.6 -> 2, c 0; nz lacks the key: 0; 100*(3+0-s)/3
    assert PodTopologySpread().score(state, cache.node_list) == [0, 33, 100, 0]
    honor = spread(whenUnsatisfiable="ScheduleAnyway", nodeTaintsPolicy="Honor", maxSkew=2)
    state = CycleState(PodInfo(pod("new", labels={"app": "w"}, topologySpreadConstraints=[honor])), cache)
    # zone c is a domain (c1 is feasible) but its pods would not count; maxSkew 2 adds 1:
    # raw a 4.2 -> 4, b 2.6 -> 3, c 1; 100*(4+1-s)/4
    assert PodTopologySpread().score(state, cache.node_list) == [25, 50, 100, 0]


def test_filter_skips_pods_without_do_not_schedule_constraints():
    soft = spread(whenUnsatisfiable="ScheduleAnyway")
    assert verdicts(PodTopologySpread(), pod("new", topologySpreadConstraints=[soft]), zone_cache()) == {}
