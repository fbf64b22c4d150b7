"""Pod startup latency, as Kubernetes' SLO measures it: create -> Running seen by a watch,
with the image already present. Also: 30 pods created at once until all are Running, and
the same pod with `podman kube play` in the same run, for the ratio.

    .venv/bin/python bench/pod_startup.py [--pods 50] [--burst 30]

Runs `tinykube up` with its pod network inside a throwaway network namespace (nothing
touches the host's network), a busybox image built from Debian's static busybox.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tests.e2e.conftest import free_port  # noqa: E402
from tests.integration.agent.cleanup import force_cleanup  # noqa: E402
from tests.integration.images.ocibuild import busybox_archive  # noqa: E402
from tests.integration.network.nodens import TestNetwork  # noqa: E402
from tinykube.agent.images import ImageService  # noqa: E402
from tinykube.client import ApiClient  # noqa: E402

POD = ("v1", "Pod")


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "bench", "terminationGracePeriodSeconds": 1, "containers": [
                {"name": "app", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent",
                 "command": ["/bin/busybox", "sleep", "3600"]}]}}


async def running_times(client, names: set[str], rv: str) -> dict[str, float]:
    seen: dict[str, float] = {}
    async with client.watch(POD, namespace="default", resource_version=rv, timeout_seconds=120) as stream:
        async for _, obj in stream:
            name = obj["metadata"]["name"]
            if name in names and name not in seen and obj.get("status", {}).get("phase") == "Running":
                seen[name] = time.monotonic()
                if len(seen) == len(names):
                    return seen
    return seen


async def measure(kubeconfig: str, count: int, burst: int) -> tuple[list[float], float]:
    async with ApiClient.from_kubeconfig(kubeconfig) as client:
        latencies = []
        for i in range(count):  # one at a time: the SLO's per-pod latency
            rv = (await client.list(POD, namespace="default")).resource_version
            watcher = asyncio.create_task(running_times(client, {f"seq-{i}"}, rv))
            started = time.monotonic()
            await client.create(POD, pod(f"seq-{i}"), namespace="default")
            latencies.append((await watcher)[f"seq-{i}"] - started)
        names = {f"burst-{i}" for i in range(burst)}
        rv = (await client.list(POD, namespace="default")).resource_version
        watcher = asyncio.create_task(running_times(client, names, rv))
        started = time.monotonic()
        await asyncio.gather(*(client.create(POD, pod(n), namespace="default") for n in names))
        done = await watcher
        return latencies, max(done.values()) - started


def podman_kube_play(tmp: str, archive: str, runs: int = 5) -> list[float] | str:
    if not shutil.which("podman"):
        return "podman is not installed"
    load = subprocess.run(["podman", "load", "-i", archive], capture_output=True, text=True)
    if load.returncode:
        return f"podman load failed: {load.stderr.strip()[-200:]}"
    manifest = os.path.join(tmp, "pod.yaml")
    with open(manifest, "w") as f:
        f.write("apiVersion: v1\nkind: Pod\nmetadata:\n  name: tkbench\nspec:\n  containers:\n"
                "  - name: app\n    image: docker.io/library/busybox:1.36\n"
                "    command: [/bin/busybox, sleep, '3600']\n")
    times = []
    for _ in range(runs):
        started = time.monotonic()
        play = subprocess.run(["podman", "--runtime", "runc", "kube", "play", "--network", "none", manifest],
                              capture_output=True, text=True, timeout=120)
        times.append(time.monotonic() - started)
        subprocess.run(["podman", "--runtime", "runc", "kube", "down", manifest], capture_output=True, timeout=120)
        if play.returncode:
            return f"podman kube play failed: {play.stderr.strip()[-300:]}"
    return times


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--burst", type=int, default=30)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="tinykube-podbench-")
    data_dir = os.path.join(tmp, "cluster")
    net = TestNetwork()
    proc = None
    try:
        node = net.add_node("bench")
        archive = busybox_archive(tmp)
        asyncio.run(_import(data_dir, archive))
        log = open(os.path.join(tmp, "up.log"), "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tinykube.cli.main", "up", "--data-dir", data_dir, "--port", str(free_port()),
             "--node-name", "bench", "--node-ip", node.ip, "--host-netns", node.netns_path,
             "--bridge", f"{net.prefix}b", "--pod-cidr", "10.42.99.0/24"],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "TINYKUBE_LOG": "WARNING"})
        kubeconfig = os.path.join(data_dir, "kubeconfig.yaml")
        _wait_for_node(kubeconfig)
        latencies, burst = asyncio.run(measure(kubeconfig, args.pods, args.burst))
        print(f"tinykube pod startup (create -> Running via watch, image present, {args.pods} pods one "
              f"at a time): p50 {pct(latencies, 50) * 1000:.0f} ms, p99 {pct(latencies, 99) * 1000:.0f} ms")
        print(f"tinykube {args.burst} pods created at once: all Running after {burst * 1000:.0f} ms")
        print(f"agent+server RSS with {args.pods + args.burst} pods: {_rss_mb(proc.pid):.0f} MB "
              f"(one process; each container also has a ~5 MB PSS monitor)")
        podman = podman_kube_play(tmp, archive)
        if isinstance(podman, str):
            print(f"podman kube play: not measured ({podman})")
        else:
            p50 = statistics.median(podman)
            print(f"podman kube play, same pod (--network none, image present, {len(podman)} runs): "
                  f"p50 {p50 * 1000:.0f} ms; ratio podman/tinykube p50: {p50 / pct(latencies, 50):.1f}x")
    finally:
        if proc and proc.poll() is None:
            _delete_all(os.path.join(data_dir, "kubeconfig.yaml"))
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        force_cleanup(data_dir)
        net.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


async def _import(data_dir: str, archive: str) -> None:
    images = ImageService(data_dir)
    await images.import_archive(archive)
    await images.close()


def _wait_for_node(kubeconfig: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if os.path.exists(kubeconfig) and subprocess.run(
                ["kubectl", "--kubeconfig", kubeconfig, "get", "node", "bench"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError("the node did not register")


def _delete_all(kubeconfig: str) -> None:
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "pods", "--all", "--grace-period=1",
                    "--timeout=120s"], capture_output=True)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
