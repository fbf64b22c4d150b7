"""The Pod printer: READY, STATUS and RESTARTS as `kubectl get pods` shows them.

STATUS is not a stored field. Kubernetes' printPod derives it from the phase, the
pod's reason, the init containers (Init:1/3, Init:Error, Init:CrashLoopBackOff...),
the app containers' waiting/terminated reasons (ContainerCreating, CrashLoopBackOff,
Completed, ExitCode:1, Signal:9...) and deletion (Terminating, Unknown for a pod on
an unreachable node). This module reproduces that derivation step by step, in the
same order, because the order decides which reason wins.
"""

from __future__ import annotations

from datetime import datetime

from tinykube.api.printers_fmt import (
    Column,
    age_column,
    doc,
    get,
    human_duration,
    integer,
    items,
    name_column,
    parse_time,
    since,
)

# node.NodeUnreachablePodReason: set by the node lifecycle controller.
NODE_LOST = "NodeLost"
SCHEDULING_GATED = "SchedulingGated"

SUCCEEDED_CONDITIONS = [
    {"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}
]
FAILED_CONDITIONS = [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]


def columns() -> list[Column]:
    return [
        name_column(),
        Column("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", "string", "The aggregate status of the containers in this pod."),
        Column(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last "
            "container in this pod has restarted.",
        ),
        age_column(),
        Column("IP", "string", doc("core.v1.PodStatus", "podIP"), 1),
        Column("Node", "string", doc("core.v1.PodSpec", "nodeName"), 1),
        Column("Nominated Node", "string", doc("core.v1.PodStatus", "nominatedNodeName"), 1),
        Column("Readiness Gates", "string", doc("core.v1.PodSpec", "readinessGates"), 1),
    ]


def _restartable(container: dict | None) -> bool:
    """A sidecar: an init container with restartPolicy Always."""
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(pod: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in items(pod, "status", "conditions"))


class _Restarts:
    """Sums restart counts and remembers the latest termination among them."""

    def __init__(self) -> None:
        self.count = 0
        self.last: datetime | None = None

    def add(self, status: dict) -> None:
        self.count += integer(status, "restartCount")
        finished = parse_time(get(status, "lastState", "terminated", "finishedAt"))
        if get(status, "lastState", "terminated") is not None and finished is not None:
            if self.last is None or finished > self.last:
                self.last = finished


def _init_reason(status: dict, index: int, total: int) -> str:
    """The STATUS a failing or still-running init container gives the pod."""
    terminated = get(status, "state", "terminated")
    if terminated is not None:
        if terminated.get("reason"):
            return "Init:" + terminated["reason"]
        if terminated.get("signal"):
            return f"Init:Signal:{terminated['signal']}"
        return f"Init:ExitCode:{terminated.get('exitCode', 0)}"
    waiting_reason = get(status, "state", "waiting", "reason")
    if waiting_reason and waiting_reason != "PodInitializing":
        return "Init:" + waiting_reason
    return f"Init:{index}/{total}"


def _scan_init_containers(pod: dict, state: dict) -> bool:
    """Walks init container statuses in order; True while the pod is initializing."""
    specs = {c.get("name"): c for c in items(pod, "spec", "initContainers")}
    total = len(items(pod, "spec", "initContainers"))
    for index, status in enumerate(items(pod, "status", "initContainerStatuses")):
        state["restarts"].add(status)
        sidecar = _restartable(specs.get(status.get("name")))
        if sidecar:
            state["sidecar_restarts"].add(status)
        terminated = get(status, "state", "terminated")
        if terminated is not None and integer(terminated, "exitCode") == 0:
            continue  # finished successfully
        if sidecar and status.get("started") is True:
            state["ready"] += 1 if status.get("ready") else 0
            continue  # a running sidecar does not block initialization
        state["reason"] = _init_reason(status, index, total)
        return True
    return False


def _scan_containers(pod: dict, state: dict) -> None:
    """Walks app container statuses last to first, as printPod does: the first
    container's reason is the one that sticks."""
    restarts = state["sidecar_restarts"]  # sidecar restarts count once initialized
    state["restarts"] = restarts
    has_running = False
    for status in reversed(items(pod, "status", "containerStatuses")):
        restarts.add(status)
        waiting = get(status, "state", "waiting")
        terminated = get(status, "state", "terminated")
        if waiting is not None and waiting.get("reason"):
            state["reason"] = waiting["reason"]
        elif terminated is not None and terminated.get("reason"):
            state["reason"] = terminated["reason"]
        elif terminated is not None:
            signal = terminated.get("signal")
            state["reason"] = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif status.get("ready") and get(status, "state", "running") is not None:
            has_running = True
            state["ready"] += 1
    # A pod whose last container completed but another still runs is not "Completed".
    if state["reason"] == "Completed" and has_running:
        state["reason"] = "Running" if _condition_true(pod, "Ready") else "NotReady"


def _initial_reason(pod: dict) -> str:
    reason = get(pod, "status", "reason") or get(pod, "status", "phase", default="")
    for cond in items(pod, "status", "conditions"):
        if cond.get("type") == "PodScheduled" and cond.get("reason") == SCHEDULING_GATED:
            reason = SCHEDULING_GATED
    return reason


def status_cells(pod: dict, now: datetime) -> tuple[str, str, str]:
    """(READY, STATUS, RESTARTS) exactly as printPod computes them."""
    total = len(items(pod, "spec", "containers"))
    total += sum(1 for c in items(pod, "spec", "initContainers") if _restartable(c))
    state = {"reason": _initial_reason(pod), "ready": 0, "restarts": _Restarts(), "sidecar_restarts": _Restarts()}
    initializing = _scan_init_containers(pod, state)
    if not initializing or _condition_true(pod, "Initialized"):
        _scan_containers(pod, state)
    reason = state["reason"]
    if get(pod, "metadata", "deletionTimestamp") is not None:
        if get(pod, "status", "reason") == NODE_LOST:
            reason = "Unknown"
        elif get(pod, "status", "phase") not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts: _Restarts = state["restarts"]
    restarts_text = str(restarts.count)
    if restarts.count and restarts.last is not None:
        restarts_text = f"{restarts.count} ({human_duration((now - restarts.last).total_seconds())} ago)"
    return f"{state['ready']}/{total}", reason, restarts_text


def _readiness_gates(pod: dict) -> str:
    gates = items(pod, "spec", "readinessGates")
    if not gates:
        return "<none>"
    conditions = items(pod, "status", "conditions")
    true = 0
    for gate in gates:
        # The first condition of the gate's type decides.
        match = next((c for c in conditions if c.get("type") == gate.get("conditionType")), None)
        true += 1 if match is not None and match.get("status") == "True" else 0
    return f"{true}/{len(gates)}"


def row(pod: dict, now: datetime) -> tuple[list, list | None]:
    ready, reason, restarts = status_cells(pod, now)
    # v1 -> internal conversion makes status.podIP authoritative over podIPs[0].
    pod_ips = items(pod, "status", "podIPs")
    first = pod_ips[0].get("ip") if pod_ips and isinstance(pod_ips[0], dict) else ""
    ip = get(pod, "status", "podIP") or first or "<none>"
    cells = [
        get(pod, "metadata", "name", default=""),
        ready,
        reason,
        restarts,
        since(get(pod, "metadata", "creationTimestamp"), now),
        ip,
        get(pod, "spec", "nodeName") or "<none>",
        get(pod, "status", "nominatedNodeName") or "<none>",
        _readiness_gates(pod),
    ]
    phase = get(pod, "status", "phase")
    conditions = SUCCEEDED_CONDITIONS if phase == "Succeeded" else FAILED_CONDITIONS if phase == "Failed" else None
    return cells, conditions
