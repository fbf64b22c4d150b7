"""Recreate: every old pod gone before the new ReplicaSet scales up.

`old_pods_running` is upstream's oldPodsRunning: old ReplicaSets still report pods,
or a pod of a ReplicaSet other than the new one is neither Succeeded nor Failed
(a terminating pod still runs: the new pods must wait for it).
"""

from __future__ import annotations

from tinykube.controllers import podutil
from tinykube.controllers.deployment import rolling


def old_pods_running(new_rs: dict | None, old_rss: list[dict], pods_by_rs_uid: dict[str, list[dict]]) -> bool:
    if rolling.status_count(old_rss, "replicas") > 0:
        return True
    new_uid = podutil.meta(new_rs).get("uid") if new_rs else None
    for uid, pods in pods_by_rs_uid.items():
        if uid == new_uid:
            continue
        if any((p.get("status") or {}).get("phase") not in ("Succeeded", "Failed") for p in pods):
            return True
    return False


def scale_down_plan(old_rss: list[dict]) -> list[tuple[dict, int]]:
    """scaleDownOldReplicaSetsForRecreate: every active old ReplicaSet to 0."""
    return [(rs, 0) for rs in old_rss if rolling.replicas(rs)]
