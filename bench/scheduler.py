"""Benchmark of the scheduler and the workload controllers on simulated and real nodes.

For each node count (1,000 and 5,000): the scheduling algorithm alone (queue, cache with
assumed pods, every default plugin, in this process, bindings not written), then a fresh
`tinykube server` (the API server), a
`tinykube agent --simulate N --simulate-only` process, and `tinykube scheduler` and
`tinykube controller-manager` in their own processes (as kube-scheduler and
kube-controller-manager beside kube-apiserver; Python runs one thread at a time per
process). Once the N nodes are registered:
- on 1,000 nodes, a 100-replica Deployment: create -> status.availableReplicas 100;
- 10,000 pods (100m cpu, 128Mi each) created by 64 concurrent clients while an informer
  counts bindings: pods bound per second from the first create to the last binding seen
  (capped by --e2e-timeout: past it, the rate of the pods bound so far is printed), and
  the scheduler's own rate from the timestamps of its "N pods bound" log lines, with
  its mean scheduling cycle time;
- the scheduler stopped, 10,000 more pods created (Pending), then a new scheduler started:
  its rate draining that backlog, first to last binding, while the simulated nodes report
  every bound pod Running;
- then as kube-scheduler's own benchmark (scheduler_perf) measures it: a fresh server with
  N Node objects written by the bench and no kubelets or controllers (so no pod status
  writes), 10,000 pending pods, a scheduler started: its drain rate.
Then, when run as root with runc: `tinykube up` with one real node in a throwaway network
namespace (as bench/pod_startup.py), a 30-replica busybox Deployment: time to Available,
and the time from deleting one of its pods to its replacement Running.

Simulated nodes renew their Leases every 120 s and the server's node grace period is
600 s, so that heartbeats (N writes per interval) do not compete with the pods measured.

    .venv/bin/python bench/scheduler.py [--nodes 1000,5000] [--pods 10000] [--e2e-timeout 60]

Everything runs on 127.0.0.1 (the real node in its own network namespace) and stops by
itself; processes are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tinykube.client import ApiClient, Informer  # noqa: E402

PODS, NODES, NS = ("v1", "Pod"), ("v1", "Node"), ("v1", "Namespace")
DEPLOYMENTS = ("apps/v1", "Deployment")
BOUND_LINE = re.compile(r"^(\S+ \S+) INFO tinykube\.scheduler\.scheduler: scheduler: (\d+) pods bound; "
                        r"scheduling cycles took ([\d.]+) ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], log_path: str, env: dict | None = None) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pod(i: int, ns: str = "bench") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i}", "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


def deployment(name: str, replicas: int, namespace: str, container: dict) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]}}}}


async def wait_nodes(client: ApiClient, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len((await client.list(NODES)).items) >= count:
            return
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{count} nodes not registered after {timeout}s")


async def namespace(client: ApiClient, name: str) -> None:
    """Create a namespace and wait for its `default` ServiceAccount (pods need it)."""
    await client.create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    deadline = time.monotonic() + 30
    while not any(sa["metadata"]["name"] == "default"
                  for sa in (await client.list(("v1", "ServiceAccount"), namespace=name)).items):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no default ServiceAccount in {name}")
        await asyncio.sleep(0.05)


async def deployment_available(client: ApiClient, dep: dict, timeout: float) -> float:
    """Seconds from the create to status.availableReplicas == spec.replicas (polled every 20 ms)."""
    md = dep["metadata"]
    started = time.monotonic()
    await client.create(DEPLOYMENTS, dep)
    while time.monotonic() - started < timeout:
        status = (await client.get(DEPLOYMENTS, md["name"], namespace=md["namespace"])).get("status") or {}
        if status.get("availableReplicas", 0) >= dep["spec"]["replicas"]:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise TimeoutError(f"deployment {md['name']} not Available after {timeout}s")


class BindCounter:
    """An informer on one namespace's pods (it resumes a watch the server closes, relists on
    410) that records when each pod is first seen bound."""

    def __init__(self, client: ApiClient, ns: str, expected: int):
        self.expected, self.bound_at, self.seen, self.done = expected, [], set(), asyncio.Event()
        self.informer = Informer(client, PODS, namespace=ns)
        self.informer.add_event_handler(self._on_pod, lambda old, new: self._on_pod(new))
        self.task: asyncio.Task | None = None

    def _on_pod(self, obj: dict) -> None:
        name = obj["metadata"]["name"]
        if obj["spec"].get("nodeName") and name not in self.seen:
            self.seen.add(name)
            self.bound_at.append(time.monotonic())
            if len(self.seen) == self.expected:
                self.done.set()

    async def __aenter__(self) -> BindCounter:
        self.task = asyncio.create_task(self.informer.run())
        await self.informer.wait_synced()
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def wait(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.done.wait(), timeout=max(1.0, timeout))
        except asyncio.TimeoutError:
            pass


async def create_pods(client: ApiClient, pods: int, ns: str, timeout: float) -> tuple[int, float]:
    """Create `pods` pods with 64 concurrent clients; (created, seconds)."""
    queue = list(range(pods))
    started = time.monotonic()

    async def creator() -> None:
        while queue and time.monotonic() - started < timeout:
            await client.create(PODS, pod(queue.pop(), ns))
    await asyncio.gather(*(creator() for _ in range(64)))
    return pods - len(queue), time.monotonic() - started


async def end_to_end(client: ApiClient, pods: int, timeout: float) -> dict:
    """Pods created (64 clients) while the scheduler runs: bound per second from the first
    create to the last binding."""
    await namespace(client, "bench")
    async with BindCounter(client, "bench", pods) as counter:
        started, wall_started = time.monotonic(), time.time()
        created, create_time = await create_pods(client, pods, "bench", timeout)
        await counter.wait(timeout - (time.monotonic() - started))
    last = counter.bound_at[-1] if counter.bound_at else time.monotonic()
    return {"created": created, "create_rate": created / create_time, "bound": len(counter.bound_at),
            "bind_rate": len(counter.bound_at) / (last - started), "total": last - started,
            "wall_started": wall_started, "relists": counter.informer.stats["relists"],
            "watches": counter.informer.stats["watches"]}


async def backlog(client: ApiClient, pods: int, timeout: float, start_scheduler, pids: dict,
                  ns: str = "backlog") -> dict:
    """Pods created while no scheduler runs, then a scheduler started: its rate draining the
    backlog (first to last binding, as scheduler_perf's throughput when creation outpaces
    scheduling), the time from its start to its first binding, and CPU per pod per process."""
    async with BindCounter(client, ns, pods) as counter:
        created, create_time = await create_pods(client, pods, ns, timeout)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        scheduler = start_scheduler()
        try:
            before["scheduler"] = 0.0
            await counter.wait(timeout)
            after = {name: cpu_seconds(pid) for name, pid in {**pids, "scheduler": scheduler.pid}.items()}
        finally:
            stop(scheduler)
    at = counter.bound_at
    drained = len(at) - 1
    return {"created": created, "create_rate": created / create_time, "bound": len(at),
            "first": (at[0] - started) if at else None,
            "rate": drained / (at[-1] - at[0]) if drained > 0 and at[-1] > at[0] else 0.0,
            "cpu_ms": {name: 1000 * (after[name] - before[name]) / max(1, len(at)) for name in after}}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scheduler_rate(log_path: str, since: float) -> tuple[float, float] | None:
    """(pods/s between the scheduler's first and last progress lines after `since`, mean cycle ms)."""
    points = []
    with open(log_path, errors="replace") as f:
        for line in f:
            m = BOUND_LINE.match(line)
            if m:
                at = datetime.datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if at >= since:
                    points.append((at, int(m[2]), float(m[3])))
    if len(points) < 2 or points[-1][0] == points[0][0]:
        return None
    return (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0]), points[-1][2]


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


def wait_server(data: str, server: subprocess.Popen) -> str:
    kubeconfig = os.path.join(data, "kubeconfig.yaml")
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(data, "token")) or not os.path.exists(kubeconfig):
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("server did not start")
        time.sleep(0.2)
    time.sleep(1.0)
    return kubeconfig


def run_cluster(nodes: int, pods: int, tmp: str, timeout: float, with_deployment: bool) -> dict:
    data = os.path.join(tmp, f"server-{nodes}")
    server_log = os.path.join(tmp, f"server-{nodes}.log")
    port = free_port()
    server = start([sys.executable, "-m", "tinykube.cli.main", "server", "--data-dir", data, "--port", str(port),
                    "--sqlite-synchronous", "FULL", "--node-monitor-grace-period", "600", "--disable-scheduler",
                    "--disable-controller-manager"], server_log)
    agent = scheduler = controllers = None
    scheduler_logs = []

    def start_scheduler() -> subprocess.Popen:
        scheduler_logs.append(os.path.join(tmp, f"scheduler-{nodes}-{len(scheduler_logs)}.log"))
        return start([sys.executable, "-m", "tinykube.cli.main", "scheduler", "--kubeconfig",
                      os.path.join(data, "kubeconfig.yaml")], scheduler_logs[-1])
    try:
        kubeconfig = wait_server(data, server)
        with open(os.path.join(data, "token")) as f:
            token = f.read().strip()
        agent = start([sys.executable, "-m", "tinykube.cli.main", "agent", "--server", f"https://127.0.0.1:{port}",
                       "--token", token, "--ca-file", os.path.join(data, "pki", "ca.crt"),
                       "--data-dir", os.path.join(tmp, f"agent-{nodes}"), "--simulate", str(nodes),
                       "--simulate-only", "--node-name", "bench", "--simulate-lease-interval", "120"],
                      os.path.join(tmp, f"agent-{nodes}.log"))
        scheduler = start_scheduler()
        controllers = start([sys.executable, "-m", "tinykube.cli.main", "controller-manager", "--kubeconfig",
                             os.path.join(data, "kubeconfig.yaml"), "--node-monitor-grace-period", "600"],
                            os.path.join(tmp, f"controller-manager-{nodes}.log"))

        async def go() -> dict:
            async with ApiClient.from_kubeconfig(kubeconfig) as client:
                t0 = time.monotonic()
                await wait_nodes(client, nodes, 300)
                result: dict = {"registered": time.monotonic() - t0}
                if with_deployment:
                    await namespace(client, "deploy")
                    container = {"name": "app", "image": "registry.k8s.io/pause:3.9",
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}
                    result["deployment"] = await deployment_available(
                        client, deployment("web", 100, "deploy", container), 120)
                result.update(await end_to_end(client, pods, timeout))
                stop(scheduler)
                await namespace(client, "backlog")
                result["backlog"] = await backlog(client, pods, timeout, start_scheduler,
                                                  {"server": server.pid, "agent": agent.pid,
                                                   "controller-manager": controllers.pid})
                return result
        result = asyncio.run(go())
        result["scheduler"] = scheduler_rate(scheduler_logs[0], result["wall_started"])
        return result
    finally:
        for proc in (scheduler, controllers, agent):
            if proc is not None:
                stop(proc)
        stop(server)


def scheduler_perf(nodes: int, pods: int, tmp: str, timeout: float) -> dict:
    """kube-scheduler's own benchmark (scheduler_perf) measures the scheduler with Node
    objects written by the test and no kubelets: no pod status writes, no controllers. Here
    the same: a fresh `tinykube server` with neither scheduler nor controllers, N Nodes
    created by this process (Ready, 32 cpu, 256Gi, 110 pods, as the simulated ones), the
    namespace's ServiceAccount created here too, `pods` pods created, then `tinykube
    scheduler` started: its drain rate."""
    from tinykube.agent.simulated import SimulatedConfig, node_object, node_status

    data = os.path.join(tmp, f"perf-{nodes}")
    port = free_port()
    server = start([sys.executable, "-m", "tinykube.cli.main", "server", "--data-dir", data, "--port", str(port),
                    "--sqlite-synchronous", "FULL", "--disable-scheduler", "--disable-controller-manager"],
                   os.path.join(tmp, f"perf-server-{nodes}.log"))
    try:
        kubeconfig = wait_server(data, server)

        def start_scheduler() -> subprocess.Popen:
            return start([sys.executable, "-m", "tinykube.cli.main", "scheduler", "--kubeconfig", kubeconfig],
                         os.path.join(tmp, f"perf-scheduler-{nodes}.log"))

        async def go() -> dict:
            config = SimulatedConfig(count=nodes, prefix="perf")
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            async with ApiClient.from_kubeconfig(kubeconfig) as client:
                queue, started = list(range(nodes)), time.monotonic()

                async def registrar() -> None:
                    while queue:
                        i = queue.pop()
                        node = await client.create(NODES, node_object(config, i))
                        node["status"] = node_status(config, i, now)
                        await client.update_status(NODES, node)
                await asyncio.gather(*(registrar() for _ in range(32)))
                registered = time.monotonic() - started
                await client.create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "perf"}})
                await client.create(("v1", "ServiceAccount"), {"apiVersion": "v1", "kind": "ServiceAccount",
                                                              "metadata": {"name": "default", "namespace": "perf"}})
                result = await backlog(client, pods, timeout, start_scheduler, {"server": server.pid}, ns="perf")
                result["registered"] = registered
                return result
        return asyncio.run(go())
    finally:
        stop(server)


def real_node(tmp: str) -> str:
    """30-replica Deployment on one real node; a deleted pod's replacement. Figures or why not."""
    if os.geteuid() != 0:
        return "not measured (needs root)"
    if not shutil.which("runc"):
        return "not measured (runc not found)"
    from tests.integration.agent.cleanup import force_cleanup
    from tests.integration.images.ocibuild import busybox_archive
    from tests.integration.network.nodens import TestNetwork
    from tinykube.agent.images import ImageService

    data = os.path.join(tmp, "real")
    net, proc = TestNetwork(), None
    try:
        node = net.add_node("bench")
        archive = busybox_archive(tmp)

        async def load() -> None:
            images = ImageService(data)
            await images.import_archive(archive)
            await images.close()
        asyncio.run(load())
        proc = start([sys.executable, "-m", "tinykube.cli.main", "up", "--data-dir", data, "--port", str(free_port()),
                      "--node-name", "bench", "--node-ip", node.ip, "--host-netns", node.netns_path,
                      "--bridge", f"{net.prefix}b", "--pod-cidr", "10.42.99.0/24"],
                     os.path.join(tmp, "up.log"), env={**os.environ, "TINYKUBE_LOG": "WARNING"})
        kubeconfig = wait_server(data, proc)
        return asyncio.run(_real_node_figures(kubeconfig))
    except Exception as exc:
        return f"not measured ({exc!r}; log in {tmp}/up.log)"
    finally:
        if proc is not None and proc.poll() is None:
            subprocess.run(["kubectl", "--kubeconfig", os.path.join(data, "kubeconfig.yaml"), "delete",
                            "deployment,pods", "--all", "--grace-period=1", "--timeout=60s"], capture_output=True)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        force_cleanup(data)
        net.cleanup()


async def _real_node_figures(kubeconfig: str) -> str:
    async with ApiClient.from_kubeconfig(kubeconfig) as client:
        deadline = time.monotonic() + 60
        while not any(_ready(n) for n in (await client.list(NODES)).items):
            if time.monotonic() > deadline:
                raise TimeoutError("the real node is not Ready after 60 s")
            await asyncio.sleep(0.2)
        container = {"name": "app", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent",
                     "command": ["/bin/busybox", "sleep", "3600"]}
        available = await deployment_available(client, deployment("real", 30, "default", container), 120)
        before = (await client.list(PODS, namespace="default", label_selector="app=real"))
        names = {p["metadata"]["name"] for p in before.items}
        victim = sorted(names)[0]
        async with client.watch(PODS, namespace="default", label_selector="app=real",
                                resource_version=before.resource_version, timeout_seconds=60) as stream:
            deleted = time.monotonic()
            await client.delete(PODS, victim, namespace="default")
            async for _, obj in stream:
                if obj["metadata"]["name"] not in names and (obj.get("status") or {}).get("phase") == "Running":
                    replaced = time.monotonic() - deleted
                    break
            else:
                raise TimeoutError("no replacement Running within 60 s")
        return (f"real node: 30-replica Deployment Available in {available:.2f} s; a deleted pod's "
                f"replacement Running {replaced * 1000:.0f} ms after the delete (target <= 1 s)")


def _ready(node: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or ())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", default="1000,5000")
    parser.add_argument("--pods", type=int, default=10000)
    parser.add_argument("--e2e-timeout", type=float, default=60.0,
                        help="seconds to create and bind the pods; past it the rate so far is printed")
    parser.add_argument("--algorithm-pods", type=int, default=3000, help="pods for the algorithm-alone figure")
    parser.add_argument("--no-real-node", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tinykube-bench-sched-") as tmp:
        for index, nodes in enumerate(int(n) for n in args.nodes.split(",")):
            alone = algorithm_only(nodes, args.algorithm_pods)
            print(f"{nodes} nodes: scheduling algorithm alone {alone:.0f} pods/s "
                  f"({args.algorithm_pods} pods, in this process, bindings not written)", flush=True)
            e2e = run_cluster(nodes, args.pods, tmp, args.e2e_timeout, with_deployment=index == 0)
            print(f"{nodes} nodes: registered in {e2e['registered']:.1f} s", flush=True)
            if "deployment" in e2e:
                print(f"{nodes} nodes: 100-replica Deployment Available in {e2e['deployment']:.2f} s "
                      f"(target <= 5 s)", flush=True)
            cut = "" if e2e["bound"] == args.pods else f", stopped at {args.e2e_timeout:.0f} s"
            print(f"{nodes} nodes, {args.pods} pods: end to end {e2e['bind_rate']:.0f} pods bound/s "
                  f"({e2e['bound']} bound {e2e['total']:.1f} s after the first create{cut}; "
                  f"{e2e['created']} created at {e2e['create_rate']:.0f}/s meanwhile; counting informer: "
                  f"{e2e['watches']} watches, {e2e['relists']} relists; target >= 500 pods/s, which this figure "
                  f"cannot pass while pods are created at {e2e['create_rate']:.0f}/s: one API server process "
                  f"writes each pod three times, create, binding and Running)", flush=True)
            if e2e["scheduler"]:
                rate, cycle = e2e["scheduler"]
                print(f"{nodes} nodes: the scheduler's own bind rate {rate:.0f} pods/s (its log's timestamps); "
                      f"scheduling cycle {cycle:.2f} ms on average", flush=True)
            else:
                print(f"{nodes} nodes: the scheduler's own bind rate: too few progress lines", flush=True)
            b = e2e["backlog"]
            cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in b["cpu_ms"].items())
            first = f"{b['first']:.1f} s" if b["first"] is not None else "never"
            print(f"{nodes} nodes, backlog of {args.pods} pending pods (created at {b['create_rate']:.0f}/s with no "
                  f"scheduler): a new scheduler drains it at {b['rate']:.0f} pods/s (first to last binding; "
                  f"{b['bound']} bound; first binding {first} after its start; CPU ms per pod: {cpu}; "
                  f"target >= 500 pods/s)", flush=True)
            perf = scheduler_perf(nodes, args.pods, tmp, args.e2e_timeout)
            cpu = ", ".join(f"{name} {ms:.2f}" for name, ms in perf["cpu_ms"].items())
            first = f"{perf['first']:.1f} s" if perf["first"] is not None else "never"
            print(f"{nodes} nodes as scheduler_perf (Node objects written by the bench, no kubelets, no "
                  f"controllers; {nodes} registered in {perf['registered']:.1f} s): a scheduler drains "
                  f"{args.pods} pending pods at {perf['rate']:.0f} pods/s (first to last binding; {perf['bound']} "
                  f"bound; first binding {first} after its start; CPU ms per pod: {cpu}; target >= 500 pods/s)",
                  flush=True)
        if not args.no_real_node:
            print(real_node(tmp), flush=True)


if __name__ == "__main__":
    main()
