"""The Kubernetes OpenAPI definitions of the built-in types, from a maintained source.

The definitions come from the `kubernetes-validate` package, which ships the upstream
OpenAPI schemas (as JSON Schema, with the x-kubernetes-* extensions kept: patch
strategies and merge keys, list types and map keys, group-version-kind). We never
hand-type a schema. KUBERNETES_VERSION selects the release that matches the API we
serve.

This module only loads and looks things up; openapi.py renders /openapi/v2 and v3, the
patch and apply code asks for patch metadata through `field_schema`.
"""

from __future__ import annotations

import functools
import os

import orjson

KUBERNETES_VERSION = "1.32.0"

REF_PREFIX = "#/$defs/"


def _definitions_path() -> str:
    import kubernetes_validate  # the data package; imported lazily, it is big

    base = os.path.dirname(kubernetes_validate.__file__)
    return os.path.join(base, "kubernetes-json-schema", f"v{KUBERNETES_VERSION}-local", "_definitions.json")


@functools.cache
def definitions() -> dict[str, dict]:
    """{definition name: JSON schema}, e.g. "io.k8s.api.core.v1.Pod"."""
    with open(_definitions_path(), "rb") as f:
        return orjson.loads(f.read())["$defs"]


@functools.cache
def _by_gvk() -> dict[tuple[str, str, str], str]:
    index = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", ()):
            index[(gvk["group"], gvk["version"], gvk["kind"])] = name
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition name of a top-level kind, e.g. ("apps","v1","Deployment")."""
    return _by_gvk().get((group, version, kind))


def resolve(schema: dict | None) -> dict | None:
    """Follow a $ref (if any) to the schema it names."""
    if schema is None:
        return None
    ref = schema.get("$ref")
    if ref and ref.startswith(REF_PREFIX):
        return definitions().get(ref[len(REF_PREFIX):])
    return schema


def kind_schema(group: str, version: str, kind: str) -> dict | None:
    name = definition_name(group, version, kind)
    return definitions().get(name) if name else None


def field_schema(parent: dict | None, field: str) -> dict | None:
    """The (unresolved) schema of `field` in an object schema, or None if unknown.

    Keeps the property's own x-kubernetes-patch-* extensions, which live on the
    property, not on the referenced definition.
    """
    parent = resolve(parent)
    if not parent:
        return None
    props = parent.get("properties")
    if props and field in props:
        return props[field]
    extra = parent.get("additionalProperties")
    if isinstance(extra, dict):
        return extra
    return None


def items_schema(array_schema: dict | None) -> dict | None:
    """The schema of the items of an array schema (resolved)."""
    array_schema = resolve(array_schema)
    if not array_schema:
        return None
    return resolve(array_schema.get("items"))


def types_of(schema: dict | None) -> set[str]:
    """The JSON types a schema allows ("null" dropped)."""
    schema = resolve(schema)
    if not schema:
        return set()
    t = schema.get("type")
    if t is None:
        return set()
    types = {t} if isinstance(t, str) else set(t)
    types.discard("null")
    return types
