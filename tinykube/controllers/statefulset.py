"""The StatefulSet controller: pods with stable names `<set>-<ordinal>`, made and
replaced in order, updated from the highest ordinal down.

`plan(...)` is the pure core (upstream's StatefulSetControl, one step per sync for
OrderedReady): which ordinals to create, which pods to delete (failed, beyond replicas,
or of an old revision during a RollingUpdate at or above the partition), and the
status. With podManagementPolicy OrderedReady a pod is created only when every lower
ordinal is Running and Ready, and scale-down removes the highest ordinal first, one at
a time; Parallel creates and deletes without waiting. Each pod has the labels
statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
controller-revision-hash (its ControllerRevision's name), hostname = its name and
subdomain = spec.serviceName. volumeClaimTemplates are refused by validation (no
PersistentVolumeClaims yet), so persistentVolumeClaimRetentionPolicy has nothing to act on.
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass, field

from tinykube.api import errors
from tinykube.client import NORMAL, owner_uid_index
from tinykube.controllers import owned, revisions
from tinykube.controllers.base import Controller, ControllerContext

log = logging.getLogger(__name__)

SETS, PODS = ("apps/v1", "StatefulSet"), ("v1", "Pod")
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
OWNER_INDEX = "owner-uid"


@dataclass(frozen=True)
class Revision:
    name: str
    template: dict


@dataclass
class SetPlan:
    create: list[dict] = field(default_factory=list)
    delete: list[dict] = field(default_factory=list)
    status: dict = field(default_factory=dict)


# --- pure core ------------------------------------------------------------------------------


def ordinal_of(set_name: str, pod: dict) -> int | None:
    m = re.fullmatch(re.escape(set_name) + r"-(\d+)", pod["metadata"]["name"])
    return int(m.group(1)) if m else None


def revision_of(pod: dict) -> str:
    return (pod["metadata"].get("labels") or {}).get(revisions.HASH_LABEL, "")


def new_pod(sts: dict, ordinal: int, revision: Revision) -> dict:
    name = f"{sts['metadata']['name']}-{ordinal}"
    pod = owned.pod_from_template(revision.template, sts, name=name)
    pod["metadata"]["labels"].update({POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal),
                                      revisions.HASH_LABEL: revision.name})
    pod["spec"]["hostname"] = name
    if sts["spec"].get("serviceName"):
        pod["spec"]["subdomain"] = sts["spec"]["serviceName"]
    return pod


def _healthy(pod: dict) -> bool:
    return owned.is_running_and_ready(pod) and not owned.is_terminating(pod)


def plan(sts: dict, pods: list[dict], current: Revision, update: Revision, now: datetime.datetime) -> SetPlan:
    spec = sts["spec"]
    name, start = sts["metadata"]["name"], (spec.get("ordinals") or {}).get("start", 0)
    replicas, ordered = spec.get("replicas", 1), spec.get("podManagementPolicy") != "Parallel"
    by_ordinal = {o: p for p in pods if (o := ordinal_of(name, p)) is not None}
    wanted = range(start, start + replicas)
    condemned = sorted((o for o in by_ordinal if o not in wanted), reverse=True)
    partition = _partition(spec)
    out = SetPlan()
    for o in wanted:  # create missing and replace failed pods, lowest ordinal first
        pod = by_ordinal.get(o)
        if pod is None:
            rev = current if (o - start) < partition and current.name != update.name else update
            out.create.append(new_pod(sts, o, rev))
        elif (pod.get("status") or {}).get("phase") == "Failed" and not owned.is_terminating(pod):
            out.delete.append(pod)
        elif ordered and not _healthy(pod):
            break  # OrderedReady: wait for this one before touching the next
        else:
            continue
        if ordered:
            break
    blocked = ordered and (out.create or out.delete or any(not _healthy(by_ordinal[o]) for o in wanted if o in by_ordinal))
    if not blocked or not ordered:
        out.delete += _scale_down(by_ordinal, condemned, ordered)
    if not out.create and not out.delete and not any(owned.is_terminating(p) for p in pods):
        out.delete += _rolling_update(spec, by_ordinal, wanted, update, start)
    out.status = _status(sts, pods, current, update, now)
    return out


def _partition(spec: dict) -> int:
    strategy = spec.get("updateStrategy") or {}
    return ((strategy.get("rollingUpdate") or {}).get("partition") or 0) if strategy.get("type") != "OnDelete" else 0


def _scale_down(by_ordinal: dict, condemned: list[int], ordered: bool) -> list[dict]:
    live = [by_ordinal[o] for o in condemned if not owned.is_terminating(by_ordinal[o])]
    if not ordered:
        return live
    if any(owned.is_terminating(by_ordinal[o]) for o in condemned):
        return []  # one at a time: wait until the last one is gone
    return live[:1]


def _rolling_update(spec: dict, by_ordinal: dict, wanted: range, update: Revision, start: int) -> list[dict]:
    """Delete the highest-ordinal pod at or above the partition that is not at the update
    revision, once all pods are healthy (it is recreated at the update revision)."""
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return []
    pods = [by_ordinal.get(o) for o in wanted]
    if any(p is None or not _healthy(p) for p in pods):
        return []
    partition = _partition(spec)
    for o in reversed(wanted):
        if o - start >= partition and revision_of(by_ordinal[o]) != update.name:
            return [by_ordinal[o]]
    return []


def _status(sts: dict, pods: list[dict], current: Revision, update: Revision, now: datetime.datetime) -> dict:
    status = dict(sts.get("status") or {})
    live = [p for p in pods if not owned.is_terminating(p)]
    min_ready = sts["spec"].get("minReadySeconds") or 0
    status.update(
        observedGeneration=sts["metadata"].get("generation", 1),
        replicas=len(live),
        readyReplicas=sum(1 for p in live if owned.is_ready(p)),
        availableReplicas=sum(1 for p in live if owned.is_available(p, min_ready, now)),
        currentReplicas=sum(1 for p in live if revision_of(p) == current.name),
        updatedReplicas=sum(1 for p in live if revision_of(p) == update.name),
        currentRevision=current.name, updateRevision=update.name,
        collisionCount=status.get("collisionCount", 0))
    replicas = sts["spec"].get("replicas", 1)
    done = status["updatedReplicas"] == status["readyReplicas"] == replicas == status["replicas"]
    if (sts["spec"].get("updateStrategy") or {}).get("type") != "OnDelete" and done:
        status["currentRevision"], status["currentReplicas"] = update.name, status["updatedReplicas"]
    return owned.omit_zero(status, "readyReplicas", "currentReplicas", "updatedReplicas")


# --- shell ----------------------------------------------------------------------------------


class StatefulSetController(Controller):
    name = "statefulset"
    workers = 5

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.sets = ctx.informers.informer(SETS)
        self.pods = ctx.informers.informer(PODS, indexers={OWNER_INDEX: owner_uid_index})
        self.revisions = ctx.informers.informer(revisions.REVISIONS, indexers={OWNER_INDEX: owner_uid_index})
        self.sets.add_event_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new))
        self.pods.add_event_handler(on_add=self._pod_event, on_update=lambda old, new: self._pod_event(new),
                                    on_delete=self._pod_event)

    def _pod_event(self, pod: dict) -> None:
        ref = owned.controller_of(pod)
        if ref is None:  # an orphan: every set that may adopt it looks
            for sts in owned.selecting(self.sets.store, pod):
                self.enqueue(sts)
        elif ref.get("kind") == "StatefulSet":
            self.queue.add(f"{pod['metadata']['namespace']}/{ref['name']}")

    async def sync(self, key: str) -> None:
        sts = self.sets.store.get(key)
        if sts is None or sts["metadata"].get("deletionTimestamp"):
            return
        uid = sts["metadata"]["uid"]
        name, namespace = sts["metadata"]["name"], sts["metadata"]["namespace"]
        pods = await owned.claim_pods(self.client, sts, SETS, self.pods.store.by_index("namespace", namespace),
                                      member=lambda p: ordinal_of(name, p) is not None)
        history = [r for r in self.revisions.store.by_index(OWNER_INDEX, uid) if owned.owned_by(r, sts)]
        update_rev = await revisions.ensure_revision(self.client, sts, history, sts["spec"].get("template"))
        update = Revision(update_rev["metadata"]["name"], revisions.template_of(update_rev))
        current = self._current(sts, history) or update
        step = plan(sts, pods, current, update, self.clock.now())
        await self._apply(sts, step)
        await self._prune(sts, history, pods, {current.name, update.name})
        await owned.write_status(self.client, SETS, sts, step.status)
        if (sts["spec"].get("minReadySeconds") or 0) and step.status.get("availableReplicas", 0) < step.status["replicas"]:
            self.queue.add_after(key, float(sts["spec"]["minReadySeconds"]))

    def _current(self, sts: dict, history: list[dict]) -> Revision | None:
        name = (sts.get("status") or {}).get("currentRevision")
        found = next((r for r in history if r["metadata"]["name"] == name), None)
        return Revision(name, revisions.template_of(found)) if found else None

    async def _apply(self, sts: dict, step: SetPlan) -> None:
        ns, set_name = sts["metadata"]["namespace"], sts["metadata"]["name"]
        for pod in step.create:
            try:
                await self.client.create(PODS, pod, namespace=ns)
            except errors.AlreadyExists:
                continue  # our cache is behind: the pod exists
            self.recorder.record(sts, NORMAL, "SuccessfulCreate",
                                 f"create Pod {pod['metadata']['name']} in StatefulSet {set_name} successful")
        for pod in step.delete:
            md = pod["metadata"]
            try:
                await self.client.delete(PODS, md["name"], namespace=ns, preconditions={"uid": md["uid"]})
            except errors.NotFound:
                continue
            self.recorder.record(sts, NORMAL, "SuccessfulDelete",
                                 f"delete Pod {md['name']} in StatefulSet {set_name} successful")

    async def _prune(self, sts: dict, history: list[dict], pods: list[dict], live: set[str]) -> None:
        live |= {revision_of(p) for p in pods}
        for revision in revisions.to_prune(history, live, sts["spec"].get("revisionHistoryLimit", 10)):
            try:
                await self.client.delete(revisions.REVISIONS, revision["metadata"]["name"],
                                         namespace=sts["metadata"]["namespace"])
            except errors.NotFound:
                pass

