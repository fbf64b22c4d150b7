"""PodTopologySpread: DoNotSchedule constraints filter, ScheduleAnyway ones score; a pod
without constraints that belongs to a controller is spread by upstream's system default
constraints (hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway) over its siblings.

Counting: the pods matching a constraint (same namespace, labelSelector) per topology
value, over nodes that have the key and pass the pod's nodeSelector/required node
affinity (nodeAffinityPolicy Honor). Skew = count(node's domain) + 1 - min over domains.
Not supported yet: minDomains, matchLabelKeys, nodeTaintsPolicy Honor.
"""

from __future__ import annotations

import math

from tinykube.api.selectors import label_selector_from_dict
from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins.nodeaffinity import required_terms, selector_matches

REASON = "node(s) didn't match pod topology spread constraints"
MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
HOSTNAME, ZONE = "kubernetes.io/hostname", "topology.kubernetes.io/zone"


def _constraints(state: CycleState, when: str) -> list[dict]:
    return [c for c in state.pod.spec.get("topologySpreadConstraints") or () if c.get("whenUnsatisfiable") == when]


def domain_counts(constraint: dict, state: CycleState) -> dict[str, int]:
    """Matching pods per value of the constraint's key, every eligible domain present."""
    pod, cache = state.pod, state.cache
    key = constraint.get("topologyKey", "")
    selector = label_selector_from_dict(constraint.get("labelSelector"))
    terms = required_terms(pod.affinity)
    counts: dict[str, int] = {}
    for node in cache.node_list:
        if key in node.labels and selector_matches(pod.node_selector, terms, node.labels, node.name):
            counts.setdefault(node.labels[key], 0)
    for info, node_name in cache.pods.values():
        node = cache.nodes.get(node_name)
        if (node is None or info.namespace != pod.namespace or info.terminating or key not in node.labels
                or node.labels[key] not in counts or not selector.matches(info.labels)):
            continue
        counts[node.labels[key]] += 1
    return counts


class PodTopologySpread:
    name = "PodTopologySpread"

    def pre_filter(self, state: CycleState):
        constraints = _constraints(state, "DoNotSchedule")
        if not constraints:
            return None
        prepared = []
        for c in constraints:
            counts = domain_counts(c, state)
            self_match = 1 if label_selector_from_dict(c.get("labelSelector")).matches(state.pod.labels) else 0
            prepared.append((c.get("topologyKey", ""), c.get("maxSkew", 1), counts,
                             min(counts.values()) if counts else 0, self_match))

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
        constraints = _constraints(state, "ScheduleAnyway")
        if not state.pod.spec.get("topologySpreadConstraints"):
            return self._default_spread(state, nodes)
        if not constraints:
            return None
        raw = [0.0] * len(nodes)
        for c in constraints:
            counts = domain_counts(c, state)
            weight = math.log(len(counts) + 2)
            key = c.get("topologyKey", "")
            for i, node in enumerate(nodes):
                raw[i] += counts.get(node.labels.get(key, ""), 0) * weight + (c.get("maxSkew", 1) - 1)
        return _lower_is_better(raw)

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


def _lower_is_better(raw: list[float]) -> list[int]:
    low, high = min(raw), max(raw)
    if high == low:
        return [100] * len(raw)
    return [int(100 * (high - s) / (high - low)) for s in raw]
