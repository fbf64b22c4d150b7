"""Benchmark of the scheduler: pods scheduled per second on 1,000 and 5,000 simulated nodes.

For each node count: a fresh `tinykube server` (which runs the scheduler) and a
`tinykube agent --simulate N --simulate-only` process; once the N nodes are Ready,
10,000 pods (100m cpu, 128Mi each) are created by 64 concurrent clients while a watch
counts the bindings. Prints
- end to end: pods bound per second from the first binding to the last (as upstream's
  scheduler_perf measures throughput, creation running at the same time), and the create
  rate, which bounds it when the API server is the slower side;
- the scheduling algorithm alone: the same scheduler code (queue, cache with assumed
  pods, every default plugin) in this process with the bindings not written, pods/s.

    .venv/bin/python bench/scheduler.py [--nodes 1000,5000] [--pods 10000]

Everything runs on 127.0.0.1 and stops by itself; processes are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tinykube.client import ApiClient, Informer  # noqa: E402

PODS, NODES, NS = ("v1", "Pod"), ("v1", "Node"), ("v1", "Namespace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], log_path: str) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pod(i: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i}", "namespace": "bench"},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


async def wait_nodes(client: ApiClient, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len((await client.list(NODES)).items) >= count:
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{count} nodes not registered after {timeout}s")


async def end_to_end(kubeconfig: str, pods: int) -> dict:
    async with ApiClient.from_kubeconfig(kubeconfig) as client:
        await client.create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}})
        bound_at: list[float] = []
        done = asyncio.Event()
        seen: set[str] = set()

        def on_pod(obj: dict) -> None:  # an informer: it resumes a watch the server closed
            name = obj["metadata"]["name"]
            if obj["spec"].get("nodeName") and name not in seen:
                seen.add(name)
                bound_at.append(time.monotonic())
                if len(seen) == pods:
                    done.set()
        informer = Informer(client, PODS, namespace="bench")
        informer.add_event_handler(on_pod, lambda old, new: on_pod(new))

        async def watch() -> None:
            await informer.run()

        watcher = asyncio.create_task(watch())
        await informer.wait_synced()
        queue = list(range(pods))
        started = time.monotonic()

        async def creator() -> None:
            while queue:
                await client.create(PODS, pod(queue.pop()))
        await asyncio.gather(*(creator() for _ in range(64)))
        created = time.monotonic() - started
        await asyncio.wait_for(done.wait(), timeout=600)
        watcher.cancel()
        span = bound_at[-1] - bound_at[0]
        return {"create_rate": pods / created, "bind_rate": (pods - 1) / span if span else 0.0,
                "total": bound_at[-1] - started}


def algorithm_only(nodes: int, pods: int) -> float:
    """The scheduling cycle alone: cache, queue and default plugins, bindings not written."""
    from tinykube.agent.simulated import SimulatedConfig, node_object, node_status
    from tinykube.scheduler.cache import Cache, PodInfo
    from tinykube.scheduler.config import SchedulerConfig, instantiate
    from tinykube.scheduler.framework import Framework
    from tinykube.scheduler.queue import SchedulingQueue

    config = SimulatedConfig(count=nodes)
    cache = Cache()
    for i in range(nodes):
        node = node_object(config, i)
        node["status"] = node_status(config, i, "2024-01-01T00:00:00Z")
        cache.add_or_update_node(node)
    framework = Framework(*instantiate(SchedulerConfig()))
    queue = SchedulingQueue()
    for i in range(pods):
        p = pod(i)
        p["metadata"]["uid"] = f"uid-{i}"
        queue.add(p)
    started = time.monotonic()
    scheduled = 0
    while (qp := queue.pop_nowait()) is not None:
        info = PodInfo(qp.pod)
        result = framework.schedule(info, cache)
        if result.node:
            cache.assume(info, result.node)
            queue.done(qp.key)
            scheduled += 1
    elapsed = time.monotonic() - started
    assert scheduled == pods, scheduled
    return pods / elapsed


def run_cluster(nodes: int, pods: int, tmp: str) -> dict:
    data = os.path.join(tmp, f"server-{nodes}")
    port = free_port()
    server = start([sys.executable, "-m", "tinykube.cli.main", "server", "--data-dir", data, "--port", str(port),
                    "--sqlite-synchronous", "FULL"], os.path.join(tmp, f"server-{nodes}.log"))
    agent = None
    try:
        kubeconfig = os.path.join(data, "kubeconfig.yaml")
        deadline = time.monotonic() + 60
        while not os.path.exists(os.path.join(data, "token")) or not os.path.exists(kubeconfig):
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("server did not start")
            time.sleep(0.2)
        time.sleep(1.0)
        with open(os.path.join(data, "token")) as f:
            token = f.read().strip()
        agent = start([sys.executable, "-m", "tinykube.cli.main", "agent", "--server", f"https://127.0.0.1:{port}",
                       "--token", token, "--ca-file", os.path.join(data, "pki", "ca.crt"),
                       "--data-dir", os.path.join(tmp, f"agent-{nodes}"), "--simulate", str(nodes),
                       "--simulate-only", "--node-name", "bench", "--simulate-lease-interval", "30"],
                      os.path.join(tmp, f"agent-{nodes}.log"))

        async def go() -> dict:
            async with ApiClient.from_kubeconfig(kubeconfig) as client:
                t0 = time.monotonic()
                await wait_nodes(client, nodes, 300)
                registered = time.monotonic() - t0
            result = await end_to_end(kubeconfig, pods)
            result["registered"] = registered
            return result
        return asyncio.run(go())
    finally:
        if agent is not None:
            stop(agent)
        stop(server)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="1000,5000")
    parser.add_argument("--pods", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tinykube-bench-sched-") as tmp:
        for nodes in (int(n) for n in args.nodes.split(",")):
            alone = algorithm_only(nodes, args.pods)
            print(f"{nodes} nodes, {args.pods} pods: scheduling algorithm alone {alone:.0f} pods/s", flush=True)
            e2e = run_cluster(nodes, args.pods, tmp)
            print(f"{nodes} nodes, {args.pods} pods: end to end {e2e['bind_rate']:.0f} pods bound/s "
                  f"(pods created at {e2e['create_rate']:.0f}/s meanwhile; all bound {e2e['total']:.1f} s "
                  f"after the first create; {nodes} nodes registered in {e2e['registered']:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
