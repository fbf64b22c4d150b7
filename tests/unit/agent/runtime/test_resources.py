"""Table tests: requests and limits -> cgroup settings, QoS -> oom_score_adj."""

import pytest

from tinykube.agent.runtime.model import RuntimeConfig
from tinykube.agent.runtime.resources import (is_node_critical, linux_resources, milli_cpu_to_quota,
                                              milli_cpu_to_shares, milli_value, oom_score_adj, value)

GI = 1 << 30


@pytest.mark.parametrize("quantity,milli", [
    ("1", 1000), ("100m", 100), ("0.5", 500), ("1.5", 1500), ("0.0001", 1), ("2500u", 3), (None, 0), (2, 2000),
])
def test_milli_value_rounds_up(quantity, milli):
    assert milli_value(quantity) == milli


@pytest.mark.parametrize("quantity,number", [("64Mi", 64 << 20), ("1G", 10**9), ("1.5Ki", 1536), ("100m", 1), (None, 0)])
def test_value_rounds_up(quantity, number):
    assert value(quantity) == number


@pytest.mark.parametrize("milli,shares", [
    (0, 2), (1, 2), (2, 2), (3, 3), (10, 10), (100, 102), (250, 256), (500, 512), (1000, 1024),
    (2000, 2048), (256000, 262144), (300000, 262144),
])
def test_milli_cpu_to_shares(milli, shares):
    assert milli_cpu_to_shares(milli) == shares


@pytest.mark.parametrize("milli,quota", [(0, 0), (5, 1000), (10, 1000), (200, 20000), (500, 50000), (1500, 150000)])
def test_milli_cpu_to_quota(milli, quota):
    assert milli_cpu_to_quota(milli) == quota


def container(requests=None, limits=None, **extra):
    return {"name": "c", "resources": {"requests": requests or {}, "limits": limits or {}}, **extra}


@pytest.mark.parametrize("c,runtime,expected", [
    (container(), RuntimeConfig(), {"cpu": {"shares": 2, "period": 100000}}),
    (container({"cpu": "250m"}, {"cpu": "500m"}), RuntimeConfig(), {"cpu": {"shares": 256, "quota": 50000, "period": 100000}}),
    (container(limits={"cpu": "1"}), RuntimeConfig(), {"cpu": {"shares": 1024, "quota": 100000, "period": 100000}}),  # request from limit
    (container({"cpu": "100m"}), RuntimeConfig(cpu_cfs_quota=False), {"cpu": {"shares": 102}}),
    (container(limits={"memory": "64Mi"}), RuntimeConfig(),
     {"cpu": {"shares": 2, "period": 100000}, "memory": {"limit": 64 << 20}}),
    (container(limits={"memory": "64Mi"}), RuntimeConfig(swap_accounting=True),
     {"cpu": {"shares": 2, "period": 100000}, "memory": {"limit": 64 << 20, "swap": 64 << 20}}),
    (container({"memory": "32Mi"}), RuntimeConfig(pids_limit=100),
     {"cpu": {"shares": 2, "period": 100000}, "pids": {"limit": 100}}),  # a request sets no limit
])
def test_linux_resources(c, runtime, expected):
    assert linux_resources(c, runtime) == expected


def pod(*containers, qos=None, inits=(), **spec):
    out = {"metadata": {"name": "p"}, "spec": {"containers": list(containers), "initContainers": list(inits), **spec}}
    if qos:
        out["status"] = {"qosClass": qos}
    return out


GUARANTEED = container({"cpu": "1", "memory": "1Gi"}, {"cpu": "1", "memory": "1Gi"})
BURSTABLE = container({"memory": "1Gi"})


@pytest.mark.parametrize("the_pod,c,expected", [
    (pod(GUARANTEED), GUARANTEED, -997),
    (pod(container()), container(), 1000),
    (pod(BURSTABLE), BURSTABLE, 1000 - 1000 * GI // (16 * GI)),                  # 938
    (pod(container({"cpu": "1"})), container({"cpu": "1"}), 999),                # no memory request
    (pod(container({"memory": "16Gi"})), container({"memory": "16Gi"}), 3),     # all the memory: floor
    (pod(container({"memory": "20Gi"})), container({"memory": "20Gi"}), 3),
    (pod(container(), qos="Guaranteed"), container(), -997),                     # status.qosClass wins
])
def test_oom_score_adj(the_pod, c, expected):
    assert oom_score_adj(the_pod, c, 16 * GI) == expected


def test_a_sidecar_scores_no_higher_than_the_smallest_regular_container():
    sidecar = container({"memory": "100Mi"}, restartPolicy="Always", name="side")
    main = container({"memory": "4Gi"}, name="main")
    the_pod = pod(main, inits=[sidecar])
    assert oom_score_adj(the_pod, main, 16 * GI) == 750
    assert oom_score_adj(the_pod, sidecar, 16 * GI) == 750


@pytest.mark.parametrize("spec,annotations,expected", [
    ({"priorityClassName": "system-node-critical", "priority": 2000001000}, {}, True),
    ({"priorityClassName": "system-node-critical"}, {"kubernetes.io/config.source": "file"}, True),  # static
    ({"priorityClassName": "system-cluster-critical", "priority": 2000000000}, {}, False),
    ({"priorityClassName": "system-node-critical", "priority": 0}, {}, False),
])
def test_node_critical(spec, annotations, expected):
    the_pod = {"metadata": {"annotations": annotations}, "spec": spec}
    assert is_node_critical(the_pod) is expected
    if expected:
        assert oom_score_adj({**the_pod, "spec": {**spec, "containers": [container()]}}, container(), GI) == -997
