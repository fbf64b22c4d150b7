"""The generic registry: Kubernetes' verbs over the store, for every kind in the registry.

Reads (get, list, watch) are served by the watch cache; writes go to the store with
compare-and-swap on the object's resourceVersion (= the store revision), in the
"guaranteed update" loop Kubernetes uses: read current, compute the new object, write
if nobody wrote in between, else retry (or 409 Conflict if the client pinned a
resourceVersion). Every write runs the same pipeline: decode, defaults, validation,
admission, managedFields, store.

events.k8s.io/v1 Event is another shape of the stored core/v1 Event: conversion
happens at this boundary (to_external / to_internal).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tinykube.api import conversion, defaults, errors, fieldcheck, validation
from tinykube.api import selectors as sel
from tinykube.api.patch import apply as ssa
from tinykube.api.registry import REGISTRY, ResourceType
from tinykube.apiserver import admission, meta, propagation
from tinykube.apiserver.watchcache import Entry, WatchCache, Watcher
from tinykube.storage import interface as storage
from tinykube.util import jsonutil

log = logging.getLogger(__name__)

# upstream GuaranteedUpdate retries until the request deadline; a bound keeps a pathological
# hot key from spinning forever, high enough that honest contention always gets through
MAX_CONFLICT_RETRIES = 200
STORED_EVENTS = REGISTRY.by_plural("", "v1", "events")
# Kinds Kubernetes lets a PUT create when the object does not exist (AllowCreateOnUpdate).
CREATE_ON_UPDATE = frozenset({"Lease", "Endpoints", "Event", "EndpointSlice"})
# Kinds that keep terminating objects until their owner (the node agent) finishes them.
FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


@dataclass
class WriteContext:
    """What the request says about how to write."""

    user: str = "admin"
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Warn"
    warnings: list[str] = field(default_factory=list)


@dataclass
class ListPage:
    entries: list[Entry]
    revision: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    preconditions: dict = field(default_factory=dict)
    orphan_dependents: bool | None = None


def to_external(rt: ResourceType, obj: dict) -> dict:
    if rt.stored_as and rt.group == "events.k8s.io":
        return conversion.core_event_to_events_v1(obj)
    return obj


def to_internal(rt: ResourceType, obj: dict) -> dict:
    if rt.stored_as and rt.group == "events.k8s.io":
        return conversion.events_v1_to_core_event(obj)
    return obj


def internal_type(rt: ResourceType) -> ResourceType:
    return STORED_EVENTS if rt.stored_as == "core/events" else rt


class Resources:
    def __init__(self, store: storage.Store, cache: WatchCache):
        self.store = store
        self.cache = cache
        self.services = None  # allocators.ServiceAllocators: ClusterIPs and NodePorts, set by the server
        self.admission = admission.Admission(cache)

    # === reads ===========================================================================

    async def get(self, rt: ResourceType, namespace: str, name: str) -> Entry:
        await self.cache.wait_fresh()
        entry = self.cache.get(rt.key(namespace, name))
        if entry is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return entry

    async def list(self, rt: ResourceType, namespace: str, *, label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_token: str = "",
                   resource_version: str | None = None, rv_match: str = "") -> ListPage:
        predicate = self.predicate(rt, label_selector, field_selector)
        key_prefix = self._narrowed_prefix(rt, namespace, field_selector)
        if continue_token:
            revision, start = meta.decode_continue(continue_token)
            return await self._list_from_store(rt, key_prefix, predicate, limit, revision, start)
        rv = meta.parse_resource_version(resource_version)
        if rv_match == "Exact" and rv:
            return await self._list_from_store(rt, key_prefix, predicate, limit, rv, "")
        await self._wait_for_list(resource_version, rv)
        # resourceVersion=0 is "any version": kube-apiserver serves it from the watch cache,
        # whole, ignoring limit (how informers' first lists stay cheap); no continue token
        return self._list_from_cache(rt, key_prefix, predicate, 0 if resource_version == "0" else limit)

    async def _wait_for_list(self, resource_version: str | None, rv: int | None) -> None:
        if resource_version == "0":
            await self.cache.ready.wait()  # "any": whatever the cache holds
        else:
            await self.cache.wait_fresh(rv)  # most recent, or not older than rv

    def _list_from_cache(self, rt, key_prefix, predicate, limit) -> ListPage:
        revision = self.cache.revision
        matched: list[Entry] = []
        entries = self.cache.list(rt.storage_prefix, key_prefix)
        for entry in entries:
            if predicate(entry.obj):
                if limit and len(matched) == limit:
                    # there is more: the next page is read from the store at this revision
                    token = meta.encode_continue(revision, matched[-1].key)
                    remaining = self._remaining(rt, key_prefix, predicate, matched[-1].key)
                    return ListPage(matched, revision, token, remaining)
                matched.append(entry)
        return ListPage(matched, revision)

    def _remaining(self, rt, key_prefix, predicate, after: str) -> int | None:
        """remainingItemCount: Kubernetes gives it only for lists without selectors."""
        if getattr(predicate, "everything", False):
            return sum(1 for e in self.cache.list(rt.storage_prefix, key_prefix) if e.key > after)
        return None

    async def _list_from_store(self, rt, key_prefix, predicate, limit, revision, start) -> ListPage:
        matched: list[Entry] = []
        while True:
            try:
                page = await self.store.list(key_prefix, revision=revision, start_key=start,
                                             limit=limit or 0)
            except storage.Compacted:
                raise errors.Expired(
                    "The provided continue parameter is too old to display a consistent list result. "
                    "You can start a new list without the continue parameter, or use the continue "
                    "token in this response to retrieve the remainder of the results. Continuing "
                    "with the provided token results in an inconsistent list - objects that were "
                    "created, modified, or deleted between the time the first chunk was returned "
                    "and now may show up in the list.") from None
            for kv in page.items:
                entry = _entry(kv)
                if predicate(entry.obj):
                    matched.append(entry)
                start = kv.key
                if limit and len(matched) == limit:
                    more = page.more or kv is not page.items[-1]
                    token = meta.encode_continue(revision, start) if more else ""
                    return ListPage(matched, revision, token)
            if not page.more:
                return ListPage(matched, revision)

    def predicate(self, rt: ResourceType, label_selector: str, field_selector: str):
        labels = sel.parse_label_selector(label_selector or "")
        fields = sel.parse_field_selector(field_selector or "", rt)
        if not label_selector and not field_selector:
            everything = lambda obj: True  # noqa: E731
            everything.everything = True
            return everything
        if rt.stored_as:
            return lambda obj: (labels.matches(obj.get("metadata", {}).get("labels") or {})
                                and fields.matches(to_external(rt, obj)))
        return lambda obj: (labels.matches(obj.get("metadata", {}).get("labels") or {})
                            and fields.matches(obj))

    def _narrowed_prefix(self, rt: ResourceType, namespace: str, field_selector: str) -> str:
        """Use metadata.namespace=X in a field selector to read one namespace only."""
        if not namespace and field_selector and rt.namespaced:
            pinned = sel.parse_field_selector(field_selector, rt).exact_namespace()
            if pinned:
                namespace = pinned
        return rt.prefix(namespace)

    async def watch(self, rt: ResourceType, namespace: str, *, label_selector: str = "",
                    field_selector: str = "", resource_version: str | None = None,
                    name: str = "") -> Watcher:
        predicate = self.predicate(rt, label_selector, field_selector)
        key_prefix = self._narrowed_prefix(rt, namespace, field_selector)
        if name:
            key_prefix = rt.key(namespace, name)
            inner = predicate
            predicate = lambda obj: obj["metadata"].get("name") == name and inner(obj)  # noqa: E731
        rv = meta.parse_resource_version(resource_version)
        await self.cache.ready.wait()
        since = rv if rv else None  # "0" and unset: start with the current state
        if since is not None and since > self.cache.revision:
            await self.cache.wait_fresh(since)
        return self.cache.start_watch(rt.storage_prefix, key_prefix, predicate, since)

    def stop_watch(self, rt: ResourceType, watcher: Watcher) -> None:
        self.cache.stop_watch(rt.storage_prefix, watcher)

    # === writes: create ==================================================================

    async def create(self, rt: ResourceType, namespace: str, obj: dict, ctx: WriteContext) -> dict:
        self._prepare_new(rt, namespace, obj, ctx)
        await self._admit_create(rt, namespace, obj)
        if ctx.dry_run:
            return obj
        return await self._store_new(rt, namespace, obj)

    async def _store_new(self, rt: ResourceType, namespace: str, obj: dict) -> dict:
        """Write a new object (in its stored shape); its resourceVersion is the revision."""
        key = rt.key(namespace, obj["metadata"]["name"])
        allocation = self._allocate(rt, None, obj)
        try:
            rev = await self._write(key, to_internal(rt, obj), self.store.create)
        except storage.KeyExists:
            allocation.revert()
            raise errors.already_exists(rt.plural, obj["metadata"]["name"], rt.group) from None
        except BaseException:
            allocation.revert()
            raise
        obj["metadata"]["resourceVersion"] = str(rev)
        return obj

    def _prepare_new(self, rt: ResourceType, namespace: str, obj: dict, ctx: WriteContext) -> None:
        """Everything Kubernetes does to a new object before admission and storage."""
        meta.check_kind(rt, obj)
        meta.check_namespace(rt, obj, namespace)
        self._check_fields(rt, obj, ctx)
        md = obj["metadata"]
        if not md.get("name") and md.get("generateName"):
            md["name"] = meta.generate_name(md["generateName"])
        for drop in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            md.pop(drop, None)
        md["uid"] = meta.new_uid()
        md["creationTimestamp"] = meta.now_rfc3339()
        self.admission.mutate_create(rt, obj)
        defaults.apply_defaults(rt, obj)
        defaults.prepare_for_create(rt, obj)
        self._validate(rt, obj, validation.validate_create(rt, obj))
        self._track_fields(rt, None, obj, ctx, "")

    async def _admit_create(self, rt: ResourceType, namespace: str, obj: dict) -> None:
        """Admission: the namespace must exist and not be terminating (NamespaceLifecycle),
        then the plugins of admission.py."""
        if not rt.namespaced:
            return
        await self._admit_namespace(rt, namespace, obj)
        await self.admission.validate_create(rt, namespace, obj)

    async def _admit_namespace(self, rt: ResourceType, namespace: str, obj: dict) -> None:
        ns = REGISTRY.by_plural("", "v1", "namespaces")
        await self.cache.wait_fresh()
        entry = self.cache.get(ns.key("", namespace))
        if entry is None:
            raise errors.not_found("namespaces", namespace)
        if entry.obj.get("metadata", {}).get("deletionTimestamp") or \
                entry.obj.get("status", {}).get("phase") == "Terminating":
            raise errors.Forbidden(
                f'{rt.plural} "{obj["metadata"].get("name", "")}" is forbidden: unable to create new '
                f"content in namespace {namespace} because it is being terminated",
                {"name": obj["metadata"].get("name", ""), "kind": rt.plural,
                 "causes": [{"reason": "NamespaceTerminating",
                             "message": f"namespace {namespace} is being terminated",
                             "field": "metadata.namespace"}]})

    def _check_fields(self, rt: ResourceType, obj: dict, ctx: WriteContext, *,
                      patched: bool = False) -> None:
        """fieldValidation: Strict refuses unknown fields, Warn answers with Warning headers.

        Kubernetes names the kind in the error for whole objects (POST, PUT), not for
        patches, and checks a patched object re-serialized with sorted keys.
        """
        if ctx.field_validation == "Ignore":
            return
        unknown = fieldcheck.unknown_fields(rt.group, rt.version, rt.kind, obj, sort_keys=patched)
        if not unknown:
            return
        if ctx.field_validation == "Strict":
            if patched:
                raise fieldcheck.strict_error(unknown)
            raise fieldcheck.strict_error(unknown, kind=rt.kind, version=rt.api_version)
        ctx.warnings.extend(fieldcheck.warning_header_values(unknown))

    def _validate(self, rt: ResourceType, obj: dict, causes) -> None:
        if causes:
            raise errors.invalid(rt.kind, obj.get("metadata", {}).get("name", ""), causes, rt.group)

    def _track_fields(self, rt, old, new, ctx: WriteContext, subresource: str) -> None:
        manager = ctx.field_manager or "unknown"
        ssa.update_managed_fields(old, new, manager=manager, operation="Update",
                                  api_version=rt.api_version, now=meta.now_rfc3339(),
                                  subresource=subresource, group=rt.group, version=rt.version,
                                  kind=rt.kind)

    # === writes: update and patch ========================================================

    async def update(self, rt: ResourceType, namespace: str, name: str, obj: dict,
                     ctx: WriteContext, subresource: str = "") -> tuple[dict, bool]:
        """PUT. Returns (object, created)."""
        meta.check_kind(rt, obj)
        meta.check_namespace(rt, obj, namespace)
        meta.check_name(obj, name)
        pinned = meta.parse_resource_version(obj["metadata"].get("resourceVersion"))

        def mutate(current: dict) -> dict:
            return jsonutil.deep_copy(obj)

        return await self._update_loop(rt, namespace, name, mutate, ctx, subresource, pinned,
                                       create_body=obj if rt.kind in CREATE_ON_UPDATE else None)

    async def patch(self, rt: ResourceType, namespace: str, name: str, content_type: str,
                    body: bytes, ctx: WriteContext, subresource: str = "",
                    force: bool = False) -> tuple[dict, bool]:
        from tinykube.api import patch as patches

        if content_type == patches.APPLY_PATCH:
            return await self._apply(rt, namespace, name, body, ctx, subresource, force)

        def mutate(current: dict) -> dict:
            # current is _update_loop's own copy: the patch may change it instead of copying
            patched = patches.apply_patch(content_type, current, body, group=rt.group,
                                          version=rt.version, kind=rt.kind, owned=True)
            if not isinstance(patched, dict):
                raise errors.BadRequest("the patch did not produce an object")
            meta.check_kind(rt, patched)
            meta.check_namespace(rt, patched, namespace)
            meta.check_name(patched, name)
            return patched

        return await self._update_loop(rt, namespace, name, mutate, ctx, subresource,
                                       pinned=None, patch_pins=True)

    async def _apply(self, rt, namespace, name, body, ctx: WriteContext, subresource, force):
        """Server-side apply (application/apply-patch+yaml)."""
        if not ctx.field_manager:
            raise errors.invalid("PatchOptions", "", [errors.Cause(
                errors.REQUIRED, "fieldManager", "is required for apply patch")], "meta.k8s.io")
        applied = _decode_apply(body)
        meta.check_kind(rt, applied)
        meta.check_namespace(rt, applied, namespace)
        meta.check_name(applied, name)
        self._check_fields(rt, applied, ctx)

        def merge(current: dict | None) -> dict:
            return ssa.server_side_apply(
                current, applied, manager=ctx.field_manager, force=force,
                api_version=rt.api_version, now=meta.now_rfc3339(), group=rt.group,
                version=rt.version, kind=rt.kind)

        await self.cache.wait_fresh()
        if self.cache.get(rt.key(namespace, name)) is None and not subresource:
            created = merge(None)
            obj = await self._create_applied(rt, namespace, created, ctx)
            return obj, True
        return await self._update_loop(rt, namespace, name, merge, ctx, subresource,
                                       pinned=None, patch_pins=True, managed=True)

    async def _create_applied(self, rt, namespace, obj: dict, ctx: WriteContext) -> dict:
        managed = obj["metadata"].get("managedFields")
        quiet = WriteContext(ctx.user, ctx.dry_run, ctx.field_manager, "Ignore", ctx.warnings)
        self._prepare_new(rt, namespace, obj, quiet)
        obj["metadata"]["managedFields"] = managed  # apply recorded ownership as "Apply"
        await self._admit_create(rt, namespace, obj)
        if ctx.dry_run:
            return obj
        return await self._store_new(rt, namespace, obj)

    async def _update_loop(self, rt, namespace, name, mutate, ctx: WriteContext, subresource,
                           pinned: int | None, *, create_body: dict | None = None,
                           patch_pins: bool = False, managed: bool = False) -> tuple[dict, bool]:
        key = rt.key(namespace, name)
        for _ in range(MAX_CONFLICT_RETRIES):
            await self.cache.wait_fresh()
            current = self.cache.get(key)
            if current is None:
                if create_body is not None and not subresource:
                    return await self.create(rt, namespace, jsonutil.deep_copy(create_body), ctx), True
                raise errors.not_found(rt.plural, name, rt.group)
            old = to_external(rt, jsonutil.deep_copy(current.obj))
            new = mutate(jsonutil.deep_copy(old))
            if self.services is not None and rt.kind == "Service" and not subresource:
                self.services.prepare_update(old, new)
            if patch_pins:
                pinned = meta.parse_resource_version(new["metadata"].get("resourceVersion"))
            if pinned is not None and pinned != current.rev:
                raise errors.conflict(rt.plural, name, errors.STALE_OBJECT, rt.group)
            result = self._prepare_update(rt, old, new, ctx, subresource, managed, patch_pins)
            if result is None:  # nothing changed: Kubernetes skips the write
                return old, False
            if ctx.dry_run:
                return result, False
            allocation = self._allocate(rt, old, result, subresource)
            try:
                committed = await self._commit_update(rt, key, current, result)
                allocation.commit()
                return committed, False
            except BaseException as e:
                allocation.revert()
                if not isinstance(e, storage.Conflict):
                    raise
                # another write won the race: read again; a client-pinned resourceVersion
                # (PUT body, or one the patch itself sets) is refused by the check above,
                # an unpinned update or patch is simply re-applied, as upstream does
        raise errors.conflict(rt.plural, name, "too many concurrent updates, try again", rt.group)

    def _prepare_update(self, rt, old: dict, new: dict, ctx: WriteContext, subresource: str,
                        managed: bool, patched: bool = False) -> dict | None:
        if subresource != "status":
            self._check_fields(rt, new, ctx, patched=patched)
        new = _merge_subresource(rt, old, new, subresource)
        _keep_system_metadata(old, new)
        defaults.apply_defaults(rt, new)
        if subresource not in ("status", "binding"):  # status writes never bump generation
            defaults.bump_generation_if_spec_changed(new, old, rt)
        if subresource == "binding":
            causes = []  # only spec.nodeName and a condition changed, by bind() itself
        elif subresource == "status":
            causes = validation.validate_status_update(rt, new, old)
        else:
            causes = validation.validate_update(rt, new, old)
        self._validate(rt, new, causes)
        if meta.same_object(new, old):
            return None
        if not managed:
            self._track_fields(rt, old, new, ctx, subresource)
        return new

    async def _commit_update(self, rt, key: str, current: Entry, new: dict) -> dict:
        md = new["metadata"]
        if md.get("deletionTimestamp") and not md.get("finalizers") and _finished(rt, new):
            # the last finalizer is gone: the object is deleted now
            rev = await self.store.delete(key, expected_revision=current.rev)
            self._released(rt, new)
        else:
            rev = await self._write(key, to_internal(rt, new), self.store.update, expected_revision=current.rev)
        md["resourceVersion"] = str(rev)
        return new

    async def _write(self, key: str, obj: dict, write, **options) -> int:
        """Store obj (create or update) and let the watch cache keep obj itself as the new
        state instead of decoding what was stored; obj is not changed after this."""
        value = meta.strip_for_storage(obj)
        self.cache.expect(value, obj)
        try:
            return await write(key, value, **options)
        except BaseException:
            self.cache.unexpect(value)
            raise

    # === Service allocation (allocators.py) ==============================================

    def _allocate(self, rt: ResourceType, old: dict | None, new: dict, subresource: str = ""):
        """Reserve the ClusterIP/NodePorts a Service write needs (a no-op for other kinds)."""
        if self.services is None or rt.kind != "Service" or rt.group or subresource:
            return _NO_ALLOCATION
        if not self.services.loaded:
            self.services.load(e.obj for e in self.cache.list(rt.storage_prefix, rt.prefix("")))
        return self.services.allocate_create(new) if old is None else self.services.allocate_update(old, new)

    def _released(self, rt: ResourceType, obj: dict) -> None:
        if self.services is not None and rt.kind == "Service" and not rt.group and self.services.loaded:
            self.services.release(obj)

    # === subresources: scale, binding ====================================================

    async def update_scale(self, rt: ResourceType, namespace: str, name: str, change_scale,
                           ctx: WriteContext) -> dict:
        """Write through the Scale view (autoscaling/v1) of a workload: spec.replicas only."""

        def mutate(current: dict) -> dict:
            scale = change_scale(to_scale(rt, current))
            replicas = scale.get("spec", {}).get("replicas", 0)
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("Scale", name, [errors.Cause(
                    errors.INVALID, "spec.replicas",
                    f"Invalid value: {jsonutil.dumps(replicas).decode()}: must be greater than or equal to 0")],
                    "autoscaling")
            pinned = scale.get("metadata", {}).get("resourceVersion")
            if pinned:
                current["metadata"]["resourceVersion"] = pinned
            current.setdefault("spec", {})["replicas"] = replicas
            return current

        obj, _ = await self._update_loop(rt, namespace, name, mutate, ctx, "", pinned=None,
                                         patch_pins=True)
        return to_scale(rt, obj)

    async def bind(self, rt: ResourceType, namespace: str, name: str, binding: dict,
                   ctx: WriteContext) -> None:
        """pods/binding: assign a pod to a node, once (what the scheduler does).

        Like upstream's BindingREST (setPodNodeAndMetadata), a guaranteed update straight
        on storage: nodeName, the binding's annotations and the PodScheduled condition --
        no field manager, no defaulting, no validation of the whole pod, which the
        scheduler's hottest write does not need: nothing else of the pod changes.
        """
        node = (binding.get("target") or {}).get("name")
        if not node:
            raise errors.invalid("Binding", name, [errors.Cause(errors.REQUIRED, "target.name", "")])
        annotations = (binding.get("metadata") or {}).get("annotations") or {}
        key = rt.key(namespace, name)
        for _ in range(MAX_CONFLICT_RETRIES):
            await self.cache.wait_fresh()
            current = self.cache.get(key)
            if current is None:
                raise errors.not_found(rt.plural, name, rt.group)
            pod = jsonutil.deep_copy(current.obj)
            _assign_pod(rt, name, pod, node, annotations)
            if ctx.dry_run:
                return
            try:
                await self._write(key, pod, self.store.update, expected_revision=current.rev)
                return
            except storage.Conflict:
                continue  # another write won the race: read again, as GuaranteedUpdate does
            except storage.KeyNotFound:
                raise errors.not_found(rt.plural, name, rt.group) from None
        raise errors.conflict(rt.plural, name, "too many concurrent updates, try again", rt.group)

    # === writes: delete ==================================================================

    async def delete(self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions,
                     ctx: WriteContext) -> tuple[dict, bool]:
        """Returns (object or Status, deleted_now)."""
        key = rt.key(namespace, name)
        for _ in range(MAX_CONFLICT_RETRIES):
            await self.cache.wait_fresh()
            current = self.cache.get(key)
            if current is None:
                raise errors.not_found(rt.plural, name, rt.group)
            obj = to_external(rt, jsonutil.deep_copy(current.obj))
            _check_preconditions(rt, name, obj, options.preconditions)
            try:
                return await self._delete_once(rt, key, current, obj, options, ctx)
            except storage.Conflict:
                continue
            except storage.KeyNotFound:
                raise errors.not_found(rt.plural, name, rt.group) from None
        raise errors.conflict(rt.plural, name, "too many concurrent updates, try again", rt.group)

    async def _delete_once(self, rt, key, current: Entry, obj: dict, options: DeleteOptions,
                           ctx: WriteContext) -> tuple[dict, bool]:
        md = obj["metadata"]
        pending = _pending_deletion(rt, obj, options)
        if pending is None:  # delete now
            if not ctx.dry_run:
                await self.store.delete(key, expected_revision=current.rev)
                self._released(rt, obj)
            return _success_status(rt, obj), True
        if pending == md and md.get("deletionTimestamp"):
            return obj, False  # already being deleted, nothing new to record
        first_request = not md.get("deletionTimestamp")
        obj["metadata"] = pending
        if first_request:
            defaults.bump_generation_on_delete(obj)
        if rt.kind == "Namespace":
            obj.setdefault("status", {})["phase"] = "Terminating"
        if ctx.dry_run:
            return obj, False
        rev = await self.store.update(key, meta.strip_for_storage(to_internal(rt, obj)),
                                      expected_revision=current.rev)
        obj["metadata"]["resourceVersion"] = str(rev)
        return obj, False

    async def delete_collection(self, rt: ResourceType, namespace: str, *, label_selector: str,
                                field_selector: str, options: DeleteOptions,
                                ctx: WriteContext) -> list[dict]:
        page = await self.list(rt, namespace, label_selector=label_selector,
                               field_selector=field_selector)
        deleted = []
        for entry in page.entries:
            md = entry.obj["metadata"]
            try:
                obj, _ = await self.delete(rt, md.get("namespace", ""), md["name"], options, ctx)
            except errors.NotFound:
                continue
            deleted.append(entry.obj if obj.get("kind") == "Status" else obj)
        return deleted


# === helpers ==============================================================================


class _NoAllocation:
    def commit(self) -> None:
        pass

    def revert(self) -> None:
        pass


_NO_ALLOCATION = _NoAllocation()


def _entry(kv: storage.KeyValue) -> Entry:
    from tinykube.apiserver.watchcache import decode

    return decode(kv.key, kv.value, kv.mod_revision)


def _decode_apply(body: bytes) -> dict:
    import yaml

    try:
        applied = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise errors.BadRequest(f"error decoding YAML: {exc}") from None
    if not isinstance(applied, dict):
        raise errors.BadRequest("the apply patch must be an object")
    return applied


def _merge_subresource(rt: ResourceType, old: dict, new: dict, subresource: str) -> dict:
    """A status write never changes spec, and a main-resource write never changes status."""
    if subresource == "finalize":  # namespaces: only spec.finalizers may change
        merged = jsonutil.deep_copy(old)
        merged.setdefault("spec", {})["finalizers"] = new.get("spec", {}).get("finalizers") or []
        return merged
    if "status" not in rt.subresources or subresource == "binding":
        return new
    if subresource == "status":
        merged = {k: v for k, v in old.items() if k not in ("metadata", "status")}
        merged["metadata"] = new.get("metadata", old["metadata"])
        if "status" in new:
            merged["status"] = new["status"]
        return merged
    if "status" in old:
        new["status"] = old["status"]
    else:
        new.pop("status", None)
    return new


SYSTEM_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                   "generation")


def _keep_system_metadata(old: dict, new: dict) -> None:
    """Fields clients cannot change on update are carried over from the stored object."""
    old_md, new_md = old["metadata"], new["metadata"]
    for name in SYSTEM_METADATA:
        if name in old_md:
            new_md[name] = old_md[name]
        else:
            new_md.pop(name, None)
    new_md.pop("selfLink", None)
    if "managedFields" not in new_md and "managedFields" in old_md:
        new_md["managedFields"] = old_md["managedFields"]


def _finished(rt: ResourceType, obj: dict) -> bool:
    """A terminating pod on a node stays until its agent reports the containers gone;
    a terminating namespace until its content is gone (spec.finalizers emptied)."""
    if rt.kind == "Namespace":
        return not obj.get("spec", {}).get("finalizers")
    if rt.kind != "Pod":
        return True
    return (obj["metadata"].get("deletionGracePeriodSeconds") in (0, None)
            or not obj.get("spec", {}).get("nodeName"))


def _check_preconditions(rt: ResourceType, name: str, obj: dict, preconditions: dict) -> None:
    md = obj["metadata"]
    uid = preconditions.get("uid")
    if uid and uid != md.get("uid"):
        raise errors.conflict(rt.plural, name, f"Precondition failed: UID in precondition: {uid}, "
                              f"UID in object meta: {md.get('uid')}", rt.group)
    rv = preconditions.get("resourceVersion")
    if rv and rv != md.get("resourceVersion"):
        raise errors.conflict(rt.plural, name, "Precondition failed: ResourceVersion in precondition: "
                              f"{rv}, ResourceVersion in object meta: {md.get('resourceVersion')}",
                              rt.group)


def _pending_deletion(rt: ResourceType, obj: dict, options: DeleteOptions) -> dict | None:
    """The metadata of an object that must wait before it is gone, or None: delete now.

    Waiting happens for finalizers (the object's own, plus orphan/foregroundDeletion
    asked for by propagationPolicy) and for the graceful deletion of running pods.
    """
    md = dict(obj["metadata"])
    # propagationPolicy Orphan/Foreground add the orphan/foregroundDeletion finalizers
    # the garbage collector acts on; Background removes them (propagation.py).
    finalizers = propagation.finalizers_for_delete(md.get("finalizers"), options.propagation_policy,
                                                   options.orphan_dependents)
    grace = _grace_period(rt, obj, options)
    if not finalizers and grace == 0 and not (rt.kind == "Namespace"):
        return None
    if finalizers:
        md["finalizers"] = finalizers
    else:
        md.pop("finalizers", None)
    if not md.get("deletionTimestamp"):
        md["deletionTimestamp"] = meta.rfc3339_after(grace)
        md["deletionGracePeriodSeconds"] = grace
    elif grace < md.get("deletionGracePeriodSeconds", grace):
        md["deletionTimestamp"] = meta.rfc3339_after(grace)  # a shorter grace period wins
        md["deletionGracePeriodSeconds"] = grace
    return md


def _grace_period(rt: ResourceType, obj: dict, options: DeleteOptions) -> int:
    """Kubernetes' graceful deletion applies to pods bound to a node and still running."""
    if rt.kind != "Pod":
        return 0
    spec, status = obj.get("spec", {}), obj.get("status", {})
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    if options.grace_period_seconds is not None:
        return max(0, options.grace_period_seconds)
    return int(spec.get("terminationGracePeriodSeconds", 30))


def to_scale(rt: ResourceType, obj: dict) -> dict:
    """The autoscaling/v1 Scale view of a Deployment, ReplicaSet or StatefulSet."""
    md, spec, status = obj["metadata"], obj.get("spec", {}), obj.get("status", {})
    selector = sel.label_selector_from_dict(spec.get("selector") or {})
    return {
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                        "creationTimestamp") if k in md},
        "spec": {"replicas": spec.get("replicas", 0)},
        "status": {"replicas": status.get("replicas", 0), "selector": str(selector)},
    }


def _assign_pod(rt: ResourceType, name: str, pod: dict, node: str, annotations: dict) -> None:
    """Bind pod to node in place, or 409 when it is already assigned or being deleted."""
    current = pod.get("spec", {}).get("nodeName")
    if current:
        raise errors.conflict(rt.plural, name, f'pod {name} is already assigned to node "{current}"')
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.conflict(rt.plural, name, f"pod {name} is being deleted, cannot be assigned to a host")
    pod.setdefault("spec", {})["nodeName"] = node
    if annotations:
        pod["metadata"].setdefault("annotations", {}).update(annotations)
    _set_condition(pod, "PodScheduled", "True")


def _set_condition(obj: dict, kind: str, status: str) -> None:
    conditions = obj.setdefault("status", {}).setdefault("conditions", [])
    conditions[:] = [c for c in conditions if c.get("type") != kind]
    conditions.append({"type": kind, "status": status, "lastProbeTime": None,
                       "lastTransitionTime": meta.now_rfc3339()})


def _success_status(rt: ResourceType, obj: dict) -> dict:
    md = obj["metadata"]
    details = {"name": md.get("name", ""), "kind": rt.plural, "uid": md.get("uid", "")}
    if rt.group:
        details["group"] = rt.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": details}
