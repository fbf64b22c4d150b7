"""kubectl logs, exec, attach, port-forward, cp and top against a real cluster: the
real kubectl, through the API server, to the agent's kubelet API, into runc containers.

Every pod is bound to n1 and created at the start, so their start-up overlaps. The
agents' kubelet API listens on 127.0.0.1 with a free port (a test node's own IP lives
in a network namespace the API server cannot reach).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml

from tests.e2e.conftest import KUBECTL
from tests.integration.cluster import IMAGE, real_cluster

pytestmark = pytest.mark.integration

BB = "/bin/busybox"
TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; echo err $i >&2; sleep 0.3; done"
WEB = ("/bin/busybox --install -s /bin; mkdir -p /www; echo hello-web > /www/index.html; "
       "head -c 10485760 /dev/urandom > /www/big; md5sum /www/big | cut -d' ' -f1 > /www/big.md5; "
       "exec httpd -f -p 80 -h /www")
ONCE = "if [ -f /ctl/ran ]; then echo second run; exec sleep 1000; fi; touch /ctl/ran; echo first run; exit 1"


def _pod(name: str, script: str, *, containers: list[str] = ("app",), volume: str = "") -> dict:
    spec = {"nodeName": "n1", "terminationGracePeriodSeconds": 1, "containers": [
        {"name": c, "image": IMAGE, "imagePullPolicy": "IfNotPresent", "command": [BB, "sh", "-c", script],
         **({"volumeMounts": [{"name": "ctl", "mountPath": "/ctl"}]} if volume else {})} for c in containers]}
    if volume:
        spec["volumes"] = [{"name": "ctl", "hostPath": {"path": volume}}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # the harness starts agents with --kubelet-address 127.0.0.1 --kubelet-port 0
    with real_cluster(tmp_path_factory, nodes=("n1",)) as c:
        ctl = str(tmp_path_factory.mktemp("ctl-once"))
        os.chmod(ctl, 0o777)
        tty = _pod("tty", "")
        tty["spec"]["containers"][0].update(command=[BB, "sh"], stdin=True, tty=True)
        pods = [_pod("ticker", TICKER), _pod("multi", TICKER, containers=("a", "b")), _pod("web", WEB),
                _pod("burn", "while true; do :; done"), _pod("once", ONCE, volume=ctl), tty]
        c.apply("---\n".join(yaml.safe_dump(p) for p in pods))
        for name in ("ticker", "multi", "web", "burn", "tty"):
            c.wait_for(lambda n=name: _running(c, n), f"pod {name} running", timeout=60)
        yield c


def _running(cluster, name: str) -> bool:
    statuses = cluster.pod(name).get("status", {}).get("containerStatuses") or []
    return bool(statuses) and all("running" in (s.get("state") or {}) for s in statuses)


def _ticks(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"tick (\d+)", text)]


# --- logs ------------------------------------------------------------------------------------


def test_logs_tail_timestamps_and_container_choice(cluster):
    cluster.wait_for(lambda: len(_ticks(cluster.kubectl("logs", "ticker").stdout)) >= 4, "four ticks")
    out = cluster.kubectl("logs", "ticker").stdout
    assert "err 1" in out and "tick 1\n" in out  # stdout and stderr, in order, each line once
    tail = cluster.kubectl("logs", "ticker", "--tail=2").stdout.splitlines()
    assert len(tail) == 2
    stamped = cluster.kubectl("logs", "ticker", "--timestamps", "--tail=1").stdout
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (tick|err) \d+$", stamped.strip()), stamped
    limited = cluster.kubectl("logs", "ticker", "--limit-bytes=5").stdout
    assert limited == "tick "
    # kubectl picks the first container itself; the API server's own answer is upstream's
    wrong = cluster.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/multi/log", check=False)
    assert "a container name must be specified for pod multi, choose one of: [a b]" in wrong.stderr
    assert "tick 1" in cluster.kubectl("logs", "multi", "-c", "b").stdout
    # with a selector kubectl asks for the last 10 lines unless told otherwise
    assert "tick 1\n" in cluster.kubectl("logs", "-l", "app=ticker", "--tail=-1").stdout


def test_logs_since(cluster):
    cluster.wait_for(lambda: len(_ticks(cluster.kubectl("logs", "ticker").stdout)) >= 10, "ten ticks")
    every = _ticks(cluster.kubectl("logs", "ticker").stdout)
    recent = _ticks(cluster.kubectl("logs", "ticker", "--since=1s").stdout)
    assert recent and len(recent) < len(every) and recent[0] > every[0]


def test_logs_follow_streams_new_lines(cluster):
    proc = subprocess.Popen([KUBECTL, "logs", "-f", "ticker"], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "KUBECONFIG": cluster.server.kubeconfig})
    try:
        seen, deadline = [], time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 3:
            line = proc.stdout.readline()
            if line.startswith("tick"):
                seen.append(int(line.split()[1]))
        assert len(seen) >= 3
        before = max(_ticks(cluster.kubectl("logs", "ticker").stdout))
        # lines written after following started arrive while the command runs
        fresh, deadline = 0, time.monotonic() + 10
        while time.monotonic() < deadline and fresh <= before:
            line = proc.stdout.readline()
            if line.startswith("tick"):
                fresh = int(line.split()[1])
        assert fresh > before
    finally:
        proc.kill()
        proc.wait()


def test_logs_previous_shows_the_last_instance(cluster):
    cluster.wait_for(lambda: _running(cluster, "once") and "second run" in cluster.kubectl(
        "logs", "once", check=False).stdout, "once restarted", timeout=40)
    assert cluster.kubectl("logs", "once", "--previous").stdout == "first run\n"
    missing = cluster.kubectl("logs", "ticker", "--previous", check=False)
    assert 'previous terminated container "app" in pod "ticker" not found' in missing.stderr


def test_logs_of_a_deployment_resolves_a_pod(cluster):
    cluster.kubectl("create", "deployment", "dweb", f"--image={IMAGE}", "--", BB, "sh", "-c", "echo from-deploy; sleep 1000")
    cluster.kubectl("patch", "deployment", "dweb", "--type=json", "-p", json.dumps([
        {"op": "add", "path": "/spec/template/spec/nodeName", "value": "n1"},
        {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "IfNotPresent"}]))
    cluster.wait_for(lambda: "from-deploy" in cluster.kubectl("logs", "deploy/dweb", check=False).stdout,
                     "deployment logs", timeout=40)


# --- exec, attach ----------------------------------------------------------------------------


def test_exec_output_and_exit_codes(cluster):
    assert cluster.kubectl("exec", "ticker", "--", "echo", "hi there").stdout == "hi there\n"
    failed = cluster.kubectl("exec", "ticker", "--", "sh", "-c", "echo out; echo oops >&2; exit 3", check=False)
    assert failed.returncode == 3
    assert failed.stdout == "out\n" and "oops" in failed.stderr
    piped = cluster.kubectl("exec", "-i", "ticker", "--", "sh", "-c", "read x; echo got-$x", input="shout\n")
    assert piped.stdout == "got-shout\n"
    missing = cluster.kubectl("exec", "ticker", "--", "/no/such", check=False)
    assert missing.returncode != 0 and "no/such" in missing.stderr


def test_exec_interactive_terminal_with_resize(cluster, tmp_path):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    socket_name = f"tkstreams{os.getpid()}"
    tmux = ["tmux", "-L", socket_name]
    command = f"env KUBECONFIG={cluster.server.kubeconfig} {KUBECTL} exec -it ticker -- sh"
    subprocess.run([*tmux, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30", command], check=True)
    try:
        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True).stdout

        def type_line(text: str) -> None:
            subprocess.run([*tmux, "send-keys", "-t", "t", text, "Enter"], check=True)

        cluster.wait_for(lambda: "#" in screen() or "$" in screen(), "a shell prompt", timeout=15)
        type_line("echo sum-$((40+2))")
        cluster.wait_for(lambda: "sum-42" in screen(), "the command's output")
        type_line("stty size")
        cluster.wait_for(lambda: "30 100" in screen(), "the terminal size", timeout=10)
        subprocess.run([*tmux, "resize-window", "-t", "t", "-x", "120", "-y", "40"], check=True)
        type_line("clear; stty size")
        cluster.wait_for(lambda: "40 120" in screen(), "the new terminal size", timeout=10)
        type_line("exit 0")
        cluster.wait_for(lambda: subprocess.run([*tmux, "has-session", "-t", "t"],
                                                capture_output=True).returncode != 0, "the session to end")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


class Tmux:
    """A kubectl command in a detached tmux session: a real terminal to type into."""

    sessions = 0

    def __init__(self, cluster, command: str, *, kubectl: str = KUBECTL):
        Tmux.sessions += 1  # a server per session: a killed one may still be exiting
        self.cluster, self.tmux = cluster, ["tmux", "-L", f"tkstreams{os.getpid()}-{Tmux.sessions}"]
        subprocess.run([*self.tmux, "new-session", "-d", "-s", "t", "-x", "100", "-y", "30",
                        f"env KUBECONFIG={cluster.server.kubeconfig} {kubectl} {command}; sleep 30"], check=True)

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True).stdout

    def type_line(self, text: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", "t", text, "Enter"], check=True)

    def expect(self, text: str, what: str, timeout: float = 15) -> None:
        self.cluster.wait_for(lambda: text in self.screen(), what, timeout=timeout)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)


def test_attach_interactive_to_a_tty_container(cluster):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    for session in (1, 2):  # without stdinOnce stdin stays open for the next attach
        term = Tmux(cluster, "attach -it tty")
        try:
            term.expect("If you don't see a command prompt", "kubectl's attach banner")
            term.type_line(f"echo attached-$((40+{session}))")
            term.expect(f"attached-{40 + session}", "the typed command's output")
            term.type_line("stty size")
            term.expect("30 100", "the terminal size sent on attach")
        finally:
            term.close()
    assert "attached-41" in cluster.kubectl("logs", "tty").stdout  # a terminal's output is logged


def test_run_interactive_with_rm(cluster):
    if not shutil.which("tmux"):
        pytest.skip("tmux is not installed")
    term = Tmux(cluster, f"run -it --rm runit --image={IMAGE} --restart=Never -- sh; echo kubectl-exit-$?")
    try:
        term.expect("If you don't see a command prompt", "kubectl's attach banner", timeout=30)
        term.type_line("echo ran-$((6*7))")
        term.expect("ran-42", "the typed command's output")
        term.type_line("exit 0")
        term.expect('pod "runit" deleted', "kubectl run --rm to delete the pod", timeout=20)
        term.expect("kubectl-exit-0", "kubectl's exit code")
    finally:
        term.close()
    cluster.wait_for(lambda: cluster.kubectl("get", "pod", "runit", check=False).returncode != 0, "the pod gone")


def test_attach_streams_the_output(cluster):
    proc = subprocess.Popen([KUBECTL, "attach", "ticker"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "KUBECONFIG": cluster.server.kubeconfig})
    try:
        seen, deadline = [], time.monotonic() + 15
        while time.monotonic() < deadline and len(seen) < 2:
            line = proc.stdout.readline()
            if line.startswith("tick"):
                seen.append(int(line.split()[1]))
        assert len(seen) == 2 and seen[1] == seen[0] + 1
    finally:
        proc.kill()
        proc.wait()


# --- port-forward, cp ------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_forward_carries_http_and_a_large_transfer(cluster):
    cluster.wait_for(lambda: cluster.kubectl("exec", "web", "--", "cat", "/www/big.md5", check=False).stdout.strip(),
                     "the web files")
    want = cluster.kubectl("exec", "web", "--", "cat", "/www/big.md5").stdout.strip()
    port = _free_port()
    proc = subprocess.Popen([KUBECTL, "port-forward", "pod/web", f"{port}:80"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "KUBECONFIG": cluster.server.kubeconfig})
    try:
        assert "Forwarding from 127.0.0.1" in proc.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as r:
            assert r.read() == b"hello-web\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/big", timeout=30) as r:
            body = r.read()
        assert len(body) == 10 * 1024 * 1024 and hashlib.md5(body).hexdigest() == want
    finally:
        proc.kill()
        proc.wait()


def test_cp_both_ways(cluster, tmp_path):
    cluster.wait_for(lambda: cluster.kubectl("exec", "web", "--", "cat", "/www/index.html", check=False).stdout,
                     "the web files")
    local = tmp_path / "index.html"
    cluster.kubectl("cp", "web:/www/index.html", str(local))
    assert local.read_text() == "hello-web\n"
    upload = tmp_path / "up.txt"
    upload.write_text("uploaded 123\n")
    cluster.kubectl("cp", str(upload), "web:/tmp/up.txt")
    assert cluster.kubectl("exec", "web", "--", "cat", "/tmp/up.txt").stdout == "uploaded 123\n"


# --- top -------------------------------------------------------------------------------------


def _millicores(text: str, name: str) -> int:
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == name and fields[1].endswith("m"):
            return int(fields[1][:-1])
    return -1


def test_top_shows_a_busy_pod_near_one_core(cluster):
    """A busy loop gets a whole core on an idle machine; on a shared test machine it gets
    what the others leave, so the check is that it is by far the busiest pod, with at
    least a good share of a core, and that the node counts it."""
    def busy() -> bool:
        out = cluster.kubectl("top", "pods", check=False).stdout
        burn, ticker = _millicores(out, "burn"), _millicores(out, "ticker")
        return burn >= 150 and burn > 5 * max(ticker, 1)

    cluster.wait_for(busy, "kubectl top pods: burn busy", timeout=30)
    nodes = cluster.kubectl("top", "nodes").stdout
    assert _millicores(nodes, "n1") >= 150, nodes
    pod = cluster.kubectl("top", "pod", "burn", "--containers").stdout
    assert re.search(r"burn\s+app\s+\d+m\s+\d+Mi", pod), pod


# --- kubectl before 1.30: the SPDY/3.1 upgrade ------------------------------------------------

OLD_KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.{}"


def _old_kubectl(version: str) -> str:
    path = OLD_KUBECTL.format(version)
    if not os.path.exists(path):
        pytest.skip(f"kubectl {version} is not installed at {path}")
    return path


def test_exec_and_attach_of_kubectl_1_29_over_spdy(cluster):
    kubectl = _old_kubectl("1.29")
    env = {**os.environ, "KUBECONFIG": cluster.server.kubeconfig}

    def run(*args, **kw):
        return subprocess.run([kubectl, *args], env=env, capture_output=True, text=True, timeout=60, **kw)
    failed = run("exec", "ticker", "--", "sh", "-c", "echo out; echo oops >&2; exit 3")
    assert (failed.returncode, failed.stdout) == (3, "out\n") and "oops" in failed.stderr
    piped = run("exec", "-i", "ticker", "--", "sh", "-c", "read x; echo got-$x", input="shout\n")
    assert (piped.returncode, piped.stdout) == (0, "got-shout\n")
    attach = subprocess.Popen([kubectl, "attach", "ticker"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env=env)
    try:
        lines = [attach.stdout.readline() for _ in range(2)]
        assert all(line.startswith("tick ") for line in lines), lines
    finally:
        attach.kill()
        attach.wait()
    if not shutil.which("tmux"):
        return
    term = Tmux(cluster, "exec -it ticker -- sh", kubectl=kubectl)
    try:
        term.expect("#", "a shell prompt")
        term.type_line("stty size")
        term.expect("30 100", "the terminal size")
        subprocess.run([*term.tmux, "resize-window", "-t", "t", "-x", "120", "-y", "40"], check=True)
        term.type_line("clear; stty size")
        term.expect("40 120", "the new terminal size")
    finally:
        term.close()


@pytest.mark.parametrize("version", ["1.29", "1.30"])
def test_port_forward_of_older_kubectl_over_spdy(cluster, version):
    kubectl = _old_kubectl(version)
    cluster.wait_for(lambda: cluster.kubectl("exec", "web", "--", "cat", "/www/big.md5", check=False).stdout.strip(),
                     "the web files")
    port = _free_port()
    proc = subprocess.Popen([kubectl, "port-forward", "pod/web", f"{port}:80"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "KUBECONFIG": cluster.server.kubeconfig})
    try:
        assert "Forwarding from 127.0.0.1" in proc.stdout.readline()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/big", timeout=30) as response:
            body = response.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/big.md5", timeout=30) as response:
            assert hashlib.md5(body).hexdigest() == response.read().decode().strip()
        assert len(body) == 10 * 1024 * 1024
    finally:
        proc.kill()
        proc.wait()
