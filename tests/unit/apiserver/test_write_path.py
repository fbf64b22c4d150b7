"""The API server's lean write paths (pods/binding), over a real SQLite store and watch cache."""

from __future__ import annotations

import asyncio

import pytest

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.apiserver.resources import DeleteOptions, WriteContext

PODS = REGISTRY.by_plural("", "v1", "pods")
NS = "ns"


async def new_pod(res, name: str = "p") -> dict:
    return await res.create(PODS, NS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                       "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                            WriteContext(field_manager="kubectl-create"))


async def test_binding_assigns_the_node_with_condition_annotations_and_a_new_resource_version(res):
    created = await new_pod(res)
    watcher = await res.watch(PODS, NS, resource_version=created["metadata"]["resourceVersion"])
    await res.bind(PODS, NS, "p", {"metadata": {"name": "p", "annotations": {"a": "b"}},
                                   "target": {"kind": "Node", "name": "node-1"}},
                   WriteContext(field_manager="scheduler"))
    event_type, entry = await asyncio.wait_for(watcher.next(), 5)
    pod = entry.obj
    assert event_type == "MODIFIED" and pod["spec"]["nodeName"] == "node-1"
    assert int(pod["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    assert pod["metadata"]["annotations"] == {"a": "b"}
    scheduled = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert len(scheduled) == 1 and scheduled[0]["status"] == "True"
    # upstream's BindingREST writes no managedFields entry: ownership is the creator's only
    assert pod["metadata"]["managedFields"] == created["metadata"]["managedFields"]
    assert pod["spec"] == dict(created["spec"], nodeName="node-1")


async def test_binding_twice_or_while_deleting_is_a_conflict(res):
    await new_pod(res, "a")
    await res.bind(PODS, NS, "a", {"target": {"name": "node-1"}}, WriteContext())
    with pytest.raises(errors.Conflict, match='already assigned to node "node-1"'):
        await res.bind(PODS, NS, "a", {"target": {"name": "node-2"}}, WriteContext())
    created = await new_pod(res, "b")
    await res.update(PODS, NS, "b", dict(created, metadata=dict(created["metadata"], finalizers=["x/y"])),
                     WriteContext())
    await res.delete(PODS, NS, "b", DeleteOptions(), WriteContext())
    with pytest.raises(errors.Conflict, match="being deleted"):
        await res.bind(PODS, NS, "b", {"target": {"name": "node-1"}}, WriteContext())


async def test_binding_refuses_a_missing_target_or_pod_and_dry_run_writes_nothing(res):
    created = await new_pod(res)
    with pytest.raises(errors.Invalid):
        await res.bind(PODS, NS, "p", {"target": {}}, WriteContext())
    with pytest.raises(errors.NotFound):
        await res.bind(PODS, NS, "nope", {"target": {"name": "n"}}, WriteContext())
    await res.bind(PODS, NS, "p", {"target": {"name": "n"}}, WriteContext(dry_run=True))
    assert (await res.get(PODS, NS, "p")).obj == created


async def test_the_watch_cache_keeps_written_objects_without_decoding_them(res):
    created = await new_pod(res, "kept")
    await res.cache.wait_fresh()
    entry = res.cache.get(PODS.key(NS, "kept"))
    assert entry.obj is created  # the object written, not a decode of the stored bytes
    assert entry.obj["metadata"]["resourceVersion"] == str(entry.rev)
    saved = res.cache.stats["decodes_saved"]
    await res.bind(PODS, NS, "kept", {"target": {"kind": "Node", "name": "n1"}}, WriteContext())
    await res.cache.wait_fresh()
    assert res.cache.stats["decodes_saved"] == saved + 1
    assert res.cache.get(PODS.key(NS, "kept")).obj["spec"]["nodeName"] == "n1"


async def test_a_failed_write_leaves_no_expectation_behind(res):
    await new_pod(res, "twice")
    with pytest.raises(errors.AlreadyExists):
        await new_pod(res, "twice")
    await res.cache.wait_fresh()
    assert res.cache._expected == {}
