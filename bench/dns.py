"""Cluster DNS: queries/s per core and latency (p50/p99) for a cluster name.

    .venv/bin/python bench/dns.py [--services 1000] [--seconds 5] [--window 8]

Starts tinykube's DNS server (the same DnsListener + QueryHandler + Resolver the node
runs, with uvloop) in a child process on 127.0.0.1, its cluster data filled with
`--services` ClusterIP Services and a headless Service, and drives it with a UDP load
generator in this process: a closed loop keeping `--window` queries in flight over
random Service names (A records), then one query at a time for unloaded latency.
queries/s per core = answered queries / CPU seconds the server process used (both
processes share the machine, so this is the figure that does not depend on how many
cores the generator takes). Target (issue 7): >= 10,000/s per core, p99 <= 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from tinykube.dns import message as m  # noqa: E402


# --- the server (child process) --------------------------------------------------------

def serve(port: int, services: int) -> None:
    from tinykube.dns.cluster import ClusterData
    from tinykube.dns.forward import Forwarder
    from tinykube.dns.handler import QueryHandler
    from tinykube.dns.resolver import Resolver
    from tinykube.dns.server import DnsListener

    data = ClusterData()
    data.upsert("Namespace", {"metadata": {"name": "default"}})
    for i in range(services):
        data.upsert("Service", {"metadata": {"name": f"svc-{i}", "namespace": "default"},
                                "spec": {"clusterIP": f"10.43.{i // 250 + 1}.{i % 250 + 1}",
                                         "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})

    async def main() -> None:
        listener = DnsListener(QueryHandler(Resolver(data)), Forwarder([]))
        await listener.start("", "127.0.0.1", port)
        print("ready", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())


# --- the load generator -----------------------------------------------------------------

def queries(names: list[str]) -> list[bytes]:
    return [m.encode(m.Message(id=0, flags=m.RD, questions=[m.Question(n, m.A)])) for n in names]


def run_load(port: int, packets: list[bytes], *, seconds: float, window: int) -> tuple[int, list[float], int]:
    """(answered, latencies in seconds, timeouts) of a closed loop with `window` in flight."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    sent: dict[int, float] = {}
    latencies: list[float] = []
    next_id, timeouts = 0, 0
    rng = random.Random(1)
    clock = time.perf_counter
    deadline = clock() + seconds
    while True:
        now = clock()
        if now < deadline:
            while len(sent) < window:
                next_id = (next_id + 1) & 0xFFFF
                if next_id in sent:
                    continue
                packet = rng.choice(packets)
                sent[next_id] = clock()
                sock.send(next_id.to_bytes(2, "big") + packet[2:])
        elif not sent:
            break
        ready, _, _ = select.select([sock], [], [], 1.0)
        if not ready:
            timeouts += len(sent)  # lost (a full socket buffer drops datagrams)
            sent.clear()
            continue
        while True:
            try:
                reply = sock.recv(4096)
            except BlockingIOError:
                break
            start = sent.pop(struct.unpack_from("!H", reply)[0], None)
            if start is not None:
                latencies.append(clock() - start)
    sock.close()
    return len(latencies), latencies, timeouts


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=8)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.services)
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--services", str(args.services)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready", "the DNS server did not start"
        names = [f"svc-{i}.default.svc.cluster.local" for i in range(args.services)]
        packets = queries(names)
        run_load(port, packets, seconds=0.5, window=args.window)  # warm the answer cache
        cpu0, wall0 = cpu_seconds(server.pid), time.perf_counter()
        answered, latencies, lost = run_load(port, packets, seconds=args.seconds, window=args.window)
        cpu, wall = cpu_seconds(server.pid) - cpu0, time.perf_counter() - wall0
        _, single, _ = run_load(port, packets, seconds=min(2.0, args.seconds), window=1)
    finally:
        server.terminate()
        server.wait()
    ms = 1000
    print(f"cluster DNS, {args.services} Services, A queries for random Service names over UDP (loopback)")
    print(f"  loaded ({args.window} in flight): {answered / wall:,.0f} queries/s wall, "
          f"{answered / cpu if cpu else float('inf'):,.0f} queries/s per server CPU core "
          f"(server used {cpu:.2f} CPU s in {wall:.2f} s), lost {lost}")
    print(f"    latency p50 {percentile(latencies, 0.5) * ms:.2f} ms  p99 {percentile(latencies, 0.99) * ms:.2f} ms")
    print(f"  unloaded (1 in flight): p50 {percentile(single, 0.5) * ms:.3f} ms  "
          f"p99 {percentile(single, 0.99) * ms:.3f} ms")
    print("  target: >= 10,000 queries/s per core, p99 <= 5 ms (CoreDNS ~17,000/s per vCPU)")


if __name__ == "__main__":
    main()
