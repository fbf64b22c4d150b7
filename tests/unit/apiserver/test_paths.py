"""Table tests of REST path parsing."""

import pytest

from tinykube.api import errors
from tinykube.apiserver import paths

CASES = [
    ("/api/v1/pods", ("pods", "", "", "", False)),
    ("/api/v1/namespaces/default/pods", ("pods", "default", "", "", False)),
    ("/api/v1/namespaces/default/pods/web", ("pods", "default", "web", "", False)),
    ("/api/v1/namespaces/default/pods/web/status", ("pods", "default", "web", "status", False)),
    ("/api/v1/namespaces", ("namespaces", "", "", "", False)),
    ("/api/v1/namespaces/kube-system", ("namespaces", "", "kube-system", "", False)),
    ("/api/v1/namespaces/gone/finalize", ("namespaces", "", "gone", "finalize", False)),
    ("/api/v1/nodes/n1", ("nodes", "", "n1", "", False)),
    ("/apis/apps/v1/namespaces/x/deployments/web/scale", ("deployments", "x", "web", "scale", False)),
    ("/apis/apps/v1/deployments", ("deployments", "", "", "", False)),
    ("/api/v1/watch/namespaces/x/configmaps", ("configmaps", "x", "", "", True)),
    ("/apis/events.k8s.io/v1/namespaces/x/events", ("events", "x", "", "", False)),
]


@pytest.mark.parametrize("path,expected", CASES)
def test_parse(path, expected):
    t = paths.parse(path)
    assert (t.rt.plural, t.namespace, t.name, t.subresource, t.legacy_watch) == expected


@pytest.mark.parametrize("path", ["/", "/api", "/apis", "/api/v1", "/apis/apps/v1", "/healthz", "/version"])
def test_non_resource_paths(path):
    assert paths.parse(path) is None


@pytest.mark.parametrize("path", [
    "/api/v1/widgets",
    "/api/v1/namespaces/x/nodes",             # cluster-scoped under a namespace
    "/api/v1/namespaces/x/configmaps/c/scale",  # no such subresource
    "/apis/apps/v2/deployments",
    "/api/v1/namespaces/x/pods/a/status/extra",
])
def test_unknown_resources_are_not_found(path):
    with pytest.raises(errors.NotFound):
        paths.parse(path)
