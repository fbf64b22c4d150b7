"""scheduling.k8s.io/v1 PriorityClass validation (pkg/apis/scheduling/validation, 1.32).

Names starting with "system-" are reserved for the two built-in classes (with their own
values); a user-defined value is at most 1,000,000,000; value and preemptionPolicy never
change. "Only one globalDefault" needs the other classes: the Priority admission plugin
checks it (tinykube/apiserver/admission.py).
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import as_dict, child, forbidden, immutable, is_int, not_supported
from .meta import validate_object_meta, validate_object_meta_update
from .names import name_is_dns_subdomain

HIGHEST_USER_DEFINABLE_PRIORITY = 1_000_000_000
SYSTEM_PREFIX = "system-"
# name -> value of the built-in classes (neither is the global default)
SYSTEM_PRIORITY_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}
PREEMPTION_POLICIES = ("Never", "PreemptLowerPriority")


def _known_system_class_error(name: str, value, global_default) -> str:
    if name not in SYSTEM_PRIORITY_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_PRIORITY_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_PRIORITY_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} must be false"
    return ""


def _spec(obj: dict) -> list[Cause]:
    name = as_str_name(obj)
    value = obj.get("value")
    causes: list[Cause] = []  # a missing value is 0 (a Go int32)
    if name.startswith(SYSTEM_PREFIX):
        error = _known_system_class_error(name, value, obj.get("globalDefault"))
        if error:
            causes.append(forbidden(child("metadata", "name"),
                                    f"priority class names with '{SYSTEM_PREFIX}' prefix are reserved for system "
                                    f"use only. error: {error}"))
    elif is_int(value) and value > HIGHEST_USER_DEFINABLE_PRIORITY:
        causes.append(forbidden("value", f"maximum allowed value of a user defined priority is "
                                         f"{HIGHEST_USER_DEFINABLE_PRIORITY}"))
    policy = obj.get("preemptionPolicy")
    if policy is not None and policy not in PREEMPTION_POLICIES:
        causes.append(not_supported("preemptionPolicy", policy, PREEMPTION_POLICIES))
    return causes


def as_str_name(obj: dict) -> str:
    name = as_dict(obj.get("metadata")).get("name")
    return name if isinstance(name, str) else ""


def validate_priority_class(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), namespaced=False, name_fn=name_is_dns_subdomain,
                                  kube_finalizers=False)
    return causes + _spec(obj)


def validate_priority_class_update(new: dict, old: dict) -> list[Cause]:
    causes = validate_object_meta_update(new.get("metadata"), old.get("metadata"), kube_finalizers=False)
    if new.get("value") != old.get("value"):
        causes.append(forbidden("value", "may not be changed in an update."))
    causes += immutable("preemptionPolicy", new.get("preemptionPolicy"), old.get("preemptionPolicy"))
    return causes + _spec(new)
