"""tinykube.client.ApiClient against a real `tinykube server`: every verb, typed errors,
paging, watch, subresources, both ways to authenticate."""

from __future__ import annotations

import os

import pytest

from .conftest import NS, namespace

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.client import ADDED, DELETED, MODIFIED, ApiClient

pytestmark = pytest.mark.e2e

CM = ("v1", "ConfigMap")
POD = REGISTRY.by_kind("", "v1", "Pod")


def cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data or {"k": "v"}}


def pod(name: str, node: str = "") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


async def test_crud_and_typed_errors(api):
    n = await namespace(api, "crud")
    made = await api.create(CM, cm("a"), namespace=n)
    assert made["metadata"]["uid"] and made["metadata"]["namespace"] == n
    got = await api.get(CM, "a", namespace=n)
    got["data"] = {"k": "2"}
    updated = await api.update(CM, got)
    assert updated["data"] == {"k": "2"}
    with pytest.raises(errors.Conflict) as stale:  # got's resourceVersion is old now
        await api.update(CM, got)
    assert "the object has been modified" in stale.value.message and stale.value.code == 409
    with pytest.raises(errors.AlreadyExists):
        await api.create(CM, cm("a"), namespace=n)
    with pytest.raises(errors.NotFound) as missing:
        await api.get(CM, "nope", namespace=n)
    assert missing.value.details == {"name": "nope", "kind": "configmaps"}
    with pytest.raises(errors.Invalid) as invalid:
        await api.create(CM, cm("Not_Valid"), namespace=n)
    assert invalid.value.details["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ValueError):
        await api.get(CM, "a")  # namespaced: the namespace must be said


async def test_list_pages_through_everything(api):
    n = await namespace(api, "paging")
    for i in range(7):
        await api.create(CM, cm(f"c{i}"), namespace=n)
    result = await api.list(CM, namespace=n, limit=3)
    assert [o["metadata"]["name"] for o in result.items] == [f"c{i}" for i in range(7)]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in result.items)
    assert int(result.resource_version) >= max(int(o["metadata"]["resourceVersion"]) for o in result.items)
    labelled = cm("l")
    labelled["metadata"]["labels"] = {"tier": "web"}
    await api.create(CM, labelled, namespace=n)
    assert [o["metadata"]["name"] for o in (await api.list(CM, namespace=n, label_selector="tier=web")).items] == ["l"]
    by_field = await api.list(CM, field_selector=f"metadata.namespace={n},metadata.name=c3")
    assert [o["metadata"]["name"] for o in by_field.items] == ["c3"]


async def test_the_four_patch_types_and_apply_conflicts(api):
    n = await namespace(api, "patch")
    await api.create(CM, cm("p", a="1"), namespace=n)
    merged = await api.patch(CM, "p", {"data": {"b": "2"}}, namespace=n)
    assert merged["data"] == {"a": "1", "b": "2"}
    jsonp = await api.patch(CM, "p", [{"op": "remove", "path": "/data/a"}], namespace=n, patch_type="json")
    assert jsonp["data"] == {"b": "2"}
    await api.create(POD, pod("sp"), namespace=n)
    strategic = await api.patch(POD, "sp", {"spec": {"containers": [{"name": "c", "image": "busybox:2"}]}},
                                namespace=n, patch_type="strategic")
    assert [c["image"] for c in strategic["spec"]["containers"]] == ["busybox:2"]
    applied = await api.apply(CM, {**cm("ap", x="1"), "metadata": {"name": "ap", "namespace": n}},
                              field_manager="one")
    assert applied["data"] == {"x": "1"}
    with pytest.raises(errors.Conflict):  # "x" is owned by "one"
        await api.apply(CM, {**cm("ap", x="2"), "metadata": {"name": "ap", "namespace": n}}, field_manager="two")
    forced = await api.apply(CM, {**cm("ap", x="2"), "metadata": {"name": "ap", "namespace": n}},
                             field_manager="two", force=True)
    assert forced["data"] == {"x": "2"}
    with pytest.raises(ValueError):
        await api.patch(CM, "p", {}, namespace=n, patch_type="yaml")


async def test_delete_options(api):
    n = await namespace(api, "delete")
    made = await api.create(CM, cm("d"), namespace=n)
    with pytest.raises(errors.Conflict) as precondition:
        await api.delete(CM, "d", namespace=n, preconditions={"uid": "not-it"})
    assert "Precondition failed" in precondition.value.message
    status = await api.delete(CM, "d", namespace=n, preconditions={"uid": made["metadata"]["uid"]},
                              propagation_policy="Background")
    assert status["status"] == "Success"
    bound = await api.create(POD, pod("graceful", node="node-x"), namespace=n)
    terminating = await api.delete(POD, "graceful", namespace=n, grace_period_seconds=5)
    assert terminating["metadata"]["deletionGracePeriodSeconds"] == 5
    await api.delete(POD, "graceful", namespace=n, grace_period_seconds=0,
                     preconditions={"resourceVersion": terminating["metadata"]["resourceVersion"]})
    with pytest.raises(errors.NotFound):
        await api.get(POD, "graceful", namespace=n)
    assert bound["spec"]["nodeName"] == "node-x"


async def test_status_subresource(api):
    n = await namespace(api, "status")
    # bound to a (made-up) node, so the scheduler does not write this pod's status too
    made = await api.create(POD, pod("s", node="node-s"), namespace=n)
    made["status"] = {**made["status"], "phase": "Running"}
    made["spec"]["activeDeadlineSeconds"] = 5  # ignored on /status
    after = await api.update_status(POD, made)
    assert after["status"]["phase"] == "Running" and "activeDeadlineSeconds" not in after["spec"]


async def test_binding_subresource(api):
    n = await namespace(api, "binding")
    await api.create(POD, pod("b"), namespace=n)
    result = await api.create_subresource(POD, "b", "binding", {
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "b"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}, namespace=n)
    assert result["status"] == "Success"
    assert (await api.get(POD, "b", namespace=n))["spec"]["nodeName"] == "node-1"
    with pytest.raises(errors.Conflict):  # bound once only
        await api.create_subresource(POD, "b", "binding", {"target": {"name": "node-2"}}, namespace=n)


async def test_watch_from_a_list_ends_with_a_bookmark(api):
    n = await namespace(api, "watch")
    rv = (await api.list(CM, namespace=n)).resource_version
    await api.create(CM, cm("w"), namespace=n)
    await api.patch(CM, "w", {"data": {"k": "2"}}, namespace=n)
    await api.delete(CM, "w", namespace=n)
    seen = []
    async with api.watch(CM, namespace=n, resource_version=rv, timeout_seconds=10) as stream:
        async for type_, obj in stream:
            seen.append((type_, obj["data"]["k"]))
            if type_ == DELETED:
                break
    assert seen == [(ADDED, "v"), (MODIFIED, "2"), (DELETED, "2")]
    # (a watch too old for the history raises errors.Expired: test_client_informer.py)
    bookmarks = [e async for e in api.watch(CM, namespace=n, resource_version=rv, timeout_seconds=1)
                 if e.type == "BOOKMARK"]
    assert bookmarks and int(bookmarks[-1].object["metadata"]["resourceVersion"]) > int(rv)


async def test_token_and_ca_file_as_the_agent_connects(server):
    with open(os.path.join(server.data_dir, "token")) as f:
        token = f.read().strip()
    ca = os.path.join(server.data_dir, "pki", "ca.crt")
    async with ApiClient.from_token(server.url, token, ca_file=ca) as agent:
        names = [o["metadata"]["name"] for o in (await agent.list(NS)).items]
        assert "kube-system" in names
    async with ApiClient.from_token(server.url, "wrong", ca_file=ca) as stranger:
        with pytest.raises(errors.Unauthorized):
            await stranger.list(NS)
