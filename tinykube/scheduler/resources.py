"""Resource arithmetic for scheduling: quantities as integers, a pod's effective requests.

CPU is counted in millicores, everything else in bytes (or a plain count), as the
upstream scheduler's `framework.Resource` does, so the hot path compares integers.
A pod's requests follow upstream's `resource.PodRequests`: the sum of its app
containers and restartable (sidecar) init containers, or the largest regular init
container plus the sidecars started before it if that is larger, plus spec.overhead.
Scoring uses the "non-zero" requests: a container without a cpu/memory request
counts as 100m / 200Mi (upstream's DefaultMilliCPURequest / DefaultMemoryRequest),
so best-effort pods still spread.
"""

from __future__ import annotations

import math
from functools import lru_cache

from tinykube.api.validation.quantity import parse_quantity

CPU, MEMORY, PODS, EPHEMERAL = "cpu", "memory", "pods", "ephemeral-storage"
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024


@lru_cache(maxsize=4096)
def milli_cpu(text) -> int:
    """"250m" -> 250, "2" -> 2000 (rounded up, as Quantity.MilliValue)."""
    return math.ceil(parse_quantity(text) * 1000)


@lru_cache(maxsize=4096)
def value(text) -> int:
    """"1Gi" -> 1073741824 (rounded up, as Quantity.Value)."""
    return math.ceil(parse_quantity(text))


def amount(name: str, text) -> int:
    try:
        return milli_cpu(text) if name == CPU else value(text)
    except (ValueError, ArithmeticError):
        return 0  # validation refuses bad quantities; never crash the scheduler on one


def resource_list(values: dict | None) -> dict[str, int]:
    return {name: amount(name, text) for name, text in (values or {}).items()}


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for name, qty in more.items():
        total[name] = total.get(name, 0) + qty


def _max(total: dict[str, int], other: dict[str, int]) -> None:
    for name, qty in other.items():
        if qty > total.get(name, 0):
            total[name] = qty


def _container_requests(container: dict, non_zero: bool) -> dict[str, int]:
    requests = resource_list((container.get("resources") or {}).get("requests"))
    if non_zero:
        requests.setdefault(CPU, DEFAULT_MILLI_CPU)
        requests.setdefault(MEMORY, DEFAULT_MEMORY)
    return requests


def pod_requests(pod: dict, *, non_zero: bool = False) -> dict[str, int]:
    """The pod's effective requests (upstream resource.PodRequests)."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for container in spec.get("containers") or ():
        _add(total, _container_requests(container, non_zero))
    sidecars: dict[str, int] = {}
    init_max: dict[str, int] = {}
    for container in spec.get("initContainers") or ():
        requests = _container_requests(container, non_zero)
        if container.get("restartPolicy") == "Always":  # a sidecar runs beside the app
            _add(sidecars, requests)
            _max(init_max, sidecars)
        else:
            running = dict(sidecars)
            _add(running, requests)
            _max(init_max, running)
    _add(total, sidecars)
    _max(total, init_max)
    _add(total, resource_list(spec.get("overhead")))
    return total
