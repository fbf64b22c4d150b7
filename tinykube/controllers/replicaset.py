"""The ReplicaSet controller: keep spec.replicas active pods matching the selector.

As upstream's pkg/controller/replicaset: a sync reads the ReplicaSet and the pods of
its namespace from the caches, claims pods (adopts matching orphans, releases owned
pods that stopped matching, through ownerReferences with controller: true), then,
when its Expectations are satisfied (the cache shows every create and delete it made),
creates missing pods from the template in slow-start batches (1, 2, 4, ...: a failing
create stops early instead of failing hundreds of times) or deletes the extra pods
upstream's ranking picks first (unscheduled, pending, not ready, lower deletion cost,
doubled up on a node, ready for less time, more restarts, newer). Last it writes
status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas with
minReadySeconds, observedGeneration, the ReplicaFailure condition) through the status
subresource, only when it changed. Pods being deleted or finished are not counted.

Pure decisions (ranking, status, batches) are module functions; `ReplicaSetController`
is the shell.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import math

from tinykube.api import errors
from tinykube.client import NORMAL, WARNING, split_key
from tinykube.controllers import podutil
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.expectations import Expectations
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

PODS = ("v1", "Pod")
REPLICASETS = ("apps/v1", "ReplicaSet")
BURST_REPLICAS = 500  # creates/deletes per sync at most (upstream's burstReplicas)
SLOW_START_INITIAL_BATCH = 1
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


# --- pure decisions ---------------------------------------------------------------------


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """slowStartBatch's batch sizes: 1, 2, 4, ... summing to count."""
    batches, remaining, size = [], count, min(count, initial)
    while size > 0:
        batches.append(size)
        remaining -= size
        size = min(2 * size, remaining)
    return batches


def _deletion_cost(pod: dict) -> int:
    try:
        return int((podutil.meta(pod).get("annotations") or {}).get(DELETION_COST, 0))
    except ValueError:
        return 0


def _max_restarts(pod: dict) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or ()
    return max((s.get("restartCount") or 0 for s in statuses), default=0)


def _log_rank(t: datetime.datetime | None, now: datetime.datetime) -> int:
    """logarithmicRankDiff's bucket: floor(log2(age in ns)), -1 for no age."""
    if t is None:
        return -1
    age_ns = (now - t).total_seconds() * 1e9
    return int(math.log2(age_ns)) if age_ns > 0 else -1


def _compare_times(t1, t2, uid1: str, uid2: str, now: datetime.datetime) -> int | None:
    """Newer (or no time) first, in logarithmic age buckets (LogarithmicScaleDown, on by
    default), ties broken by uid; None when the times are equal."""
    if t1 == t2:
        return None
    if t1 is None or t2 is None:  # afterOrZero: the zero time counts as newest
        return -1 if t1 is None else 1
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        return -1 if uid1 < uid2 else (1 if uid1 > uid2 else 0)
    return -1 if diff < 0 else 1


def compare_pods_for_deletion(a: tuple[dict, int], b: tuple[dict, int], now: datetime.datetime) -> int:
    """ActivePodsWithRanks.Less as a comparison: negative when a is deleted before b."""
    (pa, ra), (pb, rb) = a, b
    na, nb = (pa.get("spec") or {}).get("nodeName") or "", (pb.get("spec") or {}).get("nodeName") or ""
    if na != nb and (not na or not nb):                      # 1. unscheduled < scheduled
        return -1 if not na else 1
    oa = _PHASE_ORDINAL.get((pa.get("status") or {}).get("phase"), 0)
    ob = _PHASE_ORDINAL.get((pb.get("status") or {}).get("phase"), 0)
    if oa != ob:                                             # 2. Pending < Unknown < Running
        return oa - ob
    if podutil.is_pod_ready(pa) != podutil.is_pod_ready(pb):  # 3. not ready < ready
        return -1 if not podutil.is_pod_ready(pa) else 1
    if _deletion_cost(pa) != _deletion_cost(pb):             # 4. lower deletion cost first
        return -1 if _deletion_cost(pa) < _deletion_cost(pb) else 1
    if ra != rb:                                             # 5. doubled up < not doubled up
        return -1 if ra > rb else 1
    uid_a, uid_b = podutil.meta(pa).get("uid", ""), podutil.meta(pb).get("uid", "")
    if podutil.is_pod_ready(pa) and podutil.is_pod_ready(pb):  # 6. ready for less time first
        c = _compare_times(podutil.pod_ready_time(pa), podutil.pod_ready_time(pb), uid_a, uid_b, now)
        if c is not None:
            return c
    if _max_restarts(pa) != _max_restarts(pb):               # 7. more restarts first
        return -1 if _max_restarts(pa) > _max_restarts(pb) else 1
    c = _compare_times(podutil.parse_time(podutil.meta(pa).get("creationTimestamp")),
                       podutil.parse_time(podutil.meta(pb).get("creationTimestamp")), uid_a, uid_b, now)
    return c or 0                                            # 8. newer first


def pods_to_delete(pods: list[dict], related: list[dict], diff: int, now: datetime.datetime) -> list[dict]:
    """getPodsToDelete: the diff pods to delete first. Rank = active related pods (of
    the ReplicaSets with the same owner) on the pod's node."""
    if diff >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for pod in related:
        if podutil.is_pod_active(pod):
            node = (pod.get("spec") or {}).get("nodeName") or ""
            on_node[node] = on_node.get(node, 0) + 1
    ranked = [(p, on_node.get((p.get("spec") or {}).get("nodeName") or "", 0)) for p in pods]
    ranked.sort(key=functools.cmp_to_key(lambda a, b: compare_pods_for_deletion(a, b, now)))
    return [p for p, _ in ranked[:diff]]


def replica_failure(status: dict) -> dict | None:
    for c in status.get("conditions") or ():
        if c.get("type") == "ReplicaFailure":
            return c
    return None


def calculate_status(rs: dict, pods: list[dict], manage_error: str | None, now: datetime.datetime) -> dict:
    """The status the ReplicaSet should have for its (active, claimed) pods."""
    spec = rs.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds") or 0
    status = jsonutil.deep_copy(rs.get("status") or {})
    labeled = sum(1 for p in pods if _has_labels(p, template_labels))
    ready = [p for p in pods if podutil.is_pod_ready(p)]
    available = sum(1 for p in ready if podutil.is_pod_available(p, min_ready, now))
    failure = replica_failure(status)
    if manage_error is not None and failure is None:
        diff = len(pods) - (spec.get("replicas") or 0)
        reason = "FailedCreate" if diff < 0 else ("FailedDelete" if diff > 0 else "")
        status.setdefault("conditions", []).append({"type": "ReplicaFailure", "status": "True",
                                                    "lastTransitionTime": podutil.format_time(now),
                                                    "reason": reason, "message": manage_error})
    elif manage_error is None and failure is not None:
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != "ReplicaFailure"]
        if not status["conditions"]:
            del status["conditions"]
    status.update(replicas=len(pods), fullyLabeledReplicas=labeled, readyReplicas=len(ready),
                  availableReplicas=available)
    return podutil.omit_zero(status, "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


def _has_labels(pod: dict, labels: dict) -> bool:
    have = podutil.meta(pod).get("labels") or {}
    return all(have.get(k) == v for k, v in labels.items())


def status_unchanged(rs: dict, new: dict) -> bool:
    """updateReplicaSetStatus's skip test: same counts, conditions and generation seen."""
    old = rs.get("status") or {}
    fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")
    return (all((old.get(f) or 0) == (new.get(f) or 0) for f in fields)
            and (old.get("conditions") or []) == (new.get("conditions") or [])
            and (podutil.meta(rs).get("generation") or 0) == (old.get("observedGeneration") or 0))


# --- the shell ----------------------------------------------------------------------------


class ReplicaSetController(Controller):
    name = "replicaset"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.expectations = Expectations(ctx.clock)
        self._deleting: dict[str, set[str]] = {}  # rs key -> pod uids whose delete we await
        self.rs_informer = ctx.informers.informer(REPLICASETS)
        self.pod_informer = ctx.informers.informer(PODS)
        self.rs_informer.add_event_handler(self._rs_added, self._rs_updated, self._rs_deleted)
        self.pod_informer.add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)

    # --- event handlers: only keys and expectations ------------------------------------------

    def _rs_added(self, rs: dict) -> None:
        self.enqueue(rs)

    def _rs_updated(self, old: dict, new: dict) -> None:
        self.enqueue(new)

    def _rs_deleted(self, rs: dict) -> None:
        key = _key(rs)
        self.expectations.delete(key)
        self._deleting.pop(key, None)
        self.queue.add(key)

    def _owner_key(self, pod: dict, ref: dict | None) -> str | None:
        """The key of the ReplicaSet ref names, if it is one we know (same uid)."""
        if ref is None or ref.get("kind") != "ReplicaSet":
            return None
        rs = self.rs_informer.store.get_by_name(podutil.meta(pod).get("namespace", ""), ref.get("name", ""))
        if rs is None or podutil.meta(rs).get("uid") != ref.get("uid"):
            return None
        return _key(rs)

    def _enqueue_matching(self, pod: dict) -> None:
        """An orphan: wake every ReplicaSet whose selector matches, one may adopt it."""
        ns, labels = podutil.meta(pod).get("namespace", ""), podutil.meta(pod).get("labels") or {}
        for rs in self.rs_informer.store.by_index("namespace", ns):
            if podutil.selector_of(rs).matches(labels):
                self.enqueue(rs)

    def _pod_added(self, pod: dict) -> None:
        if podutil.meta(pod).get("deletionTimestamp"):
            self._pod_deleted(pod)  # a restarted informer sees a pod already being deleted
            return
        ref = podutil.controller_of(pod)
        if ref is not None:
            key = self._owner_key(pod, ref)
            if key is not None:
                self.expectations.creation_observed(key)
                self.queue.add(key)
            return
        self._enqueue_matching(pod)

    def _pod_updated(self, old: dict, new: dict) -> None:
        labels_changed = podutil.meta(old).get("labels") != podutil.meta(new).get("labels")
        if podutil.meta(new).get("deletionTimestamp"):
            self._pod_deleted(new)  # graceful deletion started: the pod no longer counts
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = podutil.controller_of(old), podutil.controller_of(new)
        if old_ref != new_ref and old_ref is not None:
            key = self._owner_key(old, old_ref)
            if key is not None:
                self.queue.add(key)
        if new_ref is not None:
            key = self._owner_key(new, new_ref)
            if key is not None:
                self.queue.add(key)
                self._requeue_for_availability(key, old, new)
            return
        if labels_changed or old_ref != new_ref:
            self._enqueue_matching(new)

    def _requeue_for_availability(self, key: str, old: dict, new: dict) -> None:
        """A pod that just became Ready is Available minReadySeconds later: look again then."""
        if podutil.is_pod_ready(new) and not podutil.is_pod_ready(old):
            rs = self.rs_informer.store.get(key)
            min_ready = ((rs or {}).get("spec") or {}).get("minReadySeconds") or 0
            if min_ready:
                self.queue.add_after(key, min_ready + 1)

    def _pod_deleted(self, pod: dict) -> None:
        key = self._owner_key(pod, podutil.controller_of(pod))
        if key is None:
            return
        uid = podutil.meta(pod).get("uid", "")
        pending = self._deleting.get(key)
        if pending is not None and uid in pending:  # UID-tracked: one delete counts once
            pending.discard(uid)
            self.expectations.deletion_observed(key)
        self.queue.add(key)

    # --- sync ---------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        rs = self.rs_informer.store.get(key)
        if rs is None:
            self.expectations.delete(key)
            self._deleting.pop(key, None)
            return
        needs_sync = self.expectations.satisfied(key)
        namespace, _ = split_key(key)
        active = [p for p in self.pod_informer.store.by_index("namespace", namespace) if podutil.is_pod_active(p)]
        pods = await self._claim_pods(rs, active)
        manage_error = None
        if needs_sync and not podutil.meta(rs).get("deletionTimestamp"):
            manage_error = await self._manage_replicas(key, rs, pods)
        now = self.clock.now()
        status = calculate_status(rs, pods, None if manage_error is None else str(manage_error), now)
        updated = await self._update_status(rs, status)
        spec = updated.get("spec") or {}
        min_ready, replicas = spec.get("minReadySeconds") or 0, spec.get("replicas") or 0
        st = updated.get("status") or {}
        if (manage_error is None and min_ready and (st.get("readyReplicas") or 0) == replicas
                and (st.get("availableReplicas") or 0) != replicas):
            self.queue.add_after(key, min_ready)
        if manage_error is not None:
            raise manage_error

    async def _claim_pods(self, rs: dict, pods: list[dict]) -> list[dict]:
        selector = podutil.selector_of(rs)

        async def can_adopt() -> None:
            md = podutil.meta(rs)
            fresh = await self.client.get(REPLICASETS, md["name"], namespace=md.get("namespace", ""))
            podutil.recheck_owner(fresh, rs)

        return await podutil.claim(self.client, PODS, rs, pods,
                                   lambda p: selector.matches(podutil.meta(p).get("labels") or {}), can_adopt)

    async def _manage_replicas(self, key: str, rs: dict, pods: list[dict]) -> Exception | None:
        diff = len(pods) - ((rs.get("spec") or {}).get("replicas") or 0)
        if diff < 0:
            return await self._create_pods(key, rs, min(-diff, BURST_REPLICAS))
        if diff > 0:
            return await self._delete_pods(key, rs, pods, min(diff, BURST_REPLICAS))
        return None

    async def _create_pods(self, key: str, rs: dict, count: int) -> Exception | None:
        self.expectations.expect(key, adds=count)
        created = 0
        for size in slow_start_batches(count):
            results = await asyncio.gather(*(self._create_pod(rs) for _ in range(size)), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            created += size - len(failures)
            if failures:
                for _ in range(count - created):  # never attempted or failed: no add will come
                    self.expectations.creation_observed(key)
                return failures[0]
        return None

    async def _create_pod(self, rs: dict) -> None:
        md = podutil.meta(rs)
        try:
            pod = podutil.pod_from_template((rs.get("spec") or {}).get("template"), rs,
                                            generate_name=podutil.pods_prefix(md["name"]))
            created = await self.client.create(PODS, pod, namespace=md.get("namespace", ""))
        except errors.ApiError as e:
            if _namespace_terminating(e):
                return  # every create will fail; the namespace controller deletes us
            self.recorder.record(rs, WARNING, "FailedCreate", f"Error creating: {e}")
            raise
        self.recorder.record(rs, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pods(self, key: str, rs: dict, pods: list[dict], count: int) -> Exception | None:
        victims = pods_to_delete(pods, self._related_pods(rs), count, self.clock.now())
        self._deleting[key] = {podutil.meta(p).get("uid", "") for p in victims}
        self.expectations.expect(key, deletes=len(victims))
        results = await asyncio.gather(*(self._delete_pod(key, rs, p) for p in victims), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        return failures[0] if failures else None

    async def _delete_pod(self, key: str, rs: dict, pod: dict) -> None:
        md = podutil.meta(pod)
        try:
            await self.client.delete(PODS, md["name"], namespace=md.get("namespace", ""))
        except errors.ApiError as e:
            self._observe_deletion(key, md.get("uid", ""))  # no delete event will come
            if isinstance(e, errors.NotFound):
                return
            self.recorder.record(rs, WARNING, "FailedDelete", f"Error deleting: {e}")
            raise
        self.recorder.record(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {md['name']}")

    def _observe_deletion(self, key: str, uid: str) -> None:
        pending = self._deleting.get(key)
        if pending is not None and uid in pending:
            pending.discard(uid)
            self.expectations.deletion_observed(key)

    def _related_pods(self, rs: dict) -> list[dict]:
        """getIndirectlyRelatedPods: pods of every ReplicaSet with rs's controller (the
        Deployment's other ReplicaSets), or rs's own when it has no controller."""
        ns = podutil.meta(rs).get("namespace", "")
        ref = podutil.controller_of(rs)
        siblings = [rs] if ref is None else [
            r for r in self.rs_informer.store.by_index("namespace", ns)
            if (podutil.controller_of(r) or {}).get("uid") == ref.get("uid")]
        uids = {podutil.meta(r).get("uid") for r in siblings}
        return [p for p in self.pod_informer.store.by_index("namespace", ns)
                if (podutil.controller_of(p) or {}).get("uid") in uids]

    async def _update_status(self, rs: dict, status: dict) -> dict:
        if status_unchanged(rs, status):
            return rs
        generation = podutil.meta(rs).get("generation") or 0
        if generation:
            status["observedGeneration"] = generation
        new = dict(rs, status=status)
        try:
            return await self.client.update_status(REPLICASETS, new)
        except errors.Conflict:  # one retry on a fresh copy, as upstream's statusUpdateRetries
            md = podutil.meta(rs)
            fresh = await self.client.get(REPLICASETS, md["name"], namespace=md.get("namespace", ""))
            return await self.client.update_status(REPLICASETS, dict(fresh, status=status))


def _key(obj: dict) -> str:
    md = podutil.meta(obj)
    return f"{md.get('namespace')}/{md.get('name')}" if md.get("namespace") else md.get("name", "")


def _namespace_terminating(e: errors.ApiError) -> bool:
    causes = (e.details or {}).get("causes") or ()
    return any(c.get("reason") == "NamespaceTerminating" for c in causes)
