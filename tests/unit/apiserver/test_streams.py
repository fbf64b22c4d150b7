"""The API server's checks before it passes pods/log, exec, attach and portforward on to
an agent (upstream's messages), and how it finds a node's kubelet API."""

from __future__ import annotations

import pytest

from tinykube.api import errors
from tinykube.apiserver import kubelet, proxy_pods


def _pod(containers=("app",), init=(), statuses=None, node="n1", phase="Running") -> dict:
    spec = {"containers": [{"name": c} for c in containers], "nodeName": node}
    if init:
        spec["initContainers"] = [{"name": c} for c in init]
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec,
            "status": {"phase": phase, "containerStatuses": statuses or []}}


@pytest.mark.parametrize("pod, asked, expected", [
    (_pod(), "", "app"),
    (_pod(("a", "b")), "b", "b"),
    (_pod(("a",), init=("i",)), "i", "i"),
])
def test_resolve_container(pod, asked, expected):
    assert proxy_pods.resolve_container(pod, asked) == expected


@pytest.mark.parametrize("pod, asked, message", [
    (_pod(("a", "b")), "", "a container name must be specified for pod web, choose one of: [a b]"),
    (_pod(("a", "b"), init=("i",)), "",
     "a container name must be specified for pod web, choose one of: [a b] or one of the init containers: [i]"),
    (_pod(), "nope", "container nope is not valid for pod web"),
    (_pod(()), "", "pod web does not have a container"),
])
def test_resolve_container_errors(pod, asked, message):
    with pytest.raises(errors.BadRequest) as caught:
        proxy_pods.resolve_container(pod, asked)
    assert caught.value.message == message


RUNNING = {"name": "app", "state": {"running": {}}, "lastState": {}}
CREATING = {"name": "app", "state": {"waiting": {"reason": "ContainerCreating"}}}
CRASHING = {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "containerID": "runc://x"}}}
PULL = {"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}}


@pytest.mark.parametrize("status, previous, message", [
    (RUNNING, False, None),
    (CRASHING, False, None),  # the last instance's logs
    (CRASHING, True, None),
    (None, False, 'container "app" in pod "web" is waiting to start: ContainerCreating'),
    (CREATING, False, 'container "app" in pod "web" is waiting to start: ContainerCreating'),
    (PULL, False, 'container "app" in pod "web" is waiting to start: trying and failing to pull image'),
    (RUNNING, True, 'previous terminated container "app" in pod "web" not found'),
])
def test_log_state_error(status, previous, message):
    pod = _pod(statuses=[status] if status else [])
    assert proxy_pods.log_state_error(pod, "app", previous) == message


@pytest.mark.parametrize("pod, sub, message", [
    (_pod(), "exec", None),
    (_pod(node=""), "exec", "pod web does not have a host assigned"),
    (_pod(phase="Succeeded"), "exec", "cannot exec into a container in a completed pod; current phase is Succeeded"),
    (_pod(phase="Failed"), "attach", "cannot attach to a container in a completed pod; current phase is Failed"),
    (_pod(phase="Succeeded"), "portforward", None),
])
def test_stream_error(pod, sub, message):
    assert proxy_pods.stream_error(pod, sub) == message


@pytest.mark.parametrize("query", [{"tailLines": "x"}, {"sinceSeconds": "0"}, {"limitBytes": "0"},
                                   {"tailLines": "-1"}, {"sinceSeconds": "5", "sinceTime": "2026-11-24T10:00:00Z"}])
def test_validate_log_query_refuses(query):
    with pytest.raises(errors.ApiError) as caught:
        proxy_pods.validate_log_query(query)
    assert caught.value.code in (400, 422)


def test_validate_log_query_accepts():
    proxy_pods.validate_log_query({"tailLines": "0", "sinceSeconds": "60", "limitBytes": "10", "follow": "true"})


def _node(annotations=None, addresses=(), port=10250) -> dict:
    return {"metadata": {"name": "n1", "annotations": annotations or {}},
            "status": {"addresses": [{"type": t, "address": a} for t, a in addresses],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


@pytest.mark.parametrize("node, endpoint", [
    (_node({kubelet.ADDRESS_ANNOTATION: "127.0.0.1"}, [("InternalIP", "10.0.0.5")], 4321), ("127.0.0.1", 4321)),
    (_node(addresses=[("Hostname", "n1"), ("InternalIP", "10.0.0.5")]), ("10.0.0.5", 10250)),
    (_node(addresses=[("Hostname", "n1")]), ("n1", 10250)),
])
def test_node_endpoint(node, endpoint):
    assert kubelet.node_endpoint(node) == endpoint


def test_node_without_endpoint_is_unavailable():
    with pytest.raises(errors.ServiceUnavailable):
        kubelet.node_endpoint(_node(addresses=[("InternalIP", "10.0.0.5")], port=0))


def test_url_brackets_ipv6():
    assert kubelet.url("::1", 10250, "/healthz") == "https://[::1]:10250/healthz"
