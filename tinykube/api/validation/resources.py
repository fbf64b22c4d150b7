"""Container resource requirements: names, quantities, requests <= limits.

Mirrors validateResourceRequirements / validateContainerResourceName in core validation.
A quantity string that does not parse is reported as INVALID with the decoder's message
(Kubernetes refuses it earlier, while decoding, with a 400).
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from . import quantity
from .fields import GoRepr, as_dict, child, forbidden, invalid, invalid_each, key, required
from .names import qualified_name_errors

STANDARD_CONTAINER_RESOURCES = ("cpu", "memory", "ephemeral-storage")
STANDARD_RESOURCES = STANDARD_CONTAINER_RESOURCES + (
    "requests.cpu", "requests.memory", "requests.ephemeral-storage", "limits.cpu", "limits.memory",
    "limits.ephemeral-storage", "pods", "services", "replicationcontrollers", "resourcequotas",
    "secrets", "configmaps", "persistentvolumeclaims", "storage", "requests.storage",
    "services.nodeports", "services.loadbalancers",
)
HUGEPAGES_PREFIX = "hugepages-"


def is_huge_pages(name: str) -> bool:
    return name.startswith(HUGEPAGES_PREFIX)


def is_native(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended(name: str) -> bool:
    if is_native(name) or name.startswith("requests."):
        return False
    return not qualified_name_errors("requests." + name)


def overcommit_allowed(name: str) -> bool:
    return is_native(name) and not is_huge_pages(name)


def _is_standard(name: str) -> bool:
    return name in STANDARD_RESOURCES or is_huge_pages(name) or name.startswith("requests.hugepages-")


def resource_name_causes(name: str, path: str) -> list[Cause]:
    """validateResourceName: qualified, and standard unless fully qualified."""
    causes = invalid_each(path, name, qualified_name_errors(name))
    if causes:
        return causes
    if "/" not in name and not _is_standard(name):
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


def container_resource_name_causes(name: str, path: str) -> list[Cause]:
    causes = resource_name_causes(name, path)
    if "/" not in name:
        if name not in STANDARD_CONTAINER_RESOURCES and not is_huge_pages(name):
            causes.append(invalid(path, name, "must be a standard resource for containers"))
    elif not is_native(name) and not is_extended(name):
        causes.append(invalid(path, name, "doesn't follow extended resource name standard"))
    return causes


def quantity_causes(name: str, value, path: str) -> tuple[quantity.Quantity | None, list[Cause]]:
    """Parse one quantity and apply ValidateResourceQuantityValue."""
    try:
        parsed = quantity.parse(value)
    except ValueError as err:
        return None, [invalid(path, value if isinstance(value, str) else str(value), str(err))]
    if parsed.value < 0:
        return parsed, [invalid(path, str(parsed), "must be greater than or equal to 0")]
    if is_extended(name) and parsed.value != parsed.value.to_integral_value():
        return parsed, [invalid(path, GoRepr(str(parsed)), "must be an integer")]
    return parsed, []


def validate_resource_requirements(resources, path: str) -> list[Cause]:
    resources = as_dict(resources)
    lim_path, req_path = child(path, "limits"), child(path, "requests")
    limits, causes = _quantities(resources.get("limits"), lim_path)
    requests, req_causes = _quantities(resources.get("requests"), req_path)
    causes += req_causes
    for name, request in requests.items():
        causes += _request_vs_limit(name, request, limits, req_path, lim_path)
    if _only_huge_pages(limits, requests):
        causes.append(forbidden(path, "HugePages require cpu or memory"))
    # TODO: resources.claims against spec.resourceClaims; hugepage size divisibility.
    return causes


def _quantities(resource_list, path: str) -> tuple[dict, list[Cause]]:
    parsed: dict = {}
    causes: list[Cause] = []
    for name, value in as_dict(resource_list).items():
        item = key(path, name)
        causes += container_resource_name_causes(name, item)
        qty, errs = quantity_causes(name, value, item)
        causes += errs
        if qty is not None:
            parsed[name] = qty
    return parsed, causes


def _request_vs_limit(name: str, request, limits: dict, req_path: str, lim_path: str) -> list[Cause]:
    limit = limits.get(name)
    if limit is None:
        if overcommit_allowed(name):
            return []
        return [required(lim_path, "Limit must be set for non overcommitable resources")]
    if request.value != limit.value and not overcommit_allowed(name):
        return [invalid(req_path, str(request), f"must be equal to {name} limit of {limit}")]
    if request.value > limit.value:
        return [invalid(req_path, str(request), f"must be less than or equal to {name} limit of {limit}")]
    return []


def _only_huge_pages(limits: dict, requests: dict) -> bool:
    names = set(limits) | set(requests)
    has_huge = any(is_huge_pages(n) for n in names)
    return has_huge and not names & {"cpu", "memory"}
