"""Table tests of the kubelet's status rules (phase, conditions, restarts, back-off)."""

import pytest

from tinykube.agent.podstatus import (
    FAILED, PENDING, RUNNING, RUNNING_PHASE, SUCCEEDED, TERMINATED, WAITING, ContainerState,
    CrashBackOff, Terminated, conditions, pod_phase, pod_status, should_restart)

NOW = "2026-11-24T14:00:00Z"


def spec(policy="Always", containers=("a",), inits=(), sidecars=()):
    out = {"restartPolicy": policy, "containers": [{"name": n, "image": "busybox"} for n in containers]}
    init = [{"name": n, "image": "busybox"} for n in inits]
    init += [{"name": n, "image": "busybox", "restartPolicy": "Always"} for n in sidecars]
    if init:
        out["initContainers"] = init
    return out


def running(name, ready=True):
    return ContainerState(name, RUNNING, started_at=NOW, ready=ready, started=True)


def exited(name, code, reason=""):
    return ContainerState(name, TERMINATED, terminated=Terminated(code, reason))


def waiting(name, reason="ContainerCreating", last_exit=None):
    last = Terminated(last_exit) if last_exit is not None else None
    return ContainerState(name, WAITING, reason=reason, last_terminated=last)


def by_name(*states):
    return {s.name: s for s in states}


@pytest.mark.parametrize("policy,states,expected", [
    ("Always", [waiting("a")], PENDING),
    ("Always", [running("a")], RUNNING_PHASE),
    ("Always", [running("a"), waiting("b")], PENDING),
    ("Always", [exited("a", 0)], RUNNING_PHASE),          # about to restart
    ("Always", [waiting("a", "CrashLoopBackOff", last_exit=1)], RUNNING_PHASE),
    ("OnFailure", [exited("a", 0)], SUCCEEDED),
    ("OnFailure", [exited("a", 1)], RUNNING_PHASE),       # will restart
    ("Never", [exited("a", 0)], SUCCEEDED),
    ("Never", [exited("a", 2)], FAILED),
    ("Never", [exited("a", 0), exited("b", 1)], FAILED),
    ("Never", [exited("a", 0), running("b")], RUNNING_PHASE),
    ("Never", [], PENDING),
])
def test_phase(policy, states, expected):
    names = [s.name for s in states] or ["a"]
    assert pod_phase(spec(policy, names), {}, by_name(*states)) == expected


def test_init_containers_hold_the_pod_pending_then_fail_it_with_never():
    s = spec("Never", ["app"], inits=["init"])
    assert pod_phase(s, by_name(running("init")), by_name(waiting("app", "PodInitializing"))) == PENDING
    assert pod_phase(s, by_name(exited("init", 0)), by_name(running("app"))) == RUNNING_PHASE
    assert pod_phase(s, by_name(exited("init", 1)), by_name(waiting("app", "PodInitializing"))) == FAILED
    retrying = spec("Always", ["app"], inits=["init"])
    assert pod_phase(retrying, by_name(exited("init", 1)), {}) == PENDING


def test_sidecar_must_be_running_for_init_to_be_done():
    s = spec("Always", ["app"], sidecars=["proxy"])
    assert pod_phase(s, by_name(waiting("proxy")), by_name(waiting("app", "PodInitializing"))) == PENDING
    assert pod_phase(s, by_name(running("proxy")), by_name(running("app"))) == RUNNING_PHASE


@pytest.mark.parametrize("policy,code,restart", [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False), ("OnFailure", 137, True),
    ("Never", 0, False), ("Never", 1, False),
])
def test_should_restart(policy, code, restart):
    assert should_restart(policy, code) is restart


def test_crash_back_off_doubles_caps_and_resets():
    backoff = CrashBackOff()
    delays = [backoff.next_delay("pod/a", ran_for=1) for _ in range(7)]
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert backoff.next_delay("pod/a", ran_for=601) == 10  # ran 10 minutes: start over
    assert backoff.next_delay("pod/b", ran_for=0) == 10    # per container


def test_conditions_ready_and_transition_times_kept():
    s = spec("Always", ["a", "b"])
    states = by_name(running("a"), running("b", ready=False))
    first = conditions(s, {}, states, sandbox_ready=True, phase=RUNNING_PHASE, now=NOW, previous=[])
    kinds = {c["type"]: c for c in first}
    assert kinds["Ready"]["status"] == "False" and kinds["Ready"]["reason"] == "ContainersNotReady"
    assert kinds["Ready"]["message"] == "containers with unready status: [b]"
    assert kinds["Initialized"]["status"] == "True" and kinds["PodReadyToStartContainers"]["status"] == "True"
    later = "2026-11-24T14:05:00Z"
    states = by_name(running("a"), running("b"))
    second = {c["type"]: c for c in conditions(s, {}, states, sandbox_ready=True, phase=RUNNING_PHASE,
                                                 now=later, previous=first)}
    assert second["Ready"]["status"] == "True" and second["Ready"]["lastTransitionTime"] == later
    assert second["Initialized"]["lastTransitionTime"] == NOW  # did not flip


def test_completed_pod_is_not_ready_with_reason_pod_completed():
    s = spec("Never", ["a"])
    cond = {c["type"]: c for c in conditions(s, {}, by_name(exited("a", 0)), sandbox_ready=False,
                                              phase=SUCCEEDED, now=NOW, previous=[])}
    assert cond["Ready"]["status"] == "False" and cond["Ready"]["reason"] == "PodCompleted"


def test_pod_status_shapes_like_kubernetes():
    pod = {"spec": spec("Always", ["a"], inits=["init"]), "status": {"qosClass": "BestEffort"}}
    status = pod_status(pod, by_name(exited("init", 0)), by_name(running("a")), sandbox_ready=True,
                        pod_ips=["10.42.0.5"], host_ip="192.0.2.1", now=NOW)
    assert status["phase"] == RUNNING_PHASE and status["podIP"] == "10.42.0.5"
    assert status["podIPs"] == [{"ip": "10.42.0.5"}] and status["hostIP"] == "192.0.2.1"
    assert status["qosClass"] == "BestEffort" and status["startTime"] == NOW
    app = status["containerStatuses"][0]
    assert app["state"] == {"running": {"startedAt": NOW}} and app["ready"] is True
    init = status["initContainerStatuses"][0]
    assert init["state"]["terminated"]["reason"] == "Completed"


def test_oom_killed_reason_is_kept():
    state = exited("a", 137, "OOMKilled").to_status()
    assert state["state"]["terminated"]["reason"] == "OOMKilled"
    assert state["state"]["terminated"]["exitCode"] == 137
