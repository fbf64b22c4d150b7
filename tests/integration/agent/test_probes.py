"""Probes, lifecycle hooks and native sidecars with the real runc, CNI and kubectl.

Every pod is bound to n1 and gets a hostPath directory of the test (`/ctl`): the test
steers the containers through files there (a probe's target appears or disappears) and
the containers record what happened to them (hook and signal order) in it. The pods
are created together at the start so their waits overlap.
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import time

import pytest

from tests.integration.cluster import IMAGE, real_cluster

pytestmark = pytest.mark.integration

BB = "/bin/busybox"
# sh as PID 1 ignores SIGTERM unless it traps it
LOOP = "trap 'exit 0' TERM; while true; do sleep 0.2; done"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with real_cluster(tmp_path_factory, nodes=("n1",),
                      agent_args=("--container-log-max-size", "16Ki", "--container-log-max-files", "3")) as c:
        c.ctl = {}
        yield c


def _ctl_dir(cluster, tmp_path_factory, pod: str) -> str:
    path = str(tmp_path_factory.mktemp(f"ctl-{pod}"))
    os.chmod(path, 0o777)
    cluster.ctl[pod] = path
    return path


def _pod(name: str, ctl: str, containers: list[dict], *, init: list[dict] = (), policy: str = "Always",
         grace: int = 2) -> dict:
    for c in [*containers, *init]:
        c.setdefault("image", IMAGE)
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("volumeMounts", [{"name": "ctl", "mountPath": "/ctl"}])
    spec = {"nodeName": "n1", "restartPolicy": policy, "terminationGracePeriodSeconds": grace,
            "containers": containers, "volumes": [{"name": "ctl", "hostPath": {"path": ctl}}]}
    if init:
        spec["initContainers"] = list(init)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _sh(script: str) -> list[str]:
    return [BB, "sh", "-c", script]


def _status(cluster, pod: str, container: str = "app", init: bool = False) -> dict:
    statuses = cluster.pod(pod).get("status", {}).get("initContainerStatuses" if init else "containerStatuses") or []
    return next((s for s in statuses if s["name"] == container), {})


def _condition(cluster, pod: str, kind: str) -> str:
    conditions = cluster.pod(pod).get("status", {}).get("conditions") or []
    return next((c["status"] for c in conditions if c["type"] == kind), "")


def _events(cluster, pod: str) -> list[dict]:
    items = cluster.get("events").get("items", [])
    return [e for e in items if e.get("involvedObject", {}).get("name") == pod]


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


@pytest.fixture(scope="module")
def pods(cluster, tmp_path_factory):
    """Create every pod at once; tests then wait on their own."""
    http = _ctl_dir(cluster, tmp_path_factory, "live-http")
    os.makedirs(f"{http}/www")
    with open(f"{http}/www/healthz", "w") as f:
        f.write("ok\n")
    manifests = [
        _pod("live-http", http, [{
            "name": "app", "command": _sh(f"{BB} httpd -p 8080 -h /ctl/www; {LOOP}"),
            "ports": [{"name": "web", "containerPort": 8080}],
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "web"}, "periodSeconds": 1,
                              "failureThreshold": 2, "terminationGracePeriodSeconds": 1}}]),
        _pod("live-tcp", _ctl_dir(cluster, tmp_path_factory, "live-tcp"), [{
            "name": "app", "command": _sh(
                f"{BB} httpd -f -p 9000 -h / & P=$!; "
                f"while [ ! -e /ctl/close ]; do sleep 0.1; done; kill $P; {LOOP}"),
            "livenessProbe": {"tcpSocket": {"port": 9000}, "periodSeconds": 1, "failureThreshold": 1}}]),
        _pod("ready", _ctl_dir(cluster, tmp_path_factory, "ready"), [{
            "name": "app", "command": _sh(LOOP),
            "readinessProbe": {"exec": {"command": [BB, "test", "-e", "/ctl/ready"]}, "periodSeconds": 1}}]),
        _pod("startup", _ctl_dir(cluster, tmp_path_factory, "startup"), [{
            "name": "app", "command": _sh(LOOP),
            "startupProbe": {"exec": {"command": [BB, "test", "-e", "/ctl/started"]}, "periodSeconds": 1,
                             "failureThreshold": 60},
            # nothing listens: as soon as liveness runs, it fails
            "livenessProbe": {"tcpSocket": {"port": 7777}, "periodSeconds": 1, "failureThreshold": 1}}]),
        _pod("hooks", _ctl_dir(cluster, tmp_path_factory, "hooks"), [{
            "name": "app", "command": _sh(f"trap '{BB} echo TERM >> /ctl/order; exit 0' TERM; "
                                          "while true; do sleep 0.1; done"),
            "lifecycle": {"postStart": {"exec": {"command": _sh("echo postStart >> /ctl/order")}},
                          "preStop": {"exec": {"command": _sh("echo preStop >> /ctl/order")}}}}], grace=5),
        _pod("sidecar", _ctl_dir(cluster, tmp_path_factory, "sidecar"), [{
            "name": "app", "command": _sh("echo app-start >> /ctl/order; sleep 1; echo app-end >> /ctl/order")}],
            init=[{"name": "side", "restartPolicy": "Always",
                   "command": _sh("echo side-start >> /ctl/order; "
                                  "trap 'echo side-TERM >> /ctl/order; exit 0' TERM; "
                                  "while true; do sleep 0.1; done"),
                   "startupProbe": {"exec": {"command": [BB, "test", "-e", "/ctl/order"]}, "periodSeconds": 1}}],
            policy="Never"),
        _pod("exec", _ctl_dir(cluster, tmp_path_factory, "exec"), [{
            "name": "app", "command": _sh(LOOP), "env": [{"name": "FOO", "value": "bar"}], "workingDir": "/tmp",
            # exec probes run with the container's env and cwd ...
            "livenessProbe": {"exec": {"command": _sh('test "$FOO" = bar && test "$(pwd)" = /tmp')},
                              "periodSeconds": 1, "failureThreshold": 1},
            # ... and are cut at timeoutSeconds
            "readinessProbe": {"exec": {"command": _sh("echo slow; sleep 30")}, "periodSeconds": 1,
                               "timeoutSeconds": 1}}]),
        _pod("poststart-fails", _ctl_dir(cluster, tmp_path_factory, "poststart-fails"), [{
            "name": "app", "command": _sh(LOOP),
            "lifecycle": {"postStart": {"exec": {"command": _sh("echo nope; exit 3")}}}}]),
        # numbered lines, fast: a rotation at every check
        _pod("chatty", _ctl_dir(cluster, tmp_path_factory, "chatty"), [{
            "name": "app", "command": _sh("i=0; while true; do i=$((i+1)); "
                                          "echo \"line $i ................................................\"; "
                                          "[ $((i % 50)) = 0 ] && usleep 50000; done")}]),
    ]
    cluster.kubectl("apply", "-f", "-", input="\n".join(json.dumps(m) for m in manifests))
    return cluster.ctl


def _running(cluster, pod: str, container: str = "app") -> bool:
    return "running" in _status(cluster, pod, container).get("state", {})


def test_failing_liveness_http_restarts_the_container_in_time(cluster, pods):
    cluster.wait_for(lambda: _running(cluster, "live-http"), "live-http running", timeout=30)
    assert _status(cluster, "live-http")["restartCount"] == 0
    os.unlink(f"{pods['live-http']}/www/healthz")
    failing_since = time.time()
    cluster.wait_for(lambda: _status(cluster, "live-http").get("restartCount", 0) >= 1
                     and _running(cluster, "live-http"), "a restart after liveness failed", timeout=20)
    with open(f"{pods['live-http']}/www/healthz", "w") as f:
        f.write("ok\n")
    # the target: periodSeconds 1 x failureThreshold 2 + 1 s, from the moment the endpoint
    # fails to the new instance's start as the runtime recorded it (ns, not kubectl's polls)
    uid = cluster.pod("live-http")["metadata"]["uid"]
    with open(f"{cluster.agents['n1'].data_dir}/runtime/monitors/{uid}_app_1/started") as f:
        took = int(f.read()) / 1e9 - failing_since
    print(f"liveness failure detected and container restarted in {took:.2f} s (target 3 s)")
    assert took < 1 * 2 + 1, f"took {took:.2f} s"
    status = _status(cluster, "live-http")
    assert status["lastState"]["terminated"]["exitCode"] in (0, 137, 143)
    messages = [e["message"] for e in _events(cluster, "live-http")]
    assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in messages
    assert "Container app failed liveness probe, will be restarted" in messages
    describe = cluster.kubectl("describe", "pod", "live-http").stdout
    assert "Liveness probe failed: HTTP probe failed with statuscode: 404" in describe


def test_closed_tcp_port_fails_liveness(cluster, pods):
    cluster.wait_for(lambda: _running(cluster, "live-tcp"), "live-tcp running", timeout=30)
    open(f"{pods['live-tcp']}/close", "w").close()
    cluster.wait_for(lambda: _status(cluster, "live-tcp").get("restartCount", 0) >= 1,
                     "a restart after the port closed", timeout=20)
    ip = cluster.pod("live-tcp")["status"]["podIP"]
    messages = [e["message"] for e in _events(cluster, "live-tcp")]
    assert f"Liveness probe failed: dial tcp {ip}:9000: connect: connection refused" in messages, messages


def test_readiness_flips_ready_both_ways(cluster, pods):
    cluster.wait_for(lambda: _running(cluster, "ready"), "ready running", timeout=30)
    assert _condition(cluster, "ready", "Ready") == "False"
    assert _status(cluster, "ready")["ready"] is False
    open(f"{pods['ready']}/ready", "w").close()
    cluster.wait_for(lambda: _condition(cluster, "ready", "Ready") == "True", "Ready True", timeout=10)
    assert _condition(cluster, "ready", "ContainersReady") == "True"
    os.unlink(f"{pods['ready']}/ready")
    cluster.wait_for(lambda: _condition(cluster, "ready", "Ready") == "False", "Ready False", timeout=10)
    assert _status(cluster, "ready")["ready"] is False
    assert _status(cluster, "ready")["restartCount"] == 0


def test_startup_probe_holds_liveness_back(cluster, pods):
    cluster.wait_for(lambda: _running(cluster, "startup"), "startup running", timeout=30)
    time.sleep(2.5)  # liveness would have failed twice by now, were it running
    status = _status(cluster, "startup")
    assert status["started"] is False and status["restartCount"] == 0
    open(f"{pods['startup']}/started", "w").close()
    cluster.wait_for(lambda: _status(cluster, "startup").get("restartCount", 0) >= 1,
                     "liveness runs (and fails) once started", timeout=15)
    messages = [e["message"] for e in _events(cluster, "startup")]
    assert any(m.startswith("Startup probe failed") for m in messages), messages


def test_post_start_and_pre_stop_run_around_the_container(cluster, pods):
    order = f"{pods['hooks']}/order"
    cluster.wait_for(lambda: _running(cluster, "hooks"), "hooks running", timeout=30)
    assert _read(order).split() == ["postStart"]
    cluster.kubectl("delete", "pod", "hooks", "--wait=false")
    cluster.wait_for(lambda: "TERM" in _read(order), "the container saw SIGTERM", timeout=15)
    assert _read(order).split() == ["postStart", "preStop", "TERM"]


def test_sidecar_starts_first_and_outlives_the_app(cluster, pods):
    cluster.wait_for(lambda: cluster.pod("sidecar").get("status", {}).get("phase") == "Succeeded",
                     "the Job-like pod completes", timeout=30)
    assert _read(f"{pods['sidecar']}/order").split() == ["side-start", "app-start", "app-end", "side-TERM"]
    side = _status(cluster, "sidecar", "side", init=True)
    assert "terminated" in side["state"], side


def test_a_failing_post_start_hook_kills_the_container(cluster, pods):
    cluster.wait_for(lambda: _status(cluster, "poststart-fails").get("restartCount", 0) >= 1,
                     "a restart after postStart failed", timeout=20)
    events = _events(cluster, "poststart-fails")
    failed = [e["message"] for e in events if e["reason"] == "FailedPostStartHook"]
    uid = cluster.pod("poststart-fails")["metadata"]["uid"]
    assert failed[0] == (f'Exec lifecycle hook ([{BB} sh -c echo nope; exit 3]) for Container "app" in Pod '
                         f'"poststart-fails_default({uid})" failed - error: command \'{BB} sh -c echo nope; exit 3\' '
                         'exited with 3: , message: "nope\\n"'), failed
    assert any(e["reason"] == "Killing" and e["message"] == "FailedPostStartHook" for e in events)


def test_exec_probes_use_the_containers_env_and_time_out(cluster, pods):
    def slow_events() -> int:
        found = [e for e in _events(cluster, "exec") if e["message"].startswith("Readiness probe failed: slow")]
        return sum(e.get("count", 1) for e in found) >= 3

    cluster.wait_for(slow_events, "timed-out readiness probes", timeout=20)
    assert _status(cluster, "exec")["restartCount"] == 0 and _status(cluster, "exec")["ready"] is False
    assert not [e for e in _events(cluster, "exec") if e["message"].startswith("Liveness")]


def _log_files(cluster, pod: str) -> list[str]:
    uid = cluster.pod(pod)["metadata"]["uid"]
    found = glob.glob(f"{cluster.agents['n1'].data_dir}/logs/default_{pod}_{uid}/app/0.log*")
    return sorted(f for f in found if not f.endswith(".tmp"))


def _numbers(path: str) -> list[int]:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return [int(line.split(" ")[4]) for line in f if line.split(" ")[3:4] == ["line"]]


def _log_snapshot(cluster) -> tuple[list[str], list[list[int]]] | None:
    """The chatty pod's log files (current first, then rotated oldest first) and their
    line numbers, once the oldest lines were deleted and a kept file compressed; None while
    not yet, or when a rotation step ran while we read (the agent passes through states
    such as "oldest .gz removed, next one not yet compressed", which are not the result)."""
    files = _log_files(cluster, "chatty")
    try:
        # the current file first: the writer appends to a just-renamed file until it
        # reopens, and 0.log does not exist before that, so reading it first never skips lines
        current = _numbers(files[0]) if files else []
        rotated = [_numbers(f) for f in sorted(files[1:])]
    except (OSError, EOFError):
        return None
    if _log_files(cluster, "chatty") != files or any(f + ".gz" in files for f in files):
        return None  # a step ran while we read, or a file is half-way through its gzip
    numbers = rotated + [current]
    if len(files) < 2 or not any(f.endswith(".gz") for f in files[1:]) or numbers[0][:1] in ([], [1]):
        return None
    return files, numbers


def test_chatty_container_logs_rotate_without_losing_lines(cluster, pods):
    files, numbers = cluster.wait_for(lambda: _log_snapshot(cluster), "old rotated files removed", timeout=30)
    assert len(files) <= 3, files  # containerLogMaxFiles, the current one included
    assert files[0].endswith("0.log") and any(f.endswith(".gz") for f in files[1:]), files
    # oldest rotated first, the current file last: the numbers run on without a gap
    flat = [n for group in numbers for n in group]
    assert flat == list(range(flat[0], flat[0] + len(flat))), "a line was lost"
