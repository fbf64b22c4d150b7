"""Work the API server does on its own objects: bootstrap and compaction.

- bootstrap: the namespaces and the system PriorityClasses every cluster starts with.
- (namespace finalization, deleting a terminating namespace's content, is the namespace
  controller's work: tinykube/controllers/namespace.py, run by the controller manager.)
- compaction: like kube-apiserver, every interval compact the store to the revision seen
  one interval earlier, so history is kept for at least one interval.
"""

from __future__ import annotations

import asyncio
import logging

from tinykube.api import errors
from tinykube.api.registry import INITIAL_NAMESPACES, REGISTRY
from tinykube.api.validation.priorityclass import SYSTEM_PRIORITY_CLASSES
from tinykube.apiserver.resources import Resources, WriteContext

log = logging.getLogger(__name__)

NAMESPACES = REGISTRY.by_plural("", "v1", "namespaces")
PRIORITY_CLASSES = REGISTRY.by_plural("scheduling.k8s.io", "v1", "priorityclasses")
SYSTEM = WriteContext(user="system:apiserver", field_manager="kube-apiserver", field_validation="Ignore")


async def bootstrap(resources: Resources) -> None:
    for name in INITIAL_NAMESPACES:
        try:
            await resources.create(NAMESPACES, "", {"metadata": {"name": name}}, _system())
        except errors.AlreadyExists:
            pass
    # upstream's scheduling/bootstrap-system-priority-classes post-start hook
    for name, value in SYSTEM_PRIORITY_CLASSES.items():
        pc = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
              "value": value, "description": "Used for system critical pods that must not be moved from their "
                                            "current node." if name == "system-node-critical" else
              "Used for system critical pods that must run in the cluster, but can be moved to another node "
              "if necessary."}
        try:
            await resources.create(PRIORITY_CLASSES, "", pc, _system())
        except errors.AlreadyExists:
            pass


def _system() -> WriteContext:
    return WriteContext(SYSTEM.user, False, SYSTEM.field_manager, SYSTEM.field_validation)


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
