"""Namespace controller: conditions as a table; one sync deletes content, one finalizes."""

from __future__ import annotations

from tinykube.controllers import namespace as nsc
from tinykube.controllers.namespace import ContentResult, NamespaceController

from .helpers_gc import fake_context, seed, writes

TERMINATING = {"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "doomed", "deletionTimestamp": "2024-01-01T00:00:00Z"},
               "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Terminating"}}


def by_type(conditions):
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in conditions}


def test_conditions_when_everything_is_gone():
    conditions = by_type(nsc.content_conditions(ContentResult()))
    assert conditions["NamespaceContentRemaining"] == ("False", "ContentRemoved", "All content successfully removed")
    assert all(status == "False" for status, _, _ in conditions.values())
    assert len(conditions) == 5


def test_conditions_with_content_remaining_and_errors():
    result = ContentResult(remaining={"pods.": 2, "configmaps.": 1}, finalizers={"example.com/x": 1},
                           errors=["secrets.: boom"])
    conditions = by_type(nsc.content_conditions(result))
    assert conditions["NamespaceContentRemaining"] == (
        "True", "SomeResourcesRemain",
        "Some resources are remaining: configmaps. has 1 resource instances, pods. has 2 resource instances")
    assert conditions["NamespaceFinalizersRemaining"] == (
        "True", "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances")
    assert conditions["NamespaceDeletionContentFailure"] == (
        "True", "ContentDeletionFailed", "Failed to delete all resource types, 1 remaining: secrets.: boom")


def test_merge_keeps_transition_time_of_unchanged_status():
    wanted = nsc.content_conditions(ContentResult())
    first = nsc.merge_conditions([], wanted, "t1")
    assert nsc.merge_conditions(first, wanted, "t2") is None
    changed = nsc.merge_conditions(first, nsc.content_conditions(ContentResult(remaining={"pods.": 1})), "t2")
    times = {c["type"]: c["lastTransitionTime"] for c in changed}
    assert times["NamespaceContentRemaining"] == "t2" and times["NamespaceDeletionContentFailure"] == "t1"


async def test_sync_deletes_content_and_checks_again():
    ctx, client, _ = fake_context()
    controller = NamespaceController(ctx)
    seed(client, [], TERMINATING,
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "doomed"}},
         {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "doomed"}},
         {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "kept"}})
    await controller.sync("doomed")
    deletes = [w for w in writes(client) if w[0] == "delete"]
    assert sorted(deletes) == [("delete", "configmaps", "c", ""), ("delete", "deployments", "d", "")]
    assert all(set(a.body) == {"uid"} for a in client.writes() if a.verb == "delete")  # uid preconditions
    # the fake deletes at once, so nothing remains: conditions written, then finalized
    assert writes(client)[-2:] == [("update", "namespaces", "doomed", "status"),
                                   ("update", "namespaces", "doomed", "finalize")]
    assert client.writes()[-1].body["spec"]["finalizers"] == []


async def test_sync_waits_for_terminating_content():
    ctx, client, _ = fake_context()
    controller = NamespaceController(ctx)
    seed(client, [], TERMINATING, {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "namespace": "doomed", "deletionTimestamp": "2024-01-01T00:00:00Z"}, "spec": {}})
    await controller.sync("doomed")
    assert writes(client) == [("update", "namespaces", "doomed", "status")]
    conditions = by_type(client.writes()[0].body["status"]["conditions"])
    assert conditions["NamespaceContentRemaining"][0] == "True"
    assert "pods. has 1 resource instances" in conditions["NamespaceContentRemaining"][2]


async def test_active_namespace_is_left_alone():
    ctx, client, _ = fake_context()
    controller = NamespaceController(ctx)
    seed(client, [], {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "live"}})
    await controller.sync("live")
    assert writes(client) == []
