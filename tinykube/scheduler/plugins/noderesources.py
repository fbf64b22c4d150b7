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
        return check

    def unresolvable(self, reason: str) -> bool:
        return False

    def score(self, state: CycleState, nodes) -> list[int]:
        """LeastAllocated over cpu and memory (weight 1 each), with non-zero requests."""
        cpu, mem = state.pod.non_zero.get(res.CPU, 0), state.pod.non_zero.get(res.MEMORY, 0)
        scores = []
        for n in nodes:
            ac, am = n.alloc_cpu, n.alloc_mem
            rc, rm = n.nz_cpu + cpu, n.nz_mem + mem
            sc = (ac - rc) * 100 // ac if ac and rc <= ac else 0
            sm = (am - rm) * 100 // am if am and rm <= am else 0
            scores.append((sc + sm) // 2)
        return scores


class BalancedAllocation:
    name = "NodeResourcesBalancedAllocation"

    def score(self, state: CycleState, nodes) -> list[int]:
        """(1 - std deviation of the cpu and memory fractions) * 100; for two resources the
        deviation is |a - b| / 2 (upstream balancedResourceScorer)."""
        cpu, mem = state.pod.non_zero.get(res.CPU, 0), state.pod.non_zero.get(res.MEMORY, 0)
        scores = []
        for n in nodes:
            ac, am = n.alloc_cpu, n.alloc_mem
            fc = (n.nz_cpu + cpu) / ac if ac else 1.0
            fm = (n.nz_mem + mem) / am if am else 1.0
            fc, fm = (fc if fc < 1.0 else 1.0), (fm if fm < 1.0 else 1.0)
            scores.append(int((1 - abs(fc - fm) / 2) * 100))
        return scores
