"""InterPodAffinity: required pod affinity and anti-affinity (the pod's own terms and
existing pods' anti-affinity against it), and the pod's preferred terms as a score.

A term selects pods by labelSelector in a set of namespaces (upstream AffinityTerm): the
`namespaces` listed plus those whose labels match `namespaceSelector`; with neither, the
namespace of the pod that carries the term; `namespaceSelector: {}` means every
namespace. The pod's own terms are resolved against the Namespace labels once per cycle
(upstream mergeAffinityTermNamespacesIfNotEmpty); an existing pod's term is matched
against the labels of the incoming pod's namespace. `matchLabelKeys`/`mismatchLabelKeys`
are merged into labelSelector by the API server when the pod is created (1.32's
MatchLabelKeysInPodAffinity, beta and on), so the scheduler only sees label selectors.

Per cycle the plugin collects the topology domains (key, value) that hold pods matching
each term, once over the assigned pods; each node is then a few set lookups. It costs
nothing for a pod without terms when no pod in the cluster has anti-affinity terms.
The score counts, as upstream, every existing pod: the pod's own preferred terms matched
by it, and its terms (preferred, and required affinity weighed by hardPodAffinityWeight)
matched by the pod.
"""

from __future__ import annotations

from tinykube.api.selectors import LabelSelector, label_selector_from_dict
from tinykube.scheduler.cache import has_pod_affinity
from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins import normalize

AFFINITY = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


class AffinityTerm:
    """A PodAffinityTerm with its selectors parsed (upstream framework.AffinityTerm)."""

    __slots__ = ("topology_key", "selector", "namespaces", "namespace_selector")

    def __init__(self, term: dict, owner_namespace: str):
        self.topology_key = term.get("topologyKey", "")
        self.selector = label_selector_from_dict(term.get("labelSelector"))
        names, ns_selector = term.get("namespaces") or (), term.get("namespaceSelector")
        self.namespaces = set(names) if names or ns_selector is not None else {owner_namespace}
        # None selects no namespace by labels (a nil namespaceSelector); {} selects all
        self.namespace_selector: LabelSelector | None = (
            None if ns_selector is None else label_selector_from_dict(ns_selector))

    def resolve_namespaces(self, namespaces: dict[str, dict]) -> AffinityTerm:
        """Fold a non-empty namespaceSelector into the namespace set (from the Namespace
        labels the cache holds); {} stays "every namespace"."""
        sel = self.namespace_selector
        if sel is not None and not sel.empty:
            self.namespaces |= {name for name, labels in namespaces.items() if sel.matches(labels)}
            self.namespace_selector = None
        return self

    def matches(self, pod, namespace_labels: dict | None = None) -> bool:
        """Does `pod` (a PodInfo) match? namespace_labels: the labels of pod's namespace."""
        if pod.namespace in self.namespaces or (
                self.namespace_selector is not None and self.namespace_selector.matches(namespace_labels or {})):
            return self.selector.matches(pod.labels)
        return False


def _terms(affinity: dict, kind: str, when: str) -> list:
    return list((affinity.get(kind) or {}).get(when) or ())


def own_terms(state: CycleState, terms: list[dict]) -> list[AffinityTerm]:
    namespaces = state.cache.namespaces
    return [AffinityTerm(t, state.pod.namespace).resolve_namespaces(namespaces) for t in terms]


def _domains(term: AffinityTerm, cache) -> set[str]:
    """Values of term.topology_key on nodes holding a pod matching the (resolved) term."""
    key, found = term.topology_key, set()
    for info, node_name in cache.pods.values():
        node = cache.nodes.get(node_name)
        if node is not None and key in node.labels and term.matches(info):
            found.add(node.labels[key])
    return found


class InterPodAffinity:
    """pluginArgs (upstream InterPodAffinityArgs): hardPodAffinityWeight (0-100, default 1),
    ignorePreferredTermsOfExistingPods (default false)."""

    name = "InterPodAffinity"

    def __init__(self, hardPodAffinityWeight: int = 1, ignorePreferredTermsOfExistingPods: bool = False):
        if not isinstance(hardPodAffinityWeight, int) or not 0 <= hardPodAffinityWeight <= 100:
            raise ValueError(f"hardPodAffinityWeight: Invalid value: {hardPodAffinityWeight!r}: "
                             "not in valid range [0-100]")
        self.hard_pod_affinity_weight = hardPodAffinityWeight
        self.ignore_preferred_terms_of_existing_pods = bool(ignorePreferredTermsOfExistingPods)

    def pre_filter(self, state: CycleState):
        pod, cache = state.pod, state.cache
        affinity = own_terms(state, _terms(pod.affinity, "podAffinity", REQUIRED))
        anti = own_terms(state, _terms(pod.affinity, "podAntiAffinity", REQUIRED))
        existing = self._existing_anti(state) if cache.counts["affinity_pods"] else []
        if not affinity and not anti and not existing:
            return None
        wanted = [(t.topology_key, _domains(t, cache)) for t in affinity]
        # the first pod of a group that matches its own terms may go anywhere (upstream)
        first_of_group = all(not values for _, values in wanted) and all(t.matches(pod) for t in affinity)
        avoid = [(t.topology_key, _domains(t, cache)) for t in anti]

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
        """Domains where an existing pod's required anti-affinity term matches our pod; its
        namespaceSelector is matched against the labels of our pod's namespace."""
        out: dict[str, set[str]] = {}
        pod = state.pod
        ns_labels = state.cache.namespaces.get(pod.namespace, {})
        for node in state.cache.node_list:
            if not node.affinity_pods:
                continue
            for info in node.pods.values():
                for term in _terms(info.affinity, "podAntiAffinity", REQUIRED):
                    key = term.get("topologyKey", "")
                    if key in node.labels and AffinityTerm(term, info.namespace).matches(pod, ns_labels):
                        out.setdefault(key, set()).add(node.labels[key])
        return list(out.items())

    def unresolvable(self, reason: str) -> bool:
        return reason == AFFINITY

    def score(self, state: CycleState, nodes) -> list[int] | None:
        """Upstream's PreScore/Score/NormalizeScore: every existing pod adds to the score of
        its node's topology domain: +weight per preferred affinity term of ours it matches,
        -weight per preferred anti-affinity term; and, where our pod matches the existing
        pod's terms, +hardPodAffinityWeight per required affinity term, +weight per
        preferred affinity term, -weight per preferred anti-affinity term. A node scores
        the sum over the domains it is in; the scores are then spread over 0..100."""
        pod = state.pod
        preferred = self._own_preferred(state)
        if not preferred and (self.ignore_preferred_terms_of_existing_pods
                              or not state.cache.counts["any_affinity_pods"]):
            return None
        ns_labels = state.cache.namespaces.get(pod.namespace, {})
        topology: dict[str, dict[str, int]] = {}
        for node in state.cache.node_list:
            if not node.labels or not (preferred or node.affinity_pods):
                continue
            for existing in node.pods.values():
                if preferred or has_pod_affinity(existing):
                    self._add_existing(topology, preferred, existing, node.labels, pod, ns_labels)
        if not topology:
            return None
        raw = [sum(values.get(node.labels[key], 0) for key, values in topology.items() if key in node.labels)
               for node in nodes]
        low, high = min(raw), max(raw)
        # float arithmetic as upstream's NormalizeScore (int64(100 * (s-min) / (max-min)))
        return [int(100.0 * ((s - low) / (high - low))) if high > low else 0 for s in raw]

    def _own_preferred(self, state: CycleState) -> list[tuple[int, AffinityTerm]]:
        """The pod's preferred terms, signed by kind, namespaceSelector resolved."""
        affinity, namespace = state.pod.affinity, state.pod.namespace
        out = []
        for kind, sign in (("podAffinity", 1), ("podAntiAffinity", -1)):
            for weighted in _terms(affinity, kind, PREFERRED):
                term = AffinityTerm(weighted.get("podAffinityTerm") or {}, namespace)
                out.append((sign * weighted.get("weight", 0), term.resolve_namespaces(state.cache.namespaces)))
        return out

    def _add_existing(self, topology: dict, preferred: list, existing, labels: dict, pod, ns_labels: dict) -> None:
        """Upstream processExistingPod: what one existing pod on a node with `labels` adds."""
        for weight, term in preferred:
            if term.topology_key in labels and term.matches(existing):
                _add(topology, term.topology_key, labels, weight)
        if not has_pod_affinity(existing):
            return
        theirs = [(self.hard_pod_affinity_weight, t) for t in _terms(existing.affinity, "podAffinity", REQUIRED)
                  ] if self.hard_pod_affinity_weight > 0 else []
        for kind, sign in (("podAffinity", 1), ("podAntiAffinity", -1)):
            theirs += [(sign * w.get("weight", 0), w.get("podAffinityTerm") or {})
                       for w in _terms(existing.affinity, kind, PREFERRED)]
        for weight, raw in theirs:
            key = raw.get("topologyKey", "")
            if key in labels and AffinityTerm(raw, existing.namespace).matches(pod, ns_labels):
                _add(topology, key, labels, weight)


def _add(topology: dict[str, dict[str, int]], key: str, labels: dict, weight: int) -> None:
    values = topology.setdefault(key, {})
    values[labels[key]] = values.get(labels[key], 0) + weight


__all__ = ["InterPodAffinity", "normalize"]
