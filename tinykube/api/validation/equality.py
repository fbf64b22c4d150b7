"""Semantic equality of plain-dict objects, as apiequality.Semantic.DeepEqual sees Go structs.

Kubernetes compares typed structs, where an absent field, null, an empty list and an
empty map are all the same value, and quantities compare by amount ("1000m" == "1").
`normalize` maps a dict to that view; `diff` renders a short, cmp.Diff-like listing of
the top-level fields that differ, for "may not change fields other than ..." messages.
"""

from __future__ import annotations

import json

from . import quantity

_QUANTITY_MAPS = ("limits", "requests", "overhead", "capacity", "allocatable")


def normalize(value, parent: str = ""):
    if isinstance(value, dict):
        out = {}
        for name, item in value.items():
            item = normalize(item, name)
            if item not in (None, [], {}):
                out[name] = item
        return out
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if parent in ("sizeLimit",):
        return _quantity_or_raw(value)
    return value


def _normalize_quantity_map(value: dict) -> dict:
    return {name: _quantity_or_raw(item) for name, item in value.items()}


def _quantity_or_raw(value):
    try:
        return ("quantity", quantity.parse_quantity(value))
    except ValueError:
        return value


def semantic_equal(a, b) -> bool:
    return _prepare(a) == _prepare(b)


def _prepare(value, parent: str = ""):
    value = normalize(value, parent)
    return _quantities(value)


def _quantities(value, parent: str = ""):
    if isinstance(value, dict):
        if parent in _QUANTITY_MAPS:
            return _normalize_quantity_map(value)
        return {name: _quantities(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [_quantities(item) for item in value]
    return value


def diff(old: dict, new: dict, type_name: str) -> str:
    """A short diff of the differing top-level fields, Go-style field names."""
    old, new = _prepare(old or {}), _prepare(new or {})
    lines = [f"  {type_name}{{"]
    for name in sorted(set(old) | set(new)):
        if old.get(name) != new.get(name):
            field = name[:1].upper() + name[1:]
            lines.append(f"- \t{field}: {_short(old.get(name))},")
            lines.append(f"+ \t{field}: {_short(new.get(name))},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _short(value) -> str:
    if value is None:
        return "nil"
    text = json.dumps(value, sort_keys=True, default=str, separators=(", ", ": "))
    return text if len(text) <= 200 else text[:197] + "..."
