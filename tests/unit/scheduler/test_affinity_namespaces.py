"""InterPodAffinity's namespaces, namespaceSelector and matchLabelKeys as tables
(upstream AffinityTerm semantics: namespaces ∪ namespaces matched by the selector; neither:
the pod's own namespace; namespaceSelector {}: every namespace)."""

from __future__ import annotations

import copy

import pytest

from tinykube.api.defaults import prepare_for_create
from tinykube.api.registry import REGISTRY
from tinykube.scheduler.plugins.interpodaffinity import InterPodAffinity
from tests.unit.scheduler.helpers import cache_with, node, pod, verdicts

HOST = "kubernetes.io/hostname"
AFF = "node(s) didn't match pod affinity rules"
ANTI = "node(s) didn't match pod anti-affinity rules"
EXISTING = "node(s) didn't satisfy existing pods anti-affinity rules"
NAMESPACES = {"default": {"kubernetes.io/metadata.name": "default"},
              "team-a": {"kubernetes.io/metadata.name": "team-a", "team": "a"},
              "team-b": {"kubernetes.io/metadata.name": "team-b", "team": "b"}}


def db_cache():
    """A db pod on n1 (team-a), n2 (team-b) and n3 (default); n4 holds none."""
    placed = [(pod("db", ns="team-a", labels={"app": "db"}), "n1"), (pod("db", ns="team-b", labels={"app": "db"}), "n2"),
              (pod("db", ns="default", labels={"app": "db"}), "n3")]
    cache = cache_with([node(f"n{i}") for i in range(1, 5)], placed)
    cache.namespaces = copy.deepcopy(NAMESPACES)
    return cache


def term(**extra) -> dict:
    return {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST, **extra}


def required(kind: str, t: dict) -> dict:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [t]}}


@pytest.mark.parametrize("extra, fits", [
    ({}, {"n3"}),                                                        # the pod's own namespace
    ({"namespaceSelector": {}}, {"n1", "n2", "n3"}),                     # every namespace
    ({"namespaceSelector": {"matchLabels": {}}}, {"n1", "n2", "n3"}),    # also empty: every namespace
    ({"namespaceSelector": {"matchLabels": {"team": "a"}}}, {"n1"}),     # not the pod's own namespace
    ({"namespaces": ["team-b"]}, {"n2"}),
    ({"namespaces": ["team-b"], "namespaceSelector": {"matchLabels": {"team": "a"}}}, {"n1", "n2"}),
    ({"namespaceSelector": {"matchExpressions": [{"key": "team", "operator": "Exists"}]}}, {"n1", "n2"}),
    ({"namespaces": ["nowhere"], "namespaceSelector": {"matchLabels": {"team": "z"}}}, set()),
])
def test_affinity_term_namespaces(extra, fits):
    got = verdicts(InterPodAffinity(), pod("web", affinity=required("podAffinity", term(**extra))), db_cache())
    assert got == {n: None if n in fits else AFF for n in ("n1", "n2", "n3", "n4")}


@pytest.mark.parametrize("extra, avoided", [
    ({}, {"n3"}),
    ({"namespaceSelector": {"matchLabels": {"team": "b"}}}, {"n2"}),
    ({"namespaceSelector": {}}, {"n1", "n2", "n3"}),
])
def test_anti_affinity_term_namespaces(extra, avoided):
    got = verdicts(InterPodAffinity(), pod("web", affinity=required("podAntiAffinity", term(**extra))), db_cache())
    assert got == {n: ANTI if n in avoided else None for n in ("n1", "n2", "n3", "n4")}


def test_first_pod_of_a_group_must_be_in_its_terms_namespaces():
    cache = cache_with([node("n1")])
    cache.namespaces = copy.deepcopy(NAMESPACES)
    own = {"labelSelector": {"matchLabels": {"app": "new"}}, "topologyKey": HOST}
    for extra, expected in (({}, None), ({"namespaceSelector": {"matchLabels": {"team": "a"}}}, AFF),
                            ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}}, None)):
        p = pod("first", labels={"app": "new"}, affinity=required("podAffinity", {**own, **extra}))
        assert verdicts(InterPodAffinity(), p, cache) == {"n1": expected}, extra


@pytest.mark.parametrize("incoming_ns, blocked", [("team-a", True), ("team-b", False), ("default", False)])
def test_existing_anti_affinity_selector_is_matched_against_the_incoming_pods_namespace(incoming_ns, blocked):
    guard = pod("guard", ns="default", labels={"app": "guard"}, affinity=required("podAntiAffinity", {
        "labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": HOST,
        "namespaceSelector": {"matchLabels": {"team": "a"}}}))
    cache = cache_with([node("n1"), node("n2")], [(guard, "n1")])
    cache.namespaces = copy.deepcopy(NAMESPACES)
    got = verdicts(InterPodAffinity(), pod("web", ns=incoming_ns, labels={"app": "web"}), cache)
    assert got == ({"n1": EXISTING, "n2": None} if blocked else {})  # {}: nothing to check, skipped


def test_namespace_labels_unknown_to_the_cache_select_nothing_but_empty_selector():
    cache = db_cache()
    cache.namespaces = {}
    sel = pod("web", affinity=required("podAffinity", term(namespaceSelector={"matchLabels": {"team": "a"}})))
    assert set(verdicts(InterPodAffinity(), sel, cache).values()) == {AFF}


# --- matchLabelKeys / mismatchLabelKeys: merged by the API server at create -------------------

def created(pod_obj: dict) -> dict:
    prepare_for_create(REGISTRY.by_plural("", "v1", "pods"), pod_obj)
    return pod_obj


def test_match_label_keys_are_merged_into_the_selector_at_create():
    t = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": HOST,
         "matchLabelKeys": ["tenant", "absent"], "mismatchLabelKeys": ["rev"]}
    p = created(pod("web", labels={"tenant": "t1", "rev": "7"}, affinity={
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [copy.deepcopy(t)]},
        "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 5, "podAffinityTerm": copy.deepcopy(t)}]}}))
    merged = [{"key": "tenant", "operator": "In", "values": ["t1"]}, {"key": "rev", "operator": "NotIn", "values": ["7"]}]
    affinity = p["spec"]["affinity"]
    got_required = affinity["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    got_preferred = affinity["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert got_required["labelSelector"] == {"matchLabels": {"app": "db"}, "matchExpressions": merged}
    assert got_preferred["labelSelector"]["matchExpressions"] == merged
    assert got_required["matchLabelKeys"] == ["tenant", "absent"]  # the fields stay, as upstream


def test_match_label_keys_without_label_selector_stay_nothing():
    t = {"topologyKey": HOST, "matchLabelKeys": ["tenant"]}
    p = created(pod("web", labels={"tenant": "t1"}, affinity=required("podAffinity", t)))
    assert "labelSelector" not in p["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]


def test_match_label_keys_select_only_the_same_tenant():
    placed = [(pod("db1", labels={"app": "db", "tenant": "t1"}), "n1"), (pod("db2", labels={"app": "db", "tenant": "t2"}), "n2")]
    cache = cache_with([node("n1"), node("n2"), node("n3")], placed)
    p = created(pod("web", labels={"tenant": "t2"}, affinity=required("podAffinity", term(matchLabelKeys=["tenant"]))))
    assert verdicts(InterPodAffinity(), p, cache) == {"n1": AFF, "n2": None, "n3": AFF}
    q = created(pod("web", labels={"tenant": "t2"}, affinity=required("podAntiAffinity", term(mismatchLabelKeys=["tenant"]))))
    assert verdicts(InterPodAffinity(), q, cache) == {"n1": ANTI, "n2": None, "n3": None}
