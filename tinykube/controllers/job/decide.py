"""Step 3 of a Job sync (see core.py): conditions, pods to create or delete, events.

`decide(job, pods, now)` takes the Job with its counters already settled and returns a
JobPlan. Upstream's order: a FailJob rule, then backoffLimit, then
activeDeadlineSeconds, then per-index limits decide a failure; completions decide a
success. Either is first a *target* condition (FailureTarget / SuccessCriteriaMet, as
1.32 writes them) while remaining pods are deleted, and becomes Failed / Complete once
no pod of the Job is still terminating.
"""

from __future__ import annotations

import datetime

from tinykube.client import NORMAL, WARNING
from tinykube.controllers import owned
from tinykube.controllers.job import core, failurepolicy, indexes
from tinykube.controllers.job.core import JobPlan
from tinykube.util import jsonutil


def decide(job: dict, pods: list[dict], now: datetime.datetime) -> JobPlan:
    status = jsonutil.deep_copy(job.get("status") or {})
    plan = JobPlan(status=status)
    active = [p for p in pods if owned.is_active(p)]
    terminating = [p for p in pods if owned.is_terminating(p) and not owned.is_finished(p)]
    if core.finished_condition(job):
        return plan  # finished: only the pod finalizers (core) are still looked after
    suspended = bool(job["spec"].get("suspend"))
    _suspend_condition(plan, suspended, now)
    if not suspended and not status.get("startTime"):
        status["startTime"] = owned.format_time(now)
    target = _existing_target(status) or _failure(job, pods, status, now, plan)
    if target is None:
        target = _success_policy(job, status)
    if target is None and _succeeded(job, status, active):
        target = ("SuccessCriteriaMet", *core.COMPLETIONS_REACHED)
    if target:
        _finish(plan, target, active, terminating, now)
    elif suspended:
        plan.delete = list(active)
    else:
        _manage(job, pods, active, status, now, plan)
    _set_counts(job, status, active, terminating, deleting=plan.delete, created=len(plan.create))
    return plan


# --- counts --------------------------------------------------------------------------------


def _set_counts(job: dict, status: dict, active: list, terminating: list, deleting: list = (),
                created: int = 0) -> None:
    gone = {p["metadata"]["uid"] for p in deleting}
    still = [p for p in active if p["metadata"]["uid"] not in gone]
    status["active"] = len(still) + created
    status["ready"] = sum(1 for p in still if owned.is_ready(p))
    status["terminating"] = len(terminating) + len(gone)
    status.setdefault("succeeded", 0)
    status.setdefault("failed", 0)
    status.setdefault("uncountedTerminatedPods", {})
    if core.is_indexed(job):
        status["succeeded"] = len(indexes.parse_intervals(status.get("completedIndexes"), core.completions(job) or 0))
    for name in ("active", "succeeded", "failed", "terminating"):
        if not status[name] and name != "terminating":
            status.pop(name)  # omitempty, as upstream's status shows
    if not status["uncountedTerminatedPods"].get("succeeded") and not status["uncountedTerminatedPods"].get("failed"):
        status["uncountedTerminatedPods"] = {}


def _failed_count(status: dict) -> int:
    return status.get("failed", 0) + len((status.get("uncountedTerminatedPods") or {}).get("failed") or ())


# --- conditions ----------------------------------------------------------------------------


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime.datetime) -> dict:
    stamp = owned.format_time(now)
    return {"type": type_, "status": status, "lastProbeTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def _put_condition(status: dict, cond: dict) -> bool:
    """Add cond or update the one of its type; True when something changed."""
    conditions = status.setdefault("conditions", [])
    for i, old in enumerate(conditions):
        if old.get("type") == cond["type"]:
            if (old.get("status"), old.get("reason"), old.get("message")) == (cond["status"], cond["reason"], cond["message"]):
                return False
            conditions[i] = cond
            return True
    conditions.append(cond)
    return True


def _suspend_condition(plan: JobPlan, suspended: bool, now: datetime.datetime) -> None:
    status = plan.status
    existing = next((c for c in status.get("conditions") or () if c.get("type") == "Suspended"), None)
    if suspended and _put_condition(status, new_condition("Suspended", "True", "JobSuspended", "Job suspended", now)):
        plan.events.append((NORMAL, "Suspended", "Job suspended"))
    elif not suspended and existing and existing.get("status") == "True":
        _put_condition(status, new_condition("Suspended", "False", "JobResumed", "Job resumed", now))
        plan.events.append((NORMAL, "Resumed", "Job resumed"))
        status["startTime"] = owned.format_time(now)  # a resumed Job's deadline starts again


def _existing_target(status: dict) -> tuple[str, str, str] | None:
    for type_ in ("FailureTarget", "SuccessCriteriaMet"):
        for c in status.get("conditions") or ():
            if c.get("type") == type_ and c.get("status") == "True":
                return type_, c.get("reason", ""), c.get("message", "")
    return None


def _failure(job: dict, pods: list[dict], status: dict, now: datetime.datetime, plan: JobPlan):
    spec = job["spec"]
    for pod in pods:
        match = core.policy_match(job, pod)
        if match and match.action == failurepolicy.FAIL_JOB:
            return "FailureTarget", "PodFailurePolicy", match.message
    if spec.get("backoffLimitPerIndex") is None and _failed_count(status) > spec.get("backoffLimit", 6):
        return ("FailureTarget", *core.BACKOFF_EXCEEDED)
    deadline = spec.get("activeDeadlineSeconds")
    started = owned.parse_time(status.get("startTime"))
    if deadline is not None and started and not spec.get("suspend"):
        left = (started + datetime.timedelta(seconds=deadline) - now).total_seconds()
        if left <= 0:
            return ("FailureTarget", *core.DEADLINE_EXCEEDED)
        plan.requeue_after = left
    return _index_failure(job, status)


def _index_failure(job: dict, status: dict):
    if not core.is_indexed(job) or job["spec"].get("backoffLimitPerIndex") is None:
        return None
    n = core.completions(job) or 0
    failed = indexes.parse_intervals(status.get("failedIndexes"), n)
    limit = job["spec"].get("maxFailedIndexes")
    if limit is not None and len(failed) > limit:
        return ("FailureTarget", *core.MAX_FAILED_INDEXES)
    done = indexes.parse_intervals(status.get("completedIndexes"), n)
    if failed and len(failed | done) >= n:
        return ("FailureTarget", *core.FAILED_INDEXES)
    return None


def _succeeded(job: dict, status: dict, active: list) -> bool:
    n = core.completions(job)
    if core.is_indexed(job):
        return len(indexes.parse_intervals(status.get("completedIndexes"), n or 0)) >= (n or 0)
    succeeded = status.get("succeeded", 0) + len((status.get("uncountedTerminatedPods") or {}).get("succeeded") or ())
    if n is None:  # work queue style: done once one pod succeeded and none is running
        return succeeded > 0 and not active
    return succeeded >= n


def _success_policy(job: dict, status: dict):
    """The first successPolicy rule the succeeded indexes satisfy (Indexed Jobs only)."""
    n = core.completions(job) or 0
    done = indexes.parse_intervals(status.get("completedIndexes"), n)
    for i, rule in enumerate((job["spec"].get("successPolicy") or {}).get("rules") or ()):
        wanted = indexes.parse_intervals(rule["succeededIndexes"], n) if rule.get("succeededIndexes") else None
        if wanted is not None and not wanted:
            continue  # an unusable index list never matches
        matched = len(done & wanted) if wanted is not None else len(done)
        count = rule.get("succeededCount")
        if (count is None and matched == len(wanted)) or (count is not None and matched >= count):
            return "SuccessCriteriaMet", "SuccessPolicy", f"Matched rules at index {i}"
    return None


def _finish(plan: JobPlan, target: tuple[str, str, str], active: list, terminating: list,
            now: datetime.datetime) -> None:
    type_, reason, message = target
    _put_condition(plan.status, new_condition(type_, "True", reason, message, now))
    plan.delete = list(active)
    if active or terminating:
        return  # the final condition waits until no pod of the Job is left running
    if type_ == "FailureTarget":
        _put_condition(plan.status, new_condition("Failed", "True", reason, message, now))
        plan.events.append((WARNING, reason, message))
    else:
        _put_condition(plan.status, new_condition("Complete", "True", reason, message, now))
        plan.status["completionTime"] = owned.format_time(now)
        plan.events.append((NORMAL, "Completed", "Job completed"))


# --- pods ----------------------------------------------------------------------------------


def _manage(job: dict, pods: list[dict], active: list, status: dict, now: datetime.datetime,
            plan: JobPlan) -> None:
    delay = _backoff_left(pods, _failed_count(status), now)
    if job["spec"].get("podReplacementPolicy") == "Failed":
        # a terminating pod is replaced only once it is Failed: until then it holds its place
        active = active + [p for p in pods if owned.is_terminating(p) and core.pod_outcome(job, p) is None]
    if core.is_indexed(job):
        _manage_indexed(job, pods, active, status, plan, creating=delay <= 0)
    else:
        want = _want_active(job, status)
        if len(active) > want:
            plan.delete = _newest_first(active)[:len(active) - want]
        elif delay <= 0:
            plan.create = [pod_for(job) for _ in range(want - len(active))]
    if delay > 0 and not plan.create:
        plan.requeue_after = min(delay, plan.requeue_after or delay)


def _want_active(job: dict, status: dict) -> int:
    parallelism, n = job["spec"].get("parallelism", 1), core.completions(job)
    succeeded = status.get("succeeded", 0) + len((status.get("uncountedTerminatedPods") or {}).get("succeeded") or ())
    if n is None:
        return 0 if succeeded else parallelism
    return max(0, min(parallelism, n - succeeded))


def _manage_indexed(job: dict, pods: list[dict], active: list, status: dict, plan: JobPlan, *,
                    creating: bool) -> None:
    n = core.completions(job) or 0
    done = indexes.parse_intervals(status.get("completedIndexes"), n)
    failed = indexes.parse_intervals(status.get("failedIndexes"), n)
    by_index: dict[int, list[dict]] = {}
    for pod in active:
        index = indexes.pod_index(pod)
        if index is None or index >= n or index in done or index in failed:
            plan.delete.append(pod)  # no (valid) index, or its index is already over
        else:
            by_index.setdefault(index, []).append(pod)
    for same in by_index.values():  # one pod per index: keep the oldest
        plan.delete.extend(_newest_first(same)[:-1])
    room = job["spec"].get("parallelism", 1) - len(by_index)
    pending = [i for i in range(n) if i not in done and i not in failed and i not in by_index]
    if creating and room > 0:
        plan.create = [pod_for(job, index=i, failures=_index_failures(pods, i)) for i in pending[:room]]


def _index_failures(pods: list[dict], index: int) -> int:
    """The failure count a new pod of index carries: one more than its last failed pod's."""
    counts = [indexes.pod_failure_count(p) + 1 for p in pods
              if indexes.pod_index(p) == index and (p.get("status") or {}).get("phase") == "Failed"]
    return max(counts, default=0)


def _newest_first(pods: list[dict]) -> list[dict]:
    """Pods in the order to delete them: not ready first, then the newest."""
    return sorted(pods, key=lambda p: (owned.is_ready(p), _neg_time(p)))


def _neg_time(pod: dict) -> float:
    t = owned.parse_time(pod["metadata"].get("creationTimestamp"))
    return -t.timestamp() if t else 0.0


def _backoff_left(pods: list[dict], failures: int, now: datetime.datetime) -> float:
    """Seconds before a pod may be created again after failures (10 s doubling, max 6 min),
    counted from the last pod failure still visible."""
    if failures <= 0:
        return 0.0
    last = max((t for t in map(_finished_at, pods) if t), default=None)
    if last is None:
        return 0.0
    delay = min(core.BACKOFF_BASE * 2 ** (failures - 1), core.BACKOFF_MAX)
    return delay - (now - last).total_seconds()


def _finished_at(pod: dict) -> datetime.datetime | None:
    if (pod.get("status") or {}).get("phase") != "Failed":
        return None
    times = [owned.parse_time(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt"))
             for cs in (pod.get("status") or {}).get("containerStatuses") or ()]
    times = [t for t in times if t]
    return max(times) if times else owned.parse_time(pod["metadata"].get("creationTimestamp"))


# --- a new pod -----------------------------------------------------------------------------


def pod_for(job: dict, *, index: int | None = None, failures: int = 0) -> dict:
    """A pod of job: its template, owned by it, tracked by the finalizer; an Indexed
    Job's pod also carries its index (annotation, label, JOB_COMPLETION_INDEX, hostname)."""
    name = job["metadata"]["name"]
    pod = owned.pod_from_template(job["spec"].get("template") or {}, job,
                                  generate_name=f"{name}-" if index is None else f"{name}-{index}-")
    md = pod["metadata"]
    md["finalizers"] = sorted(set(md.get("finalizers") or ()) | {core.FINALIZER})
    if index is None:
        return pod
    md.setdefault("annotations", {})[indexes.INDEX_KEY] = str(index)
    md["labels"][indexes.INDEX_KEY] = str(index)
    if job["spec"].get("backoffLimitPerIndex") is not None:
        md["annotations"][indexes.FAILURE_COUNT_KEY] = str(failures)
    spec = pod["spec"]
    spec.setdefault("hostname", f"{name}-{index}")
    env = {"name": "JOB_COMPLETION_INDEX",
           "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{indexes.INDEX_KEY}']"}}}
    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in c.get("env") or ()):
            c["env"] = [env] + list(c.get("env") or ())
    return pod
