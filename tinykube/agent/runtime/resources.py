"""Container resources -> cgroup settings and OOM score, as the kubelet computes them
(pure functions).

- cpu shares from the cpu request (or the limit when only a limit is set): the kubelet's
  MilliCPUToShares, shares = milliCPU * 1024 / 1000, clamped to [2, 262144];
- cpu quota from the limit: MilliCPUToQuota, quota = milliCPU * period / 1000 with period
  100000 us, at least 1000 us; the period is always set when CFS quota is on;
- memory limit in bytes; swap forbidden (memory+swap = limit) where the kernel accounts it,
  the effect of the kubelet's NoSwap;
- pids limit from the agent's setting (the kubelet's podPidsLimit, applied per container);
- oom_score_adj per QoS class: Guaranteed and node-critical -997, BestEffort 1000,
  Burstable 1000 - 1000 * memoryRequest / capacity clamped to [3, 999], and a sidecar no
  higher than the pod's smallest regular container (kubelet's GetContainerOOMScoreAdjust).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from tinykube.api.defaults import pod_qos_class
from tinykube.api.validation.quantity import parse_quantity

from .model import RuntimeConfig

MIN_SHARES, MAX_SHARES, SHARES_PER_CPU = 2, 262144, 1024
QUOTA_PERIOD, MIN_QUOTA_PERIOD = 100000, 1000
GUARANTEED_OOM_SCORE_ADJ, BESTEFFORT_OOM_SCORE_ADJ = -997, 1000
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000


def milli_value(quantity) -> int:
    """resource.Quantity.MilliValue(): thousandths, rounded up."""
    return 0 if quantity in (None, "") else math.ceil(parse_quantity(quantity) * 1000)


def value(quantity) -> int:
    """resource.Quantity.Value(): a whole number, rounded up."""
    return 0 if quantity in (None, "") else math.ceil(parse_quantity(quantity))


def milli_cpu_to_shares(milli_cpu: int) -> int:
    if milli_cpu == 0:
        return MIN_SHARES  # the kernel's default for "unset" would be 1024; Kubernetes wants 2
    return max(MIN_SHARES, min(MAX_SHARES, milli_cpu * SHARES_PER_CPU // 1000))


def milli_cpu_to_quota(milli_cpu: int, period: int = QUOTA_PERIOD) -> int:
    if milli_cpu == 0:
        return 0
    return max(MIN_QUOTA_PERIOD, milli_cpu * period // 1000)


def _resources(container: Mapping) -> tuple[Mapping, Mapping]:
    r = container.get("resources") or {}
    return r.get("requests") or {}, r.get("limits") or {}


def linux_resources(container: Mapping, runtime: RuntimeConfig) -> dict:
    """OCI linux.resources for a container (devices are added by the spec)."""
    requests, limits = _resources(container)
    cpu_request, cpu_limit = milli_value(requests.get("cpu")), milli_value(limits.get("cpu"))
    cpu = {"shares": milli_cpu_to_shares(cpu_limit if cpu_request == 0 and cpu_limit else cpu_request)}
    if runtime.cpu_cfs_quota:
        quota = milli_cpu_to_quota(cpu_limit)
        cpu.update({"quota": quota} if quota else {})
        cpu["period"] = QUOTA_PERIOD
    out = {"cpu": cpu}
    memory = value(limits.get("memory"))
    if memory:
        out["memory"] = {"limit": memory, **({"swap": memory} if runtime.swap_accounting else {})}
    if runtime.pids_limit > 0:
        out["pids"] = {"limit": runtime.pids_limit}
    return out


def qos_class(pod: Mapping) -> str:
    """status.qosClass when the API server set it, else Kubernetes' ComputePodQOS."""
    return (pod.get("status") or {}).get("qosClass") or pod_qos_class(pod.get("spec") or {})


def is_node_critical(pod: Mapping) -> bool:
    """kubelettypes.IsNodeCriticalPod: critical (static, mirror, or priority >= 2e9) and
    priorityClassName system-node-critical."""
    spec, annotations = pod.get("spec") or {}, (pod.get("metadata") or {}).get("annotations") or {}
    static = annotations.get("kubernetes.io/config.source", "api") != "api"
    mirror = "kubernetes.io/config.mirror" in annotations
    critical = static or mirror or (spec.get("priority") or 0) >= SYSTEM_CRITICAL_PRIORITY
    return critical and spec.get("priorityClassName") == "system-node-critical"


def oom_score_adj(pod: Mapping, container: Mapping, memory_capacity: int) -> int:
    if is_node_critical(pod):
        return GUARANTEED_OOM_SCORE_ADJ
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return GUARANTEED_OOM_SCORE_ADJ
    if qos == "BestEffort" or memory_capacity <= 0:
        return BESTEFFORT_OOM_SCORE_ADJ
    adjust = _burstable(_memory_request(container), memory_capacity)
    if _is_sidecar(pod, container):
        adjust = min(adjust, _burstable(_min_regular_memory_request(pod), memory_capacity))
    return _clamp_burstable(adjust)


def _burstable(memory_request: int, capacity: int) -> int:
    return 1000 - (1000 * memory_request) // capacity


def _clamp_burstable(adjust: int) -> int:
    if adjust < 1000 + GUARANTEED_OOM_SCORE_ADJ:
        return 1000 + GUARANTEED_OOM_SCORE_ADJ
    return adjust - 1 if adjust == BESTEFFORT_OOM_SCORE_ADJ else adjust


def _memory_request(container: Mapping) -> int:
    return value(_resources(container)[0].get("memory"))


def _is_sidecar(pod: Mapping, container: Mapping) -> bool:
    if container.get("restartPolicy") != "Always":
        return False
    inits = (pod.get("spec") or {}).get("initContainers") or ()
    return any(c.get("name") == container.get("name") for c in inits)


def _min_regular_memory_request(pod: Mapping) -> int:
    containers = (pod.get("spec") or {}).get("containers") or ()
    return min((_memory_request(c) for c in containers), default=0)
