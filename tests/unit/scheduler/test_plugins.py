"""Filter and score plugins as tables: (nodes, pod) -> each node's verdict."""

from __future__ import annotations

import pytest

from tinykube.scheduler.cache import PodInfo
from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins.basic import NodeName, NodePorts, NodeUnschedulable
from tinykube.scheduler.plugins.imagelocality import ImageLocality
from tinykube.scheduler.plugins.interpodaffinity import InterPodAffinity
from tinykube.scheduler.plugins.nodeaffinity import NodeAffinity
from tinykube.scheduler.plugins.noderesources import BalancedAllocation, NodeResourcesFit
from tinykube.scheduler.plugins.taints import TaintToleration
from tinykube.scheduler.plugins.topologyspread import PodTopologySpread
from tests.unit.scheduler.helpers import cache_with, node, pod, verdicts

AFF = "node(s) didn't match Pod's node affinity/selector"


def required(*terms):
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


@pytest.mark.parametrize("pod_obj, expected", [
    (pod("a"), {"n1": None, "n2": "node(s) were unschedulable"}),
    (pod("b", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                            "effect": "NoSchedule"}]), {}),
])
def test_node_unschedulable(pod_obj, expected):
    assert verdicts(NodeUnschedulable(), pod_obj, cache_with([node("n1"), node("n2", unschedulable=True)])) == expected


def test_node_name():
    cache = cache_with([node("n1"), node("n2")])
    assert verdicts(NodeName(), pod("a"), cache) == {}
    p = pod("b")
    p["spec"]["nodeName"] = "n2"
    assert verdicts(NodeName(), p, cache) == {"n1": "node(s) didn't match the requested node name", "n2": None}


@pytest.mark.parametrize("pod_kw, expected", [
    ({}, {"ssd": None, "hdd": None, "big": None}),
    ({"nodeSelector": {"disk": "ssd"}}, {"ssd": None, "hdd": AFF, "big": AFF}),
    ({"affinity": required({"matchExpressions": [{"key": "disk", "operator": "In", "values": ["hdd", "x"]}]})},
     {"ssd": AFF, "hdd": None, "big": AFF}),
    ({"affinity": required({"matchExpressions": [{"key": "disk", "operator": "NotIn", "values": ["ssd"]}]})},
     {"ssd": AFF, "hdd": None, "big": None}),
    ({"affinity": required({"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]})},
     {"ssd": AFF, "hdd": AFF, "big": None}),
    ({"affinity": required({"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]})},
     {"ssd": AFF, "hdd": AFF, "big": None}),
    ({"affinity": required({"matchExpressions": [{"key": "cores", "operator": "Lt", "values": ["8"]}]})},
     {"ssd": AFF, "hdd": AFF, "big": AFF}),
    ({"affinity": required({"matchExpressions": [{"key": "disk", "operator": "Exists"}]},
                           {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["big"]}]})},
     {"ssd": None, "hdd": None, "big": None}),
    ({"affinity": required({})}, {"ssd": AFF, "hdd": AFF, "big": AFF}),  # an empty term matches nothing
])
def test_node_affinity_filter(pod_kw, expected):
    cache = cache_with([node("ssd", labels={"disk": "ssd"}), node("hdd", labels={"disk": "hdd"}),
                        node("big", labels={"cores": "64"})])
    got = verdicts(NodeAffinity(), pod("p", **pod_kw), cache)
    assert got == ({} if expected == {"ssd": None, "hdd": None, "big": None} and not pod_kw else expected)


def test_node_affinity_match_fields_narrows_the_candidates():
    cache = cache_with([node("n1"), node("n2"), node("n3")])
    state = CycleState(PodInfo(pod("ds", affinity=required(
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}))), cache)
    check = NodeAffinity().pre_filter(state)
    assert state.node_names == {"n2"} and check(cache.nodes["n2"]) is None and check(cache.nodes["n1"]) == AFF


def test_node_affinity_preferred_score():
    cache = cache_with([node("a", labels={"disk": "ssd"}), node("b"), node("c", labels={"disk": "ssd", "gpu": "1"})])
    preferred = [{"weight": 10, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}},
                 {"weight": 30, "preference": {"matchExpressions": [{"key": "gpu", "operator": "Exists"}]}}]
    p = pod("p", affinity={"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}})
    assert NodeAffinity().score(CycleState(PodInfo(p), cache), cache.node_list) == [25, 0, 100]


TAINT = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}


@pytest.mark.parametrize("tolerations, expected", [
    ([], {"plain": None, "tainted": "node(s) had untolerated taint {dedicated: db}"}),
    ([{"key": "dedicated", "operator": "Equal", "value": "db"}], {"plain": None, "tainted": None}),
    ([{"key": "dedicated", "operator": "Equal", "value": "web"}],
     {"plain": None, "tainted": "node(s) had untolerated taint {dedicated: db}"}),
    ([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}],
     {"plain": None, "tainted": "node(s) had untolerated taint {dedicated: db}"}),
    ([{"operator": "Exists"}], {"plain": None, "tainted": None}),
])
def test_taint_toleration_filter(tolerations, expected):
    cache = cache_with([node("plain"), node("tainted", taints=[TAINT])])
    assert verdicts(TaintToleration(), pod("p", tolerations=tolerations), cache) == expected


def test_not_ready_node_counts_as_tainted_not_ready():
    cache = cache_with([node("down", ready=False)])
    assert verdicts(TaintToleration(), pod("p"), cache) == {
        "down": "node(s) had untolerated taint {node.kubernetes.io/not-ready: }"}


def test_taint_toleration_prefers_nodes_without_prefer_no_schedule_taints():
    soft = {"key": "k", "value": "v", "effect": "PreferNoSchedule"}
    cache = cache_with([node("a"), node("b", taints=[soft])])
    assert TaintToleration().score(CycleState(PodInfo(pod("p")), cache), cache.node_list) == [100, 0]


@pytest.mark.parametrize("pod_kw, placed_ports, expected", [
    ({"ports": [{"containerPort": 80, "hostPort": 8080}]}, [{"containerPort": 80, "hostPort": 8080}],
     "node(s) didn't have free ports for the requested pod ports"),
    ({"ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]},
     [{"containerPort": 80, "hostPort": 8080}], None),
    ({"ports": [{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]},
     [{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"}], None),
    ({"ports": [{"containerPort": 80, "hostPort": 8081}]}, [{"containerPort": 80, "hostPort": 8080}], None),
])
def test_node_ports(pod_kw, placed_ports, expected):
    cache = cache_with([node("n")], [(pod("old", ports=placed_ports), "n")])
    assert verdicts(NodePorts(), pod("p", **pod_kw), cache) == {"n": expected}


@pytest.mark.parametrize("requests, expected", [
    ({"cpu": "1", "memory": "1Gi"}, None),
    ({"cpu": "3500m"}, ("Insufficient cpu",)),
    ({"cpu": "3500m", "memory": "7500Mi"}, ("Insufficient cpu", "Insufficient memory")),
    ({"memory": "6Gi"}, None),
])
def test_node_resources_fit(requests, expected):
    cache = cache_with([node("n", cpu="4", memory="8Gi")], [(pod("old", cpu="1", memory="1Gi"), "n")])
    assert verdicts(NodeResourcesFit(), pod("p", **requests), cache) == {"n": expected}


def test_too_many_pods_comes_first():
    cache = cache_with([node("n", cpu="1", pods="1")], [(pod("old"), "n")])
    assert verdicts(NodeResourcesFit(), pod("p", cpu="2"), cache) == {"n": ("Too many pods", "Insufficient cpu")}


def test_least_allocated_and_balanced_scores():
    cache = cache_with([node("empty"), node("busy")], [(pod("old", cpu="3", memory="1Gi"), "busy")])
    state = CycleState(PodInfo(pod("p", cpu="1", memory="2Gi")), cache)
    least = NodeResourcesFit().score(state, cache.node_list)
    balanced = BalancedAllocation().score(state, cache.node_list)
    assert least == [(75 + 75) // 2, (0 + 62) // 2] and least[0] > least[1]
    assert balanced == [100, 68]  # |0.25-0.25|/2 -> 100; |1.0-0.375|/2 -> 68


def test_image_locality_prefers_nodes_with_the_image():
    image = {"names": ["registry.example/app:1"], "sizeBytes": 500 * 1024 * 1024}
    cache = cache_with([node("has", images=[image]), node("lacks")])
    scores = ImageLocality().score(CycleState(PodInfo(pod("p", image="registry.example/app:1")), cache), cache.node_list)
    assert scores[0] > 0 and scores[1] == 0


def zone_nodes():
    return [node("a1", labels={"zone": "a"}), node("a2", labels={"zone": "a"}), node("b1", labels={"zone": "b"})]


def test_inter_pod_affinity_and_anti_affinity():
    cache = cache_with(zone_nodes(), [(pod("db", labels={"app": "db"}), "a1")])
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": "zone"}
    near = pod("web", affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
    assert verdicts(InterPodAffinity(), near, cache) == {
        "a1": None, "a2": None, "b1": "node(s) didn't match pod affinity rules"}
    far = pod("web", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
    assert verdicts(InterPodAffinity(), far, cache) == {
        "a1": "node(s) didn't match pod anti-affinity rules", "a2": "node(s) didn't match pod anti-affinity rules",
        "b1": None}


def test_existing_pods_anti_affinity_and_first_pod_of_a_group():
    term = {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
    lonely = pod("lonely", labels={"app": "x"},
                 affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}})
    cache = cache_with(zone_nodes(), [(lonely, "a1")])
    assert verdicts(InterPodAffinity(), pod("web", labels={"app": "web"}), cache) == {
        "a1": "node(s) didn't satisfy existing pods anti-affinity rules", "a2": None, "b1": None}
    self_term = {"labelSelector": {"matchLabels": {"app": "new"}}, "topologyKey": "zone"}
    first = pod("first", labels={"app": "new"},
                affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [self_term]}})
    assert set(verdicts(InterPodAffinity(), first, cache_with(zone_nodes())).values()) == {None}


def test_topology_spread_do_not_schedule():
    placed = [(pod(f"w{i}", labels={"app": "w"}), "a1") for i in range(2)]
    cache = cache_with([*zone_nodes(), node("nozone")], placed)
    constraint = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchLabels": {"app": "w"}}}
    got = verdicts(PodTopologySpread(), pod("w", labels={"app": "w"}, topologySpreadConstraints=[constraint]), cache)
    assert got == {"a1": "node(s) didn't match pod topology spread constraints",
                   "a2": "node(s) didn't match pod topology spread constraints", "b1": None,
                   "nozone": "node(s) didn't match pod topology spread constraints (missing required label)"}


def test_default_spread_prefers_nodes_with_fewer_siblings():
    owner = {"metadata": {"ownerReferences": [{"uid": "rs-1", "controller": True}]}}

    def sibling(name):
        p = pod(name)
        p["metadata"].update(owner["metadata"])
        return p
    cache = cache_with([node("n1"), node("n2")], [(sibling("s1"), "n1"), (sibling("s2"), "n1")])
    scores = PodTopologySpread().score(CycleState(PodInfo(sibling("new")), cache), cache.node_list)
    assert scores == [0, 100]
    assert PodTopologySpread().score(CycleState(PodInfo(pod("orphan")), cache), cache.node_list) is None
