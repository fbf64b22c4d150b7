"""The Job controller's decisions, as pure functions of (job, its pods, now).

A sync runs three steps, each pure here and applied by the shell (controller.py):

1. `record_finished`: pods that finished while still carrying the
   batch.kubernetes.io/job-tracking finalizer go into status.uncountedTerminatedPods
   (and their index into completedIndexes / failedIndexes), written before anything
   else, so a pod deleted right after is still counted exactly once;
2. `finalizers_to_remove` then `count_uncounted`: once a recorded pod's finalizer is
   off (or the pod is gone), its uid moves from uncountedTerminatedPods to the
   succeeded / failed counters;
3. `decide`: with the counts settled, the Job's conditions (SuccessCriteriaMet then
   Complete; FailureTarget then Failed, once no pod is terminating), the pods to
   create (parallelism, completions, Indexed indexes, failure back-off) or delete,
   events, and when to look again (activeDeadlineSeconds, back-off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinykube.controllers import owned
from tinykube.controllers.job import failurepolicy, indexes
from tinykube.util import jsonutil

FINALIZER = "batch.kubernetes.io/job-tracking"
BACKOFF_BASE, BACKOFF_MAX = 10.0, 360.0  # upstream's DefaultJobPodFailureBackOff / MaxJobPodFailureBackOff
COMPLETIONS_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
BACKOFF_EXCEEDED = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")
DEADLINE_EXCEEDED = ("DeadlineExceeded", "Job was active longer than specified deadline")
FAILED_INDEXES = ("FailedIndexes", "Job has failed indexes")
MAX_FAILED_INDEXES = ("MaxFailedIndexesExceeded", "Job has exceeded the specified maximal number of failed indexes")


@dataclass
class JobPlan:
    status: dict
    create: list[dict] = field(default_factory=list)
    delete: list[dict] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)  # (type, reason, message)
    requeue_after: float | None = None


# --- reading a Job ----------------------------------------------------------------------


def finished_condition(job: dict) -> str | None:
    """"Complete" or "Failed" once the Job has that condition True."""
    for type_ in ("Complete", "Failed"):
        c = owned.condition(job, type_)
        if c and c.get("status") == "True":
            return type_
    return None


def is_indexed(job: dict) -> bool:
    return job["spec"].get("completionMode") == "Indexed"


def completions(job: dict) -> int | None:
    return job["spec"].get("completions")


def has_finalizer(pod: dict) -> bool:
    return FINALIZER in (pod["metadata"].get("finalizers") or ())


def pod_outcome(job: dict, pod: dict) -> str | None:
    """"Succeeded", "Failed" or None (still counting as running), upstream's isPodFailed:
    a pod being deleted counts as failed unless the Job replaces only Failed pods; a pod
    its node is done with (grace period 0) is failed in any case."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed"):
        return phase
    if not owned.is_terminating(pod):
        return None
    only_failed = job["spec"].get("podReplacementPolicy") == "Failed" or job["spec"].get("podFailurePolicy")
    if not only_failed or pod["metadata"].get("deletionGracePeriodSeconds") == 0:
        return "Failed"
    return None


def policy_match(job: dict, pod: dict) -> failurepolicy.Match | None:
    if (pod.get("status") or {}).get("phase") != "Failed":
        return None
    return failurepolicy.match(job["spec"].get("podFailurePolicy"), pod)


# --- step 1: record finished pods ---------------------------------------------------------


def _uncounted(status: dict) -> dict:
    u = status.get("uncountedTerminatedPods") or {}
    return {"succeeded": list(u.get("succeeded") or ()), "failed": list(u.get("failed") or ())}


def record_finished(job: dict, pods: list[dict], *, skip_uids: frozenset = frozenset()) -> dict | None:
    """The status with newly finished, still tracked pods in uncountedTerminatedPods, or
    None when there is nothing new. skip_uids: pods whose finalizer removal is in flight."""
    status = jsonutil.deep_copy(job.get("status") or {})
    uncounted = _uncounted(status)
    known = set(uncounted["succeeded"]) | set(uncounted["failed"]) | set(skip_uids)
    n = completions(job) or 0
    done = indexes.parse_intervals(status.get("completedIndexes"), n)
    failed_idx = indexes.parse_intervals(status.get("failedIndexes"), n)
    changed = False
    for pod in pods:
        uid, outcome = pod["metadata"]["uid"], pod_outcome(job, pod)
        if outcome is None or not has_finalizer(pod) or uid in known:
            continue
        match = policy_match(job, pod) if outcome == "Failed" else None
        if match and match.action == failurepolicy.IGNORE:
            continue  # not counted at all; its finalizer just goes
        uncounted["succeeded" if outcome == "Succeeded" else "failed"].append(uid)
        changed = True
        index = indexes.pod_index(pod) if is_indexed(job) else None
        if index is None or index >= n:
            continue
        if outcome == "Succeeded":
            done.add(index)
        elif _index_failed(job, pod, match):
            failed_idx.add(index)
    if not changed:
        return None
    status["uncountedTerminatedPods"] = uncounted
    if is_indexed(job):
        status["completedIndexes"] = indexes.format_intervals(done)
        if job["spec"].get("backoffLimitPerIndex") is not None:
            status["failedIndexes"] = indexes.format_intervals(failed_idx - done)
    return status


def _index_failed(job: dict, pod: dict, match: failurepolicy.Match | None) -> bool:
    limit = job["spec"].get("backoffLimitPerIndex")
    if limit is None:
        return False
    if match and match.action == failurepolicy.FAIL_INDEX:
        return True
    return indexes.pod_failure_count(pod) + 1 > limit


# --- step 2: finalizers and counters ------------------------------------------------------


def finalizers_to_remove(job: dict, pods: list[dict]) -> list[dict]:
    """Tracked pods whose outcome is recorded (or does not count), or all of them once the
    Job is finished or being deleted."""
    status = job.get("status") or {}
    recorded = set(_uncounted(status)["succeeded"]) | set(_uncounted(status)["failed"])
    over = finished_condition(job) is not None or job["metadata"].get("deletionTimestamp")
    out = []
    for pod in pods:
        if not has_finalizer(pod):
            continue
        ignored = pod_outcome(job, pod) == "Failed" and _ignored(job, pod)
        if over or pod["metadata"]["uid"] in recorded or ignored:
            out.append(pod)
    return out


def _ignored(job: dict, pod: dict) -> bool:
    match = policy_match(job, pod)
    return match is not None and match.action == failurepolicy.IGNORE


def count_uncounted(status: dict, pods: list[dict], cleared: set[str]) -> dict:
    """Move uids of uncountedTerminatedPods whose pod is untracked now (finalizer off,
    or gone) into the succeeded / failed counters."""
    tracked = {p["metadata"]["uid"] for p in pods if has_finalizer(p)} - cleared
    uncounted = _uncounted(status)
    if all(uid in tracked for uid in uncounted["succeeded"] + uncounted["failed"]):
        return status  # nothing to move
    status = jsonutil.deep_copy(status)
    for outcome in ("succeeded", "failed"):
        moved = [uid for uid in uncounted[outcome] if uid not in tracked]
        uncounted[outcome] = [uid for uid in uncounted[outcome] if uid in tracked]
        status[outcome] = status.get(outcome, 0) + len(moved)
    status["uncountedTerminatedPods"] = uncounted
    return status
