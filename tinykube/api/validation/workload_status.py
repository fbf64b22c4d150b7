"""Status sanity for apps/v1 workloads (Validate{Deployment,ReplicaSet,StatefulSet,DaemonSet}Status).

Counters are >= 0, the ready/available/updated counts do not exceed status.replicas,
and status.collisionCount never goes down.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import as_dict, child, invalid, is_int, nonnegative


_STATUS_RULES = {
    "Deployment": (("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
                    "unavailableReplicas", "collisionCount"),
                   ("updatedReplicas", "readyReplicas", "availableReplicas"), "cannot be greater than readyReplicas"),
    "ReplicaSet": (("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "observedGeneration"),
                   ("fullyLabeledReplicas", "readyReplicas", "availableReplicas"), "cannot be greater than readyReplicas"),
    "StatefulSet": (("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas",
                     "observedGeneration", "collisionCount"),
                    ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas"),
                    "cannot be greater than status.readyReplicas"),
    "DaemonSet": (("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
                   "observedGeneration", "updatedNumberScheduled", "numberAvailable", "numberUnavailable",
                   "collisionCount"), (), ""),
}


def validate_workload_status(kind: str, new: dict, old: dict) -> list[Cause]:
    status, old_status = as_dict(new.get("status")), as_dict(old.get("status"))
    counters, bounded, ready_msg = _STATUS_RULES[kind]
    causes: list[Cause] = []
    for name in counters:
        causes += nonnegative(child("status", name), status.get(name))
    replicas = status.get("replicas") or 0
    for name in bounded:
        if (status.get(name) or 0) > replicas:
            causes.append(invalid(child("status", name), status[name], "cannot be greater than status.replicas"))
    if ready_msg and (status.get("availableReplicas") or 0) > (status.get("readyReplicas") or 0):
        causes.append(invalid("status.availableReplicas", status["availableReplicas"], ready_msg))
    return causes + _collision_count(status, old_status)


def _collision_count(status: dict, old_status: dict) -> list[Cause]:
    new_count, old_count = status.get("collisionCount"), old_status.get("collisionCount")
    if old_count is not None and (new_count is None or (is_int(new_count) and new_count < old_count)):
        return [invalid("status.collisionCount", new_count or 0, "cannot be decremented")]
    return []
