"""Service proxy benchmark: rule sync time and the cost of going through a ClusterIP.

Runs as root in network namespaces it creates (prefix tkb<hex>) and removes:
- full rule sync (render + one `nft -f` transaction) for 1,000 and 10,000 Services with
  one endpoint each (target <= 500 ms);
- HTTP requests/s and latency with wrk from a "node" namespace to a busybox httpd in a
  "pod" namespace (veth), straight to the pod IP and through a ClusterIP rendered by
  tinykube's proxy (target >= 95 %).
Not measured here: pod Ready -> in the rules with a full cluster (see docs/services.md).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time

sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])

from tinykube.proxy import render as r  # noqa: E402


def sh(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def services(n: int):
    svcs, slices = [], []
    for i in range(n):
        name = f"s{i}"
        svcs.append({"metadata": {"name": name, "namespace": "bench"},
                     "spec": {"type": "ClusterIP", "clusterIP": f"10.43.{i // 250}.{i % 250 + 1}",
                              "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})
        slices.append({"metadata": {"name": f"{name}-x", "namespace": "bench",
                                    "labels": {"kubernetes.io/service-name": name}},
                       "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                       "endpoints": [{"addresses": [f"10.42.{i // 250}.{i % 250 + 2}"],
                                      "conditions": {"ready": True}, "nodeName": "n1"}]})
    return svcs, slices


def sync_time(ns: str, n: int) -> tuple[float, float]:
    svcs, slices = services(n)
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=r.transaction(r.render(svcs, slices, "n1", table="bench"),
                                                                          "bench", None))
    start = time.perf_counter()
    text = r.render(svcs, slices, "n1", table="bench")
    rendered = time.perf_counter()
    sh("ip", "netns", "exec", ns, "nft", "-f", "-", input=r.transaction(text, "bench", text))
    return rendered - start, time.perf_counter() - start


def wrk(ns: str, url: str) -> tuple[float, str]:
    out = sh("ip", "netns", "exec", ns, "wrk", "-t2", "-c16", "-d5s", "--latency", url).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    return rps, p99


def main() -> None:
    prefix = f"tkb{secrets.token_hex(3)}"
    node, pod = f"{prefix}-node", f"{prefix}-pod"
    httpd = None
    try:
        for ns in (node, pod):
            sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", f"{prefix}a", "netns", node, "type", "veth", "peer", "name", "eth0", "netns", pod)
        sh("ip", "-n", node, "addr", "add", "10.42.0.1/24", "dev", f"{prefix}a")
        sh("ip", "-n", pod, "addr", "add", "10.42.0.2/24", "dev", "eth0")
        for ns, dev in ((node, f"{prefix}a"), (pod, "eth0"), (node, "lo"), (pod, "lo")):
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", pod, "route", "add", "default", "via", "10.42.0.1")
        sh("ip", "-n", node, "route", "add", "10.43.0.0/16", "dev", f"{prefix}a")
        print("full rule sync (render + nft -f), one endpoint per Service:")
        for n in (1000, 10000):
            render_s, total = sync_time(node, n)
            print(f"  {n:>6} Services: {total * 1000:7.1f} ms (render {render_s * 1000:.1f} ms)  target <= 500 ms")
        sh("ip", "netns", "exec", node, "nft", "delete", "table", "ip", "bench")
        svc = {"metadata": {"name": "web", "namespace": "bench"},
               "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.5", "ports": [{"name": "http", "port": 80}]}}
        slice_ = {"metadata": {"name": "web-x", "namespace": "bench", "labels": {"kubernetes.io/service-name": "web"}},
                  "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                  "endpoints": [{"addresses": ["10.42.0.2"], "conditions": {"ready": True}}]}
        sh("ip", "netns", "exec", node, "nft", "-f", "-",
           input=r.transaction(r.render([svc], [slice_], "n1", table="bench"), "bench", None))
        busybox = shutil.which("busybox")
        sh("sh", "-c", f"mkdir -p /tmp/{prefix}www && echo hello > /tmp/{prefix}www/index.html")
        httpd = subprocess.Popen(["ip", "netns", "exec", pod, busybox, "httpd", "-f", "-p", "8080",
                                  "-h", f"/tmp/{prefix}www"])
        time.sleep(0.5)  # httpd has no readiness signal; wrk fails loudly if it is not up
        direct, direct_p99 = wrk(node, "http://10.42.0.2:8080/")
        via, via_p99 = wrk(node, "http://10.43.0.5/")
        print("HTTP through the proxy (wrk -t2 -c16 -d5s, busybox httpd):")
        print(f"  pod IP:    {direct:9.0f} req/s  p99 {direct_p99}")
        print(f"  ClusterIP: {via:9.0f} req/s  p99 {via_p99}")
        print(f"  ratio:     {via / direct * 100:6.1f} %  target >= 95 %")
    finally:
        if httpd is not None:
            httpd.kill()
            httpd.wait()
        for ns in (node, pod):
            sh("ip", "netns", "del", ns, check=False)
        sh("rm", "-rf", f"/tmp/{prefix}www", check=False)


if __name__ == "__main__":
    main()
