"""Service proxy benchmark: rule sync time, the cost of going through a ClusterIP, and
the time from a pod turning Ready to its endpoint being in the applied rules.

Runs as root in network namespaces it creates (prefix tkb<hex>) and removes:
- rule sync for 1,000 and 10,000 Services with one endpoint each: a full sync (render +
  one `nft -f` rewriting the whole table; target <= 500 ms) and a partial sync (one
  Service's endpoint changed: render + the transaction with only the difference);
- throughput from a "node" namespace to a "pod" namespace (veth), straight to the pod IP
  and through a ClusterIP rendered by tinykube's proxy (target >= 95 %), three ways:
  wrk against a keep-alive HTTP server that does not fork (the per-packet cost of the
  path), wrk against busybox httpd (a new connection, hence a conntrack entry and a NAT
  lookup, per request; fork-bound), and a bulk TCP transfer (MB/s). Direct and ClusterIP
  runs are interleaved, THROUGHPUT_ROUNDS times, and medians reported: the machine is shared;
- pod Ready -> in the rules (target p99 <= 1 s), with a real cluster (`tinykube server`
  and an agent in a test namespace, tests/integration/cluster.py): a pod whose readiness
  probe (exec, every second) follows a file the container creates and removes every few
  seconds; the time from the Ready transition seen by a watch (`kubectl get -w`) to the
  endpoint being in the applied `single-endpoint` map (`nft list map` in the node's
  namespace, polled). Skip it with --no-cluster.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from tinykube.proxy import render as r  # noqa: E402

ROUNDS = 3  # sync rounds
THROUGHPUT_ROUNDS = 5
POD_IP, CLUSTER_IP = "10.42.0.2", "10.43.0.5"

# a keep-alive HTTP/1.1 server that answers every request with the same small body
KEEPALIVE_SERVER = r'''
import asyncio, sys
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Type: text/plain\r\n\r\nhello\n"
class P(asyncio.Protocol):
    def connection_made(self, t): self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rindex(b"\r\n\r\n") + 4:]
            self.t.write(RESPONSE * n)
async def main():
    server = await asyncio.get_running_loop().create_server(P, "0.0.0.0", int(sys.argv[1]), backlog=512)
    await server.serve_forever()
asyncio.run(main())
'''
# a bulk sender: every connection gets zeros until it closes
BULK_SERVER = r'''
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
block = bytes(1 << 20)
def send(c):
    try:
        while True: c.sendall(block)
    except OSError: c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=send, args=(c,), daemon=True).start()
'''
BULK_CLIENT = r'''
import socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2]))); buf = bytearray(1 << 20); n = 0
end = time.monotonic() + float(sys.argv[3])
while time.monotonic() < end: n += c.recv_into(buf)
print(n)
'''


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def services(n: int):
    svcs, slices = [], []
    for i in range(n):
        name = f"s{i}"
        svcs.append({"metadata": {"name": name, "namespace": "bench"},
                     "spec": {"type": "ClusterIP", "clusterIP": f"10.43.{i // 250}.{i % 250 + 1}",
                              "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        slices.append(_slice(name, f"10.42.{i // 250}.{i % 250 + 2}"))
    return svcs, slices


def _slice(name: str, ip: str) -> dict:
    return {"metadata": {"name": f"{name}-x", "namespace": "bench", "labels": {"kubernetes.io/service-name": name}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": "n1"}]}


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (nft): what a sync costs
    whatever else the shared machine is doing."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def sync_time(ns: str, n: int) -> tuple[float, float, float, float, float]:
    """(render, full sync, partial sync) wall seconds and (full, partial) CPU seconds,
    each the median of ROUNDS."""
    svcs, slices = services(n)
    nft = lambda script: sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=script)  # noqa: E731
    nft(r.transaction(r.render(svcs, slices, "n1", table="bench"), "bench", None))
    renders, fulls, partials, full_cpu, partial_cpu = [], [], [], [], []
    for i in range(ROUNDS):
        cpu = cpu_seconds()
        start = time.perf_counter()
        table = r.render_table(svcs, slices, "n1")
        text = table.text("bench")
        rendered = time.perf_counter()
        nft(r.transaction(text, "bench", text))
        fulls.append(time.perf_counter() - start)
        full_cpu.append(cpu_seconds() - cpu)
        renders.append(rendered - start)
        slices[n // 2] = _slice(f"s{n // 2}", f"10.41.0.{i + 1}")  # one pod replaced
        cpu = cpu_seconds()
        start = time.perf_counter()
        changed = r.render_table(svcs, slices, "n1")
        changed.text("bench")  # the proxier compares the text first
        nft(r.update(changed, table, "bench"))
        partials.append(time.perf_counter() - start)
        partial_cpu.append(cpu_seconds() - cpu)
    sh("ip", "netns", "exec", ns, "nft", "delete", "table", "ip", "bench")
    return tuple(statistics.median(x) for x in (renders, fulls, partials, full_cpu, partial_cpu))


def wrk(ns: str, url: str) -> tuple[float, float]:
    out = sh("ip", "netns", "exec", ns, "wrk", "-t2", "-c16", "-d3s", "--latency", url).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    value, unit = re.search(r"99%\s+([\d.]+)(\w+)", out).groups()
    return rps, float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bulk(ns: str, host: str, port: int) -> tuple[float, float]:
    out = sh("ip", "netns", "exec", ns, sys.executable, "-c", BULK_CLIENT, host, str(port), "2").stdout
    return int(out) / 2 / 1e6, 0.0


def wait_listening(ns: str, port: int) -> None:
    deadline = time.monotonic() + 10
    while sh("ip", "netns", "exec", ns, "sh", "-c", f"ss -ltn | grep -q ':{port} '", check=False).returncode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {port} in {ns}")
        time.sleep(0.05)


def throughput(node: str, pod: str, prefix: str) -> None:
    svc = {"metadata": {"name": "web", "namespace": "bench"},
           "spec": {"type": "ClusterIP", "clusterIP": CLUSTER_IP,
                    "ports": [{"name": p, "port": port, "targetPort": port} for p, port in
                              (("http", 80), ("keepalive", 81), ("bulk", 82))]}}
    slice_ = {"metadata": {"name": "web-x", "namespace": "bench", "labels": {"kubernetes.io/service-name": "web"}},
              "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                        {"name": "keepalive", "port": 8081, "protocol": "TCP"},
                        {"name": "bulk", "port": 8082, "protocol": "TCP"}],
              "endpoints": [{"addresses": [POD_IP], "conditions": {"ready": True}}]}
    sh("ip", "netns", "exec", node, "nft", "-f", "-",
       input=r.transaction(r.render([svc], [slice_], "n1", table="bench"), "bench", None))
    sh("sh", "-c", f"mkdir -p /tmp/{prefix}www && echo hello > /tmp/{prefix}www/index.html")
    backends = [subprocess.Popen(["ip", "netns", "exec", pod, shutil.which("busybox"), "httpd", "-f", "-p", "8080",
                                  "-h", f"/tmp/{prefix}www"]),
                subprocess.Popen(["ip", "netns", "exec", pod, sys.executable, "-c", KEEPALIVE_SERVER, "8081"]),
                subprocess.Popen(["ip", "netns", "exec", pod, sys.executable, "-c", BULK_SERVER, "8082"])]
    try:
        for port in (8080, 8081, 8082):
            wait_listening(pod, port)
        cases = [("HTTP keep-alive (asyncio, no fork), wrk -t2 -c16 -d3s", "req/s",
                  lambda ip, port: wrk(node, f"http://{ip}:{port}/"), 8081, 81),
                 ("HTTP connection per request (busybox httpd, forks), wrk", "req/s",
                  lambda ip, port: wrk(node, f"http://{ip}:{port}/"), 8080, 80),
                 ("bulk TCP, one connection, 2 s", "MB/s", lambda ip, port: bulk(node, ip, port), 8082, 82)]
        print(f"throughput, straight to the pod IP vs through a ClusterIP ({THROUGHPUT_ROUNDS} interleaved rounds, "
              "medians):")
        for title, unit, run, pod_port, svc_port in cases:
            direct, via, direct_p99, via_p99 = [], [], [], []
            for i in range(THROUGHPUT_ROUNDS):
                order = [(direct, direct_p99, POD_IP, pod_port), (via, via_p99, CLUSTER_IP, svc_port)]
                for values, p99s, ip, port in (order if i % 2 == 0 else order[::-1]):
                    value, p99 = run(ip, port)
                    values.append(value)
                    p99s.append(p99)
            d, v = statistics.median(direct), statistics.median(via)
            latency = (f"  p99 {statistics.median(direct_p99):.2f} / {statistics.median(via_p99):.2f} ms"
                       if unit == "req/s" else "")
            print(f"  {title}:\n    pod IP {d:9.0f} {unit}  ClusterIP {v:9.0f} {unit}  ratio {v / d * 100:5.1f} %"
                  f"{latency}   (runs: {' '.join(f'{x:.0f}' for x in direct)} | {' '.join(f'{x:.0f}' for x in via)})")
        print("  target >= 95 %")
    finally:
        for proc in backends:
            proc.kill()
            proc.wait()
        sh("rm", "-rf", f"/tmp/{prefix}www", check=False)


# --- pod Ready -> in the rules, with a real cluster -----------------------------------------------


class _TmpFactory:
    """What tests/integration/cluster.py wants of pytest's tmp_path_factory."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="tkbench-")

    def mktemp(self, name: str) -> pathlib.Path:
        return pathlib.Path(tempfile.mkdtemp(prefix=name, dir=self.root))


READY_POD = """apiVersion: v1
kind: Pod
metadata:
  name: flip
  labels: {app: flip}
spec:
  nodeName: n1
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox:1.36
    imagePullPolicy: IfNotPresent
    command: [/bin/busybox, sh, -c, "while true; do touch /tmp/ready; sleep 3; rm -f /tmp/ready; sleep 3; done"]
    readinessProbe:
      exec: {command: [/bin/busybox, test, -f, /tmp/ready]}
      periodSeconds: 1
      failureThreshold: 1
"""
READY_SERVICE = """apiVersion: v1
kind: Service
metadata: {name: flip}
spec:
  clusterIP: 10.43.9.9
  selector: {app: flip}
  ports: [{name: http, port: 80, targetPort: 8080}]
"""


def ready_latency(samples: int) -> None:
    from tests.e2e.conftest import KUBECTL
    from tests.integration.cluster import real_cluster
    from tests.integration.services.test_services import _agent_args

    table = f"tkb{secrets.token_hex(3)}"
    factory = _TmpFactory()
    try:
        with real_cluster(factory, nodes=("n1",), agent_args=_agent_args(table)) as cluster:
            cluster.apply(READY_SERVICE)
            cluster.apply(READY_POD)
            node = cluster.agents["n1"].node
            in_rules = lambda: "10.43.9.9 . tcp . 80 :" in node.run(  # noqa: E731
                ["nft", "list", "map", "ip", table, "single-endpoint"], check=False).stdout
            events: list[tuple[float, str]] = []
            watch = subprocess.Popen(
                [KUBECTL, "--kubeconfig", cluster.server.kubeconfig, "get", "pod", "flip", "-w", "-o",
                 'jsonpath={.status.conditions[?(@.type=="Ready")].status}{"\\n"}'],
                stdout=subprocess.PIPE, text=True, bufsize=1)
            reader = threading.Thread(target=lambda: [events.append((time.monotonic(), line.strip()))
                                                      for line in watch.stdout], daemon=True)
            reader.start()
            added, removed = [], []
            try:
                deadline = time.monotonic() + 60 + samples * 8
                seen, state = 0, None
                while len(added) < samples and time.monotonic() < deadline:
                    if seen == len(events):
                        time.sleep(0.01)
                        continue
                    at, status = events[seen]
                    seen += 1
                    if status == state or status not in ("True", "False"):
                        continue
                    first = state is None
                    state = status
                    want = status == "True"
                    while in_rules() != want and time.monotonic() < deadline:
                        pass  # each `nft list` through nsenter takes ~10 ms: the poll's resolution
                    if not first:
                        (added if want else removed).append(time.monotonic() - at)
            finally:
                watch.kill()
                watch.wait()
        if not added:
            print("pod Ready -> in the rules: no sample (did the pod start?)")
            return
        quantile = lambda xs, q: sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000  # noqa: E731
        print(f"pod Ready -> in the rules ({len(added)} transitions, watch -> nft map):")
        print(f"  Ready:     p50 {quantile(added, 0.5):6.0f} ms  p99 {quantile(added, 0.99):6.0f} ms  "
              f"max {max(added) * 1000:.0f} ms   target p99 <= 1000 ms")
        if removed:
            print(f"  not Ready: p50 {quantile(removed, 0.5):6.0f} ms  p99 {quantile(removed, 0.99):6.0f} ms "
                  "(out of the rules)")
    finally:
        shutil.rmtree(factory.root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-cluster", action="store_true", help="skip pod Ready -> rules (needs runc, busybox)")
    parser.add_argument("--samples", type=int, default=10, help="Ready transitions to time")
    args = parser.parse_args()
    prefix = f"tkb{secrets.token_hex(3)}"
    node, pod = f"{prefix}-node", f"{prefix}-pod"
    try:
        for ns in (node, pod):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"{prefix}a", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", pod)
        sh("ip", "-n", node, "addr", "add", "10.42.0.1/24", "dev", f"{prefix}a")
        sh("ip", "-n", pod, "addr", "add", f"{POD_IP}/24", "dev", "eth0")
        for ns, dev in ((node, f"{prefix}a"), (pod, "eth0"), (node, "lo"), (pod, "lo")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", pod, "route", "add", "default", "via", "10.42.0.1")
        sh("ip", "-n", node, "route", "add", "10.43.0.0/16", "dev", f"{prefix}a")
        print(f"rule sync, one endpoint per Service (medians of {ROUNDS}):")
        for n in (1000, 10000):
            render_s, full, partial, full_cpu, partial_cpu = sync_time(node, n)
            print(f"  {n:>6} Services: full {full * 1000:7.1f} ms (render {render_s * 1000:.1f} ms; CPU "
                  f"{full_cpu * 1000:.0f} ms)  partial, one changed {partial * 1000:7.1f} ms (CPU "
                  f"{partial_cpu * 1000:.0f} ms)   target full <= 500 ms")
        throughput(node, pod, prefix)
    finally:
        for ns in (node, pod):
            sh("ip", "netns", "del", ns, check=False)
    if not args.no_cluster:
        ready_latency(args.samples)


def only_cluster() -> None:
    ready_latency(int(sys.argv[2]) if len(sys.argv) > 2 else 10)


if __name__ == "__main__":
    only_cluster() if sys.argv[1:2] == ["--only-cluster"] else main()
