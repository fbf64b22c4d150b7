"""The disruption controller: keeps the status of policy/v1 PodDisruptionBudgets current.

Upstream's pkg/controller/disruption. For each budget, the pods of its namespace that
its spec.selector matches (in policy/v1 an empty selector matches every pod, a missing
one none) give:

- expectedPods and desiredHealthy: an integer minAvailable counts the matching pods and
  wants minAvailable of them; a percentage minAvailable or any maxUnavailable counts the
  scale (spec.replicas) of the pods' controllers (a Deployment through its ReplicaSet, a
  ReplicaSet, a StatefulSet, or anything else with a scale subresource), percentages
  rounded up, and wants expected - maxUnavailable (not below 0). Pods without a
  controller are left out with an UnmanagedPods warning; a pod whose controller has no
  scale makes the sync fail: disruptionsAllowed 0 and DisruptionAllowed=False SyncFailed
  with the reason (upstream's failSafe);
- currentHealthy: matching pods that are Ready, not being deleted and not in
  status.disruptedPods (pods the eviction subresource let go, not deleted yet);
- disruptionsAllowed = currentHealthy - desiredHealthy, at least 0, and 0 while no pod is
  expected (so a budget whose first pods appear before this sync is safe);
- disruptedPods: entries are dropped once their pod is gone or being deleted, or when
  the pod was not deleted within DELETION_TIMEOUT (event NotDeleted); the budget is
  synced again when the next entry expires.

The decisions are pure functions (`select_pods`, `expected_counts`, `live_disruptions`,
`count_healthy`, `budget_status`, `failed_status`); `sync` gathers the inputs from the
informer caches (and a scale subresource for controllers tinykube has no informer of)
and writes the status subresource only when it changed. A Conflict is raised so the
work queue retries on the newer object.

Stale disruption conditions (upstream's stalePodDisruption worker): a pod that got
DisruptionTarget=True (an eviction, a preemption) but is still not being deleted
STALE_POD_DISRUPTION_TIMEOUT after the condition's lastTransitionTime gets it set back to
False, so it is not taken for a pod on its way out. Pods in a terminal phase, and the
kubelet's own TerminationByKubelet conditions, are left alone. Those pods go through the
same work queue under keys "pod:<namespace>/<name>".
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field

from tinykube.api import errors, selectors
from tinykube.client import NORMAL, WARNING, object_key, resolve
from tinykube.controllers import podutil
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.deployment.rolling import scaled_value

log = logging.getLogger(__name__)

PDBS, PODS = ("policy/v1", "PodDisruptionBudget"), ("v1", "Pod")
REPLICASETS, DEPLOYMENTS, STATEFULSETS = ("apps/v1", "ReplicaSet"), ("apps/v1", "Deployment"), ("apps/v1", "StatefulSet")
# how long an evicted pod may stay in disruptedPods without being marked for deletion
DELETION_TIMEOUT = datetime.timedelta(minutes=2)
# how long a DisruptionTarget=True condition may stay on a pod that is not being deleted
STALE_POD_DISRUPTION_TIMEOUT = datetime.timedelta(minutes=2)
DISRUPTION_TARGET, TERMINATION_BY_KUBELET = "DisruptionTarget", "TerminationByKubelet"
STALE_PREFIX = "pod:"
DISRUPTION_ALLOWED = "DisruptionAllowed"
SUFFICIENT_PODS, INSUFFICIENT_PODS, SYNC_FAILED = "SufficientPods", "InsufficientPods", "SyncFailed"


class SyncFailed(Exception):
    """The budget's status cannot be computed (the message goes to the condition)."""


@dataclass(frozen=True)
class Counts:
    expected: int
    desired: int
    unmanaged: tuple[str, ...] = ()


@dataclass(frozen=True)
class Disruptions:
    """disruptedPods after dropping what is gone or expired, and when to look again."""
    pods: dict[str, str] = field(default_factory=dict)
    recheck_at: datetime.datetime | None = None
    expired: tuple[str, ...] = ()


# --- pure core ------------------------------------------------------------------------------


def stale_disruption_wait(pod: dict, now: datetime.datetime) -> datetime.timedelta | None:
    """Upstream nonTerminatingPodHasStaleDisruptionCondition: None when the pod has no
    DisruptionTarget=True condition to clear; else how long until it is stale (0: now)."""
    if podutil.meta(pod).get("deletionTimestamp"):
        return None
    condition = podutil.pod_condition(pod, DISRUPTION_TARGET)
    phase = (pod.get("status") or {}).get("phase")
    if (condition is None or condition.get("status") != "True" or condition.get("reason") == TERMINATION_BY_KUBELET
            or phase in ("Succeeded", "Failed")):
        return None
    since = podutil.parse_time(condition.get("lastTransitionTime")) or now
    return max(datetime.timedelta(0), STALE_POD_DISRUPTION_TIMEOUT - (now - since))


def pdb_selector(pdb: dict) -> selectors.LabelSelector:
    """LabelSelectorAsSelector of spec.selector; raises SyncFailed when it is malformed."""
    try:
        return selectors.label_selector_from_dict((pdb.get("spec") or {}).get("selector"))
    except errors.ApiError as e:
        raise SyncFailed(e.message) from None


def matches(pdb: dict, pod: dict) -> bool:
    """Whether pdb covers pod (same namespace, selector matches; a bad selector matches none)."""
    if podutil.meta(pdb).get("namespace") != podutil.meta(pod).get("namespace"):
        return False
    try:
        return pdb_selector(pdb).matches(podutil.meta(pod).get("labels") or {})
    except SyncFailed:
        return False


def select_pods(pdb: dict, pods_in_namespace: list[dict]) -> list[dict]:
    selector = pdb_selector(pdb)
    return [p for p in pods_in_namespace if selector.matches(podutil.meta(p).get("labels") or {})]


def _scaled(value, total: int) -> int:
    try:
        return scaled_value(value, total, round_up=True)
    except ValueError as e:
        raise SyncFailed(str(e)) from None


def expected_counts(spec: dict, pods: list[dict], scales: dict[str, tuple[str, int] | None]) -> Counts:
    """getExpectedPodCount. `scales` maps each pod controller ref's uid to the (uid,
    replicas) of the scalable controller behind it (None: none found)."""
    max_unavailable, min_available = spec.get("maxUnavailable"), spec.get("minAvailable")
    if max_unavailable is not None:
        expected, unmanaged = expected_scale(pods, scales)
        return Counts(expected, max(0, expected - _scaled(max_unavailable, expected)), unmanaged)
    if isinstance(min_available, int):
        return Counts(len(pods), min_available)
    if min_available is not None:
        expected, unmanaged = expected_scale(pods, scales)
        return Counts(expected, _scaled(min_available, expected), unmanaged)
    return Counts(0, 0)


def expected_scale(pods: list[dict], scales: dict[str, tuple[str, int] | None]) -> tuple[int, tuple[str, ...]]:
    """The sum of the scales of the pods' controllers (each counted once), and the names of
    the pods without a controller."""
    found: dict[str, int] = {}
    unmanaged = []
    for pod in pods:
        ref = podutil.controller_of(pod)
        if ref is None:
            unmanaged.append(podutil.meta(pod)["name"])
            continue
        scale = scales.get(ref.get("uid", ""))
        if scale is None:
            raise SyncFailed(f'found no controllers for pod "{podutil.meta(pod)["name"]}"')
        found[scale[0]] = scale[1]
    return sum(found.values()), tuple(unmanaged)


def live_disruptions(disrupted: dict[str, str] | None, pods: list[dict], now: datetime.datetime) -> Disruptions:
    """buildDisruptedPodMap: keep the entries of pods that exist, are not being deleted
    and whose eviction is younger than DELETION_TIMEOUT."""
    kept, expired, recheck = {}, [], None
    for pod in pods:
        name = podutil.meta(pod)["name"]
        if podutil.meta(pod).get("deletionTimestamp") or name not in (disrupted or {}):
            continue
        since = podutil.parse_time(disrupted[name])
        deadline = since + DELETION_TIMEOUT if since else None
        if deadline is None or deadline < now:
            expired.append(name)
            continue
        kept[name] = disrupted[name]
        recheck = deadline if recheck is None or deadline < recheck else recheck
    return Disruptions(kept, recheck, tuple(expired))


def count_healthy(pods: list[dict], disrupted: dict[str, str], now: datetime.datetime) -> int:
    """Ready pods that are neither being deleted nor expected to be deleted soon."""
    healthy = 0
    for pod in pods:
        md = podutil.meta(pod)
        if md.get("deletionTimestamp"):
            continue
        since = podutil.parse_time(disrupted.get(md["name"]))
        if since is not None and since + DELETION_TIMEOUT > now:
            continue
        healthy += podutil.is_pod_ready(pod)
    return healthy


def set_condition(conditions: list[dict], new: dict, now: datetime.datetime) -> list[dict]:
    """apimeta.SetStatusCondition: replace the condition of new's type, keeping its
    lastTransitionTime unless the status changed."""
    out = [dict(c) for c in conditions]
    for c in out:
        if c.get("type") == new["type"]:
            if c.get("status") != new["status"]:
                c["lastTransitionTime"] = podutil.format_time(now)
            c.update({k: v for k, v in new.items() if k != "lastTransitionTime"})
            if "observedGeneration" not in new:
                c.pop("observedGeneration", None)
            return out
    return out + [dict(new, lastTransitionTime=podutil.format_time(now))]


def _condition(status: str, reason: str, message: str, observed_generation: int) -> dict:
    c = {"type": DISRUPTION_ALLOWED, "status": status, "reason": reason, "message": message}
    if observed_generation:
        c["observedGeneration"] = observed_generation
    return c


def budget_status(pdb: dict, counts: Counts, healthy: int, disrupted: dict[str, str],
                  now: datetime.datetime) -> dict:
    """The status updatePdbStatus writes (with UpdateDisruptionAllowedCondition)."""
    old = pdb.get("status") or {}
    allowed = healthy - counts.desired if counts.expected > 0 else 0
    allowed = max(0, allowed)
    generation = podutil.meta(pdb).get("generation", 0)
    status = {"disruptionsAllowed": allowed, "currentHealthy": healthy, "desiredHealthy": counts.desired,
              "expectedPods": counts.expected}
    if generation:
        status["observedGeneration"] = generation
    if disrupted:
        status["disruptedPods"] = dict(disrupted)
    condition = (_condition("True", SUFFICIENT_PODS, "", generation) if allowed > 0
                 else _condition("False", INSUFFICIENT_PODS, "", generation))
    status["conditions"] = set_condition(old.get("conditions") or [], condition, now)
    return status


def failed_status(pdb: dict, message: str, now: datetime.datetime) -> dict:
    """failSafe: the old status with disruptionsAllowed 0 and DisruptionAllowed=False
    SyncFailed, so no eviction is allowed while the budget cannot be computed."""
    status = dict(pdb.get("status") or {})
    status.setdefault("currentHealthy", 0)
    status.setdefault("desiredHealthy", 0)
    status.setdefault("expectedPods", 0)
    status["disruptionsAllowed"] = 0
    condition = _condition("False", SYNC_FAILED, message, status.get("observedGeneration", 0))
    status["conditions"] = set_condition(status.get("conditions") or [], condition, now)
    return status


def format_selector(selector: dict | None) -> str:
    """A *metav1.LabelSelector as Go's %v prints it (its generated String())."""
    if selector is None:
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in sorted((selector.get("matchLabels") or {}).items()))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(e.get('values') or [])}],}},"
        for e in selector.get("matchExpressions") or [])
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]  # "" for the core group's "v1"


# --- shell ----------------------------------------------------------------------------------


class DisruptionController(Controller):
    name = "disruption"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.pdbs = ctx.informers.informer(PDBS)
        self.pods = ctx.informers.informer(PODS)
        self.replicasets = ctx.informers.informer(REPLICASETS)
        self.deployments = ctx.informers.informer(DEPLOYMENTS)
        self.statefulsets = ctx.informers.informer(STATEFULSETS)
        self.pdbs.add_event_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                    on_delete=self.enqueue)
        self.pods.add_event_handler(on_add=self._pod_event, on_update=lambda old, new: self._pod_event(new),
                                    on_delete=self._pod_event)
        for informer in (self.replicasets, self.deployments, self.statefulsets):
            informer.add_event_handler(on_update=self._scale_event)

    # --- triggers ---------------------------------------------------------------------------

    def _pod_event(self, pod: dict) -> None:
        """Every budget covering the pod (upstream queues only the first one it finds), and
        the pod itself when it carries a DisruptionTarget condition that may go stale."""
        wait = stale_disruption_wait(pod, self.clock.now())
        if wait is not None:
            self.queue.add_after(STALE_PREFIX + object_key(pod), wait.total_seconds())
        namespace = podutil.meta(pod).get("namespace", "")
        for pdb in self.pdbs.store.by_index("namespace", namespace):
            if matches(pdb, pod):
                self.enqueue(pdb)

    def _scale_event(self, old: dict, new: dict) -> None:
        """A controller's scale changed: the budgets that count scales may change too."""
        if (old.get("spec") or {}).get("replicas") == (new.get("spec") or {}).get("replicas"):
            return
        for pdb in self.pdbs.store.by_index("namespace", podutil.meta(new).get("namespace", "")):
            spec = pdb.get("spec") or {}
            if spec.get("maxUnavailable") is not None or isinstance(spec.get("minAvailable"), str):
                self.enqueue(pdb)

    # --- sync -------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if key.startswith(STALE_PREFIX):
            await self._sync_stale_disruption(key[len(STALE_PREFIX):])
            return
        pdb = self.pdbs.store.get(key)
        if pdb is None:
            return
        now = self.clock.now()
        try:
            status, recheck_at = await self._compute(pdb, now)
        except SyncFailed as e:
            log.warning("disruption: failed to sync PodDisruptionBudget %s: %s", key, e)
            await self._write_status(pdb, failed_status(pdb, str(e), now))
            return
        await self._write_status(pdb, status)
        if recheck_at is not None:
            self.queue.add_after(key, (recheck_at - now).total_seconds())

    async def _compute(self, pdb: dict, now: datetime.datetime) -> tuple[dict, datetime.datetime | None]:
        namespace = podutil.meta(pdb).get("namespace", "")
        try:
            pods = select_pods(pdb, self.pods.store.by_index("namespace", namespace))
        except SyncFailed as e:
            self.recorder.record(pdb, WARNING, "NoPods", f"Failed to get pods: {e}")
            raise
        if not pods:
            self.recorder.record(pdb, NORMAL, "NoPods", "No matching pods found")
        try:
            counts = expected_counts(pdb.get("spec") or {}, pods, await self._scales(pdb, pods))
        except SyncFailed as e:
            self.recorder.record(pdb, WARNING, "CalculateExpectedPodCountFailed",
                                 f"Failed to calculate the number of expected pods: {e}")
            raise
        if counts.unmanaged:
            self._warn_unmanaged(pdb)
        disruptions = live_disruptions((pdb.get("status") or {}).get("disruptedPods"), pods, now)
        for name in disruptions.expired:
            self._warn_not_deleted(pdb, name, pods)
        healthy = count_healthy(pods, disruptions.pods, now)
        return budget_status(pdb, counts, healthy, disruptions.pods, now), disruptions.recheck_at

    async def _sync_stale_disruption(self, key: str) -> None:
        """Upstream syncStalePodDisruption: DisruptionTarget back to False once stale."""
        pod = self.pods.store.get(key)
        if pod is None:
            return
        now = self.clock.now()
        wait = stale_disruption_wait(pod, now)
        if wait is None:
            return
        if wait > datetime.timedelta(0):
            self.queue.add_after(STALE_PREFIX + key, wait.total_seconds())
            return
        md = podutil.meta(pod)
        condition = {"type": DISRUPTION_TARGET, "status": "False", "lastTransitionTime": podutil.format_time(now),
                     "reason": None, "message": None}
        try:
            await self.client.patch(PODS, md["name"], {"status": {"conditions": [condition]}},
                                    namespace=md.get("namespace", ""), patch_type="strategic", subresource="status")
        except errors.NotFound:
            pass  # gone meanwhile

    def _warn_unmanaged(self, pdb: dict) -> None:
        selector = format_selector((pdb.get("spec") or {}).get("selector"))
        self.recorder.record(pdb, WARNING, "UnmanagedPods",
                             f"Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be "
                             "unmanaged. As a result, the status of the PDB cannot be calculated correctly, which "
                             "may result in undefined behavior. To account for these pods please set "
                             "\".spec.minAvailable\" field of the PDB to an integer value.")

    def _warn_not_deleted(self, pdb: dict, name: str, pods: list[dict]) -> None:
        pod = next(p for p in pods if podutil.meta(p)["name"] == name)
        md = podutil.meta(pdb)
        self.recorder.record(pod, WARNING, "NotDeleted",
                             f"Pod was expected by PDB {md.get('namespace')}/{md['name']} to be deleted but it wasn't")

    async def _write_status(self, pdb: dict, status: dict) -> None:
        """updateStatus when the status changed; a Conflict is raised so the queue retries."""
        if status == (pdb.get("status") or {}):
            return
        try:
            await self.client.update_status(PDBS, dict(pdb, status=status))
        except errors.NotFound:
            pass  # deleted meanwhile: nothing to keep current

    # --- the scale of the pods' controllers ------------------------------------------------

    async def _scales(self, pdb: dict, pods: list[dict]) -> dict[str, tuple[str, int] | None]:
        """Controller ref uid -> (uid, replicas) of the scalable controller behind it; only
        looked up when the budget counts scales."""
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is None and not isinstance(spec.get("minAvailable"), str):
            return {}
        scales: dict[str, tuple[str, int] | None] = {}
        for pod in pods:
            ref = podutil.controller_of(pod)
            if ref is not None and ref.get("uid", "") not in scales:
                scales[ref.get("uid", "")] = await self._scale_of(ref, podutil.meta(pod).get("namespace", ""))
        return scales

    async def _scale_of(self, ref: dict, namespace: str) -> tuple[str, int] | None:
        """Upstream's finders in order: a Deployment through its ReplicaSet, a ReplicaSet no
        Deployment controls, a StatefulSet, then any kind's scale subresource."""
        for finder in (self._deployment_of, self._replicaset_of, self._statefulset_of):
            found = finder(ref, namespace)
            if found is not None:
                return found
        return await self._scale_subresource(ref, namespace)

    def _cached(self, informer, ref: dict, namespace: str, kind: str, groups: tuple[str, ...]) -> dict | None:
        if ref.get("kind") != kind or _group(ref.get("apiVersion", "")) not in groups:
            return None
        obj = informer.store.get_by_name(namespace, ref.get("name", ""))
        return obj if obj is not None and podutil.meta(obj).get("uid") == ref.get("uid") else None

    def _deployment_of(self, ref: dict, namespace: str) -> tuple[str, int] | None:
        rs = self._cached(self.replicasets, ref, namespace, "ReplicaSet", ("apps", "extensions"))
        owner = podutil.controller_of(rs) if rs is not None else None
        deployment = self._cached(self.deployments, owner, namespace, "Deployment", ("apps", "extensions")) \
            if owner is not None else None
        return _scale_pair(deployment) if deployment is not None else None

    def _replicaset_of(self, ref: dict, namespace: str) -> tuple[str, int] | None:
        rs = self._cached(self.replicasets, ref, namespace, "ReplicaSet", ("apps", "extensions"))
        if rs is None or (podutil.controller_of(rs) or {}).get("kind") == "Deployment":
            return None  # one a Deployment controls counts through the Deployment
        return _scale_pair(rs)

    def _statefulset_of(self, ref: dict, namespace: str) -> tuple[str, int] | None:
        sts = self._cached(self.statefulsets, ref, namespace, "StatefulSet", ("apps",))
        return _scale_pair(sts) if sts is not None else None

    async def _scale_subresource(self, ref: dict, namespace: str) -> tuple[str, int] | None:
        """getScaleController: GET <kind>/scale; a kind without one fails the sync."""
        api_version, kind = ref.get("apiVersion", ""), ref.get("kind", "")
        try:
            rt = resolve((api_version, kind))
        except ValueError:
            raise SyncFailed(f'no matches for kind "{kind}" in version "{api_version}"') from None
        if "scale" not in rt.subresources:
            resource = f"{rt.plural}.{rt.group}" if rt.group else rt.plural
            raise SyncFailed(f"{resource} does not implement the scale subresource")
        try:
            scale = await self.client.get(rt, ref.get("name", ""), namespace=namespace, subresource="scale")
        except errors.NotFound:
            return None
        if podutil.meta(scale).get("uid") != ref.get("uid"):
            return None
        return ref["uid"], int((scale.get("spec") or {}).get("replicas") or 0)


def _scale_pair(obj: dict) -> tuple[str, int]:
    return podutil.meta(obj)["uid"], int((obj.get("spec") or {}).get("replicas") or 0)
