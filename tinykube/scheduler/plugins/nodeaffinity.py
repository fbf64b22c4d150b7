"""NodeAffinity: spec.nodeSelector and requiredDuringScheduling node affinity must match;
preferred terms add their weights to the score.

A required affinity whose every term pins metadata.name with `In` (what the DaemonSet
controller writes) narrows the candidates to those nodes before any filter runs, as
upstream's PreFilterResult does.
"""

from __future__ import annotations

from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins import normalize

REASON = "node(s) didn't match Pod's node affinity/selector"


def _int(text) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def requirement_matches(expr: dict, values_of: dict) -> bool:
    """One NodeSelectorRequirement against labels (or fields) of a node."""
    key, op = expr.get("key", ""), expr.get("operator", "")
    values = expr.get("values") or ()
    present = key in values_of
    if op == "In":
        return present and values_of[key] in values
    if op == "NotIn":
        return not present or values_of[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and len(values) == 1:
        have, bound = _int(values_of[key]), _int(values[0])
        if have is None or bound is None:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(term: dict, labels: dict, name: str) -> bool:
    """A NodeSelectorTerm: all expressions and fields match; an empty term matches nothing."""
    exprs, fields = term.get("matchExpressions") or (), term.get("matchFields") or ()
    if not exprs and not fields:
        return False
    fields_of = {"metadata.name": name}
    return all(requirement_matches(e, labels) for e in exprs) and all(
        requirement_matches(f, fields_of) for f in fields)


def selector_matches(node_selector: dict, terms: list[dict] | None, labels: dict, name: str) -> bool:
    for key, value in node_selector.items():
        if labels.get(key) != value:
            return False
    return terms is None or any(term_matches(t, labels, name) for t in terms)


def required_terms(affinity: dict) -> list[dict] | None:
    required = ((affinity.get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    terms = required.get("nodeSelectorTerms")
    return None if terms is None else list(terms)


def pinned_node_names(terms: list[dict] | None) -> set[str] | None:
    """Upstream getPreFilterNodeNames: the node names every term pins with metadata.name In."""
    if not terms:
        return None
    names: set[str] = set()
    for term in terms:
        pinned = None
        for field in term.get("matchFields") or ():
            if field.get("key") == "metadata.name" and field.get("operator") == "In":
                values = set(field.get("values") or ())
                pinned = values if pinned is None else pinned & values
        if pinned is None:
            return None  # this term can match any node
        names |= pinned
    return names


class NodeAffinity:
    name = "NodeAffinity"

    def pre_filter(self, state: CycleState):
        pod = state.pod
        terms = required_terms(pod.affinity)
        if not pod.node_selector and terms is None:
            return None
        names = pinned_node_names(terms)
        if names is not None:
            state.restrict(names, self.name)
        node_selector = pod.node_selector
        return lambda node: None if selector_matches(node_selector, terms, node.labels, node.name) else REASON

    def unresolvable(self, reason: str) -> bool:
        return True

    def score(self, state: CycleState, nodes) -> list[int] | None:
        preferred = ((state.pod.affinity.get("nodeAffinity") or {})
                     .get("preferredDuringSchedulingIgnoredDuringExecution") or ())
        if not preferred:
            return None
        scores = []
        for node in nodes:
            scores.append(sum(p.get("weight", 0) for p in preferred
                              if term_matches(p.get("preference") or {}, node.labels, node.name)))
        return normalize(scores)
