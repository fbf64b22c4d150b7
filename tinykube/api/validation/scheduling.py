"""Scheduling constraints: tolerations, taints, node/pod affinity, topology spread.

Mirrors ValidateTolerations, validateNodeTaints, validateAffinity and
validateTopologySpreadConstraints in core validation.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, duplicate, forbidden, go_quote, invalid,
    invalid_each, is_int, not_supported, required,
)
from .meta import validate_label_name
from .names import label_value_errors, name_is_dns_label, name_is_dns_subdomain
from .selectors import validate_label_selector

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def validate_tolerations(tolerations, path: str) -> list[Cause]:
    causes: list[Cause] = []
    for i, toleration in enumerate(map(as_dict, as_list(tolerations))):
        causes += _toleration(toleration, at(path, i))
    return causes


def _toleration(tol: dict, path: str) -> list[Cause]:
    name, operator = as_str(tol.get("key")), as_str(tol.get("operator"))
    effect, value = as_str(tol.get("effect")), as_str(tol.get("value"))
    causes = validate_label_name(name, child(path, "key")) if name else []
    if not name and operator != "Exists":
        causes.append(invalid(child(path, "operator"), operator,
                              'operator must be Exists when `key` is empty, which means "match all values and all keys"'))
    if tol.get("tolerationSeconds") is not None and effect != "NoExecute":
        causes.append(invalid(child(path, "effect"), effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
    causes += _toleration_operator(operator, value, child(path, "operator"))
    if effect and effect not in TAINT_EFFECTS:
        causes.append(not_supported(child(path, "effect"), effect, TAINT_EFFECTS))
    return causes


def _toleration_operator(operator: str, value: str, path: str) -> list[Cause]:
    if operator in ("Equal", ""):
        errors = label_value_errors(value)
        return [invalid(path, value, ";".join(errors))] if errors else []
    if operator == "Exists":
        return [invalid(path, value, "value must be empty when `operator` is 'Exists'")] if value else []
    return [not_supported(path, operator, ("Equal", "Exists"))]


def validate_taints(taints, path: str) -> list[Cause]:
    causes: list[Cause] = []
    seen: set = set()
    for i, taint in enumerate(map(as_dict, as_list(taints))):
        item = at(path, i)
        name, value, effect = as_str(taint.get("key")), as_str(taint.get("value")), as_str(taint.get("effect"))
        causes += validate_label_name(name, child(item, "key"))
        errors = label_value_errors(value)
        if errors:
            causes.append(invalid(child(item, "value"), value, ";".join(errors)))
        causes += _taint_effect(effect, child(item, "effect"))
        if (name, effect) in seen:
            shown = (f"core.Taint{{Key:{go_quote(name)}, Value:{go_quote(value)}, Effect:{go_quote(effect)}, "
                     "TimeAdded:(*v1.Time)(nil)}")
            causes.append(duplicate(item, GoRepr(shown + ": taints must be unique by key and effect pair")))
            continue
        seen.add((name, effect))
    return causes


def _taint_effect(effect: str, path: str) -> list[Cause]:
    if not effect:
        return [required(path)]
    return [] if effect in TAINT_EFFECTS else [not_supported(path, effect, TAINT_EFFECTS)]


# --- affinity ------------------------------------------------------------------------


def validate_affinity(affinity, path: str) -> list[Cause]:
    affinity = as_dict(affinity)
    causes: list[Cause] = []
    if affinity.get("nodeAffinity") is not None:
        causes += _node_affinity(as_dict(affinity["nodeAffinity"]), child(path, "nodeAffinity"))
    for kind in ("podAffinity", "podAntiAffinity"):
        if affinity.get(kind) is not None:
            causes += _pod_affinity(as_dict(affinity[kind]), child(path, kind))
    return causes


def _node_affinity(node: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    hard = node.get("requiredDuringSchedulingIgnoredDuringExecution")
    if hard is not None:
        causes += node_selector(as_dict(hard), child(path, "requiredDuringSchedulingIgnoredDuringExecution"))
    soft_path = child(path, "preferredDuringSchedulingIgnoredDuringExecution")
    for i, term in enumerate(map(as_dict, as_list(node.get("preferredDuringSchedulingIgnoredDuringExecution")))):
        causes += _weight(term.get("weight"), child(at(soft_path, i), "weight"))
        causes += node_selector_term(as_dict(term.get("preference")), child(at(soft_path, i), "preference"), True)
    return causes


def _weight(weight, path: str) -> list[Cause]:
    value = weight if is_int(weight) else 0
    return [] if 1 <= value <= 100 else [invalid(path, value, "must be in the range 1-100")]


def node_selector(selector: dict, path: str) -> list[Cause]:
    terms_path = child(path, "nodeSelectorTerms")
    terms = as_list(selector.get("nodeSelectorTerms"))
    if not terms:
        return [required(terms_path, "must have at least one node selector term")]
    causes: list[Cause] = []
    for i, term in enumerate(map(as_dict, terms)):
        causes += node_selector_term(term, at(terms_path, i), False)
    return causes


def node_selector_term(term: dict, path: str, allow_invalid_values: bool) -> list[Cause]:
    causes: list[Cause] = []
    for j, req in enumerate(map(as_dict, as_list(term.get("matchExpressions")))):
        causes += _node_requirement(req, at(child(path, "matchExpressions"), j), allow_invalid_values)
    for j, req in enumerate(map(as_dict, as_list(term.get("matchFields")))):
        causes += _field_requirement(req, at(child(path, "matchFields"), j))
    return causes


def _node_requirement(req: dict, path: str, allow_invalid_values: bool) -> list[Cause]:
    operator, values = as_str(req.get("operator")), [as_str(v) for v in as_list(req.get("values"))]
    causes = _node_operator(operator, values, path)
    causes += validate_label_name(as_str(req.get("key")), child(path, "key"))
    if not allow_invalid_values:
        for i, value in enumerate(values):
            causes += invalid_each(at(child(path, "values"), i), value, label_value_errors(value))
    return causes


def _node_operator(operator: str, values: list, path: str) -> list[Cause]:
    if operator in ("In", "NotIn"):
        return [] if values else [required(child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'")]
    if operator in ("Exists", "DoesNotExist"):
        return [forbidden(child(path, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")] if values else []
    if operator in ("Gt", "Lt"):
        return [] if len(values) == 1 else [required(child(path, "values"), "must be specified single value when `operator` is 'Lt' or 'Gt'")]
    return [invalid(child(path, "operator"), operator, "not a valid selector operator")]


def _field_requirement(req: dict, path: str) -> list[Cause]:
    operator, values = as_str(req.get("operator")), [as_str(v) for v in as_list(req.get("values"))]
    causes: list[Cause] = []
    if operator not in ("In", "NotIn"):
        causes.append(invalid(child(path, "operator"), operator, "not a valid selector operator"))
    elif len(values) != 1:
        causes.append(required(child(path, "values"),
                               "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
    name = as_str(req.get("key"))
    if name != "metadata.name":
        return causes + [invalid(child(path, "key"), name, "not a valid field selector key")]
    for i, value in enumerate(values):
        causes += invalid_each(at(child(path, "values"), i), value, name_is_dns_subdomain(value))
    return causes


def _pod_affinity(affinity: dict, path: str) -> list[Cause]:
    causes: list[Cause] = []
    hard_path = child(path, "requiredDuringSchedulingIgnoredDuringExecution")
    for i, term in enumerate(map(as_dict, as_list(affinity.get("requiredDuringSchedulingIgnoredDuringExecution")))):
        causes += _pod_affinity_term(term, at(hard_path, i))
    soft_path = child(path, "preferredDuringSchedulingIgnoredDuringExecution")
    for i, term in enumerate(map(as_dict, as_list(affinity.get("preferredDuringSchedulingIgnoredDuringExecution")))):
        causes += _weight(term.get("weight"), child(at(soft_path, i), "weight"))
        causes += _pod_affinity_term(as_dict(term.get("podAffinityTerm")), child(at(soft_path, i), "podAffinityTerm"))
    return causes


def _pod_affinity_term(term: dict, path: str) -> list[Cause]:
    causes = validate_label_selector(term.get("labelSelector"), child(path, "labelSelector"))
    causes += validate_label_selector(term.get("namespaceSelector"), child(path, "namespaceSelector"))
    for name in map(as_str, as_list(term.get("namespaces"))):
        causes += invalid_each(child(path, "namespace"), name, name_is_dns_label(name))
    topology_key = as_str(term.get("topologyKey"))
    if not topology_key:
        causes.append(required(child(path, "topologyKey"), "can not be empty"))
    # TODO: matchLabelKeys / mismatchLabelKeys rules.
    return causes + validate_label_name(topology_key, child(path, "topologyKey"))


# --- topology spread -----------------------------------------------------------------


def validate_topology_spread(constraints, path: str) -> list[Cause]:
    items = list(map(as_dict, as_list(constraints)))
    causes: list[Cause] = []
    for i, item in enumerate(items):
        causes += _spread(item, at(path, i), items[i + 1:])
    return causes


def _spread(item: dict, path: str, rest: list) -> list[Cause]:
    skew, topology_key, when = item.get("maxSkew"), as_str(item.get("topologyKey")), as_str(item.get("whenUnsatisfiable"))
    causes = [] if is_int(skew) and skew > 0 else [invalid(child(path, "maxSkew"), skew if is_int(skew) else 0,
                                                           "must be greater than zero")]
    if not topology_key:
        causes.append(required(child(path, "topologyKey"), "can not be empty"))
    if when not in ("DoNotSchedule", "ScheduleAnyway"):
        causes.append(not_supported(child(path, "whenUnsatisfiable"), when, ("DoNotSchedule", "ScheduleAnyway")))
    if any(as_str(r.get("topologyKey")) == topology_key and as_str(r.get("whenUnsatisfiable")) == when for r in rest):
        causes.append(duplicate(child(path, "{topologyKey, whenUnsatisfiable}"), f"{{{topology_key}, {when}}}"))
    causes += _min_domains(item.get("minDomains"), when, child(path, "minDomains"))
    for name in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
        policy = item.get(name)
        if policy is not None and policy not in ("Honor", "Ignore"):
            causes.append(not_supported(child(path, name), as_str(policy), ("Honor", "Ignore")))
    return causes + validate_label_selector(item.get("labelSelector"), child(path, "labelSelector"))


def _min_domains(value, when: str, path: str) -> list[Cause]:
    if value is None:
        return []
    causes = [] if is_int(value) and value > 0 else [invalid(path, value, "must be greater than zero")]
    if when != "DoNotSchedule":
        causes.append(invalid(path, value, f"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not {when}"))
    return causes
