"""Native sidecars (init containers with restartPolicy Always): stop order, and the
status rules (start gating, readiness, Job-like completion)."""

import pytest

from tinykube.agent.hooks import termination_stages
from tinykube.agent.podstatus import (
    PENDING, RUNNING, RUNNING_PHASE, SUCCEEDED, TERMINATED, ContainerState, Terminated, conditions, init_done,
    pod_phase)

NOW = "2026-11-24T14:00:00Z"


def spec(policy="Always"):
    return {"restartPolicy": policy,
            "initContainers": [{"name": "setup"}, {"name": "proxy", "restartPolicy": "Always"},
                               {"name": "logs", "restartPolicy": "Always"}],
            "containers": [{"name": "app"}, {"name": "web"}]}


def running(name, ready=True, started=True):
    return ContainerState(name, RUNNING, started_at=NOW, ready=ready, started=started)


def done(name, code=0):
    return ContainerState(name, TERMINATED, terminated=Terminated(code))


@pytest.mark.parametrize("names,stages", [
    ({"app", "web", "proxy", "logs"}, [["app", "web"], ["logs"], ["proxy"]]),
    ({"proxy", "logs"}, [["logs"], ["proxy"]]),
    ({"app", "setup"}, [["app", "setup"]]),
    (set(), []),
])
def test_sidecars_stop_after_the_app_last_started_first(names, stages):
    assert termination_stages(spec(), names) == stages


@pytest.mark.parametrize("inits,expected", [
    ({"setup": done("setup"), "proxy": running("proxy"), "logs": running("logs")}, True),
    ({"setup": done("setup"), "proxy": running("proxy", started=False), "logs": running("logs")}, False),
    ({"setup": done("setup"), "proxy": running("proxy")}, False),
    ({"setup": running("setup"), "proxy": running("proxy"), "logs": running("logs")}, False),
])
def test_app_containers_wait_for_started_sidecars(inits, expected):
    assert init_done(spec(), inits) is expected


def test_job_like_pod_completes_regardless_of_its_sidecars():
    inits = {"setup": done("setup"), "proxy": running("proxy"), "logs": done("logs", 137)}
    apps = {"app": done("app"), "web": done("web")}
    assert pod_phase(spec("Never"), inits, apps) == SUCCEEDED
    stopped = {"setup": done("setup"), "proxy": done("proxy", 143), "logs": done("logs", 143)}
    assert pod_phase(spec("Never"), stopped, apps) == SUCCEEDED


def test_a_restarting_sidecar_does_not_make_a_running_pod_pending():
    inits = {"setup": done("setup"), "proxy": ContainerState("proxy", reason="CrashLoopBackOff",
                                                              last_terminated=Terminated(1)),
             "logs": running("logs")}
    apps = {"app": running("app"), "web": running("web")}
    assert pod_phase(spec(), inits, apps) == RUNNING_PHASE
    before = {"setup": done("setup"), "proxy": running("proxy"), "logs": running("logs")}
    assert pod_phase(spec(), before, {"app": ContainerState("app"), "web": ContainerState("web")}) == PENDING


def _ready(inits, apps):
    out = conditions(spec(), inits, apps, sandbox_ready=True, phase=RUNNING_PHASE, now=NOW, previous=[])
    return {c["type"]: (c["status"], c.get("message", "")) for c in out}


def test_sidecars_count_in_pod_readiness():
    apps = {"app": running("app"), "web": running("web")}
    inits = {"setup": done("setup"), "proxy": running("proxy"), "logs": running("logs", ready=False)}
    got = _ready(inits, apps)
    assert got["Ready"] == ("False", "containers with unready status: [logs]")
    assert got["ContainersReady"][0] == "False" and got["Initialized"][0] == "True"
    inits["logs"] = running("logs")
    assert _ready(inits, apps)["Ready"] == ("True", "")
