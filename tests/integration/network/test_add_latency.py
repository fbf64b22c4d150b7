"""How long a pod's CNI ADD takes with the real plugins (loopback, then bridge with
host-local IPAM, then portmap), and that concurrent ADDs stay correct. Prints the
figures (p50 over 20 pods)."""

from __future__ import annotations

import asyncio
import statistics
import time

from .pods import ipam_files, make_pod

PODS = 20


async def _timed(coro) -> float:
    start = time.perf_counter()
    await coro
    return (time.perf_counter() - start) * 1000


async def _measure(testnet, node, network, tag: str, host_ports: bool):
    pods = [make_pod(f"{tag}{i}", host_ports={9000 + i: 80} if host_ports else None)
            for i in range(PODS)]
    paths = [await testnet.pod_netns(node, p["metadata"]["name"]) for p in pods]
    adds = [await _timed(network.setup_pod_network(path, pod)) for path, pod in zip(paths, pods)]
    dels = [await _timed(network.teardown_pod_network(pod, netns_path=path))
            for path, pod in zip(paths, pods)]
    return statistics.median(adds), max(adds), statistics.median(dels)


async def test_add_latency_p50(testnet, node, node_network, capsys):
    plain = await _measure(testnet, node, node_network, "p", host_ports=False)
    mapped = await _measure(testnet, node, node_network, "h", host_ports=True)
    settings = node_network.settings
    assert ipam_files(settings.data_dir, settings.network_name) == set()
    with capsys.disabled():
        for label, (add50, add_max, del50) in (("no hostPort", plain), ("1 hostPort", mapped)):
            print(f"\nCNI ADD loopback+bridge+host-local+portmap, {label}: p50 {add50:.1f} ms, "
                  f"max {add_max:.1f} ms; DEL p50 {del50:.1f} ms ({PODS} pods)")
    assert plain[0] < 500 and mapped[0] < 1000  # generous: a 2-core machine under load


async def test_concurrent_adds_get_distinct_ips(testnet, node, node_network, capsys):
    pods = [make_pod(f"c{i}") for i in range(PODS)]
    paths = [await testnet.pod_netns(node, p["metadata"]["name"]) for p in pods]
    start = time.perf_counter()
    statuses = await asyncio.gather(*(node_network.setup_pod_network(path, pod)
                                      for path, pod in zip(paths, pods)))
    wall = (time.perf_counter() - start) * 1000
    assert len({s.ip for s in statuses}) == PODS
    await asyncio.gather(*(node_network.teardown_pod_network(pod, netns_path=path)
                           for path, pod in zip(paths, pods)))
    settings = node_network.settings
    assert ipam_files(settings.data_dir, settings.network_name) == set()
    with capsys.disabled():
        print(f"\n{PODS} concurrent pod ADDs: {wall:.0f} ms wall")
