"""Strategic merge patch, as kube-apiserver applies it (apimachinery's StrategicMergeMapPatch).

Maps merge recursively and `null` deletes a key. Lists follow their field's patch
strategy: "merge" lists of maps merge item by item on the merge key (containers by
name, ports by containerPort, ...), "merge" lists of scalars are unioned, every other
list is replaced. Directives refine this: `$patch: replace|delete` on maps and list
items, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`
(the order kubectl wants the merged list in).

The list ordering reproduces upstream exactly, including its surprises (an item the
patch adds to a merge list lands *before* the items the patch does not mention), so
it ports Go's stable sort too: the comparator upstream uses is not a strict weak
order, and only the same algorithm gives the same result.

Values the patch inserts wholesale (a key the object lacks, a replaced list, a new
list item) have their null members dropped, as decoding into the Go types would.
Fields the schema does not describe merge as plain maps, lists replace.
"""

from __future__ import annotations

import copy

from tinykube.api import errors
from tinykube.api.patch import gojson
from tinykube.api.patch.meta import NO_META, PatchField, PatchMeta

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_PRIMITIVE = "$deleteFromPrimitiveList"
SET_ORDER = "$setElementOrder"

# apimachinery/pkg/util/mergepatch error texts
ERR_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_SET_ORDER = "invalid patch format of setElementOrder list"
ERR_LIST_OF_LISTS = "lists of lists are not supported"
UNPROCESSABLE = "the server rejected our request due to an error in our request"

_MISSING = object()


class PatchError(Exception):
    """A plain Go error: kube-apiserver answers 500."""


class BadPatch(PatchError):
    """A mergepatch format error kube-apiserver maps to 400."""


class UnprocessablePatch(PatchError):
    """A mergepatch error kube-apiserver maps to a generic 422."""


def apply(original: dict, patch_body: bytes, meta: PatchMeta | None) -> dict:
    """Apply a strategic merge patch to a copy of `original`."""
    try:
        patch = gojson.loads(patch_body)
    except gojson.GoJSONError as exc:
        raise errors.BadRequest(str(exc)) from None
    doc = copy.deepcopy(original)
    if patch is None:
        return doc
    if not isinstance(patch, dict):
        raise errors.BadRequest(str(gojson.type_error(patch, "map[string]interface {}")))
    try:
        return merge_map(doc, patch, meta)
    except BadPatch as exc:
        raise errors.BadRequest(str(exc)) from None
    except UnprocessablePatch:
        raise errors.Invalid(UNPROCESSABLE) from None
    except PatchError as exc:
        raise gojson.UnknownError(str(exc)) from None


# --- maps -------------------------------------------------------------------------------


def merge_map(original: dict | None, patch: dict, meta: PatchMeta | None) -> dict:
    """Merge `patch` into `original` (mutated and returned)."""
    if DIRECTIVE in patch:
        return _map_directive(patch[DIRECTIVE], patch)
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, meta)
    for key, value in list(patch.items()):
        is_delete_list = key.startswith(DELETE_PRIMITIVE)
        if is_delete_list:
            key = _extract_key(key, DELETE_PRIMITIVE, ERR_BAD_PRIMITIVE_LIST)
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _go_type(original[key]) != _go_type(value):
            # Nothing to merge with (this includes a deletion list for a missing field:
            # upstream stores the list itself).
            original[key] = _inserted(value)
            continue
        original[key] = _merge_value(original[key], value, _lookup(meta, key), is_delete_list)
    return original


def _merge_value(current, value, field: PatchField, is_delete_list: bool):
    if isinstance(current, dict):
        if field.strategy == "replace":
            return _inserted(value)
        return merge_map(current, value, field.meta)
    if isinstance(current, list):
        if field.strategy == "merge":
            return merge_list(current, value, field, is_delete_list)
        return _inserted(value)
    return value


def _lookup(meta: PatchMeta | None, key: str) -> PatchField:
    return meta.lookup(key) if meta is not None else NO_META


def _map_directive(directive, patch: dict) -> dict:
    if directive == "replace":
        return _inserted({k: v for k, v in patch.items() if k != DIRECTIVE})
    if directive == "delete":
        return {}
    raise PatchError(f"unknown patch type: {_go_s(directive)} in map: {gojson.go_v(patch)}")


def _apply_retain_keys(original: dict, patch: dict) -> None:
    """`$retainKeys`: drop every key of original not listed (patch keys must be listed)."""
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise BadPatch(ERR_BAD_RETAIN_KEYS)
    keep = {k for k in retain if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith(DELETE_PRIMITIVE) or key.startswith(SET_ORDER):
            continue
        if key not in keep:
            raise BadPatch(ERR_BAD_RETAIN_KEYS)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _extract_key(key: str, prefix: str, error_text: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise BadPatch(error_text)
    return rest


def _inserted(value):
    """A patch value stored as is: its null members vanish as Go decoding drops them."""
    if isinstance(value, dict):
        return {k: _inserted(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_inserted(v) for v in value]
    return value


# --- $setElementOrder -------------------------------------------------------------------


def _merge_ordered_lists(original: dict, patch: dict, meta: PatchMeta | None) -> None:
    """Merge each list that has a `$setElementOrder/<field>` and put it in that order."""
    for directive_key in [k for k in patch if k.startswith(SET_ORDER)]:
        order = patch.pop(directive_key)
        if not isinstance(order, list):
            raise PatchError(_bad_arg_type("[]interface {}", order))
        name = _extract_key(directive_key, SET_ORDER, ERR_BAD_SET_ORDER)
        current = _list_or_missing(original, name)
        patched = _list_or_missing(patch, name)
        field = _lookup(meta, name)
        _validate_set_order([] if patched is _MISSING else patched, order, field.merge_key)
        if current is _MISSING and patched is _MISSING:
            continue
        if patched is _MISSING:
            merged = current
        elif current is _MISSING:
            merged = _inserted(patched)
        elif field.strategy == "merge":
            merged = merge_list(current, patched, field, False)
        else:
            merged = _inserted(patched)
        if field.merge_key:
            in_order, server_only = _partition_maps(merged, order, field.merge_key)
        else:
            in_order, server_only = _partition_scalars(merged, order)
        server_order = [] if current is _MISSING else current
        kind = _element_kind(server_order, [] if patched is _MISSING else patched)
        original[name] = _normalize_order(in_order, server_only, order, server_order, field.merge_key, kind)
        patch.pop(name, None)


def _list_or_missing(container: dict, name: str):
    if name not in container:
        return _MISSING
    value = container[name]
    if not isinstance(value, list):
        raise PatchError(_bad_arg_type("[]interface {}", value))
    return value


def _validate_set_order(patch_list: list, order: list, merge_key: str) -> None:
    """The patch list must be a subsequence of the order list (deletions aside)."""
    if not order or not patch_list:
        return
    items = _split_deletions(patch_list)[0] if merge_key else patch_list
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and DIRECTIVE in items[p]:
            p += 1
            continue
        if _merge_key_equal(items[p], order[s], merge_key):
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError(f"The order in patch list:\n{gojson.go_v(patch_list)}\n doesn't match "
                         f"{SET_ORDER} list:\n{gojson.go_v(order)}\n")


def _merge_key_equal(left, right, merge_key: str) -> bool:
    if not merge_key:
        return _go_eq(left, right)
    for item in (left, right):
        if not isinstance(item, dict):
            raise PatchError(_bad_arg_type("map[string]interface {}", item))
        if merge_key not in item:
            raise PatchError(_no_merge_key(item, merge_key))
    return _go_eq(left[merge_key], right[merge_key])


# --- lists ------------------------------------------------------------------------------


def merge_list(original: list, patch: list, field: PatchField, is_delete_list: bool) -> list:
    """Merge a list whose patch strategy is "merge"."""
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    merge_key = field.merge_key
    if kind != "map":
        if is_delete_list:
            return _delete_scalars(original, patch)
        merged = _dedupe_scalars(original + patch)
    else:
        if not merge_key:
            raise PatchError("cannot merge lists without merge key for type struct")
        original, patch = _apply_item_directives(original, patch, merge_key)
        merged = _merge_items(original, patch, merge_key, field.meta)
    if merge_key:
        in_patch, server_only = _partition_maps(merged, patch, merge_key)
    else:
        in_patch, server_only = _partition_scalars(merged, patch)
    return _normalize_order(in_patch, server_only, patch, original, merge_key, kind)


def _apply_item_directives(original: list, patch: list, merge_key: str) -> tuple[list, list]:
    """Handle `$patch: delete|replace` items; returns (original, patch without them)."""
    plain = []
    replace = False
    for item in patch:
        directive = item.get(DIRECTIVE, _MISSING)
        if directive is _MISSING:
            plain.append(item)
        elif directive == "delete":
            if merge_key not in item:
                raise PatchError(_no_merge_key(item, merge_key))
            original = _delete_matching(original, merge_key, item[merge_key])
        elif directive == "replace":
            replace = True  # keep scanning: later delete items are dropped too
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown patch type: {_go_s(directive)} in map: {gojson.go_v(item)}")
    if replace:
        return [_inserted(item) for item in plain], []
    return original, plain


def _delete_matching(items: list, merge_key: str, value) -> list:
    remaining = list(items)
    while (index := _find_by_key(remaining, merge_key, value)) is not None:
        del remaining[index]
    return remaining


def _merge_items(original: list, patch: list, merge_key: str, meta: PatchMeta | None) -> list:
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise PatchError(_no_merge_key(item, merge_key))
        index = _find_by_key(merged, merge_key, item[merge_key])
        if index is None:
            merged.append(_inserted(item))
        else:
            merged[index] = merge_map(merged[index], item, meta)
    return merged


def _find_by_key(items: list, merge_key: str, value) -> int | None:
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise PatchError(f"value for key {index} is not a map.")
        if merge_key in item and _go_eq(item[merge_key], value):
            return index
    return None


def _delete_scalars(current: list, to_delete: list) -> list:
    doomed = {_hash_key(v) for v in to_delete}
    return [v for v in current if _hash_key(v) not in doomed]


def _dedupe_scalars(items: list) -> list:
    """Upstream's in-place dedupe: a duplicate is overwritten by the last element."""
    s = list(items)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if _go_eq(s[i], s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def _partition_scalars(items: list, by: list) -> tuple[list, list]:
    wanted = {_hash_key(v) for v in by}
    return ([v for v in items if _hash_key(v) in wanted],
            [v for v in items if _hash_key(v) not in wanted])


def _partition_maps(items: list, by: list, merge_key: str) -> tuple[list, list]:
    in_by, others = [], []
    for item in items:
        if not isinstance(item, dict):
            raise PatchError(_bad_arg_type("map[string]interface {}", item))
        if merge_key not in item:
            raise PatchError(_no_merge_key(item, merge_key))
        found = _find_by_key(by, merge_key, item[merge_key]) is not None
        (in_by if found else others).append(item)
    return in_by, others


# --- ordering ---------------------------------------------------------------------------


def _normalize_order(in_patch: list, server_only: list, patch_order: list, server_order: list,
                     merge_key: str, kind: str) -> list:
    """Order patch items by the patch, server-only items by the server, then interleave."""
    in_patch = _sort_by(in_patch, patch_order, merge_key, kind)
    server_only = _sort_by(server_only, server_order, merge_key, kind)
    return _merge_sorted(server_only, in_patch, server_order, merge_key, kind)


def _sort_by(items: list, order: list, merge_key: str, kind: str) -> list:
    deletions = []
    if kind == "map":
        for item in list(items) + list(order):
            if not isinstance(item, dict):
                raise PatchError(_bad_arg_type("map[string]interface {}", item))
            if merge_key not in item:
                raise PatchError(_no_merge_key(item, merge_key))
        items, deletions = _split_deletions(items)

    def less(a, b) -> bool:
        ia = _position(order, a, merge_key, kind)
        if ia >= 0:
            ib = _position(order, b, merge_key, kind)
            if ib >= 0:
                return ia < ib
        return True  # upstream's comparator; only Go's algorithm gives Go's order

    return go_stable_sort(list(items), less) + deletions


def _split_deletions(items: list) -> tuple[list, list]:
    keep, deletions = [], []
    for item in items:
        if not isinstance(item, dict):
            raise PatchError(_bad_arg_type("map[string]interface {}", item))
        (deletions if item.get(DIRECTIVE) == "delete" else keep).append(item)
    return keep, deletions


def _position(items: list, value, merge_key: str, kind: str) -> int:
    def key_of(item):
        if kind == "map":
            return item.get(merge_key) if isinstance(item, dict) else None
        return item

    wanted = key_of(value)
    for index, item in enumerate(items):
        if _go_eq(wanted, key_of(item)):
            return index
    return -1


def _merge_sorted(left: list, right: list, server_order: list, merge_key: str, kind: str) -> list:
    """Insert server-only items (left) among patch items (right) by server order."""
    out, i, j = [], 0, 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _position(server_order, left[i], merge_key, kind)
            ri = _position(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def go_stable_sort(data: list, less) -> list:
    """Go's sort.SliceStable: insertion-sorted blocks of 20, then SymMerge passes."""
    n = len(data)
    block = 20
    a, b = 0, block
    while b <= n:
        _insertion_sort(data, less, a, b)
        a, b = b, b + block
    _insertion_sort(data, less, a, n)
    while block < n:
        a, b = 0, 2 * block
        while b <= n:
            _sym_merge(data, less, a, a + block, b)
            a, b = b, b + 2 * block
        if a + block < n:
            _sym_merge(data, less, a, a + block, n)
        block *= 2
    return data


def _insertion_sort(data: list, less, a: int, b: int) -> None:
    for i in range(a + 1, b):
        j = i
        while j > a and less(data[j], data[j - 1]):
            data[j], data[j - 1] = data[j - 1], data[j]
            j -= 1


def _sym_merge(data: list, less, a: int, m: int, b: int) -> None:
    if m - a == 1:
        i, j = m, b
        while i < j:
            h = (i + j) >> 1
            if less(data[h], data[a]):
                i = h + 1
            else:
                j = h
        for k in range(a, i - 1):
            data[k], data[k + 1] = data[k + 1], data[k]
        return
    if b - m == 1:
        i, j = a, m
        while i < j:
            h = (i + j) >> 1
            if not less(data[m], data[h]):
                i = h + 1
            else:
                j = h
        for k in range(m, i, -1):
            data[k], data[k - 1] = data[k - 1], data[k]
        return
    mid = (a + b) >> 1
    n = mid + m
    if m > mid:
        start, r = n - b, mid
    else:
        start, r = a, m
    p = n - 1
    while start < r:
        c = (start + r) >> 1
        if not less(data[p - c], data[c]):
            start = c + 1
        else:
            r = c
    end = n - start
    if start < m < end:
        _rotate(data, start, m, end)
    if a < start < mid:
        _sym_merge(data, less, a, start, mid)
    if mid < end < b:
        _sym_merge(data, less, mid, end, b)


def _rotate(data: list, a: int, m: int, b: int) -> None:
    i, j = m - a, b - m
    while i != j:
        if i > j:
            _swap_range(data, m - i, m, j)
            i -= j
        else:
            _swap_range(data, m - i, m + j - i, i)
            j -= i
    _swap_range(data, m - i, m, i)


def _swap_range(data: list, a: int, b: int, n: int) -> None:
    for k in range(n):
        data[a + k], data[b + k] = data[b + k], data[a + k]


# --- Go value semantics -----------------------------------------------------------------


def _go_type(value):
    """reflect.TypeOf of a decoded value (ints and floats are distinct types)."""
    if value is None:
        return None
    name = gojson.go_type_name(value)
    return {"map[string]interface {}": "map", "[]interface {}": "slice"}.get(name, name)


def _go_eq(a, b) -> bool:
    """Go interface equality: same dynamic type and value."""
    return _go_type(a) == _go_type(b) and a == b


def _hash_key(value):
    if isinstance(value, (dict, list)):
        return ("json", gojson.go_json(value))
    return (_go_type(value), value)


def _element_kind(*lists: list) -> str:
    """The one element type of the lists: "map" or a scalar type; errors like upstream."""
    kind = _MISSING
    for items in lists:
        for item in items:
            this = _go_type(item)
            if kind is _MISSING:
                kind = this
                if this == "slice":
                    raise UnprocessablePatch(ERR_LIST_OF_LISTS)
            elif kind != this:
                raise PatchError(f"list element types are not identical: {gojson.go_v(list(lists))}")
    if kind is _MISSING:
        raise PatchError("no elements in any of the given slices")
    return kind or "nil"


def _bad_arg_type(expected: str, actual) -> str:
    actual_type = "%!s(<nil>)" if actual is None else gojson.go_type_name(actual)
    return f"expected a {expected}, but received a {actual_type}"


def _no_merge_key(item: dict, merge_key: str) -> str:
    return f"map: {gojson.go_v(item)} does not contain declared merge key: {merge_key}"


def _go_s(value) -> str:
    """fmt's %s of a decoded value."""
    if isinstance(value, str):
        return value
    if value is None:
        return "%!s(<nil>)"
    return f"%!s({gojson.go_type_name(value)}={gojson.go_v(value)})"
