"""Pod GC: which pods go, as tables; a sync after the quarantine deletes orphans."""

from __future__ import annotations

from tinykube.controllers import podgc
from tinykube.controllers.podgc import PodGC

from .helpers_gc import fake_context, seed, writes


def pod(name, phase="Running", created="2024-01-01T00:00:00Z", node="", reason="", deleting=False):
    md = {"name": name, "namespace": "default", "creationTimestamp": created}
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    status = {"phase": phase, **({"reason": reason} if reason else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": {"nodeName": node}, "status": status}


def names(pods):
    return [p["metadata"]["name"] for p in pods]


def test_terminated_beyond_threshold_oldest_and_evicted_first():
    pods = [pod("new", "Succeeded", "2024-01-03T00:00:00Z"), pod("old", "Failed", "2024-01-01T00:00:00Z"),
            pod("evicted", "Failed", "2024-01-05T00:00:00Z", reason="Evicted"), pod("running")]
    assert names(podgc.terminated_to_delete(pods, 1)) == ["evicted", "old"]
    assert podgc.terminated_to_delete(pods, 3) == []
    assert podgc.terminated_to_delete(pods, 0) == []


def test_orphaned_and_unscheduled_terminating():
    pods = [pod("a", node="gone"), pod("b", node="n1"), pod("c"), pod("d", deleting=True)]
    assert {k: names(v) for k, v in podgc.orphaned_pods(pods, {"n1"}).items()} == {"gone": ["a"]}
    assert names(podgc.unscheduled_terminating(pods)) == ["d"]


async def test_orphans_deleted_after_quarantine():
    ctx, client, clock = fake_context(extra={"podgc_quarantine_seconds": 40})
    gc = PodGC(ctx)
    seed(client, [gc.pods, gc.nodes], pod("a", node="gone"))
    await gc.sync(podgc.KEY)
    assert writes(client) == []  # quarantined first
    clock.advance(41)
    await gc.sync(podgc.KEY)
    assert writes(client) == [("update", "pods", "a", "status"), ("delete", "pods", "a", "")]
    body = client.writes()[0].body["status"]
    assert body["phase"] == "Failed" and body["conditions"][-1]["reason"] == "DeletionByPodGC"
