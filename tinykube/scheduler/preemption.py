"""Preemption: upstream's DefaultPreemption PostFilter, run for a pod that fits nowhere.

`Preemption.preempt(pod, cache, framework, diagnosis)` decides (pure w.r.t. the cache,
which it changes only for the dry run and restores):
1. eligibility: `preemptionPolicy: Never` never preempts; a pod whose nominated node
   still has a lower-priority pod terminating waits for it instead of preempting again;
2. potential nodes: those that failed for a reason eviction can fix (not "unresolvable");
3. dry run per node (upstream SelectVictimsOnNode): remove every lower-priority pod; if
   the pod then fits, add them back most important first (higher priority, then earlier
   start) and keep out only those it cannot fit beside: the victims. The first
   max(10% of the potential nodes, 100) nodes that work, from a random one on, are the
   candidates;
4. the node (upstream pickOneNodeForPreemption): lowest highest-victim priority, then
   lowest sum of victim priorities, then fewest victims, then the latest start among its
   highest-priority victims, then the first.
The shell (`evict`) marks each victim DisruptionTarget (PreemptionByScheduler), deletes
it and records a `Preempted` event; the scheduler sets the preemptor's
status.nominatedNodeName and retries it when the victims are gone.

PodDisruptionBudgets count as upstream: on each node the victims whose eviction would take
a budget below zero allowed disruptions are reprieved first, and the node with the fewest
such violations is chosen first; a budget never forbids preemption. Pods nominated to a
node hold its room against pods of lower or equal priority (`reserve`, upstream's
addNominatedPods) while they wait; a node they occupy must also fit the pod without them
(`Framework.schedule`'s hold); unlike upstream, the victims' dry run filters only with them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import random
from dataclasses import dataclass, field
from typing import Callable, Iterator

from tinykube.api import errors
from tinykube.api.selectors import LabelSelector, label_selector_from_dict
from tinykube.scheduler import messages
from tinykube.scheduler.cache import Cache, PodInfo, pod_key
from tinykube.scheduler.framework import CycleState, Diagnosis, NodeFailure, Unschedulable

log = logging.getLogger(__name__)

PODS = ("v1", "Pod")
MIN_CANDIDATE_NODES_PERCENTAGE = 10
MIN_CANDIDATE_NODES_ABSOLUTE = 100
NOT_ELIGIBLE_NEVER = "not eligible due to preemptionPolicy=Never."
NOT_ELIGIBLE_TERMINATING = "not eligible due to a terminating pod on the nominated node."
_INT32_OFFSET = 2**31  # upstream adds MaxInt32 + 1 so that negative priorities sum sensibly
_NO_START = "9999"  # a pod without status.startTime counts as started now (the latest)


@dataclass
class Outcome:
    node: str = ""  # the nominated node; "" when preemption did not help
    victims: list[PodInfo] = field(default_factory=list)
    message: str = ""  # upstream's PostFilter message ("" on success)
    cleared: list[PodInfo] = field(default_factory=list)  # lower-priority pods nominated there before


def start_time(info: PodInfo) -> str:
    return (info.pod.get("status") or {}).get("startTime") or _NO_START


def more_important_first(pods: list[PodInfo]) -> list[PodInfo]:
    """Upstream MoreImportantPod: higher priority first, then the one started earlier."""
    return sorted(pods, key=lambda p: (-p.priority, start_time(p)))


def num_candidates(potential: int) -> int:
    """Upstream GetOffsetAndNumCandidates (without the random offset)."""
    return min(max(potential * MIN_CANDIDATE_NODES_PERCENTAGE // 100, MIN_CANDIDATE_NODES_ABSOLUTE), potential)


def fit_reasons(framework, pod: PodInfo, cache: Cache, node) -> tuple[str, ...]:
    """Every filter on one node as the cache is now: () when the pod fits."""
    state = CycleState(pod, cache)
    checks = []
    try:
        for plugin in framework.filters:
            check = plugin.pre_filter(state)
            if check is not None:
                checks.append(check)
    except Unschedulable as exc:
        return (exc.message,)
    if state.node_names is not None and node.name not in state.node_names:
        return (f"node(s) didn't satisfy plugin(s) [{', '.join(sorted(set(state.restricted_by)))}]",)
    for check in checks:
        reasons = check(node)
        if reasons:
            return (reasons,) if isinstance(reasons, str) else tuple(reasons)
    return ()


class _Removed:
    """Pods taken out of the cache for a dry run, put back by restore()."""

    def __init__(self, cache: Cache):
        self.cache, self.pods = cache, []

    def remove(self, info: PodInfo) -> None:
        entry = self.cache.pods.get(info.key)
        if entry is not None:
            self.cache._unplace(info.key)  # the cache's own bookkeeping (assumed set untouched)
            self.pods.append(entry)

    def put_back(self, info: PodInfo) -> None:
        for i, (kept, node_name) in enumerate(self.pods):
            if kept.key == info.key:
                self.cache._place(kept, node_name)
                del self.pods[i]
                return

    def restore(self) -> None:
        for info, node_name in reversed(self.pods):
            self.cache._place(info, node_name)
        self.pods = []


@dataclass(frozen=True)
class Budget:
    """What preemption needs of a PodDisruptionBudget, its selector parsed once."""

    namespace: str
    selector: LabelSelector
    allowed: int
    disrupted: frozenset


def budgets(pdbs: list[dict]) -> list[Budget]:
    """The budgets that can match a pod: a budget with an empty or invalid selector
    matches nothing here (as upstream's scheduler)."""
    out = []
    for pdb in pdbs:
        selector = _pdb_selector(pdb)
        if selector is not None:
            status = pdb.get("status") or {}
            out.append(Budget((pdb.get("metadata") or {}).get("namespace", ""), selector,
                              status.get("disruptionsAllowed") or 0, frozenset(status.get("disruptedPods") or ())))
    return out


def pdb_violations(pods: list[PodInfo], budgets: list[Budget]) -> set[str]:
    """Upstream filterPodsWithPDBViolation: the keys of the pods (most important first)
    whose eviction would take a matching PodDisruptionBudget below zero allowed
    disruptions, counting the ones before them. A pod already in a budget's disruptedPods
    was counted by the eviction API and is not counted again."""
    allowed = [b.allowed for b in budgets]
    violating = set()
    for info in pods:
        if not info.labels:
            continue
        for i, budget in enumerate(budgets):
            if (budget.namespace != info.namespace or not budget.selector.matches(info.labels)
                    or info.name in budget.disrupted):
                continue
            allowed[i] -= 1
            if allowed[i] < 0:
                violating.add(info.key)
    return violating


def _pdb_selector(pdb: dict) -> LabelSelector | None:
    raw = (pdb.get("spec") or {}).get("selector")
    if not raw:
        return None
    try:
        selector = label_selector_from_dict(raw)
    except (ValueError, errors.ApiError):  # an invalid selector matches no pod
        return None
    return None if selector.empty else selector


def select_victims(framework, pod: PodInfo, cache: Cache, node,
                   pdbs: list[Budget] = ()) -> tuple[list[PodInfo], int, tuple[str, ...]]:
    """Upstream SelectVictimsOnNode: (victims, how many of them violate a
    PodDisruptionBudget, ()) or ([], 0, why the node cannot help). Pods whose eviction
    would violate a budget are reprieved first."""
    lower = [p for p in node.pods.values() if p.priority < pod.priority]
    if not lower:
        return [], 0, (messages.NO_VICTIMS,)
    removed = _Removed(cache)
    try:
        for p in lower:
            removed.remove(p)
        reasons = fit_reasons(framework, pod, cache, node)
        if reasons:
            return [], 0, reasons
        ordered = more_important_first(lower)
        violating = pdb_violations(ordered, pdbs) if pdbs else set()
        victims, violations = [], 0
        # reprieve as many as fit beside the pod: budget-violating ones first
        for p in [p for p in ordered if p.key in violating] + [p for p in ordered if p.key not in violating]:
            removed.put_back(p)
            if fit_reasons(framework, pod, cache, node):
                removed.remove(p)
                victims.append(p)
                violations += p.key in violating
        return victims, violations, ()
    finally:
        removed.restore()


def pick_one_node(candidates: dict[str, list[PodInfo]], violations: dict[str, int] | None = None) -> str:
    """Upstream pickOneNodeForPreemption: fewest PodDisruptionBudget violations, then the
    lowest highest-victim priority, the lowest sum of priorities, the fewest victims, the
    latest start among the highest-priority victims; then the first."""
    violations = violations or {}

    def rank(item):
        name, victims = item
        if not victims:
            return (float("-inf"),)
        highest = victims[0].priority  # victims are most important first
        earliest_of_highest = min(start_time(v) for v in victims if v.priority == highest)
        latest_first = tuple(-ord(ch) for ch in earliest_of_highest)  # later start wins
        return (violations.get(name, 0), highest, sum(v.priority + _INT32_OFFSET for v in victims), len(victims),
                latest_first)
    order = list(candidates.items())
    best = min(range(len(order)), key=lambda i: (rank(order[i]), i))
    return order[best][0]


class Preemption:
    name = "DefaultPreemption"

    def __init__(self, pdbs: Callable[[], list[dict]] = list, rng: random.Random | None = None):
        self.nominated: dict[str, tuple[PodInfo, str]] = {}  # pod key -> (pod, node) until bound or deleted
        self.pdbs = pdbs  # the PodDisruptionBudgets now (the scheduler's informer cache)
        self.rng = rng or random.Random()

    def forget(self, key: str) -> None:
        self.nominated.pop(key, None)

    def observe(self, pod: dict, old: dict | None = None) -> None:
        """A pending pod seen (added, or updated from `old`): its status.nominatedNodeName
        is its nomination, so that a new scheduler (restart, leader change) holds the room
        an earlier one preempted for (upstream's nominator, PriorityQueue.Add/Update). A
        nomination removed from the status is dropped; with none before or after, the one
        in memory stays (our own patch may not have arrived yet)."""
        nominated = (pod.get("status") or {}).get("nominatedNodeName") or ""
        key = pod_key(pod)
        if nominated:
            self.nominated[key] = (PodInfo(pod), nominated)
        elif old is not None and (old.get("status") or {}).get("nominatedNodeName"):
            self.nominated.pop(key, None)

    def reserve(self, pod: PodInfo, cache: Cache) -> list[str]:
        """Count the pods nominated to a node, of priority >= pod's, on that node for this
        cycle (upstream RunFilterPluginsWithNominatedPods), so that the room preemption
        made is not taken by another pod while the victims terminate. Undo with release()."""
        placed = []
        for key, (info, node_name) in self.nominated.items():
            if key != pod.key and info.priority >= pod.priority and key not in cache.pods:
                node = cache.nodes.get(node_name)
                if node is not None and node.node is not None:
                    cache._place(info, node_name)
                    placed.append(key)
        return placed

    @staticmethod
    def release(cache: Cache, placed: list[str]) -> None:
        for key in placed:
            cache._unplace(key)

    @contextlib.contextmanager
    def holding(self, pod: PodInfo, cache: Cache) -> Iterator[set[str]]:
        """reserve() for the length of a `with`; yields the nodes that hold pods for it."""
        placed = self.reserve(pod, cache)
        try:
            yield {self.nominated[key][1] for key in placed}
        finally:
            self.release(cache, placed)

    def preempt(self, pod: PodInfo, cache: Cache, framework, diagnosis: Diagnosis) -> Outcome:
        spec, status = pod.spec, pod.pod.get("status") or {}
        if (spec.get("preemptionPolicy") or "PreemptLowerPriority") == "Never":
            return Outcome(message=f"preemption: {NOT_ELIGIBLE_NEVER}")
        nominated = status.get("nominatedNodeName") or self.nominated.get(pod.key, (None, ""))[1]
        if nominated and self._victims_terminating(pod, cache, nominated, diagnosis):
            return Outcome(message=f"preemption: {NOT_ELIGIBLE_TERMINATING}")
        potential = self._potential_nodes(cache, diagnosis)
        if potential and not any(p.priority < pod.priority for p, _ in cache.pods.values()):
            # the common case (every pod at priority 0): no node has a victim
            statuses = {n.name: (messages.NO_VICTIMS,) for n in potential}
            return Outcome(message=f"preemption: {self._fit_error(diagnosis, statuses)}")
        statuses: dict[str, tuple[str, ...]] = {}
        candidates: dict[str, list[PodInfo]] = {}
        violations: dict[str, int] = {}
        want = num_candidates(len(potential))
        pdbs = budgets(self.pdbs())  # parsed once for every candidate node
        # from a random node on (upstream GetOffsetAndNumCandidates), so that the same
        # first nodes do not lose their pods to every preemptor
        offset = self.rng.randrange(len(potential)) if potential else 0
        for node in potential[offset:] + potential[:offset]:
            victims, violating, reasons = select_victims(framework, pod, cache, node, pdbs)
            if reasons:
                statuses[node.name] = reasons
            else:
                candidates[node.name] = more_important_first(victims)
                violations[node.name] = violating
                if len(candidates) >= want:
                    break
        if not candidates:
            return Outcome(message=f"preemption: {self._fit_error(diagnosis, statuses)}")
        chosen = pick_one_node(candidates, violations)
        # lower-priority pods nominated to that node may no longer fit there: they lose
        # the nomination and look again (upstream getLowerPriorityNominatedPods)
        cleared = [info for info, node in self.nominated.values() if node == chosen and info.priority < pod.priority]
        for info in cleared:
            del self.nominated[info.key]
        self.nominated[pod.key] = (pod, chosen)
        return Outcome(node=chosen, victims=candidates[chosen], cleared=cleared)

    @staticmethod
    def _potential_nodes(cache: Cache, diagnosis: Diagnosis) -> list:
        """Upstream nodesWherePreemptionMightHelp: nodes failing for a resolvable reason."""
        if diagnosis.pre_filter_msg:
            return [] if diagnosis.unresolvable_all else list(cache.node_list)
        failures = diagnosis.node_failures
        return [n for n in cache.node_list if n.name in failures and not failures[n.name].unresolvable]

    @staticmethod
    def _victims_terminating(pod: PodInfo, cache: Cache, node_name: str, diagnosis: Diagnosis) -> bool:
        failure = diagnosis.node_failures.get(node_name)
        if failure is not None and failure.unresolvable:
            return False  # the nominated node cannot help any more: look elsewhere
        node = cache.nodes.get(node_name)
        return node is not None and any(p.terminating and p.priority < pod.priority for p in node.pods.values())

    @staticmethod
    def _fit_error(diagnosis: Diagnosis, statuses: dict[str, tuple[str, ...]]) -> str:
        """The dry run's FitError: nodes not tried are "Preemption is not helpful"."""
        dry_run = Diagnosis(diagnosis.num_all_nodes)
        for name in statuses:
            dry_run.node_failures[name] = NodeFailure(statuses[name], "", False)
        tried = len(statuses)
        reasons: dict[str, int] = {}
        for failure in dry_run.node_failures.values():
            for reason in failure.reasons:
                reasons[reason] = reasons.get(reason, 0) + 1
        if diagnosis.num_all_nodes - tried:
            reasons[messages.NOT_HELPFUL] = reasons.get(messages.NOT_HELPFUL, 0) + diagnosis.num_all_nodes - tried
        histogram = ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))
        return f"0/{diagnosis.num_all_nodes} nodes are available: {histogram}."


# --- the shell: evict the victims -----------------------------------------------------------

def disruption_condition(scheduler_name: str) -> dict:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": f"{scheduler_name}: preempting to accommodate a higher priority pod",
            "lastProbeTime": None, "lastTransitionTime": now}


async def clear_nomination(client, info: PodInfo) -> None:
    """Upstream ClearNominatedNodeName, for a pod whose nomination another pod took over."""
    try:
        await client.patch(PODS, info.name, {"status": {"nominatedNodeName": None}}, namespace=info.namespace,
                           patch_type="strategic", subresource="status")
    except errors.NotFound:
        pass
    except Exception as exc:
        log.warning("scheduler: could not clear the nominated node of %s: %s", info.key, exc)


async def evict(client, recorder, victim: PodInfo, preemptor: PodInfo, node: str, scheduler_name: str) -> None:
    """Upstream PreemptPod: DisruptionTarget condition, delete, `Preempted` event."""
    patch = {"status": {"conditions": [disruption_condition(scheduler_name)]}}
    try:
        await client.patch(PODS, victim.name, patch, namespace=victim.namespace, patch_type="strategic",
                           subresource="status")
        await client.delete(PODS, victim.name, namespace=victim.namespace)
    except errors.NotFound:
        return
    except Exception as exc:
        log.warning("scheduler: preempting %s for %s failed: %s", victim.key, preemptor.key, exc)
        return
    log.info("scheduler: %s preempted %s on %s", preemptor.key, victim.key, node)
    recorder.record(victim.pod, "Normal", "Preempted", f"Preempted by pod {preemptor.uid} on node {node}")
