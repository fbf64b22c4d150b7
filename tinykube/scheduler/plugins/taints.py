"""TaintToleration: NoSchedule/NoExecute taints must be tolerated; PreferNoSchedule
taints a pod does not tolerate lower a node's score."""

from __future__ import annotations

from tinykube.scheduler.framework import CycleState
from tinykube.scheduler.plugins import normalize


def tolerates(toleration: dict, taint: dict) -> bool:
    """Upstream Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def first_untolerated(taints: list[dict], tolerations) -> dict | None:
    for taint in taints:
        if not any(tolerates(t, taint) for t in tolerations):
            return taint
    return None


class TaintToleration:
    name = "TaintToleration"

    def pre_filter(self, state: CycleState):
        if not state.cache.counts["taints"]:
            return None
        tolerations = state.pod.tolerations

        def check(node):
            if not node.taints:
                return None
            taint = first_untolerated(node.taints, tolerations)
            if taint is None:
                return None
            return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"
        return check

    def unresolvable(self, reason: str) -> bool:
        return True

    def score(self, state: CycleState, nodes) -> list[int] | None:
        if not state.cache.counts["prefer_no_schedule"]:
            return None
        tolerations = [t for t in state.pod.tolerations if (t.get("effect") or "PreferNoSchedule") == "PreferNoSchedule"]
        counts = [sum(1 for taint in node.prefer_no_schedule if not any(tolerates(t, taint) for t in tolerations))
                  for node in nodes]
        return normalize(counts, reverse=True)
