"""PodDisruptionBudgets and pods/eviction with the real kubectl: create/get/describe pdb,
evictions refused (429) and allowed by the budget, and `kubectl drain` retrying on a budget.

No nodes run: pods are bound to a Node object nobody serves and their status is written
with `kubectl patch --subresource=status`. The controller manager is off so that the
budget's status is the one the test writes (the disruption controller is not under test).
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.conftest import start_server

NODE = "evict-node"
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory, "--disable-controller-manager", "--disable-scheduler")
    srv.kubectl("create", "serviceaccount", "default")  # the ServiceAccount controller is off
    srv.kubectl("apply", "-f", "-", input=yaml.safe_dump({"apiVersion": "v1", "kind": "Node",
                                                          "metadata": {"name": NODE}}))
    yield srv
    srv.stop()


def running_pods(server, ns: str, *names: str, app: str) -> None:
    server.kubectl("create", "namespace", ns)
    server.kubectl("create", "serviceaccount", "default", "-n", ns)
    docs = [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n, "namespace": ns, "labels": {"app": app}},
             "spec": {"nodeName": NODE, "containers": [{"name": "c", "image": "busybox"}]}} for n in names]
    server.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    status = json.dumps({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    for name in names:
        server.kubectl("patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p", status)


def set_budget_status(server, ns: str, name: str, allowed: int, healthy: int) -> None:
    status = {"observedGeneration": 1, "disruptionsAllowed": allowed, "currentHealthy": healthy,
              "desiredHealthy": 2, "expectedPods": healthy}
    server.kubectl("patch", "pdb", name, "-n", ns, "--subresource=status", "--type=merge",
                   "-p", json.dumps({"status": status}))


def evict(server, ns: str, name: str, **delete_options):
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}
    if delete_options:
        body["deleteOptions"] = delete_options
    return server.kubectl("create", "--raw", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", "-f", "-",
                          input=json.dumps(body), check=False)


def get(server, kind: str, ns: str, name: str) -> dict:
    return json.loads(server.kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)


def test_pdb_create_get_describe_and_eviction_by_the_budget(server):
    ns = "evict-a"
    running_pods(server, ns, "web-1", "web-2", app="web")
    server.kubectl("create", "pdb", "web", "-n", ns, "--selector=app=web", "--min-available=2")
    server.kubectl("create", "pdb", "other", "-n", ns, "--selector=app=other", "--max-unavailable=50%")
    table = server.kubectl("get", "pdb", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"]
    rows = {line.split()[0]: line.split()[1:4] for line in table[1:]}
    assert rows == {"web": ["2", "N/A", "0"], "other": ["N/A", "50%", "0"]}
    described = server.kubectl("describe", "pdb", "web", "-n", ns).stdout
    assert "Min available:  2" in described and "Selector:       app=web" in described

    set_budget_status(server, ns, "web", allowed=0, healthy=2)
    refused = evict(server, ns, "web-1")
    assert refused.returncode != 0
    assert f"Error from server (TooManyRequests): {VIOLATION}" in refused.stderr
    assert "deletionTimestamp" not in get(server, "pod", ns, "web-1")["metadata"]

    set_budget_status(server, ns, "web", allowed=1, healthy=2)
    assert evict(server, ns, "web-1", dryRun=["All"]).returncode == 0  # a dry run writes nothing
    assert get(server, "pdb", ns, "web")["status"]["disruptionsAllowed"] == 1
    allowed = evict(server, ns, "web-1", gracePeriodSeconds=0)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout) == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                          "status": "Success", "code": 201}
    assert server.kubectl("get", "pod", "web-1", "-n", ns, check=False).returncode != 0  # gone
    status = get(server, "pdb", ns, "web")["status"]
    assert status["disruptionsAllowed"] == 0 and list(status["disruptedPods"]) == ["web-1"]

    mismatch = server.kubectl("create", "--raw", f"/api/v1/namespaces/{ns}/pods/web-2/eviction", "-f", "-",
                              input=json.dumps({"apiVersion": "policy/v1", "kind": "Eviction",
                                                "metadata": {"name": "web-3"}}), check=False)
    assert "name in URL does not match name in Eviction object" in mismatch.stderr


def test_drain_keeps_retrying_while_the_budget_allows_no_disruption(server):
    ns = "evict-b"
    running_pods(server, ns, "db-1", "db-2", app="db")
    server.kubectl("create", "pdb", "db", "-n", ns, "--selector=app=db", "--min-available=2")
    set_budget_status(server, ns, "db", allowed=0, healthy=2)
    drained = server.kubectl("drain", NODE, "--force", "--ignore-daemonsets", "--timeout=3s",
                             "--pod-selector=app=db", check=False, timeout=30)
    assert drained.returncode != 0
    assert f'error when evicting pods/"db-1" -n "{ns}" (will retry after 5s): {VIOLATION}' in drained.stderr
    assert "global timeout reached: 3s" in drained.stderr
    for name in ("db-1", "db-2"):
        assert "deletionTimestamp" not in get(server, "pod", ns, name)["metadata"]
    assert json.loads(server.kubectl("get", "node", NODE, "-o", "json").stdout)["spec"]["unschedulable"] is True
