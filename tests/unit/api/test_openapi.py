"""The OpenAPI documents, checked the way kubectl 1.32 reads them: the explain
template's GVR -> GVK -> schema lookup and field walk, the fieldValidation query
parameter verifier (v3 and v2), and the strategic-merge-patch support check."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import orjson
import pytest

from tinykube.api import openapi
from tinykube.api.registry import REGISTRY, ResourceType


def v3(key: str) -> dict:
    data = openapi.openapi_v3_group(key)
    assert data is not None, key
    return orjson.loads(data)


def gv_key(rt: ResourceType) -> str:
    return f"apis/{rt.group}/{rt.version}" if rt.group else f"api/{rt.version}"


def all_refs(node, out: list[str]) -> list[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append(node["$ref"])
        for value in node.values():
            all_refs(value, out)
    elif isinstance(node, list):
        for value in node:
            all_refs(value, out)
    return out


def resolve(doc: dict, schema: dict) -> dict:
    """What kubectl's resolveRef does for one level: follow $ref inside the document."""
    ref = schema.get("$ref")
    if not ref:
        return schema
    cur = doc
    for part in ref.lstrip("#/").split("/"):
        cur = cur[part]
    return cur


# --- kubectl explain (templates/plaintext.tmpl), ported -----------------------------


def explain_gvk(doc: dict, rt: ResourceType) -> dict | None:
    """The GVK explain pulls from the operations of the resource's REST paths."""
    prefix = f"/apis/{rt.group}" if rt.group else "/api"
    search = [
        f"{prefix}/{rt.version}/{rt.plural}",
        f"{prefix}/{rt.version}/{rt.plural}/{{name}}",
        f"{prefix}/{rt.version}/namespaces/{{namespace}}/{rt.plural}",
        f"{prefix}/{rt.version}/namespaces/{{namespace}}/{rt.plural}/{{name}}",
    ]
    for path in search:
        item = doc["paths"].get(path)
        for method in ("get", "post", "put", "patch", "delete"):
            if item and method in item and "x-kubernetes-group-version-kind" in item[method]:
                return item[method]["x-kubernetes-group-version-kind"]
    return None


def explain_schema(doc: dict, gvk: dict) -> dict | None:
    for schema in doc["components"]["schemas"].values():
        if gvk in (schema.get("x-kubernetes-group-version-kind") or []):
            return schema
    return None


def explain_field(doc: dict, schema: dict, path: list[str]) -> dict | None:
    """The "output" template: follow properties, then items/additionalProperties/allOf."""
    if not path:
        return schema
    resolved = resolve(doc, schema)
    if path[0] in (resolved.get("properties") or {}):
        return explain_field(doc, resolved["properties"][path[0]], path[1:])
    if "items" in resolved:
        return explain_field(doc, resolved["items"], path)
    if isinstance(resolved.get("additionalProperties"), dict):
        return explain_field(doc, resolved["additionalProperties"], path)
    for sub in resolved.get("allOf") or []:
        found = explain_field(doc, sub, path)
        if found is not None:
            return found
    return None


def type_guess(doc: dict, schema: dict) -> str:
    """The "typeGuess" template: the <Type> explain prints next to a field."""
    if "items" in schema:
        return "[]" + type_guess(doc, schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + type_guess(doc, schema["additionalProperties"])
    if schema.get("allOf") and not schema.get("properties") and len(schema["allOf"]) == 1:
        return type_guess(doc, schema["allOf"][0])
    if "$ref" in schema:
        target = resolve(doc, schema)
        if not target.get("type") or target["type"] == "object":
            return schema["$ref"].rsplit("/", 1)[-1].rsplit(".", 1)[-1]
        return target["type"]
    return "Object" if schema.get("type", "object") == "object" else schema["type"]


def descriptions(doc: dict, schema: dict) -> list[str]:
    """The "description" template: own description, then those of allOf members."""
    resolved = resolve(doc, schema)
    out = [resolved["description"]] if resolved.get("description") else []
    for sub in resolved.get("allOf") or []:
        out += descriptions(doc, sub)
    return out


def test_openapi_explain_pod_livenessprobe():
    doc = v3("api/v1")
    gvk = explain_gvk(doc, REGISTRY.by_kind("", "v1", "Pod"))
    assert gvk == {"group": "", "kind": "Pod", "version": "v1"}
    pod = explain_schema(doc, gvk)
    probe = explain_field(doc, pod, ["spec", "containers", "livenessProbe"])
    assert type_guess(doc, probe) == "Probe"
    # Field description first, then the Probe type's own, as real kubectl prints.
    texts = descriptions(doc, probe)
    assert texts[0].startswith("Periodic probe of container liveness.")
    assert texts[1].startswith("Probe describes a health check")
    fields = resolve(doc, probe["allOf"][0])["properties"]
    assert {"httpGet", "exec", "tcpSocket", "periodSeconds"} <= set(fields)
    port = explain_field(doc, pod, ["spec", "containers", "livenessProbe", "httpGet", "port"])
    assert type_guess(doc, port) == "IntOrString"
    assert type_guess(doc, explain_field(doc, pod, ["spec", "containers"])) == "[]Container"
    limits = explain_field(doc, pod, ["spec", "containers", "resources", "limits"])
    assert type_guess(doc, limits) == "map[string]Quantity"
    assert type_guess(doc, explain_field(doc, pod, ["metadata", "labels"])) == "map[string]string"
    assert explain_field(doc, pod, ["spec", "nope"]) is None


def _recursive_fields(doc: dict, schema: dict, history: frozenset, depth: int, out: list) -> None:
    """The "fieldList" template with Recursive: stop at refs already on the path."""
    ref = schema.get("$ref", "")
    if ref and ref in history:
        return
    history = history | {ref}
    resolved = resolve(doc, schema)
    for name, sub in (resolved.get("properties") or {}).items():
        out.append(("  " * depth) + name)
        _recursive_fields(doc, sub, history, depth + 1, out)
    for sub in resolved.get("allOf") or []:
        _recursive_fields(doc, sub, history, depth, out)
    if "items" in resolved:
        _recursive_fields(doc, resolved["items"], history, depth, out)
    if isinstance(resolved.get("additionalProperties"), dict):
        _recursive_fields(doc, resolved["additionalProperties"], history, depth, out)


def test_openapi_explain_deployment_recursive():
    doc = v3("apis/apps/v1")
    deployment = explain_schema(doc, explain_gvk(doc, REGISTRY.by_kind("apps", "v1", "Deployment")))
    out: list[str] = []
    _recursive_fields(doc, deployment, frozenset(), 0, out)
    assert out[:3] == ["apiVersion", "kind", "metadata"]
    assert "      containers" in out and "  strategy" in out
    assert len(out) > 500


@pytest.mark.parametrize("rt", REGISTRY.resources, ids=lambda r: f"{r.group or 'core'}/{r.kind}")
def test_openapi_explain_finds_every_kind(rt):
    doc = v3(gv_key(rt))
    gvk = explain_gvk(doc, rt)
    assert gvk == {"group": rt.group, "kind": rt.kind, "version": rt.version}
    schema = explain_schema(doc, gvk)
    assert schema is not None and schema["description"]
    assert "enum" not in schema["properties"]["kind"]


# --- field validation support (query_param_verifier_v3.go / query_param_verifier.go) --


def supports_field_validation_v3(doc: dict, gvk: dict) -> bool:
    # Go iterates a map, so *every* PATCH with this GVK must declare the parameter.
    verdicts = []
    for item in doc["paths"].values():
        op = item.get("patch")
        if op and op.get("x-kubernetes-group-version-kind") == gvk:
            verdicts.append(any(p["name"] == "fieldValidation" for p in op.get("parameters", [])))
    return bool(verdicts) and all(verdicts)


def supports_smp_v3(doc: dict, gvk: dict) -> bool:
    for item in doc["paths"].values():
        op = item.get("patch")
        if op and op.get("x-kubernetes-group-version-kind") == gvk:
            return "application/strategic-merge-patch+json" in op["requestBody"]["content"]
    return False


@pytest.mark.parametrize("rt", REGISTRY.resources, ids=lambda r: f"{r.group or 'core'}/{r.kind}")
def test_openapi_v3_field_validation_and_smp(rt):
    doc = v3(gv_key(rt))
    gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
    assert supports_field_validation_v3(doc, gvk)
    assert supports_smp_v3(doc, gvk)
    for item in doc["paths"].values():
        for method in ("post", "put", "patch"):
            if method in item and item[method].get("x-kubernetes-action"):
                names = [p["name"] for p in item[method]["parameters"]]
                assert {"dryRun", "fieldManager", "fieldValidation"} <= set(names)


def test_openapi_v2_field_validation_support():
    doc = orjson.loads(openapi.openapi_v2())
    for rt in REGISTRY.resources:
        gvk = {"group": rt.group, "kind": rt.kind, "version": rt.version}
        # supportsQueryParam: the first path whose PATCH carries the GVK decides.
        first = next(i["patch"] for i in doc["paths"].values()
                     if i.get("patch", {}).get("x-kubernetes-group-version-kind") == gvk)
        assert any(p.get("name") == "fieldValidation" and p["in"] == "query" for p in first["parameters"])
        assert first["x-kubernetes-action"] == "patch"


# --- document structure ---------------------------------------------------------------


def test_openapi_v2_document():
    doc = orjson.loads(openapi.openapi_v2())
    assert doc["swagger"] == "2.0" and doc["info"] == {"title": "Kubernetes", "version": "v1.32.0"}
    defs = doc["definitions"]
    for ref in all_refs(doc, []):
        assert ref.startswith("#/definitions/") and ref.removeprefix("#/definitions/") in defs, ref
    assert defs["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {"format": "int-or-string", "type": "string"}
    assert defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {"type": "string"}
    pod = defs["io.k8s.api.core.v1.Pod"]
    assert pod["type"] == "object" and "enum" not in pod["properties"]["apiVersion"]
    assert pod["properties"]["spec"] == {"$ref": "#/definitions/io.k8s.api.core.v1.PodSpec",
                                         "description": pod["properties"]["spec"]["description"]}
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-type"] == "map"
    assert all(not isinstance(t, list) for t in _types(doc))
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert item["patch"]["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    patch_ref = "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
    body = {"in": "body", "name": "body", "required": True, "schema": {"$ref": patch_ref}}
    assert item["patch"]["parameters"][0] == body
    assert "application/strategic-merge-patch+json" in item["patch"]["consumes"]
    assert {p["name"] for p in item["parameters"]} == {"name", "namespace", "pretty"}


def _types(node, out=None) -> list:
    out = [] if out is None else out
    if isinstance(node, dict):
        if "type" in node and not isinstance(node["type"], dict):
            out.append(node["type"])
        for key, value in node.items():
            if key != "properties" or isinstance(value, dict):
                _types(value, out)
    elif isinstance(node, list):
        for value in node:
            _types(value, out)
    return out


def test_openapi_v3_index_and_hashes():
    index = openapi.openapi_v3_index()
    keys = set(index["paths"])
    assert {"api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "apis/batch/v1", "apis/events.k8s.io/v1",
            "apis/coordination.k8s.io/v1", "apis/discovery.k8s.io/v1"} <= keys
    for key, entry in index["paths"].items():
        data = openapi.openapi_v3_group(key)
        digest = hashlib.sha512(data).hexdigest().upper()
        assert entry["serverRelativeURL"] == f"/openapi/v3/{key}?hash={digest}"
    assert openapi.openapi_v3_index() == index  # stable
    assert openapi.openapi_v3_group("/openapi/v3/api/v1?hash=x") == openapi.openapi_v3_group("api/v1")
    assert openapi.openapi_v3_group("/api/v1") == openapi.openapi_v3_group("api/v1")
    assert openapi.openapi_v3_group("apis/nope/v1") is None
    assert openapi.openapi_v3_hash("api/v1") == hashlib.sha512(openapi.openapi_v3_group("api/v1")).hexdigest().upper()


@pytest.mark.parametrize("key", ["api", "apis", "api/v1", "apis/apps", "apis/apps/v1", "apis/events.k8s.io/v1"])
def test_openapi_v3_refs_resolve(key):
    doc = v3(key)
    assert doc["openapi"] == "3.0.0" and doc["info"]["title"] == "Kubernetes"
    schemas = doc["components"]["schemas"]
    for ref in all_refs(doc, []):
        assert ref.startswith("#/components/schemas/") and ref.removeprefix("#/components/schemas/") in schemas
    assert all(not isinstance(t, list) for t in _types(doc))


def test_openapi_v3_schema_forms():
    schemas = v3("api/v1")["components"]["schemas"]
    spec = schemas["io.k8s.api.core.v1.Pod"]["properties"]["spec"]
    assert spec["allOf"] == [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}]
    assert spec["description"].startswith("Specification of the desired behavior of the pod.")
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["items"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.Container"}
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert schemas["io.k8s.apimachinery.pkg.util.intstr.IntOrString"] == {
        "format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]}
    assert schemas["io.k8s.apimachinery.pkg.api.resource.Quantity"] == {"oneOf": [{"type": "string"},
                                                                                  {"type": "number"}]}
    # Only what the group-version reaches: no apps types in the core document.
    assert "io.k8s.api.apps.v1.Deployment" not in schemas
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions" in schemas


def test_openapi_v3_paths_like_kube_apiserver():
    paths = v3("apis/apps/v1")["paths"]
    base = "/apis/apps/v1/namespaces/{namespace}/deployments"
    assert set(paths[base]) == {"get", "post", "delete", "parameters"}
    assert paths[base]["delete"]["x-kubernetes-action"] == "deletecollection"
    assert paths["/apis/apps/v1/deployments"]["get"]["operationId"] == "listAppsV1DeploymentForAllNamespaces"
    item = paths[base + "/{name}"]
    assert item["patch"]["operationId"] == "patchAppsV1NamespacedDeployment"
    assert [p["name"] for p in item["patch"]["parameters"]] == ["dryRun", "fieldManager", "fieldValidation", "force"]
    assert item["patch"]["responses"]["401"] == {"description": "Unauthorized"}
    assert item["delete"]["x-kubernetes-action"] == "delete"
    scale = paths[base + "/{name}/scale"]["put"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale", "version": "v1"}
    assert paths[base + "/{name}/status"]["patch"]["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert paths["/apis/apps/v1/"]["get"]["operationId"] == "getAppsV1APIResources"
    core = v3("api/v1")["paths"]
    assert "delete" not in core["/api/v1/namespaces"]  # no deletecollection of namespaces
    assert core["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]["x-kubernetes-group-version-kind"][
        "kind"] == "Binding"
    eviction = core["/api/v1/namespaces/{namespace}/pods/{name}/eviction"]["post"]
    assert eviction["operationId"] == "createCoreV1NamespacedPodEviction"
    assert eviction["x-kubernetes-group-version-kind"] == {"group": "policy", "kind": "Eviction", "version": "v1"}
    assert "put" in core["/api/v1/namespaces/{name}/finalize"]
    assert "/api/v1/nodes/{name}/status" in core and "/api/v1/nodes" in core


def test_openapi_is_lazy_at_import():
    # Server start must stay fast: importing builds nothing and loads no schema.
    code = (
        "import tinykube.api.openapi, tinykube.api.printers, tinykube.api.fieldcheck\n"
        "from tinykube.api import schema\n"
        "assert schema.definitions.cache_info().currsize == 0\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
