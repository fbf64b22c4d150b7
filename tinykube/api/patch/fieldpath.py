"""Field paths and field sets, as sigs.k8s.io/structured-merge-diff (fieldpath) has them.

A path element (PE) is one of:

* ("f", name)                      a field of a map        -> "f:name"
* ("k", ((key, value), ...))       an item of a list-map   -> 'k:{"name":"app"}'
* ("v", value)                     an item of a set        -> 'v:"example.com/x"'
* ("i", index)                     an item of an atomic or deduced list -> "i:0"

Values inside PEs are "frozen" (hashable) JSON values. A FieldSet is a tree: `members`
are the paths that end at this node, `children` continue below. The FieldsV1 encoding
puts "." first (the node itself is a member) and then every element in structured-merge-
diff's order (fields, then keys, then values, then indices), which we must reproduce
byte for byte because kubectl shows managedFields as they are stored.
"""

from __future__ import annotations

import json

from tinykube.api.patch import gojson

# --- frozen values ----------------------------------------------------------------------


def freeze(value):
    """A hashable, type-tagged form of a JSON value (True and 1 stay distinct)."""
    if value is None:
        return ("z",)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if isinstance(value, list):
        return ("l", tuple(freeze(v) for v in value))
    return ("m", tuple(sorted((k, freeze(v)) for k, v in value.items())))


def thaw(frozen):
    tag = frozen[0]
    if tag == "z":
        return None
    if tag == "l":
        return [thaw(v) for v in frozen[1]]
    if tag == "m":
        return {k: thaw(v) for k, v in frozen[1]}
    return frozen[1]


_VALUE_RANK = {"n": 0, "s": 1, "b": 2, "l": 3, "m": 4, "z": 5}


def value_order(frozen):
    """Sort key of value.Compare: numbers < strings < booleans < lists < maps < null."""
    tag = frozen[0]
    if tag == "l":
        return (3, tuple(value_order(v) for v in frozen[1]))
    if tag == "m":
        return (4, tuple((k, value_order(v)) for k, v in frozen[1]))
    if tag == "z":
        return (5,)
    return (_VALUE_RANK[tag], frozen[1])


def value_to_string(frozen) -> str:
    """value.ToString, used in conflict paths: strings quoted, maps as k=v."""
    tag = frozen[0]
    if tag == "z":
        return "null"
    if tag == "s":
        return gojson.go_quote(frozen[1])
    if tag == "b":
        return "true" if frozen[1] else "false"
    if tag == "n":
        return gojson.go_float(frozen[1]) if isinstance(frozen[1], float) else str(frozen[1])
    if tag == "l":
        return "[" + ",".join(value_to_string(v) for v in frozen[1]) + "]"
    return "".join(f"{k}={value_to_string(v)}" for k, v in frozen[1])


# --- path elements ----------------------------------------------------------------------

_PE_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def field(name: str):
    return ("f", name)


def key(pairs) -> tuple:
    """A list-map item PE from (name, value) pairs; key fields are kept sorted by name."""
    return ("k", tuple(sorted(((n, freeze(v)) for n, v in pairs), key=lambda p: p[0])))


def pe_order(pe):
    """Sort key of PathElement.Compare."""
    tag, payload = pe
    if tag == "k":
        return (1, tuple((n, value_order(v)) for n, v in payload))
    if tag == "v":
        return (2, value_order(payload))
    return (_PE_RANK[tag], payload)


def pe_string(pe) -> str:
    """PathElement.String, as conflicts print paths."""
    tag, payload = pe
    if tag == "f":
        return "." + payload
    if tag == "k":
        return "[" + ",".join(f"{n}={value_to_string(v)}" for n, v in payload) + "]"
    if tag == "v":
        return f"[={value_to_string(payload)}]"
    return f"[{payload}]"


def path_string(path) -> str:
    return "".join(pe_string(pe) for pe in path)


# Key and value PEs recur on every write (the same containers, conditions, ports), and
# encoding them is costly. Only PEs whose values are strings, booleans or null are
# remembered: numbers hash alike across types (1 == 1.0) yet encode differently.
_serialized: dict = {}
_SERIALIZED_MAX = 8192


def serialize_pe(pe) -> str:
    tag, payload = pe
    if tag == "f":
        return "f:" + payload
    text = _serialized.get(pe)
    if text is not None:
        return text
    text = _serialize_pe(tag, payload)
    if _cacheable(tag, payload):
        if len(_serialized) >= _SERIALIZED_MAX:
            _serialized.clear()
        _serialized[pe] = text
    return text


def _cacheable(tag: str, payload) -> bool:
    if tag == "k":
        return all(v[0] in _PLAIN_TAGS for _, v in payload)
    return tag == "v" and payload[0] in _PLAIN_TAGS


_PLAIN_TAGS = frozenset("sbz")


def _serialize_pe(tag: str, payload) -> str:
    if tag == "k":
        body = ",".join(f"{gojson.go_json_string(n)}:{gojson.go_json(thaw(v))}" for n, v in payload)
        return "k:{" + body + "}"
    if tag == "v":
        return "v:" + gojson.go_json(thaw(payload))
    return f"i:{payload}"


def deserialize_pe(text: str):
    """The PE of a FieldsV1 key; None for prefixes this version does not know."""
    if len(text) < 2 or text[1] != ":":
        raise ValueError(f"missing colon: {text}")
    tag, body = text[0], text[2:]
    if tag == "f":
        return ("f", body)
    if tag == "k":
        return key(json.loads(body).items())
    if tag == "v":
        return ("v", freeze(json.loads(body)))
    if tag == "i":
        return ("i", int(body))
    return None


# --- sets -------------------------------------------------------------------------------


class FieldSet:
    """A set of paths, stored as a tree (structured-merge-diff's fieldpath.Set).

    The set operations share subtrees between their inputs and result, so a set is
    only ever changed (`insert`) while it is being built.
    """

    __slots__ = ("members", "children")

    def __init__(self, members=None, children=None):
        self.members: set = set() if members is None else set(members)
        self.children: dict = {} if children is None else dict(children)

    @classmethod
    def _owning(cls, members: set, children: dict) -> "FieldSet":
        """A set over a fresh members set and children dict, taken without copying them."""
        out = cls.__new__(cls)
        out.members = members
        out.children = children
        return out

    @classmethod
    def of(cls, *paths) -> "FieldSet":
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def insert(self, path, below: "FieldSet | None" = None) -> None:
        """Add `path`; with `below`, also every path of `below` under it (the subtree
        grafted, merged with what is there)."""
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        if path:
            last = path[-1]
            node.members.add(last)
            if below is not None:
                node.children[last] = node.children[last].union(below) if last in node.children else below
        elif below is not None:
            node.members |= below.members
            for pe, child in below.children.items():
                node.children[pe] = node.children[pe].union(child) if pe in node.children else child

    def has(self, path) -> bool:
        node = self
        for pe in path[:-1]:
            node = node.children.get(pe)
            if node is None:
                return False
        return bool(path) and path[-1] in node.members

    def empty(self) -> bool:
        return not self.members and all(c.empty() for c in self.children.values())

    def with_prefix(self, pe) -> "FieldSet":
        return self.children.get(pe) or FieldSet()

    def union(self, other: "FieldSet") -> "FieldSet":
        children = dict(self.children)
        for pe, child in other.children.items():
            children[pe] = children[pe].union(child) if pe in children else child
        return FieldSet._owning(self.members | other.members, children)

    def intersection(self, other: "FieldSet") -> "FieldSet":
        children = {}
        for pe, child in self.children.items():
            if pe in other.children:
                both = child.intersection(other.children[pe])
                if not both.empty():
                    children[pe] = both
        return FieldSet._owning(self.members & other.members, children)

    def difference(self, other: "FieldSet") -> "FieldSet":
        children = {}
        for pe, child in self.children.items():
            rest = child.difference(other.children[pe]) if pe in other.children else child
            if not rest.empty():
                children[pe] = rest
        return FieldSet._owning(self.members - other.members, children)

    def recursive_difference(self, other: "FieldSet") -> "FieldSet":
        """Drop every path that has a member of `other` as a prefix (or is one)."""
        children = {}
        for pe, child in self.children.items():
            if pe in other.members:
                continue
            rest = child.recursive_difference(other.children[pe]) if pe in other.children else child
            if not rest.empty():
                children[pe] = rest
        return FieldSet._owning(self.members - other.members, children)

    def paths(self, prefix=()):
        """Every path, in structured-merge-diff's iteration order."""
        for pe in sorted(self.members, key=pe_order):
            yield prefix + (pe,)
        for pe in sorted(self.children, key=pe_order):
            yield from self.children[pe].paths(prefix + (pe,))

    # --- FieldsV1 ---

    def to_fields_v1(self) -> dict:
        return self._emit(include_self=False)

    def _emit(self, include_self: bool) -> dict:
        members, children = self.members, self.children
        out: dict = {".": {}} if include_self and (members or children) else {}
        pes = members.union(children) if children else members
        for pe in (sorted(pes, key=pe_order) if len(pes) > 1 else pes):
            child = children.get(pe) if children else None
            text = "f:" + pe[1] if pe[0] == "f" else serialize_pe(pe)
            if child is None or child.empty():
                out[text] = {}
            else:
                out[text] = child._emit(include_self=pe in members)
        return out

    @classmethod
    def from_fields_v1(cls, data: dict) -> "FieldSet":
        if not isinstance(data, dict):
            raise ValueError("FieldsV1 must be a JSON object")
        return cls._read(data)[0] or cls()

    @classmethod
    def _read(cls, data: dict) -> tuple["FieldSet | None", bool]:
        node: FieldSet | None = None
        is_member = False
        for text, value in data.items():
            if text == ".":
                is_member = True
                continue
            pe = deserialize_pe(text)
            if pe is None:
                continue  # a future element type: dropped, as upstream does
            grandchildren, child_is_member = cls._read(value if isinstance(value, dict) else {})
            node = node or cls()
            if child_is_member:
                node.members.add(pe)
            if grandchildren is not None:
                node.children[pe] = grandchildren
        return node, is_member or node is None
