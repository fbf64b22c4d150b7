"""The garbage collector: deletes objects whose owners are gone; foreground and orphan deletion.

kube-controller-manager's garbagecollector, level-triggered over shared informers of
every kind the API serves (core Events excepted, as upstream). Objects are indexed by
the uids of their owners, which stands in for upstream's dependency graph. The queue
holds (group, plural, key) of objects to look at:

- an object with ownerReferences (added, or its references changed): are its owners
  still there? (gcgraph.decide_dependent);
- an object being deleted with the ``orphan`` finalizer: its dependents lose their
  reference to it, then the finalizer goes; with ``foregroundDeletion``: its dependents
  are queued (and so deleted), and the finalizer goes once no blocking one is left;
- when an object goes, its dependents (they may now be dangling) and its owners that
  wait in the foreground are queued.

An owner missing from the cache is confirmed with a live GET before anything is
deleted, since the cache may simply not have seen a new owner yet; confirmed absences
are remembered (`AbsentOwners`). Deletes carry a uid precondition.
"""

from __future__ import annotations

import collections
import logging

from tinykube.api import errors
from tinykube.api.registry import REGISTRY, ResourceType
from tinykube.client import Informer, owner_uid_index
from tinykube.controllers import gcgraph
from tinykube.controllers.base import Controller, ControllerContext
from tinykube.controllers.gcgraph import OwnerRef, OwnerState

log = logging.getLogger(__name__)

OWNER_INDEX = "gc-owner-uid"
ABSENT_OWNER_CACHE_SIZE = 500  # upstream's ReferenceCache size


def collected_kinds() -> list[ResourceType]:
    """Every kind the API serves, without aliases and without core Events (upstream
    ignores them: too many, never owners)."""
    return [rt for rt in REGISTRY.resources if not rt.stored_as and (rt.group, rt.kind) != ("", "Event")]


class AbsentOwners:
    """Owner uids confirmed gone, least recently used dropped first."""

    def __init__(self, size: int = ABSENT_OWNER_CACHE_SIZE):
        self.size = size
        self._uids: collections.OrderedDict[str, None] = collections.OrderedDict()

    def add(self, uid: str) -> None:
        self._uids[uid] = None
        self._uids.move_to_end(uid)
        while len(self._uids) > self.size:
            self._uids.popitem(last=False)

    def __contains__(self, uid: str) -> bool:
        return uid in self._uids


class GarbageCollector(Controller):
    name = "garbagecollector"
    workers = 5  # --concurrent-gc-syncs is 20 upstream

    def __init__(self, ctx: ControllerContext):
        super().__init__(ctx)
        self.absent = AbsentOwners()
        self.informers: dict[tuple[str, str], Informer] = {}
        for rt in collected_kinds():
            informer = ctx.informers.informer(rt, indexers={OWNER_INDEX: owner_uid_index})
            self.informers[(rt.group, rt.kind)] = informer
            informer.add_event_handler(on_add=self._on_add(rt), on_update=self._on_update(rt),
                                       on_delete=self._on_delete(rt))

    # --- events -> queue --------------------------------------------------------------

    def _on_add(self, rt: ResourceType):
        def handler(obj: dict) -> None:
            if gcgraph.owner_refs(obj) or gcgraph.is_orphaning(obj) or gcgraph.is_deleting_dependents(obj):
                self._queue(rt, obj)
        return handler

    def _on_update(self, rt: ResourceType):
        def handler(old: dict, new: dict) -> None:
            refs_changed = gcgraph.owner_refs(old) != gcgraph.owner_refs(new)
            if refs_changed or gcgraph.is_orphaning(new) or gcgraph.is_deleting_dependents(new):
                self._queue(rt, new)
            if gcgraph.is_deleting_dependents(new) and not gcgraph.is_deleting_dependents(old):
                self._queue_dependents(new)
            if refs_changed:  # it may have stopped blocking an owner
                self._queue_owners(new)
        return handler

    def _on_delete(self, rt: ResourceType):
        def handler(obj: dict) -> None:
            self._queue_dependents(obj)
            self._queue_owners(obj)
        return handler

    def _queue(self, rt: ResourceType, obj: dict) -> None:
        md = obj["metadata"]
        key = f"{md['namespace']}/{md['name']}" if md.get("namespace") else md["name"]
        self.queue.add((rt.group, rt.kind, key))

    def _queue_dependents(self, owner: dict) -> None:
        for rt, dependent in self.dependents_of(owner["metadata"].get("uid", "")):
            self._queue(rt, dependent)

    def _queue_owners(self, obj: dict) -> None:
        namespace = obj["metadata"].get("namespace", "")
        for ref in gcgraph.owner_refs(obj):
            rt = self._kind_of(ref)
            if rt is not None:
                self.queue.add((rt.group, rt.kind, f"{namespace}/{ref.name}" if rt.namespaced else ref.name))

    # --- reads ------------------------------------------------------------------------

    def _kind_of(self, ref: OwnerRef) -> ResourceType | None:
        group = ref.api_version.rpartition("/")[0]
        for (g, kind), informer in self.informers.items():
            if g == group and kind == ref.kind:
                return informer.rt
        return None

    def dependents_of(self, uid: str) -> list[tuple[ResourceType, dict]]:
        if not uid:
            return []
        return [(informer.rt, obj) for informer in self.informers.values()
                for obj in informer.store.by_index(OWNER_INDEX, uid)]

    async def owner_state(self, dependent: dict, ref: OwnerRef) -> OwnerState:
        rt = self._kind_of(ref)
        if rt is None:
            return OwnerState.UNKNOWN
        namespace = dependent["metadata"].get("namespace", "")
        if rt.namespaced and not namespace:
            return OwnerState.DANGLING  # a cluster-scoped object cannot be owned by a namespaced one
        namespace = namespace if rt.namespaced else ""
        if ref.uid in self.absent:
            return OwnerState.DANGLING
        owner = self.informers[(rt.group, rt.kind)].store.get_by_name(namespace, ref.name)
        state = gcgraph.owner_state(ref, owner)
        if state is OwnerState.DANGLING:  # the cache may lag: ask the API server
            try:
                owner = await self.client.get(rt, ref.name, namespace=namespace)
            except errors.NotFound:
                owner = None
            state = gcgraph.owner_state(ref, owner)
            if state is OwnerState.DANGLING:
                self.absent.add(ref.uid)
        return state

    # --- sync -------------------------------------------------------------------------

    async def sync(self, item: tuple[str, str, str]) -> None:
        group, kind, key = item
        informer = self.informers.get((group, kind))
        obj = informer.store.get(key) if informer is not None else None
        if obj is None:
            return
        rt = informer.rt
        if gcgraph.is_orphaning(obj):
            await self._orphan_dependents(rt, obj)
        elif gcgraph.is_deleting_dependents(obj):
            await self._delete_dependents(rt, obj)
        elif not gcgraph.is_being_deleted(obj):
            await self._collect(rt, obj)

    async def _collect(self, rt: ResourceType, obj: dict) -> None:
        refs = gcgraph.owner_refs(obj)
        if not refs:
            return
        states = {ref.uid: await self.owner_state(obj, ref) for ref in refs}
        decision = gcgraph.decide_dependent(obj, states, has_dependents=bool(self.dependents_of(obj["metadata"]["uid"])))
        if isinstance(decision, gcgraph.RemoveOwnerRefs):
            await self._remove_refs(rt, obj, decision.uids)
        elif isinstance(decision, gcgraph.Delete):
            await self._delete(rt, obj, decision.policy)

    async def _orphan_dependents(self, rt: ResourceType, owner: dict) -> None:
        uid = owner["metadata"]["uid"]
        for dep_rt, dependent in self.dependents_of(uid):
            await self._remove_refs(dep_rt, dependent, frozenset((uid,)))
        await self._remove_finalizer(rt, owner, gcgraph.ORPHAN)

    async def _delete_dependents(self, rt: ResourceType, owner: dict) -> None:
        dependents = self.dependents_of(owner["metadata"]["uid"])
        for dep_rt, dependent in dependents:
            if not gcgraph.is_being_deleted(dependent):
                self._queue(dep_rt, dependent)  # its owner waits: it is deleted in its own sync
        decision = gcgraph.decide_deleting_dependents(owner, [d for _, d in dependents])
        if isinstance(decision, gcgraph.RemoveFinalizer):
            await self._remove_finalizer(rt, owner, decision.finalizer)

    # --- writes -----------------------------------------------------------------------

    async def _delete(self, rt: ResourceType, obj: dict, policy: str) -> None:
        md = obj["metadata"]
        log.info("garbage collector: deleting %s %s (%s), its owners are gone", rt.kind, _name(obj), policy)
        try:
            await self.client.delete(rt, md["name"], namespace=md.get("namespace", ""),
                                     preconditions={"uid": md["uid"]}, propagation_policy=policy)
        except errors.NotFound:
            pass
        except errors.Conflict:
            pass  # a new object under that name: not ours to delete

    async def _remove_refs(self, rt: ResourceType, obj: dict, uids: frozenset[str]) -> None:
        md = obj["metadata"]
        refs = gcgraph.remaining_refs(obj, uids)
        patch = {"metadata": {"ownerReferences": refs or None,
                              "resourceVersion": md.get("resourceVersion")}}
        try:
            await self.client.patch(rt, md["name"], patch, namespace=md.get("namespace", ""))
        except errors.NotFound:
            pass

    async def _remove_finalizer(self, rt: ResourceType, obj: dict, finalizer: str) -> None:
        md = obj["metadata"]
        patch = {"metadata": {"finalizers": gcgraph.without_finalizer(obj, finalizer) or None,
                              "resourceVersion": md.get("resourceVersion")}}
        try:
            await self.client.patch(rt, md["name"], patch, namespace=md.get("namespace", ""))
        except errors.NotFound:
            pass


def _name(obj: dict) -> str:
    md = obj["metadata"]
    return f"{md['namespace']}/{md['name']}" if md.get("namespace") else md["name"]
