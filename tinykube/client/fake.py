"""FakeApiClient: an in-memory stand-in for ApiClient, for unit tests of logic.

It keeps objects in a dict with one resourceVersion counter, answers the same methods
with the same errors (NotFound, AlreadyExists, Conflict on a stale resourceVersion or a
failed precondition), and records every call in `actions` as (verb, plural, namespace,
name, subresource) so a test can assert the writes a sync made. Watches replay the
fake's event history and then follow new writes; `compact()` makes older
resourceVersions answer 410 Expired and `end_watches()` ends open watches normally, to
test informers' resume and relist.

What it does not do: defaults, validation, admission, server-side apply, graceful
deletion (objects go at once unless they carry finalizers, which it ignores).
Queue a failure for the next matching call with `fail_next(verb, plural, error)`.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

from tinykube.api import errors
from tinykube.api import patch as patches
from tinykube.api import selectors
from tinykube.api.registry import ResourceType
from tinykube.client.rest import PATCH_CONTENT_TYPES, ObjectList, Resource, resolve, set_type_meta
from tinykube.client.watch import ADDED, DELETED, MODIFIED, WatchEvent
from tinykube.util import jsonutil


@dataclass(frozen=True)
class Action:
    verb: str
    plural: str
    namespace: str
    name: str
    subresource: str = ""
    body: Any = None


class FakeApiClient:
    def __init__(self, objects: list[dict] | None = None):
        self.actions: list[Action] = []
        self._objects: dict[tuple, dict] = {}  # (group, plural, namespace, name) -> object
        self._history: list[tuple[int, ResourceType, WatchEvent]] = []
        self._rv = itertools.count(1)
        self._last_rv = 0
        self._compacted = 0
        self._changed = asyncio.Event()
        self._failures: list[tuple[str, str, errors.ApiError]] = []
        self._watch_epoch = 0
        for obj in objects or ():
            self.seed(obj)

    # --- test controls --------------------------------------------------------------------

    def seed(self, obj: dict) -> dict:
        """Put obj in the store without recording an action."""
        rt = resolve((obj["apiVersion"], obj["kind"]))
        obj = jsonutil.deep_copy(obj)
        _set_identity(obj["metadata"])
        return self._put(rt, obj, ADDED)

    def fail_next(self, verb: str, plural: str, error: errors.ApiError) -> None:
        self._failures.append((verb, plural, error))

    def compact(self) -> None:
        """Forget the history: watches from resourceVersions before now get 410 Expired."""
        self._compacted = self._last_rv
        self._history.clear()

    def end_watches(self) -> None:
        """End every open watch normally (as a server's timeout does)."""
        self._watch_epoch += 1
        self._wake()

    def writes(self) -> list[Action]:
        return [a for a in self.actions if a.verb not in ("get", "list", "watch")]

    async def close(self) -> None:
        pass

    # --- reads ----------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, *, namespace: str = "", subresource: str = "") -> dict:
        rt = self._call("get", resource, namespace, name, subresource)
        return jsonutil.deep_copy(self._existing(rt, namespace, name))

    async def list(self, resource: Resource, *, namespace: str = "", label_selector: str = "",
                   field_selector: str = "", limit: int = 0, resource_version: str | None = None) -> ObjectList:
        rt = self._call("list", resource, namespace, "")
        items = [jsonutil.deep_copy(o) for o in self._matching(rt, namespace, label_selector, field_selector)]
        return ObjectList(items, str(self._last_rv))

    def watch(self, resource: Resource, *, namespace: str = "", name: str = "",
              resource_version: str | None = None, label_selector: str = "", field_selector: str = "",
              allow_watch_bookmarks: bool = True, timeout_seconds: float | None = None) -> FakeWatch:
        rt = self._call("watch", resource, namespace, name)
        if name:
            field_selector = ",".join(f for f in (f"metadata.name={name}", field_selector) if f)
        return FakeWatch(self, rt, namespace, _matcher(rt, label_selector, field_selector), resource_version)

    # --- writes ---------------------------------------------------------------------------

    async def create(self, resource: Resource, obj: dict, *, namespace: str | None = None,
                     field_manager: str = "", dry_run: bool = False) -> dict:
        obj = jsonutil.deep_copy(obj)
        md = obj.setdefault("metadata", {})
        rt = resolve(resource)
        if rt.namespaced:
            md["namespace"] = namespace or md.get("namespace") or ""
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"] + uuid.uuid4().hex[:5]
        self._call("create", rt, md.get("namespace", ""), md.get("name", ""), body=obj)
        if self._key(rt, md.get("namespace", ""), md["name"]) in self._objects:
            raise errors.already_exists(rt.plural, md["name"], rt.group)
        _set_identity(md)
        return jsonutil.deep_copy(self._put(rt, obj, ADDED))

    async def update(self, resource: Resource, obj: dict, *, namespace: str | None = None,
                     subresource: str = "", field_manager: str = "", dry_run: bool = False) -> dict:
        obj = jsonutil.deep_copy(obj)
        md = obj["metadata"]
        rt = resolve(resource)
        ns = namespace or md.get("namespace", "")
        self._call("update", rt, ns, md["name"], subresource, body=obj)
        current = self._existing(rt, ns, md["name"])
        if md.get("resourceVersion") and md["resourceVersion"] != current["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, md["name"], errors.STALE_OBJECT, rt.group)
        if subresource == "status":
            obj = dict(current, status=obj.get("status"))
        for kept in ("uid", "creationTimestamp"):
            obj["metadata"][kept] = current["metadata"].get(kept)
        return jsonutil.deep_copy(self._put(rt, obj, MODIFIED))

    async def update_status(self, resource: Resource, obj: dict, **options: Any) -> dict:
        return await self.update(resource, obj, subresource="status", **options)

    async def patch(self, resource: Resource, name: str, patch: dict | list | bytes, *, namespace: str = "",
                    patch_type: str = "merge", field_manager: str = "", force: bool | None = None,
                    subresource: str = "", dry_run: bool = False) -> dict:
        rt = self._call("patch", resource, namespace, name, subresource, body=patch)
        if patch_type == "apply":
            raise NotImplementedError("FakeApiClient does not do server-side apply")
        current = self._existing(rt, namespace, name)
        body = patch if isinstance(patch, bytes) else jsonutil.dumps(patch)
        new = patches.apply_patch(PATCH_CONTENT_TYPES[patch_type], current, body, group=rt.group,
                                  version=rt.version, kind=rt.kind)
        return jsonutil.deep_copy(self._put(rt, new, MODIFIED))

    async def apply(self, resource: Resource, obj: dict, **options: Any) -> dict:
        raise NotImplementedError("FakeApiClient does not do server-side apply")

    async def delete(self, resource: Resource, name: str, *, namespace: str = "",
                     grace_period_seconds: int | None = None, preconditions: dict | None = None,
                     propagation_policy: str | None = None, dry_run: bool = False) -> dict:
        rt = self._call("delete", resource, namespace, name, body=preconditions)
        current = self._existing(rt, namespace, name)
        for field, value in (preconditions or {}).items():
            if current["metadata"].get(field) != value:
                raise errors.conflict(rt.plural, name, f"Precondition failed: {field} mismatch", rt.group)
        del self._objects[self._key(rt, namespace, name)]
        self._record_event(rt, DELETED, current, next(self._rv))
        return {"kind": "Status", "apiVersion": "v1", "status": "Success",
                "details": {"name": name, "kind": rt.plural, "uid": current["metadata"].get("uid")}}

    async def create_subresource(self, resource: Resource, name: str, subresource: str, body: dict, *,
                                 namespace: str = "") -> dict:
        rt = self._call("create", resource, namespace, name, subresource, body=body)
        current = self._existing(rt, namespace, name)
        if subresource == "binding":
            new = jsonutil.deep_copy(current)
            new.setdefault("spec", {})["nodeName"] = body["target"]["name"]
            self._put(rt, new, MODIFIED)
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}

    # --- internals ------------------------------------------------------------------------

    def _call(self, verb: str, resource: Resource, namespace: str, name: str, subresource: str = "",
              body: Any = None) -> ResourceType:
        rt = resolve(resource)
        self.actions.append(Action(verb, rt.plural, namespace if rt.namespaced else "", name, subresource,
                                   jsonutil.deep_copy(body) if body is not None else None))
        for i, (f_verb, f_plural, error) in enumerate(self._failures):
            if f_verb == verb and f_plural == rt.plural:
                del self._failures[i]
                raise error
        return rt

    def _key(self, rt: ResourceType, namespace: str, name: str) -> tuple:
        return (rt.group, rt.plural, namespace if rt.namespaced else "", name)

    def _existing(self, rt: ResourceType, namespace: str, name: str) -> dict:
        obj = self._objects.get(self._key(rt, namespace, name))
        if obj is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return obj

    def _put(self, rt: ResourceType, obj: dict, type_: str) -> dict:
        rv = next(self._rv)
        obj["metadata"]["resourceVersion"] = str(rv)
        set_type_meta(rt, obj)
        md = obj["metadata"]
        self._objects[self._key(rt, md.get("namespace", ""), md["name"])] = obj
        self._record_event(rt, type_, obj, rv)
        return obj

    def _record_event(self, rt: ResourceType, type_: str, obj: dict, rv: int) -> None:
        obj = jsonutil.deep_copy(obj)
        obj["metadata"]["resourceVersion"] = str(rv)
        self._history.append((rv, rt, WatchEvent(type_, obj)))
        self._last_rv = rv
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _matching(self, rt: ResourceType, namespace: str, label_selector: str, field_selector: str):
        match = _matcher(rt, label_selector, field_selector)
        for (group, plural, ns, _), obj in sorted(self._objects.items()):
            if (group, plural) == (rt.group, rt.plural) and (not namespace or ns == namespace) and match(obj):
                yield obj


def _set_identity(md: dict) -> None:
    md.setdefault("uid", str(uuid.uuid4()))
    md.setdefault("creationTimestamp", "2024-01-01T00:00:00Z")


def _matcher(rt: ResourceType, label_selector: str, field_selector: str):
    labels = selectors.parse_label_selector(label_selector or "")
    fields = selectors.parse_field_selector(field_selector or "", rt)
    return lambda obj: (labels.matches((obj.get("metadata") or {}).get("labels") or {})
                        and fields.matches(obj))


class FakeWatch:
    """The fake's watch: history after resource_version, then new writes; the same
    interface as watch.WatchStream (async iterator of WatchEvent, async with, close)."""

    def __init__(self, fake: FakeApiClient, rt: ResourceType, namespace: str, match, resource_version):
        self.fake, self.rt, self.namespace, self.match = fake, rt, namespace, match
        self.resource_version = resource_version or ""
        self._epoch = fake._watch_epoch
        self._closed = False
        self._pending: list[WatchEvent] | None = None
        if resource_version is None:  # an ADDED per current object first
            self._pending = [WatchEvent(ADDED, jsonutil.deep_copy(o)) for o in fake._matching(rt, namespace, "", "")
                             if match(o)]
            self.resource_version = str(fake._last_rv)

    async def __aenter__(self) -> FakeWatch:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    def __aiter__(self) -> FakeWatch:
        return self

    async def close(self) -> None:
        self._closed = True

    async def __anext__(self) -> WatchEvent:
        while True:
            if self._closed or self.fake._watch_epoch != self._epoch:
                raise StopAsyncIteration
            event = self._next_event()
            if event is not None:
                self.resource_version = event.object["metadata"]["resourceVersion"]
                return event
            await self.fake._changed.wait()

    def _next_event(self) -> WatchEvent | None:
        if self._pending:
            return self._pending.pop(0)
        since = int(self.resource_version or 0)
        if since < self.fake._compacted:
            self._closed = True
            raise errors.too_old_resource_version(since, self.fake._compacted + 1)
        for rv, rt, event in self.fake._history:
            if rv > since and rt.plural == self.rt.plural and rt.group == self.rt.group:
                ns = event.object["metadata"].get("namespace", "")
                if (not self.namespace or ns == self.namespace) and self.match(event.object):
                    return event
                self.resource_version = str(rv)  # skip what this watch does not see
        return None
