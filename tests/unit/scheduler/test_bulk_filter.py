"""The framework's bulk filter path (one resource-fit check applied to slices of nodes)
gives what the per-node loop gives: same node, same nodes checked, same failures."""

from __future__ import annotations

import random

from tests.unit.scheduler.helpers import cache_with, node, pod
from tinykube.scheduler.cache import PodInfo
from tinykube.scheduler.config import SchedulerConfig, instantiate
from tinykube.scheduler.framework import Framework
from tinykube.scheduler.plugins import noderesources


def _run(cache, pods, *, bulk: bool):
    framework = Framework(*instantiate(SchedulerConfig()))
    if not bulk:
        for plugin in framework.filters:
            if isinstance(plugin, noderesources.NodeResourcesFit):
                pre_filter = plugin.pre_filter

                def without_bulk(state, pre_filter=pre_filter):
                    check = pre_filter(state)
                    if check is not None and hasattr(check, "bulk"):
                        del check.bulk
                    return check
                plugin.pre_filter = without_bulk
    out = []
    for p in pods:
        info = PodInfo(p)
        result = framework.schedule(info, cache)
        failures = (sorted((name, f.reasons) for name, f in result.diagnosis.node_failures.items())
                    if result.diagnosis else None)
        out.append((result.node, result.evaluated, framework.next_start, failures))
        if result.node:
            cache.assume(info, result.node)
    return out


def test_bulk_and_per_node_loops_agree_on_random_clusters():
    for seed in range(20):
        rng = random.Random(seed)
        nodes = [node(f"n{i:03d}", cpu=rng.choice(["1", "2", "4"]), memory=rng.choice(["1Gi", "4Gi"]),
                      pods=rng.choice(["3", "110"])) for i in range(rng.randint(1, 260))]
        pods = [pod(f"p{i}", cpu=rng.choice(["100m", "500m", "1500m"]), memory=rng.choice(["", "256Mi", "2Gi"]))
                for i in range(60)]
        assert _run(cache_with(nodes), pods, bulk=True) == _run(cache_with(nodes), pods, bulk=False), seed


def test_a_pod_that_fits_nowhere_gets_every_node_s_reasons_on_the_bulk_path():
    cache = cache_with([node("a", cpu="1"), node("b", cpu="2")])
    [(chosen, evaluated, _, failures)] = _run(cache, [pod("big", cpu="3")], bulk=True)
    assert chosen == "" and evaluated == 2
    assert failures == [("a", ("Insufficient cpu",)), ("b", ("Insufficient cpu",))]
