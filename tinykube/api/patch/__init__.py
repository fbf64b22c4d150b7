"""PATCH and server-side apply, with kube-apiserver's semantics and messages.

`apply_patch` handles the three patch content types (JSON patch, JSON merge patch,
strategic merge patch). Server-side apply (`application/apply-patch+yaml`) and the
managedFields bookkeeping every write needs live in `apply`:
`server_side_apply` and `update_managed_fields`.
"""

from __future__ import annotations

from tinykube.api import errors
from tinykube.api.patch import json_patch, merge_patch, meta, strategic

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# The patch types a built-in resource accepts, in kube-apiserver's order (apply as CBOR
# is behind a feature gate that is off in 1.32). Custom resources have no strategic
# merge patch.
BUILTIN_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
SCHEMALESS_PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)


def unsupported_media_type(accepted: tuple[str, ...] = BUILTIN_PATCH_TYPES) -> errors.UnsupportedMediaType:
    """415 with the message negotiation.NewUnsupportedMediaTypeError gives."""
    return errors.UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted))


def media_type(content_type: str) -> str:
    """The patch type of a Content-Type header ("; charset=..." dropped, as upstream does)."""
    index = content_type.find(";")
    return content_type[:index] if index > 0 else content_type


def apply_patch(content_type: str, original: dict, patch_body: bytes, *, group: str, version: str,
                kind: str, owned: bool = False) -> dict:
    """The object `original` becomes under a JSON, merge or strategic merge patch.

    Returns a new dict; `original` is not modified, unless the caller hands it over
    (owned: a merge patch then changes it in place instead of copying it first). Raises errors.ApiError subclasses
    with kube-apiserver's codes and messages. Server-side apply is `apply.server_side_apply`.
    """
    patch_type = media_type(content_type)
    if patch_type == JSON_PATCH:
        return json_patch.apply(original, patch_body)
    if patch_type == MERGE_PATCH:
        return merge_patch.apply(original, patch_body, owned=owned)
    if patch_type == STRATEGIC_MERGE_PATCH:
        patch_meta = meta.kind_patch_meta(group, version, kind)
        if patch_meta is None:
            raise unsupported_media_type(SCHEMALESS_PATCH_TYPES)
        return strategic.apply(original, patch_body, patch_meta)
    raise unsupported_media_type()
