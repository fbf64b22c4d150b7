"""Pod status as the kubelet computes it: pure functions of the spec and container states.

The agent observes each container (from the runtime) as a ContainerState; these
functions turn that into the pod's status: containerStatuses, phase (Kubernetes'
getPhase rules), conditions (PodReadyToStartContainers, Initialized, ContainersReady,
Ready, PodScheduled), and decide restarts (restartPolicy) and crash back-off
(10 s doubling to 5 min, reset after 10 min of running).
"""

from __future__ import annotations

from dataclasses import dataclass, field

WAITING, RUNNING, TERMINATED = "waiting", "running", "terminated"
PENDING, RUNNING_PHASE, SUCCEEDED, FAILED = "Pending", "Running", "Succeeded", "Failed"

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0
BACKOFF_RESET_AFTER = 600.0  # a container that ran this long starts its back-off afresh


@dataclass(frozen=True)
class Terminated:
    exit_code: int
    reason: str = ""  # Completed, Error, OOMKilled, ContainerCannotRun ...
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    container_id: str = ""
    signal: int = 0

    def to_dict(self) -> dict:
        out = {"exitCode": self.exit_code,
               "reason": self.reason or ("Completed" if self.exit_code == 0 else "Error"),
               "startedAt": self.started_at or None, "finishedAt": self.finished_at or None}
        if self.message:
            out["message"] = self.message
        if self.container_id:
            out["containerID"] = self.container_id
        if self.signal:
            out["signal"] = self.signal
        return out


@dataclass(frozen=True)
class ContainerState:
    """What the agent knows about one container of a pod."""

    name: str
    state: str = WAITING
    reason: str = "ContainerCreating"  # for waiting
    message: str = ""
    started_at: str = ""  # for running
    terminated: Terminated | None = None  # for terminated
    last_terminated: Terminated | None = None
    restart_count: int = 0
    ready: bool = False
    started: bool | None = None
    image: str = ""
    image_id: str = ""
    container_id: str = ""

    def to_status(self) -> dict:
        out = {"name": self.name, "state": self._state_dict(), "lastState": {},
               "ready": self.ready, "restartCount": self.restart_count, "image": self.image,
               "imageID": self.image_id, "started": bool(self.started)}
        if self.last_terminated:
            out["lastState"] = {"terminated": self.last_terminated.to_dict()}
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    def _state_dict(self) -> dict:
        if self.state == RUNNING:
            return {"running": {"startedAt": self.started_at or None}}
        if self.state == TERMINATED and self.terminated:
            return {"terminated": self.terminated.to_dict()}
        waiting = {"reason": self.reason}
        if self.message:
            waiting["message"] = self.message
        return {"waiting": waiting}


# --- restarts ------------------------------------------------------------------------------


def should_restart(restart_policy: str, exit_code: int) -> bool:
    """restartPolicy: Always restarts every exit, OnFailure non-zero exits, Never none."""
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False


def is_sidecar(init_container: dict) -> bool:
    """Native sidecars: init containers with restartPolicy Always keep running."""
    return init_container.get("restartPolicy") == "Always"


@dataclass
class CrashBackOff:
    """Per-container restart delay: 10 s, doubling, capped at 5 min; reset after 10 min up."""

    delays: dict = field(default_factory=dict)  # container key -> current delay

    def next_delay(self, key: str, ran_for: float) -> float:
        if ran_for >= BACKOFF_RESET_AFTER:
            self.delays.pop(key, None)
        delay = self.delays.get(key)
        delay = BACKOFF_INITIAL if delay is None else min(BACKOFF_MAX, delay * 2)
        self.delays[key] = delay
        return delay

    def forget(self, key: str) -> None:
        self.delays.pop(key, None)


# --- phase ---------------------------------------------------------------------------------


def init_done(spec: dict, init_states: dict[str, ContainerState]) -> bool:
    """Every regular init container completed, and every sidecar started."""
    for c in spec.get("initContainers") or []:
        state = init_states.get(c["name"])
        if state is None:
            return False
        if is_sidecar(c):
            if not (state.state == RUNNING and (state.started is not False)):
                return False
        elif not (state.state == TERMINATED and state.terminated and state.terminated.exit_code == 0):
            return False
    return True


def init_failed(spec: dict, init_states: dict[str, ContainerState]) -> bool:
    """An init container failed for good (restartPolicy Never: no second try)."""
    if spec.get("restartPolicy", "Always") != "Never":
        return False
    for c in spec.get("initContainers") or []:
        state = init_states.get(c["name"])
        if state and not is_sidecar(c) and state.state == TERMINATED and state.terminated \
                and state.terminated.exit_code != 0:
            return True
    return False


def pod_phase(spec: dict, init_states: dict[str, ContainerState],
              states: dict[str, ContainerState]) -> str:
    """Kubernetes' getPhase for the regular containers, after the init containers."""
    if init_failed(spec, init_states):
        return FAILED
    if not init_done(spec, init_states) and not apps_began(states):
        return PENDING  # (once the app containers ran, a restarting sidecar changes nothing)
    counts = _count(spec, states)
    policy = spec.get("restartPolicy", "Always")
    if counts["waiting"]:
        return PENDING
    if counts["running"] and not counts["unknown"]:
        return RUNNING_PHASE
    if counts["stopped"] and not counts["running"] and not counts["unknown"]:
        if policy == "Always":
            return RUNNING_PHASE  # restarting
        if counts["stopped"] == counts["succeeded"]:
            return SUCCEEDED
        return FAILED if policy == "Never" else RUNNING_PHASE
    return PENDING


def apps_began(states: dict[str, ContainerState]) -> bool:
    """Some app container has run: initialization was over (it never goes back)."""
    return any(s.state != WAITING or s.last_terminated is not None for s in states.values())


def _count(spec: dict, states: dict[str, ContainerState]) -> dict[str, int]:
    counts = dict(waiting=0, running=0, stopped=0, succeeded=0, unknown=0)
    for c in spec.get("containers") or []:
        state = states.get(c["name"])
        if state is None:
            counts["unknown"] += 1
        elif state.state == RUNNING:
            counts["running"] += 1
        elif state.state == TERMINATED:
            counts["stopped"] += 1
            if state.terminated and state.terminated.exit_code == 0:
                counts["succeeded"] += 1
        elif state.last_terminated is not None:  # waiting to restart after an exit
            counts["stopped"] += 1
            if state.last_terminated.exit_code == 0:
                counts["succeeded"] += 1
        else:
            counts["waiting"] += 1
    return counts


# --- conditions ----------------------------------------------------------------------------


def conditions(spec: dict, init_states: dict[str, ContainerState], states: dict[str, ContainerState],
               *, sandbox_ready: bool, phase: str, now: str, previous: list[dict]) -> list[dict]:
    """The pod's conditions; lastTransitionTime moves only when a status flips."""
    initialized = init_done(spec, init_states) or apps_began(states) or \
        (phase in (SUCCEEDED, FAILED) and not init_failed(spec, init_states))
    # sidecars count in the pod's readiness, as their own containers do
    containers = [c for c in spec.get("initContainers") or [] if is_sidecar(c)] + (spec.get("containers") or [])
    states = {**{n: s for n, s in init_states.items()
                 if any(is_sidecar(c) and c["name"] == n for c in spec.get("initContainers") or [])},
              **states}
    all_ready = bool(containers) and all(states.get(c["name"]) and states[c["name"]].ready
                                         for c in containers) and phase == RUNNING_PHASE
    not_ready = [c["name"] for c in containers if not (states.get(c["name"]) and states[c["name"]].ready)]
    reason = "" if all_ready else ("PodCompleted" if phase in (SUCCEEDED, FAILED) else "ContainersNotReady")
    message = "" if all_ready or reason == "PodCompleted" else \
        f"containers with unready status: [{' '.join(not_ready)}]"
    before = {c.get("type"): c for c in previous}
    wanted = [
        ("PodReadyToStartContainers", sandbox_ready, "", ""),
        ("Initialized", initialized, "" if initialized else "ContainersNotInitialized",
         "" if initialized else f"containers with incomplete status: [{' '.join(_pending_inits(spec, init_states))}]"),
        ("Ready", all_ready, reason, message),
        ("ContainersReady", all_ready, reason, message),
        ("PodScheduled", True, "", ""),
    ]
    return [_condition(kind, ok, why, text, now, before.get(kind)) for kind, ok, why, text in wanted]


def _pending_inits(spec: dict, init_states: dict[str, ContainerState]) -> list[str]:
    out = []
    for c in spec.get("initContainers") or []:
        s = init_states.get(c["name"])
        if not (s and (s.state == TERMINATED and s.terminated and s.terminated.exit_code == 0
                       or is_sidecar(c) and s.state == RUNNING)):
            out.append(c["name"])
    return out


def _condition(kind: str, ok: bool, reason: str, message: str, now: str, before: dict | None) -> dict:
    status = "True" if ok else "False"
    keep = before is not None and before.get("status") == status
    out = {"type": kind, "status": status, "lastProbeTime": None,
           "lastTransitionTime": before.get("lastTransitionTime") if keep else now}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


# --- the whole status ----------------------------------------------------------------------


def pod_status(pod: dict, init_states: dict[str, ContainerState], states: dict[str, ContainerState],
               *, sandbox_ready: bool, pod_ips: list[str], host_ip: str, now: str) -> dict:
    """status of a pod on this node, from the containers the agent observed."""
    spec, old = pod.get("spec", {}), pod.get("status", {})
    phase = pod_phase(spec, init_states, states)
    status = {
        "phase": phase,
        "conditions": conditions(spec, init_states, states, sandbox_ready=sandbox_ready, phase=phase,
                                 now=now, previous=old.get("conditions") or []),
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}] if host_ip else [],
        "startTime": old.get("startTime") or now,
        "containerStatuses": [_status_of(c, states) for c in spec.get("containers") or []],
    }
    if pod_ips:
        status["podIP"] = pod_ips[0]
        status["podIPs"] = [{"ip": ip} for ip in pod_ips]
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [_status_of(c, init_states) for c in spec["initContainers"]]
    if old.get("qosClass"):
        status["qosClass"] = old["qosClass"]
    return status


def _status_of(container: dict, states: dict[str, ContainerState]) -> dict:
    state = states.get(container["name"]) or ContainerState(container["name"], image=container.get("image", ""))
    status = state.to_status()
    status["image"] = status["image"] or container.get("image", "")
    return status
