"""gRPC probes and the immediate readiness run, with the real runc, CNI and kubectl.

The busybox image has no gRPC server, so the `grpc` pod's container runs this
machine's Python with grpcio (the `test` extra) through read-only hostPath mounts (the
system libraries, the Python installation, the venv) and serves
grpc.health.v1.Health/Check from a small script: a real server in a real container,
reached by the agent from inside the pod's network namespace. Files the test writes into
the pod's hostPath directory (`/ctl`) steer what each service answers.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time

import pytest

from tests.integration.cluster import IMAGE, real_cluster

pytestmark = pytest.mark.integration

BB = "/bin/busybox"
PORT = 9090

# "" answers SERVING while /ctl/ready exists, "live" while /ctl/live exists; any other
# service is unknown (NOT_FOUND), as grpc's own health servicer says.
SERVER = f"""
import os, sys
from concurrent import futures
import grpc

FILES = {{"": "/ctl/ready", "live": "/ctl/live"}}

def field(status):  # HealthCheckResponse{{status}}: field 1, varint
    return bytes([0x08, status])

def service_of(request):  # HealthCheckRequest{{service}}: field 1, length-delimited
    return request[2:2 + request[1]].decode() if request[:1] == b"\\x0a" else ""

def check(request, context):
    service = service_of(request)
    if service not in FILES:
        context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
    return field(1 if os.path.exists(FILES[service]) else 2)

server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
    "grpc.health.v1.Health", {{"Check": grpc.unary_unary_rpc_method_handler(check)}}),))
server.add_insecure_port("0.0.0.0:{PORT}")
server.start()
print("serving", flush=True)
server.wait_for_termination()
"""


def _host_python_mounts() -> tuple[list[dict], list[dict]]:
    """Volumes and mounts that let a container run this machine's venv Python."""
    paths = ["/usr", "/lib", os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)]
    if os.path.isdir("/lib64"):
        paths.append("/lib64")
    volumes, mounts = [], []
    for i, path in enumerate(dict.fromkeys(paths)):
        volumes.append({"name": f"host{i}", "hostPath": {"path": path}})
        mounts.append({"name": f"host{i}", "mountPath": path, "readOnly": True})
    return volumes, mounts


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with real_cluster(tmp_path_factory, nodes=("n1",)) as c:
        yield c


def _ctl(tmp_path_factory, name: str) -> str:
    path = str(tmp_path_factory.mktemp(f"ctl-{name}"))
    os.chmod(path, 0o777)
    return path


def _pod(name: str, ctl: str, container: dict, volumes=(), mounts=()) -> dict:
    container = {"name": "app", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                 "volumeMounts": [{"name": "ctl", "mountPath": "/ctl"}, *mounts], **container}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 1, "containers": [container],
                     "volumes": [{"name": "ctl", "hostPath": {"path": ctl}}, *volumes]}}


@pytest.fixture(scope="module")
def pods(cluster, tmp_path_factory):
    grpc_ctl = _ctl(tmp_path_factory, "grpc")
    with open(f"{grpc_ctl}/server.py", "w") as f:
        f.write(SERVER)
    for name in ("ready", "live"):
        open(f"{grpc_ctl}/{name}", "w").close()
    volumes, mounts = _host_python_mounts()
    grpc_probe = {"grpc": {"port": PORT}, "periodSeconds": 1}
    manifest = _pod("grpc", grpc_ctl, {
            "command": [os.path.join(sys.prefix, "bin", "python"), "/ctl/server.py"],
            # the server needs a moment to come up: the startupProbe holds liveness back
            "startupProbe": {**grpc_probe, "failureThreshold": 30},
            "readinessProbe": grpc_probe,
            "livenessProbe": {"grpc": {"port": PORT, "service": "live"}, "periodSeconds": 1,
                              "failureThreshold": 2, "terminationGracePeriodSeconds": 1}}, volumes, mounts)
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))
    return {"grpc": grpc_ctl}


def _status(cluster, pod: str) -> dict:
    statuses = cluster.pod(pod).get("status", {}).get("containerStatuses") or []
    return next((s for s in statuses if s["name"] == "app"), {})


def _condition(cluster, pod: str, kind: str) -> str:
    conditions = cluster.pod(pod).get("status", {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == kind), "")


def _messages(cluster, pod: str) -> list[str]:
    items = cluster.get("events").get("items", [])
    return [e["message"] for e in items if e.get("involvedObject", {}).get("name") == pod]


def _epoch(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_grpc_readiness_and_liveness_follow_the_health_service(cluster, pods):
    cluster.wait_for(lambda: _condition(cluster, "grpc", "Ready") == "True", "grpc pod Ready", timeout=40)
    assert _status(cluster, "grpc")["started"] is True

    os.unlink(f"{pods['grpc']}/ready")  # "" now answers NOT_SERVING
    cluster.wait_for(lambda: _condition(cluster, "grpc", "Ready") == "False", "grpc pod not Ready", timeout=10)
    assert _status(cluster, "grpc")["restartCount"] == 0
    unhealthy = 'service unhealthy (responded with "NOT_SERVING")'
    assert f"Readiness probe failed: {unhealthy}" in _messages(cluster, "grpc")

    os.unlink(f"{pods['grpc']}/live")  # "live" now answers NOT_SERVING: restart
    cluster.wait_for(lambda: _status(cluster, "grpc").get("restartCount", 0) >= 1,
                     "a restart after liveness failed", timeout=20)
    messages = _messages(cluster, "grpc")
    assert f"Liveness probe failed: {unhealthy}" in messages, messages
    assert "Container app failed liveness probe, will be restarted" in messages
    describe = cluster.kubectl("describe", "pod", "grpc").stdout
    assert f"Liveness probe failed: {unhealthy}" in describe


def test_startup_success_makes_the_pod_ready_before_the_readiness_period(cluster, tmp_path_factory):
    ctl = _ctl(tmp_path_factory, "trigger")
    cluster.kubectl("apply", "-f", "-", input=json.dumps(_pod("trigger", ctl, {
        "command": [BB, "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"],
        "startupProbe": {"exec": {"command": [BB, "test", "-e", "/ctl/started"]}, "periodSeconds": 1,
                         "failureThreshold": 60},
        # periodSeconds 10: without the immediate run, Ready would wait for the tick 10 s
        # after the container started
        "readinessProbe": {"exec": {"command": [BB, "true"]}, "periodSeconds": 10}})))
    # a failed startup run: the probe workers are running, readiness has had its first
    # (held back) tick
    cluster.wait_for(lambda: any(m.startswith("Startup probe failed") for m in _messages(cluster, "trigger")),
                     "a failed startup probe", timeout=30)
    assert _condition(cluster, "trigger", "Ready") == "False"
    open(f"{ctl}/started", "w").close()
    created = time.time()
    cluster.wait_for(lambda: _condition(cluster, "trigger", "Ready") == "True", "trigger Ready", timeout=15)
    took = time.time() - created
    status = _status(cluster, "trigger")
    since_start = time.time() - _epoch(status["state"]["running"]["startedAt"])
    print(f"startupProbe success -> Ready in {took:.2f} s (readiness periodSeconds 10); "
          f"{since_start:.2f} s after the container started")
    # the startupProbe runs every 1 s; without the immediate run, Ready would wait for
    # the readiness tick 10 s after the container started
    assert took < 2.5, f"took {took:.2f} s"
    assert since_start < 9, since_start
