"""metrics.k8s.io/v1beta1 (NodeMetrics, PodMetrics) for `kubectl top`, from the agents.

Where Kubernetes runs metrics-server behind the aggregation layer, tinykube's API
server serves the group itself: it asks each node's kubelet API for its figures
(/metrics/resource.json: cpu as a rate over the agent's last sampling window, memory
working set) and shapes them as metrics-server does (cpu in nanocores "123n", memory in
"Ki", timestamp and window). Read-only: get and list, labelSelector on both. Discovery
(legacy and aggregated) lists the group through discovery.py.
"""

from __future__ import annotations

import asyncio
import datetime
import logging

import aiohttp
from aiohttp import web

from tinykube.api import errors
from tinykube.api.registry import REGISTRY
from tinykube.api.selectors import parse_label_selector
from tinykube.apiserver import kubelet as kubelets
from tinykube.apiserver.resources import to_external
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP}"
AGENT_TIMEOUT = 5.0
VERBS = ["get", "list"]


# === discovery =================================================================================


def api_group() -> dict:
    version = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [version], "preferredVersion": version}


def resource_list() -> dict:
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": VERBS},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": VERBS}]}


def aggregated_group() -> dict:
    def resource(plural: str, kind: str, scope: str) -> dict:
        return {"resource": plural, "responseKind": {"group": GROUP, "version": VERSION, "kind": kind},
                "scope": scope, "singularResource": "", "verbs": VERBS}

    return {"metadata": {"name": GROUP}, "versions": [{
        "version": VERSION, "freshness": "Current",
        "resources": [resource("nodes", "NodeMetrics", "Cluster"), resource("pods", "PodMetrics", "Namespaced")]}]}


# === shaping (pure) ============================================================================


def rfc3339(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(int(seconds), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(seconds: float) -> str:
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def usage(point: dict) -> dict:
    return {"cpu": f"{int(point['nanocores'])}n", "memory": f"{int(point['memoryWorkingSetBytes']) // 1024}Ki"}


def node_metrics(node: dict, point: dict, now: float) -> dict:
    md = node["metadata"]
    return {"kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
            "metadata": {"name": md["name"], "creationTimestamp": rfc3339(now), "labels": md.get("labels") or {}},
            "timestamp": rfc3339(point["timestamp"]), "window": window(point["window"]), "usage": usage(point)}


def pod_metrics(pod: dict, entry: dict, now: float) -> dict:
    md = pod["metadata"]
    return {"kind": "PodMetrics", "apiVersion": GROUP_VERSION,
            "metadata": {"name": md["name"], "namespace": md["namespace"], "creationTimestamp": rfc3339(now),
                         "labels": md.get("labels") or {}},
            "timestamp": rfc3339(entry["timestamp"]), "window": window(entry["window"]),
            "containers": [{"name": c["name"], "usage": usage(c)} for c in entry["containers"]]}


def metrics_list(kind: str, items: list[dict]) -> dict:
    return {"kind": f"{kind}List", "apiVersion": GROUP_VERSION, "metadata": {}, "items": items}


# === serving ===================================================================================


def _parse(path: str) -> tuple[str, str, str] | None:
    """(plural, namespace, name) of a metrics path; None for a discovery path."""
    parts = [p for p in path[len(PREFIX):].split("/") if p]
    if not parts or parts == [VERSION]:
        return None
    if parts[0] != VERSION:
        raise errors.NotFound("the server could not find the requested resource")
    rest = parts[1:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in ("nodes", "pods") or len(rest) > 2 or (namespace and rest[0] == "nodes"):
        raise errors.NotFound("the server could not find the requested resource")
    return rest[0], namespace, rest[1] if len(rest) == 2 else ""


async def serve(request: web.Request, resources, kubelet: kubelets.KubeletClient) -> web.Response:
    path = request.path.rstrip("/")
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        raise errors.NotFound("the server could not find the requested resource")
    if request.method != "GET":
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    target = _parse(path)
    if target is None:
        body = api_group() if path == PREFIX else resource_list()
        if path == PREFIX:
            body = {"kind": "APIGroup", "apiVersion": "v1", **body}
        return _json(body)
    plural, namespace, name = target
    selector = parse_label_selector(request.query.get("labelSelector", ""))
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    if plural == "nodes":
        return _json(await _nodes(resources, kubelet, name, selector, now))
    return _json(await _pods(resources, kubelet, namespace, name, selector, now))


async def _nodes(resources, kubelet, name: str, selector, now: float) -> dict:
    rt = REGISTRY.by_plural("", "v1", "nodes")
    nodes = [to_external(rt, e.obj) for e in (await resources.list(rt, "")).entries]
    nodes = [n for n in nodes if (not name or n["metadata"]["name"] == name)
             and selector.matches(n["metadata"].get("labels"))]
    documents = await _scrape(kubelet, nodes)
    items = [node_metrics(n, d["node"], now) for n, d in zip(nodes, documents) if d and d.get("node")]
    if name:
        if not items:
            raise errors.not_found("nodes", name, GROUP)
        return items[0]
    return metrics_list("NodeMetrics", items)


async def _pods(resources, kubelet, namespace: str, name: str, selector, now: float) -> dict:
    pod_rt, node_rt = REGISTRY.by_plural("", "v1", "pods"), REGISTRY.by_plural("", "v1", "nodes")
    pods = [to_external(pod_rt, e.obj) for e in (await resources.list(pod_rt, namespace)).entries]
    pods = [p for p in pods if (not name or p["metadata"]["name"] == name)
            and selector.matches(p["metadata"].get("labels")) and p.get("spec", {}).get("nodeName")]
    wanted_nodes = {p["spec"]["nodeName"] for p in pods}
    nodes = [to_external(node_rt, e.obj) for e in (await resources.list(node_rt, "")).entries
             if e.obj["metadata"]["name"] in wanted_nodes]
    figures = {}
    for document in await _scrape(kubelet, nodes):
        for entry in (document or {}).get("pods", []):
            figures[(entry["namespace"], entry["name"])] = entry
    items = [pod_metrics(p, figures[key], now) for p in pods
             if (key := (p["metadata"]["namespace"], p["metadata"]["name"])) in figures]
    if name:
        if not items:
            raise errors.not_found("pods", name, GROUP)
        return items[0]
    return metrics_list("PodMetrics", items)


async def _scrape(kubelet, nodes: list[dict]) -> list[dict | None]:
    return await asyncio.gather(*(_scrape_one(kubelet, n) for n in nodes))


async def _scrape_one(kubelet, node: dict) -> dict | None:
    """One node's figures; None (logged) when its agent does not answer: its pods are
    left out, as metrics-server leaves out nodes it cannot scrape."""
    try:
        address, port = kubelets.node_endpoint(node)
        url = kubelets.url(address, port, "/metrics/resource.json")
        async with kubelet.session.get(url, timeout=aiohttp.ClientTimeout(total=AGENT_TIMEOUT)) as resp:
            if resp.status != 200:
                raise OSError(f"status {resp.status}")
            return jsonutil.loads(await resp.read())
    except (errors.ApiError, aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
        log.info("no metrics from node %s: %s", node["metadata"]["name"], exc)
        return None


def _json(body: dict) -> web.Response:
    return web.Response(body=jsonutil.dumps(body), content_type="application/json")
