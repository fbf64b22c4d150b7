"""The words of an unschedulable pod: upstream FitError.Error() and the preemption note.

"0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node
affinity/selector. preemption: 0/3 nodes are available: 1 No preemption victims found
for incoming pod, 2 Preemption is not helpful for scheduling."

Reasons are counted over nodes and listed as "<count> <reason>" sorted as strings (Go's
sort.Strings); a PreFilter rejection replaces the per-node reasons. The preemption part
comes from tinykube.scheduler.preemption (`post_filter`); without it, what upstream's
DefaultPreemption says when it finds no victims (nodes failing for a reason eviction
cannot fix are "not helpful").
"""

from __future__ import annotations

from collections import Counter

from tinykube.scheduler.framework import Diagnosis

NO_NODES = "no nodes available to schedule pods"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"


def _histogram(reasons: Counter) -> str:
    return ", ".join(sorted(f"{count} {reason}" for reason, count in reasons.items()))


def _available(total: int) -> str:
    return f"0/{total} nodes are available:"


def preemption_message(diagnosis: Diagnosis, *, preemption_policy: str = "") -> str:
    if preemption_policy == "Never":
        return "not eligible due to preemptionPolicy=Never."
    total = diagnosis.num_all_nodes
    if diagnosis.pre_filter_msg:
        counts = Counter({NOT_HELPFUL if diagnosis.unresolvable_all else NO_VICTIMS: total})
    else:
        counts = Counter(NOT_HELPFUL if f.unresolvable else NO_VICTIMS for f in diagnosis.node_failures.values())
    return f"{_available(total)} {_histogram(counts)}."


def fit_error(diagnosis: Diagnosis, *, preemption_policy: str = "", post_filter: str | None = None) -> str:
    """The PodScheduled=False message and FailedScheduling event of a pod fitting nowhere.
    post_filter: what preemption said ("preemption: ...", or "" when it nominated a node);
    None: the no-victims wording below."""
    if diagnosis.num_all_nodes == 0:
        return NO_NODES
    message = _available(diagnosis.num_all_nodes)
    if diagnosis.pre_filter_msg:
        message += f" {diagnosis.pre_filter_msg}."
    else:
        reasons = Counter(r for f in diagnosis.node_failures.values() for r in f.reasons)
        if reasons:
            message += f" {_histogram(reasons)}."
    if post_filter is not None:
        return f"{message} {post_filter}" if post_filter else message
    return message + f" preemption: {preemption_message(diagnosis, preemption_policy=preemption_policy)}"
