"""The probe workers of one pod: one asyncio task per (container instance, probe type),
as the kubelet's prober manager keeps one goroutine per probe.

The pod worker calls `ensure()` for every running container instance on each sync and
reads back a Verdict (started, ready, kill); `retain()` ends the workers of instances
that are gone. A worker probes at once, then every periodSeconds, applies the pure rules
(rules.py), records Unhealthy / ProbeWarning events, and wakes the pod worker
(`on_change`) whenever a published result changes, so a failed liveness probe is acted
on at once rather than at the next poll.

Like the kubelet's manualTriggerCh, `ensure()` also wakes the readiness worker for an
immediate run when a container becomes started but is not ready (a fresh start, or its
startupProbe just succeeded), instead of leaving Ready to the next period. It does so
on that change only: the pod worker calls ensure() every half second, and probing on
each call would run a failing readiness probe far more often than periodSeconds. A
triggered run does not move the worker's period ticks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from . import grpc, handlers, rules
from .rules import ProbeSpec, ProbeState, Result

log = logging.getLogger(__name__)


@dataclass
class _Instance:
    container: dict
    started_at: float                  # time.time() the process started
    probes: dict[str, ProbeSpec]
    states: dict[str, ProbeState]
    tasks: list = field(default_factory=list)
    triggers: dict[str, asyncio.Event] = field(default_factory=dict)  # probe type -> run now
    wanted_readiness: bool = False  # rules.wants_readiness_run at the last ensure()


class ProbeManager:
    def __init__(self, *, runtime, target, record_event, on_change, clock=time.time):
        """target(): the pod's handlers.Target (its IP appears after the sandbox);
        record_event(type, reason, message, container); on_change(): wake the pod."""
        self.runtime, self.target = runtime, target
        self.record_event, self.on_change, self.clock = record_event, on_change, clock
        self.instances: dict[str, _Instance] = {}

    def ensure(self, instance_id: str, container: dict, *, started_at: float) -> rules.Verdict:
        """Start the workers of a running container instance (once); its verdict now."""
        inst = self.instances.get(instance_id)
        if inst is None:
            inst = self._start(instance_id, container, started_at)
        verdict = rules.verdict(inst.probes, inst.states)
        wanted = rules.wants_readiness_run(inst.probes, verdict)
        if wanted and not inst.wanted_readiness and rules.READINESS in inst.triggers:
            inst.triggers[rules.READINESS].set()
        inst.wanted_readiness = wanted
        return verdict

    def trigger(self, instance_id: str, probe_type: str) -> None:
        """Run a probe of an instance now (the next period tick stays where it was)."""
        inst = self.instances.get(instance_id)
        if inst and probe_type in inst.triggers:
            inst.triggers[probe_type].set()

    def probe_grace(self, instance_id: str, probe_type: str) -> int | None:
        inst = self.instances.get(instance_id)
        spec = inst.probes.get(probe_type) if inst else None
        return spec.termination_grace if spec else None

    def retain(self, instance_ids) -> None:
        """Stop the workers of every instance not in instance_ids."""
        for gone in set(self.instances) - set(instance_ids):
            for task in self.instances.pop(gone).tasks:
                task.cancel()

    def stop_all(self) -> None:
        self.retain(())

    def _start(self, instance_id: str, container: dict, started_at: float) -> _Instance:
        probes = rules.container_probes(container)
        states = {t: rules.initial_state(t) for t in probes}
        inst = self.instances[instance_id] = _Instance(container, started_at, probes, states)
        for probe_type, spec in probes.items():
            if not spec.supported:
                message = rules.unsupported_message(container["name"], spec)
                log.warning("%s", message)
                self.record_event("Warning", "UnsupportedField", message, container)
                continue
            inst.triggers[probe_type] = asyncio.Event()
            inst.tasks.append(asyncio.create_task(self._run(instance_id, inst, spec)))
        return inst

    async def _run(self, instance_id: str, inst: _Instance, spec: ProbeSpec) -> None:
        loop = asyncio.get_running_loop()
        trigger = inst.triggers[spec.probe_type]
        tick = loop.time()
        while True:
            trigger.clear()  # this run answers any trigger that came before it
            try:
                await self._probe_once(instance_id, inst, spec)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("probe %s of %s", spec.probe_type, instance_id)
            now = loop.time()
            while tick <= now:
                tick += spec.period
            try:
                await asyncio.wait_for(trigger.wait(), tick - now)
            except asyncio.TimeoutError:
                pass

    async def _probe_once(self, instance_id: str, inst: _Instance, spec: ProbeSpec) -> None:
        state = inst.states[spec.probe_type]
        started = rules.verdict(inst.probes, inst.states).started
        if not rules.should_probe(spec, state, running_for=self.clock() - inst.started_at, started=started):
            return
        try:
            result, output = await self.run_probe(spec, inst.container, instance_id)
        except handlers.ProbeError as exc:
            self.record_event("Warning", "Unhealthy", rules.errored_message(spec.probe_type, str(exc)),
                              inst.container)
            return
        if result == Result.FAILURE:
            self.record_event("Warning", "Unhealthy", rules.failed_message(spec.probe_type, output),
                              inst.container)
        elif result == Result.WARNING:
            self.record_event("Warning", "ProbeWarning", rules.warning_message(spec.probe_type, output),
                              inst.container)
        new = rules.observe(spec, state, result)
        if self.instances.get(instance_id) is not inst:
            return  # the instance was retired while we probed
        inst.states[spec.probe_type] = new
        if new.result != state.result:
            self.on_change()

    async def run_probe(self, spec: ProbeSpec, container: dict, instance_id: str) -> tuple[Result, str]:
        if spec.handler == "exec":
            return await handlers.exec_probe(spec.action, self.runtime, instance_id, timeout=spec.timeout)
        if spec.handler == "httpGet":
            return await handlers.http_probe(spec.action, container, self.target(), timeout=spec.timeout)
        if spec.handler == "grpc":
            return await grpc.grpc_probe(spec.action, self.target(), timeout=spec.timeout)
        return await handlers.tcp_probe(spec.action, container, self.target(), timeout=spec.timeout)
