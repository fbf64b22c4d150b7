"""PodTopologySpread: DoNotSchedule constraints filter, ScheduleAnyway ones score; a pod
without constraints that belongs to a controller is spread by upstream's system default
constraints (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway) over its siblings.

As upstream (kube-scheduler 1.32, pkg/scheduler/framework/plugins/podtopologyspread):
- a constraint selects pods by labelSelector plus, for each of its `matchLabelKeys` the
  incoming pod has, `key = <pod's value>` (MatchLabelKeysInPodTopologySpread, on);
- pods are counted per topology value over the nodes that carry *every* constraint's
  key and pass the constraint's node inclusion policies: `nodeAffinityPolicy` Honor (the
  default: only nodes matching the pod's nodeSelector/required node affinity) or Ignore,
  `nodeTaintsPolicy` Ignore (the default) or Honor (only nodes whose NoSchedule/NoExecute
  taints the pod tolerates); pods being deleted and pods of other namespaces do not count;
- Filter: skew = count(node's value) + (1 if the pod matches the selector) - global
  minimum must be <= maxSkew; the global minimum is 0 while fewer than `minDomains`
  (default 1) domains are eligible; a node without the key is unresolvable;
- Score: count * log(domains + 2) + maxSkew - 1 per constraint (hostname counts the node
  itself), nodes lacking a key score 0, normalized as upstream (max + min - score) / max.
"""

from __future__ import annotations

import math

from tinykube.api.selectors import EQUALS, LabelSelector, label_selector_from_dict, new_requirement
from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins.nodeaffinity import required_terms, selector_matches
from tinykube.scheduler.plugins.taints import first_untolerated

REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


class Constraint:
    """A TopologySpreadConstraint as upstream's filterTopologySpreadConstraints builds it."""

    __slots__ = ("key", "max_skew", "selector", "min_domains", "honor_affinity", "honor_taints")

    def __init__(self, c: dict, pod_labels: dict):
        self.key = c.get("topologyKey", "")
        self.max_skew = c.get("maxSkew") or 1
        self.selector = with_match_label_keys(label_selector_from_dict(c.get("labelSelector")),
                                              c.get("matchLabelKeys") or (), pod_labels)
        self.min_domains = c.get("minDomains") or 1
        self.honor_affinity = (c.get("nodeAffinityPolicy") or "Honor") == "Honor"
        self.honor_taints = (c.get("nodeTaintsPolicy") or "Ignore") == "Honor"


def with_match_label_keys(selector: LabelSelector, keys, pod_labels: dict) -> LabelSelector:
    """Upstream mergeLabelSetWithSelector: `key = value` for each key the pod has, ANDed
    with the selector's requirements (a nil selector contributes none)."""
    requirements = [new_requirement(k, EQUALS, [pod_labels[k]]) for k in keys if k in pod_labels]
    if not requirements:
        return selector
    return LabelSelector([*requirements, *selector.requirements])


def constraints_of(state: CycleState, when: str) -> list[Constraint]:
    labels = state.pod.labels
    return [Constraint(c, labels) for c in state.pod.spec.get("topologySpreadConstraints") or ()
            if c.get("whenUnsatisfiable") == when]


def _untolerated(node, tolerations) -> bool:
    taints = ((node.node or {}).get("spec") or {}).get("taints") or ()
    taints = [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]
    return bool(taints) and first_untolerated(taints, tolerations) is not None


def _included(c: Constraint, node, pod, terms) -> bool:
    """Upstream matchNodeInclusionPolicies."""
    if c.honor_affinity and not selector_matches(pod.node_selector, terms, node.labels, node.name):
        return False
    return not (c.honor_taints and _untolerated(node, pod.tolerations))


def _count(node, selector: LabelSelector, namespace: str) -> int:
    """Upstream countPodsMatchSelector: pods being deleted do not count."""
    return sum(1 for p in node.pods.values()
               if not p.terminating and p.namespace == namespace and selector.matches(p.labels))


def _has_keys(labels: dict, constraints: list[Constraint]) -> bool:
    return all(c.key in labels for c in constraints)


def spread_counts(constraints: list[Constraint], state: CycleState) -> list[dict[str, int]]:
    """Per constraint, matching pods per eligible topology value (0 for an empty domain)."""
    pod = state.pod
    terms = required_terms(pod.affinity)
    counts: list[dict[str, int]] = [{} for _ in constraints]
    for node in state.cache.node_list:
        if not _has_keys(node.labels, constraints):
            continue
        for c, per_value in zip(constraints, counts):
            if not _included(c, node, pod, terms):
                continue
            value = node.labels[c.key]
            per_value[value] = per_value.get(value, 0) + _count(node, c.selector, pod.namespace)
    return counts


class PodTopologySpread:
    name = "PodTopologySpread"

    def pre_filter(self, state: CycleState):
        constraints = constraints_of(state, "DoNotSchedule")
        if not constraints:
            return None
        prepared = []
        for c, counts in zip(constraints, spread_counts(constraints, state)):
            self_match = 1 if c.selector.matches(state.pod.labels) else 0
            # fewer eligible domains than minDomains: the global minimum is taken as 0
            minimum = min(counts.values()) if counts and len(counts) >= c.min_domains else 0
            prepared.append((c.key, c.max_skew, counts, minimum, self_match))

        def check(node):
            for key, max_skew, counts, minimum, self_match in prepared:
                if key not in node.labels:
                    return MISSING_LABEL
                if counts.get(node.labels[key], 0) + self_match - minimum > max_skew:
                    return REASON
            return None
        return check

    def unresolvable(self, reason: str) -> bool:
        return reason == MISSING_LABEL

    def score(self, state: CycleState, nodes) -> list[int] | None:
        if not state.pod.spec.get("topologySpreadConstraints"):
            return self._default_spread(state, nodes)
        constraints = constraints_of(state, "ScheduleAnyway")
        if not constraints:
            return None
        return _score_constraints(constraints, state, nodes)

    def _default_spread(self, state: CycleState, nodes) -> list[int] | None:
        """System defaults over the pods of the same controller (the index keeps this O(nodes))."""
        siblings = state.cache.by_controller.get(state.pod.controller_uid) if state.pod.controller_uid else None
        if not siblings:
            return None
        zones: dict[str, int] = {}
        for node_name, count in siblings.items():
            node = state.cache.nodes.get(node_name)
            if node is not None and ZONE in node.labels:
                zones[node.labels[ZONE]] = zones.get(node.labels[ZONE], 0) + count
        host_weight = math.log(len(state.cache.node_list) + 2)
        zone_weight = math.log(len(zones) + 2)
        raw = [siblings.get(n.name, 0) * host_weight + 2 + (zones.get(n.labels.get(ZONE, ""), 0) * zone_weight + 4
                                                             if zones else 0) for n in nodes]
        return _lower_is_better(raw)


def _score_constraints(constraints: list[Constraint], state: CycleState, nodes) -> list[int]:
    """Upstream PreScore + Score + NormalizeScore for the pod's ScheduleAnyway constraints."""
    pod = state.pod
    ignored = [not _has_keys(n.labels, constraints) for n in nodes]
    # domains: the values among the feasible nodes; counts over all nodes (inclusion policies)
    counts: list[dict[str, int]] = [{} for _ in constraints]
    for node, skip in zip(nodes, ignored):
        if not skip:
            for c, per_value in zip(constraints, counts):
                if c.key != HOSTNAME:
                    per_value.setdefault(node.labels[c.key], 0)
    kept = ignored.count(False)
    weights = [math.log((kept if c.key == HOSTNAME else len(per_value)) + 2) for c, per_value in zip(constraints, counts)]
    terms = required_terms(pod.affinity)
    if any(c.key != HOSTNAME for c in constraints):
        for node in state.cache.node_list:
            if not _has_keys(node.labels, constraints):
                continue
            for c, per_value in zip(constraints, counts):
                value = node.labels[c.key]
                if c.key != HOSTNAME and value in per_value and _included(c, node, pod, terms):
                    per_value[value] += _count(node, c.selector, pod.namespace)
    raw: list[int] = []
    for node, skip in zip(nodes, ignored):
        if skip:
            raw.append(0)
            continue
        total = 0.0
        for c, per_value, weight in zip(constraints, counts, weights):
            count = _count(node, c.selector, pod.namespace) if c.key == HOSTNAME else per_value[node.labels[c.key]]
            total += count * weight + (c.max_skew - 1)
        raw.append(int(total + 0.5))  # Go math.Round (half away from zero)
    scored = [s for s, skip in zip(raw, ignored) if not skip]
    if not scored:
        return [0] * len(nodes)
    low, high = min(scored), max(scored)
    if high == 0:
        return [0 if skip else 100 for skip in ignored]
    return [0 if skip else 100 * (high + low - s) // high for s, skip in zip(raw, ignored)]


def _lower_is_better(raw: list[float]) -> list[int]:
    low, high = min(raw), max(raw)
    if high == low:
        return [100] * len(raw)
    return [int(100 * (high - s) / (high - low)) for s in raw]
