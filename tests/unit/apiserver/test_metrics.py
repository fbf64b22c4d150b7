"""metrics.k8s.io shaping: NodeMetrics and PodMetrics as metrics-server writes them,
paths, and the discovery entries kubectl top looks for."""

from __future__ import annotations

import pytest

from tinykube.api import errors
from tinykube.apiserver import discovery, metrics

NOW = 1795514400.0
POINT = {"timestamp": NOW - 1, "window": 10.25, "nanocores": 998_000_000, "memoryWorkingSetBytes": 5 * 1024 * 1024 + 100}


def test_node_metrics():
    node = {"metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1"}}}
    doc = metrics.node_metrics(node, POINT, NOW)
    assert doc["kind"] == "NodeMetrics" and doc["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert doc["metadata"] == {"name": "n1", "creationTimestamp": "2026-11-24T10:00:00Z",
                               "labels": {"kubernetes.io/hostname": "n1"}}
    assert doc["timestamp"] == "2026-11-24T09:59:59Z" and doc["window"] == "10.25s"
    assert doc["usage"] == {"cpu": "998000000n", "memory": "5120Ki"}


def test_pod_metrics_lists_containers():
    pod = {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}}}
    entry = {"timestamp": NOW, "window": 5.0, "containers": [{"name": "app", **POINT}, {"name": "side", **POINT}]}
    doc = metrics.pod_metrics(pod, entry, NOW)
    assert doc["kind"] == "PodMetrics" and doc["metadata"]["namespace"] == "default"
    assert [c["name"] for c in doc["containers"]] == ["app", "side"]
    assert doc["containers"][0]["usage"]["cpu"] == "998000000n"
    assert metrics.metrics_list("PodMetrics", [doc])["kind"] == "PodMetricsList"


@pytest.mark.parametrize("path, parsed", [
    ("/apis/metrics.k8s.io", None),
    ("/apis/metrics.k8s.io/v1beta1", None),
    ("/apis/metrics.k8s.io/v1beta1/nodes", ("nodes", "", "")),
    ("/apis/metrics.k8s.io/v1beta1/nodes/n1", ("nodes", "", "n1")),
    ("/apis/metrics.k8s.io/v1beta1/pods", ("pods", "", "")),
    ("/apis/metrics.k8s.io/v1beta1/namespaces/default/pods/web", ("pods", "default", "web")),
])
def test_parse(path, parsed):
    assert metrics._parse(path) == parsed


@pytest.mark.parametrize("path", ["/apis/metrics.k8s.io/v1/nodes", "/apis/metrics.k8s.io/v1beta1/services",
                                  "/apis/metrics.k8s.io/v1beta1/namespaces/default/nodes"])
def test_parse_unknown(path):
    with pytest.raises(errors.NotFound):
        metrics._parse(path)


def test_discovery_lists_the_metrics_group_both_ways():
    legacy, _ = discovery.Discovery().document("/apis", "application/json")
    assert any(g["name"] == "metrics.k8s.io" for g in legacy["groups"])
    aggregated, _ = discovery.Discovery().document("/apis", discovery.AGGREGATED)
    group = next(i for i in aggregated["items"] if i["metadata"]["name"] == "metrics.k8s.io")
    kinds = {r["resource"]: r["responseKind"]["kind"] for r in group["versions"][0]["resources"]}
    assert kinds == {"nodes": "NodeMetrics", "pods": "PodMetrics"}


def test_pod_subresources_are_discoverable():
    body, _ = discovery.Discovery().document("/api/v1", "application/json")
    names = {r["name"]: r for r in body["resources"]}
    assert names["pods/exec"]["kind"] == "PodExecOptions" and "create" in names["pods/exec"]["verbs"]
    assert names["pods/log"]["kind"] == "Pod" and names["pods/portforward"]["kind"] == "PodPortForwardOptions"
