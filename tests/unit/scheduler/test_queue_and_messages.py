"""The scheduling queue (no sleeps: a fake clock), FitError messages, pod requests,
the feasible-node count, config loading and the simulated nodes' pure rules."""

from __future__ import annotations

import pytest

from tinykube.agent import simulated
from tinykube.client import FakeClock
from tinykube.scheduler import config as sconfig
from tinykube.scheduler import messages, resources
from tinykube.scheduler.cache import PodInfo
from tinykube.scheduler.framework import Diagnosis, Framework, NodeFailure, num_feasible_nodes_to_find
from tinykube.scheduler.queue import SchedulingQueue, backoff_duration
from tests.unit.scheduler.helpers import cache_with, node, pod


def test_backoff_doubles_from_one_second_to_ten():
    assert [backoff_duration(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_queue_orders_by_priority_then_arrival():
    q = SchedulingQueue(clock=FakeClock())
    q.add(pod("low"))
    q.add(pod("high", priority=100))
    q.add(pod("low2"))
    assert [q.pop_nowait().key for _ in range(3)] == ["default/high", "default/low", "default/low2"]
    assert q.pop_nowait() is None


def test_unschedulable_pod_waits_for_a_cluster_change_then_backs_off():
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("p"))
    qp = q.pop_nowait()
    q.add_unschedulable(qp)
    assert q.where("default/p") == "unschedulable" and q.pop_nowait() is None
    q.move_all_to_active_or_backoff()  # right after the failure: still backing off (1 s)
    assert q.where("default/p") == "backoff"
    clock.advance(1.0)
    assert q.flush_backoff_completed() == 1 and q.pop_nowait().key == "default/p"


def test_change_during_the_attempt_sends_the_pod_to_backoff_not_unschedulable():
    q = SchedulingQueue(clock=FakeClock())
    q.add(pod("p"))
    qp = q.pop_nowait()
    cycle = q.scheduling_cycle
    q.move_all_to_active_or_backoff()  # e.g. a node was added while we were scheduling p
    q.add_unschedulable(qp, pod_cycle=cycle)
    assert q.where("default/p") == "backoff"


def test_unschedulable_pods_are_retried_after_five_minutes():
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    q.add(pod("p"))
    q.add_unschedulable(q.pop_nowait())
    clock.advance(299)
    assert q.flush_unschedulable_leftover() == 0
    clock.advance(1)
    assert q.flush_unschedulable_leftover() == 1 and q.where("default/p") == "active"


def test_the_parked_set_follows_every_move_of_random_operations():
    import random

    rng = random.Random(7)
    clock = FakeClock()
    q = SchedulingQueue(clock=clock)
    for step in range(3000):
        name = f"p{rng.randrange(40)}"
        op = rng.random()
        if op < 0.3:
            q.add(pod(name))
        elif op < 0.5:
            qp = q.pop_nowait()
            if qp is not None:
                if rng.random() < 0.6:
                    q.add_unschedulable(qp, pod_cycle=q.scheduling_cycle)
                else:
                    q.done(qp.key)
        elif op < 0.6:
            q.delete(f"default/{name}")
        elif op < 0.7:
            q.move_all_to_active_or_backoff()
        elif op < 0.8:
            clock.advance(rng.choice([0.5, 20, 400]))
            q.flush_backoff_completed()
            q.flush_unschedulable_leftover()
        else:
            q.update(pod(name, labels={"v": str(step)}))
        parked = {k for k, place in q._where.items() if place == "unschedulable"}
        assert set(q._parked) == parked, step


def test_deleted_and_bound_pods_leave_the_queue():
    q = SchedulingQueue(clock=FakeClock())
    q.add(pod("a"))
    q.add(pod("b"))
    q.delete("default/a")
    qp = q.pop_nowait()
    assert qp.key == "default/b"
    q.done(qp.key)
    assert len(q) == 0 and q.pop_nowait() is None


AFF = "node(s) didn't match Pod's node affinity/selector"


def diag(total, *failures, pre=""):
    d = Diagnosis(total, pre_filter_msg=pre)
    for i, (reasons, unresolvable) in enumerate(failures):
        d.node_failures[f"n{i}"] = NodeFailure(reasons, "P", unresolvable)
    return d


@pytest.mark.parametrize("diagnosis, expected", [
    (diag(3, (("Insufficient cpu",), False), ((AFF,), True), ((AFF,), True)),
     "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector. "
     "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
     "2 Preemption is not helpful for scheduling."),
    (diag(2, (("Insufficient cpu", "Insufficient memory"), False), (("Insufficient memory",), False)),
     "0/2 nodes are available: 1 Insufficient cpu, 2 Insufficient memory. "
     "preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."),
    (diag(12, *[((AFF,), True)] * 10, (("Too many pods",), False), (("Too many pods",), False)),
     "0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, 2 Too many pods. "
     "preemption: 0/12 nodes are available: 10 Preemption is not helpful for scheduling, "
     "2 No preemption victims found for incoming pod."),
    (Diagnosis(0), "no nodes available to schedule pods"),
])
def test_fit_error_message(diagnosis, expected):
    assert messages.fit_error(diagnosis) == expected


def test_framework_counts_every_node_in_the_message():
    cache = cache_with([node("a"), node("b", cpu="1", labels={"x": "y"}), node("c")])
    framework = Framework(*sconfig.instantiate(sconfig.SchedulerConfig()))
    result = framework.schedule(PodInfo(pod("p", cpu="2", nodeSelector={"x": "y"})), cache)
    assert result.node == "" and messages.fit_error(result.diagnosis).startswith(
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector.")
    ok = framework.schedule(PodInfo(pod("q", cpu="1", nodeSelector={"x": "y"})), cache)
    assert ok.node == "b"


def test_assumed_pods_keep_a_burst_from_overcommitting():
    cache = cache_with([node("a", cpu="2"), node("b", cpu="2")])
    framework = Framework(*sconfig.instantiate(sconfig.SchedulerConfig()))
    placed = []
    for i in range(5):
        info = PodInfo(pod(f"p{i}", cpu="1"))
        result = framework.schedule(info, cache)
        if result.node:
            cache.assume(info, result.node)
        placed.append(result.node)
    assert sorted(placed[:4]) == ["a", "a", "b", "b"] and placed[4] == ""


@pytest.mark.parametrize("nodes, expected", [(50, 50), (100, 100), (1000, 420), (5000, 500), (6000, 300)])
def test_num_feasible_nodes_to_find(nodes, expected):
    assert num_feasible_nodes_to_find(nodes) == max(expected, 100) if nodes >= 100 else expected


def test_pod_requests_count_init_containers_sidecars_and_overhead():
    p = {"spec": {
        "containers": [{"resources": {"requests": {"cpu": "100m"}}}, {"resources": {"requests": {"cpu": "200m"}}}],
        "initContainers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}},
                           {"restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}}],
        "overhead": {"cpu": "10m"}}}
    assert resources.pod_requests(p) == {"cpu": 1010, "memory": 1 << 30}
    assert resources.pod_requests({"spec": {"containers": [{}]}}, non_zero=True) == {"cpu": 100, "memory": 200 << 20}


def test_config_parses_plugins_weights_and_refuses_unknown(tmp_path):
    cfg = sconfig.parse({"filters": ["NodeResourcesFit"], "scores": [{"name": "ImageLocality", "weight": 4}],
                         "disabled": ["NodeResourcesFit"]})
    assert cfg.filters == [] and cfg.scores == [("ImageLocality", 4)]
    with pytest.raises(sconfig.ConfigError):
        sconfig.parse({"filtres": []})
    with pytest.raises(sconfig.ConfigError):
        sconfig.instantiate(sconfig.parse({"filters": ["no.such.module:Plugin"]}))
    path = tmp_path / "sched.yaml"
    path.write_text("filters: [NodeUnschedulable, 'tests.unit.scheduler.test_queue_and_messages:OddNodes']\n")
    filters, _ = sconfig.instantiate(sconfig.load(str(path)))
    cache = cache_with([node("n1"), node("n2")])
    result = Framework(filters, []).schedule(PodInfo(pod("p")), cache)
    assert result.node == "n1"


class OddNodes:
    """A user's filter plugin, loaded by "module:Class" path."""
    name = "OddNodes"

    def pre_filter(self, state):
        return lambda node: None if node.name[-1] in "13579" else "node(s) are even"

    def unresolvable(self, reason):
        return True


def test_simulated_pod_status_and_actions():
    p = pod("p", node_name="x-sim-0")
    assert simulated.pod_action(p) == "report"
    status = simulated.pod_status(p, host_ip="172.16.0.1", ip=simulated.pod_ip(3, 1), now="T")
    assert status["phase"] == "Running" and status["podIP"] == "10.64.3.3"
    assert all(c["status"] == "True" for c in status["conditions"])
    assert status["containerStatuses"][0]["ready"] and "running" in status["containerStatuses"][0]["state"]
    assert simulated.pod_action({**p, "status": status}) == ""
    p["metadata"]["deletionTimestamp"] = "T"
    assert simulated.pod_action(p) == "delete"
    assert simulated.node_name("", 4) == "sim-4" and simulated.node_name("h", 4) == "h-sim-4"
    assert simulated.pod_cidr(2) == "10.64.2.0/24"
