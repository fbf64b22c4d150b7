"""The scheduler's shell: informers feed the cache and the queue; one loop schedules.

Every pod with an empty spec.nodeName whose spec.schedulerName is ours
("default-scheduler", or unset) is queued. The loop pops one pod at a time and runs the
framework against the cache (a synchronous cycle: the cache does not change during it),
then either
- assumes the pod on the chosen node (so the next cycle sees the capacity taken) and
  writes `pods/binding` in a background task, concurrently with the next cycles; a
  binding that fails forgets the assumption and backs the pod off; or
- parks the pod as unschedulable, records a FailedScheduling event and sets
  PodScheduled=False (reason Unschedulable, upstream's message) through pods/status
  when that condition changed.
Cluster changes that may make parked pods fit (a node added or changed in what matters
to scheduling, an assigned pod deleted, a pod with affinity added) move them back.
Only the holder of the `kube-scheduler` Lease in kube-system schedules.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import os
import socket
import time
import uuid

from tinykube.api import errors
from tinykube.client import REAL_CLOCK, ApiClient, Clock, EventRecorder, InformerFactory, LeaderElector
from tinykube.scheduler import config as sconfig
from tinykube.scheduler import messages
from tinykube.scheduler.cache import Cache, PodInfo, pod_key
from tinykube.scheduler.framework import Framework
from tinykube.scheduler.preemption import Preemption, clear_nomination, evict
from tinykube.scheduler.queue import QueuedPod, SchedulingQueue

log = logging.getLogger(__name__)

PODS, NODES, NAMESPACES = ("v1", "Pod"), ("v1", "Node"), ("v1", "Namespace")
PDBS = ("policy/v1", "PodDisruptionBudget")  # preemption spares pods they guard
DEFAULT_SCHEDULER = "default-scheduler"
BIND_CONCURRENCY = 64
CYCLE_BUDGET = 0.02  # seconds of scheduling cycles between two yields to the event loop
BOUND_LOG_EVERY = 1000  # a progress line (bench/scheduler.py reads its timestamps)


def responsible_for(pod: dict, scheduler_name: str = DEFAULT_SCHEDULER) -> bool:
    spec = pod.get("spec") or {}
    return (spec.get("schedulerName") or DEFAULT_SCHEDULER) == scheduler_name


def pending(pod: dict) -> bool:
    """Unassigned, not terminating, not finished: a pod to schedule."""
    spec, md = pod.get("spec") or {}, pod.get("metadata") or {}
    phase = (pod.get("status") or {}).get("phase")
    return not spec.get("nodeName") and not md.get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def assigned(pod: dict) -> bool:
    return bool((pod.get("spec") or {}).get("nodeName"))


def terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def node_scheduling_changed(old: dict, new: dict) -> bool:
    """What of a node matters to scheduling (upstream nodeSchedulingPropertiesChange)."""
    o, n = old.get("spec") or {}, new.get("spec") or {}
    if (o.get("unschedulable"), o.get("taints")) != (n.get("unschedulable"), n.get("taints")):
        return True
    if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
        return True
    os_, ns_ = old.get("status") or {}, new.get("status") or {}
    if os_.get("allocatable") != ns_.get("allocatable"):
        return True
    return _ready_status(os_) != _ready_status(ns_)


def _ready_status(status: dict) -> str:
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Ready":
            return condition.get("status", "")
    return ""


def _has_pod_constraints(qp: QueuedPod) -> bool:
    spec = qp.pod.get("spec") or {}
    affinity = spec.get("affinity") or {}
    return bool(affinity.get("podAffinity") or affinity.get("podAntiAffinity") or spec.get("topologySpreadConstraints"))


def unschedulable_condition(message: str, now: str) -> dict:
    return {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
            "lastProbeTime": None, "lastTransitionTime": now}


def condition_differs(pod: dict, message: str) -> bool:
    for condition in (pod.get("status") or {}).get("conditions") or ():
        if condition.get("type") == "PodScheduled":
            return (condition.get("status"), condition.get("reason"), condition.get("message")) != (
                "False", "Unschedulable", message)
    return True


class Scheduler:
    def __init__(self, client: ApiClient, *, config: sconfig.SchedulerConfig | None = None,
                 scheduler_name: str = DEFAULT_SCHEDULER, leader_elect: bool = True, identity: str = "",
                 clock: Clock = REAL_CLOCK, bind_concurrency: int = BIND_CONCURRENCY):
        self.client, self.clock = client, clock
        self.config = config or sconfig.SchedulerConfig()
        filters, scores = sconfig.instantiate(self.config)
        self.framework = Framework(filters, scores,
                                   percentage_of_nodes_to_score=self.config.percentage_of_nodes_to_score)
        self.scheduler_name, self.leader_elect = scheduler_name, leader_elect
        self.identity = identity or f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.bind_concurrency = bind_concurrency
        self.preemption = Preemption()
        self.stats = {"scheduled": 0, "unschedulable": 0, "bind_errors": 0, "bound": 0, "cycles": 0,
                      "cycle_seconds": 0.0}

    async def run(self) -> None:
        if not self.leader_elect:
            await self._run()
            return
        elector = LeaderElector(self.client, name="kube-scheduler", identity=self.identity, release_on_cancel=True)
        while True:
            try:
                await elector.run(self._run)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler: restarting")
                await asyncio.sleep(1.0)

    # --- wiring ------------------------------------------------------------------------------

    async def _run(self) -> None:
        self.cache, self.queue = Cache(), SchedulingQueue(clock=self.clock)
        # kube-scheduler's event client has its own rate limiter (ClientConnection defaults:
        # 50 qps, burst 100): in a burst of thousands of pods the bindings go first and
        # "Scheduled" events past the recorder's queue are dropped, as upstream.
        self.recorder = EventRecorder(self.client, component=DEFAULT_SCHEDULER, qps=50, burst=100)
        self._bind_slots = asyncio.Semaphore(self.bind_concurrency)
        self._tasks: set[asyncio.Task] = set()
        informers = InformerFactory(self.client)
        informers.informer(NODES).add_event_handler(self._node_added, self._node_updated, self._node_deleted)
        informers.informer(PODS).add_event_handler(self._pod_added, self._pod_updated, self._pod_deleted)
        informers.informer(NAMESPACES).add_event_handler(self._namespace_added, self._namespace_updated,
                                                         self._namespace_deleted)
        self.preemption.pdbs = informers.informer(PDBS).store.list
        tasks = [asyncio.create_task(informers.run(), name="scheduler informers"),
                 asyncio.create_task(self.recorder.run(), name="scheduler events"),
                 asyncio.create_task(self._flush_loop(), name="scheduler queue flush")]
        try:
            await informers.wait_synced()
            log.info("scheduler: caches synced (%d nodes, %d pods pending)", len(self.cache.node_list), len(self.queue))
            tasks.append(asyncio.create_task(self._schedule_loop(), name="scheduling loop"))
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in [*tasks, *self._tasks]:
                task.cancel()
            await asyncio.gather(*tasks, *self._tasks, return_exceptions=True)

    async def _flush_loop(self) -> None:
        ticks = 0
        while True:
            await self.clock.sleep(1.0)
            self.queue.flush_backoff_completed()
            ticks += 1
            if ticks % 30 == 0:
                self.queue.flush_unschedulable_leftover()

    # --- event handlers (cheap: update the cache, queue keys) --------------------------------

    def _node_added(self, node: dict) -> None:
        self.cache.add_or_update_node(node)
        self.queue.move_all_to_active_or_backoff()

    def _node_updated(self, old: dict, new: dict) -> None:
        self.cache.add_or_update_node(new)
        if node_scheduling_changed(old, new):
            self.queue.move_all_to_active_or_backoff()

    def _node_deleted(self, node: dict) -> None:
        self.cache.remove_node(node["metadata"]["name"])

    def _namespace_added(self, ns: dict) -> None:
        # pod affinity namespaceSelector matches namespaces by their labels (upstream
        # InterPodAffinity registers Namespace add/update events)
        self.cache.namespaces[ns["metadata"]["name"]] = (ns.get("metadata") or {}).get("labels") or {}
        self.queue.move_all_to_active_or_backoff(only=_has_pod_constraints)

    def _namespace_updated(self, old: dict, new: dict) -> None:
        if (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            self._namespace_added(new)

    def _namespace_deleted(self, ns: dict) -> None:
        self.cache.namespaces.pop(ns["metadata"]["name"], None)

    def _pod_added(self, pod: dict) -> None:
        if assigned(pod):
            if not terminal(pod):
                self.cache.add_or_update_pod(PodInfo(pod))
                self.queue.move_all_to_active_or_backoff(only=_has_pod_constraints)
        elif pending(pod) and responsible_for(pod, self.scheduler_name):
            self.preemption.observe(pod)
            if not self.cache.is_assumed(pod_key(pod)):
                self.queue.add(pod)

    def _pod_updated(self, old: dict, new: dict) -> None:
        key = pod_key(new)
        if assigned(new):
            self.queue.delete(key)
            self.preemption.forget(key)
            if terminal(new):
                self._release(key)
            else:
                self.cache.add_or_update_pod_object(new)
        elif pending(new) and responsible_for(new, self.scheduler_name):
            self.preemption.observe(new, old)
            if not self.cache.is_assumed(key):
                self.queue.update(new)
        else:
            self.queue.delete(key)

    def _pod_deleted(self, pod: dict) -> None:
        key = pod_key(pod)
        self.queue.delete(key)
        self.preemption.forget(key)
        if assigned(pod) or self.cache.is_assumed(key):
            self._release(key)

    def _release(self, key: str) -> None:
        if key in self.cache.pods:
            self.cache.remove_pod(key)
            self.queue.move_all_to_active_or_backoff()

    # --- the scheduling loop -------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        while True:
            qp: QueuedPod | None = await self.queue.pop()
            # Cycles back to back for up to CYCLE_BUDGET, then one yield so the informers
            # and binders run. One cycle per event loop round let a busy API server in the
            # same process (one round: tens of ms) hold the scheduler to ~25 pods/s.
            budget_end = time.perf_counter() + CYCLE_BUDGET
            while qp is not None:
                try:
                    self.schedule_one(qp)
                except Exception:
                    log.exception("scheduler: scheduling %s failed", qp.key)
                    self.queue.add_unschedulable(qp, error=True)
                if time.perf_counter() >= budget_end:
                    break
                qp = self.queue.pop_nowait()
            await asyncio.sleep(0)

    def schedule_one(self, qp: QueuedPod) -> None:
        pod = qp.pod
        if not pending(pod) or self.cache.is_assumed(qp.key):
            self.queue.done(qp.key)
            return
        info = PodInfo(pod)
        cycle = self.queue.scheduling_cycle
        started = time.perf_counter()
        # nominated pods hold their room (none, the usual case: no hold to set up)
        hold = functools.partial(self.preemption.holding, info, self.cache) if self.preemption.nominated else None
        result = self.framework.schedule(info, self.cache, hold)
        outcome = None
        if not result.node:  # upstream PostFilter: preemption, for a pod that fits nowhere
            with self.preemption.holding(info, self.cache):
                outcome = self.preemption.preempt(info, self.cache, self.framework, result.diagnosis)
        self.stats["cycle_seconds"] += time.perf_counter() - started
        self.stats["cycles"] += 1
        if result.node:
            self.cache.assume(info, result.node)
            self.queue.done(qp.key)
            self.preemption.forget(qp.key)
            self.stats["scheduled"] += 1
            self._spawn(self._bind(qp, info, result.node))
            return
        self.stats["unschedulable"] += 1
        diagnosis = result.diagnosis
        message = messages.fit_error(diagnosis, post_filter=outcome.message)
        self.queue.add_unschedulable(qp, plugins=diagnosis.plugins, pod_cycle=cycle)
        self.recorder.record(pod, "Warning", "FailedScheduling", message)
        for victim in outcome.victims:
            self._spawn(evict(self.client, self.recorder, victim, info, outcome.node, self.scheduler_name))
        for other in outcome.cleared:
            self._spawn(clear_nomination(self.client, other))
        nominate = outcome.node if outcome.node != (pod.get("status") or {}).get("nominatedNodeName") else ""
        if condition_differs(pod, message) or nominate:
            self._spawn(self._set_unschedulable(pod, message, nominate))

    def _spawn(self, coroutine) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self, qp: QueuedPod, info: PodInfo, node: str) -> None:
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": info.name, "namespace": info.namespace, "uid": info.uid},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        async with self._bind_slots:
            try:
                await self.client.create_subresource(PODS, info.name, "binding", binding, namespace=info.namespace)
            except (errors.NotFound, errors.Conflict) as exc:  # gone, or bound by someone else
                log.info("scheduler: binding %s to %s: %s", info.key, node, exc)
                self.cache.forget(info.key)
                return
            except Exception as exc:
                self.stats["bind_errors"] += 1
                log.warning("scheduler: binding %s to %s failed: %s; retrying", info.key, node, exc)
                self.cache.forget(info.key)
                self.queue.add(qp.pod)
                return
        self.stats["bound"] += 1
        if self.stats["bound"] == 1 or self.stats["bound"] % BOUND_LOG_EVERY == 0:
            log.info("scheduler: %d pods bound; scheduling cycles took %.2f ms on average", self.stats["bound"],
                     1000 * self.stats["cycle_seconds"] / max(1, self.stats["cycles"]))
        self.recorder.record(qp.pod, "Normal", "Scheduled", f"Successfully assigned {info.key} to {node}")

    async def _set_unschedulable(self, pod: dict, message: str, nominated_node: str = "") -> None:
        md = pod["metadata"]
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"status": {"conditions": [unschedulable_condition(message, now)]}}
        if nominated_node:  # preemption made room there (upstream NominatingInfo)
            patch["status"]["nominatedNodeName"] = nominated_node
        try:
            await self.client.patch(PODS, md["name"], patch, namespace=md["namespace"], patch_type="strategic",
                                    subresource="status")
        except errors.NotFound:
            pass
        except Exception as exc:
            log.warning("scheduler: could not set PodScheduled=False on %s/%s: %s", md["namespace"], md["name"], exc)
