"""API discovery documents, built once from the registry of kinds.

Legacy discovery (/api, /apis, /api/v1, /apis/G, /apis/G/V) and aggregated discovery
(apidiscovery.k8s.io/v2, which kubectl 1.30+ asks for first on /api and /apis so that
one request describes every resource).
"""

from __future__ import annotations

import functools
import platform

from tinykube.api.registry import REGISTRY, VERBS, ResourceType
from tinykube.api.schema import KUBERNETES_VERSION
from tinykube.apiserver import metrics

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
JSON = "application/json"

# Subresource -> (response group, version, kind, verbs), as kube-apiserver reports them.
SUBRESOURCES = {
    "status": (None, None, None, ("get", "patch", "update")),
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "binding": ("", "v1", "Binding", ("create",)),
    "eviction": ("policy", "v1", "Eviction", ("create",)),  # what kubectl drain looks for
    "finalize": ("", "v1", "Namespace", ("update",)),
    "log": (None, None, None, ("get",)),
    "exec": ("", "v1", "PodExecOptions", ("create", "get")),
    "attach": ("", "v1", "PodAttachOptions", ("create", "get")),
    "portforward": ("", "v1", "PodPortForwardOptions", ("create", "get")),
}


def version_info() -> dict:
    major, minor, _ = KUBERNETES_VERSION.split(".")
    return {
        "major": major, "minor": minor, "gitVersion": f"v{KUBERNETES_VERSION}+tinykube",
        "gitCommit": "tinykube", "gitTreeState": "clean", "buildDate": "2026-11-24T00:00:00Z",
        "goVersion": f"python{platform.python_version()}", "compiler": "cpython",
        "platform": f"linux/{_arch()}",
    }


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


class Discovery:
    def document(self, path: str, accept: str) -> tuple[dict, str] | None:
        """(body, content type) for a discovery path, or None."""
        aggregated = "apidiscovery.k8s.io" in accept and "as=APIGroupDiscoveryList" in accept
        if path == "/api":
            return (_aggregated(core=True), AGGREGATED) if aggregated else (_api_versions(), JSON)
        if path == "/apis":
            return (_aggregated(core=False), AGGREGATED) if aggregated else (_group_list(), JSON)
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and parts[0] == "api":
            return _resource_list("", parts[1])
        if len(parts) == 2 and parts[0] == "apis":
            group = _group(parts[1])
            return (group, JSON) if group else None
        if len(parts) == 3 and parts[0] == "apis":
            return _resource_list(parts[1], parts[2])
        return None


def _api_versions() -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}


def _named_groups() -> dict[str, list[str]]:
    return {g: v for g, v in REGISTRY.groups().items() if g}


@functools.cache
def _group_list() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name) for name in _named_groups()] + [metrics.api_group()]}


def _group(name: str) -> dict | None:
    versions = _named_groups().get(name)
    if not versions:
        return None
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": listed,
            "preferredVersion": listed[0]}


@functools.cache
def _resource_list_body(group: str, version: str) -> dict | None:
    types = REGISTRY.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for rt in types:
        resources.append(_legacy_resource(rt))
        for sub in rt.subresources:
            resources.append(_legacy_subresource(rt, sub))
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": resources}


def _resource_list(group: str, version: str):
    body = _resource_list_body(group, version)
    return (body, JSON) if body else None


def _legacy_resource(rt: ResourceType) -> dict:
    entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
             "kind": rt.kind, "verbs": list(VERBS), "storageVersionHash": _hash(rt)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def _legacy_subresource(rt: ResourceType, sub: str) -> dict:
    group, version, kind, verbs = SUBRESOURCES.get(sub, (None, None, None, ("get",)))
    entry = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
             "kind": kind or rt.kind, "verbs": list(verbs)}
    if group is not None and group != rt.group:
        entry["group"], entry["version"] = group, version
    return entry


def _hash(rt: ResourceType) -> str:
    import hashlib

    digest = hashlib.sha256(f"{rt.api_version}/{rt.kind}".encode()).digest()
    import base64

    return base64.b64encode(digest[:8]).decode()


@functools.cache
def _aggregated(core: bool) -> dict:
    groups = {"": ["v1"]} if core else _named_groups()
    items = [{"metadata": {"name": name},
              "versions": [_aggregated_version(name, v) for v in versions]}
             for name, versions in groups.items()]
    if not core:  # served from the agents (metrics.py), not a stored kind
        items.append(metrics.aggregated_group())
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2",
            "metadata": {}, "items": items}


def _aggregated_version(group: str, version: str) -> dict:
    resources = [_aggregated_resource(rt) for rt in REGISTRY.in_group_version(group, version)]
    return {"version": version, "resources": resources, "freshness": "Current"}


def _aggregated_resource(rt: ResourceType) -> dict:
    entry = {"resource": rt.plural,
             "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
             "scope": "Namespaced" if rt.namespaced else "Cluster",
             "singularResource": rt.singular, "verbs": list(VERBS)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        group, version, kind, verbs = SUBRESOURCES.get(sub, (None, None, None, ("get",)))
        subs.append({"subresource": sub,
                     "responseKind": {"group": rt.group if group is None else group,
                                      "version": version or rt.version, "kind": kind or rt.kind},
                     "verbs": list(verbs)})
    if subs:
        entry["subresources"] = subs
    return entry
