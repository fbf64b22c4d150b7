"""Label selectors: validation (metav1 ValidateLabelSelector) and matching.

`selector_matches(selector, labels)` follows metav1.LabelSelectorAsSelector: a None
selector matches nothing, an empty one matches everything.  `go_selector` renders a
selector the way Kubernetes prints it in "field is immutable" messages:
`v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}`.
"""

from __future__ import annotations

from tinykube.api.errors import Cause

from .fields import (
    GoRepr, as_dict, as_list, as_str, at, child, forbidden, go_quote, go_string_map, invalid,
    invalid_each, required,
)
from .meta import validate_label_name, validate_labels
from .names import label_value_errors, qualified_name_errors

SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def validate_label_selector(selector, path: str) -> list[Cause]:
    """Strict validation (AllowInvalidLabelValueInSelector off); None is valid."""
    if selector is None:
        return []
    selector = as_dict(selector)
    causes = validate_labels(selector.get("matchLabels"), child(path, "matchLabels"))
    for i, req in enumerate(as_list(selector.get("matchExpressions"))):
        causes += validate_requirement(as_dict(req), at(child(path, "matchExpressions"), i))
    return causes


def validate_requirement(req: dict, path: str) -> list[Cause]:
    operator, values = req.get("operator"), as_list(req.get("values"))
    causes: list[Cause] = []
    if operator in ("In", "NotIn") and not values:
        causes.append(required(child(path, "values"), "must be specified when `operator` is 'In' or 'NotIn'"))
    elif operator in ("Exists", "DoesNotExist") and values:
        causes.append(forbidden(child(path, "values"),
                                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
    elif operator not in SELECTOR_OPERATORS:
        causes.append(invalid(child(path, "operator"), as_str(operator), "not a valid selector operator"))
    causes += validate_label_name(as_str(req.get("key")), child(path, "key"))
    for i, value in enumerate(values):
        causes += invalid_each(at(child(path, "values"), i), value, label_value_errors(as_str(value)))
    return causes


def is_empty(selector) -> bool:
    selector = as_dict(selector)
    return not as_dict(selector.get("matchLabels")) and not as_list(selector.get("matchExpressions"))


def convertible(selector) -> bool:
    """Would LabelSelectorAsSelector succeed?"""
    selector = as_dict(selector)
    for name, value in as_dict(selector.get("matchLabels")).items():
        if qualified_name_errors(name) or label_value_errors(as_str(value)):
            return False
    return all(_requirement_ok(as_dict(r)) for r in as_list(selector.get("matchExpressions")))


def _requirement_ok(req: dict) -> bool:
    operator, values = req.get("operator"), as_list(req.get("values"))
    if operator not in SELECTOR_OPERATORS or qualified_name_errors(as_str(req.get("key"))):
        return False
    if operator in ("In", "NotIn"):
        return bool(values) and not any(label_value_errors(as_str(v)) for v in values)
    return not values


def selector_matches(selector, labels) -> bool:
    if selector is None:
        return False
    selector, labels = as_dict(selector), as_dict(labels)
    for name, value in as_dict(selector.get("matchLabels")).items():
        if labels.get(name) != value:
            return False
    return all(_requirement_matches(as_dict(r), labels) for r in as_list(selector.get("matchExpressions")))


def _requirement_matches(req: dict, labels: dict) -> bool:
    name, operator, values = as_str(req.get("key")), req.get("operator"), as_list(req.get("values"))
    present = name in labels
    if operator == "In":
        return present and labels[name] in values
    if operator == "NotIn":
        return not present or labels[name] not in values
    if operator == "Exists":
        return present
    return not present


def go_selector(selector) -> GoRepr:
    selector = as_dict(selector)
    labels = selector.get("matchLabels")
    exprs = selector.get("matchExpressions")
    rendered = ("[]v1.LabelSelectorRequirement(nil)" if exprs is None else
                "[]v1.LabelSelectorRequirement{" + ", ".join(_go_requirement(as_dict(r)) for r in as_list(exprs)) + "}")
    return GoRepr(f"v1.LabelSelector{{MatchLabels:{go_string_map(labels if labels is None else as_dict(labels))}, "
                  f"MatchExpressions:{rendered}}}")


def _go_requirement(req: dict) -> str:
    values = req.get("values")
    shown = "[]string(nil)" if values is None else "[]string{" + ", ".join(go_quote(as_str(v)) for v in as_list(values)) + "}"
    return (f"v1.LabelSelectorRequirement{{Key:{go_quote(as_str(req.get('key')))}, "
            f"Operator:{go_quote(as_str(req.get('operator')))}, Values:{shown}}}")
