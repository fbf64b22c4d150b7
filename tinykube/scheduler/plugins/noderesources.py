"""NodeResourcesFit (the requests fit the allocatable; LeastAllocated score) and
NodeResourcesBalancedAllocation (prefer nodes whose cpu and memory use stay even)."""

from __future__ import annotations

from tinykube.scheduler import resources as res
from tinykube.scheduler.framework import CycleState

TOO_MANY_PODS = "Too many pods"


def insufficient(name: str) -> str:
    return f"Insufficient {name}"


def fit_reasons(requests: dict, node) -> tuple[str, ...]:
    """Upstream fitsRequest: pods first, then cpu, memory, ephemeral-storage, the others."""
    reasons = []
    if len(node.pods) + 1 > node.alloc_pods:
        reasons.append(TOO_MANY_PODS)
    cpu, mem, eph = requests.get(res.CPU, 0), requests.get(res.MEMORY, 0), requests.get(res.EPHEMERAL, 0)
    if cpu and cpu > node.alloc_cpu - node.req_cpu:
        reasons.append(insufficient(res.CPU))
    if mem and mem > node.alloc_mem - node.req_mem:
        reasons.append(insufficient(res.MEMORY))
    if eph and eph > node.alloc_eph - node.req_eph:
        reasons.append(insufficient(res.EPHEMERAL))
    for name, qty in requests.items():
        if name in (res.CPU, res.MEMORY, res.EPHEMERAL) or not qty:
            continue
        if qty > node.alloc_other.get(name, 0) - node.req_other.get(name, 0):
            reasons.append(insufficient(name))
    return tuple(reasons)


def least_allocated(requested: int, allocatable: int) -> int:
    if allocatable == 0 or requested > allocatable:
        return 0
    return (allocatable - requested) * 100 // allocatable


class NodeResourcesFit:
    name = "NodeResourcesFit"

    def pre_filter(self, state: CycleState):
        requests = state.pod.requests
        cpu, mem, eph = requests.get(res.CPU, 0), requests.get(res.MEMORY, 0), requests.get(res.EPHEMERAL, 0)
        simple = all(k in (res.CPU, res.MEMORY, res.EPHEMERAL) for k in requests)

        def check(node):
            # the common case in a few comparisons; the full list of reasons only on failure
            if (simple and len(node.pods) < node.alloc_pods and cpu <= node.alloc_cpu - node.req_cpu
                    and mem <= node.alloc_mem - node.req_mem and (not eph or eph <= node.alloc_eph - node.req_eph)):
                return None
            return fit_reasons(requests, node) or None

        if simple:
            def fitting(nodes: list) -> list:
                """The nodes that fit, in order, without a call per node (Check.bulk)."""
                return [n for n in nodes if len(n.pods) < n.alloc_pods and cpu <= n.alloc_cpu - n.req_cpu
                        and mem <= n.alloc_mem - n.req_mem and (not eph or eph <= n.alloc_eph - n.req_eph)]
            check.bulk = fitting
        return check

    def unresolvable(self, reason: str) -> bool:
        return False

    def score(self, state: CycleState, nodes) -> list[int]:
        """LeastAllocated over cpu and memory (weight 1 each), with non-zero requests."""
        return resource_scores(state, nodes)[0]


class BalancedAllocation:
    name = "NodeResourcesBalancedAllocation"

    def score(self, state: CycleState, nodes) -> list[int]:
        """(1 - std deviation of the cpu and memory fractions) * 100; for two resources the
        deviation is |a - b| / 2 (upstream balancedResourceScorer)."""
        return resource_scores(state, nodes)[1]


# Both scores of a node depend only on four integers: its allocatable cpu and memory and
# its non-zero requests with the pod's added. Nodes of a cluster tend to share them (same
# machine type, a pod or two apart), so a pure memo of _scores makes a cycle over hundreds
# of nodes compute a handful and look up the rest (half the time of computing each).
_MEMO_LIMIT = 65_536
_memo: dict[tuple[int, int, int, int], tuple[int, int]] = {}


def resource_scores(state: CycleState, nodes) -> tuple[list[int], list[int]]:
    """(LeastAllocated, BalancedAllocation) scores of nodes, computed once per cycle."""
    cached = state.data.get("resource_scores")
    if cached is not None and cached[0] is nodes:
        return cached[1]
    cpu, mem = state.pod.non_zero.get(res.CPU, 0), state.pod.non_zero.get(res.MEMORY, 0)
    memo = _memo
    if len(memo) > _MEMO_LIMIT:
        memo.clear()
    least, balanced = [], []
    for n in nodes:
        key = (n.alloc_cpu, n.alloc_mem, n.nz_cpu + cpu, n.nz_mem + mem)
        pair = memo.get(key)
        if pair is None:
            pair = memo[key] = _scores(*key)
        least.append(pair[0])
        balanced.append(pair[1])
    state.data["resource_scores"] = (nodes, (least, balanced))
    return least, balanced


def _scores(ac: int, am: int, rc: int, rm: int) -> tuple[int, int]:
    """Of a node with allocatable (ac, am) and requests (rc, rm) once the pod is there."""
    sc = (ac - rc) * 100 // ac if ac and rc <= ac else 0
    sm = (am - rm) * 100 // am if am and rm <= am else 0
    fc = rc / ac if ac else 1.0
    fm = rm / am if am else 1.0
    fc, fm = (fc if fc < 1.0 else 1.0), (fm if fm < 1.0 else 1.0)
    return (sc + sm) // 2, int((1 - abs(fc - fm) / 2) * 100)
