"""Typed-value operations of structured-merge-diff over plain dicts and lists.

Each function walks a JSON value alongside its TypeNode (meta.py):

* `to_field_set`  – the fields a value sets (what an applier owns);
* `merge`         – an apply configuration merged into the live object;
* `compare`       – added / modified / removed paths between two values;
* `remove_items`  – a value with the paths of a set taken out;
* `validate`      – the conversion errors structured-merge-diff reports for a config;
* `with_go_zero_fields` – a value as the Go types would hold it (non-pointer structs
  and required fields always present), so that comparisons classify paths the way
  kube-apiserver's typed objects make them classify.

ABSENT marks "no value" (a missing key), distinct from JSON null.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinykube.api.patch import gojson
from tinykube.api.patch.fieldpath import FieldSet, freeze, key, path_string, pe_string
from tinykube.api.patch.meta import (DEDUCED, DEDUCED_NODE, KEY_DEFAULTS, LIST, MAP, NON_POINTER_STRUCTS,
                                     SCALAR, TOP_LEVEL_STRUCTS, TypeNode)

ABSENT = object()


class ItemKeyError(ValueError):
    """A list item that cannot be turned into a path element."""


# --- shapes -----------------------------------------------------------------------------

LEAF, GRANULAR_MAP, GRANULAR_LIST = "leaf", "map", "list"


def shape(t: TypeNode, value) -> str:
    """How the walkers treat a value of type t: as one leaf, a granular map or list."""
    if t.kind == MAP:
        return LEAF if t.atomic else GRANULAR_MAP
    if t.kind == LIST:
        return LEAF if t.atomic else GRANULAR_LIST
    if t.kind == DEDUCED:
        # Deduced types: maps are granular, lists atomic, anything else a scalar.
        return GRANULAR_MAP if (value is None or isinstance(value, dict)) and not t.atomic else LEAF
    return LEAF


def declared(t: TypeNode, name: str) -> bool:
    return t.kind == MAP and t.struct and t.has_field(name)


def child_type(t: TypeNode, name: str) -> TypeNode:
    return t.child(name) if t.kind == MAP else DEDUCED_NODE


def elem_type(t: TypeNode) -> TypeNode:
    return t.elem() if t.kind == LIST else DEDUCED_NODE


def item_pe(t: TypeNode, item, index: int):
    """The path element of a list item (listItemToPathElement)."""
    if t.list_type == "map":
        if not isinstance(item, dict):
            raise ItemKeyError("associative list with keys may not have non-map elements")
        pairs = []
        definition = elem_type(t).definition
        for name in t.keys:
            if name in item:
                pairs.append((name, item[name]))
            elif (definition, name) in KEY_DEFAULTS:
                pairs.append((name, KEY_DEFAULTS[(definition, name)]))
        if not pairs:
            keys = "[" + " ".join(gojson.go_quote(k) for k in t.keys) + "]"
            raise ItemKeyError(f"associative list with keys has an element that omits all key fields {keys} "
                               "(and doesn't have default values for any key fields)")
        return key(pairs)
    if t.list_type == "set":
        if isinstance(item, dict):
            raise ItemKeyError("associative list without keys has an element that's a map type")
        if isinstance(item, list):
            raise ItemKeyError("not supported: associative list with lists as elements")
        if item is None:
            raise ItemKeyError("associative list without keys has an element that's an explicit null")
        return ("v", freeze(item))
    return ("i", index)


def _index_items(t: TypeNode, items: list) -> tuple[list, dict]:
    """(path elements in order, first item of each); later duplicates are ignored."""
    order, seen = [], {}
    for index, item in enumerate(items):
        try:
            pe = item_pe(t, item, index)
        except ItemKeyError:
            continue
        if pe not in seen:
            seen[pe] = item
            order.append(pe)
    return order, seen


# --- field sets -------------------------------------------------------------------------


def to_field_set(value, t: TypeNode) -> FieldSet:
    """The set of fields a value sets (TypedValue.ToFieldSet)."""
    out = FieldSet()
    _collect(value, t, (), out)
    return out


def _collect(value, t: TypeNode, path: tuple, out: FieldSet) -> None:
    kind = shape(t, value)
    if kind == LEAF:
        out.insert(path)
    elif kind == GRANULAR_MAP and isinstance(value, dict):
        for name, child in value.items():
            child_path = path + (("f", name),)
            _collect(child, child_type(t, name), child_path, out)
            if not declared(t, name):
                out.insert(child_path)  # map entries (not struct fields) own themselves
    elif kind == GRANULAR_LIST and isinstance(value, list):
        elem = elem_type(t)
        for index, item in enumerate(value):
            item_path = path + (item_pe(t, item, index),)
            _collect(item, elem, item_path, out)
            out.insert(item_path)


def with_named_fields(s: FieldSet, t: TypeNode) -> FieldSet:
    """EnsureNamedFieldsAreMembers: struct fields that have children count as members."""
    out = FieldSet(s.members)
    for pe, child in s.children.items():
        if pe[0] == "f":
            if declared(t, pe[1]):
                out.members.add(pe)
            sub = child_type(t, pe[1])
        elif pe[0] == "k":
            sub = elem_type(t)
        else:
            sub = DEDUCED_NODE
        out.children[pe] = with_named_fields(child, sub)
    return out


# --- merge ------------------------------------------------------------------------------


def merge(lhs, rhs, t: TypeNode):
    """rhs (an apply configuration) merged over lhs (the live object)."""
    if rhs is ABSENT:
        return lhs
    if lhs is ABSENT:
        return rhs
    kind = shape(t, rhs)
    if kind != shape(t, lhs) or kind == LEAF:
        return rhs
    if kind == GRANULAR_MAP:
        left = lhs if isinstance(lhs, dict) else None
        right = rhs if isinstance(rhs, dict) else None
        if not left and not right:
            return rhs  # both empty or null: a leaf, the config's form wins
        out = {}
        for name in _union_keys(left, right):
            merged = merge((left or {}).get(name, ABSENT), (right or {}).get(name, ABSENT), child_type(t, name))
            if merged is not ABSENT:
                out[name] = merged
        return out
    left = lhs if isinstance(lhs, list) else None
    right = rhs if isinstance(rhs, list) else None
    if not left and not right:
        return rhs
    return _merge_items(left or [], right or [], t)


def _union_keys(left: dict | None, right: dict | None) -> list:
    keys = list(left or {})
    keys.extend(k for k in (right or {}) if k not in (left or {}))
    return keys


def _merge_items(lhs: list, rhs: list, t: TypeNode) -> list:
    """Merge list items by key: live-only items stay put, shared ones follow the config."""
    elem = elem_type(t)
    lpes, lobs = _index_items(t, lhs)
    rpes, robs = _index_items(t, rhs)
    shared = [pe for pe in rpes if pe in lobs]
    next_shared = shared.pop(0) if shared else None
    merged_rhs, out = set(), []
    li = ri = 0
    while li < len(lpes) or ri < len(rpes):
        if li < len(lpes) and ri < len(rpes):
            pe = lpes[li]
            if pe == rpes[ri]:
                merged_rhs.add(pe)
                out.append(merge(lobs[pe], robs[pe], elem))
                li, ri = li + 1, ri + 1
                next_shared = shared.pop(0) if shared else None
                continue
            if pe in robs and next_shared is not None and next_shared != pe:
                li += 1  # a shared item, but not the one due now: it comes with the config
                continue
        if li < len(lpes):
            pe = lpes[li]
            if pe not in robs:
                out.append(lobs[pe])
                li += 1
                continue
            if pe in merged_rhs:
                li += 1
                continue
        if ri < len(rpes):
            pe = rpes[ri]
            merged_rhs.add(pe)
            out.append(merge(lobs.get(pe, ABSENT), robs[pe], elem))
            ri += 1
            if next_shared is not None and next_shared == pe:
                next_shared = shared.pop(0) if shared else None
    return out


# --- compare ----------------------------------------------------------------------------


@dataclass
class Comparison:
    added: FieldSet = field(default_factory=FieldSet)
    modified: FieldSet = field(default_factory=FieldSet)
    removed: FieldSet = field(default_factory=FieldSet)

    def without(self, ignored: FieldSet) -> "Comparison":
        return Comparison(self.added.recursive_difference(ignored),
                          self.modified.recursive_difference(ignored),
                          self.removed.recursive_difference(ignored))


def compare(lhs, rhs, t: TypeNode) -> Comparison:
    """What changed from lhs to rhs (TypedValue.Compare)."""
    out = Comparison()
    _compare(lhs, rhs, t, (), out)
    return out


def _compare(lhs, rhs, t: TypeNode, path: tuple, out: Comparison) -> None:
    if FAST_PATHS:
        if lhs is ABSENT:
            _one_sided(rhs, t, path, out.added)
            return
        if rhs is ABSENT:
            _one_sided(lhs, t, path, out.removed)
            return
    kind = shape(t, lhs if rhs is ABSENT else rhs)
    if lhs is not ABSENT and rhs is not ABSENT and shape(t, lhs) != kind:
        kind = LEAF
    left = _container(lhs, kind)
    right = _container(rhs, kind)
    if kind == LEAF or (not left and not right):
        _compare_leaf(lhs, rhs, path, out)
        return
    if kind == GRANULAR_MAP:
        for name in _union_keys(left, right):
            _compare((left or {}).get(name, ABSENT), (right or {}).get(name, ABSENT),
                     child_type(t, name), path + (("f", name),), out)
    else:
        lpes, lobs = _index_items(t, left or [])
        rpes, robs = _index_items(t, right or [])
        elem = elem_type(t)
        for pe in lpes + [pe for pe in rpes if pe not in lobs]:
            _compare(lobs.get(pe, ABSENT), robs.get(pe, ABSENT), elem, path + (pe,), out)
    # A whole map or list (item) appearing or vanishing is itself added or removed.
    if lhs is ABSENT:
        out.added.insert(path)
    elif rhs is ABSENT:
        out.removed.insert(path)


def _one_sided(value, t: TypeNode, path: tuple, into: FieldSet) -> None:
    """_compare with one side absent: every path of `value` is added (or removed).

    The same walk, in the same order, building the subtree below `path` directly
    instead of inserting each path from the root."""
    into.insert(path, _subtree(value, t))


def _subtree(value, t: TypeNode) -> FieldSet | None:
    """The paths below a granular value, relative to it (None: a leaf or empty)."""
    kind = shape(t, value)
    container = _container(value, kind)
    if kind == LEAF or not container:
        return None
    members: set = set()
    children: dict = {}
    if kind == GRANULAR_MAP:
        for name, child in container.items():
            pe = ("f", name)
            members.add(pe)
            if isinstance(child, (dict, list)):  # anything else is a leaf here
                below = _subtree(child, child_type(t, name))
                if below is not None:
                    children[pe] = below
    else:
        pes, obs = _index_items(t, container)
        elem = elem_type(t)
        for pe in pes:
            members.add(pe)
            below = _subtree(obs[pe], elem)
            if below is not None:
                children[pe] = below
    return FieldSet._owning(members, children)


def _container(value, kind: str):
    if value is ABSENT:
        return None
    if kind == GRANULAR_MAP:
        return value if isinstance(value, dict) else None
    if kind == GRANULAR_LIST:
        return value if isinstance(value, list) else None
    return None


def _compare_leaf(lhs, rhs, path: tuple, out: Comparison) -> None:
    if lhs is ABSENT:
        out.added.insert(path)
    elif rhs is ABSENT:
        out.removed.insert(path)
    elif not json_equal(lhs, rhs):
        out.modified.insert(path)


def json_equal(a, b) -> bool:
    """value.Equals: numbers compare numerically, booleans are not numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)):
        return isinstance(b, (int, float)) and a == b
    return type(a) is type(b) and a == b


# --- remove -----------------------------------------------------------------------------

EMPTIED = object()  # a map or list the removal left empty (Go: a nil value)


def remove_items(value, to_remove: FieldSet, t: TypeNode, drop_emptied: bool = False):
    """`value` without the paths of `to_remove` (TypedValue.RemoveItems).

    Containers left empty become null, as upstream; with drop_emptied, they disappear
    from their parent instead, as decoding into the Go types would make them.
    """
    result = _remove(value, to_remove, t, drop_emptied)
    if result is EMPTIED:
        return {} if drop_emptied or isinstance(value, dict) else None
    return result


def _remove(value, to_remove: FieldSet, t: TypeNode, drop: bool):
    kind = shape(t, value)
    if kind == LEAF and t.kind not in (MAP, LIST):
        return value
    if kind == LEAF or not value:
        return EMPTIED  # atomic or empty containers on a removal path come out nil
    if kind == GRANULAR_MAP:
        return _remove_from_map(value, to_remove, t, drop) if isinstance(value, dict) else value
    return _remove_from_list(value, to_remove, t, drop) if isinstance(value, list) else value


def _remove_from_map(value: dict, to_remove: FieldSet, t: TypeNode, drop: bool):
    out = {}
    for name, child in value.items():
        pe = ("f", name)
        if pe in to_remove.members:
            continue
        sub = to_remove.children.get(pe)
        if sub is not None and not sub.empty():
            child = _remove(child, sub, child_type(t, name), drop)
        if child is EMPTIED:
            if drop:
                continue
            child = None
        out[name] = child
    return out if out else EMPTIED


def _remove_from_list(value: list, to_remove: FieldSet, t: TypeNode, drop: bool):
    elem = elem_type(t)
    items = []
    for index, item in enumerate(value):
        try:
            pe = item_pe(t, item, index)
        except ItemKeyError:
            items.append(item)
            continue
        if pe in to_remove.members:
            continue
        sub = to_remove.children.get(pe)
        if sub is not None and not sub.empty():
            item = _remove(item, sub, elem, drop)
        if item is EMPTIED:
            item = {} if drop else None
        items.append(item)
    return items if items else EMPTIED


# --- validation -------------------------------------------------------------------------


def validate(value, t: TypeNode) -> list[str]:
    """The errors converting `value` to its type gives, as "path: message" strings."""
    errs: list[str] = []
    _validate(value, t, (), errs)
    return errs


def _validate(value, t: TypeNode, path: tuple, errs: list) -> None:
    if value is None:
        return
    where = path_string(path)
    if t.kind == DEDUCED:
        if isinstance(value, dict):
            for name, child in value.items():
                _validate(child, DEDUCED_NODE, path + (("f", name),), errs)
        return
    if t.kind == SCALAR:
        problem = _scalar_problem(t.scalar, value)
        if problem:
            errs.append(f"{where}: {problem}")
        return
    if t.kind == MAP:
        if not isinstance(value, dict):
            errs.append(f"{where}: expected map, got &{{{gojson.go_v(value)}}}")
            return
        for name, child in value.items():
            _validate(child, child_type(t, name), path + (("f", name),), errs)
        return
    if not isinstance(value, list):
        errs.append(f"{where}: expected list, got &{{{gojson.go_v(value)}}}")
        return
    _validate_items(value, t, path, errs)


def _validate_items(items: list, t: TypeNode, path: tuple, errs: list) -> None:
    where = path_string(path)
    seen = set()
    for index, item in enumerate(items):
        try:
            pe = item_pe(t, item, index)
        except ItemKeyError as exc:
            errs.append(f"{where}: element {index}: {exc}")
            continue
        if pe in seen:
            errs.append(f"{where}: duplicate entries for key {pe_string(pe)}")
        seen.add(pe)
        _validate(item, elem_type(t), path + (pe,), errs)


def _scalar_problem(kind: str, value) -> str:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "numeric" and not is_number:
        return f"expected numeric (int or float), got {gojson.go_type_name(value)}"
    if kind == "string" and not isinstance(value, str):
        return f"expected string, got &value.valueUnstructured{{Value:{gojson.go_sharp_v(value)}}}"
    if kind == "boolean" and not isinstance(value, bool):
        return f"expected boolean, got &{{{gojson.go_v(value)}}}"
    if kind == "untyped" and isinstance(value, (dict, list)):
        return f"expected any scalar, got &{{{gojson.go_v(value)}}}"
    return ""


# --- Go zero values ---------------------------------------------------------------------


def with_go_zero_fields(value, t: TypeNode, top_level: bool = True):
    """A copy of `value` with the fields the Go types always carry filled in.

    Non-pointer struct fields are `{}` and required (non-omitempty) fields are null in
    a Go object even when unset, so upstream's diff never reports them as added as a
    whole. Only used for comparisons; never returned to clients.
    """
    if FAST_PATHS and not top_level and not _adds_zero_fields(t):
        return value  # nothing to fill in below: the value itself compares the same
    if t.kind == MAP and isinstance(value, dict) and not t.atomic:
        # scalars come back as they are: no need to look up their types
        out = {name: with_go_zero_fields(child, child_type(t, name), False)
               if isinstance(child, (dict, list)) else child for name, child in value.items()}
        if t.struct:
            structs = NON_POINTER_STRUCTS.get(t.definition, ())
            if top_level:
                structs = structs + tuple(n for n in TOP_LEVEL_STRUCTS if t.has_field(n))
            for name in structs:
                if name not in out:
                    out[name] = with_go_zero_fields({}, child_type(t, name), False)
            for name in t.required:
                out.setdefault(name, None)
        return out
    if t.kind == LIST and isinstance(value, list) and not t.atomic:
        elem = elem_type(t)
        return [with_go_zero_fields(item, elem, False) if isinstance(item, (dict, list)) else item
                for item in value]
    return value


FAST_PATHS = True  # tests turn the shortcuts off to compare outputs with the plain path
_zero_needed: dict[int, tuple[TypeNode, bool]] = {}  # id(type) -> (the type, kept alive; answer)


def _adds_zero_fields(t: TypeNode) -> bool:
    """Whether with_go_zero_fields could add anything below a (non-top-level) t: a pure
    function of the (long-lived) type, so remembered. Recursive types count as yes."""
    hit = _zero_needed.get(id(t))
    if hit is not None and hit[0] is t:
        return hit[1]
    _zero_needed[id(t)] = (t, True)  # while deciding: a cycle back here answers yes
    answer = _decide_zero_fields(t)
    _zero_needed[id(t)] = (t, answer)
    return answer


def _decide_zero_fields(t: TypeNode) -> bool:
    if t.kind == MAP and not t.atomic:
        if t.struct and (NON_POINTER_STRUCTS.get(t.definition) or t.required):
            return True
        names = ((t._schema or {}).get("properties") or {}) if t.struct else {}
        return any(_adds_zero_fields(t.child(name)) for name in names) or _adds_zero_fields(t.elem())
    if t.kind == LIST and not t.atomic:
        return _adds_zero_fields(elem_type(t))
    return False
