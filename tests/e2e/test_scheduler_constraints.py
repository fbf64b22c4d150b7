"""Pod affinity across namespaces, matchLabelKeys and topology spread (minDomains, node
inclusion policies) end to end: a real `tinykube server`, three simulated nodes, the real
kubectl."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import start_server
from tests.e2e.test_scheduler import SimAgent, _create, _namespace, _pod_manifest, _pods, _ready_nodes
from tests.waiting import wait_for

HOST = "kubernetes.io/hostname"
NODES = ("c-sim-0", "c-sim-1", "c-sim-2")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    server = start_server(tmp_path_factory)
    agent = SimAgent(server, str(tmp_path_factory.mktemp("sim")), "--simulate", "3", "--node-name", "c",
                     "--simulate-cpu", "4", "--simulate-memory", "8Gi")
    try:
        wait_for(lambda: len(_ready_nodes(server)) == 3, "3 simulated nodes")
        yield server
    finally:
        agent.stop()
        server.stop()


def _where(server, ns: str, count: int) -> dict[str, str]:
    pods = wait_for(lambda: (lambda ps: ps if len(ps) == count and all(p["spec"].get("nodeName") for p in ps)
                             else None)(_pods(server, ns)), f"{count} pods bound in {ns}")
    return {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}


def _failed_scheduling(server, ns: str, name: str, words: str) -> str:
    return wait_for(lambda: (lambda out: out if words in out else None)(
        server.kubectl("describe", "pod", name, "-n", ns).stdout), f"FailedScheduling of {name}: {words}")


def _free_cpu(server, ns: str) -> None:
    """The preemption tests fill the nodes: give the room back to the tests after them."""
    server.kubectl("delete", "pods", "--all", "-n", ns, "--grace-period=0", "--force")
    wait_for(lambda: not _pods(server, ns), f"no pods left in {ns}")


def _labelled(manifest: dict, **labels: str) -> dict:
    manifest["metadata"]["labels"] = labels
    return manifest


def _affinity(kind: str, selector: dict, **term) -> dict:
    return {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": selector}, "topologyKey": HOST, **term}]}}


def test_pod_affinity_namespace_selector_follows_namespace_labels(cluster):
    server = cluster
    db_ns, web_ns = _namespace(server), _namespace(server)
    server.kubectl("label", "namespace", db_ns, "team=a")
    _create(server, db_ns, _labelled(_pod_manifest("db", {"nodeSelector": {HOST: "c-sim-1"}}), app="db"))
    _where(server, db_ns, 1)
    _create(server, web_ns,
            _pod_manifest("web", {"affinity": _affinity("podAffinity", {"app": "db"},
                                                        namespaceSelector={"matchLabels": {"team": "a"}})}),
            _pod_manifest("later", {"affinity": _affinity("podAffinity", {"app": "db"},
                                                          namespaceSelector={"matchLabels": {"tier": "data"}})}),
            _pod_manifest("apart", {"affinity": _affinity("podAntiAffinity", {"app": "db"},
                                                          namespaces=[db_ns])}))
    # "later" selects no namespace yet: it waits, and says why
    _failed_scheduling(server, web_ns, "later", "3 node(s) didn't match pod affinity rules")
    server.kubectl("label", "namespace", db_ns, "tier=data")  # a Namespace event moves it back
    where = _where(server, web_ns, 3)
    assert where["web"] == "c-sim-1" and where["later"] == "c-sim-1" and where["apart"] != "c-sim-1", where


def test_pod_affinity_match_label_keys(cluster):
    server = cluster
    ns = _namespace(server)
    _create(server, ns, *(_labelled(_pod_manifest(f"db-{t}", {"nodeSelector": {HOST: node}}), app="db", tenant=t)
                          for t, node in (("t1", "c-sim-0"), ("t2", "c-sim-2"))))
    _where(server, ns, 2)
    web = _labelled(_pod_manifest("web", {"affinity": _affinity("podAffinity", {"app": "db"}, matchLabelKeys=["tenant"])}),
                    tenant="t2")
    _create(server, ns, web)
    assert _where(server, ns, 3)["web"] == "c-sim-2"
    stored = next(p for p in _pods(server, ns) if p["metadata"]["name"] == "web")
    selector = stored["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]
    assert selector["matchExpressions"] == [{"key": "tenant", "operator": "In", "values": ["t2"]}]


def test_topology_spread_min_domains_and_node_taints_policy(cluster):
    server = cluster
    for node, zone in zip(NODES, "abc"):
        server.kubectl("label", "node", node, f"zone={zone}", "--overwrite")
    try:
        # minDomains 4 with 3 zones: the global minimum stays 0, so one pod per zone fits
        ns = _namespace(server)
        spread = {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchLabels": {"app": "s"}}}
        pods = [_labelled(_pod_manifest(f"s{i}", {"topologySpreadConstraints": [{**spread, "minDomains": 4}]}), app="s")
                for i in range(4)]
        _create(server, ns, *pods[:3])
        assert sorted(_where(server, ns, 3).values()) == list(NODES)
        _create(server, ns, pods[3])
        _failed_scheduling(server, ns, "s3", "3 node(s) didn't match pod topology spread constraints.")

        # a tainted zone counts as an empty domain unless nodeTaintsPolicy is Honor
        server.kubectl("taint", "node", "c-sim-2", "dedicated=x:NoSchedule")
        for policy, third_fits in (("Ignore", False), ("Honor", True)):
            ns = _namespace(server)
            pods = [_labelled(_pod_manifest(f"t{i}", {"topologySpreadConstraints": [{**spread, "nodeTaintsPolicy": policy}]}),
                              app="s") for i in range(3)]
            _create(server, ns, *pods[:2])
            assert sorted(_where(server, ns, 2).values()) == ["c-sim-0", "c-sim-1"]
            _create(server, ns, pods[2])
            if third_fits:
                assert _where(server, ns, 3)["t2"] in ("c-sim-0", "c-sim-1")
            else:
                _failed_scheduling(server, ns, "t2", "0/3 nodes are available: 1 node(s) had untolerated taint "
                                                     "{dedicated: x}, 2 node(s) didn't match pod topology spread "
                                                     "constraints.")
    finally:
        server.kubectl("taint", "node", "c-sim-2", "dedicated-", check=False)
        for node in NODES:
            server.kubectl("label", "node", node, "zone-", check=False)


def test_preemption_evicts_a_lower_priority_pod(cluster):
    server = cluster
    ns = _namespace(server)
    server.kubectl("create", "priorityclass", f"{ns}-low", "--value=10")
    server.kubectl("create", "priorityclass", f"{ns}-high", "--value=1000")
    server.kubectl("create", "priorityclass", f"{ns}-polite", "--value=1000", "--preemption-policy=Never")
    _create(server, ns, *(_pod_manifest(f"low{i}", {"priorityClassName": f"{ns}-low", "nodeSelector": {HOST: node}},
                                        cpu="3") for i, node in enumerate(NODES)))
    _where(server, ns, 3)
    _create(server, ns, _pod_manifest("polite", {"priorityClassName": f"{ns}-polite"}, cpu="3"))
    _failed_scheduling(server, ns, "polite", "0/3 nodes are available: 3 Insufficient cpu. preemption: "
                                             "not eligible due to preemptionPolicy=Never.")
    _create(server, ns, _pod_manifest("high", {"priorityClassName": f"{ns}-high"}, cpu="3"))
    pods = wait_for(lambda: (lambda ps: ps if len(ps) == 4 and any(
        p["metadata"]["name"] == "high" and p["status"].get("phase") == "Running" for p in ps) else None)(
        _pods(server, ns)), "high Running after preempting a low pod")
    high = next(p for p in pods if p["metadata"]["name"] == "high")
    node = high["spec"]["nodeName"]
    assert high["status"]["nominatedNodeName"] == node
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(
        ["high", "polite"] + [f"low{i}" for i, n in enumerate(NODES) if n != node])
    events = server.kubectl("get", "events", "-n", ns, "--field-selector", "reason=Preempted").stdout
    assert f"Preempted by pod {high['metadata']['uid']} on node {node}" in events
    # the room made for "high" was not taken by "polite" (same priority, queued first)
    polite = next(p for p in pods if p["metadata"]["name"] == "polite")
    assert not polite["spec"].get("nodeName")
    _free_cpu(server, ns)


def test_preemption_spares_pods_guarded_by_a_disruption_budget(cluster):
    server = cluster
    ns = _namespace(server)
    server.kubectl("create", "priorityclass", f"{ns}-low", "--value=10")
    server.kubectl("create", "priorityclass", f"{ns}-high", "--value=1000")
    # the unguarded pod starts first: without the budget, preemption would pick a node whose
    # victim started later (upstream's last criterion), or the first node on a tie
    _create(server, ns, _pod_manifest("free", {"priorityClassName": f"{ns}-low", "nodeSelector": {HOST: NODES[2]}},
                                      cpu="3"))
    _where(server, ns, 1)
    _create(server, ns, *(_labelled(_pod_manifest(f"db{i}", {"priorityClassName": f"{ns}-low",
                                                             "nodeSelector": {HOST: node}}, cpu="3"), app="db")
                          for i, node in enumerate(NODES[:2])))
    _where(server, ns, 3)
    server.kubectl("create", "pdb", "db", "-n", ns, "--selector=app=db", "--min-available=2")
    wait_for(lambda: server.kubectl("get", "pdb", "db", "-n", ns, "-o",
                                    "jsonpath={.status.currentHealthy}/{.status.disruptionsAllowed}").stdout == "2/0",
             "the budget counts both db pods healthy, no disruption allowed")
    _create(server, ns, _pod_manifest("high", {"priorityClassName": f"{ns}-high"}, cpu="3"))
    pods = wait_for(lambda: (lambda ps: ps if any(p["metadata"]["name"] == "high" and p["spec"].get("nodeName")
                                                  for p in ps) else None)(_pods(server, ns)), "high bound")
    assert sorted(p["metadata"]["name"] for p in pods) == ["db0", "db1", "high"]
    assert next(p for p in pods if p["metadata"]["name"] == "high")["spec"]["nodeName"] == NODES[2]
    _free_cpu(server, ns)
