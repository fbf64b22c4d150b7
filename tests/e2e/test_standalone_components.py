"""`tinykube scheduler` and `tinykube controller-manager` in their own processes, beside a
`tinykube server --disable-scheduler --disable-controller-manager` (as kube-scheduler and
kube-controller-manager run beside kube-apiserver), driven with the real kubectl."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.e2e.conftest import REPO, start_server

pytestmark = pytest.mark.e2e


def _wait_for(what, predicate, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


def _start(args: list[str], log_path: str) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "tinykube.cli.main", *args],
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _pods(server) -> list[dict]:
    out = server.kubectl("get", "pods", "-n", "default", "-l", "app=solo", "-o", "json")
    return json.loads(out.stdout)["items"]


def test_scheduler_and_controllers_run_in_their_own_processes(tmp_path_factory):
    server = start_server(tmp_path_factory, "--disable-scheduler", "--disable-controller-manager")
    tmp = str(tmp_path_factory.mktemp("standalone"))
    with open(os.path.join(server.data_dir, "token")) as f:
        token = f.read().strip()
    procs = [_start(["agent", "--server", server.url, "--token", token, "--ca-file",
                     os.path.join(server.data_dir, "pki", "ca.crt"), "--data-dir", tmp, "--simulate-only",
                     "--simulate", "2", "--node-name", "solo"], os.path.join(tmp, "agent.log"))]
    try:
        _wait_for("2 nodes", lambda: len(json.loads(server.kubectl("get", "nodes", "-o", "json").stdout)["items"]) == 2)
        server.kubectl("create", "deployment", "solo", "--image=busybox:1.36", "--replicas=3", "--", "sleep", "1d")
        time.sleep(1.0)  # nothing in the server acts on it
        assert json.loads(server.kubectl("get", "rs", "-o", "json").stdout)["items"] == []

        kubeconfig = server.kubeconfig
        procs.append(_start(["controller-manager", "--kubeconfig", kubeconfig], os.path.join(tmp, "kcm.log")))
        _wait_for("3 pods made by the controller manager", lambda: len(_pods(server)) == 3)
        time.sleep(1.0)  # no scheduler yet: they stay unbound
        assert [p["spec"].get("nodeName") for p in _pods(server)] == [None] * 3

        procs.append(_start(["scheduler", "--kubeconfig", kubeconfig], os.path.join(tmp, "sched.log")))

        def running() -> list[dict] | None:
            pods = _pods(server)
            return pods if all(p["spec"].get("nodeName") and p["status"].get("phase") == "Running"
                               for p in pods) else None
        pods = _wait_for("3 pods bound and Running", running)
        assert {p["spec"]["nodeName"] for p in pods} <= {"solo-sim-0", "solo-sim-1"}
        leases = json.loads(server.kubectl("get", "leases", "-n", "kube-system", "-o", "json").stdout)["items"]
        assert {"kube-scheduler", "kube-controller-manager"} <= {lease["metadata"]["name"] for lease in leases}
        # The Deployment's status is kept by the separate controller manager.
        _wait_for("deployment available", lambda: json.loads(server.kubectl(
            "get", "deploy", "solo", "-o", "json").stdout).get("status", {}).get("availableReplicas") == 3)

        # SIGTERM: the scheduler finishes cleanly and gives its Lease up, so that another
        # one takes over at once instead of after the lease duration
        scheduler = procs.pop()
        _stop(scheduler)
        assert scheduler.returncode == 0
        lease = json.loads(server.kubectl("get", "lease", "kube-scheduler", "-n", "kube-system", "-o", "json").stdout)
        assert lease["spec"].get("holderIdentity", "") == ""
        with open(os.path.join(tmp, "sched.log")) as f:
            assert "Unclosed client session" not in f.read()
    finally:
        for proc in reversed(procs):
            _stop(proc)
        server.stop()
