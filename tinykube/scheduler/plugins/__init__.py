"""The built-in filter and score plugins, by their upstream names.

Each plugin is a plain class (see tinykube.scheduler.framework for the contract); the
DEFAULT lists give upstream's default profile order and score weights. A user's own
plugin is named by "module:Class" in the scheduler config (tinykube.scheduler.config).
"""

from __future__ import annotations

BUILTIN: dict[str, str] = {
    "NodeUnschedulable": "tinykube.scheduler.plugins.basic:NodeUnschedulable",
    "NodeName": "tinykube.scheduler.plugins.basic:NodeName",
    "TaintToleration": "tinykube.scheduler.plugins.taints:TaintToleration",
    "NodeAffinity": "tinykube.scheduler.plugins.nodeaffinity:NodeAffinity",
    "NodePorts": "tinykube.scheduler.plugins.basic:NodePorts",
    "NodeResourcesFit": "tinykube.scheduler.plugins.noderesources:NodeResourcesFit",
    "NodeResourcesBalancedAllocation": "tinykube.scheduler.plugins.noderesources:BalancedAllocation",
    "ImageLocality": "tinykube.scheduler.plugins.imagelocality:ImageLocality",
    "PodTopologySpread": "tinykube.scheduler.plugins.topologyspread:PodTopologySpread",
    "InterPodAffinity": "tinykube.scheduler.plugins.interpodaffinity:InterPodAffinity",
}

# upstream's default profile: filters in this order, scores with these weights
DEFAULT_FILTERS = ["NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts",
                   "NodeResourcesFit", "PodTopologySpread", "InterPodAffinity"]
DEFAULT_SCORES = [("TaintToleration", 3), ("NodeAffinity", 2), ("NodeResourcesFit", 1),
                  ("PodTopologySpread", 2), ("InterPodAffinity", 2),
                  ("NodeResourcesBalancedAllocation", 1), ("ImageLocality", 1)]


def normalize(scores: list[int], *, reverse: bool = False) -> list[int]:
    """Upstream helper.DefaultNormalizeScore: scale to 0..100 by the largest score."""
    top = max(scores) if scores else 0
    if top == 0:
        return [100] * len(scores) if reverse else list(scores)
    if reverse:
        return [100 - s * 100 // top for s in scores]
    return [s * 100 // top for s in scores]
