"""Work the API server does on its own objects: bootstrap, namespace deletion, compaction.

- bootstrap: the namespaces every cluster starts with.
- namespace finalization: a deleted namespace is Terminating; its content is deleted,
  and once nothing is left the "kubernetes" finalizer is removed and the namespace goes.
  (Kubernetes runs this in its namespace controller; until tinykube's controller manager
  and client exist (a later issue) it runs here, level-triggered from a watch.)
- compaction: like kube-apiserver, every interval compact the store to the revision seen
  one interval earlier, so history is kept for at least one interval.
"""

from __future__ import annotations

import asyncio
import logging

from tinykube.api import errors
from tinykube.api.registry import INITIAL_NAMESPACES, REGISTRY
from tinykube.apiserver.resources import DeleteOptions, Resources, WriteContext

log = logging.getLogger(__name__)

NAMESPACES = REGISTRY.by_plural("", "v1", "namespaces")
SYSTEM = WriteContext(user="system:apiserver", field_manager="kube-apiserver", field_validation="Ignore")
RETRY_SECONDS = 1.0


async def bootstrap(resources: Resources) -> None:
    for name in INITIAL_NAMESPACES:
        try:
            await resources.create(NAMESPACES, "", {"metadata": {"name": name}}, _system())
        except errors.AlreadyExists:
            pass


def _system() -> WriteContext:
    return WriteContext(SYSTEM.user, False, SYSTEM.field_manager, SYSTEM.field_validation)


class NamespaceFinalizer:
    """Deletes the content of terminating namespaces, then the namespaces."""

    def __init__(self, resources: Resources):
        self.resources = resources
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.pending: set[str] = set()

    async def run(self) -> None:
        watch_task = asyncio.create_task(self._watch())
        try:
            while True:
                name = await self.queue.get()
                self.pending.discard(name)
                await self._sync(name)
        finally:
            watch_task.cancel()

    async def _watch(self) -> None:
        while True:
            watcher = await self.resources.watch(NAMESPACES, "")
            try:
                while (event := await watcher.next()) is not None:
                    _, entry = event
                    if entry.obj["metadata"].get("deletionTimestamp"):
                        self._enqueue(entry.obj["metadata"]["name"])
            finally:
                self.resources.stop_watch(NAMESPACES, watcher)

    def _enqueue(self, name: str) -> None:
        if name not in self.pending:
            self.pending.add(name)
            self.queue.put_nowait(name)

    async def _sync(self, name: str) -> None:
        try:
            remaining = await self._delete_content(name)
            if remaining:
                asyncio.get_running_loop().call_later(RETRY_SECONDS, self._enqueue, name)
                return
            await self._finalize(name)
        except errors.NotFound:
            return
        except Exception:
            log.exception("namespace %s: finalization failed; retrying", name)
            asyncio.get_running_loop().call_later(RETRY_SECONDS, self._enqueue, name)

    async def _delete_content(self, namespace: str) -> int:
        remaining = 0
        for rt in REGISTRY.resources:
            if not rt.namespaced or rt.stored_as:
                continue
            page = await self.resources.list(rt, namespace)
            for entry in page.entries:
                remaining += 1
                if entry.obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    await self.resources.delete(rt, namespace, entry.obj["metadata"]["name"],
                                                DeleteOptions(propagation_policy="Background"), _system())
                except errors.NotFound:
                    remaining -= 1
        return remaining

    async def _finalize(self, name: str) -> None:
        entry = await self.resources.get(NAMESPACES, "", name)
        obj = dict(entry.obj)
        spec = dict(obj.get("spec", {}))
        spec["finalizers"] = [f for f in spec.get("finalizers", []) if f != "kubernetes"]
        obj["spec"] = spec
        await self.resources.update(NAMESPACES, "", name, obj, _system(), "finalize")


class Compactor:
    def __init__(self, resources: Resources, interval: float):
        self.resources = resources
        self.interval = interval

    async def run(self) -> None:
        store, cache = self.resources.store, self.resources.cache
        previous = store.current_revision()
        while True:
            await asyncio.sleep(self.interval)
            if previous > store.compacted_revision():
                try:
                    await store.compact(previous)
                    cache.forget_before(previous)
                    log.info("compacted the store at revision %d", previous)
                except Exception:
                    log.exception("compaction at revision %d failed", previous)
            previous = store.current_revision()
