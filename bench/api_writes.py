"""Micro-benchmark of the API server's write path, in-process (no HTTP, no JSON request decode).

The four writes every scheduled pod costs (issue 6): create, pods/binding, the agent's
Running status (a merge patch of pods/status, as tinykube/agent/simulated.py sends it),
and the Scheduled event. Each kind of write runs N times against Resources over a
temporary SQLite store with its watch cache, as `tinykube server` builds them.

Prints writes/s and CPU ms per write for each step:

    .venv/bin/python bench/api_writes.py [--pods 2000] [--synchronous OFF] [--profile status]

--profile STEP prints the top 25 functions (cumulative) of a cProfile of that step.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tinykube.agent.simulated import pod_status  # noqa: E402
from tinykube.util import gctune  # noqa: E402
from tinykube.api.registry import REGISTRY  # noqa: E402
from tinykube.apiserver.resources import Resources, WriteContext  # noqa: E402
from tinykube.apiserver.watchcache import WatchCache  # noqa: E402
from tinykube.storage.sqlite import SqliteStore  # noqa: E402
from tinykube.util import jsonutil  # noqa: E402

PODS = REGISTRY.by_plural("", "v1", "pods")
EVENTS = REGISTRY.by_plural("", "v1", "events")
NAMESPACES = REGISTRY.by_plural("", "v1", "namespaces")
SERVICE_ACCOUNTS = REGISTRY.by_plural("", "v1", "serviceaccounts")
NS = "bench"


def pod(i: int) -> dict:
    """The pod of bench/scheduler.py."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p-{i}", "namespace": NS,
                                                            "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.9",
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}


def event(i: int, uid: str) -> dict:
    """The Scheduled event the scheduler records (core/v1, as EventRecorder writes it)."""
    now = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"p-{i}.{i:x}", "namespace": NS},
            "involvedObject": {"kind": "Pod", "namespace": NS, "name": f"p-{i}", "uid": uid,
                               "apiVersion": "v1", "resourceVersion": "1"},
            "reason": "Scheduled", "message": f"Successfully assigned {NS}/p-{i} to node-{i % 50}",
            "source": {"component": "default-scheduler"}, "firstTimestamp": now, "lastTimestamp": now,
            "count": 1, "type": "Normal", "reportingComponent": "default-scheduler", "reportingInstance": ""}


async def run(args) -> None:
    with tempfile.TemporaryDirectory(prefix="tk-bench-writes-") as tmp:
        store = SqliteStore(os.path.join(tmp, "state.db"), synchronous=args.synchronous)
        await store.start()
        cache = WatchCache(store, history_seconds=300)
        task = asyncio.create_task(cache.run())
        await cache.ready.wait()
        res = Resources(store, cache)
        try:
            await res.create(NAMESPACES, "", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": NS}}, WriteContext())
            await res.create(SERVICE_ACCOUNTS, NS, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                    "metadata": {"name": "default", "namespace": NS}},
                             WriteContext())
            uids: dict[int, str] = {}

            async def create(i):
                obj = await res.create(PODS, NS, pod(i), WriteContext(field_manager="bench"))
                uids[i] = obj["metadata"]["uid"]

            async def bind(i):
                await res.bind(PODS, NS, f"p-{i}", {"target": {"kind": "Node", "name": f"node-{i % 50}"}},
                               WriteContext(field_manager="tinykube-scheduler"))

            async def status(i):
                current = (await res.get(PODS, NS, f"p-{i}")).obj
                body = jsonutil.dumps({"status": pod_status(current, host_ip="10.0.0.1", ip=f"10.1.{i // 250}.{i % 250}",
                                                            now="2026-01-01T00:00:01Z")})
                await res.patch(PODS, NS, f"p-{i}", "application/merge-patch+json", body,
                                WriteContext(field_manager="tinykube-agent"), subresource="status")

            async def record(i):
                await res.create(EVENTS, NS, event(i, uids[i]), WriteContext(field_manager="tinykube-scheduler"))

            gctune.install()  # the collector as `tinykube server` runs it
            results = []
            for step, fn in (("create", create), ("binding", bind), ("status", status), ("event", record)):
                gctune.freeze_survivors()
                prof = cProfile.Profile() if args.profile == step else None
                wall, cpu = time.perf_counter(), time.process_time()
                if prof:
                    prof.enable()
                for i in range(args.pods):
                    await fn(i)
                if prof:
                    prof.disable()
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                results.append((step, wall, cpu))
                if prof:
                    pstats.Stats(prof).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(int(os.environ.get("TOP", "25")))
            print(f"api writes, in-process, {args.pods} pods, sqlite synchronous={args.synchronous}")
            total_cpu = 0.0
            for step, wall, cpu in results:
                total_cpu += cpu
                print(f"  {step:8s} {args.pods / wall:8.0f} writes/s   {cpu * 1000 / args.pods:6.3f} ms CPU/write")
            print(f"  per scheduled pod: {total_cpu * 1000 / args.pods:.3f} ms CPU (4 writes) "
                  f"= {args.pods / total_cpu:.0f} pods/s of one core; the watch cache kept "
                  f"{cache.stats['decodes_saved']} written objects without decoding them")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=2000)
    parser.add_argument("--synchronous", default="NORMAL", help="SQLite synchronous (server default FULL)")
    parser.add_argument("--profile", default="", choices=("", "create", "binding", "status", "event"))
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
