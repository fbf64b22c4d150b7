"""Garbage collector: the pure decisions as tables, and one sync per mode against fakes."""

from __future__ import annotations

import pytest

from tinykube.controllers import gcgraph
from tinykube.controllers.garbagecollector import GarbageCollector
from tinykube.controllers.gcgraph import Delete, Keep, OwnerState, RemoveFinalizer, RemoveOwnerRefs

from .helpers_gc import fake_context, seed, writes

S, D, W, U = OwnerState.SOLID, OwnerState.DANGLING, OwnerState.WAITING, OwnerState.UNKNOWN


def obj(finalizers=()):
    return {"metadata": {"name": "x", "uid": "x", "finalizers": list(finalizers)}}


@pytest.mark.parametrize("states, has_deps, finalizers, expected", [
    ({}, False, (), Keep()),
    ({"a": S}, False, (), Keep()),
    ({"a": S, "b": D}, False, (), RemoveOwnerRefs(frozenset({"b"}))),
    ({"a": S, "b": W}, True, (), RemoveOwnerRefs(frozenset({"b"}))),
    ({"a": D}, False, (), Delete("Background")),
    ({"a": D, "b": D}, True, (), Delete("Background")),
    ({"a": W}, True, (), Delete("Foreground")),
    ({"a": W}, False, (), Delete("Background")),
    ({"a": D}, False, ("orphan",), Delete("Orphan")),
    ({"a": D}, False, ("foregroundDeletion",), Delete("Foreground")),
    ({"a": D, "b": U}, False, (), Keep()),
])
def test_decide_dependent(states, has_deps, finalizers, expected):
    assert gcgraph.decide_dependent(obj(finalizers), states, has_dependents=has_deps) == expected


def cm(name, uid, owners=(), **md):
    refs = [{"apiVersion": "v1", "kind": "ConfigMap", "name": o[0], "uid": o[1], "blockOwnerDeletion": o[2]}
            for o in owners]
    meta = {"name": name, "namespace": "ns", "uid": uid, **md}
    if refs:
        meta["ownerReferences"] = refs
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


@pytest.mark.parametrize("owner, dependents, expected", [
    ({"uid": "o"}, [], RemoveFinalizer("foregroundDeletion")),
    ({"uid": "o"}, [cm("d", "d", [("o", "o", False)])], RemoveFinalizer("foregroundDeletion")),
    ({"uid": "o"}, [cm("d", "d", [("o", "o", True)])], Keep()),
    ({"uid": "o"}, [cm("d", "d", [("p", "p", True)])], RemoveFinalizer("foregroundDeletion")),
])
def test_decide_deleting_dependents(owner, dependents, expected):
    assert gcgraph.decide_deleting_dependents({"metadata": owner}, dependents) == expected


@pytest.mark.parametrize("owner, expected", [
    (None, D),
    ({"metadata": {"uid": "other"}}, D),
    ({"metadata": {"uid": "o"}}, S),
    ({"metadata": {"uid": "o", "deletionTimestamp": "t", "finalizers": ["orphan"]}}, S),
    ({"metadata": {"uid": "o", "deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]}}, W),
])
def test_owner_state(owner, expected):
    assert gcgraph.owner_state(gcgraph.OwnerRef("v1", "ConfigMap", "o", "o"), owner) == expected


def collector(*objects):
    ctx, client, _ = fake_context()
    gc = GarbageCollector(ctx)
    stored = seed(client, gc.informers.values(), *objects)
    return gc, client, stored


async def test_dependent_of_a_deleted_owner_is_deleted_in_the_background():
    gc, client, _ = collector(cm("dep", "d", [("owner", "o", False)]))
    await gc.sync(("", "ConfigMap", "ns/dep"))
    assert writes(client) == [("delete", "configmaps", "dep", "")]
    assert client.actions[-1].body == {"uid": "d"}  # the uid precondition
    assert ("get", "configmaps", "ns", "owner", "") in [(a.verb, a.plural, a.namespace, a.name, a.subresource)
                                                        for a in client.actions]  # confirmed live


async def test_uid_mismatch_counts_as_gone():
    gc, client, _ = collector(cm("owner", "new-uid"), cm("dep", "d", [("owner", "old-uid", False)]))
    await gc.sync(("", "ConfigMap", "ns/dep"))
    assert writes(client) == [("delete", "configmaps", "dep", "")]


async def test_dependent_with_a_live_owner_stays():
    gc, client, _ = collector(cm("owner", "o"), cm("dep", "d", [("owner", "o", False)]))
    await gc.sync(("", "ConfigMap", "ns/dep"))
    assert writes(client) == []


async def test_a_dangling_reference_beside_a_solid_one_is_removed():
    gc, client, _ = collector(cm("owner", "o"), cm("dep", "d", [("owner", "o", False), ("gone", "g", False)]))
    await gc.sync(("", "ConfigMap", "ns/dep"))
    assert writes(client) == [("patch", "configmaps", "dep", "")]
    assert [r["uid"] for r in client.actions[-1].body["metadata"]["ownerReferences"]] == ["o"]


async def test_orphan_removes_references_then_the_finalizer():
    owner = cm("owner", "o", deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["orphan"])
    gc, client, _ = collector(owner, cm("dep", "d", [("owner", "o", True)]))
    await gc.sync(("", "ConfigMap", "ns/owner"))
    assert writes(client) == [("patch", "configmaps", "dep", ""), ("patch", "configmaps", "owner", "")]
    assert client.writes()[0].body["metadata"]["ownerReferences"] is None
    assert client.writes()[1].body["metadata"]["finalizers"] is None


async def test_foreground_waits_for_blocking_dependents():
    owner = cm("owner", "o", deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["foregroundDeletion"])
    gc, client, _ = collector(owner, cm("dep", "d", [("owner", "o", True)]))
    await gc.sync(("", "ConfigMap", "ns/owner"))
    assert writes(client) == []  # the finalizer stays while a blocking dependent exists
    assert len(gc.queue) == 1  # the dependent is queued...
    await gc.sync(("", "ConfigMap", "ns/dep"))
    assert writes(client) == [("delete", "configmaps", "dep", "")]  # ...and deleted: its owner waits


async def test_foreground_finalizer_goes_when_no_dependent_blocks():
    owner = cm("owner", "o", deletionTimestamp="2024-01-01T00:00:00Z", finalizers=["foregroundDeletion"])
    gc, client, _ = collector(owner, cm("dep", "d", [("owner", "o", False)]))
    await gc.sync(("", "ConfigMap", "ns/owner"))
    assert writes(client) == [("patch", "configmaps", "owner", "")]
