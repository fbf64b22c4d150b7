"""JSON patch (RFC 6902) with the semantics kube-apiserver has: gopkg.in/evanphx/json-patch.v4.

The library has quirks kubectl users can observe, and we keep them:

* "replace" on a missing object key succeeds (it only checks the parent exists);
* negative array indices count from the end for add/remove;
* "copy" from a missing object key copies null;
* "test" compares an object as a subset (keys of the document's value must match);
* a path must start below the root ("" and "/" alone address no container).

Every failure while applying becomes kube-apiserver's generic 422 ("the server rejected
our request due to an error in our request"): the library's own message never reaches
the client. A patch that does not decode is a 400 with Go's decoder message, and more
than 10,000 operations is a 413.
"""

from __future__ import annotations

import json

from tinykube.api import errors
from tinykube.api.patch import gojson

MAX_OPERATIONS = 10000
# kube-apiserver caps the bytes "copy" operations may add (JSONPatchMaxCopyBytes).
MAX_COPY_BYTES = 3 * 1024 * 1024
_MISSING = object()


class PatchFailed(Exception):
    """An operation did not apply; the message is the library's (kept for debugging)."""


def decode(patch_body: bytes) -> list:
    """The operations of a JSON patch, or BadRequest with Go's decoding message."""
    try:
        ops = gojson.loads(patch_body)
    except gojson.GoJSONError as exc:
        raise errors.BadRequest(str(exc)) from None
    if ops is None:
        return []
    if not isinstance(ops, list):
        raise errors.BadRequest(str(gojson.type_error(ops, "jsonpatch.Patch")))
    for op in ops:
        if op is not None and not isinstance(op, dict):
            raise errors.BadRequest(str(gojson.type_error(op, "jsonpatch.Operation")))
    if len(ops) > MAX_OPERATIONS:
        raise errors.RequestEntityTooLarge(
            f"Request entity too large: The allowed maximum operations in a JSON patch is "
            f"{MAX_OPERATIONS}, got {len(ops)}")
    return ops


def apply(document: dict, patch_body: bytes) -> dict:
    """Apply a JSON patch to a copy of `document`."""
    ops = decode(patch_body)
    doc = json.loads(json.dumps(document))
    try:
        _Applier(doc).run(ops)
    except PatchFailed:
        # kube-apiserver wraps the library error in NewGenericServerResponse(422, ...),
        # which replaces the message with this fixed text.
        raise errors.Invalid("the server rejected our request due to an error in our request") from None
    return doc


def decode_pointer_token(token: str) -> str:
    # RFC 6901: "~1" is "/", "~0" is "~", decoded left to right in one pass.
    return token.replace("~1", "/").replace("~0", "~") if "~" in token else token


class _Applier:
    def __init__(self, doc: dict):
        self.doc = doc
        self.copied = 0

    def run(self, ops: list) -> None:
        for op in ops:
            kind = _op_kind(op)
            handler = getattr(self, f"op_{kind}", None) if kind in _OPS else None
            if handler is None:
                raise PatchFailed(f"Unexpected kind: {kind}")
            handler(op)

    # --- containers ---

    def find(self, path: str):
        """(container, key) for a path, or (None, "") when the parent does not exist."""
        parts = path.split("/")
        if len(parts) < 2:
            return None, ""
        node = self.doc
        for part in parts[1:-1]:
            node = _get(node, decode_pointer_token(part), default=None)
            if not isinstance(node, (dict, list)):
                return None, ""
        return node, decode_pointer_token(parts[-1])

    def container(self, op: dict, field_name: str = "path"):
        path = _string_field(op, field_name)
        node, key = self.find(path)
        if node is None:
            raise PatchFailed(f"{op.get('op')} operation does not apply: doc is missing path: {path}")
        return node, key

    # --- operations ---

    def op_add(self, op: dict) -> None:
        node, key = self.container(op)
        _add(node, key, op.get("value"))

    def op_remove(self, op: dict) -> None:
        node, key = self.container(op)
        _remove(node, key)

    def op_replace(self, op: dict) -> None:
        node, key = self.container(op)
        if isinstance(node, list):
            index = _index(key, len(node))
            node[index] = op.get("value")
        else:
            node[key] = op.get("value")  # v4 does not check that the key exists

    def op_move(self, op: dict) -> None:
        source, key = self.container(op, "from")
        value = _get(source, key)
        _remove(source, key)
        node, dest = self.container(op)
        _add(node, dest, value)

    def op_copy(self, op: dict) -> None:
        source, key = self.container(op, "from")
        value = _get(source, key, default=None)
        node, dest = self.container(op)
        encoded = json.dumps(value, separators=(",", ":"))
        self.copied += len(encoded)
        if self.copied > MAX_COPY_BYTES:
            raise PatchFailed("Unable to complete the copy, the accumulated size increase of copy "
                              f"is {self.copied}, exceeding the limit {MAX_COPY_BYTES}")
        _add(node, dest, json.loads(encoded))

    def op_test(self, op: dict) -> None:
        node, key = self.container(op)
        value = _get(node, key, default=None)
        expected = op.get("value", _MISSING)
        if value is None:
            if expected is None:
                return
            raise PatchFailed(f"testing value {op.get('path')} failed")
        if expected is _MISSING or not _subset_equal(value, expected):
            raise PatchFailed(f"testing value {op.get('path')} failed")


_OPS = {"add", "remove", "replace", "move", "copy", "test"}


def _op_kind(op) -> str:
    kind = op.get("op") if isinstance(op, dict) else None
    return kind if isinstance(kind, str) else "unknown"


def _string_field(op: dict, name: str) -> str:
    value = op.get(name)
    if not isinstance(value, str):
        raise PatchFailed(f"operation missing {name} field")
    return value


def _index(key: str, length: int) -> int:
    """A valid existing index for get/replace (no negative indices there in v4)."""
    index = _atoi(key)
    if index >= length or index < 0:
        raise PatchFailed(f"Unable to access invalid index: {index}")
    return index


def _atoi(key: str) -> int:
    # Go's strconv.Atoi: optional sign, ASCII digits only.
    body = key[1:] if key[:1] in "+-" else key
    if not body or not body.isascii() or not body.isdigit():
        raise PatchFailed(f'strconv.Atoi: parsing "{key}": invalid syntax')
    return int(key)


def _get(node, key: str, default=_MISSING):
    if isinstance(node, dict):
        return node.get(key)  # Go cannot tell a missing key from null
    try:
        return node[_index(key, len(node))]
    except PatchFailed:
        if default is not _MISSING:
            return default
        raise


def _add(node, key: str, value) -> None:
    if isinstance(node, dict):
        node[key] = value
        return
    if key == "-":
        node.append(value)
        return
    index = _atoi(key)
    size = len(node) + 1
    if index >= size or index < -size:
        raise PatchFailed(f"Unable to access invalid index: {index}")
    if index < 0:
        index += size
    node.insert(index, value)


def _remove(node, key: str) -> None:
    if isinstance(node, dict):
        if key not in node:
            raise PatchFailed(f"Unable to remove nonexistent key: {key}")
        del node[key]
        return
    index = _atoi(key)
    if index >= len(node) or index < -len(node):
        raise PatchFailed(f"Unable to access invalid index: {index}")
    del node[index]


def _subset_equal(actual, expected) -> bool:
    """evanphx's lazyNode.equal: objects compare as "every key of actual matches"."""
    if isinstance(actual, dict):
        if not isinstance(expected, dict):
            return False
        for k, v in actual.items():
            if k not in expected:
                return False
            if v is None or expected[k] is None:
                # null against null passes; null against a value panics in the library.
                if v is not expected[k]:
                    return False
            elif not _subset_equal(v, expected[k]):
                return False
        return True
    if isinstance(actual, list):
        if not isinstance(expected, list) or len(actual) != len(expected):
            return False
        return all(_subset_equal(a, e) for a, e in zip(actual, expected))
    return _same_scalar(actual, expected)


def _same_scalar(a, b) -> bool:
    # The library compares compacted JSON text: 1 and 1.0 differ, true and 1 differ.
    return type(a) is type(b) and a == b
