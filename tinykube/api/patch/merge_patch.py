"""JSON merge patch (RFC 7386) as kube-apiserver applies it: evanphx/json-patch v4 MergePatch.

Differences from the RFC text that the library has, and we keep:

* nulls are pruned from every value inserted where the document had nothing (or null),
  including null elements of inserted arrays;
* when the document holds a non-object and the patch value is an object, the patch value
  replaces it with its nulls pruned; when the document holds an object and the patch
  value is not an object, the patch value replaces it as is;
* a patch that is not JSON, `null`, or a scalar is "Invalid JSON Patch" (400); a patch
  that is an array replaces the whole document, which then fails to decode as an object.
"""

from __future__ import annotations

import json

import orjson

from tinykube.api import errors
from tinykube.api.patch import gojson

BAD_PATCH = "Invalid JSON Patch"


def decode(patch_body: bytes):
    try:
        patch = gojson.loads(patch_body)
    except gojson.GoJSONError:
        raise errors.BadRequest(BAD_PATCH) from None
    if patch is None or not isinstance(patch, (dict, list)):
        raise errors.BadRequest(BAD_PATCH)
    return patch


def apply(document: dict, patch_body: bytes, *, owned: bool = False) -> dict:
    """Apply a merge patch to a copy of `document` (owned: to `document` itself, which
    the caller hands over)."""
    patch = decode(patch_body)
    if isinstance(patch, list):
        # The library returns the (pruned) array as the new document; decoding it into
        # the kind's type then fails, which kube-apiserver reports as 422 on "patch".
        text = json.dumps(prune_nulls(patch), separators=(",", ":"))
        detail = "json: cannot unmarshal array into Go value of type map[string]interface {}"
        cause = errors.Cause(errors.INVALID, "patch", f"Invalid value: {gojson.go_quote(text)}: {detail}")
        raise errors.invalid("", "", [cause])
    return merge(document if owned else _copy(document), patch)


def _copy(document: dict) -> dict:
    """A deep copy through JSON; orjson's is ~20x faster than the json module's. Documents
    orjson cannot write (non-string keys, integers beyond 64 bits) take the slow road."""
    try:
        return orjson.loads(orjson.dumps(document))
    except TypeError:
        return json.loads(json.dumps(document))


def merge(doc: dict, patch: dict) -> dict:
    """Merge `patch` into `doc` (mutated and returned)."""
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif doc.get(key) is None:
            doc[key] = prune_nulls(value)
        else:
            doc[key] = _merge_value(doc[key], value)
    return doc


def _merge_value(current, value):
    if not isinstance(current, dict):
        return prune_nulls(value)
    if not isinstance(value, dict):
        return value
    return merge(current, value)


def prune_nulls(value):
    """Drop null members of objects and null elements of arrays, recursively.

    A value without nulls comes back as it is (patch values are decoded for this one
    merge, so the merged document may hold them); one with nulls as a pruned copy."""
    return value if not _has_null(value) else _pruned(value)


def _has_null(value) -> bool:
    if isinstance(value, dict):
        return any(v is None or (isinstance(v, (dict, list)) and _has_null(v)) for v in value.values())
    if isinstance(value, list):
        return any(v is None or (isinstance(v, (dict, list)) and _has_null(v)) for v in value)
    return False


def _pruned(value):
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value if v is not None]
    return value
