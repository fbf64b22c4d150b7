"""Patch and field-management metadata derived from the Kubernetes OpenAPI definitions.

Two consumers, two views of the same schema:

* strategic merge patch asks, per field, for its patch strategy and merge key
  (`x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`), as kube-apiserver
  reads them from the Go struct tags;
* server-side apply walks typed values (`TypeNode`), as structured-merge-diff does:
  scalars, maps (structs with named fields, granular or atomic maps) and lists
  (atomic, sets, or maps keyed by `x-kubernetes-list-map-keys`). Anything the schema
  does not describe is "deduced": maps stay granular, lists atomic.

It also holds the few facts the OpenAPI documents do not carry but the Go types imply:
which fields a strategy resets, which struct fields Go always materialises, and the
defaults of list-map key fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tinykube.api import registry, schema

# --- strategic merge patch metadata -----------------------------------------------------


@dataclass(frozen=True)
class PatchField:
    """What strategic merge patch knows about one field."""

    strategies: tuple[str, ...] = ()  # e.g. ("merge", "retainKeys")
    merge_key: str = ""
    meta: "PatchMeta | None" = None  # of the value (list items for arrays); None: no schema

    @property
    def strategy(self) -> str:
        """The strategy other than retainKeys ("merge", "replace" or "")."""
        others = [s for s in self.strategies if s != "retainKeys"]
        return others[0] if others else ""


NO_META = PatchField()


class PatchMeta:
    """Patch metadata of an object schema; `lookup(field)` describes one of its fields."""

    def __init__(self, node: dict | None):
        self._node = schema.resolve(node)

    def lookup(self, name: str) -> PatchField:
        prop = schema.field_schema(self._node, name)
        if prop is None:
            return NO_META  # unknown field: plain merge semantics, no strategies
        strategies = tuple(s for s in (prop.get("x-kubernetes-patch-strategy") or "").split(",") if s)
        value = schema.resolve(prop)
        if value is not None and "array" in schema.types_of(value):
            value = schema.items_schema(value)
        return PatchField(strategies, prop.get("x-kubernetes-patch-merge-key") or "", _patch_meta(value))


def _patch_meta(node: dict | None) -> PatchMeta | None:
    return PatchMeta(node) if node is not None else None


def kind_patch_meta(group: str, version: str, kind: str) -> PatchMeta | None:
    node = schema.kind_schema(group, version, kind)
    return PatchMeta(node) if node is not None else None


# --- typed values for server-side apply -------------------------------------------------

SCALAR, MAP, LIST, DEDUCED = "scalar", "map", "list", "deduced"


@dataclass(eq=False)
class TypeNode:
    """One type as structured-merge-diff sees it."""

    kind: str
    scalar: str = "untyped"  # numeric | string | boolean | untyped
    atomic: bool = False  # atomic map or atomic list: a single leaf
    struct: bool = False  # a map with declared fields
    list_type: str = "atomic"  # atomic | set | map
    keys: tuple[str, ...] = ()
    definition: str = ""  # the OpenAPI definition name, when the type has one
    required: tuple[str, ...] = ()
    _schema: dict | None = field(default=None, repr=False)
    _fields: dict | None = field(default=None, repr=False)
    _elem: "TypeNode | None" = field(default=None, repr=False)

    def field(self, name: str) -> "TypeNode | None":
        """The declared type of a struct field (None when not declared)."""
        if self._fields is None:
            self._fields = {}
        if name not in self._fields:
            props = (self._schema or {}).get("properties") or {}
            self._fields[name] = type_node(props[name]) if name in props else None
        return self._fields[name]

    def has_field(self, name: str) -> bool:
        return name in ((self._schema or {}).get("properties") or {})

    def child(self, name: str) -> "TypeNode":
        """The type of a map entry: the declared field, else the element type, else deduced."""
        declared = self.field(name) if self.struct else None
        if declared is not None:
            return declared
        return self.elem()

    def elem(self) -> "TypeNode":
        if self._elem is None:
            self._elem = _elem_of(self)
        return self._elem


DEDUCED_NODE = TypeNode(DEDUCED)
# Keyed by id() of the (long-lived, cached) schema dicts; the dict is kept alongside so
# its id can never be reused by another object.
_cache: dict[int, tuple[dict, TypeNode]] = {}
_kinds: dict[str, TypeNode] = {}


def type_node(prop: dict | None) -> TypeNode:
    """The TypeNode of a property schema (its own x-kubernetes-* extensions win)."""
    if prop is None:
        return DEDUCED_NODE
    hit = _cache.get(id(prop))
    if hit is None or hit[0] is not prop:
        hit = (prop, _build(prop))
        _cache[id(prop)] = hit
    return hit[1]


def _extension(prop: dict, resolved: dict, name: str):
    return prop.get(name, resolved.get(name))


def _build(prop: dict) -> TypeNode:
    resolved = schema.resolve(prop) or {}
    ref = prop.get("$ref", "")
    definition = ref[len(schema.REF_PREFIX):] if ref.startswith(schema.REF_PREFIX) else ""
    types = schema.types_of(resolved)
    if "array" in types:
        return _list_node(prop, resolved, definition)
    if "object" in types:
        return _map_node(prop, resolved, definition)
    if types:
        return TypeNode(SCALAR, scalar=_scalar_kind(types), definition=definition)
    if "oneOf" in resolved or "anyOf" in resolved:  # IntOrString, Quantity
        return TypeNode(SCALAR, scalar="untyped", definition=definition)
    return TypeNode(DEDUCED, definition=definition)


def _scalar_kind(types: set[str]) -> str:
    if types <= {"integer", "number"}:
        return "numeric"
    if types == {"string"}:
        return "string"
    if types == {"boolean"}:
        return "boolean"
    return "untyped"


def _list_node(prop: dict, resolved: dict, definition: str) -> TypeNode:
    list_type = _extension(prop, resolved, "x-kubernetes-list-type")
    keys = tuple(_extension(prop, resolved, "x-kubernetes-list-map-keys") or ())
    if list_type is None:
        # structured-merge-diff falls back to the patch strategy, as kube-openapi does.
        strategy = _extension(prop, resolved, "x-kubernetes-patch-strategy") or ""
        merge_key = _extension(prop, resolved, "x-kubernetes-patch-merge-key")
        if "merge" in strategy.split(","):
            list_type, keys = ("map", (merge_key,)) if merge_key else ("set", ())
        else:
            list_type = "atomic"
    node = TypeNode(LIST, list_type=list_type, keys=keys if list_type == "map" else (),
                    atomic=list_type == "atomic", definition=definition, _schema=resolved)
    return node


def _map_node(prop: dict, resolved: dict, definition: str) -> TypeNode:
    atomic = _extension(prop, resolved, "x-kubernetes-map-type") == "atomic"
    has_props = bool(resolved.get("properties"))
    extra = resolved.get("additionalProperties")
    if not has_props and not isinstance(extra, dict):
        # No declared shape (RawExtension, preserve-unknown-fields): deduced, granular.
        return TypeNode(DEDUCED, atomic=atomic, definition=definition)
    return TypeNode(MAP, atomic=atomic, struct=has_props, definition=definition,
                    required=tuple(resolved.get("required") or ()), _schema=resolved)


def _elem_of(node: TypeNode) -> TypeNode:
    if node.kind == LIST:
        return type_node((node._schema or {}).get("items"))
    extra = (node._schema or {}).get("additionalProperties")
    return type_node(extra) if isinstance(extra, dict) else DEDUCED_NODE


def kind_type(group: str, version: str, kind: str) -> TypeNode:
    """The TypeNode of a top-level kind (deduced if the kind has no schema)."""
    name = schema.definition_name(group, version, kind)
    if name is None:
        return DEDUCED_NODE
    if name not in _kinds:
        _kinds[name] = type_node({"$ref": schema.REF_PREFIX + name})
    return _kinds[name]


# --- facts the Go types imply ----------------------------------------------------------

# Struct-valued fields that are not pointers in the Go types: Go always materialises
# them (as `{}`), so a diff never sees them "added". Top-level metadata/spec/status
# are covered by TOP_LEVEL_STRUCTS for every kind.
NON_POINTER_STRUCTS: dict[str, tuple[str, ...]] = {
    "io.k8s.api.core.v1.PodTemplateSpec": ("metadata", "spec"),
    "io.k8s.api.core.v1.Container": ("resources",),
    "io.k8s.api.core.v1.EphemeralContainer": ("resources",),
    "io.k8s.api.core.v1.ContainerStatus": ("state", "lastState"),
    "io.k8s.api.core.v1.ServiceStatus": ("loadBalancer",),
    "io.k8s.api.core.v1.NodeStatus": ("daemonEndpoints", "nodeInfo"),
    "io.k8s.api.core.v1.NodeDaemonEndpoints": ("kubeletEndpoint",),
    "io.k8s.api.core.v1.Event": ("involvedObject", "source"),
    "io.k8s.api.core.v1.PersistentVolumeClaim": ("metadata", "spec", "status"),
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec": ("resources",),
    "io.k8s.api.core.v1.PersistentVolumeClaimTemplate": ("metadata", "spec"),
    "io.k8s.api.apps.v1.DeploymentSpec": ("template", "strategy"),
    "io.k8s.api.apps.v1.ReplicaSetSpec": ("template",),
    "io.k8s.api.apps.v1.DaemonSetSpec": ("template", "updateStrategy"),
    "io.k8s.api.apps.v1.StatefulSetSpec": ("template", "updateStrategy"),
    "io.k8s.api.batch.v1.JobSpec": ("template",),
    "io.k8s.api.batch.v1.CronJobSpec": ("jobTemplate",),
    "io.k8s.api.batch.v1.JobTemplateSpec": ("metadata", "spec"),
    "io.k8s.api.discovery.v1.Endpoint": ("conditions",),
    "io.k8s.api.events.v1.Event": ("regarding", "deprecatedSource"),
}
TOP_LEVEL_STRUCTS = ("metadata", "spec", "status")

# Defaults of list-map key fields (OpenAPI v3 `default`), used to key items that omit them.
KEY_DEFAULTS: dict[tuple[str, str], object] = {
    ("io.k8s.api.core.v1.ContainerPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.ServicePort", "protocol"): "TCP",
    ("io.k8s.api.discovery.v1.EndpointPort", "protocol"): "TCP",
    ("io.k8s.api.core.v1.EndpointPort", "protocol"): "TCP",
}

# Fields each strategy resets (GetResetFields): apply and update never record them for
# the endpoint's manager, and never take them from an apply configuration.
_STATUS_RESET_EXTRA: dict[tuple[str, str], tuple[tuple[str, ...], ...]] = {
    ("", "Pod"): (("metadata", "deletionTimestamp"), ("metadata", "ownerReferences")),
    ("apps", "Deployment"): (("metadata", "labels"),),
}


def reset_fields(group: str, kind: str, subresource: str = "") -> tuple[tuple[str, ...], ...]:
    """Paths the strategy of (group, kind) resets on the main resource or a subresource."""
    has_status = any(rt.group == group and rt.kind == kind and "status" in rt.subresources
                     for rt in registry.RESOURCES)
    if not has_status:
        return ()
    if subresource == "":
        return (("status",),)
    if subresource == "status":
        return (("spec",),) + _STATUS_RESET_EXTRA.get((group, kind), ())
    return ()
