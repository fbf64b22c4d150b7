"""Streaming figures: exec round trip, port-forward throughput, log follow latency.

    .venv/bin/python bench/streams.py [--execs 20] [--size-mib 32]

A real cluster (the integration harness: `tinykube server` plus one agent whose pod
network lives in a throwaway network namespace), the real kubectl.
  exec      `kubectl exec pod -- true`, end to end (kubectl's own start-up included), and the
            server-side part alone: a WebSocket client already started opens pods/exec
            on the API server and waits for the exit status (API server -> agent -> runc).
  forward   MB/s of an HTTP download through `kubectl port-forward`, against the same
            download over a direct connection to the pod IP (inside the node's namespace),
            both with the same client; CPU per forwarded MiB of each process on the way.
  logs      `kubectl logs -f --timestamps`: from the CRI timestamp the container's monitor
            gave a line to the moment kubectl printed it.
  liveness  pods whose httpGet liveness probe (periodSeconds 1, failureThreshold 2) starts
            failing when the bench deletes the file it serves: from the delete to the new
            container's start as the runtime recorded it.
Targets (issue 5): exec <= 150 ms, port-forward >= 50 % of direct, a failing liveness probe
detected and the container restarted within periodSeconds x failureThreshold + 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import aiohttp  # noqa: E402
import yaml  # noqa: E402

from tests.e2e.conftest import KUBECTL  # noqa: E402
from tests.integration.cluster import IMAGE, real_cluster  # noqa: E402
from tinykube.agent.streams import logs as crilogs  # noqa: E402
from tinykube.util import netns  # noqa: E402


class TmpDirs:
    """What the harness needs of pytest's tmp_path_factory."""

    def __init__(self):
        self.base = pathlib.Path(tempfile.mkdtemp(prefix="bench-streams-"))

    def mktemp(self, name: str) -> pathlib.Path:
        path = self.base / f"{name}{time.monotonic_ns()}"
        path.mkdir()
        return path


def pod(name: str, script: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {
        "nodeName": "n1", "terminationGracePeriodSeconds": 1, "containers": [{
            "name": "app", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
            "command": ["/bin/busybox", "sh", "-c", script]}]}}


def ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(len(values) * 0.9) - 1] if len(values) >= 10 else values[-1]
    return f"median {statistics.median(values) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms (n={len(values)})"


# --- exec -------------------------------------------------------------------------------------


def kubectl_exec(cluster, n: int) -> list[float]:
    env = {**os.environ, "KUBECONFIG": cluster.server.kubeconfig}
    out = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([KUBECTL, "exec", "web", "--", "true"], env=env, check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def kubectl_baseline(cluster, n: int) -> list[float]:
    """kubectl's start-up and one GET: the part of an exec that is kubectl's own."""
    env = {**os.environ, "KUBECONFIG": cluster.server.kubeconfig}
    out = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run([KUBECTL, "get", "--raw", "/api/v1/namespaces/default/pods/web"], env=env, check=True,
                       capture_output=True)
        out.append(time.perf_counter() - start)
    return out


async def server_exec(cluster, n: int) -> list[float]:
    with open(cluster.server.kubeconfig) as f:
        user = yaml.safe_load(f)["users"][0]["user"]
    tmp = tempfile.mkdtemp(prefix="bench-cert-")
    import base64

    for key, name in (("client-certificate-data", "c.crt"), ("client-key-data", "c.key")):
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(base64.b64decode(user[key]))
    context = ssl.create_default_context(cafile=f"{cluster.server.data_dir}/pki/ca.crt")
    context.load_cert_chain(os.path.join(tmp, "c.crt"), os.path.join(tmp, "c.key"))
    url = f"{cluster.server.url}/api/v1/namespaces/default/pods/web/exec"
    out = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as session:
        for _ in range(n):
            start = time.perf_counter()
            async with session.ws_connect(url, params=[("command", "true"), ("stdout", "true"), ("stderr", "true")],
                                          protocols=("v5.channel.k8s.io",)) as ws:
                async for message in ws:
                    if message.type == aiohttp.WSMsgType.BINARY and message.data[:1] == b"\x03":
                        assert json.loads(message.data[1:])["status"] == "Success"
                        break
            out.append(time.perf_counter() - start)
    return out


# --- port-forward --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(sock: socket.socket, size: int) -> float:
    """MB/s of one HTTP/1.0 download of /big over a connected blocking socket. Both the
    direct and the forwarded rounds use this same client (recv_into a reused buffer), so
    the client's own cost weighs on both alike."""
    buffer = memoryview(bytearray(1 << 20))
    start = time.perf_counter()
    with sock:
        sock.sendall(b"GET /big HTTP/1.0\r\nHost: pod\r\n\r\n")
        total = 0
        while n := sock.recv_into(buffer):
            total += n
    assert total >= size, total
    return size / (time.perf_counter() - start) / 1e6


def download(port: int, size: int) -> float:
    """MB/s of one download through the port-forward listening on 127.0.0.1:port."""
    return fetch(socket.create_connection(("127.0.0.1", port), timeout=120), size)


def direct_download(netns_path: str, ip: str, size: int) -> float:
    """MB/s of one download straight from the pod IP (from the node's namespace)."""
    sock = netns.socket_in_netns(netns_path)
    sock.settimeout(120)
    sock.connect((ip, 80))
    return fetch(sock, size)


# --- logs ------------------------------------------------------------------------------------------


def follow_latency(cluster, lines: int) -> list[float]:
    proc = subprocess.Popen([KUBECTL, "logs", "-f", "--timestamps", "--tail=0", "ticker"], stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "KUBECONFIG": cluster.server.kubeconfig})
    out = []
    try:
        while len(out) < lines:
            line = proc.stdout.readline()
            arrived = time.time_ns()
            stamp = line.split(" ", 1)[0]
            out.append((arrived - crilogs.parse_time(stamp)) / 1e9)
        return out
    finally:
        proc.kill()
        proc.wait()


# --- liveness ---------------------------------------------------------------------------------

LIVENESS = {"periodSeconds": 1, "failureThreshold": 2}


def liveness_pods(tmp: TmpDirs, count: int) -> dict[str, pathlib.Path]:
    """Pod name -> the host directory its httpd serves /healthz from (a hostPath volume)."""
    dirs = {}
    for i in range(count):
        www = tmp.mktemp(f"live{i}-")
        (www / "healthz").write_text("ok\n")
        dirs[f"live-{i}"] = www
    return dirs


def liveness_manifest(name: str, www: pathlib.Path) -> dict:
    manifest = pod(name, "/bin/busybox httpd -p 8080 -h /www; trap 'exit 0' TERM; while true; do sleep 0.2; done")
    manifest["spec"]["containers"][0]["livenessProbe"] = {
        "httpGet": {"path": "/healthz", "port": 8080}, "terminationGracePeriodSeconds": 1, **LIVENESS}
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "www", "mountPath": "/www"}]
    manifest["spec"]["volumes"] = [{"name": "www", "hostPath": {"path": str(www)}}]
    return manifest


def liveness_restarts(cluster, dirs: dict[str, pathlib.Path]) -> list[float]:
    """Fail every pod's endpoint at once; seconds from each delete to its new instance's start."""
    failing_since = {}
    for name, www in dirs.items():
        (www / "healthz").unlink()
        failing_since[name] = time.time()
    started = {}

    def restarted() -> bool:
        for name in dirs:
            if name in started:
                continue
            uid = cluster.pod(name)["metadata"]["uid"]
            path = pathlib.Path(cluster.agents["n1"].data_dir) / "runtime" / "monitors" / f"{uid}_app_1" / "started"
            if path.exists() and path.read_text().strip():
                started[name] = int(path.read_text()) / 1e9
        return len(started) == len(dirs)

    cluster.wait_for(restarted, "every liveness restart", timeout=30)
    return [started[name] - failing_since[name] for name in dirs]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--execs", type=int, default=20)
    parser.add_argument("--size-mib", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--liveness-pods", type=int, default=5)
    parser.add_argument("--only", choices=("exec", "forward", "logs", "liveness"), action="append",
                        help="measure only these (repeatable); default: all")
    args = parser.parse_args()
    size = args.size_mib * 1024 * 1024
    web = pod("web", f"mkdir -p /www; head -c {size} /dev/zero > /www/big; exec /bin/busybox httpd -f -p 80 -h /www")
    ticker = pod("ticker", "while true; do echo tick; sleep 0.1; done")
    tmp = TmpDirs()
    only = set(args.only or ("exec", "forward", "logs", "liveness"))
    live = liveness_pods(tmp, args.liveness_pods if "liveness" in only else 0)
    with real_cluster(tmp, nodes=("n1",)) as cluster:
        manifests = [web, ticker] + [liveness_manifest(name, www) for name, www in live.items()]
        cluster.apply("---\n".join(yaml.safe_dump(p) for p in manifests))
        for name in ["web", "ticker", *live]:
            cluster.wait_for(lambda n=name: cluster.pod(n).get("status", {}).get("phase") == "Running",
                             f"{name} running", timeout=60)
        cluster.wait_for(lambda: cluster.kubectl("exec", "web", "--", "/bin/busybox", "stat", "-c", "%s", "/www/big",
                                                 check=False).stdout.strip() == str(size), "the file", timeout=30)
        if "exec" in only:
            exec_figures(cluster, args.execs)
        if "forward" in only:
            forward_figures(cluster, size, args)
        if "logs" in only:
            latency = follow_latency(cluster, 30)
            print(f"log follow latency (CRI timestamp -> kubectl logs -f output): {ms(latency)}")
        if live:
            target = LIVENESS["periodSeconds"] * LIVENESS["failureThreshold"] + 1
            took = liveness_restarts(cluster, live)
            print(f"liveness httpGet failing -> container restarted (periodSeconds {LIVENESS['periodSeconds']}, "
                  f"failureThreshold {LIVENESS['failureThreshold']}): {ms(took)}, max {max(took):.2f} s  "
                  f"target <= {target} s")
    return 0


def exec_figures(cluster, n: int) -> None:
    kubectl_exec(cluster, 2)  # warm up
    full = kubectl_exec(cluster, n)
    base = kubectl_baseline(cluster, n)
    server = asyncio.run(server_exec(cluster, n))
    print(f"exec round trip, kubectl exec web -- true:  {ms(full)}")
    print(f"  kubectl start-up + one GET (its own cost): {ms(base)}")
    print(f"  server side (API server -> agent -> runc exec -> status): {ms(server)}  target <= 150 ms")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def forward_figures(cluster, size: int, args) -> None:
    """Direct and forwarded downloads alternate, round by round, so that whatever else
    the machine is doing weighs on both alike; medians are compared."""
    pod_ip, netns_path = cluster.pod("web")["status"]["podIP"], cluster.agents["n1"].node.netns_path
    port = free_port()
    proc = subprocess.Popen([KUBECTL, "port-forward", "pod/web", f"{port}:80"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "KUBECONFIG": cluster.server.kubeconfig})
    pids = {"API server": cluster.server.proc.pid, "agent": cluster.agents["n1"].proc.pid, "kubectl": proc.pid,
            "client": os.getpid()}
    direct, forwarded, spent = [], [], dict.fromkeys(pids, 0.0)
    try:
        proc.stdout.readline()
        download(port, size)  # warm up
        for _ in range(args.rounds):
            direct.append(direct_download(netns_path, pod_ip, size))
            before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            forwarded.append(download(port, size))
            for name, pid in pids.items():
                spent[name] += cpu_seconds(pid) - before[name]
    finally:
        proc.kill()
        proc.wait()
    d, f, mib = statistics.median(direct), statistics.median(forwarded), args.size_mib * args.rounds
    print(f"port-forward throughput ({args.size_mib} MiB over HTTP, {args.rounds} rounds): {f:.0f} MB/s; "
          f"direct to the pod IP {d:.0f} MB/s; ratio {100 * f / d:.0f} %  target >= 50 %")
    print("  CPU per MiB forwarded: " + ", ".join(f"{name} {1000 * t / mib:.1f} ms" for name, t in spent.items()))


if __name__ == "__main__":
    sys.exit(main())
