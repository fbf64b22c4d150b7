"""Garbage collection, delete propagation, namespaces and ServiceAccounts with the real kubectl.

Owners and dependents are ConfigMaps with ownerReferences made here, so these tests need
no workload controller: deleting the owner with `kubectl delete --cascade=...` must
delete the dependents afterwards (background), before the owner (foreground), or keep
them without the reference (orphan).
"""

from __future__ import annotations

import json

from tests.waiting import wait_for


def make_ns(srv, name: str) -> str:
    srv.kubectl("create", "namespace", name)
    wait_for(lambda: srv.kubectl(
        "get", "serviceaccount", "default", "-n", name, check=False).returncode == 0, "the default ServiceAccount")
    return name


def configmap(srv, ns: str, name: str, owner: dict | None = None, block: bool = False) -> dict:
    md: dict = {"name": name, "namespace": ns}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                  "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}]
    srv.kubectl("create", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": md}))
    return get(srv, ns, name)


def get(srv, ns: str, name: str) -> dict | None:
    result = srv.kubectl("get", "configmap", name, "-n", ns, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def family(srv, ns: str, block: bool = False) -> dict:
    owner = configmap(srv, ns, "owner")
    for name in ("dep-1", "dep-2"):
        configmap(srv, ns, name, owner, block=block)
    return owner


def test_background_deletes_dependents(srv):
    ns = make_ns(srv, "gc-background")
    family(srv, ns)
    srv.kubectl("delete", "configmap", "owner", "-n", ns, "--cascade=background")
    assert get(srv, ns, "owner") is None
    wait_for(lambda: get(srv, ns, "dep-1") is None and get(srv, ns, "dep-2") is None, "dependents deleted")


def test_orphan_keeps_dependents_without_the_reference(srv):
    ns = make_ns(srv, "gc-orphan")
    family(srv, ns)
    srv.kubectl("delete", "configmap", "owner", "-n", ns, "--cascade=orphan")
    wait_for(lambda: get(srv, ns, "owner") is None, "owner gone")
    for name in ("dep-1", "dep-2"):
        dep = get(srv, ns, name)
        assert dep is not None
        assert not dep["metadata"].get("ownerReferences")


def test_foreground_deletes_dependents_first(srv):
    ns = make_ns(srv, "gc-foreground")
    family(srv, ns, block=True)
    # a finalizer keeps one blocking dependent: the owner must wait for it
    srv.kubectl("patch", "configmap", "dep-1", "-n", ns, "--type=merge",
                "-p", '{"metadata":{"finalizers":["example.com/hold"]}}')
    srv.kubectl("delete", "configmap", "owner", "-n", ns, "--cascade=foreground", "--wait=false")
    wait_for(lambda: get(srv, ns, "dep-2") is None, "dep-2 deleted")
    owner = get(srv, ns, "owner")
    assert owner is not None and "foregroundDeletion" in owner["metadata"]["finalizers"]
    assert get(srv, ns, "dep-1")["metadata"].get("deletionTimestamp")
    srv.kubectl("patch", "configmap", "dep-1", "-n", ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}')
    wait_for(lambda: get(srv, ns, "owner") is None, "owner deleted after its dependents")


def test_dependent_of_a_missing_owner_is_collected(srv):
    ns = make_ns(srv, "gc-dangling")
    ghost = {"metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000001"}}
    configmap(srv, ns, "stray", ghost)
    wait_for(lambda: get(srv, ns, "stray") is None, "the dependent of a missing owner deleted")


def test_default_service_account_is_recreated(srv):
    ns = make_ns(srv, "gc-sa")
    srv.kubectl("delete", "serviceaccount", "default", "-n", ns)
    wait_for(lambda: srv.kubectl(
        "get", "serviceaccount", "default", "-n", ns, check=False).returncode == 0, "default ServiceAccount re-created")


def test_pod_with_a_missing_service_account_is_refused(srv):
    ns = make_ns(srv, "gc-sa-missing")
    result = srv.kubectl("run", "p", "-n", ns, "--image=busybox", "--overrides",
                         '{"spec":{"serviceAccountName":"nobody"}}', check=False)
    assert result.returncode != 0
    assert (f'pods "p" is forbidden: error looking up service account {ns}/nobody: '
            f'serviceaccount "nobody" not found') in result.stderr


def test_namespace_deletion_removes_content(srv):
    ns = make_ns(srv, "gc-ns-delete")
    family(srv, ns)
    srv.kubectl("delete", "namespace", ns, "--wait=false")
    wait_for(lambda: srv.kubectl("get", "namespace", ns, check=False).returncode != 0, "namespace gone")
