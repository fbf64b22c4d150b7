"""A Deployment's status and its Progressing / Available / ReplicaFailure conditions.

Upstream's calculateStatus, syncRolloutStatus, checkPausedConditions and
requeueStuckDeployment as pure functions of (deployment, ReplicaSets, now), with
upstream's reasons and messages, so `kubectl rollout status` and `kubectl describe`
read what they read on a real cluster. A condition keeps its lastTransitionTime while
its status stays; Progressing's lastUpdateTime moves only on real progress, and
progressDeadlineSeconds counts from it.
"""

from __future__ import annotations

import datetime

from tinykube.controllers import podutil
from tinykube.controllers.deployment import rolling
from tinykube.util import jsonutil

PROGRESSING, AVAILABLE, REPLICA_FAILURE = "Progressing", "Available", "ReplicaFailure"
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"
MAX_INT32 = 2**31 - 1

_COUNTS = ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas", "availableReplicas",
           "unavailableReplicas")


# --- conditions -------------------------------------------------------------------------------


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime.datetime) -> dict:
    t = podutil.format_time(now)
    return {"type": type_, "status": status, "lastUpdateTime": t, "lastTransitionTime": t,
            "reason": reason, "message": message}


def get_condition(status: dict, type_: str) -> dict | None:
    for c in status.get("conditions") or ():
        if c.get("type") == type_:
            return c
    return None


def set_condition(status: dict, condition: dict) -> None:
    """SetDeploymentCondition: no change for the same status and reason; the transition
    time is kept while the status stays."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] \
            and current.get("reason") == condition["reason"]:
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = dict(condition, lastTransitionTime=current.get("lastTransitionTime"))
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: dict, type_: str) -> None:
    kept = [c for c in status.get("conditions") or () if c.get("type") != type_]
    if kept:
        status["conditions"] = kept
    else:
        status.pop("conditions", None)


# --- predicates ---------------------------------------------------------------------------------


def has_progress_deadline(deployment: dict) -> bool:
    deadline = (deployment.get("spec") or {}).get("progressDeadlineSeconds")
    return deadline is not None and deadline != MAX_INT32


def _count(status: dict, field: str) -> int:
    return status.get(field) or 0


def deployment_complete(deployment: dict, status: dict) -> bool:
    want = rolling.desired(deployment)
    return (_count(status, "updatedReplicas") == want and _count(status, "replicas") == want
            and _count(status, "availableReplicas") == want
            and _count(status, "observedGeneration") >= (podutil.meta(deployment).get("generation") or 0))


def deployment_progressing(deployment: dict, new: dict) -> bool:
    old = deployment.get("status") or {}
    old_old = _count(old, "replicas") - _count(old, "updatedReplicas")
    new_old = _count(new, "replicas") - _count(new, "updatedReplicas")
    return (_count(new, "updatedReplicas") > _count(old, "updatedReplicas") or new_old < old_old
            or _count(new, "readyReplicas") > _count(old, "readyReplicas")
            or _count(new, "availableReplicas") > _count(old, "availableReplicas"))


def deployment_timed_out(deployment: dict, status: dict, now: datetime.datetime) -> bool:
    if not has_progress_deadline(deployment):
        return False
    cond = get_condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.get("reason") == TIMED_OUT_REASON:
        return True
    since = podutil.parse_time(cond.get("lastUpdateTime"))
    deadline = datetime.timedelta(seconds=deployment["spec"]["progressDeadlineSeconds"])
    return since is not None and since + deadline < now


# --- status -----------------------------------------------------------------------------------


def calculate_status(all_rss: list[dict], new_rs: dict | None, deployment: dict, now: datetime.datetime) -> dict:
    available = rolling.status_count(all_rss, "availableReplicas")
    total = rolling.total_replicas(all_rss)
    old = deployment.get("status") or {}
    status = {
        "observedGeneration": podutil.meta(deployment).get("generation") or 0,
        "replicas": rolling.status_count(all_rss, "replicas"),
        "updatedReplicas": rolling.status_count([new_rs] if new_rs else [], "replicas"),
        "readyReplicas": rolling.status_count(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, total - available),
    }
    status = {k: v for k, v in status.items() if v}  # omitempty
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = jsonutil.deep_copy(old["conditions"])
    if available >= rolling.desired(deployment) - rolling.max_unavailable(deployment):
        cond = new_condition(AVAILABLE, "True", MIN_AVAILABLE_REASON, "Deployment has minimum availability.", now)
    else:
        cond = new_condition(AVAILABLE, "False", MIN_UNAVAILABLE_REASON,
                             "Deployment does not have minimum availability.", now)
    set_condition(status, cond)
    return status


def rollout_status(deployment: dict, all_rss: list[dict], new_rs: dict | None, now: datetime.datetime) -> dict:
    """syncRolloutStatus's new status: counts, Available, Progressing and ReplicaFailure."""
    status = calculate_status(all_rss, new_rs, deployment, now)
    name = podutil.meta(deployment).get("name")
    subject = f'ReplicaSet "{podutil.meta(new_rs)["name"]}"' if new_rs else f'Deployment "{name}"'
    if not has_progress_deadline(deployment):
        remove_condition(status, PROGRESSING)
    current = get_condition(deployment.get("status") or {}, PROGRESSING)
    complete = (_count(status, "replicas") == _count(status, "updatedReplicas") and current is not None
                and current.get("reason") == NEW_RS_AVAILABLE_REASON)
    if has_progress_deadline(deployment) and not complete:
        if deployment_complete(deployment, status):
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE_REASON,
                                                f"{subject} has successfully progressed.", now))
        elif deployment_progressing(deployment, status):
            cond = new_condition(PROGRESSING, "True", RS_UPDATED_REASON, f"{subject} is progressing.", now)
            if current is not None:
                if current.get("status") == "True":
                    cond["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, cond)
        elif deployment_timed_out(deployment, status, now):
            set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT_REASON,
                                                f"{subject} has timed out progressing.", now))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        set_condition(status, failures[0])
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status


def replica_failures(all_rss: list[dict], new_rs: dict | None) -> list[dict]:
    """getReplicaFailures: the new ReplicaSet's ReplicaFailure first, else any old one's."""
    def of(rs: dict) -> list[dict]:
        return [{"type": REPLICA_FAILURE, "status": c.get("status"), "reason": c.get("reason"),
                 "message": c.get("message"), "lastUpdateTime": c.get("lastTransitionTime"),
                 "lastTransitionTime": c.get("lastTransitionTime")}
                for c in (rs.get("status") or {}).get("conditions") or () if c.get("type") == REPLICA_FAILURE]
    found = of(new_rs) if new_rs else []
    return found or [c for rs in all_rss if rs for c in of(rs)]


def requeue_after(deployment: dict, new_status: dict, now: datetime.datetime) -> float | None:
    """requeueStuckDeployment (when the status did not change): seconds until the
    progress deadline passes (0: at once), or None when no deadline is pending."""
    cond = get_condition(deployment.get("status") or {}, PROGRESSING)
    if not has_progress_deadline(deployment) or cond is None:
        return None
    if deployment_complete(deployment, new_status) or cond.get("reason") == TIMED_OUT_REASON:
        return None
    since = podutil.parse_time(cond.get("lastUpdateTime")) or now
    after = (since + datetime.timedelta(seconds=deployment["spec"]["progressDeadlineSeconds"]) - now).total_seconds()
    return 0.0 if after < 1 else after + 1  # a second more against clock skew, as upstream


def paused_condition_status(deployment: dict, now: datetime.datetime) -> dict | None:
    """checkPausedConditions: the status with DeploymentPaused / DeploymentResumed set,
    or None when it needs no change (a reported deadline is never overwritten)."""
    if not has_progress_deadline(deployment):
        return None
    status = jsonutil.deep_copy(deployment.get("status") or {})
    cond = get_condition(status, PROGRESSING)
    if cond is not None and cond.get("reason") == TIMED_OUT_REASON:
        return None
    paused = bool((deployment.get("spec") or {}).get("paused"))
    paused_exists = cond is not None and cond.get("reason") == PAUSED_REASON
    if paused and not paused_exists:
        set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED_REASON, "Deployment is paused", now))
    elif not paused and paused_exists:
        set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED_REASON, "Deployment is resumed", now))
    else:
        return None
    return status


def same_status(a: dict, b: dict) -> bool:
    """reflect.DeepEqual of two statuses, zero counts being absent."""
    def norm(s: dict) -> dict:
        return {k: v for k, v in (s or {}).items() if not (k in _COUNTS and not v) and v is not None}
    return norm(a) == norm(b)
