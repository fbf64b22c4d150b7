"""policy/v1 PodDisruptionBudget validation (pkg/apis/policy/validation, 1.32).

The spec stays mutable (since 1.15): every write re-validates it. minAvailable and
maxUnavailable are int-or-percent (>= 0, at most 100%) and exclusive; the selector is a
metav1 LabelSelector; unhealthyPodEvictionPolicy is IfHealthyBudget or AlwaysAllow (not
defaulted: unset behaves as IfHealthyBudget). Status writes check the counters (>= 0)
and the metav1 Conditions (ValidateConditions).
"""

from __future__ import annotations

import re

from tinykube.api.errors import Cause

from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, duplicate, invalid, is_int, nonnegative, not_supported,
    required, too_long,
)
from .meta import validate_object_meta
from .names import name_is_dns_subdomain, qualified_name_errors, regex_error
from .selectors import validate_label_selector
from .workloads import int_or_percent_causes, not_over_100_percent

UNHEALTHY_POD_EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")  # sorted, as sets.List()
STATUS_COUNTERS = ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods")
CONDITION_STATUSES = ("False", "True", "Unknown")
_REASON_FMT = "[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?"
_REASON_RE = re.compile(f"^{_REASON_FMT}$")
_REASON_MSG = ("a condition reason must start with alphabetic character, optionally followed by a string of "
               "alphanumeric characters or '_,:', and must end with an alphanumeric character or '_'")
MAX_REASON_LEN, MAX_MESSAGE_LEN = 1024, 32768


def _spec_repr(spec: dict) -> GoRepr:
    """The spec as the bad value of the "both set" error (Go prints the struct with %#v)."""
    def field(name):
        value = spec.get(name)
        return "nil" if value is None else (f'"{value}"' if isinstance(value, str) else str(value))
    return GoRepr(f"policy.PodDisruptionBudgetSpec{{MinAvailable:{field('minAvailable')}, "
                  f"MaxUnavailable:{field('maxUnavailable')}, Selector:{'nil' if spec.get('selector') is None else '{...}'}, "
                  f"UnhealthyPodEvictionPolicy:{field('unhealthyPodEvictionPolicy')}}}")


def validate_pdb_spec(spec, path: str = "spec", *, check_selector: bool = True) -> list[Cause]:
    spec = as_dict(spec)
    causes: list[Cause] = []
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available is not None and max_unavailable is not None:
        causes.append(invalid(path, _spec_repr(spec), "minAvailable and maxUnavailable cannot be both set"))
    for name, value in (("minAvailable", min_available), ("maxUnavailable", max_unavailable)):
        if value is not None:
            causes += int_or_percent_causes(value, child(path, name))
            causes += not_over_100_percent(value, child(path, name))
    if check_selector:
        causes += validate_label_selector(spec.get("selector"), child(path, "selector"))
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy is not None and policy not in UNHEALTHY_POD_EVICTION_POLICIES:
        causes.append(not_supported(child(path, "unhealthyPodEvictionPolicy"), policy,
                                    UNHEALTHY_POD_EVICTION_POLICIES))
    return causes


def validate_pdb(obj: dict) -> list[Cause]:
    causes = validate_object_meta(obj.get("metadata"), namespaced=True, name_fn=name_is_dns_subdomain)
    return causes + validate_pdb_spec(obj.get("spec"))


def validate_pdb_update(new: dict, old: dict) -> list[Cause]:
    # An invalid label value already stored in the selector may stay (the strategy's
    # AllowInvalidLabelValueInSelector when the old selector was not valid either).
    new_selector = as_dict(new.get("spec")).get("selector")
    unchanged = new_selector == as_dict(old.get("spec")).get("selector")
    return validate_pdb_spec(new.get("spec"), check_selector=not unchanged)


def validate_pdb_status_update(new: dict, old: dict) -> list[Cause]:
    status = as_dict(new.get("status"))
    causes = validate_conditions(status.get("conditions"), child("status", "conditions"))
    for name in STATUS_COUNTERS:
        causes += nonnegative(child("status", name), status.get(name))
    return causes


# --- metav1 Conditions (ValidateConditions) ---------------------------------------------


def validate_conditions(conditions, path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    for i, condition in enumerate(as_list(conditions)):
        condition = as_dict(condition)
        causes += validate_condition(condition, at(path, i))
        kind = as_str(condition.get("type"))
        if kind in seen:
            causes.append(duplicate(child(at(path, i), "type"), kind))
        seen.add(kind)
    return causes


def validate_condition(condition: dict, path: str) -> list[Cause]:
    kind = as_str(condition.get("type"))
    causes = [invalid(child(path, "type"), kind, msg) for msg in qualified_name_errors(kind)]
    if condition.get("status") not in CONDITION_STATUSES:
        causes.append(not_supported(child(path, "status"), as_str(condition.get("status")), CONDITION_STATUSES))
    generation = condition.get("observedGeneration")
    if is_int(generation) and generation < 0:
        causes.append(invalid(child(path, "observedGeneration"), generation,
                              "must be greater than or equal to zero"))
    if not condition.get("lastTransitionTime"):
        causes.append(required(child(path, "lastTransitionTime"), "must be set"))
    causes += _reason(as_str(condition.get("reason")), child(path, "reason"))
    if len(as_str(condition.get("message"))) > MAX_MESSAGE_LEN:
        causes.append(too_long(child(path, "message"), MAX_MESSAGE_LEN))
    return causes


def _reason(reason: str, path: str) -> list[Cause]:
    if not reason:
        return [required(path, "must be set")]
    causes = []
    if not _REASON_RE.match(reason):
        causes.append(invalid(path, reason, regex_error(_REASON_MSG, _REASON_FMT, "my_name", "MY_NAME", "MyName",
                                                        "ReasonA,ReasonB", "ReasonA:ReasonB")))
    if len(reason) > MAX_REASON_LEN:
        causes.append(too_long(path, MAX_REASON_LEN))
    return causes
