"""The kubelet's probe rules as pure functions: what a probe spec means, when a probe
runs, how results become the published result (thresholds), and the events' words.

Mirrors pkg/kubelet/prober/worker.go: a new container instance starts from the probe
type's initial result (readiness Failure, liveness Success, startup Unknown); no probe
runs before initialDelaySeconds; liveness and readiness wait until the container is
started (its startupProbe succeeded), and the startupProbe stops once it has; a result
is published only after successThreshold / failureThreshold equal results in a row; a
published liveness or startup Failure puts the worker on hold (no more probes) until
the container instance is replaced. A probe that errors (could not be run) changes
nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

LIVENESS, READINESS, STARTUP = "Liveness", "Readiness", "Startup"
PROBE_FIELDS = {LIVENESS: "livenessProbe", READINESS: "readinessProbe", STARTUP: "startupProbe"}
HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
SUPPORTED_HANDLERS = HANDLERS  # a probe with none of them is reported, never run


class Result(str, enum.Enum):
    SUCCESS = "Success"
    FAILURE = "Failure"
    UNKNOWN = "Unknown"
    WARNING = "Warning"  # a success the user should hear about (a terminated redirect)


@dataclass(frozen=True)
class ProbeSpec:
    """A container's probe with the API defaults applied."""

    probe_type: str
    handler: str               # exec | httpGet | tcpSocket | grpc
    action: dict               # the handler's object
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: int | None = None  # probe-level terminationGracePeriodSeconds

    @classmethod
    def from_container(cls, container: dict, probe_type: str) -> "ProbeSpec | None":
        probe = container.get(PROBE_FIELDS[probe_type])
        if not probe:
            return None
        handler = next((h for h in HANDLERS if probe.get(h) is not None), "")
        return cls(probe_type, handler, probe.get(handler) or {},
                   initial_delay=probe.get("initialDelaySeconds") or 0,
                   period=probe.get("periodSeconds") or 10, timeout=probe.get("timeoutSeconds") or 1,
                   success_threshold=probe.get("successThreshold") or 1,
                   failure_threshold=probe.get("failureThreshold") or 3,
                   termination_grace=probe.get("terminationGracePeriodSeconds"))

    @property
    def supported(self) -> bool:
        return self.handler in SUPPORTED_HANDLERS


def container_probes(container: dict) -> dict[str, ProbeSpec]:
    """{probe type: spec} for the probes a container declares."""
    out = {}
    for probe_type in (STARTUP, LIVENESS, READINESS):
        spec = ProbeSpec.from_container(container, probe_type)
        if spec is not None:
            out[probe_type] = spec
    return out


@dataclass(frozen=True)
class ProbeState:
    """One probe worker of one container instance."""

    result: Result             # the published result
    last: Result | None = None  # the latest raw result
    run: int = 0               # how many times in a row `last` came
    on_hold: bool = False      # liveness/startup failed: no more probes for this instance


def initial_state(probe_type: str) -> ProbeState:
    initial = {READINESS: Result.FAILURE, LIVENESS: Result.SUCCESS, STARTUP: Result.UNKNOWN}
    return ProbeState(result=initial[probe_type])


def should_probe(spec: ProbeSpec, state: ProbeState, *, running_for: float, started: bool) -> bool:
    """Whether the worker probes now (worker.go doProbe's guards)."""
    if state.on_hold or running_for < spec.initial_delay:
        return False
    if spec.probe_type == STARTUP:
        return not started
    return started


def observe(spec: ProbeSpec, state: ProbeState, result: Result) -> ProbeState:
    """The state after one probe gave `result` (a Warning counts as a Success)."""
    if result == Result.WARNING:
        result = Result.SUCCESS
    run = state.run + 1 if state.last == result else 1
    below = (result == Result.FAILURE and run < spec.failure_threshold
             or result == Result.SUCCESS and run < spec.success_threshold)
    if below:
        return replace(state, last=result, run=run)
    if result == Result.FAILURE and spec.probe_type in (LIVENESS, STARTUP):
        return ProbeState(result=result, last=result, run=0, on_hold=True)
    return ProbeState(result=result, last=result, run=run)


# --- what the pod worker reads -------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a container instance's probes say, for its status and its life."""

    started: bool
    ready: bool
    kill_reason: str = ""  # LIVENESS or STARTUP when the container must be restarted


def verdict(probes: dict[str, ProbeSpec], states: dict[str, ProbeState]) -> Verdict:
    """started: no startupProbe, or it succeeded; ready: started and (no readinessProbe,
    or it succeeded); kill when liveness or startup published a Failure."""
    started = STARTUP not in probes or states[STARTUP].result == Result.SUCCESS
    ready = started and (READINESS not in probes or states[READINESS].result == Result.SUCCESS)
    kill = next((t for t in (STARTUP, LIVENESS) if t in probes and states[t].result == Result.FAILURE), "")
    return Verdict(started=started, ready=ready, kill_reason=kill)


def wants_readiness_run(probes: dict[str, ProbeSpec], verdict: Verdict) -> bool:
    """prober_manager.go UpdatePodStatus: a started container that is not ready yet and
    has a readinessProbe gets an immediate readiness run rather than waiting for the
    next period (so Ready follows a startupProbe's success, or a fresh start, at once)."""
    return READINESS in probes and verdict.started and not verdict.ready


# --- events ---------------------------------------------------------------------------------


def failed_message(probe_type: str, output: str) -> str:
    """The Unhealthy event (prober.go)."""
    return f"{probe_type} probe failed: {output}"


def warning_message(probe_type: str, output: str) -> str:
    return f"{probe_type} probe warning: {output}"


def errored_message(probe_type: str, error: str) -> str:
    return f"{probe_type} probe errored and resulted in {Result.UNKNOWN.value.lower()} state: {error}"


def kill_message(container_name: str, probe_type: str) -> str:
    """The Killing event when a liveness or startup probe failed (kuberuntime_manager.go)."""
    return f"Container {container_name} failed {probe_type.lower()} probe, will be restarted"


def unsupported_message(container_name: str, spec: ProbeSpec) -> str:
    return (f'{PROBE_FIELDS[spec.probe_type]}.{spec.handler or "handler"} of container "{container_name}": '
            f"{spec.handler or 'this'} probes are not supported by tinykube yet; the probe never runs "
            f"(liveness stays Success, readiness Failure, startup Unknown)")
