"""The plugin contract and one scheduling cycle's algorithm (upstream framework + schedulePod).

A filter plugin has `pre_filter(state)`, called once per pod, which returns either None
(the plugin has nothing to say about this pod: skipped, as upstream's PreFilter Skip) or a
`check(node_info)` function giving None (fits) or the reason(s) the node does not fit.
`pre_filter` may also narrow the candidate nodes (`state.restrict`) or reject the pod
outright (raise `Unschedulable`). A plugin's failures are "unresolvable" (preemption would
not help) when `unresolvable` says so.

A score plugin has `score(state, nodes)` returning one integer 0..100 per feasible node
(already normalized), or None to abstain; the total is the weighted sum.

`find_nodes` walks the nodes round-robin from where the last cycle stopped and stops once
`num_feasible_nodes_to_find` nodes fit (upstream's adaptive percentageOfNodesToScore), so
each pod costs O(nodes checked) with a few comparisons per node.
"""

from __future__ import annotations

import operator

from dataclasses import dataclass, field
from typing import Callable, ContextManager, Protocol

from tinykube.scheduler.cache import Cache, NodeInfo, PodInfo

MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND = 5
MAX_NODE_SCORE = 100

Reasons = str | tuple[str, ...] | None
Check = Callable[[NodeInfo], Reasons]
Hold = Callable[[], ContextManager[set[str]]]


class Unschedulable(Exception):
    """A PreFilter verdict for every node: the message replaces the per-node reasons."""

    def __init__(self, message: str, plugin: str = "", unresolvable: bool = True):
        super().__init__(message)
        self.message, self.plugin, self.unresolvable = message, plugin, unresolvable


@dataclass
class CycleState:
    pod: PodInfo
    cache: Cache
    node_names: set[str] | None = None  # PreFilterResult: only these nodes can fit
    restricted_by: list[str] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # what plugins compute once per cycle

    def restrict(self, names, plugin: str) -> None:
        names = set(names)
        self.node_names = names if self.node_names is None else self.node_names & names
        self.restricted_by.append(plugin)


class FilterPlugin(Protocol):
    name: str

    def pre_filter(self, state: CycleState) -> Check | None: ...

    def unresolvable(self, reason: str) -> bool: ...


class ScorePlugin(Protocol):
    name: str

    def score(self, state: CycleState, nodes: list[NodeInfo]) -> list[int] | None: ...


@dataclass(frozen=True)
class NodeFailure:
    reasons: tuple[str, ...]
    plugin: str
    unresolvable: bool


@dataclass
class Diagnosis:
    """Why a pod fits nowhere (upstream framework.Diagnosis)."""
    num_all_nodes: int
    node_failures: dict[str, NodeFailure] = field(default_factory=dict)
    pre_filter_msg: str = ""
    unresolvable_all: bool = False  # the PreFilter rejection is unresolvable

    @property
    def plugins(self) -> set[str]:
        return {f.plugin for f in self.node_failures.values()}


@dataclass(frozen=True)
class ScheduleResult:
    node: str = ""
    evaluated: int = 0
    feasible: int = 0
    diagnosis: Diagnosis | None = None


def num_feasible_nodes_to_find(num_all_nodes: int, percentage: int = 0) -> int:
    """Upstream numFeasibleNodesToFind: all nodes below 100, else 50% - nodes/125 (>= 5%)."""
    if num_all_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_all_nodes
    if percentage <= 0:
        percentage = max(50 - num_all_nodes // 125, MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND)
    if percentage >= 100:
        return num_all_nodes
    return max(num_all_nodes * percentage // 100, MIN_FEASIBLE_NODES_TO_FIND)


def _as_tuple(reasons: Reasons) -> tuple[str, ...]:
    return (reasons,) if isinstance(reasons, str) else tuple(reasons)


class Framework:
    def __init__(self, filters: list, scores: list[tuple[object, int]], *, percentage_of_nodes_to_score: int = 0):
        self.filters = filters
        self.scores = scores  # (plugin, weight)
        self.percentage = percentage_of_nodes_to_score
        self.next_start = 0

    def schedule(self, pod: PodInfo, cache: Cache, hold: Hold | None = None) -> ScheduleResult:
        """Choose a node for pod, or say why none fits (pure w.r.t. the cache).

        `hold()`, when given, places the pods nominated to nodes (of the pod's priority or
        higher) in the cache for the filters and yields the names of those nodes (upstream
        RunFilterPluginsWithNominatedPods): a node they occupy must fit the pod with them
        and, as it may yet be without them (a nominated pod can go elsewhere), without
        them too. PreFilter and the scores see the cluster without them, as upstream."""
        nodes = cache.node_list
        diagnosis = Diagnosis(len(nodes))
        if not nodes:
            return ScheduleResult(diagnosis=diagnosis)
        state = CycleState(pod, cache)
        try:
            checks = self._pre_filter(state)
        except Unschedulable as exc:
            return self._rejected(exc, diagnosis)
        if hold is None:
            feasible = self._find_feasible(state, checks, diagnosis)
        else:
            feasible = self._find_feasible_holding(hold, state, checks, diagnosis)
        if not feasible:
            return ScheduleResult(evaluated=len(diagnosis.node_failures), diagnosis=diagnosis)
        best = self._select(state, feasible)
        return ScheduleResult(node=best.name, evaluated=len(feasible) + len(diagnosis.node_failures),
                              feasible=len(feasible))

    def _pre_filter(self, state: CycleState) -> list[tuple[object, Check]]:
        """Every filter plugin's check for this pod (raises Unschedulable)."""
        checks: list[tuple[object, Check]] = []
        for plugin in self.filters:
            check = plugin.pre_filter(state)
            if check is not None:
                checks.append((plugin, check))
        return checks

    @staticmethod
    def _rejected(exc: Unschedulable, diagnosis: Diagnosis) -> ScheduleResult:
        diagnosis.pre_filter_msg, diagnosis.unresolvable_all = exc.message, exc.unresolvable
        return ScheduleResult(diagnosis=diagnosis)

    def _find_feasible_holding(self, hold: Hold, state: CycleState, checks, diagnosis: Diagnosis) -> list[NodeInfo]:
        """_find_feasible with the nominated pods in place, then the nodes they occupy
        filtered again without them; the first failure is the node's reason."""
        with hold() as hosts:
            if not hosts:
                return self._find_feasible(state, checks, diagnosis)
            held = CycleState(state.pod, state.cache)
            try:
                held_checks = self._pre_filter(held)
            except Unschedulable as exc:
                self._rejected(exc, diagnosis)
                return []
            feasible = self._find_feasible(held, held_checks, diagnosis)
        kept = []
        for node in feasible:
            if node.name in hosts and any(check(node) for _, check in checks):
                self._record_failure(node, checks, diagnosis.node_failures)
            else:
                kept.append(node)
        return kept

    def _candidates(self, state: CycleState, diagnosis: Diagnosis) -> list[NodeInfo]:
        nodes = state.cache.node_list
        if state.node_names is None:
            return nodes
        by_name = state.cache.nodes
        chosen = [by_name[n] for n in sorted(state.node_names) if n in by_name and by_name[n].node is not None]
        msg = f"node(s) didn't satisfy plugin(s) [{', '.join(sorted(set(state.restricted_by)))}]"
        chosen_names = {n.name for n in chosen}
        for node in nodes:  # upstream SetAbsentNodesStatus
            if node.name not in chosen_names:
                diagnosis.node_failures[node.name] = NodeFailure((msg,), "", True)
        return chosen

    def _find_feasible(self, state: CycleState, checks, diagnosis: Diagnosis) -> list[NodeInfo]:
        nodes = self._candidates(state, diagnosis)
        total = len(nodes)
        if not total:
            return []
        want = num_feasible_nodes_to_find(total, self.percentage) if state.node_names is None else total
        start = self.next_start % total
        ordered = nodes[start:] + nodes[:start] if start else nodes
        if len(checks) == 1 and getattr(checks[0][1], "bulk", None) is not None:
            feasible, checked = self._find_feasible_bulk(ordered, want, checks, diagnosis)
            self.next_start = (start + checked) % total
            return feasible
        feasible: list[NodeInfo] = []
        failures = diagnosis.node_failures
        checked = 0
        only = [check for _, check in checks]
        for node in ordered:
            checked += 1
            for check in only:
                if check(node):
                    self._record_failure(node, checks, failures)
                    break
            else:
                feasible.append(node)
                if len(feasible) >= want:
                    break
        self.next_start = (start + checked) % total
        return feasible

    def _find_feasible_bulk(self, ordered: list[NodeInfo], want: int, checks, diagnosis: Diagnosis):
        """_find_feasible's loop for one filter that can test a slice of nodes in one go
        (the usual pod: only resources to fit). Slices of just the nodes still wanted, so it
        stops where the loop would: the same feasible nodes, the same nodes checked."""
        bulk = checks[0][1].bulk
        feasible: list[NodeInfo] = []
        checked, total = 0, len(ordered)
        while checked < total and len(feasible) < want:
            chunk = ordered[checked:checked + want - len(feasible)]
            fit = bulk(chunk)
            checked += len(chunk)
            feasible += fit
            if len(fit) < len(chunk):
                fitting = set(map(id, fit))
                for node in chunk:
                    if id(node) not in fitting:
                        self._record_failure(node, checks, diagnosis.node_failures)
        return feasible, checked

    @staticmethod
    def _record_failure(node: NodeInfo, checks, failures: dict) -> None:
        """The first failing plugin's reasons (the hot loop above only asks whether it fits)."""
        for plugin, check in checks:
            reasons = check(node)
            if reasons:
                reasons = _as_tuple(reasons)
                failures[node.name] = NodeFailure(reasons, plugin.name, plugin.unresolvable(reasons[0]))
                return

    def _select(self, state: CycleState, feasible: list[NodeInfo]) -> NodeInfo:
        if len(feasible) == 1 or not self.scores:
            return feasible[0]
        totals: list[int] | None = None
        for plugin, weight in self.scores:
            scores = plugin.score(state, feasible)
            if scores is None:
                continue
            if weight != 1:
                scores = [s * weight for s in scores]
            totals = scores if totals is None else list(map(operator.add, totals, scores))
        if totals is None:
            return feasible[0]
        best = max(totals)
        # ties: upstream picks one at random (reservoir sampling); the first after the
        # round-robin start is as good and keeps runs reproducible
        return feasible[totals.index(best)]
