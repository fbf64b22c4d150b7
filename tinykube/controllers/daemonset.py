"""The DaemonSet controller: one pod on every eligible node, updated node by node.

Pure core: `node_should_run(node, pod)` mirrors upstream's nodeShouldRunDaemonPod
(node name, nodeSelector and required node affinity, NoSchedule/NoExecute taints the
pod does not tolerate) and answers (should run, should continue running);
`daemon_pod(ds, node, hash)` is the pod for a node: the template plus upstream's
default daemon tolerations and a required node affinity `matchFields metadata.name In
[node]`, left to the default scheduler to bind; `plan(...)` decides pods to create and
delete per node (missing, failed, surplus, misscheduled, RollingUpdate with maxSurge /
maxUnavailable; OnDelete waits for the user) and the status. Pods carry the
controller-revision-hash of the template's ControllerRevision.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field

from tinykube.api import errors
from tinykube.client import NORMAL, node_name_index, owner_uid_index
from tinykube.controllers import owned, revisions
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.expectations import Expectations

DAEMONSETS, PODS, NODES = ("apps/v1", "DaemonSet"), ("v1", "Pod"), ("v1", "Node")
OWNER_INDEX = "owner-uid"
TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
GENERATION_LABEL = "pod-template-generation"


def _toleration(key: str, effect: str) -> dict:
    return {"key": key, "operator": "Exists", "effect": effect}


# upstream's AddOrUpdateDaemonPodTolerations
DEFAULT_TOLERATIONS = (
    _toleration("node.kubernetes.io/not-ready", "NoExecute"),
    _toleration("node.kubernetes.io/unreachable", "NoExecute"),
    _toleration("node.kubernetes.io/disk-pressure", "NoSchedule"),
    _toleration("node.kubernetes.io/memory-pressure", "NoSchedule"),
    _toleration("node.kubernetes.io/pid-pressure", "NoSchedule"),
    _toleration("node.kubernetes.io/unschedulable", "NoSchedule"),
)
HOST_NETWORK_TOLERATION = _toleration("node.kubernetes.io/network-unavailable", "NoSchedule")


# --- which nodes ------------------------------------------------------------------------------


def tolerates(toleration: dict, taint: dict) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint.get("key")
    return toleration.get("key") == taint.get("key") and (toleration.get("value") or "") == (taint.get("value") or "")


def _untolerated(taints: list[dict], tolerations: list[dict], effects: tuple[str, ...]) -> bool:
    return any(t.get("effect") in effects and not any(tolerates(tol, t) for tol in tolerations) for t in taints)


def _expression_matches(expr: dict, value: str | None) -> bool:
    op, values = expr.get("operator"), expr.get("values") or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    try:
        number, bound = int(value), int(values[0])
    except (TypeError, ValueError, IndexError):
        return False
    return number > bound if op == "Gt" else number < bound if op == "Lt" else False


def _term_matches(term: dict, node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    fields = {"metadata.name": node["metadata"]["name"]}
    if not term.get("matchExpressions") and not term.get("matchFields"):
        return False  # an empty term matches nothing
    return (all(_expression_matches(e, labels.get(e.get("key"))) for e in term.get("matchExpressions") or ())
            and all(_expression_matches(e, fields.get(e.get("key"))) for e in term.get("matchFields") or ()))


def fits_affinity(pod_spec: dict, node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if not required:
        return True
    return any(_term_matches(term, node) for term in required.get("nodeSelectorTerms") or ())


def node_should_run(node: dict, ds: dict) -> tuple[bool, bool]:
    """(should run, should continue running) of ds's pod on node: upstream's
    NodeShouldRunDaemonPod, judged on the template with the default daemon tolerations."""
    spec = (ds["spec"].get("template") or {}).get("spec") or {}  # read only
    if spec.get("nodeName") and spec["nodeName"] != node["metadata"]["name"]:
        return False, False
    if not fits_affinity(spec, node):
        return False, False
    taints, tolerations = (node.get("spec") or {}).get("taints") or [], _with_defaults(spec)
    if _untolerated(taints, tolerations, ("NoSchedule", "NoExecute")):
        return False, not _untolerated(taints, tolerations, ("NoExecute",))
    return True, True


def _with_defaults(spec: dict) -> list[dict]:
    """spec's tolerations plus the daemon defaults it lacks (AddOrUpdateDaemonPodTolerations)."""
    wanted = list(DEFAULT_TOLERATIONS) + ([HOST_NETWORK_TOLERATION] if spec.get("hostNetwork") else [])
    tolerations = list(spec.get("tolerations") or [])
    return tolerations + [t for t in wanted if t not in tolerations]


# --- the pod for a node -----------------------------------------------------------------------


def daemon_pod(ds: dict, node_name: str, revision_hash: str) -> dict:
    pod = owned.pod_from_template(ds["spec"].get("template") or {}, ds, generate_name=f"{ds['metadata']['name']}-")
    labels = pod["metadata"]["labels"]
    labels[revisions.HASH_LABEL] = revision_hash
    generation = (ds["metadata"].get("annotations") or {}).get(TEMPLATE_GENERATION)
    if generation:
        labels[GENERATION_LABEL] = generation
    spec = pod["spec"]
    spec["tolerations"] = _with_defaults(spec)
    # upstream's ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become this node
    affinity = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {})
    affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}]}
    return pod


def target_node(pod: dict) -> str:
    """The node a daemon pod is for: its nodeName, or its node-name affinity (unscheduled)."""
    if (pod.get("spec") or {}).get("nodeName"):
        return pod["spec"]["nodeName"]
    required = ((((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution") or {})
    for term in required.get("nodeSelectorTerms") or ():
        for f in term.get("matchFields") or ():
            if f.get("key") == "metadata.name" and f.get("operator") == "In" and len(f.get("values") or ()) == 1:
                return f["values"][0]
    return ""


# --- the plan ---------------------------------------------------------------------------------


@dataclass
class DaemonPlan:
    create: list[str] = field(default_factory=list)  # node names
    delete: list[dict] = field(default_factory=list)
    status: dict = field(default_factory=dict)


def scaled(value, total: int) -> int:
    """intstr GetScaledValueFromIntOrPercent, rounding up."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value or 0)


def plan(ds: dict, nodes: list[dict], pods: list[dict], revision_hash: str, now: datetime.datetime) -> DaemonPlan:
    out = DaemonPlan()
    by_node: dict[str, list[dict]] = {}
    for pod in pods:
        by_node.setdefault(target_node(pod), []).append(pod)
    min_ready = ds["spec"].get("minReadySeconds") or 0
    eligible: dict[str, list[dict]] = {}
    for node in nodes:
        name = node["metadata"]["name"]
        run, keep = node_should_run(node, ds)
        here = [p for p in by_node.pop(name, []) if not owned.is_terminating(p)]
        if run:
            eligible[name] = here
            _manage_node(out, name, here, revision_hash)
        elif not keep:
            out.delete += here
    for leftover in by_node.values():  # pods for nodes that do not exist (any more)
        out.delete += [p for p in leftover if not owned.is_terminating(p)]
    if (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
        _rolling_update(ds, out, eligible, revision_hash, min_ready, now)
    out.status = _status(ds, nodes, pods, eligible, revision_hash, min_ready, now)
    return out


def _manage_node(out: DaemonPlan, node: str, here: list[dict], revision_hash: str) -> None:
    failed = [p for p in here if (p.get("status") or {}).get("phase") == "Failed"]
    out.delete += failed
    running = [p for p in here if p not in failed]
    if not running:
        out.create.append(node)
        return
    new = [p for p in running if _hash(p) == revision_hash]
    old = [p for p in running if _hash(p) != revision_hash]
    keep = _oldest(new)[:1] + _oldest(old)[:1]  # an old one beside a new one: the update decides
    out.delete += [p for p in running if p not in keep]  # surplus daemon pods


def _hash(pod: dict) -> str:
    return (pod["metadata"].get("labels") or {}).get(revisions.HASH_LABEL, "")


def _oldest(pods: list[dict]) -> list[dict]:
    return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")


def _rolling_update(ds: dict, out: DaemonPlan, eligible: dict[str, list[dict]], revision_hash: str,
                    min_ready: int, now: datetime.datetime) -> None:
    """Upstream's rollingUpdate: replace old pods while at most maxUnavailable nodes lack an
    available pod (maxSurge 0), or start new pods beside old ones on at most maxSurge nodes
    and remove an old pod once its new one is available."""
    rolling = (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
    desired = len(eligible)
    max_surge, max_unavailable = scaled(rolling.get("maxSurge"), desired), scaled(rolling.get("maxUnavailable", 1), desired)
    deleting = {id(p) for p in out.delete}
    available = lambda p: owned.is_available(p, min_ready, now)  # noqa: E731
    unavailable = sum(1 for pods in eligible.values() if not any(available(p) for p in pods if id(p) not in deleting))
    surging = 0
    for node, pods in sorted(eligible.items()):
        pods = [p for p in pods if id(p) not in deleting]
        old = [p for p in pods if _hash(p) != revision_hash]
        new = [p for p in pods if _hash(p) == revision_hash]
        if not old:
            continue
        if new:  # surge in progress on this node: drop the old pod once the new one serves
            if all(available(p) for p in new):
                out.delete += old
            continue
        if not any(available(p) for p in old):
            out.delete += old  # an unavailable old pod costs nothing to replace
        elif max_surge > 0 and surging < max_surge:
            surging += 1
            out.create.append(node)
        elif max_surge == 0 and unavailable < max_unavailable:
            unavailable += 1
            out.delete += old


def _status(ds: dict, nodes: list[dict], pods: list[dict], eligible: dict[str, list[dict]], revision_hash: str,
            min_ready: int, now: datetime.datetime) -> dict:
    names = {n["metadata"]["name"] for n in nodes}
    live = [p for p in pods if not owned.is_terminating(p)]
    misscheduled = {target_node(p) for p in live if target_node(p) in names and target_node(p) not in eligible}
    scheduled = [n for n, here in eligible.items() if here]
    status = dict(ds.get("status") or {})
    status.update(
        desiredNumberScheduled=len(eligible), currentNumberScheduled=len(scheduled),
        numberMisscheduled=len(misscheduled),
        numberReady=sum(1 for n in scheduled if any(owned.is_ready(p) for p in eligible[n])),
        numberAvailable=sum(1 for n in scheduled if any(owned.is_available(p, min_ready, now) for p in eligible[n])),
        updatedNumberScheduled=sum(1 for n in scheduled if any(_hash(p) == revision_hash for p in eligible[n])),
        observedGeneration=ds["metadata"].get("generation", 1))
    status["numberUnavailable"] = status["desiredNumberScheduled"] - status["numberAvailable"]
    return owned.omit_zero(status, "numberAvailable", "updatedNumberScheduled", "numberUnavailable")


# --- shell ------------------------------------------------------------------------------------


class DaemonSetController(Controller):
    name = "daemonset"
    workers = 2

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.sets = ctx.informers.informer(DAEMONSETS)
        self.nodes = ctx.informers.informer(NODES)
        self.pods = ctx.informers.informer(PODS, indexers={OWNER_INDEX: owner_uid_index, "node": node_name_index})
        self.revisions = ctx.informers.informer(revisions.REVISIONS, indexers={OWNER_INDEX: owner_uid_index})
        self.expectations = Expectations(ctx.clock)
        self.sets.add_event_handler(on_add=self.enqueue, on_update=lambda old, new: self.enqueue(new),
                                    on_delete=lambda ds: self.expectations.delete(self._key(ds)))
        self.nodes.add_event_handler(on_add=self._all, on_update=self._node_updated, on_delete=self._all)
        self.pods.add_event_handler(on_add=self._pod_added, on_update=self._pod_updated,
                                    on_delete=self._pod_deleted)

    @staticmethod
    def _key(obj: dict) -> str:
        return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"

    def _all(self, _node: dict) -> None:
        for ds in self.sets.store.list():
            self.enqueue(ds)

    def _node_updated(self, old: dict, new: dict) -> None:
        relevant = lambda n: ((n["metadata"].get("labels")), (n.get("spec") or {}).get("taints"))  # noqa: E731
        if relevant(old) != relevant(new):
            self._all(new)

    def _owner_key(self, pod: dict) -> str | None:
        ref = owned.controller_of(pod)
        if ref is None:  # an orphan: every DaemonSet that may adopt it looks
            for ds in owned.selecting(self.sets.store, pod):
                self.enqueue(ds)
        elif ref.get("kind") == "DaemonSet":
            return f"{pod['metadata']['namespace']}/{ref['name']}"
        return None

    def _pod_added(self, pod: dict) -> None:
        key = self._owner_key(pod)
        if key:
            self.expectations.creation_observed(key)
            self.queue.add(key)

    def _pod_updated(self, old: dict, new: dict) -> None:
        key = self._owner_key(new)
        if key:
            if owned.is_terminating(new) and not owned.is_terminating(old):
                self.expectations.deletion_observed(key)  # graceful deletion has begun
            self.queue.add(key)

    def _pod_deleted(self, pod: dict) -> None:
        key = self._owner_key(pod)
        if key:
            if not owned.is_terminating(pod):
                self.expectations.deletion_observed(key)
            self.queue.add(key)

    async def sync(self, key: str) -> None:
        ds = self.sets.store.get(key)
        if ds is None or ds["metadata"].get("deletionTimestamp") or not self.expectations.satisfied(key):
            return
        uid = ds["metadata"]["uid"]
        candidates = self.pods.store.by_index("namespace", ds["metadata"]["namespace"])
        pods = await owned.claim_pods(self.client, ds, DAEMONSETS, candidates)
        history = [r for r in self.revisions.store.by_index(OWNER_INDEX, uid) if owned.owned_by(r, ds)]
        revision = await revisions.ensure_revision(self.client, ds, history, ds["spec"].get("template"))
        revision_hash = revision["metadata"]["labels"][revisions.HASH_LABEL]
        step = plan(ds, self.nodes.store.list(), pods, revision_hash, self.clock.now())
        await self._apply(key, ds, step, revision_hash)
        await self._prune(ds, history, pods, revision["metadata"]["name"])
        await owned.write_status(self.client, DAEMONSETS, ds, step.status)
        min_ready = ds["spec"].get("minReadySeconds") or 0
        if min_ready and step.status.get("numberUnavailable"):
            self.queue.add_after(key, float(min_ready))

    async def _apply(self, key: str, ds: dict, step: DaemonPlan, revision_hash: str) -> None:
        ns = ds["metadata"]["namespace"]
        self.expectations.expect(key, adds=len(step.create), deletes=len(step.delete))
        for i, node in enumerate(step.create):
            try:
                created = await self.client.create(PODS, daemon_pod(ds, node, revision_hash), namespace=ns)
            except Exception:
                for _ in step.create[i:]:
                    self.expectations.creation_observed(key)
                raise
            self.recorder.record(ds, NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")
        for pod in step.delete:
            md = pod["metadata"]
            try:
                await self.client.delete(PODS, md["name"], namespace=ns, preconditions={"uid": md["uid"]})
            except errors.NotFound:
                self.expectations.deletion_observed(key)
                continue
            except Exception:
                self.expectations.deletion_observed(key)
                raise
            self.recorder.record(ds, NORMAL, "SuccessfulDelete", f"Deleted pod: {md['name']}")

    async def _prune(self, ds: dict, history: list[dict], pods: list[dict], current: str) -> None:
        hashes = {_hash(p) for p in pods}
        live = {current} | {r["metadata"]["name"] for r in history
                            if (r["metadata"].get("labels") or {}).get(revisions.HASH_LABEL) in hashes}
        for revision in revisions.to_prune(history, live, ds["spec"].get("revisionHistoryLimit", 10)):
            try:
                await self.client.delete(revisions.REVISIONS, revision["metadata"]["name"],
                                         namespace=ds["metadata"]["namespace"])
            except errors.NotFound:
                pass
