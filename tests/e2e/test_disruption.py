"""The disruption controller through a real `tinykube server` and the real kubectl.

No agent runs: the pods are bound by spec.nodeName to a Node object made here and their
Ready condition is patched through the status subresource, as a kubelet would; `kubectl
get pdb` must show ALLOWED DISRUPTIONS follow the Ready pods.
"""

from __future__ import annotations

import json

from tests.waiting import wait_for

NS = "pdb-e2e"
NODE = "pdb-e2e-node"


def create(srv, obj: dict) -> None:
    srv.kubectl("create", "-f", "-", input=json.dumps(obj))


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": "web"}},
            "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}}


def set_ready(srv, name: str, ready: bool) -> None:
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    srv.kubectl("patch", "pod", name, "-n", NS, "--subresource=status", "--type=merge",
                "-p", json.dumps({"status": status}))


def allowed_disruptions(srv, name: str) -> str:
    """The ALLOWED DISRUPTIONS column of `kubectl get pdb`."""
    out = srv.kubectl("get", "pdb", name, "-n", NS).stdout.splitlines()
    header, row = out[0].split(), out[1].split()
    assert header[:4] == ["NAME", "MIN", "AVAILABLE", "MAX"]  # "MIN AVAILABLE", "MAX UNAVAILABLE", ...
    return row[3]


def wait_allowed(srv, name: str, expected: str) -> None:
    wait_for(lambda: allowed_disruptions(srv, name) == expected, f"{name}: ALLOWED DISRUPTIONS {expected}",
             timeout=20, details=srv.log)


def test_allowed_disruptions_follow_ready_pods(srv):
    srv.kubectl("create", "namespace", NS)
    create(srv, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}})
    srv.kubectl("create", "poddisruptionbudget", "web", "-n", NS, "--selector=app=web", "--min-available=2")
    for name in ("web-0", "web-1", "web-2"):
        create(srv, pod(name))
    wait_for(lambda: json.loads(srv.kubectl("get", "pdb", "web", "-n", NS, "-o", "json").stdout)
             .get("status", {}).get("expectedPods") == 3, "expectedPods 3", timeout=20, details=srv.log)
    assert allowed_disruptions(srv, "web") == "0"

    for name in ("web-0", "web-1"):
        set_ready(srv, name, True)
    wait_for(lambda: json.loads(srv.kubectl("get", "pdb", "web", "-n", NS, "-o", "json").stdout)
             ["status"]["currentHealthy"] == 2, "2 healthy", timeout=20, details=srv.log)
    assert allowed_disruptions(srv, "web") == "0"  # 2 Ready, 2 wanted
    set_ready(srv, "web-2", True)
    wait_allowed(srv, "web", "1")

    status = json.loads(srv.kubectl("get", "pdb", "web", "-n", NS, "-o", "json").stdout)["status"]
    assert (status["expectedPods"], status["desiredHealthy"], status["currentHealthy"]) == (3, 2, 3)
    (cond,) = status["conditions"]
    assert (cond["type"], cond["status"], cond["reason"]) == ("DisruptionAllowed", "True", "SufficientPods")

    set_ready(srv, "web-1", False)
    wait_allowed(srv, "web", "0")
    srv.kubectl("delete", "pod", "web-1", "-n", NS, "--wait=false")  # being deleted: not healthy either
    create(srv, pod("web-3"))
    set_ready(srv, "web-3", True)
    wait_allowed(srv, "web", "1")

    # a budget whose pods have no controller cannot count a percentage of a scale
    srv.kubectl("create", "poddisruptionbudget", "pct", "-n", NS, "--selector=app=web", "--max-unavailable=50%")
    wait_for(lambda: json.loads(srv.kubectl("get", "pdb", "pct", "-n", NS, "-o", "json").stdout)
             .get("status", {}).get("conditions"), "pct has a condition", timeout=20, details=srv.log)
    # unmanaged pods are left out: nothing is expected, so no disruption is allowed
    assert allowed_disruptions(srv, "pct") == "0"


def evict(srv, ns: str, name: str):
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}
    return srv.kubectl("create", "--raw", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", "-f", "-",
                       input=json.dumps(body), check=False)


def test_evictions_spend_the_budget_and_the_controller_settles_it(srv):
    ns = "pdb-e2e-evict"
    srv.kubectl("create", "namespace", ns)
    srv.kubectl("create", "poddisruptionbudget", "web", "-n", ns, "--selector=app=web", "--min-available=2")
    for name in ("web-0", "web-1", "web-2"):
        create(srv, dict(pod(name), metadata={"name": name, "namespace": ns, "labels": {"app": "web"}}))
        status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        srv.kubectl("patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": status}))

    def pdb_status() -> dict:
        return json.loads(srv.kubectl("get", "pdb", "web", "-n", ns, "-o", "json").stdout).get("status", {})

    wait_for(lambda: pdb_status().get("disruptionsAllowed") == 1, "1 disruption allowed", timeout=20,
             details=srv.log)
    assert evict(srv, ns, "web-0").returncode == 0
    refused = evict(srv, ns, "web-1")  # the budget is spent
    assert refused.returncode != 0 and "disruption budget" in refused.stderr, refused.stderr
    # web-0 is being deleted (no kubelet finishes it): the controller drops its disruptedPods
    # entry, counts it unhealthy and keeps the budget at 0
    wait_for(lambda: (s := pdb_status()).get("currentHealthy") == 2 and not s.get("disruptedPods"),
             "web-0 settled", timeout=20, details=srv.log)
    assert pdb_status()["disruptionsAllowed"] == 0
