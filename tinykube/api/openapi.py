"""/openapi/v2 and /openapi/v3: the documents kubectl reads, built from schema.py.

kubectl uses the OpenAPI v3 documents (one per group-version, listed at
/openapi/v3) for three things, and each shapes what is generated here:

* `kubectl explain` finds a resource's GVK on the operations of its REST paths
  (x-kubernetes-group-version-kind), then the component schema carrying that GVK,
  and walks properties, items, additionalProperties and allOf.
* kubectl create/apply/replace decide whether the server validates fields itself by
  finding a PATCH operation with the kind's GVK that lists a `fieldValidation`
  parameter (cli-runtime query_param_verifier_v3.go; v2 is the fallback).
* client-side apply computes strategic merge patches from the x-kubernetes-patch-*
  extensions of the v3 schemas, if that PATCH operation accepts
  application/strategic-merge-patch+json.

Schemas are never typed by hand: they are the Kubernetes definitions from
schema.definitions(), converted from JSON-Schema form back to OpenAPI form (refs,
single types, IntOrString/Quantity, the injected apiVersion/kind enums removed).
As kube-apiserver does in v3, a $ref with sibling keywords (description,
x-kubernetes-patch-*) is wrapped as {"allOf": [{"$ref": ...}], ...}; that is also
what makes `kubectl explain` print a field's own description above its type's.

Documents are built on first request and cached as bytes; nothing runs at import.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import orjson

from tinykube.api import schema
from tinykube.api.registry import REGISTRY, ResourceType

VERSION = "v" + schema.KUBERNETES_VERSION
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
V2_REF = "#/definitions/"
V3_REF = "#/components/schemas/"

PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)
PRODUCES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")
PRODUCES_WATCH = PRODUCES + ("application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
RESPONSE_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


# --- schema conversion ----------------------------------------------------------------


def _single_type(value):
    """["string", "null"] -> "string": OpenAPI has no null type, nullability is implied."""
    if isinstance(value, str):
        return value
    types = [t for t in value if t != "null"]
    return types[0] if len(types) == 1 else types or None


def _convert(node: dict, ref_prefix: str, v3: bool) -> dict:
    out: dict = {}
    for key, value in node.items():
        if key == "$ref":
            out[key] = ref_prefix + value[len(schema.REF_PREFIX):]
        elif key == "type":
            single = _single_type(value)
            if single is not None:
                out[key] = single
        elif key == "properties":
            out[key] = {name: _convert(sub, ref_prefix, v3) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _convert(value, ref_prefix, v3)
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_convert(sub, ref_prefix, v3) for sub in value]
        else:
            out[key] = value
    if v3 and "$ref" in out and len(out) > 1:
        # OpenAPI 3.0 ignores siblings of $ref, so Kubernetes wraps the ref in allOf.
        out = {"allOf": [{"$ref": out.pop("$ref")}], **out}
    return out


def _scalar_union(name: str, v3: bool) -> dict:
    """IntOrString and Quantity, which the JSON-Schema form spells as oneOf."""
    if name == INT_OR_STRING:
        if v3:
            return {"format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
        return {"format": "int-or-string", "type": "string"}
    if v3:
        return {"oneOf": [{"type": "string"}, {"type": "number"}]}
    return {"type": "string"}


@functools.cache
def definition(name: str, v3: bool) -> dict:
    """One Kubernetes definition in OpenAPI v2 (v3=False) or v3 form (cached: don't mutate)."""
    if name in (INT_OR_STRING, QUANTITY):
        return _scalar_union(name, v3)
    out = _convert(schema.definitions()[name], V3_REF if v3 else V2_REF, v3)
    if out.get("x-kubernetes-group-version-kind"):
        # The JSON-Schema form pins apiVersion/kind with an enum Kubernetes doesn't have.
        for prop in ("apiVersion", "kind"):
            out.get("properties", {}).get(prop, {}).pop("enum", None)
    return out


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref.rsplit("/", 1)[-1])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def reachable(roots: set[str]) -> list[str]:
    """Every definition reachable from `roots` through $refs, sorted."""
    defs = schema.definitions()
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        found: set[str] = set()
        _refs(defs[name], found)
        todo.extend(n for n in found if n in defs and n not in seen)
    return sorted(seen)


# --- parameters -----------------------------------------------------------------------

# Query and path parameters as kube-apiserver declares them: (in, type, description).
_CONSISTENT = (
    "resourceVersion sets a constraint on what resource versions a request may be served from. See "
    "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset"
)
PARAMS: dict[str, tuple[str, str, str]] = {
    "allowWatchBookmarks": (
        "query",
        "boolean",
        'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not implement '
        "bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should "
        "not assume bookmarks are returned at any specific interval, nor may they assume the server will "
        "send any BOOKMARK event during a session. If this is not a watch, this field is ignored.",
    ),
    "continue": (
        "query",
        "string",
        "The continue option should be set when retrieving more results from the server. Since this value "
        "is server defined, clients may only use the continue value from a previous query result with "
        "identical query parameters (except for the value of continue) and the server may reject a continue "
        "value it does not recognize. If the specified continue value is no longer valid whether due to "
        "expiration (generally five to fifteen minutes) or a configuration change on the server, the server "
        "will respond with a 410 ResourceExpired error together with a continue token. If the client needs "
        "a consistent list, it must restart their list without the continue field. Otherwise, the client "
        "may send another list request with the token received with the 410 error, the server will respond "
        "with a list starting from the next key, but from the latest snapshot, which is inconsistent from "
        "the previous list results - objects that are created, modified, or deleted after the first list "
        "request will be included in the response, as long as their keys are after the \"next key\".\n\n"
        "This field is not supported when watch is true. Clients may start a watch from the last "
        "resourceVersion value returned by the server and not miss any modifications.",
    ),
    "dryRun": (
        "query",
        "string",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized "
        "dryRun directive will result in an error response and no further processing of the request. Valid "
        "values are: - All: all dry run stages will be processed",
    ),
    "fieldManager": (
        "query",
        "string",
        "fieldManager is a name associated with the actor or entity that is making these changes. The value "
        "must be less than or 128 characters long, and only contain printable characters, as defined by "
        "https://golang.org/pkg/unicode/#IsPrint.",
    ),
    "fieldSelector": (
        "query",
        "string",
        "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
    ),
    "fieldValidation": (
        "query",
        "string",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
        "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown "
        "fields that are silently dropped from the object, and will ignore all but the last duplicate field "
        "that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a "
        "warning via the standard warning response header for each unknown field that is dropped from the "
        "object, and for each duplicate field that is encountered. The request will still succeed if there "
        "are no other errors, and will only persist the last of any duplicate fields. This is the default "
        "in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would "
        "be dropped from the object, or if any duplicate fields are present. The error returned from the "
        "server will contain all unknown and duplicate fields encountered.",
    ),
    "force": (
        "query",
        "boolean",
        'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by '
        "other people. Force flag must be unset for non-apply patch requests.",
    ),
    "gracePeriodSeconds": (
        "query",
        "integer",
        "The duration in seconds before the object should be deleted. Value must be non-negative integer. The "
        "value zero indicates delete immediately. If this value is nil, the default grace period for the "
        "specified type will be used. Defaults to a per object value if not specified. zero means delete "
        "immediately.",
    ),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "query",
        "boolean",
        "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow "
        "fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from "
        "the underlying storage successfully because of a) its data can not be transformed e.g. decryption "
        "failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer "
        "constraints, skips precondition checks, and removes the object from the storage. WARNING: This may "
        "potentially break the cluster if the workload associated with the resource being unsafe-deleted "
        "relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value "
        "is false, and the user must opt in to enable it",
    ),
    "labelSelector": (
        "query",
        "string",
        "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
    ),
    "limit": (
        "query",
        "integer",
        "limit is a maximum number of responses to return for a list call. If more items exist, the server "
        "will set the `continue` field on the list metadata to a value that can be used with the same "
        "initial query to retrieve the next set of results. Setting a limit may return fewer than the "
        "requested amount of items (up to zero items) in the event all requested objects are filtered out "
        "and clients should only use the presence of the continue field to determine whether more results "
        "are available. Servers may choose not to support the limit argument and will return all of the "
        "available results. If limit is specified and the continue field is empty, clients may assume that "
        "no more results are available. This field is not supported if watch is true.\n\nThe server "
        "guarantees that the objects returned when using continue will be identical to issuing a single list "
        "call without a limit - that is, no objects created, modified, or deleted after the first request is "
        "issued will be included in any subsequent continued requests. This is sometimes referred to as a "
        "consistent snapshot, and ensures that a client that is using limit to receive smaller chunks of a "
        "very large result can ensure they see all possible objects. If objects are updated during a chunked "
        "list the version of the object that was present at the time the first list result was calculated "
        "is returned.",
    ),
    "namespace": ("path", "string", "object name and auth scope, such as for teams and projects"),
    "orphanDependents": (
        "query",
        "boolean",
        "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the "
        'dependent objects be orphaned. If true/false, the "orphan" finalizer will be added to/removed from '
        "the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
    ),
    "pretty": (
        "query",
        "string",
        "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a "
        "browser or command-line HTTP tool (curl and wget).",
    ),
    "propagationPolicy": (
        "query",
        "string",
        "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be "
        "set, but not both. The default policy is decided by the existing finalizer set in the "
        "metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - "
        "orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the "
        "background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
    ),
    "resourceVersion": ("query", "string", _CONSISTENT),
    "resourceVersionMatch": (
        "query",
        "string",
        "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly "
        "recommended that resourceVersionMatch be set for list calls where resourceVersion is set See "
        "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\n"
        "Defaults to unset",
    ),
    "sendInitialEvents": (
        "query",
        "boolean",
        "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will "
        "begin with synthetic events to produce the current state of objects in the collection. Once all "
        'such events have been sent, a synthetic "Bookmark" event  will be sent. The bookmark will report '
        "the ResourceVersion (RV) corresponding to the set of objects, and be marked with "
        '`"k8s.io/initial-events-end": "true"` annotation. Afterwards, the watch stream will proceed as '
        "usual, sending watch events corresponding to changes (subsequent to the RV) to objects watched.",
    ),
    "timeoutSeconds": (
        "query",
        "integer",
        "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity "
        "or inactivity.",
    ),
    "watch": (
        "query",
        "boolean",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove "
        "notifications. Specify resourceVersion.",
    ),
}
_FIELD_MANAGER_PATCH = (
    " This field is required for apply requests (application/apply-patch) but optional for non-apply patch "
    "types (JsonPatch, MergePatch, StrategicMergePatch)."
)

LIST_PARAMS = (
    "allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit",
    "resourceVersion", "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch",
)
WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
PATCH_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force")
DELETE_PARAMS = (
    "dryRun", "gracePeriodSeconds", "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents", "propagationPolicy",
)
DELETE_COLLECTION_PARAMS = tuple(
    sorted(set(LIST_PARAMS) - {"allowWatchBookmarks", "watch"} | set(DELETE_PARAMS))
)


def _param(name: str, v3: bool, *, kind: str = "", patch: bool = False) -> dict:
    where, type_, text = PARAMS.get(name, ("path", "string", f"name of the {kind}"))
    if name == "fieldManager" and patch:
        text += _FIELD_MANAGER_PATCH
    out: dict = {"description": text, "in": where, "name": name}
    if where == "path":
        out["required"] = True
    if v3:
        out["schema"] = {"type": type_, "uniqueItems": True}
    else:
        out.update({"type": type_, "uniqueItems": True})
    return out


# --- operations -----------------------------------------------------------------------


@dataclass
class Op:
    """One REST operation, rendered to v2 or v3 form by _render_op."""

    method: str
    action: str  # x-kubernetes-action
    op_id: str
    description: str
    response: str  # definition name of the response body
    codes: tuple[str, ...] = ("200",)
    params: tuple[str, ...] = ()
    body: str = ""  # definition name of the request body, "" for none
    body_types: tuple[str, ...] = ("*/*",)
    gvk: dict | None = None
    watchable: bool = False  # list operations also stream watch events


@dataclass
class PathItem:
    path_params: tuple[str, ...]  # declared once for every operation of the path
    ops: list[Op] = field(default_factory=list)
    kind: str = ""  # for the "name of the <Kind>" path parameter


def friendly(group: str) -> str:
    """The name Kubernetes uses for a group in tags and operation IDs: "coordination",
    "rbacAuthorization", "core" for the legacy group."""
    if not group:
        return "core"
    parts = group.removesuffix(".k8s.io").split(".")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def _gv_id(rt: ResourceType) -> str:
    name = friendly(rt.group)
    return name[:1].upper() + name[1:] + rt.version[:1].upper() + rt.version[1:]


def _base(rt: ResourceType) -> str:
    return f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"


def _gvk(group: str, version: str, kind: str) -> dict:
    return {"group": group, "kind": kind, "version": version}


def _list_def(rt: ResourceType) -> str:
    return schema.definition_name(rt.group, rt.version, rt.list_kind) or META + "Status"


def _collection_ops(rt: ResourceType, obj: str) -> list[Op]:
    gv, ns, gvk = _gv_id(rt), "Namespaced" if rt.namespaced else "", _gvk(rt.group, rt.version, rt.kind)
    ops = [
        Op("get", "list", f"list{gv}{ns}{rt.kind}", f"list or watch objects of kind {rt.kind}",
           _list_def(rt), params=LIST_PARAMS, gvk=gvk, watchable=True),
        Op("post", "post", f"create{gv}{ns}{rt.kind}", f"create a {rt.kind}", obj,
           ("200", "201", "202"), WRITE_PARAMS, obj, gvk=gvk),
    ]
    if rt.kind != "Namespace":  # namespaces cannot be deleted as a collection
        ops.append(
            Op("delete", "deletecollection", f"delete{gv}Collection{ns}{rt.kind}",
               f"delete collection of {rt.kind}", META + "Status", params=DELETE_COLLECTION_PARAMS,
               body=META + "DeleteOptions", gvk=gvk)
        )
    return ops


def _item_ops(rt: ResourceType, obj: str, sub: str = "") -> list[Op]:
    """get/put/patch[/delete] on an object or on its status or scale subresource."""
    gv, ns = _gv_id(rt), "Namespaced" if rt.namespaced else ""
    what = f"{sub} of " if sub else ""
    suffix = sub[:1].upper() + sub[1:]
    gvk = _gvk("autoscaling", "v1", "Scale") if sub == "scale" else _gvk(rt.group, rt.version, rt.kind)
    body = schema.definition_name("autoscaling", "v1", "Scale") if sub == "scale" else obj
    ops = [
        Op("get", "get", f"read{gv}{ns}{rt.kind}{suffix}", f"read {what}the specified {rt.kind}", body, gvk=gvk),
        Op("put", "put", f"replace{gv}{ns}{rt.kind}{suffix}", f"replace {what}the specified {rt.kind}", body,
           ("200", "201"), WRITE_PARAMS, body, gvk=gvk),
        Op("patch", "patch", f"patch{gv}{ns}{rt.kind}{suffix}", f"partially update {what}the specified {rt.kind}",
           body, ("200", "201"), PATCH_PARAMS, META + "Patch", PATCH_TYPES, gvk=gvk),
    ]
    if not sub:
        ops.append(
            Op("delete", "delete", f"delete{gv}{ns}{rt.kind}", f"delete a {rt.kind}", META + "Status",
               ("200", "202"), DELETE_PARAMS, META + "DeleteOptions", gvk=gvk)
        )
    return ops


def _special_subresource(rt: ResourceType, sub: str) -> list[Op]:
    """pods/binding, pods/eviction and namespaces/finalize: the non-status subresources we
    serve that have a body of their own."""
    gv = _gv_id(rt)
    if sub == "binding":
        binding = schema.definition_name("", "v1", "Binding")
        return [
            Op("post", "post", f"create{gv}Namespaced{rt.kind}Binding", f"create binding of a {rt.kind}",
               binding, ("200", "201", "202"), WRITE_PARAMS, binding, gvk=_gvk("", "v1", "Binding"))
        ]
    if sub == "eviction":
        eviction = schema.definition_name("policy", "v1", "Eviction")
        return [
            Op("post", "post", f"create{gv}Namespaced{rt.kind}Eviction", f"create eviction of a {rt.kind}",
               eviction, ("200", "201", "202"), WRITE_PARAMS, eviction, gvk=_gvk("policy", "v1", "Eviction"))
        ]
    if sub == "finalize":
        obj = schema.definition_name(rt.group, rt.version, rt.kind)
        return [
            Op("put", "put", f"replace{gv}{rt.kind}Finalize", f"replace finalize of the specified {rt.kind}",
               obj, ("200", "201"), WRITE_PARAMS, obj, gvk=_gvk(rt.group, rt.version, rt.kind))
        ]
    return []


def resource_paths(rt: ResourceType) -> dict[str, PathItem]:
    """The REST paths kube-apiserver declares for one resource (watch paths excepted)."""
    obj = schema.definition_name(rt.group, rt.version, rt.kind)
    if obj is None:
        return {}
    base, plural = _base(rt), rt.plural
    scope = f"{base}/namespaces/{{namespace}}/{plural}" if rt.namespaced else f"{base}/{plural}"
    scope_params = ("namespace", "pretty") if rt.namespaced else ("pretty",)
    item_params = ("name",) + scope_params
    paths: dict[str, PathItem] = {}
    if rt.namespaced:
        gv, gvk = _gv_id(rt), _gvk(rt.group, rt.version, rt.kind)
        every = Op("get", "list", f"list{gv}{rt.kind}ForAllNamespaces", f"list or watch objects of kind {rt.kind}",
                   _list_def(rt), params=LIST_PARAMS, gvk=gvk, watchable=True)
        paths[f"{base}/{plural}"] = PathItem(("pretty",), [every])
    paths[scope] = PathItem(scope_params, _collection_ops(rt, obj))
    paths[scope + "/{name}"] = PathItem(item_params, _item_ops(rt, obj), rt.kind)
    for sub in rt.subresources:
        ops = _item_ops(rt, obj, sub) if sub in ("status", "scale") else _special_subresource(rt, sub)
        if ops:
            paths[f"{scope}/{{name}}/{sub}"] = PathItem(item_params, ops, rt.kind)
    return paths


def _discovery_paths(group: str, version: str) -> dict[str, PathItem]:
    """The discovery document paths of one OpenAPI v3 document key."""
    if not group and not version:
        return {"/api/": PathItem((), [Op("get", "", "getCoreAPIVersions", "get available API versions",
                                          META + "APIVersions")])}
    if group == "*":
        return {"/apis/": PathItem((), [Op("get", "", "getAPIVersions", "get available API versions",
                                           META + "APIGroupList")])}
    name = friendly(group)
    cap = name[:1].upper() + name[1:]
    if not version:
        return {f"/apis/{group}/": PathItem((), [Op("get", "", f"get{cap}APIGroup", "get information of a group",
                                                    META + "APIGroup")])}
    base = f"/apis/{group}/{version}/" if group else f"/api/{version}/"
    op_id = f"get{cap}{version[:1].upper()}{version[1:]}APIResources"
    return {base: PathItem((), [Op("get", "", op_id, "get available resources", META + "APIResourceList")])}


# --- rendering ------------------------------------------------------------------------


def _tag(group: str, version: str) -> str:
    """The operations' tag: "core_v1", "apps_v1", "apps" for a group document."""
    name = "apis" if group == "*" else friendly(group)
    return f"{name}_{version}" if version else name


def _render_op(op: Op, v3: bool, tag: str) -> dict:
    ref = (V3_REF if v3 else V2_REF) + op.response
    produces = PRODUCES_WATCH if op.watchable else PRODUCES
    out: dict = {"description": op.description, "operationId": op.op_id}
    params = [_param(p, v3, patch=op.method == "patch") for p in op.params]
    body_ref = (V3_REF if v3 else V2_REF) + op.body if op.body else ""
    if v3:
        if params:
            out["parameters"] = params
        if op.body:
            out["requestBody"] = {"content": {t: {"schema": {"$ref": body_ref}} for t in op.body_types}}
            if op.method != "delete":
                out["requestBody"]["required"] = True
        content = {t: {"schema": {"$ref": ref}} for t in sorted(produces)}
        out["responses"] = {code: {"content": content, "description": RESPONSE_TEXT[code]} for code in op.codes}
    else:
        if op.body:
            body = {"in": "body", "name": "body", "schema": {"$ref": body_ref}}
            if op.method != "delete":
                body["required"] = True
            params.insert(0, body)
        if params:
            out["parameters"] = params
        out["consumes"] = list(op.body_types)
        out["produces"] = list(produces)
        out["responses"] = {code: {"description": RESPONSE_TEXT[code], "schema": {"$ref": ref}} for code in op.codes}
        out["schemes"] = ["https"]
    if op.action:
        out["responses"]["401"] = {"description": "Unauthorized"}
        out["x-kubernetes-action"] = op.action
        out["x-kubernetes-group-version-kind"] = op.gvk
    out["tags"] = [tag]
    return out


def _render_paths(paths: dict[str, PathItem], v3: bool, tag: str) -> dict:
    out = {}
    for path, item in paths.items():
        rendered: dict = {op.method: _render_op(op, v3, tag) for op in item.ops}
        if item.path_params:
            rendered["parameters"] = [_param(p, v3, kind=item.kind) for p in item.path_params]
        out[path] = rendered
    return out


def _dump(doc: dict) -> bytes:
    # Sorted keys make the bytes, and so the v3 hash, stable across runs.
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def _definitions_for(paths_doc: dict, v3: bool) -> dict:
    found: set[str] = set()
    _refs(paths_doc, found)
    return {name: definition(name, v3) for name in reachable(found)}


# --- v3 -------------------------------------------------------------------------------


def _v3_keys() -> list[tuple[str, str, str]]:
    """(document key, group, version) of every /openapi/v3 document, as kube lists them."""
    keys = [("api", "", ""), ("apis", "*", "")]
    for group, versions in REGISTRY.groups().items():
        if group:
            keys.append((f"apis/{group}", group, ""))
        for version in versions:
            keys.append((f"apis/{group}/{version}" if group else f"api/{version}", group, version))
    return keys


def _v3_paths(group: str, version: str) -> dict[str, PathItem]:
    paths = _discovery_paths(group, version)
    if version:
        for rt in REGISTRY.in_group_version(group, version):
            paths.update(resource_paths(rt))
    return paths


@functools.cache
def _v3_documents() -> dict[str, bytes]:
    docs = {}
    for key, group, version in _v3_keys():
        paths = _render_paths(_v3_paths(group, version), True, _tag(group, version))
        doc = {
            "openapi": "3.0.0",
            "info": {"title": "Kubernetes", "version": VERSION},
            "paths": paths,
            "components": {"schemas": _definitions_for(paths, True)},
        }
        docs[key] = _dump(doc)
    return docs


def _hash(data: bytes) -> str:
    # kube-openapi publishes the upper-case hex SHA-512 of each document.
    return hashlib.sha512(data).hexdigest().upper()


@functools.cache
def _v3_index() -> dict:
    return {
        "paths": {
            key: {"serverRelativeURL": f"/openapi/v3/{key}?hash={_hash(data)}"}
            for key, data in _v3_documents().items()
        }
    }


def openapi_v3_index() -> dict:
    """GET /openapi/v3: {"paths": {"api/v1": {"serverRelativeURL": "...?hash=..."}}}."""
    index = _v3_index()
    return {"paths": {k: dict(v) for k, v in index["paths"].items()}}


def openapi_v3_group(path: str) -> bytes | None:
    """GET /openapi/v3/<path>: the OpenAPI 3.0 document, or None if not served.

    Accepts "api/v1", "/api/v1" or "/openapi/v3/api/v1", with or without ?hash=.
    """
    key = path.split("?", 1)[0].removeprefix("/").removeprefix("openapi/v3").strip("/")
    return _v3_documents().get(key)


def openapi_v3_hash(path: str) -> str | None:
    """The hash of a v3 document (for ETag and cache headers), None if not served."""
    data = openapi_v3_group(path)
    return None if data is None else _hash(data)


# --- v2 -------------------------------------------------------------------------------


@functools.cache
def openapi_v2() -> bytes:
    """GET /openapi/v2 as JSON: a Swagger 2.0 document of every served resource."""
    paths: dict = {}
    for key, group, version in _v3_keys():
        paths.update(_render_paths(_v3_paths(group, version), False, _tag(group, version)))
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": VERSION},
        "paths": paths,
        "definitions": _definitions_for(paths, False),
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            }
        },
        "security": [{"BearerToken": []}],
    }
    return _dump(doc)
