"""InterPodAffinity: required pod affinity and anti-affinity (the pod's own terms and
existing pods' anti-affinity against it), and the pod's preferred terms as a score.

Per cycle the plugin collects the topology domains (key, value) that hold pods matching
each term, once over the assigned pods; each node is then a few set lookups. It costs
nothing for a pod without terms when no pod in the cluster has affinity terms.
Not supported yet: namespaceSelector other than {} (all namespaces), matchLabelKeys,
and existing pods' *preferred* terms in the score.
"""

from __future__ import annotations

from tinykube.api.selectors import label_selector_from_dict
from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins import normalize

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def term_matches_pod(term: dict, owner_namespace: str, pod) -> bool:
    """Does `pod` (a PodInfo) match an affinity term written in owner_namespace?"""
    namespaces = term.get("namespaces") or ()
    if term.get("namespaceSelector") == {}:
        pass  # every namespace
    elif namespaces:
        if pod.namespace not in namespaces:
            return False
    elif pod.namespace != owner_namespace:
        return False
    return label_selector_from_dict(term.get("labelSelector")).matches(pod.labels)


def _terms(affinity: dict, kind: str, when: str) -> list:
    return list((affinity.get(kind) or {}).get(when) or ())


def _domains(term: dict, namespace: str, cache) -> set[str]:
    """Values of term.topologyKey on nodes holding a pod matching the term."""
    key, found = term.get("topologyKey", ""), set()
    for info, node_name in cache.pods.values():
        node = cache.nodes.get(node_name)
        if node is not None and key in node.labels and term_matches_pod(term, namespace, info):
            found.add(node.labels[key])
    return found


class InterPodAffinity:
    name = "InterPodAffinity"

    def pre_filter(self, state: CycleState):
        pod, cache = state.pod, state.cache
        affinity = _terms(pod.affinity, "podAffinity", REQUIRED)
        anti = _terms(pod.affinity, "podAntiAffinity", REQUIRED)
        existing = self._existing_anti(state) if cache.counts["affinity_pods"] else []
        if not affinity and not anti and not existing:
            return None
        wanted = [(t.get("topologyKey", ""), _domains(t, pod.namespace, cache)) for t in affinity]
        # the first pod of a group that matches its own terms may go anywhere (upstream)
        first_of_group = all(not values for _, values in wanted) and all(
            term_matches_pod(t, pod.namespace, pod) for t in affinity)
        avoid = [(t.get("topologyKey", ""), _domains(t, pod.namespace, cache)) for t in anti]

        def check(node):
            labels = node.labels
            for key, values in existing:
                if key in labels and labels[key] in values:
                    return EXISTING_ANTI_AFFINITY
            if wanted and not first_of_group:
                for key, values in wanted:
                    if key not in labels or labels[key] not in values:
                        return AFFINITY
            elif wanted and any(key not in labels for key, _ in wanted):
                return AFFINITY
            for key, values in avoid:
                if key in labels and labels[key] in values:
                    return ANTI_AFFINITY
            return None
        return check

    def _existing_anti(self, state: CycleState) -> list[tuple[str, set[str]]]:
        """Domains where an existing pod's required anti-affinity term matches our pod."""
        out: dict[str, set[str]] = {}
        for info, node_name in state.cache.pods.values():
            for term in _terms(info.affinity, "podAntiAffinity", REQUIRED):
                node = state.cache.nodes.get(node_name)
                key = term.get("topologyKey", "")
                if node is not None and key in node.labels and term_matches_pod(term, info.namespace, state.pod):
                    out.setdefault(key, set()).add(node.labels[key])
        return list(out.items())

    def unresolvable(self, reason: str) -> bool:
        return reason == AFFINITY

    def score(self, state: CycleState, nodes) -> list[int] | None:
        pod = state.pod
        weighted = [(w.get("weight", 0), w.get("podAffinityTerm") or {}) for w in _terms(pod.affinity, "podAffinity", PREFERRED)]
        weighted += [(-w.get("weight", 0), w.get("podAffinityTerm") or {})
                     for w in _terms(pod.affinity, "podAntiAffinity", PREFERRED)]
        if not weighted:
            return None
        domains = [(weight, term.get("topologyKey", ""), _domains(term, pod.namespace, state.cache))
                   for weight, term in weighted]
        raw = [sum(weight for weight, key, values in domains if node.labels.get(key, None) in values)
               for node in nodes]
        low, high = min(raw), max(raw)
        if high == low:
            return [0] * len(nodes)
        return [(s - low) * 100 // (high - low) for s in raw]


__all__ = ["InterPodAffinity", "normalize"]
