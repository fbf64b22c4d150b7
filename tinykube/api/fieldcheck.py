"""Server-side field validation (the fieldValidation=Strict|Warn query parameter).

kube-apiserver decodes request bodies into Go structs with sigs.k8s.io/json, which
reports every field the type doesn't have as `unknown field "<path>"` and every key
given twice as `duplicate field "<path>"`; paths join field names with "." and array
indices as "[i]" (`spec.containers[0].imagePullPolice`). With fieldValidation=Strict
those become one 400 BadRequest ("strict decoding error: ..."); with Warn, one
`Warning: 299 - "..."` response header each.

We find the same fields by walking the object against the Kubernetes OpenAPI
definitions (schema.py). A schema is open, as the Go type is, where it declares no
properties (RawExtension, FieldsV1: raw JSON), where it is a map
(additionalProperties), where it is a scalar union (IntOrString, Quantity), or where
it carries x-kubernetes-preserve-unknown-fields. A value of the wrong JSON type is a
decoding error, not an unknown field, so it is not descended into.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from tinykube.api import errors, schema

PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk(node: dict | None, value, path: str, out: list[str], sort_keys: bool) -> None:
    node = schema.resolve(node)
    if not node or node.get(PRESERVE_UNKNOWN) or "oneOf" in node or "anyOf" in node:
        return
    if isinstance(value, list):
        items = node.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if isinstance(item, (dict, list)):  # a scalar has no fields to check
                    _walk(items, item, f"{path}[{i}]", out, sort_keys)
        return
    if not isinstance(value, dict):
        return
    props = node.get("properties")
    extra = node.get("additionalProperties")
    if not props and not isinstance(extra, dict):
        return  # no declared fields: raw JSON, any field goes
    keys = sorted(value) if sort_keys else list(value)
    for key in keys:
        sub = (props or {}).get(key, extra if isinstance(extra, dict) else None)
        if sub is None:
            out.append(_join(path, key))  # the decoder skips an unknown field's value
        elif isinstance(value[key], (dict, list)):  # a scalar has no fields to check
            _walk(sub, value[key], _join(path, key), out, sort_keys)


def unknown_fields(group: str, version: str, kind: str, obj: dict, *, sort_keys: bool = False) -> list[str]:
    """Paths of the fields in obj that the kind's schema doesn't have, in document order.

    Pass sort_keys=True for an object that kube-apiserver would have re-serialized
    from a Go map before decoding it (a patched object), which orders keys.
    Returns [] for a kind without a schema.
    """
    root = schema.kind_schema(group, version, kind)
    if root is None:
        return []
    out: list[str] = []
    _walk(root, obj, "", out, sort_keys)
    return out


# --- duplicate fields -----------------------------------------------------------------


class _Object(dict):
    """A decoded JSON object that remembers which of its keys appeared twice."""

    duplicates: list[str]


def _object_pairs(pairs: list[tuple[str, object]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj and key not in obj.duplicates:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _collect_duplicates(value, path: str, out: list[str]) -> None:
    if isinstance(value, _Object):
        out.extend(_join(path, key) for key in value.duplicates)
        for key, sub in value.items():
            _collect_duplicates(sub, _join(path, key), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _collect_duplicates(item, f"{path}[{i}]", out)


def duplicate_fields(body: bytes | str) -> list[str]:
    """Paths of the keys a JSON request body gives more than once ([] if not JSON).

    A parsed dict has already lost its duplicates, hence the raw body.
    """
    try:
        tree = json.loads(body, object_pairs_hook=_object_pairs)
    except (ValueError, TypeError):
        return []
    out: list[str] = []
    _collect_duplicates(tree, "", out)
    return out


# --- reporting ------------------------------------------------------------------------


def messages(paths: Iterable[str], duplicates: Iterable[str] = ()) -> list[str]:
    """The decoder's messages: `unknown field "a.b"`, `duplicate field "c"`."""
    return [f'unknown field "{p}"' for p in paths] + [f'duplicate field "{p}"' for p in duplicates]


def strict_error(
    paths: Iterable[str], *, duplicates: Iterable[str] = (), kind: str = "", version: str = ""
) -> errors.BadRequest:
    """The 400 of fieldValidation=Strict.

    Message `strict decoding error: unknown field "spec.foo", unknown field "x"`.
    Pass kind and version for a create or update, whose decode error Kubernetes
    prefixes with `Pod in version "v1" cannot be handled as a Pod: `; patches
    report the bare strict decoding error.
    """
    text = "strict decoding error: " + ", ".join(messages(paths, duplicates))
    if kind:
        text = f'{kind} in version "{version}" cannot be handled as a {kind}: {text}'
    return errors.BadRequest(text)


def warning_header(text: str, agent: str = "-") -> str:
    """One RFC 7234 Warning header value, code 299, as kube-apiserver writes it."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 {agent} "{escaped}"'


def warning_header_values(paths: Iterable[str], *, duplicates: Iterable[str] = ()) -> list[str]:
    """The Warning headers of fieldValidation=Warn, one per field:
    `299 - "unknown field \\"spec.foo\\""`."""
    return [warning_header(m) for m in messages(paths, duplicates)]
