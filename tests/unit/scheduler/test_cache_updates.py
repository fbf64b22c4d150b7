"""The scheduler cache's handling of bound pods' updates (tinykube/scheduler/cache.py)."""

from __future__ import annotations

import copy

from tests.unit.scheduler.helpers import cache_with, node, pod
from tinykube.scheduler.cache import PodInfo, pod_key


def _bound(name: str = "p", **kw) -> dict:
    return pod(name, cpu="500m", memory="1Gi", node_name="n1", **kw)


def test_pod_key_without_a_pod_info():
    assert pod_key(_bound("web", ns="prod")) == PodInfo(_bound("web", ns="prod")).key == "prod/web"


def test_a_status_update_keeps_the_pod_info_and_the_node_sums():
    cache = cache_with([node("n1")])
    cache.add_or_update_pod_object(_bound())
    info = cache.pods["default/p"][0]
    before = (cache.nodes["n1"].req_cpu, cache.nodes["n1"].req_mem, len(cache.nodes["n1"].pods))
    running = copy.deepcopy(_bound())
    running["status"] = {"phase": "Running", "podIP": "10.0.0.5"}
    cache.add_or_update_pod_object(running)
    assert cache.pods["default/p"][0] is info and info.pod is running
    assert (cache.nodes["n1"].req_cpu, cache.nodes["n1"].req_mem, len(cache.nodes["n1"].pods)) == before == (500, 2**30, 1)


def test_changes_scheduling_looks_at_build_a_new_pod_info():
    for change in (lambda p: p["metadata"]["labels"].update(app="x"),
                   lambda p: p["spec"]["containers"][0]["resources"]["requests"].update(cpu="1"),
                   lambda p: p["metadata"].update(deletionTimestamp="2026-01-01T00:00:00Z"),
                   lambda p: p["metadata"].update(uid="other")):
        cache = cache_with([node("n1")])
        cache.add_or_update_pod_object(_bound())
        info = cache.pods["default/p"][0]
        changed = _bound()
        change(changed)
        cache.add_or_update_pod_object(changed)
        assert cache.pods["default/p"][0] is not info
    cache.add_or_update_pod_object(_bound())
    assert cache.nodes["n1"].req_cpu == 500  # the sums follow the new requests back


def test_an_assumed_pod_is_confirmed_by_its_first_update():
    cache = cache_with([node("n1")])
    queued = pod("p", cpu="500m")
    cache.assume(PodInfo(queued), "n1")
    assert cache.is_assumed("default/p")
    cache.add_or_update_pod_object(_bound())
    assert not cache.is_assumed("default/p")
    assert cache.pods["default/p"][0].node_name == "n1" and cache.nodes["n1"].req_cpu == 500
