"""The namespace controller: deletes what a terminating namespace holds, then finalizes it.

kube-controller-manager's namespace controller (NamespacedResourcesDeleter). A deleted
namespace is Terminating (the API server sets deletionTimestamp and status.phase) and
keeps the ``kubernetes`` entry of spec.finalizers. For each, this controller:

1. deletes every object of every namespaced kind in it (background propagation, pods
   gracefully: their node agents finish them);
2. records how it went in the namespace's conditions, as upstream does:
   NamespaceDeletionDiscoveryFailure / NamespaceDeletionGroupVersionParsingFailure (kinds
   come from tinykube's registry, so always "False"), NamespaceDeletionContentFailure,
   NamespaceContentRemaining ("Some resources are remaining: pods. has 2 resource
   instances") and NamespaceFinalizersRemaining;
3. while something remains, checks again after ``RECHECK_SECONDS`` (upstream estimates
   the pods' grace periods; tinykube polls, which is quicker for short ones);
4. then removes ``kubernetes`` through the namespace's ``finalize`` subresource, and the
   API server deletes the namespace once no finalizer is left.

Pure: `content_conditions` and `merge_conditions`; the shell lists, deletes and writes.
"""

from __future__ import annotations

import dataclasses
import logging

from tinykube.api import errors
from tinykube.api.registry import REGISTRY, ResourceType
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

NAMESPACES = REGISTRY.by_plural("", "v1", "namespaces")
FINALIZER = "kubernetes"
RECHECK_SECONDS = 1.0


def namespaced_kinds() -> list[ResourceType]:
    """What a namespace can hold: every namespaced resource the API serves (aliases such
    as events.k8s.io Events, stored as core Events, are deleted through their store)."""
    return [rt for rt in REGISTRY.resources if rt.namespaced and not rt.stored_as]


@dataclasses.dataclass
class ContentResult:
    """What deleting a namespace's content left: per resource ("pods."), per finalizer."""
    remaining: dict[str, int] = dataclasses.field(default_factory=dict)
    finalizers: dict[str, int] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)

    @property
    def done(self) -> bool:
        return not (self.remaining or self.errors)


# (type, reason and message when all is well) in upstream's order
_SUCCESS = (
    ("NamespaceDeletionDiscoveryFailure", "ResourcesDiscovered", "All resources successfully discovered"),
    ("NamespaceDeletionGroupVersionParsingFailure", "ParsedGroupVersions",
     "All legacy kube types successfully parsed"),
    ("NamespaceDeletionContentFailure", "ContentDeleted",
     "All content successfully deleted, may be waiting on finalization"),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    ("NamespaceFinalizersRemaining", "ContentHasNoFinalizers", "All content-preserving finalizers finished"),
)


def content_conditions(result: ContentResult) -> list[dict]:
    """The five deletion conditions (without lastTransitionTime) for this result."""
    failures: dict[str, tuple[str, str]] = {}
    if result.errors:
        failures["NamespaceDeletionContentFailure"] = (
            "ContentDeletionFailed",
            f"Failed to delete all resource types, {len(result.errors)} remaining: {', '.join(result.errors)}")
    if result.remaining:
        listed = sorted(f"{res} has {n} resource instances" for res, n in result.remaining.items() if n)
        failures["NamespaceContentRemaining"] = ("SomeResourcesRemain",
                                                 f"Some resources are remaining: {', '.join(listed)}")
    if result.finalizers:
        listed = sorted(f"{f} in {n} resource instances" for f, n in result.finalizers.items() if n)
        failures["NamespaceFinalizersRemaining"] = (
            "SomeFinalizersRemain", f"Some content in the namespace has finalizers remaining: {', '.join(listed)}")
    conditions = []
    for type_, reason, message in _SUCCESS:
        status = "True" if type_ in failures else "False"
        reason, message = failures.get(type_, (reason, message))
        conditions.append({"type": type_, "status": status, "reason": reason, "message": message})
    return conditions


def merge_conditions(current: list[dict], wanted: list[dict], now: str) -> list[dict] | None:
    """The namespace's new conditions, or None when nothing changed. lastTransitionTime
    moves only when a condition's status does."""
    by_type = {c.get("type"): c for c in current}
    merged, changed = [], False
    for want in wanted:
        old = by_type.pop(want["type"], None)
        same = old is not None and all(old.get(k) == want[k] for k in ("status", "reason", "message"))
        keep_time = old is not None and old.get("status") == want["status"]
        merged.append(dict(want, lastTransitionTime=old.get("lastTransitionTime") if keep_time else now))
        changed = changed or not same
    merged.extend(by_type.values())  # conditions of other writers are kept
    return merged if changed else None


def without_finalizer(namespace: dict) -> dict:
    ns = jsonutil.deep_copy(namespace)
    spec = ns.setdefault("spec", {})
    spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
    return ns


def _resource_name(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group}"  # upstream's "%s.%s": "pods." for the core group


class NamespaceController(Controller):
    name = "namespace"
    workers = 10  # --concurrent-namespace-syncs

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.namespaces = ctx.informers.informer(NAMESPACES)
        self.namespaces.add_event_handler(on_add=self._changed, on_update=lambda old, new: self._changed(new))

    def _changed(self, ns: dict) -> None:
        if ns["metadata"].get("deletionTimestamp"):
            self.enqueue(ns)

    async def sync(self, key: str) -> None:
        try:
            ns = await self.client.get(NAMESPACES, key)  # the latest: the cache may lag a finalize
        except errors.NotFound:
            return
        if not ns["metadata"].get("deletionTimestamp") or FINALIZER not in (ns.get("spec") or {}).get("finalizers", []):
            return
        result = await self.delete_content(key)
        ns = await self._set_conditions(ns, content_conditions(result))
        if not result.done:
            self.queue.add_after(key, RECHECK_SECONDS)
            return
        await self.client.update(NAMESPACES, without_finalizer(ns), subresource="finalize")
        log.info("namespace %s: content deleted, finalized", key)

    async def delete_content(self, namespace: str) -> ContentResult:
        result = ContentResult()
        for rt in namespaced_kinds():
            try:
                await self._delete_kind(rt, namespace, result)
            except errors.ApiError as exc:
                result.errors.append(f"{_resource_name(rt)}: {exc}")
        return result

    async def _delete_kind(self, rt: ResourceType, namespace: str, result: ContentResult) -> None:
        items = (await self.client.list(rt, namespace=namespace)).items
        for item in items:
            md = item["metadata"]
            if md.get("deletionTimestamp"):
                continue  # being deleted already: wait for it
            try:
                await self.client.delete(rt, md["name"], namespace=namespace, propagation_policy="Background",
                                         preconditions={"uid": md["uid"]})
            except (errors.NotFound, errors.Conflict):
                continue  # gone, or replaced by a new object: counted at the next check
        if items:
            items = (await self.client.list(rt, namespace=namespace)).items
        if items:
            result.remaining[_resource_name(rt)] = len(items)
        for item in items:
            for finalizer in item["metadata"].get("finalizers") or ():
                result.finalizers[finalizer] = result.finalizers.get(finalizer, 0) + 1

    async def _set_conditions(self, ns: dict, wanted: list[dict]) -> dict:
        now = self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        merged = merge_conditions((ns.get("status") or {}).get("conditions") or [], wanted, now)
        if merged is None:
            return ns
        ns = jsonutil.deep_copy(ns)
        ns.setdefault("status", {})["conditions"] = merged
        return await self.client.update_status(NAMESPACES, ns)
